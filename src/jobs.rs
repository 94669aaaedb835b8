//! Background work, safe with several instances: every order is claimed by one conditional UPDATE
//! before a worker touches it, and every state change is conditional too.
//!
//! - holds that ended: query WeChat first (a payment is recorded), otherwise close the order at
//!   WeChat and release the seat;
//! - orders of cancelled registrations that were too young to close then: closed at WeChat once
//!   it lets them be (a payment found on the way is recorded as paid after cancellation);
//! - orders with no notify after a few minutes: query WeChat, so a lost notify still ends paid;
//! - paid registrations still without a seat; refunds to send again or to ask about.

use std::time::Duration;

use crate::db::{orders, registrations, seating};
use crate::domain::states::RegistrationStatus;
use crate::payments::reconcile::{self, Close, Expiry, QueryResult};
use crate::payments::{PaymentError, Payments};

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
pub fn spawn(payments: Payments, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run_once(&payments, crate::util::now()).await {
                Ok(report) if report != Report::default() => tracing::info!(?report, "jobs ran"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "jobs failed; will try again"),
            }
            daily_bill(&payments, crate::util::now()).await;
        }
    })
}

/// After 10:00 Beijing time, yesterday's bill is compared once (a day not yet done, or whose
/// bill was not there yet, is tried again on later ticks; the claim keeps instances apart).
pub async fn daily_bill(payments: &Payments, at: i64) {
    use crate::db::bill_checks;
    use crate::domain::states::BillCheckState;
    if payments.wechat.is_none() {
        return;
    }
    let (day, ready) = crate::payments::daily_bill::yesterday(at);
    if !ready {
        return;
    }
    match bill_checks::get(&payments.db, &day).await {
        Ok(Some(done))
            if !matches!(done.state, BillCheckState::NoBill | BillCheckState::Failed) =>
        {
            return;
        }
        // Ask again at most every half hour when the bill was missing.
        Ok(Some(done)) if done.finished_at.is_some_and(|t| at - t < 30 * 60) => return,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "daily bill state unreadable; will try again");
            return;
        }
    }
    use crate::payments::daily_bill::{BillCheckError, reconcile_day};
    let run = JobRun::start("daily_bill", &Report::default());
    let reconciled = reconcile_day(payments, &day, false).await;
    // Another instance on the day is no failure; a bill that could not be had is one.
    run.record(match &reconciled {
        Ok(report) => report.state == BillCheckState::Failed,
        Err(BillCheckError::Busy(_)) => false,
        Err(_) => true,
    });
    match reconciled {
        Ok(report) => {
            tracing::info!(day, state = %report.state, findings = report.findings.len(), "daily bill job")
        }
        Err(BillCheckError::Busy(_)) => {}
        Err(e) => tracing::warn!(day, error = %e, "daily bill job failed; will try again"),
    }
}

/// One pass of every job as if the time were `at` (tests pass a later time instead of waiting).
pub async fn run_once(payments: &Payments, at: i64) -> Result<Report, sqlx::Error> {
    let db = &payments.db;
    let mut report = Report::default();
    let run = JobRun::start("expire_holds", &report);
    let expired = async {
        for id in registrations::holds_ended_without_order(db, at, BATCH).await? {
            if registrations::release_unpaid(db, id, RegistrationStatus::Expired, at).await? {
                report.expired += 1;
            }
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    run.finish(&report, expired)?;
    let run = JobRun::start("expire_orders", &report);
    let closed = async {
        for id in orders::hold_ended_ids(db, at, BATCH).await? {
            with_claim(payments, id, at, &mut report, |order| async move {
                reconcile::expire(payments, &order, at)
                    .await
                    .map(|done| match done {
                        Expiry::Paid => Done::Recovered,
                        Expiry::Closed => Done::Closed,
                        Expiry::TooYoungToClose => Done::Nothing,
                    })
            })
            .await?;
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    run.finish(&report, closed)?;
    let run = JobRun::start("close_later", &report);
    let closed_later = async {
        for id in orders::close_due_ids(db, at, BATCH).await? {
            with_claim(payments, id, at, &mut report, |order| async move {
                reconcile::close_deferred(payments, &order, at)
                    .await
                    .map(|done| match done {
                        Close::Closed => Done::Closed,
                        Close::Paid(_) => Done::Recovered,
                        Close::TooYoung => Done::Nothing,
                    })
            })
            .await?;
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    run.finish(&report, closed_later)?;
    let run = JobRun::start("seat_paid", &report);
    let seated = async {
        for id in seating::unseated(db, BATCH).await? {
            crate::ticketing::seat_after_payment(&payments.tickets, id).await;
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    run.finish(&report, seated)?;
    let run = JobRun::start("query_unanswered", &report);
    let queried = async {
        for id in orders::unanswered_ids(db, at, QUERY_AFTER, QUERY_EVERY, BATCH).await? {
            with_claim(payments, id, at, &mut report, |order| async move {
                reconcile::query_and_record(payments, &order)
                    .await
                    .map(|r| match r {
                        QueryResult::Paid(_) => Done::Recovered,
                        _ => Done::Nothing,
                    })
            })
            .await?;
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    run.finish(&report, queried)?;
    let run = JobRun::start("refunds", &report);
    let refunded = crate::payments::refunds::job_pass(payments, at).await;
    run.finish(&report, refunded)?;
    let run = JobRun::start("purge_refused", &report);
    let purged = payments.refused.purge(db, at).await;
    run.finish(&report, purged)?;
    Ok(report)
}

/// One pass of one job, counted for operators (`examdesk_job_runs_total{job}`, …). A pass fails
/// when it stops on an error or leaves an order it claimed unfinished.
struct JobRun {
    job: &'static str,
    started: std::time::Instant,
    failed_before: usize,
}

impl JobRun {
    fn start(job: &'static str, report: &Report) -> Self {
        Self {
            job,
            started: std::time::Instant::now(),
            failed_before: report.failed,
        }
    }

    fn finish<T, E>(self, report: &Report, result: Result<T, E>) -> Result<T, E> {
        let failed = result.is_err() || report.failed > self.failed_before;
        self.record(failed);
        result
    }

    fn record(self, failed: bool) {
        use crate::telemetry::names::{JOB_DURATION, JOB_FAILURES, JOB_RUNS};
        let job = self.job;
        metrics::counter!(JOB_RUNS, "job" => job).increment(1);
        metrics::histogram!(JOB_DURATION, "job" => job)
            .record(self.started.elapsed().as_secs_f64());
        if failed {
            metrics::counter!(JOB_FAILURES, "job" => job).increment(1);
        }
    }
}

enum Done {
    Recovered,
    Closed,
    Nothing,
}

async fn with_claim<F, Fut>(
    payments: &Payments,
    order_id: i64,
    at: i64,
    report: &mut Report,
    work: F,
) -> Result<(), sqlx::Error>
where
    F: FnOnce(orders::Order) -> Fut,
    Fut: std::future::Future<Output = Result<Done, PaymentError>>,
{
    let db = &payments.db;
    if !orders::claim(db, order_id, &payments.worker_id, at, at + CLAIM_SECONDS).await? {
        return Ok(());
    }
    let Some(order) = orders::by_id(db, order_id).await? else {
        return Ok(());
    };
    match work(order).await {
        Ok(Done::Recovered) => report.recovered += 1,
        Ok(Done::Closed) => report.closed += 1,
        Ok(Done::Nothing) => {}
        Err(e) => {
            report.failed += 1;
            tracing::warn!(order_id, error = %e, "job could not finish an order; will retry");
        }
    }
    orders::mark_queried(db, order_id, at).await
}
