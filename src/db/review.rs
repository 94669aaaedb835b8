//! Qualification review: staff approve or reject registrations that wait `under_review`, and a
//! rejected candidate resubmits. A registration under review holds its seat (the exam's counter
//! counts it), so the queue can never hold more candidates than there are seats; a rejection
//! gives the seat back and a resubmission takes one again by the same conditional UPDATE that
//! holds seats at registration.

use sqlx::Row;

use super::audit::{self, Entry};
use super::exam_edits::Actor;
use super::registrations::{self, Registration};
use super::{Db, is_unique_violation};
use crate::domain::states::{ExamStatus, RegistrationStatus};

/// What a review decision found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Done,
    /// The registration was not under review (decided by someone else meanwhile, or cancelled).
    NotUnderReview,
}

/// Approves a registration under review: it may be paid until `hold_expires_at`.
pub async fn approve(
    db: &Db,
    id: i64,
    hold_expires_at: i64,
    actor: &Actor<'_>,
    at: i64,
) -> Result<Decided, sqlx::Error> {
    let mut tx = db.write.begin().await?;
    let done = sqlx::query(
        "UPDATE registrations SET status = $2, hold_expires_at = $3, reviewed_at = $4, updated_at = $4 \
         WHERE id = $1 AND status = $5",
    )
    .bind(id)
    .bind(RegistrationStatus::PendingPayment)
    .bind(hold_expires_at)
    .bind(at)
    .bind(RegistrationStatus::UnderReview)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Decided::NotUnderReview);
    }
    audit::record(
        &mut tx,
        &decision(actor, "registration.approve", id, ""),
        at,
    )
    .await?;
    tx.commit().await?;
    Ok(Decided::Done)
}

/// Rejects a registration under review with the reason the candidate will read; its seat goes
/// back.
pub async fn reject(
    db: &Db,
    id: i64,
    reason: &str,
    actor: &Actor<'_>,
    at: i64,
) -> Result<Decided, sqlx::Error> {
    let mut tx = db.write.begin().await?;
    let done = sqlx::query(
        "UPDATE registrations SET status = $2, review_note = $3, reviewed_at = $4, updated_at = $4, \
         hold_expires_at = NULL WHERE id = $1 AND status = $5",
    )
    .bind(id)
    .bind(RegistrationStatus::Rejected)
    .bind(reason)
    .bind(at)
    .bind(RegistrationStatus::UnderReview)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Decided::NotUnderReview);
    }
    registrations::give_back_seat(&mut tx, id, at).await?;
    audit::record(
        &mut tx,
        &decision(actor, "registration.reject", id, reason),
        at,
    )
    .await?;
    tx.commit().await?;
    Ok(Decided::Done)
}

fn decision<'a>(actor: &Actor<'a>, action: &'a str, id: i64, reason: &'a str) -> Entry<'a> {
    Entry {
        admin_id: Some(actor.admin_id),
        actor: actor.username,
        action,
        target: format!("registration:{id}"),
        amount_fen: None,
        reason,
        detail: String::new(),
    }
}

