//! Door check-ins and refused attempts, and the attendance counted from them. A registration is
//! checked in once: the primary key of `checkins` decides between two staff scanning at once.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use super::exam_edits::Actor;
use crate::domain::states::{CheckinRefusal, RegistrationStatus};

/// The first (and only) check-in of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub at: i64,
    pub actor: String,
    pub room: Option<String>,
}

/// The registration whose ticket was scanned, where it sits.
pub struct Entrant {
    pub registration_id: i64,
    pub exam_id: i64,
    pub room_id: Option<i64>,
}

/// Records the check-in unless one exists; returns the check-in that stands and whether it is
/// the one just made.
pub async fn record(
    db: &Db,
    who: &Entrant,
    actor: &Actor<'_>,
    at: i64,
) -> Result<(CheckIn, bool), sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO checkins (registration_id, exam_id, room_id, at, admin_id, actor) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (registration_id) DO NOTHING",
    )
    .bind(who.registration_id)
    .bind(who.exam_id)
    .bind(who.room_id)
    .bind(at)
    .bind(actor.admin_id)
    .bind(actor.username)
    .execute(&db.write)
    .await?
    .rows_affected()
        == 1;
    // Read through the writer: a reader may not see the row another scan committed just now.
    let first = find_on(&db.write, who.registration_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((first, inserted))
}

pub async fn find(db: &Db, registration_id: i64) -> Result<Option<CheckIn>, sqlx::Error> {
    find_on(&db.read, registration_id).await
}

async fn find_on(
    pool: &sqlx::AnyPool,
    registration_id: i64,
) -> Result<Option<CheckIn>, sqlx::Error> {
    sqlx::query(
        "SELECT c.at, c.actor, rm.name AS room FROM checkins c \
         LEFT JOIN exam_rooms rm ON rm.id = c.room_id WHERE c.registration_id = $1",
    )
    .bind(registration_id)
    .fetch_optional(pool)
    .await?
    .map(|r| {
        Ok(CheckIn {
            at: r.try_get("at")?,
            actor: r.try_get("actor")?,
            room: r.try_get("room")?,
        })
    })
    .transpose()
}

/// Keeps a refused attempt for the record and the attendance page.
pub async fn refuse(
    db: &Db,
    who: &Entrant,
    reason: CheckinRefusal,
    actor: &Actor<'_>,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO checkin_refusals (registration_id, exam_id, room_id, reason, at, admin_id, actor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(who.registration_id)
    .bind(who.exam_id)
    .bind(who.room_id)
    .bind(reason)
    .bind(at)
    .bind(actor.admin_id)
    .bind(actor.username)
    .execute(&db.write)
    .await
    .map(drop)
}

/// Attendance of one room: candidates expected (holding a valid ticket), checked in, and those
/// refused at the door without having got in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAttendance {
    pub room_no: i64,
    pub room: String,
    pub expected: i64,
    pub checked_in: i64,
    pub refused: i64,
}

impl RoomAttendance {
    pub fn absent(&self) -> i64 {
        (self.expected - self.checked_in).max(0)
    }
}

/// Per room, in room order; a room nobody sits in is listed with zeros.
pub async fn attendance(db: &Db, exam_id: i64) -> Result<Vec<RoomAttendance>, sqlx::Error> {
    sqlx::query(
        "SELECT rm.room_no, rm.name, \
         (SELECT COUNT(*) FROM registrations r WHERE r.room_id = rm.id AND r.status IN ($2, $3)) AS expected, \
         (SELECT COUNT(*) FROM checkins c WHERE c.room_id = rm.id) AS checked_in, \
         (SELECT COUNT(DISTINCT f.registration_id) FROM checkin_refusals f WHERE f.room_id = rm.id \
             AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.registration_id = f.registration_id)) AS refused \
         FROM exam_rooms rm WHERE rm.exam_id = $1 ORDER BY rm.room_no",
    )
    .bind(exam_id)
    .bind(RegistrationStatus::Paid)
    .bind(RegistrationStatus::Refunding)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| {
        Ok(RoomAttendance {
            room_no: r.try_get("room_no")?,
            room: r.try_get("name")?,
            expected: r.try_get("expected")?,
            checked_in: r.try_get("checked_in")?,
            refused: r.try_get("refused")?,
        })
    })
    .collect()
}

/// One expected candidate of the exam and what became of them at the door.
#[derive(Debug, Clone)]
pub struct AttendanceLine {
    pub room_no: i64,
    pub room: String,
    pub seat_no: i64,
    pub ticket_no: String,
    pub name: String,
    pub id_number: String,
    pub checked_in_at: Option<i64>,
    pub checked_in_by: Option<String>,
    /// The last refusal, when never let in.
    pub refused: Option<CheckinRefusal>,
}

/// Every candidate with a valid ticket, by room and seat; `absent_only` leaves out those who
/// came in.
pub async fn lines(
    db: &Db,
    exam_id: i64,
    absent_only: bool,
) -> Result<Vec<AttendanceLine>, sqlx::Error> {
    sqlx::query(
        "SELECT rm.room_no, rm.name AS room, r.seat_no, r.ticket_no, r.name, r.id_number, \
         c.at AS checked_in_at, c.actor AS checked_in_by, \
         (SELECT f.reason FROM checkin_refusals f WHERE f.registration_id = r.id \
             ORDER BY f.at DESC, f.id DESC LIMIT 1) AS refused \
         FROM registrations r JOIN exam_rooms rm ON rm.id = r.room_id \
         LEFT JOIN checkins c ON c.registration_id = r.id \
         WHERE r.exam_id = $1 AND r.status IN ($2, $3) AND ($4 = 0 OR c.at IS NULL) \
         ORDER BY rm.room_no, r.seat_no",
    )
    .bind(exam_id)
    .bind(RegistrationStatus::Paid)
    .bind(RegistrationStatus::Refunding)
    .bind(i64::from(absent_only))
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(line)
    .collect()
}

fn line(r: &AnyRow) -> Result<AttendanceLine, sqlx::Error> {
    let checked_in_at: Option<i64> = r.try_get("checked_in_at")?;
    Ok(AttendanceLine {
        room_no: r.try_get("room_no")?,
        room: r.try_get("room")?,
        seat_no: r.try_get("seat_no")?,
        ticket_no: r
            .try_get::<Option<String>, _>("ticket_no")?
            .unwrap_or_default(),
        name: r.try_get("name")?,
        id_number: r.try_get("id_number")?,
        checked_in_by: r.try_get("checked_in_by")?,
        refused: if checked_in_at.is_some() {
            None
        } else {
            r.try_get("refused")?
        },
        checked_in_at,
    })
}
