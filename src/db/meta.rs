//! Small facts the service keeps about itself.

use sqlx::Row;

use super::Db;

pub async fn get(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.read)
        .await?
        .map(|r| r.try_get("value"))
        .transpose()
}

/// Stores `value` unless the key already has one; returns whether it was stored.
pub async fn insert_if_absent(db: &Db, key: &str, value: &str) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&db.write)
            .await?;
    Ok(done.rows_affected() == 1)
}
