//! The candidate's path end to end over HTTP against the simulator: sign in, register, pay, and the
//! payment confirmed exactly once whatever WeChat or other candidates do.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wechat_pay_v2::pay::{MIN_CLOSE_AGE, TradeState};
use wechat_pay_v2::{SignType, sign, xml};

use crate::common::notify::{notify_fields, post_all, signed};
use crate::common::{TestApp, id_number};

const KEY: &str = examdesk::demo::DEMO_API_KEY;

pub(crate) async fn registered(app: &TestApp, code: &str, exam_id: i64, seq: u32) -> (String, i64) {
    let token = app.login(code).await;
    let res = app.register(&token, exam_id, seq).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "pending_payment");
    (token, body["id"].as_i64().unwrap())
}

pub(crate) async fn pay_args(app: &TestApp, token: &str, id: i64) -> Value {
    let (status, body) = app
        .post_json(token, &format!("/api/v1/registrations/{id}/pay"))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub(crate) fn prepay_id(args: &Value) -> String {
    args["package"]
        .as_str()
        .unwrap()
        .trim_start_matches("prepay_id=")
        .to_string()
}

pub(crate) async fn send_notify(app: &TestApp, body: impl Into<reqwest::Body>) -> String {
    let res = app
        .http
        .post(app.at("/wechat/pay/notify"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "WeChat expects 200 for every notify answer"
    );
    res.text().await.unwrap()
}

pub(crate) fn is_success(reply: &str) -> bool {
    reply == wechat_pay_v2::notify::SUCCESS_REPLY
}

pub(crate) async fn order_of(app: &TestApp, registration_id: i64) -> (String, String) {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT out_trade_no, status FROM orders WHERE registration_id = {registration_id} ORDER BY id DESC"
    )))
    .fetch_one(&app.state.db.read)
    .await
    .unwrap();
    (
        sqlx::Row::get(&row, "out_trade_no"),
        sqlx::Row::get(&row, "status"),
    )
}

#[tokio::test]
async fn happy_path_from_login_to_paid() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET01").create().await;
    let token = app.login("alice-code").await;

    let (status, exams) = app.get_json(&token, "/api/v1/exams").await;
    assert_eq!(status, 200);
    let exam = exams
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == exam_id)
        .unwrap()
        .clone();
    assert_eq!(exam["fee_fen"], 5000);
    assert_eq!(exam["remaining"], 10);
    assert!(exam["opens_at"].as_str().unwrap().ends_with('Z'));

    let (_, id) = {
        let res = app.register(&token, exam_id, 1).await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["id_number"],
            "110105********".to_string() + &id_number(1)[14..]
        );
        ((), body["id"].as_i64().unwrap())
    };
    let (_, exams) = app.get_json(&token, "/api/v1/exams").await;
    assert_eq!(
        exams[0]["remaining"], 9,
        "the seat is held from registration"
    );

    let args = pay_args(&app, &token, id).await;
    assert!(
        args["timeStamp"].is_string(),
        "timeStamp must be a string: {args}"
    );
    assert_eq!(args["signType"], "MD5");
    assert!(args["package"].as_str().unwrap().starts_with("prepay_id="));
    let mut signed_fields = BTreeMap::new();
    for (k, v) in [
        ("appId", examdesk::demo::DEMO_APPID.to_string()),
        ("timeStamp", args["timeStamp"].as_str().unwrap().to_string()),
        ("nonceStr", args["nonceStr"].as_str().unwrap().to_string()),
        ("package", args["package"].as_str().unwrap().to_string()),
        ("signType", "MD5".to_string()),
    ] {
        signed_fields.insert(k.to_string(), v);
    }
    assert_eq!(
        args["paySign"],
        sign::sign(&signed_fields, KEY, SignType::Md5)
    );

    let again = pay_args(&app, &token, id).await;
    assert_eq!(
        prepay_id(&again),
        prepay_id(&args),
        "paying again reuses the prepay_id"
    );
    assert_eq!(again["out_trade_no"], args["out_trade_no"]);
    assert_eq!(
        app.simulator().stats().unifiedorder,
        1,
        "never a second order"
    );
    let sim_order = app
        .simulator()
        .order(args["out_trade_no"].as_str().unwrap())
        .unwrap();
    assert_eq!(sim_order.total_fee, 5000);
    assert!(
        sim_order.body.contains("CET01 全国英语等级考试"),
        "{}",
        sim_order.body
    );
    assert_eq!(sim_order.notify_url, app.at("/wechat/pay/notify"));

    app.simulator().pay(&prepay_id(&args)).unwrap();
    let paid = app.wait_for_status(&token, id, "paid").await;
    assert!(paid["paid_at"].is_string());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        1
    );
    let (status, _) = app
        .post_json(&token, &format!("/api/v1/registrations/{id}/pay"))
        .await;
    assert_eq!(status, 409, "a paid registration is not paid twice");
}

