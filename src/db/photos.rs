//! Candidates' photos, kept in the database so that every instance can print them.

use sqlx::Row;

use super::Db;

pub struct Photo {
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub updated_at: i64,
}

/// Stores (or replaces) the photo and bumps the registration's ticket version, so the cached
/// ticket is drawn again and older prints can be told apart.
pub async fn put(
    db: &Db,
    registration_id: i64,
    content_type: &str,
    bytes: &[u8],
    width: i64,
    height: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.write.begin().await?;
    sqlx::query(
        "INSERT INTO photos (registration_id, content_type, bytes, width, height, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (registration_id) DO UPDATE SET \
         content_type = excluded.content_type, bytes = excluded.bytes, width = excluded.width, \
         height = excluded.height, updated_at = excluded.updated_at",
    )
    .bind(registration_id)
    .bind(content_type)
    .bind(bytes)
    .bind(width)
    .bind(height)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE registrations SET ticket_version = ticket_version + 1, updated_at = $2 WHERE id = $1")
        .bind(registration_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

pub async fn get(db: &Db, registration_id: i64) -> Result<Option<Photo>, sqlx::Error> {
    sqlx::query("SELECT content_type, bytes, updated_at FROM photos WHERE registration_id = $1")
        .bind(registration_id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| {
            Ok(Photo {
                content_type: r.try_get("content_type")?,
                bytes: r.try_get("bytes")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
}
