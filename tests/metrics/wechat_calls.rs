//! Calls to WeChat by API and result, counted inside the `wechat-pay-v2` client: sign-in's
//! `jscode2session` and the Pay API's `unifiedorder`.

use wechat_pay_v2_simulator::{FailWith, Faults};

use crate::common::staff::registered;
use crate::scrape::{Scrape, delta, serial, spawn};

const CALLS: &str = "wechat_pay_calls_total";
const DURATION_COUNT: &str = "wechat_pay_call_duration_seconds_count";

#[tokio::test]
async fn wechat_calls_are_counted_by_api_and_result() {
    let _one_at_a_time = serial().await;
    let app = spawn().await;
    let exam = app.exam("CALLS26").create().await;
    let before = Scrape::of(&app).await;
    // Signs in (jscode2session) and places the order (unifiedorder).
    registered(&app, exam, "吴十", 1).await;
    app.simulator().set_faults(Faults {
        fail_next: 1,
        fail_with: FailWith::Http500,
        ..Faults::default()
    });
    let refused = app
        .http
        .post(app.at("/api/v1/login"))
        .json(&serde_json::json!({ "code": "metrics-wechat-down" }))
        .send()
        .await
        .unwrap();
    assert_ne!(refused.status(), 200, "WeChat answered 500");
    let after = Scrape::of(&app).await;

    let login_ok = [("api", "jscode2session"), ("result", "success")];
    assert_eq!(delta(&before, &after, CALLS, &login_ok), 1.0);
    let login_down = [("api", "jscode2session"), ("result", "http_error")];
    assert_eq!(delta(&before, &after, CALLS, &login_down), 1.0);
    let order_ok = [("api", "unifiedorder"), ("result", "success")];
    assert_eq!(delta(&before, &after, CALLS, &order_ok), 1.0);
    assert_eq!(
        delta(
            &before,
            &after,
            DURATION_COUNT,
            &[("api", "jscode2session")]
        ),
        2.0
    );
    assert_eq!(
        delta(&before, &after, DURATION_COUNT, &[("api", "unifiedorder")]),
        1.0
    );
    assert!(
        after
            .text
            .contains("# TYPE wechat_pay_call_duration_seconds histogram"),
        "{}",
        after.text
    );
}