#[tokio::test]
async fn ten_concurrent_copies_of_one_notify_make_one_payment() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET02").create().await;
    let (token, id) = registered(&app, "bob", exam_id, 2).await;
    let args = pay_args(&app, &token, id).await;
    let body = signed(notify_fields(
        args["out_trade_no"].as_str().unwrap(),
        5000,
        "4200000001202611250000000001",
    ));
    let url = app.at("/wechat/pay/notify");
    let replies = post_all(&app.http, vec![(url, body); 10]).await;
    assert!(
        replies.iter().all(|r| is_success(r)),
        "every copy is answered SUCCESS: {replies:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'paid'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT seats_taken FROM exams").await,
        1,
        "the seat is counted once"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM wechat_callbacks WHERE kind = 'pay'")
            .await,
        10,
        "every copy is kept"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM wechat_callbacks WHERE outcome = 'paid'")
            .await,
        1,
        "exactly one copy recorded the payment"
    );
    app.wait_for_status(&token, id, "paid").await;
}

#[tokio::test]
async fn forged_or_broken_notifies_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET03").create().await;
    let (token, id) = registered(&app, "carol", exam_id, 3).await;
    let args = pay_args(&app, &token, id).await;
    let no = args["out_trade_no"].as_str().unwrap();
    let tx = "4200000001202611250000000002";

    let tampered = signed(notify_fields(no, 1, tx));
    assert!(
        !is_success(&send_notify(&app, tampered).await),
        "a tampered amount is refused"
    );

    let mut bad_sig = notify_fields(no, 5000, tx);
    bad_sig.insert("sign".into(), "9A0A8659F005D6984697E2CA0A9CF3B7".into());
    assert!(
        !is_success(&send_notify(&app, xml::to_xml(&bad_sig)).await),
        "a bad signature is refused"
    );

    let mut altered = notify_fields(no, 5000, tx);
    let good_sign = sign::sign(&altered, KEY, SignType::Md5);
    altered.insert("total_fee".into(), "1".into());
    altered.insert("sign".into(), good_sign);
    assert!(
        !is_success(&send_notify(&app, xml::to_xml(&altered)).await),
        "a field changed after signing"
    );

    let mut other_merchant = notify_fields(no, 5000, tx);
    other_merchant.insert("mch_id".into(), "1900000109".into());
    assert!(
        !is_success(&send_notify(&app, signed(other_merchant)).await),
        "another merchant's notify"
    );

    let unknown = signed(notify_fields("NOSUCHORDER0001", 5000, tx));
    assert!(
        !is_success(&send_notify(&app, unknown).await),
        "an unknown order is refused"
    );

    for garbage in [
        "not xml at all".to_string(),
        "<xml><return_code>SUCCESS</return_code>".to_string(),
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><a>&e;</a></xml>".to_string(),
        format!("<xml><a><![CDATA[{}]]></a></xml>", "x".repeat(70 * 1024)),
        String::new(),
    ] {
        let reply = send_notify(&app, garbage).await;
        assert!(reply.contains("FAIL"), "{reply}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        0,
        "nothing was paid"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'pending_payment'")
            .await,
        1
    );
    assert_eq!(order_of(&app, id).await.1, "prepaid");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM wechat_callbacks WHERE outcome = 'refused: amount mismatch'"
        )
        .await,
        1,
        "the mismatch is kept for the admins"
    );

    // The genuine notify still goes through afterwards, even without a Content-Type.
    let genuine = signed(notify_fields(no, 5000, tx));
    let res = app
        .http
        .post(app.at("/wechat/pay/notify"))
        .body(genuine)
        .send()
        .await
        .unwrap();
    assert!(is_success(&res.text().await.unwrap()));
    app.wait_for_status(&token, id, "paid").await;
}

