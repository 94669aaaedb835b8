//! What the exam-day sheets of a room print: its seated candidates whose ticket is valid (paid,
//! or paid and waiting for a refund to go through) with their photos, and each room's numbers.

use sqlx::Row;

use super::Db;
use crate::domain::states::RegistrationStatus;

/// A room of an exam and how many candidates hold a valid ticket for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCount {
    pub room_no: i64,
    pub name: String,
    pub capacity: i64,
    pub seated: i64,
}

/// A seated candidate as the sheets print them; the photo only when one was uploaded.
pub struct SeatedCandidate {
    pub room_no: i64,
    pub seat_no: i64,
    pub ticket_no: String,
    pub name: String,
    pub id_number: String,
    pub photo: Option<(String, Vec<u8>)>,
}

/// The exam's rooms in order, each with its count of valid tickets.
pub async fn rooms(db: &Db, exam_id: i64) -> Result<Vec<RoomCount>, sqlx::Error> {
    sqlx::query(
        "SELECT rm.room_no, rm.name, rm.capacity, \
         (SELECT COUNT(*) FROM registrations r WHERE r.room_id = rm.id AND r.status IN ($2, $3)) AS seated \
         FROM exam_rooms rm WHERE rm.exam_id = $1 ORDER BY rm.room_no",
    )
    .bind(exam_id)
    .bind(RegistrationStatus::Paid)
    .bind(RegistrationStatus::Refunding)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| {
        Ok(RoomCount {
            room_no: r.try_get("room_no")?,
            name: r.try_get("name")?,
            capacity: r.try_get("capacity")?,
            seated: r.try_get("seated")?,
        })
    })
    .collect()
}

/// The candidates of one room (or of every room when `room_no` is `None`), by room and seat.
pub async fn seated(
    db: &Db,
    exam_id: i64,
    room_no: Option<i64>,
) -> Result<Vec<SeatedCandidate>, sqlx::Error> {
    sqlx::query(
        "SELECT rm.room_no, r.seat_no, r.ticket_no, r.name, r.id_number, p.content_type, p.bytes \
         FROM registrations r JOIN exam_rooms rm ON rm.id = r.room_id \
         LEFT JOIN photos p ON p.registration_id = r.id \
         WHERE r.exam_id = $1 AND ($2 IS NULL OR rm.room_no = $2) AND r.status IN ($3, $4) \
         AND r.seat_no IS NOT NULL AND r.ticket_no IS NOT NULL \
         ORDER BY rm.room_no, r.seat_no",
    )
    .bind(exam_id)
    .bind(room_no)
    .bind(RegistrationStatus::Paid)
    .bind(RegistrationStatus::Refunding)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| {
        let content_type: Option<String> = r.try_get("content_type")?;
        let bytes: Option<Vec<u8>> = r.try_get("bytes")?;
        Ok(SeatedCandidate {
            room_no: r.try_get("room_no")?,
            seat_no: r.try_get("seat_no")?,
            ticket_no: r.try_get("ticket_no")?,
            name: r.try_get("name")?,
            id_number: r.try_get("id_number")?,
            photo: content_type.zip(bytes),
        })
    })
    .collect()
}
