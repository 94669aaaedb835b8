//! For the staff tests: the real app with the WeChat simulator mounted at `/_sim` (where demo
//! mode's WeChat settings point), staff accounts signed in through the real sign-in form, and paid
//! registrations made through the real candidate API and a simulated payment.

use examdesk::db::admins::{self, Role};
use serde_json::{Value, json};
use wechat_pay_v2_simulator::Simulator;

use super::{TestApp, id_number, wait_until};

pub const PASSWORD: &str = "correct-horse-battery";

/// The app (demo mode, so WeChat is its embedded simulator under `/_sim`) and that simulator;
/// notifies and refunds settle in milliseconds.
pub async fn spawn() -> (TestApp, Simulator) {
    let app = TestApp::spawn_with(&[
        ("EXAMDESK_LOGIN_PER_MINUTE", "0"),
        ("EXAMDESK_SIM_TIME_SCALE", "0.001"),
    ])
    .await;
    let sim = app
        .state
        .simulator
        .clone()
        .expect("demo mode embeds the simulator");
    (app, sim)
}

/// A staff account of `role` named after it, and a browser-like client signed in as it.
pub async fn staff(app: &TestApp, role: Role) -> reqwest::Client {
    let username = role.as_str();
    admins::create(&app.state.db, username, PASSWORD, role)
        .await
        .expect("create staff account");
    let client = browser();
    let response = sign_in(app, &client, username, PASSWORD).await;
    assert_eq!(response.status(), 200, "signed in as {username}");
    client
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("http client")
}

/// Fills the real sign-in form (with its CSRF token) and follows the redirect.
pub async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = client
        .get(app.at("/admin/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("login page text");
    client
        .post(app.at("/admin/login"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", &field(&page, "csrf")),
            ("next", "/admin"),
        ])
        .send()
        .await
        .expect("sign in")
}

/// The value of the first form field called `name` in a page.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.find(&marker)
        .map(|i| &html[i + marker.len()..])
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

pub async fn get_text(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

pub struct Registered {
    pub id: i64,
    pub out_trade_no: String,
}

/// A candidate signs in, registers and starts paying; the payment is not made.
pub async fn registered(app: &TestApp, exam_id: i64, name: &str, seq: u32) -> Registered {
    let http = &app.http;
    let login: Value = http
        .post(app.at("/api/v1/login"))
        .json(&json!({ "code": format!("code-{seq}-{name}") }))
        .send()
        .await
        .expect("candidate login")
        .json()
        .await
        .expect("login json");
    let token = login["token"].as_str().expect("token").to_string();
    let reg: Value = http
        .post(app.at("/api/v1/registrations"))
        .bearer_auth(&token)
        .json(&json!({
            "exam_id": exam_id,
            "name": name,
            "id_number": id_number(seq),
            "phone": format!("139{:08}", seq),
        }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("registration json");
    let id = reg["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("registered: {reg}"));
    let pay: Value = http
        .post(app.at(&format!("/api/v1/registrations/{id}/pay")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("pay")
        .json()
        .await
        .expect("pay json");
    let out_trade_no = pay["out_trade_no"]
        .as_str()
        .unwrap_or_else(|| panic!("pay: {pay}"))
        .to_string();
    Registered { id, out_trade_no }
}

/// Registered and paid: the simulator pays and notifies, and the app records it.
pub async fn paid(
    app: &TestApp,
    sim: &Simulator,
    exam_id: i64,
    name: &str,
    seq: u32,
) -> Registered {
    let r = registered(app, exam_id, name, seq).await;
    sim.pay(&r.out_trade_no).expect("simulator pays");
    wait_for_status(app, r.id, "paid").await;
    r
}

pub async fn status_of(app: &TestApp, id: i64) -> String {
    examdesk::db::registrations::get(&app.state.db, id)
        .await
        .expect("read registration")
        .map(|r| r.status.to_string())
        .unwrap_or_default()
}

/// Waits for a notify-driven change of the registration's status to land in the database.
pub async fn wait_for_status(app: &TestApp, id: i64, status: &str) {
    let what = format!("registration {id} becomes {status}");
    wait_for_reading(&what, status.to_string(), async || status_of(app, id).await).await
}

/// Waits until the registration's refunds are exactly `expected` (status, fen).
pub async fn wait_for_refunds(app: &TestApp, registration_id: i64, expected: &[(&str, i64)]) {
    let expected: Vec<(String, i64)> = expected.iter().map(|(s, f)| (s.to_string(), *f)).collect();
    let what = format!("refunds of registration {registration_id} are {expected:?}");
    wait_for_reading(&what, expected, async || {
        refund_statuses(app, registration_id).await
    })
    .await
}

/// Waits until `read` reads `expected`; the last reading is in the failure.
async fn wait_for_reading<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: T,
    mut read: impl AsyncFnMut() -> T,
) {
    wait_until(what, async || {
        let now = read().await;
        if now == expected {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await
}

pub async fn refund_statuses(app: &TestApp, registration_id: i64) -> Vec<(String, i64)> {
    examdesk::db::refunds::for_registration(&app.state.db, registration_id)
        .await
        .expect("refunds")
        .into_iter()
        .map(|r| (r.status.to_string(), r.refund_fee))
        .collect()
}

pub async fn seats_taken(app: &TestApp, exam_id: i64) -> i64 {
    examdesk::db::exams::get(&app.state.db, exam_id)
        .await
        .expect("exam")
        .map(|e| e.seats_taken)
        .unwrap_or(-1)
}

/// The order id in the registration page's refund form, and the form's hidden fields.
pub struct RefundForm {
    pub action: String,
    pub csrf: String,
    pub out_refund_no: String,
}

pub fn refund_form(html: &str) -> Option<RefundForm> {
    let start = html.find("action=\"/admin/orders/")?;
    let rest = &html[start + "action=\"".len()..];
    let action = rest.split('"').next()?.to_string();
    Some(RefundForm {
        action,
        csrf: field(rest, "csrf"),
        out_refund_no: field(rest, "out_refund_no"),
    })
}

/// The registration once the payment gave it a seat and a ticket number.
pub async fn seated_registration(
    app: &TestApp,
    id: i64,
) -> examdesk::db::registrations::Registration {
    super::wait_until(&format!("registration {id} gets a seat"), async || {
        examdesk::db::registrations::get(&app.state.db, id)
            .await
            .unwrap()
            .filter(|r| r.ticket_no.is_some())
    })
    .await
}

/// The address the ticket's QR code opens.
pub fn verify_url(app: &TestApp, r: &examdesk::db::registrations::Registration) -> String {
    let token = examdesk::ticketing::verify_token(&app.state.tickets, r);
    app.at(&format!("/verify/{token}"))
}

/// [`browser`] that shows redirects instead of following them.
pub fn browser_not_following() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}
