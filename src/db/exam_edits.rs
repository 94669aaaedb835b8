//! Staff changes to exams: create with rooms, edit, open and close registration. Each change and
//! its audit row are written in one transaction.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::Db;
use super::audit::{self, Entry};
use super::exams::{self, Exam};
pub use crate::domain::exam::RoomPlan as Room;
use crate::domain::exam::{ExamRule, NewExam};
use crate::domain::states::ExamStatus;

/// Who is making the change, for the audit log.
pub struct Actor<'a> {
    pub admin_id: i64,
    pub username: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A rule the form should show next to its fields, already in Chinese.
    #[error("{0}")]
    Invalid(String),
    /// A rule of `domain::exam`, checked here too so no caller can store what a ticket cannot print.
    #[error("{0}")]
    Rule(#[from] ExamRule),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

pub async fn list_all(db: &Db) -> Result<Vec<Exam>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM exams ORDER BY starts_at DESC, id DESC",
        exams::COLUMNS
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(exams::from_row)
        .collect()
}

fn room_from_row(r: &AnyRow) -> Result<Room, sqlx::Error> {
    Ok(Room {
        room_no: r.try_get("room_no")?,
        name: r.try_get("name")?,
        capacity: r.try_get("capacity")?,
    })
}

pub async fn rooms(db: &Db, exam_id: i64) -> Result<Vec<Room>, sqlx::Error> {
    sqlx::query(
        "SELECT room_no, name, capacity FROM exam_rooms WHERE exam_id = $1 ORDER BY room_no",
    )
    .bind(exam_id)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(room_from_row)
    .collect()
}

fn fields(e: &NewExam, rooms: &[Room]) -> Vec<(&'static str, String)> {
    let rooms: Vec<String> = rooms
        .iter()
        .map(|r| format!("{}:{}", r.name, r.capacity))
        .collect();
    vec![
        ("title", e.title.trim().to_string()),
        ("fee_fen", e.fee_fen.to_string()),
        ("capacity", e.capacity.to_string()),
        ("opens_at", crate::util::to_rfc3339(e.opens_at)),
        ("closes_at", crate::util::to_rfc3339(e.closes_at)),
        ("starts_at", crate::util::to_rfc3339(e.starts_at)),
        ("venue", e.venue.trim().to_string()),
        ("rooms", format!("[{}]", rooms.join(", "))),
        ("review", e.review.to_string()),
        ("late_minutes", e.late_minutes.to_string()),
        ("photo_min_width", e.photo_rules.min_width.to_string()),
        ("photo_min_height", e.photo_rules.min_height.to_string()),
        (
            "photo_aspect",
            format!(
                "{}:{}",
                e.photo_rules.aspect_width, e.photo_rules.aspect_height
            ),
        ),
        (
            "photo_aspect_tolerance_pct",
            e.photo_rules.aspect_tolerance_pct.to_string(),
        ),
        ("photo_max_bytes", e.photo_rules.max_bytes.to_string()),
    ]
}

fn describe(e: &NewExam, rooms: &[Room]) -> String {
    fields(e, rooms)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Only what changed, as `field: before → after`.
fn changes(
    before: &NewExam,
    before_rooms: &[Room],
    after: &NewExam,
    after_rooms: &[Room],
) -> String {
    let text: Vec<String> = fields(before, before_rooms)
        .into_iter()
        .zip(fields(after, after_rooms))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((k, a), (_, b))| format!("{k}: {a} → {b}"))
        .collect();
    if text.is_empty() {
        "no change".into()
    } else {
        text.join("; ")
    }
}

/// Creates an exam, closed for registration until staff open it, with the given rooms.
pub async fn create(
    db: &Db,
    exam: &NewExam,
    rooms: &[Room],
    actor: &Actor<'_>,
    at: i64,
) -> Result<i64, EditError> {
    exam.validate_with_rooms(rooms)?;
    let mut tx = db.write.begin().await?;
    let Some(id) = super::exams::insert_exam(&mut tx, exam, ExamStatus::Closed, at).await? else {
        return Err(EditError::Invalid(format!(
            "考试代码 {} 已被使用",
            exam.code
        )));
    };
    write_rooms(&mut tx, id, rooms).await?;
    let entry = Entry {
        admin_id: Some(actor.admin_id),
        actor: actor.username,
        action: "exam.create",
        target: format!("exam:{id}"),
        amount_fen: Some(exam.fee_fen),
        reason: "",
        detail: format!("code={} {}", exam.code, describe(exam, rooms)),
    };
    audit::record(&mut tx, &entry, at).await?;
    tx.commit().await?;
    Ok(id)
}

