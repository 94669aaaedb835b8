//! Bulk PDFs (tickets, door lists or sign-in sheets): a row per batch with its progress, and the
//! finished file.

use sqlx::Row;

use super::Db;
use crate::domain::states::{BatchKind, BatchStatus};

pub struct Batch {
    pub id: i64,
    pub exam_id: i64,
    pub room_no: Option<i64>,
    pub kind: BatchKind,
    /// Pages to draw.
    pub total: i64,
    pub done: i64,
    pub status: BatchStatus,
    pub created_by: String,
    pub created_at: i64,
}

pub async fn create(
    db: &Db,
    exam_id: i64,
    room_no: Option<i64>,
    kind: BatchKind,
    total: i64,
    by: &str,
    at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_batches (exam_id, room_no, total, status, created_by, created_at, updated_at, kind) \
         VALUES ($1, $2, $3, $6, $4, $5, $5, $7) RETURNING id",
    )
    .bind(exam_id)
    .bind(room_no)
    .bind(total)
    .bind(by)
    .bind(at)
    .bind(BatchStatus::Running)
    .bind(kind)
    .fetch_one(&db.write)
    .await?
    .try_get("id")
}

pub async fn progress(db: &Db, id: i64, done: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ticket_batches SET done = $2, updated_at = $3 WHERE id = $1 AND status = $4",
    )
    .bind(id)
    .bind(done)
    .bind(at)
    .bind(BatchStatus::Running)
    .execute(&db.write)
    .await
    .map(|_| ())
}

pub async fn finish(db: &Db, id: i64, pdf: Option<&[u8]>, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ticket_batches SET status = $2, pdf = $3, done = CASE WHEN $2 = $5 THEN total ELSE done END, \
         updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(if pdf.is_some() {
        BatchStatus::Done
    } else {
        BatchStatus::Failed
    })
    .bind(pdf)
    .bind(at)
    .bind(BatchStatus::Done)
    .execute(&db.write)
    .await
    .map(|_| ())
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Batch>, sqlx::Error> {
    sqlx::query(
        "SELECT id, exam_id, room_no, kind, total, done, status, created_by, created_at FROM ticket_batches WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.read)
    .await?
    .map(|r| {
        Ok(Batch {
            id: r.try_get("id")?,
            exam_id: r.try_get("exam_id")?,
            room_no: r.try_get("room_no")?,
            kind: r.try_get("kind")?,
            total: r.try_get("total")?,
            done: r.try_get("done")?,
            status: r.try_get("status")?,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

pub async fn pdf(db: &Db, id: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query("SELECT pdf FROM ticket_batches WHERE id = $1 AND status = $2")
        .bind(id)
        .bind(BatchStatus::Done)
        .fetch_optional(&db.read)
        .await?
        .map(|r| r.try_get("pdf"))
        .transpose()
}
