//! Seats and ticket numbers of paid registrations. A seat is taken by one conditional UPDATE that
//! the unique index on (room, seat) guards, so two payments can never get the same seat.

use sqlx::Row;

use super::{Db, is_unique_violation};
use crate::domain::states::RegistrationStatus;
use examdesk_tickets::number::ticket_number;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seating {
    pub room_id: i64,
    pub room_no: i64,
    pub seat_no: i64,
    pub ticket_no: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SeatingError {
    #[error("no free seat in the exam's rooms")]
    NoSeat,
    #[error("ticket number: {0}")]
    Number(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// The fast path, inside the payment's own transaction: the next seat of the first room that has
/// one left, taken by one conditional UPDATE of the room's counter. Every statement guards itself,
/// so nothing here can fail on a constraint and spoil the transaction; when the counters are used
/// up (after refunds left gaps, or rooms were edited) it seats nobody and [`assign`] searches.
pub async fn seat_in_transaction(
    conn: &mut sqlx::AnyConnection,
    registration_id: i64,
    exam: Option<(i64, String)>,
    at: i64,
) -> Result<bool, sqlx::Error> {
    // Literal states: this is the payment's own transaction (see `db::states`).
    let (exam_id, code) = match exam {
        Some(known) => known,
        None => {
            let Some(row) = sqlx::query(
                "SELECT r.exam_id, e.code FROM registrations r JOIN exams e ON e.id = r.exam_id \
                 WHERE r.id = $1 AND r.status = 'paid' AND r.room_id IS NULL AND r.needs_refund = 0",
            )
            .bind(registration_id)
            .fetch_optional(&mut *conn)
            .await?
            else {
                return Ok(false);
            };
            (row.try_get("exam_id")?, row.try_get("code")?)
        }
    };
    // On PostgreSQL a payment that waited for the room's lock while another filled the room finds
    // it full when its turn comes: the statement takes nothing, and is asked again (a new
    // statement sees the next room). Without this the payment went to the search in [`assign`],
    // which could take a seat the counter hands out later: a unique violation that failed a whole
    // batch of notifies (seen in benches/faults.sh, two instances on PostgreSQL).
    let mut taken = None;
    for _ in 0..4 {
        taken = sqlx::query(
            "UPDATE exam_rooms SET next_seat = next_seat + 1 \
             WHERE id = (SELECT id FROM exam_rooms WHERE exam_id = $1 AND next_seat < capacity ORDER BY room_no LIMIT 1) \
             AND next_seat < capacity RETURNING id, room_no, next_seat",
        )
        .bind(exam_id)
        .fetch_optional(&mut *conn)
        .await?;
        if taken.is_some() {
            break;
        }
    }
    let Some(room) = taken else {
        return Ok(false);
    };
    let (room_id, room_no, seat_no): (i64, i64, i64) = (
        room.try_get("id")?,
        room.try_get("room_no")?,
        room.try_get("next_seat")?,
    );
    let Ok(number) = ticket_number(&code, room_no as u16, seat_no as u16) else {
        return Ok(false);
    };
    let seated = sqlx::query(
        "UPDATE registrations SET room_id = $2, seat_no = $3, ticket_no = $4, \
         ticket_version = ticket_version + 1, updated_at = $5 \
         WHERE id = $1 AND room_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM registrations other WHERE other.room_id = $2 AND other.seat_no = $3) \
         AND NOT EXISTS (SELECT 1 FROM registrations other WHERE other.exam_id = registrations.exam_id \
             AND other.ticket_no = $4 AND other.status IN ('paid', 'refunding'))",
    )
    .bind(registration_id)
    .bind(room_id)
    .bind(seat_no)
    .bind(&number)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(seated.rows_affected() == 1)
}

/// Gives a paid registration without a seat the next free one; `None` when it needs none (not paid,
/// already seated, or waiting for a refund).
pub async fn assign(
    db: &Db,
    registration_id: i64,
    at: i64,
) -> Result<Option<Seating>, SeatingError> {
    for _ in 0..8 {
        let Some(row) = sqlx::query(
            "SELECT r.exam_id, e.code FROM registrations r JOIN exams e ON e.id = r.exam_id \
             WHERE r.id = $1 AND r.status = $2 AND r.room_id IS NULL AND r.needs_refund = 0",
        )
        .bind(registration_id)
        .bind(RegistrationStatus::Paid)
        .fetch_optional(&db.read)
        .await?
        else {
            return Ok(None);
        };
        let exam_id: i64 = row.try_get("exam_id")?;
        let code: String = row.try_get("code")?;
        let (room_id, room_no, seat_no) = free_seat(db, exam_id).await?;
        let number = ticket_number(&code, room_no as u16, seat_no as u16)
            .map_err(|e| SeatingError::Number(e.to_string()))?;
        let taken = sqlx::query(
            "UPDATE registrations SET room_id = $2, seat_no = $3, ticket_no = $4, \
             ticket_version = ticket_version + 1, updated_at = $5 \
             WHERE id = $1 AND status = $6 AND room_id IS NULL",
        )
        .bind(registration_id)
        .bind(room_id)
        .bind(seat_no)
        .bind(&number)
        .bind(at)
        .bind(RegistrationStatus::Paid)
        .execute(&db.write)
        .await;
        match taken {
            Ok(done) if done.rows_affected() == 1 => {
                return Ok(Some(Seating {
                    room_id,
                    room_no,
                    seat_no,
                    ticket_no: number,
                }));
            }
            Ok(_) => return Ok(None),
            // Another payment took the same seat a moment earlier: look again.
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SeatingError::NoSeat)
}

/// The lowest free seat of the first room with room left.
async fn free_seat(db: &Db, exam_id: i64) -> Result<(i64, i64, i64), SeatingError> {
    let rooms = sqlx::query(
        "SELECT rm.id, rm.room_no, rm.capacity, \
         (SELECT COUNT(*) FROM registrations r WHERE r.room_id = rm.id) AS used, \
         (SELECT COALESCE(MAX(r.seat_no), 0) FROM registrations r WHERE r.room_id = rm.id) AS top \
         FROM exam_rooms rm WHERE rm.exam_id = $1 ORDER BY rm.room_no",
    )
    .bind(exam_id)
    .fetch_all(&db.read)
    .await?;
    for room in rooms {
        let (id, room_no, capacity, used, top): (i64, i64, i64, i64, i64) = (
            room.try_get("id")?,
            room.try_get("room_no")?,
            room.try_get("capacity")?,
            room.try_get("used")?,
            room.try_get("top")?,
        );
        if used >= capacity {
            continue;
        }
        if top < capacity && used == top {
            return Ok((id, room_no, top + 1));
        }
        let taken: Vec<i64> =
            sqlx::query("SELECT seat_no FROM registrations WHERE room_id = $1 ORDER BY seat_no")
                .bind(id)
                .fetch_all(&db.read)
                .await?
                .iter()
                .map(|r| r.try_get("seat_no"))
                .collect::<Result<_, _>>()?;
        let mut expected = 1;
        for seat in taken {
            if seat != expected {
                break;
            }
            expected += 1;
        }
        if expected <= capacity {
            return Ok((id, room_no, expected));
        }
    }
    Err(SeatingError::NoSeat)
}

/// Paid registrations still waiting for a seat (the job retries them).
pub async fn unseated(db: &Db, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let query = sqlx::query(
        "SELECT id FROM registrations WHERE status = $2 AND room_id IS NULL AND needs_refund = 0 \
         ORDER BY paid_at LIMIT $1",
    )
    .bind(limit)
    .bind(RegistrationStatus::Paid);
    super::ids(query, &db.read).await
}

/// Paid, seated registrations of an exam (optionally one room), in seat order: a bulk print.
pub async fn seated(db: &Db, exam_id: i64, room_no: Option<i64>) -> Result<Vec<i64>, sqlx::Error> {
    let query = sqlx::query(
        "SELECT r.id FROM registrations r JOIN exam_rooms rm ON rm.id = r.room_id \
         WHERE r.exam_id = $1 AND r.status = $3 AND ($2 IS NULL OR rm.room_no = $2) \
         ORDER BY rm.room_no, r.seat_no",
    )
    .bind(exam_id)
    .bind(room_no)
    .bind(RegistrationStatus::Paid);
    super::ids(query, &db.read).await
}

/// Seats an exam's paid registrations anew by a shuffle whose seed is recorded on the exam, so the
/// plan can be reproduced; every ticket changes number and version (old prints become void).
/// Returns how many registrations were seated.
pub async fn reshuffle(
    db: &Db,
    exam_id: i64,
    seed: u64,
    audit: &crate::db::audit::Entry<'_>,
    at: i64,
) -> Result<usize, SeatingError> {
    use examdesk_tickets::seats::{Room, shuffle};
    let mut tx = db.write.begin().await?;
    let code: String = sqlx::query("SELECT code FROM exams WHERE id = $1")
        .bind(exam_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("code")?;
    let room_rows = sqlx::query(
        "SELECT id, room_no, name, capacity FROM exam_rooms WHERE exam_id = $1 ORDER BY room_no",
    )
    .bind(exam_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut rooms = Vec::new();
    let mut room_ids = std::collections::HashMap::new();
    for r in &room_rows {
        let room_no: i64 = r.try_get("room_no")?;
        room_ids.insert(room_no as u16, r.try_get::<i64, _>("id")?);
        rooms.push(Room {
            room_no: room_no as u16,
            name: r.try_get("name")?,
            capacity: r.try_get::<i64, _>("capacity")?.clamp(0, 999) as u16,
        });
    }
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM registrations WHERE exam_id = $1 AND status = $2 AND needs_refund = 0 ORDER BY paid_at, id",
    )
    .bind(exam_id)
    .bind(RegistrationStatus::Paid)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<Result<_, _>>()?;
    let plan = shuffle(seed, &rooms, &ids).map_err(|e| SeatingError::Number(e.to_string()))?;
    sqlx::query("UPDATE registrations SET room_id = NULL, seat_no = NULL, ticket_no = NULL WHERE exam_id = $1 AND status = $2")
        .bind(exam_id)
        .bind(RegistrationStatus::Paid)
        .execute(&mut *tx)
        .await?;
    for a in &plan {
        let number = ticket_number(&code, a.seat.room_no, a.seat.seat_no)
            .map_err(|e| SeatingError::Number(e.to_string()))?;
        sqlx::query(
            "UPDATE registrations SET room_id = $2, seat_no = $3, ticket_no = $4, ticket_version = ticket_version + 1, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(a.registration_id)
        .bind(room_ids.get(&a.seat.room_no).copied())
        .bind(i64::from(a.seat.seat_no))
        .bind(number)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE exam_rooms SET next_seat = (SELECT COALESCE(MAX(r.seat_no), 0) FROM registrations r \
         WHERE r.room_id = exam_rooms.id) WHERE exam_id = $1",
    )
    .bind(exam_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE exams SET seat_seed = $2, updated_at = $3 WHERE id = $1")
        .bind(exam_id)
        .bind(seed as i64)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    crate::db::audit::record(&mut tx, audit, at).await?;
    tx.commit().await?;
    Ok(plan.len())
}
