//! Group commit for payment notifies. A payment is answered SUCCESS only once it is durable, and
//! one fsync per notify caps a disk at a few hundred per second; so notifies that arrive together
//! are written together: one task takes whatever is waiting, looks up their orders, checks and
//! applies each in one transaction, commits once, and only then answers every waiting handler.
//! Each step is a few statements for the whole batch: on SQLite every statement is a round trip
//! to sqlx's worker thread, and those round trips, not the work, were what a notify cost.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::db::orders::{self, Applied, Order, PaymentOutcome};
use crate::db::{Backend, Db, payment_batch, seating};
use crate::domain::states::{CallbackOutcome, Refusal};
use crate::telemetry::names;
use wechat_pay_v2::notify::PayNotify;

/// Most notifies written by one commit; bounds a transaction's size and its locks.
const MAX_BATCH: usize = 512;
/// Notifies waiting for the writer before handlers wait for room (back-pressure).
const QUEUE: usize = 8192;

/// What a handler hands the writer.
enum Request {
    /// A payment notify whose signature was verified.
    Notify {
        notify: Box<PayNotify>,
        body: String,
        at: i64,
    },
    /// A callback that changes nothing but is kept (refused before its order was looked up).
    Log {
        out_trade_no: Option<String>,
        body: String,
        outcome: CallbackOutcome,
        at: i64,
    },
}

struct Queued {
    request: Request,
    reply: oneshot::Sender<Result<Done, String>>,
    /// Batches that left this notify for later, its order being another batch's just then.
    deferred: u8,
}

/// Batches that may leave a notify for later before one waits for its order's lock.
const DEFERRALS: u8 = 2;

/// What became of a request, once committed.
#[derive(Debug)]
pub enum Done {
    /// The payment was applied (or found applied, or refused as a second transaction).
    Paid { order: Order, applied: Applied },
    /// Refused and kept; the handler answers FAIL with `reason`.
    Refused {
        refusal: Refusal,
        reason: &'static str,
    },
    /// Kept, nothing to do: a failed payment at WeChat, or a logged callback.
    Logged,
}

#[derive(Clone)]
pub struct PaymentWriter {
    queue: mpsc::Sender<Queued>,
}

impl PaymentWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, jobs));
        Self { queue }
    }

    /// Checks a verified notify against its order and records the payment (with the raw
    /// callback, whatever the verdict); returns once it is committed.
    pub async fn notify(&self, notify: PayNotify, body: String, at: i64) -> Result<Done, String> {
        let request = Request::Notify {
            notify: Box::new(notify),
            body,
            at,
        };
        self.submit(request).await
    }

    /// Keeps a callback that changed nothing (refused before its order was known); returns once
    /// committed.
    pub async fn log(
        &self,
        out_trade_no: Option<&str>,
        body: String,
        outcome: CallbackOutcome,
        at: i64,
    ) -> Result<(), String> {
        let request = Request::Log {
            out_trade_no: out_trade_no.map(str::to_string),
            body,
            outcome,
            at,
        };
        self.submit(request).await.map(|_| ())
    }

    async fn submit(&self, request: Request) -> Result<Done, String> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Queued {
                request,
                reply,
                deferred: 0,
            })
            .await
            .map_err(|_| "payment writer stopped".to_string())?;
        answer
            .await
            .map_err(|_| "payment writer stopped".to_string())?
    }
}

