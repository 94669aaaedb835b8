//! Many seat holds in one transaction, for the group-commit hold writer (the `holds` module). When
//! registration opens, a thousand winners each committing alone queue behind one another: on
//! SQLite behind the single writer's fsyncs, on PostgreSQL behind the exam row's lock, held until
//! each commit. Here a batch takes each exam's row once, decides every request in arrival order
//! with the same rules as [`super::registrations::hold_seat`], and commits once.
//!
//! No statement here fails on a constraint (each guards itself), so one refused request never
//! rolls back the others; a database error fails the batch and the writer retries its requests
//! one by one.

use std::collections::BTreeMap;

use sqlx::{Any, Row, Transaction};

use super::Backend;
use super::id_numbers::{self, HoldLimits};
use super::registrations::HoldError;
use crate::domain::states::{ExamStatus, RegistrationStatus};

/// A registration to create with its seat held, owned so it can wait in a queue.
#[derive(Debug, Clone)]
pub struct Hold {
    pub exam_id: i64,
    pub candidate_id: i64,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub status: RegistrationStatus,
    pub hold_expires_at: Option<i64>,
    pub client_addr: Option<String>,
    pub limits: HoldLimits,
    pub at: i64,
}

impl Hold {
    pub fn as_new(&self) -> super::registrations::NewRegistration<'_> {
        super::registrations::NewRegistration {
            exam_id: self.exam_id,
            candidate_id: self.candidate_id,
            name: &self.name,
            id_number: &self.id_number,
            phone: &self.phone,
            status: self.status,
            hold_expires_at: self.hold_expires_at,
            client_addr: self.client_addr.as_deref(),
            limits: self.limits,
        }
    }
}

/// What became of one request: the registration's id, or why not. A duplicate is told apart
/// (same candidate or same ID number) after the commit, by [`super::registrations`].
#[derive(Debug)]
pub enum Verdict {
    Held(i64),
    Refused(HoldError),
    Duplicate,
}

/// Decides and writes the batch in `tx`; the caller commits. Exams are locked in id order first
/// (PostgreSQL), so that two instances' batches queue instead of deadlocking.
pub async fn hold_many(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    holds: &[Hold],
) -> Result<Vec<Verdict>, sqlx::Error> {
    let at = holds.iter().map(|h| h.at).max().unwrap_or_default();
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let sql = format!(
        "SELECT capacity - seats_taken AS seats_left FROM exams WHERE id = $1 AND status = $2 \
         AND opens_at <= $3 AND closes_at > $3{lock}"
    );
    // Seats left per exam, and how many this batch took.
    let mut exams: BTreeMap<i64, (i64, i64)> = holds.iter().map(|h| (h.exam_id, (0, 0))).collect();
    for (exam_id, (left, _)) in exams.iter_mut() {
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(*exam_id)
            .bind(ExamStatus::Open)
            .bind(at)
            .fetch_optional(&mut **tx)
            .await?;
        *left = match row {
            Some(row) => row.try_get("seats_left")?,
            None => 0,
        };
    }
    let mut verdicts = Vec::with_capacity(holds.len());
    for hold in holds {
        let Some((left, taken)) = exams.get_mut(&hold.exam_id) else {
            verdicts.push(Verdict::Refused(HoldError::NoSeat));
            continue;
        };
        if *left <= 0 {
            verdicts.push(Verdict::Refused(HoldError::NoSeat));
            continue;
        }
        // The limits before the binding: a refused request must not bind an ID number.
        if !id_numbers::within_hold_limits(
            tx,
            hold.candidate_id,
            hold.client_addr.as_deref(),
            hold.limits,
        )
        .await?
        {
            verdicts.push(Verdict::Refused(HoldError::TooManyUnpaid));
            continue;
        }
        let binding =
            id_numbers::bind_reporting(tx, &hold.id_number, hold.candidate_id, hold.at).await?;
        if binding == id_numbers::Binding::OwnedElsewhere {
            verdicts.push(Verdict::Refused(HoldError::IdNumberOwnedElsewhere));
            continue;
        }
        let inserted = insert(tx, hold).await?;
        match inserted {
            Some(id) => {
                *left -= 1;
                *taken += 1;
                verdicts.push(Verdict::Held(id));
            }
            None => {
                // As hold_seat's rollback would: a binding made by this refused request goes.
                if binding == id_numbers::Binding::New {
                    id_numbers::unbind(tx, &hold.id_number, hold.candidate_id).await?;
                }
                verdicts.push(Verdict::Duplicate);
            }
        }
    }
    for (exam_id, (_, taken)) in &exams {
        if *taken == 0 {
            continue;
        }
        sqlx::query(
            "UPDATE exams SET seats_taken = seats_taken + $2, updated_at = $3 \
             WHERE id = $1 AND seats_taken + $2 <= capacity",
        )
        .bind(*exam_id)
        .bind(*taken)
        .bind(at)
        .execute(&mut **tx)
        .await
        .and_then(|done| {
            // The row is ours since the batch read it (locked, or the single SQLite writer):
            // anything else is a bug that must not commit more holds than seats.
            if done.rows_affected() == 1 {
                Ok(())
            } else {
                Err(sqlx::Error::Protocol(format!(
                    "exam {exam_id}: seats changed under the hold batch"
                )))
            }
        })?;
    }
    Ok(verdicts)
}

/// The registration, or `None` when a live one of the same candidate or ID number exists.
async fn insert(
    tx: &mut Transaction<'static, Any>,
    hold: &Hold,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO registrations (exam_id, candidate_id, name, id_number, phone, status, hold_expires_at, \
         created_at, updated_at, client_addr) VALUES ($1, $2, $3, $4, $5, $8, $6, $7, $7, $9) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(hold.exam_id)
    .bind(hold.candidate_id)
    .bind(&hold.name)
    .bind(&hold.id_number)
    .bind(&hold.phone)
    .bind(hold.hold_expires_at)
    .bind(hold.at)
    .bind(hold.status)
    .bind(hold.client_addr.as_deref())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| r.try_get("id")).transpose()
}
