//! Background job passes by job, a pass that could not finish an order as a failure, and the
//! daily bill's differences by kind.

use wechat_pay_v2_simulator::{FailWith, Faults};

use crate::common::fixtures::beijing_today;
use crate::common::notify::{notify_fields, post_all, signed};
use crate::common::staff::{registered, wait_for_status};
use crate::scrape::{Scrape, delta, serial, spawn};

const RUNS: &str = "examdesk_job_runs_total";
const FAILURES: &str = "examdesk_job_failures_total";
const JOBS: [&str; 7] = [
    "expire_holds",
    "expire_orders",
    "close_later",
    "seat_paid",
    "query_unanswered",
    "refunds",
    "purge_refused",
];

#[tokio::test]
async fn each_job_pass_is_counted_and_an_order_left_unfinished_is_a_failure() {
    let _one_at_a_time = serial().await;
    let app = spawn().await;
    let exam = app.exam("JOBS26").create().await;
    let waiting = registered(&app, exam, "钱七", 1).await;
    let payments = &app.state.payments;

    let before = Scrape::of(&app).await;
    examdesk::jobs::run_once(payments, examdesk::util::now())
        .await
        .expect("a quiet pass");
    let quiet = Scrape::of(&app).await;
    for job in JOBS {
        assert_eq!(delta(&before, &quiet, RUNS, &[("job", job)]), 1.0, "{job}");
        assert_eq!(
            delta(&before, &quiet, FAILURES, &[("job", job)]),
            0.0,
            "{job}"
        );
    }
    let seconds = "examdesk_job_duration_seconds_count";
    assert_eq!(delta(&before, &quiet, seconds, &[("job", "refunds")]), 1.0);

    // The order has waited long enough for its notify to be asked about; WeChat answers
    // SYSTEMERROR to every try.
    app.simulator().set_faults(Faults {
        fail_next: 3,
        fail_with: FailWith::SystemError,
        ..Faults::default()
    });
    let later = examdesk::util::now() + examdesk::jobs::QUERY_AFTER + 60;
    let report = examdesk::jobs::run_once(payments, later)
        .await
        .expect("the pass itself ends");
    assert_eq!(report.failed, 1, "{report:?}");
    let failing = Scrape::of(&app).await;
    let query = [("job", "query_unanswered")];
    assert_eq!(delta(&quiet, &failing, RUNS, &query), 1.0);
    assert_eq!(delta(&quiet, &failing, FAILURES, &query), 1.0);
    assert_eq!(
        delta(&quiet, &failing, FAILURES, &[("job", "expire_holds")]),
        0.0
    );
    let calls = "wechat_pay_calls_total";
    let failed_query = [("api", "orderquery"), ("result", "system_error")];
    assert_eq!(delta(&quiet, &failing, calls, &failed_query), 1.0);
    let retries = "wechat_pay_call_retries_total";
    assert_eq!(
        delta(&quiet, &failing, retries, &[("api", "orderquery")]),
        2.0,
        "three tries: the first and two retries"
    );
    assert_eq!(
        examdesk::db::registrations::get(&app.state.db, waiting.id)
            .await
            .unwrap()
            .map(|r| r.status.to_string()),
        Some("pending_payment".to_string())
    );
}

#[tokio::test]
async fn the_daily_bill_counts_its_differences_by_kind() {
    let _one_at_a_time = serial().await;
    let app = spawn().await;
    let sim = app.simulator().clone();
    let exam = app.exam("BILL27").create().await;
    // Paid at WeChat, its notify lost: the bill has it, we do not yet.
    let lost = registered(&app, exam, "孙八", 1).await;
    sim.set_faults(Faults {
        drop_notifies: true,
        ..Faults::default()
    });
    sim.pay(&lost.out_trade_no).expect("paid at WeChat");
    // Recorded here from a notify WeChat never sent: we have it, the bill does not.
    let ours_only = registered(&app, exam, "周九", 2).await;
    let body = signed(notify_fields(&ours_only.out_trade_no, 5000, "4200000777"));
    let answers = post_all(&app.http, vec![(app.at("/wechat/pay/notify"), body)]).await;
    assert!(answers[0].contains("SUCCESS"), "{answers:?}");
    wait_for_status(&app, ours_only.id, "paid").await;

    let before = Scrape::of(&app).await;
    let report =
        examdesk::payments::daily_bill::reconcile_day(&app.state.payments, &beijing_today(), true)
            .await
            .expect("reconciled");
    let after = Scrape::of(&app).await;
    let kinds: Vec<&str> = report.findings.iter().map(|f| f.kind.as_str()).collect();
    assert!(kinds.contains(&"recorded_late"), "{kinds:?}");
    assert!(kinds.contains(&"missing_in_bill"), "{kinds:?}");
    let counted = |kind: &str| {
        delta(
            &before,
            &after,
            "examdesk_reconciliation_differences_total",
            &[("kind", kind)],
        )
    };
    for kind in &kinds {
        let expected = kinds.iter().filter(|k| *k == kind).count();
        assert_eq!(counted(kind), expected as f64, "{kind} in {kinds:?}");
    }
    let bill = [("api", "downloadbill"), ("result", "success")];
    assert_eq!(delta(&before, &after, "wechat_pay_calls_total", &bill), 1.0);
}