/// What is kept with the notify of a payment recorded (or not) this way.
pub fn callback_outcome(outcome: &PaymentOutcome) -> CallbackOutcome {
    match outcome {
        PaymentOutcome::Recorded => CallbackOutcome::Paid,
        PaymentOutcome::AlreadyRecorded => CallbackOutcome::AlreadyPaid,
        PaymentOutcome::RecordedAfterExpiry => CallbackOutcome::PaidAfterExpiry,
        PaymentOutcome::RecordedNeedsRefund => CallbackOutcome::PaidNoSeat,
        PaymentOutcome::ConflictingTransaction => {
            CallbackOutcome::Refused(Refusal::OtherTransaction)
        }
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<Queued>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    loop {
        // Notifies left for later go first; with none, wait for the next one.
        if batch.is_empty() {
            match queue.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let requests: Vec<&Request> = batch.iter().map(|q| &q.request).collect();
        let wait = batch.iter().any(|q| q.deferred >= DEFERRALS);
        let started = std::time::Instant::now();
        let written = write(&db, &requests, wait).await;
        let took = started.elapsed();
        tracing::debug!(
            notifies = requests.len(),
            micros = took.as_micros() as u64,
            "payment batch"
        );
        metrics::histogram!(names::PAYMENT_BATCH_SIZE).record(requests.len() as f64);
        metrics::histogram!(names::PAYMENT_BATCH_DURATION).record(took.as_secs_f64());
        let jobs = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        match written {
            Ok(done) => {
                for (mut job, done) in jobs.into_iter().zip(done) {
                    match done {
                        // A handler that gave up (client gone) just doesn't hear the answer;
                        // the data is committed.
                        Some(done) => {
                            let _ = job.reply.send(Ok(done));
                        }
                        None => {
                            job.deferred += 1;
                            batch.push(job);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = jobs.len(), "payment batch not committed; WeChat will resend");
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// One step of a batch, once the orders are known.
enum Step<'a> {
    Pay {
        order: &'a Order,
        transaction_id: &'a str,
        fee: i64,
        body: &'a str,
        at: i64,
    },
    Log {
        out_trade_no: Option<&'a str>,
        body: &'a str,
        outcome: CallbackOutcome,
        at: i64,
    },
}

impl Step<'_> {
    fn at(&self) -> i64 {
        match self {
            Step::Pay { at, .. } | Step::Log { at, .. } => *at,
        }
    }
}

/// The checks a notify must pass against its order before it may pay it; `Err` is the refusal
/// kept with the callback and the reason answered.
fn check(notify: &PayNotify, order: &Order) -> Result<(), (Refusal, &'static str)> {
    if notify.sign_type != order.sign_type {
        return Err((Refusal::SignTypeDiffers, "sign type differs from the order"));
    }
    if notify.total_fee != order.total_fee {
        tracing::error!(
            target: "alert",
            out_trade_no = %order.out_trade_no,
            notified = notify.total_fee,
            expected = order.total_fee,
            "ALERT: pay notify amount differs from the order; refused"
        );
        return Err((
            Refusal::AmountMismatch,
            "total_fee does not match the order",
        ));
    }
    Ok(())
}

/// Looks up the batch's orders, checks each notify against its order, applies the payments and
/// keeps every callback, in one transaction. On PostgreSQL, a notify whose order another batch
/// (of this instance or another) holds just then is left for a later batch (`None`) unless `wait`:
/// WeChat's repeats reach several instances at once, and waiting for that batch's commit held up
/// the whole batch behind it.
async fn write(
    db: &Db,
    requests: &[&Request],
    wait: bool,
) -> Result<Vec<Option<Done>>, sqlx::Error> {
    let mut conn = db.write.acquire().await?;
    let mut tx = conn.begin().await?;
    if db.backend == Backend::Postgres {
        payment_batch::plan_by_keys(&mut tx).await?;
    }
    let numbers: Vec<&str> = requests
        .iter()
        .filter_map(|r| match r {
            Request::Notify { notify, .. } => Some(notify.out_trade_no.as_str()),
            Request::Log { .. } => None,
        })
        .collect();
    let found: HashMap<String, Order> = orders::by_out_trade_nos(&mut tx, &numbers).await?;
    // On PostgreSQL the orders are locked in id order before anything else touches them.
    let mut later = HashSet::new();
    if db.backend == Backend::Postgres {
        let ids: Vec<i64> = found.values().map(|o| o.id).collect();
        let locked = payment_batch::lock_orders(&mut tx, &ids, wait).await?;
        later.extend(ids.into_iter().filter(|id| !locked.contains(id)));
    }
    let mut steps = Vec::with_capacity(requests.len());
    // Per request: Some(order) when its step pays, or the verdict given without paying; None
    // when it waits for a later batch (and has no step in this one).
    let mut verdicts: Vec<Option<Result<&Order, Done>>> = Vec::with_capacity(requests.len());
    for request in requests.iter().copied() {
        match request {
            Request::Notify { notify, .. }
                if found
                    .get(notify.out_trade_no.as_str())
                    .is_some_and(|o| later.contains(&o.id)) =>
            {
                verdicts.push(None);
            }
            Request::Notify { notify, body, at } => {
                let no = notify.out_trade_no.as_str();
                let refuse = |refusal, reason| {
                    (
                        Step::Log {
                            out_trade_no: Some(no),
                            body,
                            outcome: CallbackOutcome::Refused(refusal),
                            at: *at,
                        },
                        Err(Done::Refused { refusal, reason }),
                    )
                };
                let (step, verdict) = match found.get(no) {
                    None => {
                        tracing::warn!(out_trade_no = no, "pay notify for an unknown order");
                        refuse(Refusal::UnknownOrder, "unknown out_trade_no")
                    }
                    Some(order) => match check(notify, order) {
                        Err((refusal, reason)) => refuse(refusal, reason),
                        Ok(()) if !notify.is_success() => (
                            Step::Log {
                                out_trade_no: Some(no),
                                body,
                                outcome: CallbackOutcome::PaymentFailed,
                                at: *at,
                            },
                            Err(Done::Logged),
                        ),
                        Ok(()) => (
                            Step::Pay {
                                order,
                                transaction_id: &notify.transaction_id,
                                fee: notify.total_fee,
                                body,
                                at: *at,
                            },
                            Ok(order),
                        ),
                    },
                };
                steps.push(step);
                verdicts.push(Some(verdict));
            }
            Request::Log {
                out_trade_no,
                body,
                outcome,
                at,
            } => {
                steps.push(Step::Log {
                    out_trade_no: out_trade_no.as_deref(),
                    body,
                    outcome: outcome.clone(),
                    at: *at,
                });
                verdicts.push(Some(Err(Done::Logged)));
            }
        }
    }
    let applied = apply(&mut tx, db.backend, &steps).await?;
    let committing = std::time::Instant::now();
    tx.commit().await?;
    metrics::histogram!(names::PAYMENT_BATCH_COMMIT).record(committing.elapsed().as_secs_f64());
    let mut applied = applied.into_iter();
    Ok(verdicts
        .into_iter()
        .map(|verdict| {
            let verdict = verdict?;
            let applied = applied.next()?;
            Some(match verdict {
                Ok(order) => Done::Paid {
                    order: order.clone(),
                    applied,
                },
                Err(done) => done,
            })
        })
        .collect())
}

/// Applies the steps; what happened to each comes back in the steps' order. Each stage runs once
/// for the whole batch: orders, registrations, late payments, raw callbacks, seats. On PostgreSQL
/// the orders are locked already (in id order), and the seat stage locks its exams' rooms in
/// exam and room order, so two instances' batches never wait on each other in a circle.
async fn apply(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    batch: &[Step<'_>],
) -> Result<Vec<Applied>, sqlx::Error> {
    // One payment per order and per transaction id goes to the bulk UPDATE; every other job for
    // the same order (a repeat in the same batch) or transaction id is settled by reading what
    // the order holds afterwards — the same answers the one-row path gives.
    let mut orders_seen = HashSet::new();
    let mut transactions_seen = HashSet::new();
    let mut leaders = Vec::new();
    for (i, job) in batch.iter().enumerate() {
        if let Step::Pay {
            order,
            transaction_id,
            ..
        } = job
        {
            let new_order = orders_seen.insert(order.id);
            let new_transaction = transactions_seen.insert(*transaction_id);
            if new_order && new_transaction {
                leaders.push(i);
            }
        }
    }
    let payments: Vec<payment_batch::Payment> = leaders
        .iter()
        .filter_map(|&i| match &batch[i] {
            Step::Pay {
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
            Step::Log { .. } => None,
        })
        .collect();
    let won = payment_batch::mark_orders_paid(conn, &payments).await?;
    let winners: Vec<usize> = leaders
        .into_iter()
        .filter(|&i| matches!(&batch[i], Step::Pay { order, .. } if won.contains(&order.id)))
        .collect();
    let registrations: Vec<(i64, i64)> = winners
        .iter()
        .filter_map(|&i| match &batch[i] {
            Step::Pay { order, at, .. } => Some((order.registration_id, *at)),
            Step::Log { .. } => None,
        })
        .collect();
    let paid = payment_batch::mark_registrations_paid(conn, &registrations).await?;

    let mut outcomes: Vec<Option<PaymentOutcome>> = vec![None; batch.len()];
    // Exam → the registrations its seats go to, from the payments that came in time.
    let mut to_seat: BTreeMap<i64, (String, Vec<i64>)> = BTreeMap::new();
    let mut late = Vec::new();
    for &i in &winners {
        let Step::Pay { order, .. } = &batch[i] else {
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
        if let Step::Pay { order, at, .. } = &batch[i] {
            outcomes[i] = Some(orders::finish_late(conn, order, *at).await?);
        }
    }
    let unsettled: Vec<i64> = batch
        .iter()
        .zip(&outcomes)
        .filter_map(|(job, outcome)| match (job, outcome) {
            (Step::Pay { order, .. }, None) => Some(order.id),
            _ => None,
        })
        .collect();
    if !unsettled.is_empty() {
        let held = payment_batch::transactions_of(conn, &unsettled).await?;
        for (job, outcome) in batch.iter().zip(outcomes.iter_mut()) {
            if let (
                Step::Pay {
                    order,
                    transaction_id,
                    ..
                },
                None,
            ) = (job, &outcome)
            {
                let same = held.get(&order.id).and_then(Option::as_deref) == Some(*transaction_id);
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

    // A log job: nothing was paid.
    let outcomes: Vec<PaymentOutcome> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(PaymentOutcome::AlreadyRecorded))
        .collect();
    // The callbacks before the seats: on PostgreSQL the seat stage locks the exam's rooms until
    // the commit, and every statement after it would keep the other writers waiting.
    let callbacks: Vec<payment_batch::Callback> = batch
        .iter()
        .zip(&outcomes)
        .map(|(job, outcome)| match job {
            Step::Pay {
                order, body, at, ..
            } => payment_batch::Callback {
                out_trade_no: Some(&order.out_trade_no),
                body,
                outcome: callback_outcome(outcome),
                at: *at,
            },
            Step::Log {
                out_trade_no,
                body,
                outcome,
                at,
                ..
            } => payment_batch::Callback {
                out_trade_no: *out_trade_no,
                body,
                outcome: outcome.clone(),
                at: *at,
            },
        })
        .collect();
    payment_batch::log_pay_callbacks(conn, backend, &callbacks).await?;

    let mut seated = HashSet::new();
    for (exam_id, (code, registration_ids)) in &to_seat {
        let at = batch.first().map(Step::at).unwrap_or_default();
        seated.extend(
            payment_batch::seat_many(conn, backend, *exam_id, code, registration_ids, at).await?,
        );
    }
    let mut applied = Vec::with_capacity(batch.len());
    for (job, outcome) in batch.iter().zip(outcomes) {
        let seated = match job {
            Step::Pay { order, .. } if outcome == PaymentOutcome::Recorded => {
                seated.contains(&order.registration_id)
            }
            // A late payment that got its seat back: the one-row path, as late payments are few.
            Step::Pay { order, at, .. } if orders::needs_seat(&outcome) => {
                seating::seat_in_transaction(conn, order.registration_id, None, *at).await?
            }
            _ => false,
        };
        applied.push(Applied { outcome, seated });
    }
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
            review: crate::domain::states::ExamReview::None,
            late_minutes: crate::domain::exam::DEFAULT_LATE_MINUTES,
            photo_rules: examdesk_tickets::photo::PhotoRules::default(),
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
                status: crate::domain::states::RegistrationStatus::PendingPayment,
                hold_expires_at: Some(t + 900),
                client_addr: None,
                limits: crate::db::id_numbers::HoldLimits {
                    per_account: 0,
                    per_address: 0,
                },
            };
            let registration = hold_seat(&db, &new, t).await.unwrap();
            let number = format!("T{i}");
            let md5 = wechat_pay_v2::SignType::Md5;
            let order = orders::insert(&db, registration, &number, 5000, md5, t)
                .await
                .unwrap()
                .unwrap();
            orders.push(order);
        }
        (dir, db, orders)
    }

    fn pay(order: &Order, transaction_id: &str) -> Request {
        notify(order, transaction_id, 5000, "SUCCESS")
    }

    fn notify(order: &Order, transaction_id: &str, fee: i64, result: &str) -> Request {
        let notify = PayNotify {
            appid: "wx-app".into(),
            mch_id: "10000100".into(),
            out_trade_no: order.out_trade_no.clone(),
            transaction_id: transaction_id.into(),
            total_fee: fee,
            cash_fee: fee,
            openid: "openid".into(),
            time_end: "20261125120000".into(),
            result_code: result.into(),
            trade_type: Some("JSAPI".into()),
            attach: None,
            sign_type: wechat_pay_v2::SignType::Md5,
            raw: Default::default(),
        };
        Request::Notify {
            notify: Box::new(notify),
            body: format!("<xml>{transaction_id}</xml>"),
            at: crate::util::now(),
        }
    }

    fn verdicts(done: Vec<Done>) -> Vec<String> {
        done.into_iter()
            .map(|d| match d {
                Done::Paid { applied, .. } => {
                    format!("{:?} seated={}", applied.outcome, applied.seated)
                }
                Done::Refused { reason, .. } => format!("refused: {reason}"),
                Done::Logged => "logged".into(),
            })
            .collect()
    }

    async fn count(db: &Db, sql: &'static str) -> i64 {
        sqlx::query(sql)
            .fetch_one(&db.read)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    /// Every kind of request one batch can hold, written by the bulk statements, gets the answer
    /// the one-row path gives: first payments, a repeat in the same batch, a second transaction
    /// for one order, one transaction for two orders, a payment recorded before, a late
    /// payment, a callback refused earlier, a wrong amount, a failed payment, an unknown order.
    #[tokio::test]
    async fn a_mixed_batch_answers_each_job_as_one_at_a_time_would() {
        let (_dir, db, o) = orders_ready(8).await;
        let mut unknown = o[0].clone();
        unknown.out_trade_no = "NO-SUCH-ORDER".into();
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
            Request::Log {
                out_trade_no: None,
                body: "<xml>forged</xml>".into(),
                outcome: CallbackOutcome::Refused(Refusal::BadSignature),
                at: crate::util::now(),
            },
            pay(&o[3], "tx3"),
            pay(&o[4], "tx4"),
            pay(&o[5], "tx5"),
            notify(&o[6], "tx6", 1, "SUCCESS"),
            notify(&o[7], "tx7", 5000, "FAIL"),
            pay(&unknown, "tx8"),
        ];
        let jobs: Vec<&Request> = batch.iter().collect();
        let done: Vec<Done> = write(&db, &jobs, false)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.expect("SQLite never leaves a notify for later"))
            .collect();
        assert_eq!(
            verdicts(done),
            [
                "Recorded seated=true",
                "AlreadyRecorded seated=false",
                "ConflictingTransaction seated=false",
                "Recorded seated=true",
                "ConflictingTransaction seated=false",
                "logged",
                "AlreadyRecorded seated=false",
                "RecordedAfterExpiry seated=true",
                "Recorded seated=true",
                "refused: total_fee does not match the order",
                "logged",
                "refused: unknown out_trade_no",
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
            12,
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
        assert_eq!(count(&db, "SELECT seats_taken FROM exams").await, 8);
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM wechat_callbacks WHERE outcome = 'refused: amount mismatch'"
            )
            .await,
            1
        );
    }
}
