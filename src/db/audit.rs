//! The audit log: who did what, when, to what, for how much and why. Rows are only ever added.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::Db;

/// One change to record; written inside the transaction of the change itself, so a change
/// without its audit row (or the reverse) cannot exist.
pub struct Entry<'a> {
    pub admin_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: String,
    pub amount_fen: Option<i64>,
    pub reason: &'a str,
    pub detail: String,
}

pub async fn record(
    tx: &mut Transaction<'static, Any>,
    entry: &Entry<'_>,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, admin_id, actor, action, target, amount_fen, reason, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(at)
    .bind(entry.admin_id)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(&entry.target)
    .bind(entry.amount_fen)
    .bind(entry.reason)
    .bind(&entry.detail)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub amount_fen: Option<i64>,
    pub reason: String,
    pub detail: String,
}

fn from_row(r: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        amount_fen: r.try_get("amount_fen")?,
        reason: r.try_get("reason")?,
        detail: r.try_get("detail")?,
    })
}

/// Newest first; `action` empty means every action.
pub async fn page(
    db: &Db,
    action: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditRow>, i64), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, amount_fen, reason, detail FROM audit_log \
         WHERE ($1 = '' OR action = $1) ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(action)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let total: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE ($1 = '' OR action = $1)")
            .bind(action)
            .fetch_one(&db.read)
            .await?
            .try_get("n")?;
    Ok((rows, total))
}
