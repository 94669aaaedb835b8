//! The typed clients against the simulator on a loopback port: every call, its
//! success and each of its errors.

use std::time::Duration;

use wechat_pay_v2::login::{LoginClient, LoginError};
use wechat_pay_v2::pay::{
    PayClient, PayError, RefundRequest, RefundState, RetryPolicy, TradeState, UnifiedOrder,
};
use wechat_pay_v2::{SignType, WechatConfig, notify};
use wechat_pay_v2_simulator::{FailWith, Faults};

use crate::common::wait_until;
use crate::support::*;

fn client(config: &WechatConfig) -> PayClient {
    match PayClient::with_timeout(config.clone(), Duration::from_secs(3)) {
        Ok(c) => c.with_retry(RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(5),
        }),
        Err(e) => panic!("client: {e}"),
    }
}

fn jsapi(no: &str, fee: i64, notify_url: &str) -> UnifiedOrder {
    UnifiedOrder::jsapi(
        no,
        "考试报名费-英语四级 <A&B>",
        fee,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "127.0.0.1",
        notify_url,
    )
}

const NOWHERE: &str = "http://127.0.0.1:9/notify";

#[tokio::test]
async fn unified_order_jsapi_is_idempotent_for_same_content() {
    let (sim, config) = start().await;
    let pay = client(&config);
    let first = pay.unified_order(&jsapi("EXAM0001", 5000, NOWHERE)).await;
    let first = first.unwrap_or_else(|e| panic!("{e}"));
    assert!(first.prepay_id.starts_with("wx"));
    assert_eq!(first.code_url, None);
    let again = pay.unified_order(&jsapi("EXAM0001", 5000, NOWHERE)).await;
    assert_eq!(again.ok(), Some(first.clone()));
    assert_eq!(sim.stats().unifiedorder, 2);
    let order = sim.order("EXAM0001");
    assert_eq!(order.as_ref().map(|o| o.total_fee), Some(5000));
    assert_eq!(
        order.map(|o| o.body),
        Some("考试报名费-英语四级 <A&B>".to_owned())
    );
}

#[tokio::test]
async fn unified_order_native_returns_code_url() {
    let (_sim, config) = start().await;
    let order = UnifiedOrder::native("EXAMN001", "考试报名费", 100, "P1", "127.0.0.1", NOWHERE);
    let prepay = client(&config).unified_order(&order).await;
    let code_url = prepay.ok().and_then(|p| p.code_url).unwrap_or_default();
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
        "{code_url}"
    );
}

#[tokio::test]
async fn unified_order_same_number_other_content_is_refused() {
    let (_sim, config) = start().await;
    let pay = client(&config);
    assert!(
        pay.unified_order(&jsapi("EXAM0002", 5000, NOWHERE))
            .await
            .is_ok()
    );
    let changed = pay.unified_order(&jsapi("EXAM0002", 4000, NOWHERE)).await;
    assert!(
        matches!(&changed, Err(PayError::InvalidRequest(d)) if d == "201 商户订单号重复"),
        "{changed:?}"
    );
}