/// Edits everything but the code (it starts every ticket number already issued).
pub async fn update(
    db: &Db,
    id: i64,
    exam: &NewExam,
    rooms: &[Room],
    actor: &Actor<'_>,
    at: i64,
) -> Result<(), EditError> {
    exam.validate_with_rooms(rooms)?;
    let before = exams::get(db, id)
        .await?
        .ok_or_else(|| EditError::Invalid("考试不存在".into()))?;
    let rooms_before = self::rooms(db, id).await?;
    let mut tx = db.write.begin().await?;
    let done = exams::bind_settings(sqlx::query(
        "UPDATE exams SET title = $2, fee_fen = $3, capacity = $4, opens_at = $5, closes_at = $6, starts_at = $7, \
         venue = $8, updated_at = $9, review = $10, late_minutes = $11, photo_min_width = $12, \
         photo_min_height = $13, photo_aspect_width = $14, photo_aspect_height = $15, \
         photo_aspect_tolerance_pct = $16, photo_max_bytes = $17 WHERE id = $1 AND seats_taken <= $4",
    )
    .bind(id)
    .bind(exam.title.trim())
    .bind(exam.fee_fen)
    .bind(exam.capacity)
    .bind(exam.opens_at)
    .bind(exam.closes_at)
    .bind(exam.starts_at)
    .bind(exam.venue.trim())
    .bind(at), exam)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(EditError::Invalid(format!(
            "已有 {} 个名额被占用，报名人数上限不能低于此数",
            before.seats_taken
        )));
    }
    write_rooms(&mut tx, id, rooms).await?;
    let before_exam = NewExam {
        code: before.code.clone(),
        title: before.title.clone(),
        fee_fen: before.fee_fen,
        capacity: before.capacity,
        opens_at: before.opens_at,
        closes_at: before.closes_at,
        starts_at: before.starts_at,
        venue: before.venue.clone(),
        review: before.review,
        late_minutes: before.late_minutes,
        photo_rules: before.photo_rules,
    };
    let entry = Entry {
        admin_id: Some(actor.admin_id),
        actor: actor.username,
        action: "exam.update",
        target: format!("exam:{id}"),
        amount_fen: Some(exam.fee_fen),
        reason: "",
        detail: changes(&before_exam, &rooms_before, exam, rooms),
    };
    audit::record(&mut tx, &entry, at).await?;
    tx.commit().await?;
    Ok(())
}

/// Rooms are matched by number: existing ones are updated, new ones added, missing ones removed —
/// but never a room, or a room's seats, that a registration already sits in.
async fn write_rooms(
    tx: &mut Transaction<'static, Any>,
    exam_id: i64,
    rooms: &[Room],
) -> Result<(), EditError> {
    for room in rooms {
        let seated_beyond: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM registrations r JOIN exam_rooms m ON m.id = r.room_id \
             WHERE m.exam_id = $1 AND m.room_no = $2 AND r.seat_no > $3",
        )
        .bind(exam_id)
        .bind(room.room_no)
        .bind(room.capacity)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
        if seated_beyond > 0 {
            return Err(EditError::Invalid(format!(
                "{} 已安排座位超过 {} 号，不能缩小到 {} 个座位",
                room.name, room.capacity, room.capacity
            )));
        }
        let updated = sqlx::query(
            "UPDATE exam_rooms SET name = $3, capacity = $4 WHERE exam_id = $1 AND room_no = $2",
        )
        .bind(exam_id)
        .bind(room.room_no)
        .bind(&room.name)
        .bind(room.capacity)
        .execute(&mut **tx)
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO exam_rooms (exam_id, room_no, name, capacity) VALUES ($1, $2, $3, $4)",
            )
            .bind(exam_id)
            .bind(room.room_no)
            .bind(&room.name)
            .bind(room.capacity)
            .execute(&mut **tx)
            .await?;
        }
    }
    let last = rooms.len() as i64;
    let seated: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM registrations r JOIN exam_rooms m ON m.id = r.room_id \
         WHERE m.exam_id = $1 AND m.room_no > $2",
    )
    .bind(exam_id)
    .bind(last)
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?;
    if seated > 0 {
        return Err(EditError::Invalid(
            "被删除的考场里已有考生的座位，不能删除".into(),
        ));
    }
    sqlx::query("DELETE FROM exam_rooms WHERE exam_id = $1 AND room_no > $2")
        .bind(exam_id)
        .bind(last)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Opens or closes registration; returns false when it already was so.
pub async fn set_status(
    db: &Db,
    id: i64,
    status: ExamStatus,
    actor: &Actor<'_>,
    at: i64,
) -> Result<bool, EditError> {
    let mut tx = db.write.begin().await?;
    let done =
        sqlx::query("UPDATE exams SET status = $2, updated_at = $3 WHERE id = $1 AND status <> $2")
            .bind(id)
            .bind(status)
            .bind(at)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    let entry = Entry {
        admin_id: Some(actor.admin_id),
        actor: actor.username,
        action: match status {
            ExamStatus::Open => "exam.open",
            ExamStatus::Closed => "exam.close",
        },
        target: format!("exam:{id}"),
        amount_fen: None,
        reason: "",
        detail: format!("status={status}"),
    };
    audit::record(&mut tx, &entry, at).await?;
    tx.commit().await?;
    Ok(true)
}
