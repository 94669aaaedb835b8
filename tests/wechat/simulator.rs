//! The simulator on the wire: what it refuses, what it signs, and how it
//! delivers notifies (retry schedule, duplicates, drops, refund notifies).

use std::collections::BTreeMap;
use std::time::Duration;

use wechat_pay_v2::notify::{self, parse_pay_notify, parse_refund_notify};
use wechat_pay_v2::pay::{PayClient, RefundRequest, RefundState, TradeState, UnifiedOrder};
use wechat_pay_v2::{SignType, WechatConfig, sign, xml};
use wechat_pay_v2_simulator::{Faults, NOTIFY_SCHEDULE_SECS, Simulator, Stats};

use crate::common::wait_until;
use crate::support::*;

type Fields = BTreeMap<String, String>;

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn order_fields(no: &str, notify_url: &str) -> Fields {
    fields(&[
        ("appid", APPID),
        ("mch_id", MCH_ID),
        ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ("body", "考试报名费"),
        ("out_trade_no", no),
        ("total_fee", "5000"),
        ("spbill_create_ip", "127.0.0.1"),
        ("notify_url", notify_url),
        ("trade_type", "JSAPI"),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ("attach", "exam=CET4&seat=12"),
    ])
}

fn signed(mut f: Fields, key: &str, t: SignType) -> String {
    if t == SignType::HmacSha256 {
        f.insert("sign_type".into(), "HMAC-SHA256".into());
    }
    let s = sign::sign(&f, key, t);
    f.insert("sign".into(), s);
    xml::to_xml(&f)
}

/// POSTs raw bytes without a Content-Type, as some clients do.
async fn post_raw(base: &str, path: &str, body: String) -> (u16, Fields) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .body(body)
        .send()
        .await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    (status, xml::parse(&bytes).unwrap_or_default())
}

fn base_of(config: &WechatConfig) -> String {
    config.pay_base_url.clone()
}

