//! The refund over mutual TLS, as WeChat takes it on `/secapi/…`: the simulator serves HTTPS,
//! asks for the merchant certificate and refuses a refund without one. The certificate is the
//! `.p12` made as WeChat makes them (`tools/make-test-certs.sh`).

use std::time::Duration;

use wechat_pay_v2::WechatConfig;
use wechat_pay_v2::pay::{PayClient, PayError, RefundRequest, UnifiedOrder};
use wechat_pay_v2_simulator::Simulator;

use crate::common::mtls;
use crate::support::*;

/// The simulator over HTTPS, and a client config trusting its test CA.
async fn start_tls() -> (Simulator, WechatConfig) {
    examdesk::install_crypto_provider();
    let sim = Simulator::new(sim_config());
    let base = sim
        .spawn_tls_on_loopback(mtls::simulator_tls())
        .await
        .unwrap_or_default();
    assert!(
        base.starts_with("https://127.0.0.1:"),
        "simulator did not start"
    );
    let mut config = sim.client_config(&base);
    config.extra_root_certs = vec![mtls::test_ca()];
    (sim, config)
}

fn client(config: WechatConfig) -> PayClient {
    PayClient::with_timeout(config, Duration::from_secs(3)).unwrap_or_else(|e| panic!("{e}"))
}

/// An order placed over HTTPS (no certificate needed) and paid at the simulator.
async fn paid_order(sim: &Simulator, pay: &PayClient, no: &str) {
    let order = UnifiedOrder::jsapi(
        no,
        "考试报名费",
        5000,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "127.0.0.1",
        "http://127.0.0.1:9/notify",
    );
    pay.unified_order(&order)
        .await
        .unwrap_or_else(|e| panic!("unified order over HTTPS: {e}"));
    assert!(sim.pay(no).is_ok());
}

fn refund(no: &str) -> RefundRequest {
    RefundRequest {
        out_trade_no: no.into(),
        out_refund_no: format!("R{no}"),
        total_fee: 5000,
        refund_fee: 5000,
        refund_desc: Some("考试取消".into()),
        notify_url: None,
    }
}

#[tokio::test]
async fn a_refund_with_wechats_p12_goes_through_over_mutual_tls() {
    let (sim, mut config) = start_tls().await;
    config.client_cert = Some(mtls::merchant_p12());
    // No WECHAT_CLIENT_P12_PASSWORD: the merchant id opens it, as with WeChat's own files.
    config.client_p12_password = None;
    let pay = client(config);
    paid_order(&sim, &pay, "TLS0001").await;
    let accepted = pay
        .refund(&refund("TLS0001"))
        .await
        .unwrap_or_else(|e| panic!("refund over mutual TLS: {e}"));
    assert_eq!(accepted.refund_fee, 5000);
    assert_eq!(accepted.out_trade_no, "TLS0001");
    assert_eq!(sim.stats().refund, 1);
}

#[tokio::test]
async fn a_refund_without_the_merchant_certificate_is_refused() {
    let (sim, config) = start_tls().await;
    let pay = client(config);
    paid_order(&sim, &pay, "TLS0002").await;
    let refused = pay.refund(&refund("TLS0002")).await;
    let message = match &refused {
        Err(e) => e.to_string(),
        Ok(r) => panic!("refunded without a certificate: {r:?}"),
    };
    assert!(message.contains("商户API证书"), "{message}");
    let state = pay.order_query("TLS0002").await.map(|s| s.trade_state);
    assert_eq!(
        state.ok(),
        Some(wechat_pay_v2::pay::TradeState::Success),
        "nothing was refunded"
    );
}

#[tokio::test]
async fn a_certificate_not_issued_to_a_merchant_fails_the_handshake() {
    let (sim, mut config) = start_tls().await;
    // Issued by the same CA, but for a server: not a client certificate.
    config.client_cert = Some(mtls::file("simulator.pem"));
    config.client_key = Some(mtls::file("simulator.key"));
    let pay = client(config);
    paid_order(&sim, &pay, "TLS0003").await;
    let refused = pay.refund(&refund("TLS0003")).await;
    assert!(
        matches!(refused, Err(PayError::Transport(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_wrong_p12_password_is_refused_when_the_client_is_made() {
    let (_sim, mut config) = start_tls().await;
    config.client_cert = Some(mtls::merchant_p12());
    config.client_p12_password = Some("not-the-password".into());
    let made = PayClient::new(config);
    assert!(
        matches!(&made, Err(PayError::CertificatePassword(path)) if path.ends_with("apiclient_cert.p12")),
        "{:?}",
        made.err()
    );
}
