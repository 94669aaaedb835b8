//! Registrations: the atomic seat hold, reads scoped to their owner, and cancellation.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, id_numbers, is_unique_violation};
use crate::domain::states::{ExamStatus, Flag, Flags, OrderStatus, RegistrationStatus};

#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub id: i64,
    pub exam_id: i64,
    #[serde(skip)]
    pub candidate_id: i64,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub status: RegistrationStatus,
    pub ticket_no: Option<String>,
    pub room: Option<String>,
    pub seat_no: Option<i64>,
    /// Why staff rejected the qualification, while it is rejected (or was, before resubmission).
    pub review_note: Option<String>,
    /// What staff should know, and whether the payment waits for a refund.
    #[serde(skip)]
    pub flags: Flags,
    #[serde(skip)]
    pub hold_expires_at: Option<i64>,
    #[serde(skip)]
    pub created_at: i64,
    #[serde(skip)]
    pub paid_at: Option<i64>,
    #[serde(skip)]
    pub ticket_version: i64,
}

pub const SELECT: &str = "SELECT r.id, r.exam_id, r.candidate_id, r.name, r.id_number, r.phone, r.status, \
     r.ticket_no, rm.name AS room, r.seat_no, r.needs_refund, r.flags, r.hold_expires_at, r.created_at, \
     r.paid_at, r.ticket_version, r.review_note FROM registrations r LEFT JOIN exam_rooms rm ON rm.id = r.room_id";

pub fn from_row(row: &AnyRow) -> Result<Registration, sqlx::Error> {
    Ok(Registration {
        id: row.try_get("id")?,
        exam_id: row.try_get("exam_id")?,
        candidate_id: row.try_get("candidate_id")?,
        name: row.try_get("name")?,
        id_number: row.try_get("id_number")?,
        phone: row.try_get("phone")?,
        status: row.try_get("status")?,
        ticket_no: row.try_get("ticket_no")?,
        room: row.try_get("room")?,
        seat_no: row.try_get("seat_no")?,
        review_note: row.try_get("review_note")?,
        flags: super::states::flags(row)?,
        hold_expires_at: row.try_get("hold_expires_at")?,
        created_at: row.try_get("created_at")?,
        paid_at: row.try_get("paid_at")?,
        ticket_version: row.try_get("ticket_version")?,
    })
}

pub struct NewRegistration<'a> {
    pub exam_id: i64,
    pub candidate_id: i64,
    pub name: &'a str,
    pub id_number: &'a str,
    pub phone: &'a str,
    /// `UnderReview` when the exam reviews qualifications (no hold ends then), else `PendingPayment`.
    pub status: RegistrationStatus,
    pub hold_expires_at: Option<i64>,
    /// The client's address, for the limit on unpaid holds per address.
    pub client_addr: Option<&'a str>,
    pub limits: crate::db::id_numbers::HoldLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("sold out or registration not open")]
    NoSeat,
    #[error("this candidate already has a live registration for the exam")]
    CandidateTaken,
    #[error("this ID number already has a live registration for the exam")]
    IdNumberTaken,
    #[error("this ID number is bound to another account")]
    IdNumberOwnedElsewhere,
    #[error("too many unpaid holds for this account or address")]
    TooManyUnpaid,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Whether the exam takes registrations now and has a seat left, as the readers see it.
pub async fn seat_left(db: &Db, exam_id: i64, at: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM exams WHERE id = $1 AND status = $3 AND opens_at <= $2 \
         AND closes_at > $2 AND seats_taken < capacity",
    )
    .bind(exam_id)
    .bind(at)
    .bind(ExamStatus::Open)
    .fetch_optional(&db.read)
    .await?;
    Ok(row.is_some())
}