fn pay_client(config: &WechatConfig) -> PayClient {
    PayClient::new(config.clone()).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn accepts_no_content_type_and_signs_answers_with_the_requests_sign_type() {
    let (_sim, config) = start().await;
    let base = base_of(&config);
    for (no, t, len) in [
        ("EXAMS001", SignType::Md5, 32),
        ("EXAMS002", SignType::HmacSha256, 64),
    ] {
        let (status, answer) = post_raw(
            &base,
            "/pay/unifiedorder",
            signed(order_fields(no, "http://127.0.0.1:9/n"), API_KEY, t),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            answer.get("return_code").map(String::as_str),
            Some("SUCCESS"),
            "{answer:?}"
        );
        assert_eq!(
            answer.get("result_code").map(String::as_str),
            Some("SUCCESS")
        );
        assert_eq!(answer.get("sign").map(String::len), Some(len));
        assert!(sign::verify(&answer, API_KEY, Some(t)));
        assert_eq!(answer.get("mch_id").map(String::as_str), Some(MCH_ID));
    }
}

#[tokio::test]
async fn refuses_bad_signature_wrong_merchant_and_bad_xml() {
    let (sim, config) = start().await;
    let base = base_of(&config);
    let refused = |answer: &Fields| {
        answer.get("return_code").map(String::as_str) == Some("FAIL")
            && answer.get("prepay_id").is_none()
    };

    let (_, a) = post_raw(
        &base,
        "/pay/unifiedorder",
        signed(order_fields("E1", "http://x/n"), "wrong-key", SignType::Md5),
    )
    .await;
    assert!(refused(&a), "{a:?}");
    assert_eq!(a.get("return_msg").map(String::as_str), Some("签名错误"));

    // Signed right, but one byte changed after signing.
    let mut tampered =
        xml::parse(signed(order_fields("E1", "http://x/n"), API_KEY, SignType::Md5).as_bytes())
            .unwrap_or_default();
    tampered.insert("total_fee".into(), "1".into());
    let (_, a) = post_raw(&base, "/pay/unifiedorder", xml::to_xml(&tampered)).await;
    assert!(refused(&a), "{a:?}");

    // A request that says HMAC-SHA256 but carries an MD5 signature.
    let mut f = order_fields("E1", "http://x/n");
    f.insert("sign_type".into(), "HMAC-SHA256".into());
    let md5 = sign::sign(&f, API_KEY, SignType::Md5);
    f.insert("sign".into(), md5);
    let (_, a) = post_raw(&base, "/pay/unifiedorder", xml::to_xml(&f)).await;
    assert!(refused(&a), "{a:?}");

    let mut other_mch = order_fields("E1", "http://x/n");
    other_mch.insert("mch_id".into(), "19999999".into());
    let (_, a) = post_raw(
        &base,
        "/pay/unifiedorder",
        signed(other_mch, API_KEY, SignType::Md5),
    )
    .await;
    assert!(refused(&a), "{a:?}");

    let mut other_app = order_fields("E1", "http://x/n");
    other_app.insert("appid".into(), "wxother".into());
    let (_, a) = post_raw(
        &base,
        "/pay/unifiedorder",
        signed(other_app, API_KEY, SignType::Md5),
    )
    .await;
    assert!(refused(&a), "{a:?}");

    let (_, a) = post_raw(
        &base,
        "/pay/unifiedorder",
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><a>&e;</a></xml>".into(),
    )
    .await;
    assert!(refused(&a), "{a:?}");
    let (_, a) = post_raw(&base, "/pay/orderquery", String::new()).await;
    assert!(refused(&a), "{a:?}");

    assert_eq!(sim.order("E1"), None, "nothing refused was recorded");
    assert_eq!(sim.stats().unifiedorder, 6);
}

#[tokio::test]
async fn refund_over_the_paid_amount_is_refused() {
    let (sim, config) = start().await;
    let pay = pay_client(&config);
    let order = UnifiedOrder::jsapi(
        "EXAMS003",
        "考试报名费",
        5000,
        "o1",
        "127.0.0.1",
        "http://127.0.0.1:9/n",
    );
    assert!(pay.unified_order(&order).await.is_ok());
    assert!(sim.pay("EXAMS003").is_ok());
    let base = base_of(&config);
    let refund = |no: &str, fee: &str| {
        signed(
            fields(&[
                ("appid", APPID),
                ("mch_id", MCH_ID),
                ("nonce_str", "n1"),
                ("out_trade_no", "EXAMS003"),
                ("out_refund_no", no),
                ("total_fee", "5000"),
                ("refund_fee", fee),
            ]),
            API_KEY,
            SignType::Md5,
        )
    };
    let (_, a) = post_raw(&base, "/secapi/pay/refund", refund("RS1", "5001")).await;
    assert_eq!(a.get("result_code").map(String::as_str), Some("FAIL"));
    assert_eq!(a.get("err_code").map(String::as_str), Some("NOTENOUGH"));
    let (_, a) = post_raw(&base, "/secapi/pay/refund", refund("RS1", "5000")).await;
    assert_eq!(
        a.get("result_code").map(String::as_str),
        Some("SUCCESS"),
        "{a:?}"
    );
    let (_, a) = post_raw(&base, "/secapi/pay/refund", refund("RS2", "1")).await;
    assert_eq!(a.get("err_code").map(String::as_str), Some("NOTENOUGH"));
    assert_eq!(sim.order("EXAMS003").map(|o| o.refunds.len()), Some(1));
}

#[tokio::test]
async fn notify_is_repeated_until_answered_success() {
    let (sim, config) = start().await;
    // Fails twice (500, then 200 with FAIL), answers SUCCESS the third time.
    let receiver = receiver(vec![Reply::Http500, Reply::Fail]).await;
    let pay = pay_client(&config);
    let mut order = UnifiedOrder::jsapi(
        "EXAMS004",
        "考试报名费",
        5000,
        "o1",
        "127.0.0.1",
        &receiver.url,
    );
    order.attach = Some("seat=12&<A>".into());
    assert!(pay.unified_order(&order).await.is_ok());
    let tx = sim.pay("EXAMS004").unwrap_or_default();

    wait_for_stats(&sim, "one notify answered SUCCESS", |s| {
        s.notifies_answered == 1
    })
    .await;
    // 15 s and 15 s at time_scale 0.001: well past any further repeat after this.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.count(), 3, "no notify after SUCCESS");
    let stats = sim.stats();
    assert_eq!((stats.notifies_sent, stats.notifies_answered), (3, 1));

    for i in 0..3 {
        let body = receiver.body(i);
        let n =
            parse_pay_notify(&config, &body, Some(SignType::Md5)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.transaction_id, tx);
        assert_eq!(n.total_fee, 5000);
        assert_eq!(n.attach.as_deref(), Some("seat=12&<A>"));
    }
}

#[tokio::test]
async fn http_201_is_not_an_answer() {
    let (sim, config) = start().await;
    let receiver = receiver(vec![Reply::Created]).await;
    let pay = pay_client(&config);
    let order = UnifiedOrder::jsapi("EXAMS005", "b", 1, "o1", "127.0.0.1", &receiver.url);
    assert!(pay.unified_order(&order).await.is_ok());
    assert!(sim.pay("EXAMS005").is_ok());
    wait_for_stats(&sim, "one notify answered SUCCESS", |s| {
        s.notifies_answered == 1
    })
    .await;
    assert_eq!(receiver.count(), 2);
}

#[tokio::test]
async fn notify_carries_every_field_wechat_sends() {
    let (sim, config) = start().await;
    let receiver = receiver(vec![]).await;
    let pay = pay_client(&config);
    let mut order = UnifiedOrder::jsapi(
        "EXAMS006",
        "考试报名费",
        5000,
        "oPayer",
        "127.0.0.1",
        &receiver.url,
    );
    order.attach = Some("a".into());
    assert!(pay.unified_order(&order).await.is_ok());
    assert!(sim.pay("EXAMS006").is_ok());
    wait_until("the notify reaches the receiver", async || {
        receiver.count() == 1
    })
    .await;
    let raw = xml::parse(&receiver.body(0)).unwrap_or_default();
    for key in [
        "appid",
        "mch_id",
        "nonce_str",
        "result_code",
        "return_code",
        "openid",
        "is_subscribe",
        "trade_type",
        "bank_type",
        "total_fee",
        "cash_fee",
        "fee_type",
        "transaction_id",
        "out_trade_no",
        "attach",
        "time_end",
        "sign",
    ] {
        assert!(
            raw.get(key).is_some_and(|v| !v.is_empty()),
            "notify lacks {key}: {raw:?}"
        );
    }
    assert!(
        !raw.contains_key("sign_type"),
        "MD5 notifies carry no sign_type"
    );
    assert_eq!(raw.get("openid").map(String::as_str), Some("oPayer"));
    let time_end = raw.get("time_end").cloned().unwrap_or_default();
    assert_eq!(time_end.len(), 14);
    assert!(time_end.bytes().all(|b| b.is_ascii_digit()));
}

#[tokio::test]
async fn duplicate_notifies_fault_sends_extra_copies() {
    let (sim, config) = start().await;
    let receiver = receiver(vec![]).await;
    sim.set_faults(Faults {
        duplicate_notifies: 3,
        ..Faults::default()
    });
    let pay = pay_client(&config);
    let order = UnifiedOrder::jsapi("EXAMS007", "b", 1, "o1", "127.0.0.1", &receiver.url);
    assert!(pay.unified_order(&order).await.is_ok());
    assert!(sim.pay("EXAMS007").is_ok());
    wait_until("four notifies reach the receiver", async || {
        let got = receiver.count();
        if got == 4 {
            Ok(())
        } else {
            Err(format!("got {got}"))
        }
    })
    .await;
    let first = receiver.body(0);
    assert!(
        (1..4).all(|i| receiver.body(i) == first),
        "copies are identical"
    );
}

#[tokio::test]
async fn dropped_notify_still_shows_in_order_query() {
    let (sim, config) = start().await;
    let receiver = receiver(vec![]).await;
    sim.set_faults(Faults {
        drop_notifies: true,
        ..Faults::default()
    });
    let pay = pay_client(&config);
    let order = UnifiedOrder::jsapi("EXAMS008", "b", 1, "o1", "127.0.0.1", &receiver.url);
    assert!(pay.unified_order(&order).await.is_ok());
    assert!(sim.pay("EXAMS008").is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 0);
    assert_eq!(sim.stats().notifies_sent, 0);
    let state = pay.order_query("EXAMS008").await.map(|s| s.trade_state);
    assert_eq!(state.ok(), Some(TradeState::Success));
}

#[tokio::test]
async fn refund_notify_is_encrypted_and_refund_query_reflects_it() {
    let (sim, config) = start().await;
    let receiver = receiver(vec![Reply::Http500]).await;
    let pay = pay_client(&config);
    let order = UnifiedOrder::jsapi(
        "EXAMS009",
        "b",
        5000,
        "o1",
        "127.0.0.1",
        "http://127.0.0.1:9/n",
    );
    assert!(pay.unified_order(&order).await.is_ok());
    assert!(sim.pay("EXAMS009").is_ok());
    let request = RefundRequest {
        out_trade_no: "EXAMS009".into(),
        out_refund_no: "RS9".into(),
        total_fee: 5000,
        refund_fee: 1500,
        refund_desc: None,
        notify_url: Some(receiver.url.clone()),
    };
    let accepted = pay.refund(&request).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for_stats(&sim, "one refund notify answered SUCCESS", |s| {
        s.refund_notifies_answered == 1
    })
    .await;
    assert_eq!(
        receiver.count(),
        2,
        "the failed first delivery was repeated"
    );
    let body = receiver.body(1);
    assert!(
        !String::from_utf8_lossy(&body).contains("RS9"),
        "refund details travel encrypted"
    );
    let n = parse_refund_notify(&config, &body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.out_refund_no, "RS9");
    assert_eq!(n.refund_id, accepted.refund_id);
    assert_eq!((n.refund_fee, n.total_fee), (1500, 5000));
    assert_eq!(n.refund_status, RefundState::Success);
    let q = pay
        .refund_query("RS9")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.refund_status, RefundState::Success);
    assert_eq!(q.success_time, n.success_time);
}

