//! A production-shaped refund: the service configured with WeChat's `apiclient_cert.p12` (no key
//! file, no password setting) refunds through the admin panel against the simulator over mutual
//! TLS, on either database.

use examdesk::db::admins::Role;
use examdesk::demo::{DEMO_API_KEY, DEMO_APP_SECRET, DEMO_APPID, DEMO_MCH_ID};
use wechat_pay_v2_simulator::{Simulator, SimulatorConfig};

use crate::common::mtls;
use crate::common::staff::{
    get_text, refund_form, registered, staff, wait_for_refunds, wait_for_status,
};
use crate::common::{TestApp, TestDb};

#[tokio::test]
async fn an_admin_refund_goes_to_wechat_with_the_p12_over_mutual_tls() {
    examdesk::install_crypto_provider();
    assert_eq!(
        DEMO_MCH_ID,
        mtls::P12_PASSWORD,
        "the test file's password is the merchant id"
    );
    let mut config = SimulatorConfig::new(DEMO_APPID, DEMO_APP_SECRET, DEMO_MCH_ID, DEMO_API_KEY);
    config.time_scale = 0.001;
    let sim = Simulator::new(config);
    let pay_base = sim
        .spawn_tls_on_loopback(mtls::simulator_tls())
        .await
        .expect("simulator over HTTPS");
    let login_base = sim.spawn_on_loopback().await.expect("simulator over HTTP");
    let p12 = mtls::merchant_p12().display().to_string();
    let extra = [
        ("WECHAT_APPID", DEMO_APPID),
        ("WECHAT_APP_SECRET", DEMO_APP_SECRET),
        ("WECHAT_MCH_ID", DEMO_MCH_ID),
        ("WECHAT_API_KEY", DEMO_API_KEY),
        ("WECHAT_PAY_BASE_URL", pay_base.as_str()),
        ("WECHAT_API_BASE_URL", login_base.as_str()),
        ("WECHAT_CLIENT_CERT", p12.as_str()),
        ("EXAMDESK_LOGIN_PER_MINUTE", "0"),
    ];
    // WeChat's server certificate chains to a public root; the simulator's to the test CA.
    let trust_test_ca = |settings: &mut examdesk::config::Settings| {
        if let Some(wechat) = settings.wechat.as_mut() {
            wechat.extra_root_certs.push(mtls::test_ca());
        }
    };
    let app = TestApp::spawn_adjusted(
        TestDb::new().await,
        &extra,
        trust_test_ca,
        examdesk::build_app,
    )
    .await;
    let exam = app.exam("MTLS26").capacity(5).create().await;
    // The order is placed over HTTPS; the payment's notify comes back to the service.
    let r = registered(&app, exam, "孙丽", 1).await;
    sim.pay(&r.out_trade_no).expect("paid at WeChat");
    wait_for_status(&app, r.id, "paid").await;

    let finance = staff(&app, Role::Finance).await;
    let (status, html) =
        get_text(&finance, app.at(&format!("/admin/registrations/{}", r.id))).await;
    assert_eq!(status, 200);
    let form = refund_form(&html).expect("a refund form");
    let response = finance
        .post(app.at(&form.action))
        .form(&[
            ("csrf", form.csrf.as_str()),
            ("amount", "50"),
            ("reason", "考生申请取消报名"),
            ("out_refund_no", form.out_refund_no.as_str()),
        ])
        .send()
        .await
        .expect("refund posted");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(sim.stats().refund, 1, "the refund reached WeChat");
    wait_for_refunds(&app, r.id, &[("success", 5000)]).await;
    wait_for_status(&app, r.id, "refunded").await;
}
