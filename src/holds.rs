//! Group commit for seat holds, as `payments::writer` does for payments. When registration opens
//! every winner's hold used to commit alone — one fsync each behind SQLite's single writer, the
//! exam row's lock held through each commit on PostgreSQL — and the last winners waited for all
//! the others. Holds that arrive together are now decided and committed together; each request
//! is answered once its batch is durable.

use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::db::hold_batch::{self, Hold, Verdict};
use crate::db::registrations::{self, HoldError};

/// Most holds decided by one commit; bounds how long a batch keeps the exam's row.
const MAX_BATCH: usize = 128;
/// Requests waiting for the writer before handlers wait for room.
const QUEUE: usize = 4096;

struct Queued {
    hold: Hold,
    reply: oneshot::Sender<Result<Verdict, HoldError>>,
}

#[derive(Clone)]
pub struct HoldWriter {
    db: Db,
    queue: mpsc::Sender<Queued>,
}

impl HoldWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(db.clone(), jobs));
        Self { db, queue }
    }

    /// Holds a seat and creates the registration, with the rules of
    /// [`registrations::hold_seat`]; returns once committed.
    pub async fn hold(&self, hold: Hold) -> Result<i64, HoldError> {
        // Most of the crowd arrives after the last seat is gone: a read answers them without
        // queueing for the writer, which still decides for everyone who may get a seat.
        if !registrations::seat_left(&self.db, hold.exam_id, hold.at).await? {
            return Err(HoldError::NoSeat);
        }
        let (reply, answer) = oneshot::channel();
        let stopped = || HoldError::Sql(sqlx::Error::Protocol("hold writer stopped".into()));
        let request = Queued {
            hold: hold.clone(),
            reply,
        };
        self.queue.send(request).await.map_err(|_| stopped())?;
        match answer.await.map_err(|_| stopped())?? {
            Verdict::Held(id) => Ok(id),
            Verdict::Refused(e) => Err(e),
            Verdict::Duplicate => {
                Err(registrations::which_duplicate(&self.db, &hold.as_new()).await?)
            }
        }
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (holds, replies): (Vec<Hold>, Vec<_>) =
            batch.drain(..).map(|q| (q.hold, q.reply)).unzip();
        let started = std::time::Instant::now();
        let written = write(&db, &holds).await;
        tracing::debug!(
            holds = holds.len(),
            micros = started.elapsed().as_micros() as u64,
            "hold batch"
        );
        match written {
            Ok(verdicts) => {
                for (reply, verdict) in replies.into_iter().zip(verdicts) {
                    let _ = reply.send(Ok(verdict));
                }
            }
            Err(e) => {
                // A deadlock victim or a constraint nobody guarded: each request alone, so one
                // cannot fail the others.
                tracing::warn!(error = %e, holds = holds.len(), "hold batch failed; holding one by one");
                for (hold, reply) in holds.iter().zip(replies) {
                    let alone = match registrations::hold_seat(&db, &hold.as_new(), hold.at).await {
                        Ok(id) => Ok(Verdict::Held(id)),
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(alone);
                }
            }
        }
    }
}

async fn write(db: &Db, holds: &[Hold]) -> Result<Vec<Verdict>, sqlx::Error> {
    let mut tx = db.write.begin().await?;
    let verdicts = hold_batch::hold_many(&mut tx, db.backend, holds).await?;
    tx.commit().await?;
    Ok(verdicts)
}
