//! Staff sessions (only a hash of the cookie's token is stored, with the session's CSRF token) and
//! the failed sign-ins that lock a (username, address) pair out for a while.

use sqlx::Row;

use super::Db;
use super::admins::Role;
use super::candidates::token_hash;

/// A staff session lasts one working day; then the staff member signs in again.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// At most this many failed sign-ins per username and address within [`LOCKOUT_WINDOW`].
pub const MAX_FAILURES: i64 = 5;
pub const LOCKOUT_WINDOW: i64 = 15 * 60;

/// The signed-in staff member behind a valid session cookie.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub admin_id: i64,
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Starts a session; returns the token for the cookie.
pub async fn create(db: &Db, admin_id: i64, at: i64) -> Result<String, sqlx::Error> {
    let token = crate::util::random_hex(32);
    let csrf = crate::util::random_hex(24);
    // Old sessions of everyone are cleaned up here, where a write happens anyway.
    sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
        .bind(at)
        .execute(&db.write)
        .await?;
    sqlx::query(
        "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(admin_id)
    .bind(&csrf)
    .bind(at)
    .bind(at + SESSION_SECONDS)
    .execute(&db.write)
    .await?;
    Ok(token)
}

/// The session of `token` if it exists and has not expired.
pub async fn lookup(db: &Db, token: &str, at: i64) -> Result<Option<StaffSession>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT s.admin_id, s.csrf_token, s.expires_at, a.username, a.role FROM admin_sessions s \
         JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(at)
    .fetch_optional(&db.read)
    .await?;
    row.map(|r| {
        let role: String = r.try_get("role")?;
        Ok(StaffSession {
            admin_id: r.try_get("admin_id")?,
            username: r.try_get("username")?,
            // An unknown role in the table gets the least power, not an error page.
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            csrf_token: r.try_get("csrf_token")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

pub async fn delete(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(&db.write)
        .await
        .map(|_| ())
}

/// Failed sign-ins of this username from this address within the lock-out window.
pub async fn recent_failures(
    db: &Db,
    username: &str,
    address: &str,
    at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM admin_login_failures WHERE username = $1 AND address = $2 AND at > $3",
    )
    .bind(username)
    .bind(address)
    .bind(at - LOCKOUT_WINDOW)
    .fetch_one(&db.read)
    .await?
    .try_get("n")
}

/// The time the oldest failure in the window leaves it, i.e. when one more try is allowed.
pub async fn locked_until(
    db: &Db,
    username: &str,
    address: &str,
    at: i64,
) -> Result<i64, sqlx::Error> {
    let oldest: Option<i64> = sqlx::query(
        "SELECT MIN(at) AS t FROM admin_login_failures WHERE username = $1 AND address = $2 AND at > $3",
    )
    .bind(username)
    .bind(address)
    .bind(at - LOCKOUT_WINDOW)
    .fetch_one(&db.read)
    .await?
    .try_get("t")?;
    Ok(oldest.unwrap_or(at) + LOCKOUT_WINDOW)
}

pub async fn record_failure(
    db: &Db,
    username: &str,
    address: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_login_failures WHERE at <= $1")
        .bind(at - LOCKOUT_WINDOW)
        .execute(&db.write)
        .await?;
    sqlx::query("INSERT INTO admin_login_failures (username, address, at) VALUES ($1, $2, $3)")
        .bind(username)
        .bind(address)
        .bind(at)
        .execute(&db.write)
        .await
        .map(|_| ())
}

/// A successful sign-in forgives earlier mistakes of the same pair.
pub async fn clear_failures(db: &Db, username: &str, address: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_login_failures WHERE username = $1 AND address = $2")
        .bind(username)
        .bind(address)
        .execute(&db.write)
        .await
        .map(|_| ())
}
