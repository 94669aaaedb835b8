//! The short record kept of a callback refused before it proved to come from WeChat: when, from
//! where, why and how big — never the body, which is anyone's to send.

use crate::db::Db;
use crate::domain::states::{CallbackKind, Refusal};

pub struct RefusedCallback<'a> {
    pub kind: CallbackKind,
    pub at: i64,
    pub address: &'a str,
    pub refusal: Refusal,
    pub size: usize,
}

pub async fn record(db: &Db, refused: &RefusedCallback<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refused_callbacks (kind, received_at, address, reason, size) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(refused.kind)
    .bind(refused.at)
    .bind(refused.address)
    .bind(refused.refusal.as_str())
    .bind(i64::try_from(refused.size).unwrap_or(i64::MAX))
    .execute(&db.write)
    .await
    .map(|_| ())
}

/// Deletes the records older than `before`; how many went.
pub async fn purge_before(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM refused_callbacks WHERE received_at < $1")
        .bind(before)
        .execute(&db.write)
        .await
        .map(|done| done.rows_affected())
}