#[tokio::test]
async fn pay_page_works_at_root_and_under_sim_prefix() {
    let sim = Simulator::new(sim_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let router = sim.standalone_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();

    for (prefix, no) in [("", "EXAMP001"), ("/_sim", "EXAMP002")] {
        let base = format!("http://{addr}{prefix}");
        let config = sim.client_config(&base);
        let mut order = UnifiedOrder::jsapi(
            no,
            "英语四级 <script>",
            5000,
            "o1",
            "127.0.0.1",
            "http://127.0.0.1:9/n",
        );
        order.attach = None;
        let prepay = pay_client(&config)
            .unified_order(&order)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let page_url = format!("{base}/pay/{}", prepay.prepay_id);
        let page = http
            .get(&page_url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap_or_default();
        assert!(html.contains("确认支付"), "{html}");
        assert!(html.contains("¥50.00"), "{html}");
        assert!(
            html.contains("英语四级 &lt;script&gt;"),
            "body is escaped: {html}"
        );

        // Follow the form's relative action the way a browser resolves it.
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let target = url::Url::parse(&page_url)
            .and_then(|u| u.join(&action))
            .map(|u| u.to_string());
        assert_eq!(target.as_deref(), Ok(page_url.as_str()));
        let paid = http
            .post(&page_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(paid.status().as_u16(), 200);
        assert!(paid.text().await.unwrap_or_default().contains("支付成功"));
        assert_eq!(
            sim.order(no).map(|o| o.trade_state),
            Some(TradeState::Success)
        );
    }

    let missing = http
        .get(format!("http://{addr}/_sim/pay/wxnosuch"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(missing.ok(), Some(404));
    let json_pay = http
        .post(format!("http://{addr}/pay/EXAMP001"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(json_pay.ok(), Some(409), "already paid");
}

#[tokio::test]
async fn faults_and_stats_over_json() {
    let (sim, config) = start().await;
    let base = base_of(&config);
    let http = reqwest::Client::new();
    let set = http
        .post(format!("{base}/faults"))
        .json(&serde_json::json!({ "fail_next": 1, "delay_ms": 50 }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let set: Faults = set.json().await.unwrap_or_default();
    assert_eq!((set.fail_next, set.delay_ms), (1, 50));
    assert_eq!(sim.faults().fail_next, 1);

    let started = std::time::Instant::now();
    let (status, _) = post_raw(&base, "/pay/closeorder", String::new()).await;
    assert_eq!(status, 500);
    assert!(started.elapsed() >= Duration::from_millis(50));
    let (status, answer) = post_raw(&base, "/pay/closeorder", String::new()).await;
    assert_eq!(status, 200);
    assert_eq!(answer.get("return_code").map(String::as_str), Some("FAIL"));

    let stats: Stats = http
        .get(format!("{base}/stats"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(stats.closeorder, 2);
    assert_eq!(stats.injected_failures, 1);
    let faults: Faults = http
        .get(format!("{base}/faults"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(faults.fail_next, 0, "consumed");
}

#[tokio::test]
async fn jscode2session_answers_text_plain_json_and_distinct_openids() {
    let (sim, config) = start().await;
    let url = format!(
        "{}/sns/jscode2session?appid={APPID}&secret={APP_SECRET}&js_code=abc&grant_type=authorization_code",
        config.api_base_url
    );
    let r = reqwest::get(&url).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain")
    );
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default();
    assert_eq!(
        v["openid"].as_str().map(str::to_owned),
        Some(sim.openid_for_code("abc"))
    );
    assert_eq!(v["session_key"].as_str().map(str::len), Some(24));

    let openids: std::collections::HashSet<String> = (0..10_000)
        .map(|i| sim.openid_for_code(&format!("load-{i}")))
        .collect();
    assert_eq!(openids.len(), 10_000);
    let other = Simulator::new(sim_config());
    assert_eq!(
        other.openid_for_code("abc"),
        sim.openid_for_code("abc"),
        "stable across restarts"
    );
}

#[test]
fn retry_schedule_is_wechats() {
    assert_eq!(NOTIFY_SCHEDULE_SECS.len(), 15);
    assert_eq!(NOTIFY_SCHEDULE_SECS.iter().sum::<u64>(), 24 * 3600 + 4 * 60);
    assert_eq!(&NOTIFY_SCHEDULE_SECS[..3], &[15, 15, 30]);
}

#[tokio::test]
async fn pay_notify_from_simulator_is_rejected_by_another_merchant() {
    let (sim, config) = start().await;
    let receiver = receiver(vec![]).await;
    let pay = pay_client(&config);
    let order = UnifiedOrder::jsapi("EXAMS010", "b", 1, "o1", "127.0.0.1", &receiver.url);
    assert!(pay.unified_order(&order).await.is_ok());
    assert!(sim.pay("EXAMS010").is_ok());
    wait_until("the notify reaches the receiver", async || {
        receiver.count() == 1
    })
    .await;
    let mut other = config.clone();
    other.api_key = "ffffffffffffffffffffffffffffffff".into();
    assert_eq!(
        parse_pay_notify(&other, &receiver.body(0), None),
        Err(notify::NotifyError::BadSignature)
    );
}