#[tokio::test]
async fn a_lost_notify_is_found_by_the_query_job() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET04").create().await;
    let (token, id) = registered(&app, "dave", exam_id, 4).await;
    let args = pay_args(&app, &token, id).await;
    app.simulator().set_faults(wechat_pay_v2_simulator::Faults {
        drop_notifies: true,
        ..Default::default()
    });
    app.simulator().pay(&prepay_id(&args)).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, body) = app
        .get_json(&token, &format!("/api/v1/registrations/{id}"))
        .await;
    assert_eq!(body["status"], "pending_payment", "no notify came");

    let soon = examdesk::util::now() + 30;
    let report = examdesk::jobs::run_once(&app.state.payments, soon)
        .await
        .unwrap();
    assert_eq!(
        report.recovered, 0,
        "orders are not queried before a notify is overdue"
    );
    let later = examdesk::util::now() + examdesk::jobs::QUERY_AFTER + 5;
    let report = examdesk::jobs::run_once(&app.state.payments, later)
        .await
        .unwrap();
    assert_eq!(report.recovered, 1);
    app.wait_for_status(&token, id, "paid").await;
}

#[tokio::test]
async fn an_expired_order_is_closed_once_and_frees_its_seat() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET05").capacity(1).create().await;
    let (token, id) = registered(&app, "erin", exam_id, 5).await;
    let _ = pay_args(&app, &token, id).await;
    let other = app.login("frank").await;
    let full = app.register(&other, exam_id, 6).await;
    assert_eq!(full.status(), 409, "the only seat is held");

    // The job is told a later time; WeChat's clock (scaled) must pass its 5 minutes as well.
    tokio::time::sleep(app.simulator().config().scaled(MIN_CLOSE_AGE)).await;
    let after_ttl = examdesk::util::now() + 30 * 60 + 5;
    let report = examdesk::jobs::run_once(&app.state.payments, after_ttl)
        .await
        .unwrap();
    assert_eq!(report.closed, 1, "{report:?}");
    assert_eq!(app.simulator().stats().closeorder, 1);
    let again = examdesk::jobs::run_once(&app.state.payments, after_ttl + 60)
        .await
        .unwrap();
    assert_eq!(again.closed, 0);
    assert_eq!(
        app.simulator().stats().closeorder,
        1,
        "each expired order is closed once"
    );
    let (_, body) = app
        .get_json(&token, &format!("/api/v1/registrations/{id}"))
        .await;
    assert_eq!(body["status"], "expired");
    assert_eq!(order_of(&app, id).await.1, "closed");
    assert_eq!(app.count("SELECT seats_taken FROM exams").await, 0);
    let res = app.register(&other, exam_id, 6).await;
    assert_eq!(res.status(), 201, "the released seat can be taken");
}

#[tokio::test]
async fn a_hold_without_an_order_expires_too() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET06").capacity(3).create().await;
    let (token, id) = registered(&app, "gina", exam_id, 7).await;
    let report = examdesk::jobs::run_once(&app.state.payments, examdesk::util::now() + 31 * 60)
        .await
        .unwrap();
    assert_eq!(report.expired, 1);
    let (_, body) = app
        .get_json(&token, &format!("/api/v1/registrations/{id}"))
        .await;
    assert_eq!(body["status"], "expired");
    assert_eq!(app.count("SELECT seats_taken FROM exams").await, 0);
}

#[tokio::test]
async fn two_hundred_candidates_race_for_fifty_seats() {
    let app = TestApp::spawn_with(&[("EXAMDESK_LOGIN_PER_MINUTE", "0")]).await;
    let exam_id = app.exam("CET07").capacity(50).create().await;
    let mut tokens = Vec::new();
    for i in 0..200 {
        tokens.push(app.login(&format!("racer-{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let http = app.http.clone();
        let url = app.at("/api/v1/registrations");
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"exam_id": exam_id, "name": "李四", "id_number": id_number(100 + i as u32), "phone": "13900139000"}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    let mut sold_out = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(body["error"]["code"], "sold_out", "{body}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("名额已满")
                );
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, sold_out), (50, 150));
    assert_eq!(app.count("SELECT seats_taken FROM exams").await, 50);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'pending_payment'")
            .await,
        50
    );
}