/// Holds a seat and creates the registration in one transaction. The seat counter is taken by one
/// conditional UPDATE, so under any concurrency held and paid seats never exceed capacity; a
/// duplicate registration rolls the hold back.
pub async fn hold_seat(db: &Db, new: &NewRegistration<'_>, at: i64) -> Result<i64, HoldError> {
    // When registration opens, most of the crowd arrives after the last seat is gone. A look
    // through the readers answers them without queueing behind the single writer; the
    // conditional UPDATE below still decides for everyone who may get a seat.
    if !seat_left(db, new.exam_id, at).await? {
        return Err(HoldError::NoSeat);
    }
    let mut tx = db.write.begin().await?;
    // Ownership first, then the exam's row: the same order as a resubmission takes them.
    if !id_numbers::bind(&mut tx, new.id_number, new.candidate_id, at).await? {
        tx.rollback().await?;
        return Err(HoldError::IdNumberOwnedElsewhere);
    }
    if !id_numbers::within_hold_limits(&mut tx, new.candidate_id, new.client_addr, new.limits)
        .await?
    {
        tx.rollback().await?;
        return Err(HoldError::TooManyUnpaid);
    }
    let held = sqlx::query(
        "UPDATE exams SET seats_taken = seats_taken + 1, updated_at = $2 \
         WHERE id = $1 AND status = $3 AND opens_at <= $2 AND closes_at > $2 AND seats_taken < capacity",
    )
    .bind(new.exam_id)
    .bind(at)
    .bind(ExamStatus::Open)
    .execute(&mut *tx)
    .await?;
    if held.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(HoldError::NoSeat);
    }
    let inserted = sqlx::query(
        "INSERT INTO registrations (exam_id, candidate_id, name, id_number, phone, status, hold_expires_at, \
         created_at, updated_at, client_addr) VALUES ($1, $2, $3, $4, $5, $8, $6, $7, $7, $9) RETURNING id",
    )
    .bind(new.exam_id)
    .bind(new.candidate_id)
    .bind(new.name)
    .bind(new.id_number)
    .bind(new.phone)
    .bind(new.hold_expires_at)
    .bind(at)
    .bind(new.status)
    .bind(new.client_addr)
    .fetch_one(&mut *tx)
    .await;
    match inserted {
        Ok(row) => {
            let id = row.try_get("id")?;
            tx.commit().await?;
            Ok(id)
        }
        Err(e) if is_unique_violation(&e) => {
            tx.rollback().await?;
            Err(which_duplicate(db, new).await?)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn which_duplicate(db: &Db, new: &NewRegistration<'_>) -> Result<HoldError, sqlx::Error> {
    // The live statuses as literals: the partial unique index they name is the one to use.
    let same_candidate = sqlx::query(
        "SELECT COUNT(*) AS n FROM registrations WHERE exam_id = $1 AND candidate_id = $2 \
         AND status IN ('under_review', 'pending_payment', 'paid', 'refunding')",
    )
    .bind(new.exam_id)
    .bind(new.candidate_id)
    .fetch_one(&db.read)
    .await?
    .try_get::<i64, _>("n")?;
    Ok(if same_candidate > 0 {
        HoldError::CandidateTaken
    } else {
        HoldError::IdNumberTaken
    })
}

/// One registration, only if it belongs to `candidate_id`: another candidate's id reads as absent.
pub async fn get_owned(
    db: &Db,
    id: i64,
    candidate_id: i64,
) -> Result<Option<Registration>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE r.id = $1 AND r.candidate_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(candidate_id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Registration>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE r.id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn list_owned(db: &Db, candidate_id: i64) -> Result<Vec<Registration>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE r.candidate_id = $1 ORDER BY r.id DESC");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(candidate_id)
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Ends an unpaid registration (`Cancelled` or `Expired`; one under review can be cancelled too),
/// closes its open order and frees its seat, all in one transaction. Returns false when it was no
/// longer unpaid (paid meanwhile, or ended).
pub async fn release_unpaid(
    db: &Db,
    id: i64,
    new_status: RegistrationStatus,
    at: i64,
) -> Result<bool, sqlx::Error> {
    // Only a hold ends by time; one under review has none and waits for staff.
    let also = if new_status == RegistrationStatus::Cancelled {
        RegistrationStatus::UnderReview
    } else {
        RegistrationStatus::PendingPayment
    };
    let mut tx = db.write.begin().await?;
    let ended = sqlx::query(
        "UPDATE registrations SET status = $2, updated_at = $3 WHERE id = $1 AND status IN ($4, $5)",
    )
    .bind(id)
    .bind(new_status)
    .bind(at)
    .bind(RegistrationStatus::PendingPayment)
    .bind(also)
    .execute(&mut *tx)
    .await?;
    if ended.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    give_back_seat(&mut tx, id, at).await?;
    // The open statuses stay literal: the partial index of open orders is how this finds them.
    // An order left to be closed later stays open: WeChat can still take its payment.
    sqlx::query(
        "UPDATE orders SET status = $3, closed_at = $2, updated_at = $2 \
         WHERE registration_id = $1 AND status IN ('created', 'prepaid') AND close_after IS NULL",
    )
    .bind(id)
    .bind(at)
    .bind(OrderStatus::Closed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Unpaid registrations whose hold ended without an open order (none was ever placed), oldest
/// first: the job ends them. Literal states: the open orders are found by their partial index.
pub async fn holds_ended_without_order(
    db: &Db,
    at: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let query = sqlx::query(
        "SELECT r.id FROM registrations r WHERE r.status = 'pending_payment' AND r.hold_expires_at <= $1 \
         AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.registration_id = r.id AND o.status IN ('created', 'prepaid')) \
         ORDER BY r.id LIMIT $2",
    )
    .bind(at)
    .bind(limit);
    super::ids(query, &db.read).await
}

/// Raises a flag on the registration (staff see it on its page).
pub async fn raise_flag(db: &Db, id: i64, flag: &Flag) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE registrations SET flags = flags || $2 WHERE id = $1")
        .bind(id)
        .bind(Flag::appended(std::slice::from_ref(flag)))
        .execute(&db.write)
        .await
        .map(|_| ())
}

/// The room the registration is seated in, if any.
pub async fn room_id(db: &Db, id: i64) -> Result<Option<i64>, sqlx::Error> {
    Ok(
        sqlx::query("SELECT room_id FROM registrations WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.read)
            .await?
            .map(|r| r.try_get::<Option<i64>, _>("room_id"))
            .transpose()?
            .flatten(),
    )
}

/// Returns the registration's seat to its exam's counter, inside the caller's transaction.
pub async fn give_back_seat(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    registration_id: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE exams SET seats_taken = seats_taken - 1, updated_at = $2 \
         WHERE id = (SELECT exam_id FROM registrations WHERE id = $1)",
    )
    .bind(registration_id)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map(drop)
}
