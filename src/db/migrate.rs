//! Applies the embedded migrations of the connected dialect, each once, in order.

use sqlx::{Executor, Row};

use super::{Backend, Db, DbError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "schema",
        sqlite: include_str!("../../migrations/sqlite/0001_schema.sql"),
        postgres: include_str!("../../migrations/postgres/0001_schema.sql"),
    },
    Migration {
        version: 2,
        name: "ticket_batches",
        sqlite: include_str!("../../migrations/sqlite/0002_ticket_batches.sql"),
        postgres: include_str!("../../migrations/postgres/0002_ticket_batches.sql"),
    },
    Migration {
        version: 3,
        name: "callback_refusals",
        sqlite: include_str!("../../migrations/sqlite/0003_callback_refusals.sql"),
        postgres: include_str!("../../migrations/postgres/0003_callback_refusals.sql"),
    },
    Migration {
        version: 4,
        name: "exam_office",
        sqlite: include_str!("../../migrations/sqlite/0004_exam_office.sql"),
        postgres: include_str!("../../migrations/postgres/0004_exam_office.sql"),
    },
    Migration {
        version: 5,
        name: "bill_checks",
        sqlite: include_str!("../../migrations/sqlite/0005_bill_checks.sql"),
        postgres: include_str!("../../migrations/postgres/0005_bill_checks.sql"),
    },
    Migration {
        version: 6,
        name: "close_later",
        sqlite: include_str!("../../migrations/sqlite/0006_close_later.sql"),
        postgres: include_str!("../../migrations/postgres/0006_close_later.sql"),
    },
    Migration {
        version: 7,
        name: "refused_callbacks",
        sqlite: include_str!("../../migrations/sqlite/0007_refused_callbacks.sql"),
        postgres: include_str!("../../migrations/postgres/0007_refused_callbacks.sql"),
    },
    Migration {
        version: 8,
        name: "id_number_owners",
        sqlite: include_str!("../../migrations/sqlite/0008_id_number_owners.sql"),
        postgres: include_str!("../../migrations/postgres/0008_id_number_owners.sql"),
    },
];

/// Applies what is missing; returns how many migrations ran. Safe when several instances start at
/// once on PostgreSQL: an advisory lock lets one apply while the others wait and then find it done.
pub async fn migrate(db: &Db) -> Result<usize, DbError> {
    let mut conn = db.write.acquire().await?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let mut applied = 0;
    // SQLite changes a table's constraints only by rebuilding it, which must happen with foreign
    // keys off (the pragma is ignored inside a transaction); each migration's own transaction then
    // checks that every reference still holds before it commits.
    if db.backend == Backend::Sqlite {
        conn.execute("PRAGMA foreign_keys = OFF").await?;
    }
    let result = apply(&mut conn, db.backend, &mut applied).await;
    if db.backend == Backend::Sqlite {
        conn.execute("PRAGMA foreign_keys = ON").await?;
    }
    result.map(|()| applied)
}

async fn apply(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    applied: &mut usize,
) -> Result<(), DbError> {
    for migration in MIGRATIONS {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        if backend == Backend::Postgres {
            tx.execute("SELECT pg_advisory_xact_lock(727001)").await?;
        }
        let done = sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations WHERE version = $1")
            .bind(migration.version)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
        if done > 0 {
            tx.commit().await?;
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        tx.execute(sqlx::raw_sql(sql)).await.map_err(|e| {
            DbError::Migration(format!("{:04}_{}", migration.version, migration.name), e)
        })?;
        if backend == Backend::Sqlite {
            let broken = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&mut *tx)
                .await?;
            if let Some(row) = broken.first() {
                let table: String = row.try_get(0)?;
                return Err(DbError::Migration(
                    format!("{:04}_{}", migration.version, migration.name),
                    sqlx::Error::Protocol(format!("a reference from {table} no longer holds")),
                ));
            }
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(crate::util::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        *applied += 1;
    }
    Ok(())
}
