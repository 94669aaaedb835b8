//! The load scenarios with small counts against the real app in-process, on SQLite or (with
//! `EXAMDESK_TEST_DATABASE_URL`) PostgreSQL: invariants only, never timing, so CI keeps them
//! working.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{TestApp, TestDb};
use loadgen::{
    NotifyStorm, Opening, RegistrationBurst, Report, Target, TicketDownloads, WechatFaults,
    run_notify_storm, run_opening, run_registration_burst, run_ticket_downloads,
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
    let exam_id = app.exam("LOADN1").capacity(60).create().await;
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

/// A proxy in front of two instances, one of them dead: the notifies that reach the dead one are
/// refused at the connection and sent again to the live one, as WeChat re-sends, so every order is
/// acknowledged and paid once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifies_refused_by_a_dead_instance_are_resent_to_the_other() {
    let app = app().await;
    let exam_id = app.exam("LOADN2").capacity(40).create().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut storm = NotifyStorm::new(target(&app), 30);
    storm.concurrency = 4;
    storm.repeat_share = 0.4;
    storm.exam_id = Some(exam_id);
    storm.also = vec![dead];
    storm.resend = Some(Duration::from_millis(5));
    let report = run_notify_storm(&storm).await.expect("storm runs");
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(
        check(
            &report,
            "every order acknowledged with WeChat's SUCCESS XML in the end"
        ),
        "{report}"
    );
    let refused: u64 = report
        .timed
        .statuses
        .iter()
        .filter(|(label, _)| label.as_str() != "200 SUCCESS")
        .map(|(_, n)| *n)
        .sum();
    assert!(
        refused >= 15,
        "half the jobs met the dead instance: {report}"
    );
    assert_eq!(report.timed.statuses.get("200 SUCCESS"), Some(&42));
    for name in [
        "every acknowledged order paid with its transaction_id",
        "orders paid = distinct notified orders",
        "transaction_id unique",
        "live registrations = seats_taken",
    ] {
        assert!(check(&report, name), "{name}: {report}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        30
    );
}

/// WeChat loses 40 % of the payments' notifies and fails half of the service's calls during
/// the storm: the query job (run here with its clock moved on, as if the orders were minutes
/// old) finds every lost payment, and nothing is paid twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_whose_notify_is_lost_are_found_while_wechat_fails() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let app = app().await;
    let exam_id = app.exam("LOADN3").capacity(40).create().await;
    let mut storm = NotifyStorm::new(target(&app), 30);
    storm.concurrency = 4;
    storm.exam_id = Some(exam_id);
    storm.resend = Some(Duration::from_millis(5));
    storm.wechat = Some(WechatFaults {
        simulator_url: format!("{}/_sim", app.url),
        lost_share: 0.4,
        fail_rate: 0.5,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let jobs = tokio::spawn({
        let (payments, stop) = (app.state.payments.clone(), stop.clone());
        async move {
            let start = examdesk::util::now() + examdesk::jobs::QUERY_AFTER + 1;
            let mut step = 0;
            while !stop.load(Ordering::Relaxed) {
                // A minute later each pass, so a failed query is tried again; never as late as
                // the holds' end, so no order expires.
                let at = start + step.min(20) * (examdesk::jobs::QUERY_EVERY + 1);
                let _ = examdesk::jobs::run_once(&payments, at).await;
                step += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let report = run_notify_storm(&storm).await.expect("storm runs");
    stop.store(true, Ordering::Relaxed);
    jobs.await.unwrap();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(
        check(
            &report,
            "every payment whose notify was lost found by the service"
        ),
        "{report}"
    );
    assert_eq!(report.details["notifies_lost"], 12);
    // At least 12 queries, each failing at even odds: all succeeding is a 1-in-4096 chance.
    assert!(
        app.simulator().stats().injected_failures > 0,
        "WeChat failed some calls"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        30
    );
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT transaction_id) FROM orders")
            .await,
        30
    );
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
    let exam_id = app.exam("LOADT1").capacity(30).create().await;
    let mut downloads = TicketDownloads::new(target(&app), 10);
    downloads.concurrency = 4;
    downloads.exam_id = Some(exam_id);
    let report = run_ticket_downloads(&downloads)
        .await
        .expect("downloads run");
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.timed.requests, 10);
    assert_eq!(
        report.timed.statuses.get("200 pdf"),
        Some(&10),
        "every download a PDF: {report}"
    );
    assert_eq!(report.timed.statuses.len(), 1, "no other answer: {report}");
    for name in [
        "every download a PDF",
        "every acknowledged order paid with its transaction_id",
        "orders paid = distinct notified orders",
        "registrations paid = orders paid",
        "live registrations = seats_taken",
    ] {
        assert!(check(&report, name), "{name}: {report}");
    }
    let smallest = report.details["pdf_bytes"]["min"].as_u64().unwrap_or(0);
    assert!(
        smallest > 10_000,
        "a ticket is a real PDF, not a stub: {report}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM registrations WHERE status = 'paid'")
            .await,
        10
    );
}

/// A whole opening: 30 candidates from sign-in to seeing `paid`, a fifth of them notified twice.
/// On PostgreSQL over two instances of one database (candidates alternate, each notify reaches
/// the other instance); SQLite serves one instance, so there the second URL is the same one and
/// only the round-robin is exercised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_takes_every_candidate_through_once() {
    let db = TestDb::new().await;
    let extra = [
        ("EXAMDESK_LOGIN_PER_MINUTE", "0"),
        (
            "EXAMDESK_SECRET",
            "one-secret-shared-by-every-instance-0123456789",
        ),
    ];
    let second_db = db.is_postgres().then(|| db.shared());
    let app = TestApp::spawn_on(db, &extra, examdesk::build_app).await;
    let second = match second_db {
        Some(db) => Some(TestApp::spawn_on(db, &extra, examdesk::build_app).await),
        None => None,
    };
    let exam_id = app.exam("LOADO1").capacity(40).create().await;
    let mut opening = Opening::new(target(&app), 30);
    opening.concurrency = 8;
    opening.exam_id = Some(exam_id);
    opening.also = vec![second.as_ref().map_or(app.url.clone(), |b| b.url.clone())];
    let report = run_opening(&opening).await.expect("opening runs");
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(report.database_skipped.is_none());
    assert_eq!(report.details["candidates_through"], 30, "{report}");
    assert_eq!(report.details["repeats"]["sent"], 6, "{report}");
    for (step, n) in [
        ("login", 30),
        ("exams", 30),
        ("register", 30),
        ("photo", 30),
        ("pay", 30),
        ("notify", 36),
        ("poll-until-paid", 30),
    ] {
        assert_eq!(report.details["steps"][step]["n"], n, "{step}: {report}");
    }
    assert_eq!(report.timed.statuses.get("notify 200 SUCCESS"), Some(&36));
    for name in [
        "completed within --max-seconds",
        "every candidate through (paid and seen paid)",
        "every answer as expected",
        "every candidate paid exactly once",
        "orders paid = candidates",
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
        app.count(&format!(
            "SELECT COUNT(*) FROM registrations WHERE exam_id = {exam_id} AND status = 'paid'"
        ))
        .await,
        30
    );
    assert_eq!(
        app.count(&format!(
            "SELECT seats_taken FROM exams WHERE id = {exam_id}"
        ))
        .await,
        30
    );
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