#[tokio::test]
async fn candidates_see_only_their_own_registrations() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET08").create().await;
    let (_, id) = registered(&app, "owner", exam_id, 8).await;
    let intruder = app.login("intruder").await;
    let (status, body) = app
        .get_json(&intruder, &format!("/api/v1/registrations/{id}"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = app
        .post_json(&intruder, &format!("/api/v1/registrations/{id}/pay"))
        .await;
    assert_eq!(status, 404);
    let res = app
        .http
        .delete(app.at(&format!("/api/v1/registrations/{id}")))
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let (_, list) = app.get_json(&intruder, "/api/v1/registrations").await;
    assert_eq!(list, json!([]));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'pending_payment'")
            .await,
        1,
        "still there"
    );
}

#[tokio::test]
async fn tokens_must_be_valid_and_unexpired() {
    let app = TestApp::spawn().await;
    let token = app.login("henry").await;
    let (status, _) = app.get_json(&token, "/api/v1/registrations").await;
    assert_eq!(status, 200);
    let res = app
        .http
        .get(app.at("/api/v1/registrations"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no token");
    let (status, _) = app.get_json("made-up-token", "/api/v1/registrations").await;
    assert_eq!(status, 401);
    sqlx::query("UPDATE candidate_sessions SET expires_at = 1")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let (status, body) = app.get_json(&token, "/api/v1/registrations").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "token_expired");
}

#[tokio::test]
async fn invalid_details_are_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET09").create().await;
    let token = app.login("ivy").await;
    let cases = [
        (
            json!({"name": "张三", "id_number": "110105194912310021", "phone": "13800138000"}),
            "id_number",
        ),
        (
            json!({"name": "张三", "id_number": "11010519491231002", "phone": "13800138000"}),
            "id_number",
        ),
        (
            json!({"name": "张三", "id_number": "11010519491331002X", "phone": "13800138000"}),
            "id_number",
        ),
        (
            json!({"name": "张三", "id_number": "11010519491231002X", "phone": "12345"}),
            "phone",
        ),
        (
            json!({"name": "张三", "id_number": "11010519491231002X", "phone": "23800138000"}),
            "phone",
        ),
        (
            json!({"name": "<b>", "id_number": "11010519491231002X", "phone": "13800138000"}),
            "name",
        ),
    ];
    for (mut body, field) in cases {
        body["exam_id"] = json!(exam_id);
        let res = app
            .http
            .post(app.at("/api/v1/registrations"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{err}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    let res = app
        .http
        .post(app.at("/api/v1/registrations"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let ok = app.http.post(app.at("/api/v1/registrations")).bearer_auth(&token)
        .json(&json!({"exam_id": exam_id, "name": "阿依古丽·买买提", "id_number": "11010519491231002x", "phone": "+86 138 0013 8000"}))
        .send().await.unwrap();
    assert_eq!(
        ok.status(),
        201,
        "a name with · and a lower-case x are fine"
    );
    assert_eq!(
        app.count("SELECT seats_taken FROM exams").await,
        1,
        "refusals held no seat"
    );
    let twice = app.register(&token, exam_id, 9).await;
    assert_eq!(twice.status(), 409);
    let err: Value = twice.json().await.unwrap();
    assert_eq!(err["error"]["code"], "already_registered");
}

#[tokio::test]
async fn cancelling_a_just_placed_order_succeeds_and_the_job_closes_it_once_five_minutes_old() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET10").create().await;
    let (token, id) = registered(&app, "jack", exam_id, 10).await;
    let args = pay_args(&app, &token, id).await;
    let res = app
        .http
        .delete(app.at(&format!("/api/v1/registrations/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "the candidate's cancellation succeeds");
    let (_, body) = app
        .get_json(&token, &format!("/api/v1/registrations/{id}"))
        .await;
    assert_eq!(body["status"], "cancelled");
    assert_eq!(app.count("SELECT seats_taken FROM exams").await, 0);
    // WeChat would refuse to close an order this young: it was not asked, and the order stays
    // open (and watched) here.
    assert_eq!(app.simulator().stats().closeorder, 0);
    let at_wechat = app.simulator().order(&prepay_id(&args)).unwrap();
    assert_eq!(at_wechat.trade_state, TradeState::NotPay);
    assert_eq!(order_of(&app, id).await.1, "prepaid");

    let report = examdesk::jobs::run_once(&app.state.payments, examdesk::util::now() + 60)
        .await
        .unwrap();
    assert_eq!(report.closed, 0, "not before its 5 minutes: {report:?}");
    assert_eq!(app.simulator().stats().closeorder, 0);

    tokio::time::sleep(app.simulator().config().scaled(MIN_CLOSE_AGE)).await;
    let five_minutes_on = examdesk::util::now() + MIN_CLOSE_AGE.as_secs() as i64 + 1;
    let report = examdesk::jobs::run_once(&app.state.payments, five_minutes_on)
        .await
        .unwrap();
    assert_eq!(report.closed, 1, "{report:?}");
    assert_eq!(app.simulator().stats().closeorder, 1);
    let at_wechat = app.simulator().order(&prepay_id(&args)).unwrap();
    assert_eq!(at_wechat.trade_state, TradeState::Closed);
    assert_eq!(order_of(&app, id).await.1, "closed");
    assert!(
        app.simulator().pay(&prepay_id(&args)).is_err(),
        "a closed order cannot be paid"
    );
    let again = examdesk::jobs::run_once(&app.state.payments, five_minutes_on + 120)
        .await
        .unwrap();
    assert_eq!(again.closed, 0);
    assert_eq!(app.simulator().stats().closeorder, 1, "closed once");

    let (_, id2) = {
        let res = app.register(&token, exam_id, 10).await;
        assert_eq!(res.status(), 201, "after cancelling one may register again");
        let b: Value = res.json().await.unwrap();
        ((), b["id"].as_i64().unwrap())
    };
    let args2 = pay_args(&app, &token, id2).await;
    assert_ne!(
        args2["out_trade_no"], args["out_trade_no"],
        "a new order needs a new number"
    );
    app.simulator().pay(&prepay_id(&args2)).unwrap();
    app.wait_for_status(&token, id2, "paid").await;
    let res = app
        .http
        .delete(app.at(&format!("/api/v1/registrations/{id2}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        409,
        "a paid registration is not cancelled here"
    );
}

#[tokio::test]
async fn login_never_answers_the_session_key_and_is_rate_limited() {
    let app = TestApp::spawn_with(&[("EXAMDESK_LOGIN_PER_MINUTE", "3")]).await;
    let res = app
        .http
        .post(app.at("/api/v1/login"))
        .json(&json!({"code": "kate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "only token and expires_at: {body}"
    );
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let res = app
        .http
        .post(app.at("/api/v1/login"))
        .json(&json!({"code": "invalid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "WeChat's errcode 40029");
    let res = app
        .http
        .post(app.at("/api/v1/login"))
        .json(&json!({"code": "kate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .post(app.at("/api/v1/login"))
        .json(&json!({"code": "kate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_logins");
}

#[tokio::test]
async fn a_payment_after_the_hold_ended_is_kept_and_reseated_or_queued_for_refund() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("CET11").capacity(1).create().await;
    let (token_a, a) = registered(&app, "late-a", exam_id, 11).await;
    let args_a = pay_args(&app, &token_a, a).await;
    // The hold ended locally (as if the close at WeChat had failed) while WeChat still took the money.
    assert!(
        examdesk::db::registrations::release_unpaid(
            &app.state.db,
            a,
            examdesk::domain::states::RegistrationStatus::Expired,
            examdesk::util::now()
        )
        .await
        .unwrap()
    );
    let (token_b, _) = registered(&app, "late-b", exam_id, 12).await;
    let _ = token_b;

    let no = args_a["out_trade_no"].as_str().unwrap();
    let reply = send_notify(
        &app,
        signed(notify_fields(no, 5000, "4200000001202611250000000099")),
    )
    .await;
    assert!(
        is_success(&reply),
        "a genuine payment is never dropped: {reply}"
    );
    let (_, body) = app
        .get_json(&token_a, &format!("/api/v1/registrations/{a}"))
        .await;
    assert_eq!(body["refund_pending"], true, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        1,
        "recorded as paid"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE needs_refund = 1")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT seats_taken FROM exams").await,
        1,
        "never more than capacity"
    );

    // With a seat free, the late payer simply gets it back.
    let exam2 = app.exam("CET12").capacity(5).create().await;
    let (token_c, c) = registered(&app, "late-c", exam2, 13).await;
    let args_c = pay_args(&app, &token_c, c).await;
    let expired = examdesk::domain::states::RegistrationStatus::Expired;
    examdesk::db::registrations::release_unpaid(&app.state.db, c, expired, examdesk::util::now())
        .await
        .unwrap();
    let no_c = args_c["out_trade_no"].as_str().unwrap();
    assert!(is_success(
        &send_notify(
            &app,
            signed(notify_fields(no_c, 5000, "4200000001202611250000000098"))
        )
        .await
    ));
    let body = app.wait_for_status(&token_c, c, "paid").await;
    assert_eq!(body["refund_pending"], false);
}

#[tokio::test]
async fn the_payer_address_comes_from_a_trusted_proxy_only() {
    let app = TestApp::spawn_with(&[("EXAMDESK_TRUSTED_PROXY", "127.0.0.1")]).await;
    let exam_id = app.exam("CET13").create().await;
    let (token, id) = registered(&app, "proxied", exam_id, 14).await;
    let res = app
        .http
        .post(app.at(&format!("/api/v1/registrations/{id}/pay")))
        .bearer_auth(&token)
        .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let args: Value = res.json().await.unwrap();
    let order = app
        .simulator()
        .order(args["out_trade_no"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        order.spbill_create_ip, "198.51.100.7",
        "the address the proxy appended"
    );

    let direct = TestApp::spawn().await;
    let exam_id = direct.exam("CET14").create().await;
    let (token, id) = registered(&direct, "spoofer", exam_id, 15).await;
    let res = direct
        .http
        .post(direct.at(&format!("/api/v1/registrations/{id}/pay")))
        .bearer_auth(&token)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    let args: Value = res.json().await.unwrap();
    let order = direct
        .simulator()
        .order(args["out_trade_no"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        order.spbill_create_ip, "127.0.0.1",
        "a forwarded header from anyone else is ignored"
    );
}

#[tokio::test]
async fn many_orders_notified_together_are_each_paid_once() {
    let app = TestApp::spawn_with(&[("EXAMDESK_LOGIN_PER_MINUTE", "0")]).await;
    let exam_id = app.exam("CET15").capacity(100).create().await;
    let mut bodies = Vec::new();
    for i in 0..30u32 {
        let (token, id) = registered(&app, &format!("batch-{i}"), exam_id, 200 + i).await;
        let args = pay_args(&app, &token, id).await;
        let no = args["out_trade_no"].as_str().unwrap().to_string();
        let body = signed(notify_fields(
            &no,
            5000,
            &format!("42000000012026112500000{i:05}"),
        ));
        for _ in 0..3 {
            bodies.push(body.clone());
        }
    }
    let url = app.at("/wechat/pay/notify");
    let requests = bodies.into_iter().map(|b| (url.clone(), b)).collect();
    for answer in post_all(&app.http, requests).await {
        assert!(is_success(&answer));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        30
    );
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT transaction_id) FROM orders WHERE status = 'paid'")
            .await,
        30
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'paid'")
            .await,
        30
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM wechat_callbacks WHERE outcome = 'paid'")
            .await,
        30
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM wechat_callbacks").await, 90);

    // One WeChat transaction can pay one order only.
    let (token, id) = registered(&app, "batch-reuse", exam_id, 300).await;
    let args = pay_args(&app, &token, id).await;
    let reused = signed(notify_fields(
        args["out_trade_no"].as_str().unwrap(),
        5000,
        "4200000001202611250000000000",
    ));
    assert!(
        !is_success(&send_notify(&app, reused).await),
        "a transaction_id already used is refused"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        30
    );
}

#[tokio::test]
async fn registration_is_only_open_inside_its_window() {
    let app = TestApp::spawn().await;
    let now = examdesk::util::now();
    let later = app
        .exam("LATER1")
        .window(now + 3600, now + 7200)
        .create()
        .await;
    let over = app
        .exam("OVER1")
        .window(now - 7200, now - 3600)
        .create()
        .await;
    let open = app
        .exam("OPEN1")
        .window(now - 60, now + 3600)
        .create()
        .await;
    let token = app.login("window").await;
    for (exam_id, code) in [
        (later, "registration_not_open"),
        (over, "registration_closed"),
    ] {
        let res = app.register(&token, exam_id, 900).await;
        assert_eq!(res.status(), 409);
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], code);
    }
    sqlx::query("UPDATE exams SET status = 'closed' WHERE id = $1")
        .bind(open)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let res = app.register(&token, open, 901).await;
    assert_eq!(res.status(), 409, "staff closed registration");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM exams WHERE seats_taken > 0")
            .await,
        0,
        "no seat held"
    );
    let (_, listed) = app.get_json(&token, "/api/v1/exams").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != over && e["id"] != open),
        "ended and closed exams are not offered: {listed}"
    );
}
