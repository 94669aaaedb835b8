//! Exams and their rooms.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, is_unique_violation};
use crate::domain::exam::NewExam;
use crate::domain::states::{ExamReview, ExamStatus};
use crate::util::now;
use examdesk_tickets::photo::PhotoRules;

#[derive(Debug, Clone, Serialize)]
pub struct Exam {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub fee_fen: i64,
    pub capacity: i64,
    pub seats_taken: i64,
    pub opens_at: i64,
    pub closes_at: i64,
    pub starts_at: i64,
    pub venue: String,
    pub status: ExamStatus,
    pub review: ExamReview,
    /// Minutes after the start during which candidates are still let in.
    pub late_minutes: i64,
    pub photo_rules: PhotoRules,
}

impl Exam {
    pub fn remaining(&self) -> i64 {
        (self.capacity - self.seats_taken).max(0)
    }

    pub fn is_open_at(&self, t: i64) -> bool {
        self.status == ExamStatus::Open && self.opens_at <= t && t < self.closes_at
    }
}

pub const COLUMNS: &str = "id, code, title, fee_fen, capacity, seats_taken, opens_at, closes_at, starts_at, venue, status, \
     review, late_minutes, photo_min_width, photo_min_height, photo_aspect_width, photo_aspect_height, \
     photo_aspect_tolerance_pct, photo_max_bytes";

pub fn from_row(row: &AnyRow) -> Result<Exam, sqlx::Error> {
    Ok(Exam {
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        title: row.try_get("title")?,
        fee_fen: row.try_get("fee_fen")?,
        capacity: row.try_get("capacity")?,
        seats_taken: row.try_get("seats_taken")?,
        opens_at: row.try_get("opens_at")?,
        closes_at: row.try_get("closes_at")?,
        starts_at: row.try_get("starts_at")?,
        venue: row.try_get("venue")?,
        status: row.try_get("status")?,
        review: row.try_get("review")?,
        late_minutes: row.try_get("late_minutes")?,
        photo_rules: photo_rules(row)?,
    })
}

fn photo_rules(row: &AnyRow) -> Result<PhotoRules, sqlx::Error> {
    let get = |column: &str| -> Result<u32, sqlx::Error> {
        let value: i64 = row.try_get(column)?;
        u32::try_from(value).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(e),
        })
    };
    Ok(PhotoRules {
        min_width: get("photo_min_width")?,
        min_height: get("photo_min_height")?,
        aspect_width: get("photo_aspect_width")?,
        aspect_height: get("photo_aspect_height")?,
        aspect_tolerance_pct: get("photo_aspect_tolerance_pct")?,
        max_bytes: get("photo_max_bytes")?,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CreateExamError {
    #[error("{0}")]
    Invalid(#[from] crate::domain::exam::ExamRule),
    #[error("an exam with code {0} already exists")]
    DuplicateCode(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Stores a validated exam with classroom-sized rooms that seat everyone; staff can change them.
pub async fn create(db: &Db, exam: &NewExam) -> Result<i64, CreateExamError> {
    let rooms = crate::domain::exam::default_rooms(exam.capacity);
    exam.validate_with_rooms(&rooms)?;
    let t = now();
    let mut tx = db.write.begin().await?;
    let Some(id) = insert_exam(&mut tx, exam, ExamStatus::Open, t).await? else {
        return Err(CreateExamError::DuplicateCode(exam.code.clone()));
    };
    for room in rooms {
        sqlx::query(
            "INSERT INTO exam_rooms (exam_id, room_no, name, capacity) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(room.room_no)
        .bind(room.name)
        .bind(room.capacity)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Inserts the exam row inside the caller's transaction; `None` when its code is taken.
pub async fn insert_exam(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    exam: &NewExam,
    status: ExamStatus,
    at: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let inserted = bind_settings(sqlx::query(
        "INSERT INTO exams (code, title, fee_fen, capacity, opens_at, closes_at, starts_at, venue, status, \
         created_at, updated_at, review, late_minutes, photo_min_width, photo_min_height, photo_aspect_width, \
         photo_aspect_height, photo_aspect_tolerance_pct, photo_max_bytes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
    )
    .bind(&exam.code)
    .bind(exam.title.trim())
    .bind(exam.fee_fen)
    .bind(exam.capacity)
    .bind(exam.opens_at)
    .bind(exam.closes_at)
    .bind(exam.starts_at)
    .bind(exam.venue.trim())
    .bind(status)
    .bind(at), exam)
    .fetch_one(&mut **tx)
    .await;
    match inserted {
        Ok(row) => Ok(Some(row.try_get("id")?)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds the exam's review mode, late-entry minutes and photo rules, in that order, after what
/// the query has bound already.
pub fn bind_settings<'q>(query: AnyQuery<'q>, exam: &NewExam) -> AnyQuery<'q> {
    let rules = exam.photo_rules;
    query
        .bind(exam.review)
        .bind(exam.late_minutes)
        .bind(i64::from(rules.min_width))
        .bind(i64::from(rules.min_height))
        .bind(i64::from(rules.aspect_width))
        .bind(i64::from(rules.aspect_height))
        .bind(i64::from(rules.aspect_tolerance_pct))
        .bind(i64::from(rules.max_bytes))
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Exam>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM exams WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn find_by_code(db: &Db, code: &str) -> Result<Option<Exam>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM exams WHERE code = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// Exams candidates can see: open ones whose registration has not closed yet.
pub async fn list_visible(db: &Db, at: i64) -> Result<Vec<Exam>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM exams WHERE status = $2 AND closes_at > $1 ORDER BY opens_at, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(at)
        .bind(ExamStatus::Open)
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(from_row)
        .collect()
}
