//! Staff accounts: argon2id password hashes and roles.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sqlx::Row;

use super::{Db, is_unique_violation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Finance,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Finance => "finance",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "finance" => Some(Self::Finance),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Admin {
    pub id: i64,
    pub username: String,
    pub role: Role,
    password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    #[error("--username: 2 to 32 letters, digits, '.', '_' or '-', got {0:?}")]
    Username(String),
    #[error("the password must be at least 10 characters")]
    WeakPassword,
    #[error("an admin named {0} already exists")]
    Exists(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

pub fn valid_username(name: &str) -> bool {
    (2..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Hashing is deliberately slow, so it runs off the async threads.
pub async fn hash_password(password: String) -> Result<String, CreateAdminError> {
    tokio::task::spawn_blocking(move || {
        let salt: [u8; 16] = rand::random();
        Argon2::default()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CreateAdminError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| CreateAdminError::Hash(e.to_string()))?
}

pub async fn create(
    db: &Db,
    username: &str,
    password: &str,
    role: Role,
) -> Result<i64, CreateAdminError> {
    if !valid_username(username) {
        return Err(CreateAdminError::Username(username.to_string()));
    }
    if password.chars().count() < 10 {
        return Err(CreateAdminError::WeakPassword);
    }
    let hash = hash_password(password.to_string()).await?;
    let inserted = sqlx::query(
        "INSERT INTO admins (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(username)
    .bind(&hash)
    .bind(role.as_str())
    .bind(crate::util::now())
    .fetch_one(&db.write)
    .await;
    match inserted {
        Ok(row) => Ok(row.try_get("id")?),
        Err(e) if is_unique_violation(&e) => Err(CreateAdminError::Exists(username.to_string())),
        Err(e) => Err(e.into()),
    }
}

pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<Admin>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id, username, role, password_hash FROM admins WHERE username = $1")
            .bind(username)
            .fetch_optional(&db.read)
            .await?;
    row.map(|r| {
        let role: String = r.try_get("role")?;
        Ok(Admin {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            password_hash: r.try_get("password_hash")?,
        })
    })
    .transpose()
}

/// Whether `password` is the admin's. With no such admin a dummy hash is verified all the same, so
/// that a refusal takes as long for an unknown username as for a known one and timing tells no
/// one which staff accounts exist.
pub async fn password_matches(admin: Option<&Admin>, password: &str) -> bool {
    let hash = admin.map(|a| a.password_hash.clone());
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let verifies = |hash: &str| {
            Argon2::default()
                .verify_password(password.as_bytes(), hash)
                .is_ok()
        };
        match &hash {
            Some(hash) => verifies(hash),
            None => {
                let _ = verifies(dummy_hash());
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// A hash made once with the same parameters as real ones, of a random password nobody knows.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt: [u8; 16] = rand::random();
        let password: [u8; 32] = rand::random();
        Argon2::default()
            .hash_password_with_salt(&password, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