#[tokio::test]
async fn unified_order_missing_fields_are_refused() {
    let (_sim, config) = start().await;
    let pay = client(&config);
    let mut no_openid = jsapi("EXAM0003", 5000, NOWHERE);
    no_openid.openid = None;
    assert!(matches!(
        pay.unified_order(&no_openid).await,
        Err(PayError::InvalidRequest(_))
    ));
    let zero = jsapi("EXAM0004", 0, NOWHERE);
    assert!(matches!(
        pay.unified_order(&zero).await,
        Err(PayError::InvalidRequest(_))
    ));
    let long_no = jsapi(&"E".repeat(33), 1, NOWHERE);
    assert!(matches!(
        pay.unified_order(&long_no).await,
        Err(PayError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn order_query_follows_the_order_through_payment() {
    let (sim, config) = start().await;
    let pay = client(&config);
    let prepay = pay.unified_order(&jsapi("EXAM0005", 5000, NOWHERE)).await;
    let prepay = prepay.unwrap_or_else(|e| panic!("{e}"));
    let before = pay
        .order_query("EXAM0005")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.trade_state, TradeState::NotPay);
    assert_eq!(before.transaction_id, None);

    let tx = sim.pay(&prepay.prepay_id).unwrap_or_default();
    let after = pay
        .order_query("EXAM0005")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.trade_state, TradeState::Success);
    assert_eq!(after.transaction_id.as_deref(), Some(tx.as_str()));
    assert_eq!(after.total_fee, Some(5000));
    assert_eq!(after.cash_fee, Some(5000));
    assert_eq!(
        after.openid.as_deref(),
        Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    );
    assert_eq!(after.time_end.as_ref().map(String::len), Some(14));

    assert!(matches!(
        pay.order_query("NOSUCHORDER").await,
        Err(PayError::OrderNotExist)
    ));
    assert!(matches!(
        pay.unified_order(&jsapi("EXAM0005", 5000, NOWHERE)).await,
        Err(PayError::OrderPaid)
    ));
    assert!(matches!(
        pay.close_order("EXAM0005").await,
        Err(PayError::OrderPaid)
    ));
}

#[tokio::test]
async fn close_order_and_its_errors() {
    let (sim, config) = start().await;
    let pay = client(&config);
    assert!(
        pay.unified_order(&jsapi("EXAM0006", 5000, NOWHERE))
            .await
            .is_ok()
    );
    // WeChat closes no order younger than 5 minutes (scaled here), and says ORDERPAID…
    assert!(matches!(
        pay.close_order("EXAM0006").await,
        Err(PayError::OrderPaid)
    ));
    // …which only the query tells from a payment.
    let status = pay.order_query("EXAM0006").await.map(|s| s.trade_state);
    assert_eq!(status.ok(), Some(TradeState::NotPay));
    tokio::time::sleep(sim.config().scaled(wechat_pay_v2::pay::MIN_CLOSE_AGE)).await;
    assert!(pay.close_order("EXAM0006").await.is_ok());
    let status = pay.order_query("EXAM0006").await.map(|s| s.trade_state);
    assert_eq!(status.ok(), Some(TradeState::Closed));
    assert!(matches!(
        pay.close_order("EXAM0006").await,
        Err(PayError::OrderClosed)
    ));
    assert!(matches!(
        pay.unified_order(&jsapi("EXAM0006", 5000, NOWHERE)).await,
        Err(PayError::OutTradeNoUsed)
    ));
    assert!(matches!(
        pay.close_order("NOSUCHORDER").await,
        Err(PayError::OrderNotExist)
    ));
    assert!(
        sim.pay("EXAM0006").is_err(),
        "a closed order cannot be paid"
    );
    assert_eq!(sim.stats().closeorder, 4);
}

#[tokio::test]
async fn refund_and_refund_query() {
    let (sim, config) = start().await;
    let pay = client(&config);
    assert!(
        pay.unified_order(&jsapi("EXAM0007", 5000, NOWHERE))
            .await
            .is_ok()
    );
    let request = |no: &str, fee: i64| RefundRequest {
        out_trade_no: "EXAM0007".into(),
        out_refund_no: no.into(),
        total_fee: 5000,
        refund_fee: fee,
        refund_desc: Some("考试取消".into()),
        notify_url: None,
    };
    let unpaid = pay.refund(&request("R0007A", 3000)).await;
    assert!(
        matches!(&unpaid, Err(PayError::Business { code, .. }) if code == "TRADE_STATE_ERROR"),
        "{unpaid:?}"
    );
    let tx = sim.pay("EXAM0007").unwrap_or_default();

    let accepted = pay
        .refund(&request("R0007A", 3000))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accepted.refund_fee, 3000);
    assert_eq!(accepted.transaction_id.as_deref(), Some(tx.as_str()));
    let repeat = pay
        .refund(&request("R0007A", 3000))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        repeat.refund_id, accepted.refund_id,
        "same out_refund_no, same refund"
    );

    let over = pay.refund(&request("R0007B", 2001)).await;
    assert!(matches!(over, Err(PayError::NotEnough(_))), "{over:?}");
    let mismatch = pay.refund(&request("R0007A", 100)).await;
    assert!(
        matches!(mismatch, Err(PayError::InvalidRequest(_))),
        "{mismatch:?}"
    );
    assert!(pay.refund(&request("R0007B", 2000)).await.is_ok());

    let status = pay
        .refund_query("R0007A")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.refund_id, accepted.refund_id);
    assert_eq!(status.refund_fee, 3000);
    assert_eq!(status.out_trade_no, "EXAM0007");
    let trade = pay.order_query("EXAM0007").await.map(|s| s.trade_state);
    assert_eq!(trade.ok(), Some(TradeState::Refund));

    // refund_delay 20 s × 0.001: settled within milliseconds.
    let settled = wait_until("the refund succeeds", async || {
        pay.refund_query("R0007A")
            .await
            .map_err(|e| e.to_string())
            .and_then(|s| match s.refund_status {
                RefundState::Success => Ok(s),
                other => Err(format!("{other:?}")),
            })
    })
    .await;
    assert_eq!(settled.success_time.as_ref().map(String::len), Some(19));

    assert!(matches!(
        pay.refund_query("NOSUCHREFUND").await,
        Err(PayError::RefundNotExist)
    ));
    let unknown_order = RefundRequest {
        out_trade_no: "NOSUCHORDER".into(),
        ..request("R0007C", 1)
    };
    assert!(matches!(
        pay.refund(&unknown_order).await,
        Err(PayError::OrderNotExist)
    ));
}

