//! The test harness: every test starts the real app on a random port with a fresh database and
//! talks to it over HTTP. With `EXAMDESK_TEST_DATABASE_URL=postgres://…` each test gets a database
//! of its own on that server; otherwise a SQLite file in a temporary folder.
#![allow(dead_code)]

use std::net::SocketAddr;

use examdesk::AppState;
use examdesk::config::{Settings, Source};
use tokio::sync::oneshot;

pub const PG_ENV: &str = "EXAMDESK_TEST_DATABASE_URL";

/// A fresh, empty database for one test; a PostgreSQL one is dropped when the test ends.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        examdesk::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) {
            Some(server) => {
                let name = format!("examdesk_t_{}", examdesk::util::random_hex(6));
                let mut admin = sqlx_pg_admin(&server).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let url = replace_db_name(&server, &name);
                Self {
                    url,
                    dir,
                    pg: Some((server, name)),
                }
            }
            None => {
                let url = format!("sqlite://{}/examdesk.db", dir.path().display());
                Self { url, dir, pg: None }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The same database for a second instance (with a data folder of its own); dropping it
    /// leaves the database to the original.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            pg: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.pg.take() {
            // Dropping runs outside the test's runtime, which may already be shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        let mut admin = sqlx_pg_admin(&server).await;
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await;
                    });
                }
            })
            .join();
        }
    }
}

async fn sqlx_pg_admin(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to the PostgreSQL test server")
}

