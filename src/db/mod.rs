//! The database: a pool chosen by URL scheme, migrations, and one module per table family.
//!
//! One SQL text serves both backends through `sqlx::Any` (with `$1` placeholders): the schema differs
//! per dialect (`migrations/sqlite`, `migrations/postgres`), the queries do not, and the same
//! integration tests run on both. Times are stored as Unix seconds and flags as integers because
//! `Any` decodes neither SQLite booleans nor date types.

pub mod admin_queries;
pub mod admin_sessions;
pub mod admins;
pub mod audit;
pub mod bill_checks;
pub mod candidates;
pub mod checkins;
pub mod exam_edits;
pub mod exams;
pub mod hold_batch;
pub mod id_numbers;
pub mod meta;
mod migrate;
pub mod orders;
pub mod payment_batch;
pub mod photos;
pub mod refunds;
pub mod refused_callbacks;
pub mod registrations;
pub mod review;
pub mod seating;
pub mod sheets;
pub mod states;
pub mod ticket_batches;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub use migrate::migrate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Pools for reading and writing. On SQLite all writes go through one connection, so writers queue
/// in the pool instead of failing with `SQLITE_BUSY`; on PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub read: AnyPool,
    pub write: AnyPool,
    pub backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("EXAMDESK_DATABASE_URL: cannot create the folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("EXAMDESK_DATABASE_URL: cannot create the file {0}: {1}")]
    File(String, std::io::Error),
    #[error("EXAMDESK_DATABASE_URL: cannot connect: {0}")]
    Connect(sqlx::Error),
    #[error("migration {0} failed: {1}")]
    Migration(String, sqlx::Error),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// When SQLite reports a commit done: `Full` after the write-ahead log reached the disk (a payment
/// answered SUCCESS survives a power cut), `Normal` before that (faster; the last commits can be
/// lost). PostgreSQL keeps its own `synchronous_commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Full,
    Normal,
}

impl Db {
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, Durability::Full).await
    }

    pub async fn connect_with(url: &str, durability: Durability) -> Result<Self, DbError> {
        install_default_drivers();
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url, durability).await
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                // The ping before each use was one more round trip per statement run on the
                // pool (a batch of payments, each read of a request). A connection the server
                // closed fails its next statement instead, and sqlx drops it.
                .test_before_acquire(false)
                .connect(url)
                .await
                .map_err(DbError::Connect)?;
            Ok(Self {
                read: pool.clone(),
                write: pool,
                backend: Backend::Postgres,
            })
        }
    }

    async fn connect_sqlite(url: &str, durability: Durability) -> Result<Self, DbError> {
        let pragmas: &'static str = match durability {
            Durability::Full => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 10000; PRAGMA cache_size = -16000; PRAGMA mmap_size = 268435456;"
            }
            Durability::Normal => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 10000; PRAGMA cache_size = -16000; PRAGMA mmap_size = 268435456;"
            }
        };
        let path = sqlite_path(url);
        if let Some(parent) = Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbError::Folder(parent.display().to_string(), e))?;
        }
        // SQLite gives its -wal and -shm files the main file's mode: create it owner-only first.
        if !path.is_empty() && !path.contains(":memory:") && !Path::new(&path).exists() {
            crate::util::private_file_options()
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| DbError::File(path.clone(), e))?;
        }
        let url = if url.contains('?') {
            url.to_string()
        } else {
            format!("{url}?mode=rwc")
        };
        let options = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                // A connection to a local file does not go stale; the ping sqlx sends before each
                // use would be one more round trip to its worker thread per query.
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        // WAL lets readers work beside the writer.
                        conn.execute(sqlx::raw_sql(pragmas)).await?;
                        Ok(())
                    })
                })
        };
        let write = options(1).connect(&url).await.map_err(DbError::Connect)?;
        let read = options(8).connect(&url).await.map_err(DbError::Connect)?;
        Ok(Self {
            read,
            write,
            backend: Backend::Sqlite,
        })
    }

    /// `SELECT 1` through the pool: what `/healthz` asks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

fn sqlite_path(url: &str) -> String {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.split('?').next().unwrap_or_default().to_string()
}

/// The `id` of every row a query finds (the jobs' and the bulk prints' lists of work).
async fn ids(
    query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    pool: &AnyPool,
) -> Result<Vec<i64>, sqlx::Error> {
    use sqlx::Row;
    query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect()
}

/// True when a write failed because a UNIQUE constraint (or index) refused it.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("2067")
                || db.code().as_deref() == Some("1555")
                || db.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(sqlite_path("sqlite://data/examdesk.db"), "data/examdesk.db");
        assert_eq!(sqlite_path("sqlite:///tmp/x.db?mode=rwc"), "/tmp/x.db");
        assert_eq!(sqlite_path("sqlite:x.db"), "x.db");
    }
}
