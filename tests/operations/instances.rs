//! Several instances against one PostgreSQL database and one WeChat: the work is shared and
//! nothing is done twice. PostgreSQL only (SQLite serves one instance), so ignored by default;
//! `.ci/run` runs them on PostgreSQL with `--ignored`.

use examdesk::demo::{DEMO_API_KEY, DEMO_APP_SECRET, DEMO_APPID, DEMO_MCH_ID};
use serde_json::Value;
use wechat_pay_v2_simulator::{Simulator, SimulatorConfig};

use crate::common::notify::{notify_fields, post_all, signed};
use crate::common::{TestApp, TestDb};

async fn wechat() -> (Simulator, String) {
    let mut config = SimulatorConfig::new(DEMO_APPID, DEMO_APP_SECRET, DEMO_MCH_ID, DEMO_API_KEY);
    config.time_scale = 0.001;
    let sim = Simulator::new(config);
    let url = sim.spawn_on_loopback().await.unwrap();
    (sim, url)
}

async fn two_instances(db: TestDb, sim_url: &str) -> (TestApp, TestApp) {
    let second_db = db.shared();
    let extra = [
        ("WECHAT_APPID", DEMO_APPID),
        ("WECHAT_APP_SECRET", DEMO_APP_SECRET),
        ("WECHAT_MCH_ID", DEMO_MCH_ID),
        ("WECHAT_API_KEY", DEMO_API_KEY),
        ("WECHAT_PAY_BASE_URL", sim_url),
        ("WECHAT_API_BASE_URL", sim_url),
        ("EXAMDESK_LOGIN_PER_MINUTE", "0"),
        (
            "EXAMDESK_SECRET",
            "one-secret-shared-by-every-instance-0123456789",
        ),
    ];
    let a = TestApp::spawn_on(db, &extra, examdesk::build_app).await;
    let b = TestApp::spawn_on(second_db, &extra, examdesk::build_app).await;
    (a, b)
}

/// Registers and places an order through instance `via`; returns the out_trade_no.
async fn ordered(via: &TestApp, code: &str, exam_id: i64, seq: u32) -> String {
    let token = via.login(code).await;
    let res = via.register(&token, exam_id, seq).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (status, args) = via
        .post_json(&token, &format!("/api/v1/registrations/{id}/pay"))
        .await;
    assert_eq!(status, 200, "{args}");
    args["out_trade_no"].as_str().unwrap().to_string()
}

#[tokio::test]
#[ignore = "PostgreSQL only: run with EXAMDESK_TEST_DATABASE_URL=postgres://… and --include-ignored"]
async fn a_notify_storm_split_across_two_instances_pays_every_order_once() {
    let db = TestDb::postgres().await;
    let (_sim, sim_url) = wechat().await;
    let (a, b) = two_instances(db, &sim_url).await;
    let exam_id = a.exam("MULTI1").capacity(200).create().await;
    let mut bodies = Vec::new();
    for i in 0..40u32 {
        let via = if i % 2 == 0 { &a } else { &b };
        let no = ordered(via, &format!("storm-{i}"), exam_id, 500 + i).await;
        let body = signed(notify_fields(
            &no,
            5000,
            &format!("42000000012026112510000{i:05}"),
        ));
        // Each notify goes to both instances, twice, all at once, as WeChat's servers might.
        for target in [&a, &b, &a, &b] {
            bodies.push((target.at("/wechat/pay/notify"), body.clone()));
        }
    }
    for answer in post_all(&a.http, bodies).await {
        assert_eq!(answer, wechat_pay_v2::notify::SUCCESS_REPLY);
    }
    assert_eq!(
        a.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        40
    );
    assert_eq!(
        a.count("SELECT COUNT(DISTINCT transaction_id) FROM orders WHERE status = 'paid'")
            .await,
        40
    );
    assert_eq!(
        a.count("SELECT COUNT(*) FROM registrations WHERE status = 'paid'")
            .await,
        40
    );
    assert_eq!(
        a.count("SELECT COUNT(*) FROM wechat_callbacks WHERE outcome = 'paid'")
            .await,
        40,
        "each recorded once"
    );
    assert_eq!(a.count("SELECT seats_taken FROM exams").await, 40);
}

#[tokio::test]
#[ignore = "PostgreSQL only: run with EXAMDESK_TEST_DATABASE_URL=postgres://… and --include-ignored"]
async fn the_expiry_job_on_two_instances_closes_each_order_once() {
    let db = TestDb::postgres().await;
    let (sim, sim_url) = wechat().await;
    let (a, b) = two_instances(db, &sim_url).await;
    let exam_id = a.exam("MULTI2").capacity(200).create().await;
    for i in 0..20u32 {
        let via = if i % 2 == 0 { &a } else { &b };
        ordered(via, &format!("expire-{i}"), exam_id, 600 + i).await;
    }
    // The jobs pass a later time; WeChat's own clock (scaled) must have reached its 5 minutes too.
    tokio::time::sleep(sim.config().scaled(wechat_pay_v2::pay::MIN_CLOSE_AGE)).await;
    let later = examdesk::util::now() + 31 * 60;
    let (ra, rb) = tokio::join!(
        examdesk::jobs::run_once(&a.state.payments, later),
        examdesk::jobs::run_once(&b.state.payments, later)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.closed + rb.closed, 20, "{ra:?} {rb:?}");
    assert_eq!(
        sim.stats().closeorder,
        20,
        "WeChat was asked to close each order once"
    );
    assert_eq!(
        a.count("SELECT COUNT(*) FROM registrations WHERE status = 'expired'")
            .await,
        20
    );
    assert_eq!(a.count("SELECT seats_taken FROM exams").await, 0);
    let (ra, rb) = tokio::join!(
        examdesk::jobs::run_once(&a.state.payments, later + 120),
        examdesk::jobs::run_once(&b.state.payments, later + 120)
    );
    assert_eq!(ra.unwrap().closed + rb.unwrap().closed, 0);
    assert_eq!(sim.stats().closeorder, 20);
}