fn replace_db_name(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("EXAMDESK_TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// Prints why a PostgreSQL-only test did nothing; returns true when it should stop.
pub fn skip_without_postgres(test: &str) -> bool {
    if std::env::var(PG_ENV).map(|v| v.is_empty()).unwrap_or(true) {
        // Written to the stream itself: the test harness captures eprintln!, and this must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test}: PostgreSQL only; set {PG_ENV}=postgres://… to run it"
        );
        return true;
    }
    false
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub url: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the app with extra settings, as the environment would give them.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new().await;
        Self::spawn_on(db, extra, examdesk::build_app).await
    }

    /// Starts the app on `db`, letting the test wrap the router (e.g. to add a slow route).
    pub async fn spawn_on(
        db: TestDb,
        extra: &[(&str, &str)],
        make_router: impl FnOnce(AppState) -> axum::Router,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let url = format!("http://{addr}");
        let data_dir = db.dir.path().join("data");
        let mut pairs: Vec<(String, String)> = vec![
            ("EXAMDESK_BIND".into(), addr.to_string()),
            ("EXAMDESK_PUBLIC_URL".into(), url.clone()),
            ("EXAMDESK_DATABASE_URL".into(), db.url.clone()),
            ("EXAMDESK_DATA_DIR".into(), data_dir.display().to_string()),
            ("EXAMDESK_SIM_TIME_SCALE".into(), "0.001".into()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings = Settings::from_source(&Source::from_pairs(pairs)).expect("test settings");
        // With merchant settings the app talks to a WeChat (simulator) of the test's; else demo mode.
        let demo = !extra.iter().any(|(k, _)| *k == "WECHAT_MCH_ID");
        let state = examdesk::app::prepare(settings, demo)
            .await
            .expect("app prepares");
        let router = make_router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(examdesk::app::serve(listener, router, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            url,
            state,
            http: reqwest::Client::new(),
            db,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Asks the server to stop and waits until it has, as SIGTERM would.
    pub async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// A valid resident ID number for a sequence number, computed by the GB 11643 rule here in the
/// test (independently of the code under test).
pub fn id_number(seq: u32) -> String {
    let body = format!(
        "110105199{}{:02}{:02}{:03}",
        seq % 10,
        1 + (seq / 10) % 12,
        1 + (seq / 120) % 28,
        seq % 1000
    );
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

impl TestApp {
    /// Signs in through the simulator's jscode2session; the same code is the same candidate.
    pub async fn login(&self, code: &str) -> String {
        let res = self
            .http
            .post(self.at("/api/v1/login"))
            .json(&serde_json::json!({ "code": code }))
            .send()
            .await
            .expect("login request");
        assert_eq!(
            res.status(),
            200,
            "login failed: {}",
            res.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = res.json().await.expect("login JSON");
        body["token"].as_str().expect("token").to_string()
    }

    /// An exam open for registration now.
    pub async fn create_exam(&self, code: &str, capacity: i64, fee_fen: i64) -> i64 {
        let now = examdesk::util::now();
        let exam = examdesk::domain::exam::NewExam {
            code: code.into(),
            title: "2026年全国英语等级考试".into(),
            fee_fen,
            capacity,
            opens_at: now - 60,
            closes_at: now + 86_400,
            starts_at: now + 2 * 86_400,
            venue: "北京市海淀区考试中心".into(),
        };
        examdesk::db::exams::create(&self.state.db, &exam)
            .await
            .expect("exam created")
    }

    pub async fn register(&self, token: &str, exam_id: i64, seq: u32) -> reqwest::Response {
        self.http
            .post(self.at("/api/v1/registrations"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "exam_id": exam_id,
                "name": "张三",
                "id_number": id_number(seq),
                "phone": "13800138000",
            }))
            .send()
            .await
            .expect("register request")
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .get(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .post(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub fn simulator(&self) -> &wechat_pay_v2_simulator::Simulator {
        self.state
            .simulator
            .as_ref()
            .expect("tests run in demo mode with the simulator")
    }

    /// A single number from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::Row::try_get(
            &sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(&self.state.db.read)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            0,
        )
        .expect("a number")
    }

    /// Waits (bounded) until the registration has the status.
    pub async fn wait_for_status(&self, token: &str, id: i64, status: &str) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        for _ in 0..100 {
            let (_, body) = self
                .get_json(token, &format!("/api/v1/registrations/{id}"))
                .await;
            if body["status"] == status {
                return body;
            }
            last = body;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("registration {id} never became {status}: {last}");
    }
}

/// The fields of a payment notify as WeChat sends it for `out_trade_no` (demo merchant), unsigned,
/// so that a test can alter them before [`signed`].
pub fn notify_fields(
    out_trade_no: &str,
    fee: i64,
    transaction_id: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut f: std::collections::BTreeMap<String, String> = [
        ("appid", examdesk::demo::DEMO_APPID),
        ("mch_id", examdesk::demo::DEMO_MCH_ID),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("result_code", "SUCCESS"),
        ("return_code", "SUCCESS"),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ("is_subscribe", "N"),
        ("trade_type", "JSAPI"),
        ("bank_type", "CMC"),
        ("fee_type", "CNY"),
        ("time_end", "20261125120000"),
        ("attach", "考试报名 <&>"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    f.insert("out_trade_no".into(), out_trade_no.into());
    f.insert("transaction_id".into(), transaction_id.into());
    f.insert("total_fee".into(), fee.to_string());
    f.insert("cash_fee".into(), fee.to_string());
    f
}

/// The notify body with its MD5 signature under the demo merchant's key.
pub fn signed(mut fields: std::collections::BTreeMap<String, String>) -> String {
    use wechat_pay_v2::{SignType, sign, xml};
    let s = sign::sign(&fields, examdesk::demo::DEMO_API_KEY, SignType::Md5);
    fields.insert("sign".into(), s);
    xml::to_xml(&fields)
}

/// Sends every `(url, body)` at once, as WeChat's servers may; the answers' texts in order.
pub async fn post_all(http: &reqwest::Client, requests: Vec<(String, String)>) -> Vec<String> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(url, body)| {
            let http = http.clone();
            tokio::spawn(async move {
                http.post(url)
                    .body(body)
                    .send()
                    .await
                    .expect("notify sent")
                    .text()
                    .await
                    .expect("notify answered")
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("notify task"));
    }
    answers
}
