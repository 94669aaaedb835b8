//! `examdesk reconcile`: a day's WeChat bill against what was recorded here. A payment whose
//! notify was lost (and no query job ran) is put right; a differing amount is reported and left
//! alone; a day is claimed by one reconciliation at a time.

use examdesk::db::bill_checks;
use examdesk::payments::daily_bill::day_range;
use wechat_pay_v2_simulator::Faults;

use crate::cli::examdesk;
use crate::common::fixtures::beijing_today;
use crate::common::staff::{registered, spawn, status_of};

// The command runs as a child process and blocks its thread; the server answering it needs another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_records_a_lost_payment_and_reports_a_tampered_amount() {
    let (app, sim) = spawn().await;
    let exam = app.exam("BILL26").capacity(10).create().await;
    let lost = registered(&app, exam, "王五", 1).await;
    sim.set_faults(Faults {
        drop_notifies: true,
        ..Faults::default()
    });
    sim.pay(&lost.out_trade_no).expect("paid at WeChat");
    assert_eq!(
        status_of(&app, lost.id).await,
        "pending_payment",
        "the notify never came"
    );

    let base = format!("{}/_sim", app.url);
    let env = [
        ("WECHAT_APPID", examdesk::demo::DEMO_APPID),
        ("WECHAT_APP_SECRET", examdesk::demo::DEMO_APP_SECRET),
        ("WECHAT_MCH_ID", examdesk::demo::DEMO_MCH_ID),
        ("WECHAT_API_KEY", examdesk::demo::DEMO_API_KEY),
        ("WECHAT_PAY_BASE_URL", base.as_str()),
        ("WECHAT_API_BASE_URL", base.as_str()),
    ];
    let date = beijing_today();
    let out = examdesk(&app.db, &["reconcile", "--date", &date], &env, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("agreed") && stdout.contains("recorded_late"),
        "{stdout}"
    );
    assert!(stdout.contains(&lost.out_trade_no), "{stdout}");
    assert_eq!(
        status_of(&app, lost.id).await,
        "paid",
        "recorded as a late notify would be"
    );
    let day = bill_checks::get(&app.state.db, &date)
        .await
        .unwrap()
        .expect("the day is kept");
    assert_eq!(day.totals.bill_paid_fen, 5000);
    assert_eq!(day.totals.our_paid_fen, 5000);
    assert_eq!(day.recorded_late, 1);

    // Our record says another amount: reported, nothing changed.
    sqlx::query("UPDATE orders SET paid_fee = 4000 WHERE out_trade_no = $1")
        .bind(&lost.out_trade_no)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let out = examdesk(&app.db, &["reconcile", "--date", &date], &env, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("differences") && stdout.contains("amount_differs"),
        "{stdout}"
    );
    let fee: i64 = sqlx::query_scalar("SELECT paid_fee FROM orders WHERE out_trade_no = $1")
        .bind(&lost.out_trade_no)
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert_eq!(
        fee, 4000,
        "a difference is for finance; nothing is changed for it"
    );

    // WeChat unreachable: exit 2.
    let nowhere = [
        ("WECHAT_PAY_BASE_URL", "http://127.0.0.1:9"),
        ("WECHAT_API_BASE_URL", "http://127.0.0.1:9"),
    ];
    let mut broken = env.to_vec();
    broken.retain(|(k, _)| !k.ends_with("_BASE_URL"));
    broken.extend(nowhere);
    let out = examdesk(&app.db, &["reconcile", "--date", &date], &broken, None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = examdesk(&app.db, &["reconcile", "--date", "2026/12/01"], &env, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
}

#[tokio::test]
async fn a_day_is_claimed_by_one_reconciliation_at_a_time() {
    let (app, _sim) = spawn().await;
    let db = &app.state.db;
    let now = examdesk::util::now();
    assert!(day_range("2026-12-01").is_ok());
    assert!(
        bill_checks::claim(db, "2026-12-01", "a", now, now + 600, false)
            .await
            .unwrap()
    );
    assert!(
        !bill_checks::claim(db, "2026-12-01", "b", now, now + 600, false)
            .await
            .unwrap()
    );
    assert!(
        !bill_checks::claim(db, "2026-12-01", "b", now, now + 600, true)
            .await
            .unwrap(),
        "not even a forced re-run while the claim lasts"
    );
    assert!(
        bill_checks::claim(db, "2026-12-01", "b", now + 601, now + 1200, false)
            .await
            .unwrap(),
        "a claim that ran out is taken over"
    );
}

#[tokio::test]
async fn the_job_reconciles_yesterday_once_after_ten() {
    let (app, sim) = spawn().await;
    let exam = app.exam("BILL27").capacity(10).create().await;
    let lost = registered(&app, exam, "赵六", 2).await;
    sim.set_faults(Faults {
        drop_notifies: true,
        ..Faults::default()
    });
    sim.pay(&lost.out_trade_no).expect("paid at WeChat");
    let date = beijing_today();
    let (_, tomorrow, _) = day_range(&date).unwrap();
    let payments = &app.state.payments;
    examdesk::jobs::daily_bill(payments, tomorrow + 9 * 3600).await;
    assert_eq!(sim.stats().downloadbill, 0, "09:00 the next day: too early");
    examdesk::jobs::daily_bill(payments, tomorrow + 10 * 3600).await;
    assert_eq!(sim.stats().downloadbill, 1);
    assert_eq!(status_of(&app, lost.id).await, "paid");
    let day = bill_checks::get(&app.state.db, &date)
        .await
        .unwrap()
        .expect("done");
    assert_eq!(day.state.as_str(), "agreed");
    examdesk::jobs::daily_bill(payments, tomorrow + 11 * 3600).await;
    assert_eq!(sim.stats().downloadbill, 1, "a day is reconciled once");
}

#[tokio::test]
async fn finance_reads_and_reruns_the_reconciliation_page() {
    use crate::common::staff::{field, get_text, staff};
    use examdesk::db::admins::Role;
    let (app, sim) = spawn().await;
    let exam = app.exam("BILL28").capacity(10).create().await;
    let lost = registered(&app, exam, "钱七", 3).await;
    sim.set_faults(Faults {
        drop_notifies: true,
        ..Faults::default()
    });
    sim.pay(&lost.out_trade_no).expect("paid at WeChat");
    let finance = staff(&app, Role::Finance).await;
    let (status, page) = get_text(&finance, app.at("/admin/reconciliation")).await;
    assert_eq!(status, 200);
    assert!(page.contains("还没有对账记录"));
    let date = beijing_today();
    let res = finance
        .post(app.at("/admin/reconciliation/run"))
        .form(&[
            ("csrf", field(&page, "csrf").as_str()),
            ("date", date.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let day = res.text().await.unwrap();
    assert!(
        day.contains("一致") && day.contains("已查询并补记"),
        "{day}"
    );
    assert!(day.contains(&format!("/admin/registrations/{}", lost.id)));
    assert_eq!(status_of(&app, lost.id).await, "paid");
    let csv = finance
        .get(app.at(&format!("/admin/reconciliation.csv?date={date}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&lost.out_trade_no), "{csv}");
    let res = finance
        .post(app.at("/admin/reconciliation/run"))
        .form(&[
            ("csrf", field(&page, "csrf").as_str()),
            ("date", "yesterday"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let viewer = staff(&app, Role::Viewer).await;
    let (status, _) = get_text(&viewer, app.at("/admin/reconciliation")).await;
    assert_eq!(status, 403, "viewers do not see the books");
}