/// The corrected fields of a resubmission, already validated.
pub struct Correction<'a> {
    pub name: &'a str,
    pub id_number: &'a str,
    pub phone: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum ResubmitError {
    #[error("the registration is not rejected")]
    NotRejected,
    #[error("registration has closed")]
    Closed,
    #[error("no seat left")]
    NoSeat,
    #[error("this candidate has another live registration for the exam")]
    CandidateTaken,
    #[error("this ID number has a live registration for the exam")]
    IdNumberTaken,
    #[error("this ID number is bound to another account")]
    IdNumberOwnedElsewhere,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Puts a rejected registration, with its corrections, back under review, taking a seat again
/// while registration is open and a seat is left. Only the candidate's own registration changes.
pub async fn resubmit(
    db: &Db,
    id: i64,
    candidate_id: i64,
    fix: &Correction<'_>,
    at: i64,
) -> Result<Registration, ResubmitError> {
    let current = registrations::get_owned(db, id, candidate_id)
        .await?
        .ok_or(ResubmitError::NotRejected)?;
    if current.status != RegistrationStatus::Rejected {
        return Err(ResubmitError::NotRejected);
    }
    let mut tx = db.write.begin().await?;
    if !crate::db::id_numbers::bind(&mut tx, fix.id_number, candidate_id, at).await? {
        tx.rollback().await?;
        return Err(ResubmitError::IdNumberOwnedElsewhere);
    }
    let window = sqlx::query(
        "SELECT 1 AS one FROM exams WHERE id = $1 AND status = $3 AND opens_at <= $2 AND closes_at > $2",
    )
    .bind(current.exam_id)
    .bind(at)
    .bind(ExamStatus::Open)
    .fetch_optional(&mut *tx)
    .await?;
    if window.is_none() {
        tx.rollback().await?;
        return Err(ResubmitError::Closed);
    }
    let held = sqlx::query(
        "UPDATE exams SET seats_taken = seats_taken + 1, updated_at = $2 \
         WHERE id = $1 AND seats_taken < capacity",
    )
    .bind(current.exam_id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    if held.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(ResubmitError::NoSeat);
    }
    let back = sqlx::query(
        "UPDATE registrations SET status = $4, name = $5, id_number = $6, phone = $7, updated_at = $3 \
         WHERE id = $1 AND candidate_id = $2 AND status = $8",
    )
    .bind(id)
    .bind(candidate_id)
    .bind(at)
    .bind(RegistrationStatus::UnderReview)
    .bind(fix.name)
    .bind(fix.id_number)
    .bind(fix.phone)
    .bind(RegistrationStatus::Rejected)
    .execute(&mut *tx)
    .await;
    match back {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => {
            tx.rollback().await?;
            return Err(ResubmitError::NotRejected);
        }
        Err(e) if is_unique_violation(&e) => {
            tx.rollback().await?;
            return Err(which_live(db, current.exam_id, candidate_id).await?);
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    registrations::get(db, id)
        .await?
        .ok_or(ResubmitError::NotRejected)
}

async fn which_live(
    db: &Db,
    exam_id: i64,
    candidate_id: i64,
) -> Result<ResubmitError, sqlx::Error> {
    // The live statuses as literals: the partial unique index they name is the one to use.
    let same_candidate = sqlx::query(
        "SELECT COUNT(*) AS n FROM registrations WHERE exam_id = $1 AND candidate_id = $2 \
         AND status IN ('under_review', 'pending_payment', 'paid', 'refunding')",
    )
    .bind(exam_id)
    .bind(candidate_id)
    .fetch_one(&db.read)
    .await?
    .try_get::<i64, _>("n")?;
    Ok(if same_candidate > 0 {
        ResubmitError::CandidateTaken
    } else {
        ResubmitError::IdNumberTaken
    })
}

/// Which registrations the review queue shows.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub exam_id: Option<i64>,
    /// `under_review` by default; `rejected` to look back.
    pub status: Option<RegistrationStatus>,
    /// A name, or the start of a phone or ID number.
    pub query: Option<String>,
}

/// One page of the review queue, oldest submission first (first come, first reviewed), and how
/// many match in all.
pub async fn queue(
    db: &Db,
    filter: &QueueFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Registration>, i64), sqlx::Error> {
    let status = filter.status.unwrap_or(RegistrationStatus::UnderReview);
    let query = filter.query.as_deref().unwrap_or("").trim().to_string();
    let like = format!("{}%", query.replace(['%', '_', '\\'], ""));
    let condition = "r.status = $1 AND ($2 = 0 OR r.exam_id = $3) \
         AND ($4 = '' OR r.name = $4 OR r.phone LIKE $5 OR r.id_number LIKE $5)";
    let sql = format!(
        "{} WHERE {condition} ORDER BY r.updated_at, r.id LIMIT $6 OFFSET $7",
        registrations::SELECT
    );
    let exam = filter.exam_id.unwrap_or(0);
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(i64::from(filter.exam_id.is_some()))
        .bind(exam)
        .bind(&query)
        .bind(&like)
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(registrations::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let count_sql = format!("SELECT COUNT(*) AS n FROM registrations r WHERE {condition}");
    let total = sqlx::query(sqlx::AssertSqlSafe(count_sql))
        .bind(status)
        .bind(i64::from(filter.exam_id.is_some()))
        .bind(exam)
        .bind(&query)
        .bind(&like)
        .fetch_one(&db.read)
        .await?
        .try_get::<i64, _>("n")?;
    Ok((rows, total))
}
