//! The staff pages in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver + fantoccini) against the real app and the WeChat simulator. Screenshots of the
//! main pages go to `test-artifacts/screenshots/`. Without Chromium the tests fail, saying what
//! to install; `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use examdesk::db::admins::{self, Role};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::common::staff::*;
use crate::common::{TestApp, id_number, wait_until};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One browser at a time: two Chromiums on two cores make every test slow and flaky.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium under chromedriver; fails the test when either is not installed.
    async fn start() -> Self {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: the browser tests need Debian's chromium and chromium-driver \
                 (apt-get install chromium chromium-driver fonts-wqy-microhei)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1366,900",
            "--lang=zh-CN",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        // The console, so that every test can see that no page broke its security policy.
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let url = format!("http://127.0.0.1:{port}");
        let client = wait_until("chromedriver starts a session", async || {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
        })
        .await;
        Self {
            client: Some(client),
            driver,
            _profile: profile,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("browser session")
    }

    async fn goto(&self, url: &str) {
        self.c().goto(url).await.expect("navigate");
    }

    async fn source(&self) -> String {
        self.c().source().await.expect("page source")
    }

    async fn fill(&self, css: &str, text: &str) {
        let input = self.c().find(Locator::Css(css)).await.expect(css);
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    /// Clicks something that loads a new page, and waits until the new page has loaded: WebDriver
    /// may return from a click before the navigation it starts has finished.
    async fn click(&self, css: &str) {
        self.mark_page().await;
        self.c()
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("click");
        self.wait_for_new_page().await;
    }

    /// Runs a script that submits a form, and waits for the page it loads.
    async fn submit_by_script(&self, script: &str, args: Vec<serde_json::Value>) {
        self.mark_page().await;
        self.c().execute(script, args).await.expect("script");
        self.wait_for_new_page().await;
    }

    async fn mark_page(&self) {
        self.c()
            .execute("window.__examdeskOld = true;", vec![])
            .await
            .expect("mark page");
    }

    async fn wait_for_new_page(&self) {
        wait_until("a new page loads", async || {
            self.c()
                .execute(
                    "return !window.__examdeskOld && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        })
        .await
    }

    async fn sign_in(&self, app: &TestApp, username: &str, password: &str) {
        self.goto(&app.at("/admin/login")).await;
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("#login-submit").await;
    }

    async fn text_of(&self, css: &str) -> String {
        match self.c().find(Locator::Css(css)).await {
            Ok(e) => e.text().await.expect("text"),
            Err(e) => panic!("{css} not found ({e}) in {}", self.source().await),
        }
    }

    /// A screenshot of the whole page at `width`, kept as a test artifact.
    async fn screenshot(&self, name: &str, width: u32) {
        let height = self
            .c()
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .clamp(600, 4000) as u32;
        let _ = self.c().set_window_size(width, height + 140).await;
        let png = self.c().screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        let _ = self.c().set_window_size(1366, 900).await;
    }

    /// The console messages since the last call (chromedriver's log endpoint).
    async fn console(&self) -> Vec<String> {
        let log = self
            .c()
            .issue_cmd(ConsoleLog)
            .await
            .expect("chromedriver returns the browser log");
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the session; every page this session showed kept to its Content-Security-Policy.
    async fn stop(mut self) {
        let violations: Vec<String> = self
            .console()
            .await
            .into_iter()
            .filter(|m| {
                m.contains("Content Security Policy") || m.contains("Content-Security-Policy")
            })
            .collect();
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        assert!(violations.is_empty(), "CSP violations: {violations:#?}");
    }
}

/// chromedriver's `GET log` extension, which fantoccini has no method for.
#[derive(Debug)]
struct ConsoleLog;

impl fantoccini::wd::WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(r#"{"type":"browser"}"#.into()),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Our own chromedriver child, by its handle; the browser session ended in stop().
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts/screenshots")
}

#[tokio::test]
async fn browser_sign_in_wrong_password_and_lock_out() {
    let _one = ONE_BROWSER.lock().await;
    let b = Browser::start().await;
    let (app, _sim) = spawn().await;
    admins::create(&app.state.db, "zhou", PASSWORD, Role::Admin)
        .await
        .expect("admin");

    b.sign_in(&app, "zhou", "wrong-password").await;
    assert!(b.text_of("#login-error").await.contains("用户名或密码错误"));
    b.screenshot("login-error", 1366).await;

    b.sign_in(&app, "zhou", PASSWORD).await;
    assert!(
        b.source().await.contains("报名总数"),
        "dashboard after sign-in"
    );
    let url = b.c().current_url().await.expect("url");
    assert_eq!(url.path(), "/admin");
    b.click(".who button").await;
    assert!(
        b.source().await.contains("请使用工作人员账号登录"),
        "signed out"
    );

    for _ in 0..5 {
        b.sign_in(&app, "zhou", "wrong-again").await;
    }
    assert!(b.text_of("#login-error").await.contains("锁定"));
    b.sign_in(&app, "zhou", PASSWORD).await;
    assert!(
        b.text_of("#login-error").await.contains("锁定"),
        "locked even with the right password"
    );
    b.stop().await;
}

#[tokio::test]
async fn browser_search_and_csv_export() {
    let _one = ONE_BROWSER.lock().await;
    let b = Browser::start().await;
    let (app, sim) = spawn().await;
    let exam = app.exam("WEB1").capacity(20).create().await;
    paid(&app, &sim, exam, "诸葛亮", 201).await;
    registered(&app, exam, "周瑜", 202).await;
    admins::create(&app.state.db, "admin", PASSWORD, Role::Admin)
        .await
        .expect("admin");
    b.sign_in(&app, "admin", PASSWORD).await;
    b.goto(&app.at("/admin/exams")).await;
    b.click("a[href$='/registrations']").await;
    b.fill("#q", &id_number(201)).await;
    b.click("#search-submit").await;
    let table = b.text_of("#registrations").await;
    assert!(
        table.contains("诸葛亮") && !table.contains("周瑜"),
        "{table}"
    );

    let href = b
        .c()
        .find(Locator::Css("#csv-export"))
        .await
        .expect("link")
        .attr("href")
        .await
        .expect("href");
    let href = href.expect("csv link");
    assert!(
        href.contains("registrations.csv") && href.contains(&id_number(201)),
        "{href}"
    );
    // The link, fetched in the signed-in browser: Excel-ready CSV with the same selection.
    let got = b
        .c()
        .execute_async(
            "const [href, done] = arguments; fetch(href).then(r => r.arrayBuffer()).then(buf => { \
             const u = new Uint8Array(buf); done([u[0], u[1], u[2], new TextDecoder().decode(buf)]); });",
            vec![json!(href)],
        )
        .await
        .expect("fetch csv");
    assert_eq!(got[0], 0xEF);
    assert_eq!(got[1], 0xBB);
    assert_eq!(got[2], 0xBF);
    let text = got[3].as_str().unwrap_or_default();
    assert!(
        text.contains("\"姓名\"") && text.contains("诸葛亮") && !text.contains("周瑜"),
        "{text}"
    );
    b.stop().await;
}

async fn refund_in_browser(
    b: &Browser,
    app: &TestApp,
    registration_id: i64,
    amount: &str,
    reason: &str,
) {
    b.goto(&app.at(&format!("/admin/registrations/{registration_id}")))
        .await;
    b.fill(".refund-form input[name=amount]", amount).await;
    b.fill(".refund-form input[name=reason]", reason).await;
    b.click(".refund-form button[type=submit]").await;
    assert!(b.text_of("#notice").await.contains("已受理"));
}

#[tokio::test]
async fn browser_full_and_partial_refunds_end_refunded() {
    let _one = ONE_BROWSER.lock().await;
    let b = Browser::start().await;
    let (app, sim) = spawn().await;
    let exam = app.exam("WEB2").capacity(20).create().await;
    let full = paid(&app, &sim, exam, "刘备", 301).await;
    let partial = paid(&app, &sim, exam, "关羽", 302).await;
    admins::create(&app.state.db, "caiwu", PASSWORD, Role::Finance)
        .await
        .expect("finance");
    b.sign_in(&app, "caiwu", PASSWORD).await;

    refund_in_browser(&b, &app, full.id, "50", "考生申请取消报名").await;
    wait_for_status(&app, full.id, "refunded").await;
    b.goto(&app.at(&format!("/admin/registrations/{}", full.id)))
        .await;
    assert_eq!(b.text_of("#registration-status").await, "已退款");
    assert_eq!(b.text_of("#ticket-state").await, "已作废");

    refund_in_browser(&b, &app, partial.id, "15.50", "部分退款：教材费").await;
    wait_for_refunds(&app, partial.id, &[("success", 1550)]).await;
    b.goto(&app.at(&format!("/admin/registrations/{}", partial.id)))
        .await;
    assert_eq!(
        b.text_of("#registration-status").await,
        "已付款",
        "partial keeps the ticket"
    );
    assert!(
        b.source()
            .await
            .contains("尚可退款 <strong>¥34.50</strong>")
    );
    refund_in_browser(&b, &app, partial.id, "34.50", "余款退回").await;
    wait_for_status(&app, partial.id, "refunded").await;
    b.goto(&app.at(&format!("/admin/registrations/{}", partial.id)))
        .await;
    assert_eq!(b.text_of("#registration-status").await, "已退款");
    assert_eq!(seats_taken(&app, exam).await, 0);
    b.stop().await;
}

#[tokio::test]
async fn browser_refuses_a_form_without_csrf_and_a_viewer_refund() {
    let _one = ONE_BROWSER.lock().await;
    let b = Browser::start().await;
    let (app, sim) = spawn().await;
    let exam = app.exam("WEB3").capacity(20).create().await;
    let r = paid(&app, &sim, exam, "曹操", 401).await;
    admins::create(&app.state.db, "boss", PASSWORD, Role::Admin)
        .await
        .expect("admin");
    admins::create(&app.state.db, "kan", PASSWORD, Role::Viewer)
        .await
        .expect("viewer");

    b.sign_in(&app, "boss", PASSWORD).await;
    b.goto(&app.at("/admin/exams")).await;
    b.submit_by_script(
        "const f = document.querySelector('form[action$=\"/status\"]'); \
         f.querySelector('input[name=csrf]').remove(); f.submit();",
        vec![],
    )
    .await;
    assert_eq!(b.text_of("#error-title").await, "表单已失效");
    b.screenshot("error-csrf", 1366).await;
    let status = examdesk::db::exams::get(&app.state.db, exam)
        .await
        .expect("q")
        .map(|e| e.status.as_str());
    assert_eq!(status, Some("open"));
    b.goto(&app.at("/admin")).await;
    b.click(".who button").await;

    b.sign_in(&app, "kan", PASSWORD).await;
    b.goto(&app.at(&format!("/admin/registrations/{}", r.id)))
        .await;
    let page = b.source().await;
    assert!(!page.contains("提交退款"), "a viewer gets no refund form");
    let order_id: i64 = sqlx::query_scalar("SELECT id FROM orders WHERE out_trade_no = $1")
        .bind(&r.out_trade_no)
        .fetch_one(&app.state.db.read)
        .await
        .expect("order");
    // A refund form from elsewhere (e.g. an old tab), sent with the viewer's own valid token.
    b.submit_by_script(
            "const [orderId] = arguments; const csrf = document.querySelector('input[name=csrf]').value; \
             const f = document.createElement('form'); f.method = 'post'; f.action = '/admin/orders/' + orderId + '/refunds'; \
             for (const [k, v] of [['csrf', csrf], ['amount', '50'], ['reason', '越权'], ['out_refund_no', 'RF00000000VIEWER']]) { \
               const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); } \
             document.body.appendChild(f); f.submit();",
            vec![json!(order_id)],
        )
        .await;
    assert_eq!(b.text_of("#error-title").await, "无权操作");
    b.screenshot("error-forbidden", 1366).await;
    assert!(refund_statuses(&app, r.id).await.is_empty());
    b.stop().await;
}

/// Data that makes the pages look like a working day: several exams, paid and unpaid
/// registrations spread over two weeks, refunds in every state, and one for the refund queue.
async fn seed(app: &TestApp, sim: &wechat_pay_v2_simulator::Simulator) -> (i64, i64) {
    let main = app.exam("CET2026").capacity(120).create().await;
    let other = app.exam("NCRE2026").fee(8000).capacity(60).create().await;
    sqlx::query("UPDATE exams SET title = '2026年下半年全国大学英语四级考试', venue = '北京市海淀区学院路37号 第一教学楼' WHERE id = $1")
        .bind(main)
        .execute(&app.state.db.write)
        .await
        .expect("title");
    sqlx::query("UPDATE exams SET title = '2026年全国计算机等级考试（二级）' WHERE id = $1")
        .bind(other)
        .execute(&app.state.db.write)
        .await
        .expect("title");
    let names = [
        "王芳", "李强", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴婷", "徐明",
        "孙悦", "马超", "朱琳", "胡军", "郭晶", "何平", "高翔", "林峰", "罗佳",
    ];
    let mut first_paid = 0;
    for (i, name) in names.iter().enumerate() {
        let seq = 500 + i as u32;
        let exam = if i % 4 == 3 { other } else { main };
        let r = if i % 3 == 2 {
            registered(app, exam, name, seq).await
        } else {
            paid(app, sim, exam, name, seq).await
        };
        if first_paid == 0 && i % 3 != 2 {
            first_paid = r.id;
        }
        let back = (i as i64 * 5 + (i as i64 * i as i64) % 7) % 21 * 86_400 + 3600;
        sqlx::query("UPDATE registrations SET created_at = created_at - $2 WHERE id = $1")
            .bind(r.id)
            .bind(back)
            .execute(&app.state.db.write)
            .await
            .expect("backdate");
        if i % 3 != 2 {
            sqlx::query("UPDATE registrations SET ticket_no = $2, room_id = (SELECT id FROM exam_rooms WHERE exam_id = $3 LIMIT 1), seat_no = $4 WHERE id = $1")
                .bind(r.id)
                .bind(format!("{}{:04}", if exam == main { "CET2026" } else { "NCRE2026" }, i + 1))
                .bind(exam)
                .bind(i as i64 + 1)
                .execute(&app.state.db.write)
                .await
                .expect("ticket");
        }
    }
    sqlx::query("UPDATE exams SET status = 'closed' WHERE id = $1")
        .bind(other)
        .execute(&app.state.db.write)
        .await
        .expect("close");
    (main, first_paid)
}

#[tokio::test]
async fn browser_screenshots_of_the_main_pages() {
    let _one = ONE_BROWSER.lock().await;
    let b = Browser::start().await;
    let (app, sim) = spawn().await;
    let (exam, registration) = seed(&app, &sim).await;
    admins::create(&app.state.db, "admin", PASSWORD, Role::Admin)
        .await
        .expect("admin");
    b.sign_in(&app, "admin", PASSWORD).await;
    b.goto(&app.at("/admin/login")).await;
    b.goto(&app.at("/admin")).await;

    // A partial refund and a photo make the registration page show everything it can.
    refund_in_browser(&b, &app, registration, "20", "考生申请：部分退还教材费").await;
    let photo = sample_png();
    sqlx::query("INSERT INTO photos (registration_id, content_type, bytes, width, height, updated_at) VALUES ($1, 'image/png', $2, 120, 160, 1)")
        .bind(registration)
        .bind(photo)
        .execute(&app.state.db.write)
        .await
        .expect("photo");
    let queued = registered(&app, exam, "欧阳修", 900).await;
    sim.pay(&queued.out_trade_no).expect("pay");
    wait_for_status(&app, queued.id, "paid").await;
    sqlx::query("UPDATE registrations SET needs_refund = 1, flags = 'paid_after_expiry;no_seat;', status = 'expired' WHERE id = $1")
        .bind(queued.id)
        .execute(&app.state.db.write)
        .await
        .expect("queue");
    wait_for_refunds(&app, registration, &[("success", 2000)]).await;
    // An exam edit for the audit log.
    b.goto(&app.at(&format!("/admin/exams/{exam}/edit"))).await;
    b.fill("#venue", "北京市海淀区学院路37号 第二教学楼").await;
    b.click("#save-exam").await;
    assert!(b.text_of("#saved").await.contains("已保存"));
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'exam.update'")
            .fetch_one(&app.state.db.read)
            .await
            .expect("audit");
    assert!(
        detail.starts_with("venue: ") && !detail.contains("opens_at"),
        "only the change: {detail}"
    );

    let pages = [
        ("dashboard", "/admin".to_string()),
        ("exams", "/admin/exams".to_string()),
        (
            "registrations",
            format!("/admin/exams/{exam}/registrations"),
        ),
        (
            "registration",
            format!("/admin/registrations/{registration}"),
        ),
        ("refunds", "/admin/refunds".to_string()),
        ("audit", "/admin/audit".to_string()),
        ("exam-edit", format!("/admin/exams/{exam}/edit")),
    ];
    for (name, path) in &pages {
        b.goto(&app.at(path)).await;
        let page = b.source().await;
        assert!(page.contains("examdesk 考务后台"), "{name}");
        b.screenshot(name, 1366).await;
    }
    for (name, path) in [
        ("dashboard", "/admin".to_string()),
        (
            "registration",
            format!("/admin/registrations/{registration}"),
        ),
    ] {
        b.goto(&app.at(&path)).await;
        b.screenshot(&format!("{name}-phone"), 390).await;
    }
    b.goto(&app.at("/admin/login")).await;
    b.click(".who button").await;
    b.screenshot("login", 1366).await;
    b.stop().await;
}

#[tokio::test]
async fn browser_review_queue_and_the_door_check_in_on_a_phone() {
    let _one = ONE_BROWSER.lock().await;
    let b = Browser::start().await;
    let (app, sim) = spawn().await;
    let reviewed = app
        .exam("GK2026")
        .capacity(30)
        .manual_review()
        .create()
        .await;
    sqlx::query("UPDATE exams SET title = '2026年公务员录用考试（笔试）' WHERE id = $1")
        .bind(reviewed)
        .execute(&app.state.db.write)
        .await
        .expect("title");
    let mut ids = Vec::new();
    for (i, name) in ["王芳", "李强", "张敏", "刘洋", "陈静", "杨帆"]
        .iter()
        .enumerate()
    {
        let token = app.login(&format!("review-browser-{i}")).await;
        let res = app
            .http
            .post(app.at("/api/v1/registrations"))
            .bearer_auth(&token)
            .json(&json!({
                "exam_id": reviewed,
                "name": name,
                "id_number": id_number(700 + i as u32),
                "phone": format!("1391234{i:04}"),
            }))
            .send()
            .await
            .expect("register");
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["status"], "under_review", "{body}");
        ids.push(body["id"].as_i64().expect("id"));
    }
    admins::create(&app.state.db, "admin", PASSWORD, Role::Admin)
        .await
        .expect("admin");
    b.sign_in(&app, "admin", PASSWORD).await;
    b.goto(&app.at("/admin/review")).await;
    assert!(b.text_of("#review-queue").await.contains("王芳"));
    for id in &ids[..2] {
        b.c()
            .find(Locator::Css(&format!("input[name=ids][value=\"{id}\"]")))
            .await
            .expect("row checkbox")
            .click()
            .await
            .expect("tick");
    }
    b.fill("#reason", "照片不符合要求，请上传近期免冠正面照片")
        .await;
    b.click("#bulk-reject").await;
    assert!(b.text_of("#review-done").await.contains("已处理 2 条"));
    b.click(&format!("[data-approve=\"{}\"]", ids[2])).await;
    assert!(b.text_of("#review-done").await.contains("已处理 1 条"));
    assert_eq!(status_of(&app, ids[0]).await, "rejected");
    assert_eq!(status_of(&app, ids[2]).await, "pending_payment");
    b.goto(&app.at("/admin/review")).await;
    b.screenshot("review-queue", 1366).await;
    b.goto(&app.at("/admin/review?status=rejected")).await;
    assert!(b.source().await.contains("照片不符合要求"));

    // Exam day: a paid candidate at the door, the proctor on a phone.
    let today = app.exam("GK2026B").capacity(30).create().await;
    let r = paid(&app, &sim, today, "欧阳修", 760).await;
    let seated = seated_registration(&app, r.id).await;
    let now = examdesk::util::now();
    sqlx::query("UPDATE exams SET closes_at = $2, starts_at = $2 WHERE id = $1")
        .bind(today)
        .bind(now)
        .execute(&app.state.db.write)
        .await
        .expect("exam starts now");
    b.c().set_window_size(390, 844).await.expect("phone size");
    b.goto(&verify_url(&app, &seated)).await;
    let fits: bool = b
        .c()
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .expect("layout")
        .as_bool()
        .unwrap_or(false);
    assert!(
        fits,
        "the verify page needs no sideways scrolling at 390 px"
    );
    b.click("#check-in").await;
    assert!(b.text_of("#checkin-result").await.contains("登记入场成功"));
    assert!(b.text_of("#checkin-first").await.contains("由 admin"));
    b.screenshot("verify-checked-in-phone", 390).await;
    b.goto(&app.at(&format!("/admin/exams/{today}/attendance")))
        .await;
    assert_eq!(b.text_of("#total-checked-in").await, "1");
    b.screenshot("attendance", 1366).await;
    b.stop().await;
}

/// A plain 120×160 portrait placeholder, as PNG, written by hand (no image crate needed).
fn sample_png() -> Vec<u8> {
    let (w, h) = (120u32, 160u32);
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0u8);
        for x in 0..w {
            let dx = x as i32 - 60;
            let head = dx * dx + (y as i32 - 60).pow(2) < 28 * 28;
            let body = y > 100 && dx.abs() < 45 - (160 - y as i32) / 3;
            let (r, g, b) = if head || body {
                (148, 163, 184)
            } else {
                (226, 232, 240)
            };
            raw.extend([r, g, b]);
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// zlib with uncompressed ("stored") deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(*block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend(((b << 16) | a).to_be_bytes());
    out
}
