//! The invariants, read from the server's own database (sqlx `Any`, `$1` placeholders: the same
//! SQL on SQLite and PostgreSQL). SQLite is opened read-only, so a wrong path fails instead of
//! creating an empty database.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use super::report::Check;

pub(crate) async fn open(url: &str) -> Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let url = if url.starts_with("sqlite:") && !url.contains('?') {
        format!("{url}?mode=ro")
    } else {
        url.to_string()
    };
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .context("--database-url: cannot open the server's database")?;
    sqlx::query("SELECT COUNT(*) AS n FROM exams")
        .fetch_one(&pool)
        .await
        .context("--database-url: this is not an examdesk database (no exams table)")?;
    Ok(pool)
}

pub(crate) struct Seats {
    pub capacity: i64,
    pub taken: i64,
}

pub(crate) async fn seats(pool: &AnyPool, exam_id: i64) -> Result<Seats> {
    let row = sqlx::query("SELECT capacity, seats_taken FROM exams WHERE id = $1")
        .bind(exam_id)
        .fetch_one(pool)
        .await
        .with_context(|| format!("exam {exam_id} is not in the database"))?;
    Ok(Seats {
        capacity: row.try_get("capacity")?,
        taken: row.try_get("seats_taken")?,
    })
}

async fn count(pool: &AnyPool, sql: &'static str, exam_id: Option<i64>) -> Result<i64> {
    let mut q = sqlx::query(sql);
    if let Some(id) = exam_id {
        q = q.bind(id);
    }
    let row = q.fetch_one(pool).await.with_context(|| sql.to_string())?;
    Ok(row.try_get("n")?)
}

/// Held + paid seats never exceed capacity, and the counter agrees with the live registrations.
pub(crate) async fn seat_checks(pool: &AnyPool, exam_id: i64) -> Result<Vec<Check>> {
    let s = seats(pool, exam_id).await?;
    let live = count(
        pool,
        "SELECT COUNT(*) AS n FROM registrations WHERE exam_id = $1 \
         AND status IN ('pending_payment', 'paid', 'refunding')",
        Some(exam_id),
    )
    .await?;
    let over = count(
        pool,
        "SELECT COUNT(*) AS n FROM exams WHERE seats_taken > capacity",
        None,
    )
    .await?;
    Ok(vec![
        Check::new(
            "held + paid seats <= capacity",
            s.taken <= s.capacity && over == 0,
            format!(
                "exam {exam_id}: seats_taken {} of capacity {}; exams over capacity: {over}",
                s.taken, s.capacity
            ),
        ),
        Check::new(
            "live registrations = seats_taken",
            live == s.taken,
            format!(
                "exam {exam_id}: {live} live registrations, seats_taken {}",
                s.taken
            ),
        ),
    ])
}

/// Each of the run's `expected` registrations has exactly one paid order.
pub(crate) async fn paid_once(
    pool: &AnyPool,
    exam_id: i64,
    registrations: &HashSet<i64>,
    expected: usize,
) -> Result<Vec<Check>> {
    let rows = sqlx::query(
        "SELECT o.registration_id, COUNT(*) AS n FROM orders o \
         JOIN registrations r ON r.id = o.registration_id \
         WHERE r.exam_id = $1 AND o.status = 'paid' GROUP BY o.registration_id",
    )
    .bind(exam_id)
    .fetch_all(pool)
    .await
    .context("reading the exam's paid orders")?;
    let (mut once, mut more, mut orders) = (0usize, 0usize, 0i64);
    for row in &rows {
        let id: i64 = row.try_get("registration_id")?;
        let n: i64 = row.try_get("n")?;
        if registrations.contains(&id) {
            orders += n;
            if n == 1 {
                once += 1;
            } else {
                more += 1;
            }
        }
    }
    Ok(vec![
        Check::new(
            "every candidate paid exactly once",
            once == expected && more == 0,
            format!("{once} of {expected} paid once, {more} paid more than once"),
        ),
        Check::new(
            "orders paid = candidates",
            usize::try_from(orders).is_ok_and(|o| o == expected),
            format!("{orders} orders paid, {expected} candidates"),
        ),
    ])
}

/// Payments of the run. `sent` maps every out_trade_no a notify was sent for to its
/// transaction_id; `acknowledged` holds those answered SUCCESS at least once; `registrations` are
/// the run's registration ids.
pub(crate) async fn payment_checks(
    pool: &AnyPool,
    exam_id: i64,
    sent: &HashMap<String, String>,
    acknowledged: &HashSet<String>,
    registrations: &HashSet<i64>,
) -> Result<Vec<Check>> {
    let rows = sqlx::query(
        "SELECT o.registration_id, o.out_trade_no, o.status, o.transaction_id \
         FROM orders o JOIN registrations r ON r.id = o.registration_id WHERE r.exam_id = $1",
    )
    .bind(exam_id)
    .fetch_all(pool)
    .await
    .context("reading the exam's orders")?;
    let mut orders: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut paid_of_run = 0usize;
    let mut paid_not_sent = Vec::new();
    for row in &rows {
        let registration_id: i64 = row.try_get("registration_id")?;
        let no: String = row.try_get("out_trade_no")?;
        let status: String = row.try_get("status")?;
        let txid: Option<String> = row.try_get("transaction_id")?;
        if registrations.contains(&registration_id) && status == "paid" {
            paid_of_run += 1;
            if !sent.contains_key(&no) {
                paid_not_sent.push(no.clone());
            }
        }
        orders.insert(no, (status, txid));
    }
    let mut wrong = Vec::new();
    for no in acknowledged {
        match orders.get(no) {
            Some((status, Some(txid))) if status == "paid" && sent.get(no) == Some(txid) => {}
            Some((status, txid)) => wrong.push(format!("{no}: {status} {txid:?}")),
            None => wrong.push(format!("{no}: no such order")),
        }
    }
    let regs = sqlx::query("SELECT id, status FROM registrations WHERE exam_id = $1")
        .bind(exam_id)
        .fetch_all(pool)
        .await
        .context("reading the exam's registrations")?;
    let mut regs_paid = 0usize;
    for row in &regs {
        let id: i64 = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        if registrations.contains(&id) && status == "paid" {
            regs_paid += 1;
        }
    }
    let duplicates = count(
        pool,
        "SELECT COUNT(*) AS n FROM (SELECT transaction_id FROM orders WHERE transaction_id IS NOT NULL \
         GROUP BY transaction_id HAVING COUNT(*) > 1) d",
        None,
    )
    .await?;
    let sample = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
    Ok(vec![
        Check::new(
            "every acknowledged order paid with its transaction_id",
            wrong.is_empty(),
            if wrong.is_empty() {
                format!("{} orders", acknowledged.len())
            } else {
                format!("{} wrong, e.g. {}", wrong.len(), sample(&wrong))
            },
        ),
        Check::new(
            "orders paid = distinct notified orders",
            paid_of_run == acknowledged.len() && paid_not_sent.is_empty(),
            format!(
                "{paid_of_run} paid, {} acknowledged, {} notified; paid without a notify: {}",
                acknowledged.len(),
                sent.len(),
                paid_not_sent.len()
            ),
        ),
        Check::new(
            "registrations paid = orders paid",
            regs_paid == paid_of_run,
            format!("{regs_paid} registrations paid, {paid_of_run} orders paid"),
        ),
        Check::new(
            "transaction_id unique",
            duplicates == 0,
            format!("{duplicates} transaction ids on more than one order"),
        ),
    ])
}
