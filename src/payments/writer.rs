//! Group commit for payment notifies. A payment is answered SUCCESS only once it is durable, and
//! one fsync per notify caps a disk at a few hundred per second; so notifies that arrive together
//! are written together: one task takes whatever is waiting, applies each in one transaction,
//! commits once, and only then answers every waiting handler.

use std::collections::{BTreeMap, HashSet};

use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::db::orders::{self, Applied, Order, PaymentOutcome};
use crate::db::{Backend, Db, payment_batch, seating};

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

    fn at(&self) -> i64 {
        match self {
            Job::Pay { at, .. } | Job::Log { at, .. } => *at,
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
/// orders (in id order) and their registrations, then the exams' seat counts of late payments,
/// then the rooms' seat counters, then the raw callbacks. Two instances' batches therefore never
/// wait on each other in a circle. Each step is a few statements for the whole batch.
async fn write(db: &Db, batch: &[Job]) -> Result<Vec<Applied>, sqlx::Error> {
    let mut conn = db.write.acquire().await?;
    let mut tx = conn.begin().await?;
    let outcomes = apply(&mut tx, db.backend, batch).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// What happened to each job of the batch, in the batch's order.
async fn apply(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    batch: &[Job],
) -> Result<Vec<Applied>, sqlx::Error> {
    // One payment per order and per transaction id goes to the bulk UPDATE; every other job for
    // the same order (a repeat in the same batch) or transaction id is settled by reading what
    // the order holds afterwards — the same answers the one-row path gives.
    let mut orders_seen = HashSet::new();
    let mut transactions_seen = HashSet::new();
    let mut leaders = Vec::new();
    for (i, job) in batch.iter().enumerate() {
        if let Job::Pay {
            order,
            transaction_id,
            ..
        } = job
        {
            let new_order = orders_seen.insert(order.id);
            let new_transaction = transactions_seen.insert(transaction_id.as_str());
            if new_order && new_transaction {
                leaders.push(i);
            }
        }
    }
    let order_ids: Vec<i64> = orders_seen.iter().copied().collect();
    payment_batch::lock_orders(conn, backend, &order_ids).await?;
    let payments: Vec<payment_batch::Payment> = leaders
        .iter()
        .filter_map(|&i| match &batch[i] {
            Job::Pay {
                order,
                transaction_id,
                fee,
                at,
                ..
            } => Some(payment_batch::Payment {
                order_id: order.id,
                transaction_id,
                fee: *fee,
                at: *at,
            }),
            Job::Log { .. } => None,
        })
        .collect();
    let won = payment_batch::mark_orders_paid(conn, &payments).await?;
    let winners: Vec<usize> = leaders
        .into_iter()
        .filter(|&i| won.contains(&batch[i].order_id()))
        .collect();
    let registrations: Vec<(i64, i64)> = winners
        .iter()
        .filter_map(|&i| match &batch[i] {
            Job::Pay { order, at, .. } => Some((order.registration_id, *at)),
            Job::Log { .. } => None,
        })
        .collect();
    let paid = payment_batch::mark_registrations_paid(conn, &registrations).await?;

    let mut outcomes: Vec<Option<PaymentOutcome>> = vec![None; batch.len()];
    // Exam → the registrations its seats go to, from the payments that came in time.
    let mut to_seat: BTreeMap<i64, (String, Vec<i64>)> = BTreeMap::new();
    let mut late = Vec::new();
    for &i in &winners {
        let Job::Pay { order, .. } = &batch[i] else {
            continue;
        };
        match paid.get(&order.registration_id) {
            Some((exam_id, code)) => {
                outcomes[i] = Some(PaymentOutcome::Recorded);
                to_seat
                    .entry(*exam_id)
                    .or_insert_with(|| (code.clone(), Vec::new()))
                    .1
                    .push(order.registration_id);
            }
            None => late.push(i),
        }
    }
    for &i in &late {
        if let Job::Pay { order, at, .. } = &batch[i] {
            outcomes[i] = Some(orders::finish_late(conn, order, *at).await?);
        }
    }
    let unsettled: Vec<i64> = batch
        .iter()
        .zip(&outcomes)
        .filter_map(|(job, outcome)| match (job, outcome) {
            (Job::Pay { order, .. }, None) => Some(order.id),
            _ => None,
        })
        .collect();
    if !unsettled.is_empty() {
        let held = payment_batch::transactions_of(conn, &unsettled).await?;
        for (job, outcome) in batch.iter().zip(outcomes.iter_mut()) {
            if let (
                Job::Pay {
                    order,
                    transaction_id,
                    ..
                },
                None,
            ) = (job, &outcome)
            {
                let same =
                    held.get(&order.id).and_then(Option::as_deref) == Some(transaction_id.as_str());
                // Either the order was paid by another transaction, or this transaction_id paid
                // another order: WeChat never does either, so nothing is recorded.
                *outcome = Some(if same {
                    PaymentOutcome::AlreadyRecorded
                } else {
                    PaymentOutcome::ConflictingTransaction
                });
            }
        }
    }

    let mut seated = HashSet::new();
    for (exam_id, (code, registration_ids)) in &to_seat {
        let at = batch.first().map(Job::at).unwrap_or_default();
        seated.extend(
            payment_batch::seat_many(conn, backend, *exam_id, code, registration_ids, at).await?,
        );
    }
    let mut applied = Vec::with_capacity(batch.len());
    for (job, outcome) in batch.iter().zip(outcomes) {
        // A log job: nothing was paid.
        let outcome = outcome.unwrap_or(PaymentOutcome::AlreadyRecorded);
        let seated = match job {
            Job::Pay { order, .. } if outcome == PaymentOutcome::Recorded => {
                seated.contains(&order.registration_id)
            }
            // A late payment that got its seat back: the one-row path, as late payments are few.
            Job::Pay { order, at, .. } if orders::needs_seat(&outcome) => {
                seating::seat_in_transaction(conn, order.registration_id, None, *at).await?
            }
            _ => false,
        };
        applied.push(Applied { outcome, seated });
    }

    let callbacks: Vec<payment_batch::Callback> = batch
        .iter()
        .zip(&applied)
        .map(|(job, applied)| match job {
            Job::Pay {
                order, body, at, ..
            } => payment_batch::Callback {
                out_trade_no: Some(&order.out_trade_no),
                body,
                outcome: outcome_label(&applied.outcome),
                at: *at,
            },
            Job::Log {
                out_trade_no,
                body,
                outcome,
                at,
                ..
            } => payment_batch::Callback {
                out_trade_no: out_trade_no.as_deref(),
                body,
                outcome,
                at: *at,
            },
        })
        .collect();
    payment_batch::log_pay_callbacks(conn, &callbacks).await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::registrations::{NewRegistration, hold_seat};
    use crate::db::{candidates, exams};
    use crate::domain::exam::NewExam;
    use sqlx::Row;

    async fn orders_ready(n: usize) -> (tempfile::TempDir, Db, Vec<Order>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/batch.db", dir.path().display()))
            .await
            .unwrap();
        crate::db::migrate(&db).await.unwrap();
        let t = crate::util::now();
        let exam = NewExam {
            code: "BATCH1".into(),
            title: "批量写入".into(),
            fee_fen: 5000,
            capacity: 100,
            opens_at: t - 60,
            closes_at: t + 3600,
            starts_at: t + 7200,
            venue: "第一考点".into(),
        };
        let exam_id = exams::create(&db, &exam).await.unwrap();
        let mut orders = Vec::new();
        for i in 0..n {
            let candidate_id = candidates::upsert(&db, &format!("openid-{i}"), t)
                .await
                .unwrap();
            let new = NewRegistration {
                exam_id,
                candidate_id,
                name: "张三",
                id_number: &format!("ID{i}"),
                phone: "13800000000",
                hold_expires_at: t + 900,
            };
            let registration = hold_seat(&db, &new, t).await.unwrap();
            let order = orders::insert(&db, registration, &format!("T{i}"), 5000, "MD5", t)
                .await
                .unwrap()
                .unwrap();
            orders.push(order);
        }
        (dir, db, orders)
    }

    fn pay(order: &Order, transaction_id: &str) -> Job {
        Job::Pay {
            order: order.clone(),
            transaction_id: transaction_id.into(),
            fee: 5000,
            body: format!("<xml>{transaction_id}</xml>"),
            at: crate::util::now(),
            reply: oneshot::channel().0,
        }
    }

    async fn count(db: &Db, sql: &'static str) -> i64 {
        sqlx::query(sql)
            .fetch_one(&db.read)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    /// Every kind of job one batch can hold, written by the bulk statements, gets the answer
    /// the one-row path gives: first payments, a repeat in the same batch, a second transaction
    /// for one order, one transaction for two orders, a payment recorded before, a late
    /// payment, and a refused callback.
    #[tokio::test]
    async fn a_mixed_batch_answers_each_job_as_one_at_a_time_would() {
        let (_dir, db, o) = orders_ready(6).await;
        let earlier = orders::record_payment(&db, &o[3], "tx3", 5000, crate::util::now())
            .await
            .unwrap();
        assert_eq!(earlier.outcome, PaymentOutcome::Recorded);
        // o[4]'s hold ended: the registration expired and gave its seat back.
        sqlx::query("UPDATE registrations SET status = 'expired' WHERE id = $1")
            .bind(o[4].registration_id)
            .execute(&db.write)
            .await
            .unwrap();
        sqlx::query("UPDATE exams SET seats_taken = seats_taken - 1")
            .execute(&db.write)
            .await
            .unwrap();
        let batch = vec![
            pay(&o[0], "tx0"),
            pay(&o[0], "tx0"),
            pay(&o[0], "txX"),
            pay(&o[1], "tx1"),
            pay(&o[2], "tx1"),
            Job::Log {
                out_trade_no: None,
                body: "<xml>forged</xml>".into(),
                outcome: "refused: bad signature".into(),
                at: crate::util::now(),
                reply: oneshot::channel().0,
            },
            pay(&o[3], "tx3"),
            pay(&o[4], "tx4"),
            pay(&o[5], "tx5"),
        ];
        let applied = write(&db, &batch).await.unwrap();
        let got: Vec<(PaymentOutcome, bool)> =
            applied.into_iter().map(|a| (a.outcome, a.seated)).collect();
        use PaymentOutcome::*;
        assert_eq!(
            got,
            vec![
                (Recorded, true),
                (AlreadyRecorded, false),
                (ConflictingTransaction, false),
                (Recorded, true),
                (ConflictingTransaction, false),
                (AlreadyRecorded, false),
                (AlreadyRecorded, false),
                (RecordedAfterExpiry, true),
                (Recorded, true),
            ]
        );
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM orders WHERE status = 'paid'").await,
            5,
            "o0, o1, o3, o4, o5; o2 stays unpaid"
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM orders WHERE transaction_id = 'tx0'"
            )
            .await,
            1
        );
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM wechat_callbacks").await,
            9,
            "every callback kept, whatever became of it"
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(DISTINCT room_id * 1000 + seat_no) FROM registrations WHERE status = 'paid'"
            )
            .await,
            5,
            "five paid registrations, five different seats"
        );
        assert_eq!(count(&db, "SELECT seats_taken FROM exams").await, 6);
    }
}
