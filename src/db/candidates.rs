//! Candidates (one per WeChat openid) and their bearer sessions; only a token's hash is stored.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::Db;

pub const SESSION_SECONDS: i64 = 7 * 86_400;

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Finds or creates the candidate for `openid`; returns its id.
pub async fn upsert(db: &Db, openid: &str, at: i64) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO candidates (openid, created_at, last_login_at) VALUES ($1, $2, $2) \
         ON CONFLICT (openid) DO UPDATE SET last_login_at = excluded.last_login_at RETURNING id",
    )
    .bind(openid)
    .bind(at)
    .fetch_one(&db.write)
    .await?;
    row.try_get("id")
}

/// Starts a session and returns the token the client keeps, and when it expires.
pub async fn create_session(
    db: &Db,
    candidate_id: i64,
    at: i64,
) -> Result<(String, i64), sqlx::Error> {
    let token = crate::util::random_hex(32);
    let expires_at = at + SESSION_SECONDS;
    sqlx::query(
        "INSERT INTO candidate_sessions (token_hash, candidate_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&token))
    .bind(candidate_id)
    .bind(at)
    .bind(expires_at)
    .execute(&db.write)
    .await?;
    Ok((token, expires_at))
}

pub enum SessionLookup {
    Valid(i64),
    Expired,
    Unknown,
}

pub async fn lookup_session(db: &Db, token: &str, at: i64) -> Result<SessionLookup, sqlx::Error> {
    let row = sqlx::query(
        "SELECT candidate_id, expires_at FROM candidate_sessions WHERE token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&db.read)
    .await?;
    Ok(match row {
        None => SessionLookup::Unknown,
        Some(row) => {
            let expires_at: i64 = row.try_get("expires_at")?;
            if expires_at <= at {
                SessionLookup::Expired
            } else {
                SessionLookup::Valid(row.try_get("candidate_id")?)
            }
        }
    })
}

pub async fn openid(db: &Db, candidate_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT openid FROM candidates WHERE id = $1")
        .bind(candidate_id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| r.try_get("openid"))
        .transpose()
}