#[tokio::test]
async fn refund_over_mutual_tls_identity_loads_pem_files() {
    let (sim, mut config) = start().await;
    let dir = std::env::temp_dir().join(format!("examdesk-wechat-cert-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let cert = dir.join("apiclient_cert.pem");
    let key = dir.join("apiclient_key.pem");
    assert!(std::fs::write(&cert, TEST_CERT).is_ok() && std::fs::write(&key, TEST_KEY).is_ok());
    config.client_cert = Some(cert);
    config.client_key = Some(key.clone());
    let pay = client(&config);
    assert!(
        pay.unified_order(&jsapi("EXAM0008", 100, NOWHERE))
            .await
            .is_ok()
    );
    assert!(sim.pay("EXAM0008").is_ok());
    let refund = RefundRequest {
        out_trade_no: "EXAM0008".into(),
        out_refund_no: "R0008".into(),
        total_fee: 100,
        refund_fee: 100,
        refund_desc: None,
        notify_url: None,
    };
    assert!(pay.refund(&refund).await.is_ok());

    assert!(std::fs::write(&key, "not a key").is_ok());
    assert!(matches!(
        PayClient::new(config),
        Err(PayError::Certificate(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn wrong_key_or_merchant_is_refused_by_the_simulator() {
    let (_sim, config) = start().await;
    let mut wrong_key = config.clone();
    wrong_key.api_key = "00000000000000000000000000000000".into();
    let r = client(&wrong_key).order_query("X").await;
    assert!(
        matches!(&r, Err(PayError::Communication(m)) if m == "签名错误"),
        "{r:?}"
    );

    let mut app_secret_as_key = config.clone();
    app_secret_as_key.api_key = APP_SECRET.into();
    let r = client(&app_secret_as_key).order_query("X").await;
    assert!(
        matches!(&r, Err(PayError::Communication(m)) if m == "签名错误"),
        "{r:?}"
    );

    let mut wrong_mch = config.clone();
    wrong_mch.mch_id = "19999999".into();
    let r = client(&wrong_mch).order_query("X").await;
    assert!(matches!(r, Err(PayError::Communication(_))), "{r:?}");
}

#[tokio::test]
async fn hmac_sha256_orders_end_to_end() {
    let (sim, config) = start_with(SignType::HmacSha256).await;
    let receiver = receiver(vec![]).await;
    let pay = client(&config);
    let prepay = pay
        .unified_order(&jsapi("EXAMH001", 5000, &receiver.url))
        .await;
    let prepay = prepay.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sim.order("EXAMH001").map(|o| o.sign_type),
        Some(SignType::HmacSha256)
    );
    assert!(sim.pay(&prepay.prepay_id).is_ok());
    wait_until("the notify reaches the receiver", async || {
        receiver.count() >= 1
    })
    .await;
    let body = receiver.body(0);
    let parsed = notify::parse_pay_notify(&config, &body, Some(SignType::HmacSha256));
    assert_eq!(
        parsed.as_ref().map(|n| n.sign_type),
        Ok(SignType::HmacSha256)
    );
    assert_eq!(parsed.map(|n| n.total_fee), Ok(5000));
    assert!(notify::parse_pay_notify(&config, &body, Some(SignType::Md5)).is_err());
}

#[tokio::test]
async fn safe_calls_are_retried_through_transient_failures() {
    let (sim, config) = start().await;
    let pay = client(&config);
    assert!(
        pay.unified_order(&jsapi("EXAM0009", 5000, NOWHERE))
            .await
            .is_ok()
    );

    sim.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    });
    assert!(pay.order_query("EXAM0009").await.is_ok());
    assert_eq!(sim.stats().orderquery, 3);

    sim.set_faults(Faults {
        fail_next: 2,
        fail_with: FailWith::SystemError,
        ..Faults::default()
    });
    assert!(
        pay.unified_order(&jsapi("EXAM0009", 5000, NOWHERE))
            .await
            .is_ok()
    );
    assert_eq!(sim.stats().unifiedorder, 4);

    sim.set_faults(Faults {
        fail_next: 5,
        ..Faults::default()
    });
    assert!(matches!(
        pay.order_query("EXAM0009").await,
        Err(PayError::Http(500))
    ));
    assert_eq!(sim.stats().orderquery, 6, "three tries, then the error");

    sim.set_faults(Faults {
        fail_next: 1,
        ..Faults::default()
    });
    assert!(matches!(
        pay.close_order("EXAM0009").await,
        Err(PayError::Http(500))
    ));
    assert_eq!(sim.stats().closeorder, 1, "close is not repeated blindly");

    sim.set_faults(Faults {
        fail_next: 1,
        fail_with: FailWith::SystemError,
        ..Faults::default()
    });
    assert!(matches!(
        pay.close_order("EXAM0009").await,
        Err(PayError::SystemError(_))
    ));
}

#[tokio::test]
async fn slow_answers_time_out() {
    let (sim, config) = start().await;
    let pay = PayClient::with_timeout(config, Duration::from_millis(100)).map(|c| {
        c.with_retry(RetryPolicy {
            attempts: 2,
            backoff: Duration::from_millis(1),
        })
    });
    let pay = pay.unwrap_or_else(|e| panic!("{e}"));
    sim.set_faults(Faults {
        delay_ms: 400,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert!(matches!(
        pay.order_query("X").await,
        Err(PayError::Transport(_))
    ));
    assert!(started.elapsed() < Duration::from_millis(390 * 2));
    assert_eq!(sim.stats().orderquery, 2);
}

#[tokio::test]
async fn answers_with_a_bad_signature_or_other_merchant_are_rejected() {
    use axum::routing::post;
    use std::collections::BTreeMap;
    let answer = |key: &'static str, mch: &'static str| {
        move || async move {
            let mut f: BTreeMap<String, String> = [
                ("return_code", "SUCCESS"),
                ("result_code", "SUCCESS"),
                ("appid", APPID),
                ("mch_id", mch),
                ("nonce_str", "n"),
                ("trade_state", "SUCCESS"),
                ("out_trade_no", "X"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            let s = wechat_pay_v2::sign::sign(&f, key, SignType::Md5);
            f.insert("sign".into(), s);
            wechat_pay_v2::xml::to_xml(&f)
        }
    };
    let app = axum::Router::new()
        .route("/forged/pay/orderquery", post(answer("forged-key", MCH_ID)))
        .route(
            "/othermch/pay/orderquery",
            post(answer(API_KEY, "19999999")),
        )
        .route("/good/pay/orderquery", post(answer(API_KEY, MCH_ID)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await;
    let listener = listener.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = WechatConfig::new(APPID, APP_SECRET, MCH_ID, API_KEY);
    let at = |path: &str| client(&base.clone().with_base_url(&format!("http://{addr}/{path}")));
    assert!(matches!(
        at("forged").order_query("X").await,
        Err(PayError::BadSignature)
    ));
    assert!(matches!(
        at("othermch").order_query("X").await,
        Err(PayError::MchIdMismatch(_))
    ));
    assert_eq!(
        at("good")
            .order_query("X")
            .await
            .map(|s| s.trade_state)
            .ok(),
        Some(TradeState::Success)
    );
}

#[tokio::test]
async fn login_code_to_session() {
    let (sim, config) = start().await;
    let login = LoginClient::new(&config).unwrap_or_else(|e| panic!("{e}"));
    let a = login
        .code_to_session("code-a")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let a2 = login
        .code_to_session("code-a")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let b = login
        .code_to_session("code-b")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.openid, a2.openid, "the same code is the same person");
    assert_ne!(a.openid, b.openid);
    assert_eq!(a.openid, sim.openid_for_code("code-a"));
    assert_eq!(a.openid.len(), 28);
    assert_ne!(
        a.session_key.expose(),
        a2.session_key.expose(),
        "fresh session_key each call"
    );
    assert!(!format!("{a:?}").contains(a.session_key.expose()));

    assert!(matches!(
        login.code_to_session("invalid").await,
        Err(LoginError::InvalidCode(40029))
    ));
    assert!(matches!(
        login.code_to_session("used").await,
        Err(LoginError::InvalidCode(40163))
    ));
    assert!(matches!(
        login.code_to_session("ratelimit").await,
        Err(LoginError::RateLimited)
    ));
    assert!(matches!(
        login.code_to_session("busy").await,
        Err(LoginError::Busy)
    ));

    sim.set_faults(Faults {
        fail_next: 1,
        ..Faults::default()
    });
    assert!(matches!(
        login.code_to_session("code-a").await,
        Err(LoginError::Http(500))
    ));
    sim.set_faults(Faults {
        fail_next: 1,
        fail_with: FailWith::SystemError,
        ..Faults::default()
    });
    assert!(matches!(
        login.code_to_session("code-a").await,
        Err(LoginError::Busy)
    ));

    let mut wrong_secret = config.clone();
    wrong_secret.app_secret = "not-the-secret".into();
    let r = LoginClient::new(&wrong_secret).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        r.code_to_session("code-a").await,
        Err(LoginError::Other { errcode: 40125, .. })
    ));
    assert_eq!(sim.stats().jscode2session, 10);
}

const TEST_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBxDCCAWmgAwIBAgIUa+U+FmqTP6eGYakPttUCyZXwEVUwCgYIKoZIzj0EAwIw
NjETMBEGA1UEAwwKMTkwMDAwMDEwOTEfMB0GA1UECgwWZXhhbWRlc2sgdGVzdCBt
ZXJjaGFudDAgFw0yNjExMjUxNTQxMzVaGA8yMTI2MTEwMTE1NDEzNVowNjETMBEG
A1UEAwwKMTkwMDAwMDEwOTEfMB0GA1UECgwWZXhhbWRlc2sgdGVzdCBtZXJjaGFu
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABMF3+lzDLKyhfgXNYlJn5XqW12fQ
8OSJ3kpOiSJ/wvGhrto450hhAn6O+JGEeX+J4CSdh66Tve4V555DJS8Ej/qjUzBR
MB0GA1UdDgQWBBR1uyq6frkdUc2XCApH2r6KdxrECTAfBgNVHSMEGDAWgBR1uyq6
frkdUc2XCApH2r6KdxrECTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA
MEYCIQDUlu8UDSlGzwiXP48idMYuMOW7vF0CiCqx9Ih16bwyvwIhAOnHFavSkfFe
a1TbsLaZ3IEf0nyQl+At8uFXC4KP1uxC
-----END CERTIFICATE-----
";

/// A throw-away key made for these tests only.
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAzOjBEsGLAHccSbC
nxhzXg3b0z68Zo+UMhdnXn8wQMShRANCAATBd/pcwyysoX4FzWJSZ+V6ltdn0PDk
id5KTokif8Lxoa7aOOdIYQJ+jviRhHl/ieAknYeuk73uFeeeQyUvBI/6
-----END PRIVATE KEY-----
";

/// Today in Beijing time as `yyyyMMdd`, the day the simulator books what happens now.
fn today() -> String {
    wechat_pay_v2::clock::format_compact(wechat_pay_v2::clock::china_now())[..8].to_owned()
}

#[tokio::test]
async fn download_bill_lists_the_days_payments_and_refunds_in_every_type() {
    use wechat_pay_v2::bill::BillType;
    let (sim, config) = start().await;
    let pay = client(&config);
    let day = today();
    assert!(
        pay.download_bill(&day, BillType::All, false)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none(),
        "a day with nothing: No Bill Exist"
    );
    for (no, fee) in [("BILL0001", 5000), ("BILL0002", 8000), ("BILL0003", 1)] {
        pay.unified_order(&jsapi(no, fee, NOWHERE))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let tx1 = sim.pay("BILL0001").unwrap_or_default();
    sim.pay("BILL0002").unwrap_or_default();
    pay.refund(&RefundRequest {
        out_trade_no: "BILL0002".into(),
        out_refund_no: "RBILL0002".into(),
        total_fee: 8000,
        refund_fee: 2050,
        refund_desc: None,
        notify_url: None,
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    wait_until("the refund succeeds", async || {
        pay.refund_query("RBILL0002")
            .await
            .ok()
            .filter(|s| s.refund_status == RefundState::Success)
    })
    .await;

    for gzip in [false, true] {
        let all = pay
            .download_bill(&day, BillType::All, gzip)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("a bill");
        assert_eq!(
            all.records.len(),
            3,
            "two payments and a refund; the unpaid order is not in it"
        );
        let first = all
            .records
            .iter()
            .find(|r| r.out_trade_no == "BILL0001" && r.trade_state == "SUCCESS")
            .expect("payment line");
        assert_eq!(first.transaction_id, tx1);
        assert_eq!(first.total_fen, 5000);
        assert_eq!(
            first.charge_milli_fen, 30_000,
            "0.6 % of ¥50.00 is ¥0.30000"
        );
        let refund = all
            .records
            .iter()
            .find(|r| r.trade_state == "REFUND")
            .expect("refund line");
        assert_eq!(
            (refund.out_refund_no.as_str(), refund.refund_fen),
            ("RBILL0002", 2050)
        );
        assert_eq!(all.summary.count, 3);
        assert_eq!(all.summary.settlement_total_fen, 13_000);
        assert_eq!(all.summary.refund_total_fen, 2050);
    }
    let success = pay
        .download_bill(&day, BillType::Success, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("a bill");
    assert_eq!(success.records.len(), 2);
    let refunds = pay
        .download_bill(&day, BillType::Refund, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("a bill");
    assert_eq!(refunds.records.len(), 1);
    assert_eq!(refunds.records[0].refund_success_time.len(), 19);
    assert!(
        pay.download_bill("20000101", BillType::All, false)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    assert!(matches!(
        pay.download_bill("2026-12-01", BillType::All, false).await,
        Err(PayError::InvalidRequest(_))
    ));
    assert_eq!(
        sim.stats().downloadbill,
        6,
        "a malformed date never leaves the client"
    );
}
