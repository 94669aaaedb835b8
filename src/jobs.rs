//! Background work, safe with several instances: every order is claimed by one conditional UPDATE
//! before a worker touches it, and every state change is conditional too.
//!
//! - holds that ended: query WeChat first (a payment is recorded), otherwise close the order at
//!   WeChat and release the seat;
//! - orders with no notify after a few minutes: query WeChat, so a lost notify still ends paid.

use std::time::Duration;

use crate::app::AppState;
use crate::db::{orders, registrations};
use crate::domain::states::RegistrationStatus;
use crate::payments::reconcile::{self, Expiry};

/// An order is queried when it has waited this long for its notify…
pub const QUERY_AFTER: i64 = 3 * 60;
/// …and again at most this often.
pub const QUERY_EVERY: i64 = 60;
/// How long a claim keeps other workers off an order.
const CLAIM_SECONDS: i64 = 60;
const BATCH: i64 = 200;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub expired: usize,
    pub closed: usize,
    pub recovered: usize,
    pub failed: usize,
}

/// Runs the jobs every `interval` until the process ends.
pub fn spawn(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run_once(&state, crate::util::now()).await {
                Ok(report) if report != Report::default() => tracing::info!(?report, "jobs ran"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "jobs failed; will try again"),
            }
        }
    })
}

/// One pass of every job as if the time were `at` (tests pass a later time instead of waiting).
pub async fn run_once(state: &AppState, at: i64) -> Result<Report, sqlx::Error> {
    let mut report = Report::default();
    expire_holds_without_order(state, at, &mut report).await?;
    for id in orders::hold_ended_ids(&state.db, at, BATCH).await? {
        with_claim(state, id, at, &mut report, |order| async move {
            reconcile::expire(state, &order, at)
                .await
                .map(|done| match done {
                    Expiry::Paid => Done::Recovered,
                    Expiry::Closed => Done::Closed,
                    Expiry::TooYoungToClose => Done::Nothing,
                })
        })
        .await?;
    }
    for id in crate::db::seating::unseated(&state.db, BATCH).await? {
        crate::ticketing::seat_after_payment(state, id).await;
    }
    let stale = orders::unanswered_ids(&state.db, at, QUERY_AFTER, QUERY_EVERY, BATCH).await?;
    for id in stale {
        with_claim(state, id, at, &mut report, |order| async move {
            reconcile::query_and_record(state, &order)
                .await
                .map(|r| match r {
                    reconcile::QueryResult::Paid(_) => Done::Recovered,
                    _ => Done::Nothing,
                })
        })
        .await?;
    }
    crate::payments::refunds::job_pass(state, at).await?;
    Ok(report)
}

enum Done {
    Recovered,
    Closed,
    Nothing,
}

async fn with_claim<F, Fut>(
    state: &AppState,
    order_id: i64,
    at: i64,
    report: &mut Report,
    work: F,
) -> Result<(), sqlx::Error>
where
    F: FnOnce(orders::Order) -> Fut,
    Fut: std::future::Future<Output = Result<Done, crate::error::AppError>>,
{
    if !orders::claim(
        &state.db,
        order_id,
        &state.worker_id,
        at,
        at + CLAIM_SECONDS,
    )
    .await?
    {
        return Ok(());
    }
    let Some(order) = orders::by_id(&state.db, order_id).await? else {
        return Ok(());
    };
    match work(order).await {
        Ok(Done::Recovered) => report.recovered += 1,
        Ok(Done::Closed) => report.closed += 1,
        Ok(Done::Nothing) => {}
        Err(e) => {
            report.failed += 1;
            tracing::warn!(order_id, error = %e.message, "job could not finish an order; will retry");
        }
    }
    orders::mark_queried(&state.db, order_id, at).await
}

async fn expire_holds_without_order(
    state: &AppState,
    at: i64,
    report: &mut Report,
) -> Result<(), sqlx::Error> {
    for id in registrations::holds_ended_without_order(&state.db, at, BATCH).await? {
        let expired = RegistrationStatus::Expired;
        if registrations::release_unpaid(&state.db, id, expired, at).await? {
            report.expired += 1;
        }
    }
    Ok(())
}
