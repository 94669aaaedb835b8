//! Seats and ticket numbers of paid registrations. A seat is taken by one conditional UPDATE that
//! the unique index on (room, seat) guards, so two payments can never get the same seat.

use sqlx::Row;

use super::{Db, is_unique_violation};
use crate::tickets::number::ticket_number;

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
             WHERE r.id = $1 AND r.status = 'paid' AND r.room_id IS NULL AND r.needs_refund = 0",
        )
        .bind(registration_id)
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
             WHERE id = $1 AND status = 'paid' AND room_id IS NULL",
        )
        .bind(registration_id)
        .bind(room_id)
        .bind(seat_no)
        .bind(&number)
        .bind(at)
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
    sqlx::query(
        "SELECT id FROM registrations WHERE status = 'paid' AND room_id IS NULL AND needs_refund = 0 \
         ORDER BY paid_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect()
}
