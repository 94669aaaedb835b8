//! The load scenarios with small counts against the real app in-process, on SQLite or (with
//! `EXAMDESK_TEST_DATABASE_URL`) PostgreSQL: invariants only, never timing, so CI keeps them
//! working.

mod common;

use std::time::Duration;

use common::TestApp;
use examdesk::loadgen::{
    NotifyStorm, RegistrationBurst, Report, Target, TicketDownloads, run_notify_storm,
    run_registration_burst, run_ticket_downloads,
};

async fn app() -> TestApp {
    TestApp::spawn_with(&[("EXAMDESK_LOGIN_PER_MINUTE", "0")]).await
}

fn target(app: &TestApp) -> Target {
    let mut t = Target::new(app.url.clone());
    t.database_url = Some(app.db.url.clone());
    t.max_duration = Duration::from_secs(60);
    t.prepare_concurrency = 8;
    t.server_pid = Some(std::process::id());
    t
}

fn check(report: &Report, name: &str) -> bool {
    report.checks.iter().any(|c| c.name == name && c.ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_storm_pays_every_order_once() {
    let app = app().await;
    let exam_id = app.create_exam("LOADN1", 60, 5000).await;
    let mut storm = NotifyStorm::new(target(&app), 50);
    storm.concurrency = 8;
    storm.repeat_share = 0.4;
    storm.exam_id = Some(exam_id);
    let report = run_notify_storm(&storm).await.expect("storm runs");
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(report.database_skipped.is_none());
    assert_eq!(report.timed.requests, 70, "50 notifies and 20 repeats");
    assert_eq!(report.timed.statuses.get("200 SUCCESS"), Some(&70));
    for name in [
        "every acknowledged order paid with its transaction_id",
        "orders paid = distinct notified orders",
        "registrations paid = orders paid",
        "transaction_id unique",
        "held + paid seats <= capacity",
        "live registrations = seats_taken",
    ] {
        assert!(check(&report, name), "{name}: {report}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        50
    );
    assert!(report.server_rss_max_kib.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_burst_fills_exactly_the_seats() {
    let app = app().await;
    let mut burst = RegistrationBurst::new(target(&app), 100);
    // No exam id: the tool creates one with 20 seats through the database.
    burst.capacity = Some(20);
    burst.concurrency = 32;
    let report = run_registration_burst(&burst).await.expect("burst runs");
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.timed.statuses.get("201"), Some(&20));
    assert_eq!(report.timed.statuses.get("409 sold_out"), Some(&80));
    assert!(check(&report, "every refusal a clear 409 sold_out"));
    assert!(check(&report, "no 5xx"));
    assert!(check(&report, "live registrations = seats_taken"));
    let exam_id = report.exam_id;
    assert_eq!(
        app.count(&format!(
            "SELECT seats_taken FROM exams WHERE id = {exam_id}"
        ))
        .await,
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_downloads_pay_first_and_report_every_answer() {
    let app = app().await;
    let exam_id = app.create_exam("LOADT1", 30, 5000).await;
    let mut downloads = TicketDownloads::new(target(&app), 10);
    downloads.concurrency = 4;
    downloads.exam_id = Some(exam_id);
    let report = run_ticket_downloads(&downloads)
        .await
        .expect("downloads run");
    println!("{report}");
    assert_eq!(report.timed.requests, 10);
    // The payments made in preparation hold whether or not this build serves tickets yet.
    for name in [
        "every acknowledged order paid with its transaction_id",
        "orders paid = distinct notified orders",
        "registrations paid = orders paid",
        "live registrations = seats_taken",
    ] {
        assert!(check(&report, name), "{name}: {report}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'paid'")
            .await,
        10
    );
    let has_route = !report.timed.statuses.contains_key("404 no such route");
    if has_route {
        assert!(report.passed(), "{report}");
    } else {
        eprintln!("ticket route not in this build yet: downloads reported as 404");
        assert!(!report.passed());
    }
}

#[tokio::test]
async fn non_loopback_targets_are_refused() {
    let storm = NotifyStorm::new(Target::new("http://192.0.2.1:8080"), 1);
    let err = run_notify_storm(&storm).await.unwrap_err().to_string();
    assert!(err.contains("not a loopback address"), "{err}");
    let mut t = Target::new("http://127.0.0.1:1");
    t.database_url = Some("postgres://u@192.0.2.1/db".into());
    let err = run_notify_storm(&NotifyStorm::new(t, 1))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a loopback address"), "{err}");
}
