//! Cancelling before WeChat lets an order be closed (5 minutes after it was placed): the order
//! stays open and watched, a payment that still comes is kept as paid after cancellation and
//! waits for a refund, and WeChat's ORDERPAID for a young order is never taken as a payment.

use examdesk::db::admins::Role;
use wechat_pay_v2::pay::{MIN_CLOSE_AGE, TradeState};

use crate::candidate_path::{order_of, pay_args, prepay_id, registered};
use crate::common::TestApp;
use crate::common::staff::{get_text, staff};
use crate::common::wait_until;

async fn cancel(app: &TestApp, token: &str, id: i64) -> u16 {
    app.http
        .delete(app.at(&format!("/api/v1/registrations/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("DELETE")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_payment_between_cancel_and_close_is_kept_as_paid_after_cancel_for_staff() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("LATE01").capacity(1).create().await;
    let (token, id) = registered(&app, "mia", exam_id, 21).await;
    let args = pay_args(&app, &token, id).await;
    assert_eq!(cancel(&app, &token, id).await, 204);
    let (_, other_id) = registered(&app, "noah", exam_id, 22).await;

    // The candidate's WeChat still had the payment sheet open: WeChat takes the money and notifies.
    app.simulator()
        .pay(&prepay_id(&args))
        .expect("the order was still open at WeChat");
    let body = app
        .wait_for_registration(&token, id, "waits for its refund", |b| {
            b["refund_pending"] == true
        })
        .await;
    assert_eq!(body["status"], "cancelled", "a cancellation is not undone");
    assert_eq!(order_of(&app, id).await.1, "paid", "the money is recorded");
    assert_eq!(
        app.count("SELECT seats_taken FROM exams").await,
        1,
        "the seat went to the next candidate only, never sold twice"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM registrations WHERE id = {other_id} AND status = 'pending_payment'"
        ))
        .await,
        1,
        "the next candidate keeps the seat"
    );

    let admin = staff(&app, Role::Admin).await;
    let (status, html) = get_text(&admin, app.at(&format!("/admin/registrations/{id}"))).await;
    assert_eq!(status, 200);
    assert!(html.contains("考生取消报名后付款：待退款"), "{html}");

    // Nothing is left for the close job: the paid order is not closed at WeChat.
    tokio::time::sleep(app.simulator().config().scaled(MIN_CLOSE_AGE)).await;
    let later = examdesk::util::now() + MIN_CLOSE_AGE.as_secs() as i64 + 1;
    let report = examdesk::jobs::run_once(&app.state.payments, later)
        .await
        .expect("jobs");
    assert_eq!(report.closed, 0, "{report:?}");
    assert_eq!(app.simulator().stats().closeorder, 0);
    let at_wechat = app.simulator().order(&prepay_id(&args)).expect("order");
    assert_eq!(at_wechat.trade_state, TradeState::Success);
}

#[tokio::test]
async fn orderpaid_for_an_unpaid_order_means_close_later_never_already_paid() {
    let app = TestApp::spawn().await;
    let exam_id = app.exam("LATE02").create().await;
    let (token, id) = registered(&app, "olga", exam_id, 23).await;
    let args = pay_args(&app, &token, id).await;
    // Our clock says the order is old enough to close; WeChat's says it is not (clocks differ).
    sqlx::query("UPDATE orders SET created_at = created_at - 600 WHERE registration_id = $1")
        .bind(id)
        .execute(&app.state.db.write)
        .await
        .expect("age the order");

    assert_eq!(cancel(&app, &token, id).await, 204, "not 'already paid'");
    let sim = app.simulator();
    assert_eq!(sim.stats().closeorder, 1, "WeChat was asked, and refused");
    assert!(
        sim.stats().orderquery >= 1,
        "ORDERPAID was checked by a query"
    );
    let (_, body) = app
        .get_json(&token, &format!("/api/v1/registrations/{id}"))
        .await;
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["refund_pending"], false);
    assert_eq!(order_of(&app, id).await.1, "prepaid", "still watched");
    assert_eq!(
        sim.order(&prepay_id(&args)).map(|o| o.trade_state),
        Some(TradeState::NotPay)
    );

    tokio::time::sleep(sim.config().scaled(MIN_CLOSE_AGE)).await;
    wait_until("the close job closes the order", async || {
        let at = examdesk::util::now() + 61;
        let report = examdesk::jobs::run_once(&app.state.payments, at)
            .await
            .expect("jobs");
        if report.closed == 1 {
            Ok(())
        } else {
            Err(format!("{report:?}"))
        }
    })
    .await;
    assert_eq!(
        sim.order(&prepay_id(&args)).map(|o| o.trade_state),
        Some(TradeState::Closed)
    );
    assert_eq!(order_of(&app, id).await.1, "closed");
    assert_eq!(app.count("SELECT seats_taken FROM exams").await, 0);
}
