//! Group commit for payment notifies. A payment is answered SUCCESS only once it is durable, and
//! one fsync per notify caps a disk at a few hundred per second; so notifies that arrive together
//! are written together: one task takes whatever is waiting, applies each in one transaction,
//! commits once, and only then answers every waiting handler.

use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::db::orders::{self, Applied, Marked, Order, PaymentOutcome};
use crate::db::seating;

/// Most notifies written by one commit; bounds a transaction's size and its locks.
const MAX_BATCH: usize = 512;
/// Notifies waiting for the writer before handlers wait for room (back-pressure).
const QUEUE: usize = 8192;

enum Job {
    Pay {
        order: Order,
        transaction_id: String,
        fee: i64,
        body: String,
        at: i64,
        reply: oneshot::Sender<Result<Applied, String>>,
    },
    Log {
        out_trade_no: Option<String>,
        body: String,
        outcome: String,
        at: i64,
        reply: oneshot::Sender<Result<Applied, String>>,
    },
}

impl Job {
    fn order_id(&self) -> i64 {
        match self {
            Job::Pay { order, .. } => order.id,
            Job::Log { .. } => i64::MAX,
        }
    }
}

#[derive(Clone)]
pub struct PaymentWriter {
    queue: mpsc::Sender<Job>,
}

impl PaymentWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, jobs));
        Self { queue }
    }

    /// Records a verified payment (with its raw callback); returns once it is committed.
    pub async fn pay(
        &self,
        order: Order,
        transaction_id: String,
        fee: i64,
        body: String,
        at: i64,
    ) -> Result<Applied, String> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Pay {
            order,
            transaction_id,
            fee,
            body,
            at,
            reply,
        };
        self.submit(job, answer).await
    }

    /// Keeps a callback that changed nothing (refused, or a failed payment); returns once committed.
    pub async fn log(
        &self,
        out_trade_no: Option<&str>,
        body: String,
        outcome: &str,
        at: i64,
    ) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Log {
            out_trade_no: out_trade_no.map(str::to_string),
            body,
            outcome: outcome.to_string(),
            at,
            reply,
        };
        self.submit(job, answer).await.map(|_| ())
    }

    async fn submit(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<Applied, String>>,
    ) -> Result<Applied, String> {
        self.queue
            .send(job)
            .await
            .map_err(|_| "payment writer stopped".to_string())?;
        answer
            .await
            .map_err(|_| "payment writer stopped".to_string())?
    }
}

pub fn outcome_label(outcome: &PaymentOutcome) -> &'static str {
    match outcome {
        PaymentOutcome::Recorded => "paid",
        PaymentOutcome::AlreadyRecorded => "repeat: already paid",
        PaymentOutcome::RecordedAfterExpiry => "paid after expiry: seat given back",
        PaymentOutcome::RecordedNeedsRefund => "paid after expiry: no seat, queued for refund",
        PaymentOutcome::ConflictingTransaction => "refused: order paid by another transaction",
    }
}

async fn run(db: Db, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // The same lock order in every instance's batches keeps two instances from deadlocking.
        batch.sort_by_key(Job::order_id);
        match write(&db, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    answer(job, Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "payment batch not committed; WeChat will resend");
                for job in batch.drain(..) {
                    answer(job, Err(e.to_string()));
                }
            }
        }
    }
}

fn answer(job: Job, result: Result<Applied, String>) {
    let reply = match job {
        Job::Pay { reply, .. } | Job::Log { reply, .. } => reply,
    };
    // A handler that gave up (client gone) just doesn't hear the answer; the data is committed.
    let _ = reply.send(result);
}

/// Writes a batch in steps, so that every batch takes its locks in the same order: first the
/// orders and registrations (the batch is sorted by order id), then the exams' seat counts of
/// late payments, then the rooms' seat counters, then the raw callbacks. Two instances' batches
/// therefore never wait on each other in a circle.
async fn write(db: &Db, batch: &[Job]) -> Result<Vec<Applied>, sqlx::Error> {
    let mut conn = db.write.acquire().await?;
    let mut tx = conn.begin().await?;
    let mut marked = Vec::with_capacity(batch.len());
    for job in batch {
        marked.push(match job {
            Job::Pay {
                order,
                transaction_id,
                fee,
                at,
                ..
            } => Some(orders::mark_paid(&mut tx, order, transaction_id, *fee, *at).await?),
            Job::Log { .. } => None,
        });
    }
    let mut steps = Vec::with_capacity(batch.len());
    for (job, mark) in batch.iter().zip(marked) {
        steps.push(match (job, mark) {
            (Job::Pay { order, at, .. }, Some(Marked::Late)) => {
                (orders::finish_late(&mut tx, order, *at).await?, None)
            }
            (_, Some(Marked::Paid { exam_id, code })) => {
                (PaymentOutcome::Recorded, Some((exam_id, code)))
            }
            (_, Some(Marked::Finished(outcome))) => (outcome, None),
            // A log job: nothing was paid.
            _ => (PaymentOutcome::AlreadyRecorded, None),
        });
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for (job, (outcome, exam)) in batch.iter().zip(steps) {
        let seated = match job {
            Job::Pay { order, at, .. } if orders::needs_seat(&outcome) => {
                seating::seat_in_transaction(&mut tx, order.registration_id, exam, *at).await?
            }
            _ => false,
        };
        outcomes.push(Applied { outcome, seated });
    }
    for (job, applied) in batch.iter().zip(&outcomes) {
        match job {
            Job::Pay {
                order, body, at, ..
            } => {
                let label = outcome_label(&applied.outcome);
                orders::log_callback(&mut tx, "pay", Some(&order.out_trade_no), body, label, *at)
                    .await?;
            }
            Job::Log {
                out_trade_no,
                body,
                outcome,
                at,
                ..
            } => {
                orders::log_callback(&mut tx, "pay", out_trade_no.as_deref(), body, outcome, *at)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}
