//! Daily reconciliations and what they found. A day is claimed by one conditional upsert, so two
//! instances (or the job and a staff re-run) never compare the same day at once.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use crate::domain::states::{BillCheckState, BillDifference, OrderStatus, RefundStatus};

/// A payment as we recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurPayment {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub paid_fen: i64,
    pub registration_id: i64,
}

/// A refund WeChat confirmed to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurRefund {
    pub out_refund_no: String,
    pub out_trade_no: String,
    pub refund_fen: i64,
    pub registration_id: i64,
}

/// Claims the day for `worker` until `until`; `force` also takes a day already finished (a
/// re-run), never one another instance is working on now. False when not claimed.
pub async fn claim(
    db: &Db,
    date: &str,
    worker: &str,
    at: i64,
    until: i64,
    force: bool,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO bill_checks (bill_date, state, claimed_by, claim_until, started_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (bill_date) DO UPDATE SET state = excluded.state, claimed_by = excluded.claimed_by, \
         claim_until = excluded.claim_until, started_at = excluded.started_at \
         WHERE (bill_checks.state <> $2 OR bill_checks.claim_until < $5) \
         AND ($6 = 1 OR bill_checks.state IN ($7, $8, $2))",
    )
    .bind(date)
    .bind(BillCheckState::Running)
    .bind(worker)
    .bind(until)
    .bind(at)
    .bind(i64::from(force))
    .bind(BillCheckState::NoBill)
    .bind(BillCheckState::Failed)
    .execute(&db.write)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Payments recorded between `from` and `to` (Unix seconds, end excluded).
pub async fn our_payments(db: &Db, from: i64, to: i64) -> Result<Vec<OurPayment>, sqlx::Error> {
    sqlx::query(
        "SELECT out_trade_no, transaction_id, paid_fee, registration_id FROM orders \
         WHERE status = $1 AND paid_at >= $2 AND paid_at < $3 ORDER BY out_trade_no",
    )
    .bind(OrderStatus::Paid)
    .bind(from)
    .bind(to)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| {
        Ok(OurPayment {
            out_trade_no: r.try_get("out_trade_no")?,
            transaction_id: r
                .try_get::<Option<String>, _>("transaction_id")?
                .unwrap_or_default(),
            paid_fen: r.try_get::<Option<i64>, _>("paid_fee")?.unwrap_or_default(),
            registration_id: r.try_get("registration_id")?,
        })
    })
    .collect()
}

/// Refunds that succeeded between `from` and `to`.
pub async fn our_refunds(db: &Db, from: i64, to: i64) -> Result<Vec<OurRefund>, sqlx::Error> {
    sqlx::query(
        "SELECT f.out_refund_no, o.out_trade_no, f.refund_fee, o.registration_id FROM refunds f \
         JOIN orders o ON o.id = f.order_id WHERE f.status = $1 AND f.updated_at >= $2 AND f.updated_at < $3 \
         ORDER BY f.out_refund_no",
    )
    .bind(RefundStatus::Success)
    .bind(from)
    .bind(to)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| {
        Ok(OurRefund {
            out_refund_no: r.try_get("out_refund_no")?,
            out_trade_no: r.try_get("out_trade_no")?,
            refund_fen: r.try_get("refund_fee")?,
            registration_id: r.try_get("registration_id")?,
        })
    })
    .collect()
}

/// One finding, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: BillDifference,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub registration_id: Option<i64>,
    pub ours_fen: Option<i64>,
    pub bill_fen: Option<i64>,
    pub detail: String,
}

/// Both sides' totals of a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub our_count: i64,
    pub our_paid_fen: i64,
    pub our_refund_fen: i64,
    pub bill_count: i64,
    pub bill_paid_fen: i64,
    pub bill_refund_fen: i64,
    pub bill_charge_milli_fen: i64,
}

/// How a run of a day ended.
pub struct Outcome<'a> {
    pub state: BillCheckState,
    pub totals: Totals,
    /// The bill as WeChat sent it, when there was one.
    pub bill: Option<&'a str>,
    /// Why the bill could not be had.
    pub error: &'a str,
}

/// A day's outcome, all at once: its state and totals, the raw bill, and its findings (which
/// replace those of an earlier run).
pub async fn finish(
    db: &Db,
    date: &str,
    outcome: &Outcome<'_>,
    findings: &[Finding],
    at: i64,
) -> Result<(), sqlx::Error> {
    let totals = &outcome.totals;
    let mut tx = db.write.begin().await?;
    sqlx::query("DELETE FROM bill_differences WHERE bill_date = $1")
        .bind(date)
        .execute(&mut *tx)
        .await?;
    for f in findings {
        sqlx::query(
            "INSERT INTO bill_differences (bill_date, kind, out_trade_no, out_refund_no, registration_id, \
             ours_fen, bill_fen, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(date)
        .bind(f.kind)
        .bind(&f.out_trade_no)
        .bind(&f.out_refund_no)
        .bind(f.registration_id)
        .bind(f.ours_fen)
        .bind(f.bill_fen)
        .bind(&f.detail)
        .execute(&mut *tx)
        .await?;
    }
    let late = findings
        .iter()
        .filter(|f| f.kind == BillDifference::RecordedLate)
        .count() as i64;
    sqlx::query(
        "UPDATE bill_checks SET state = $2, claimed_by = NULL, claim_until = NULL, bill = $3, \
         our_count = $4, our_paid_fen = $5, our_refund_fen = $6, bill_count = $7, bill_paid_fen = $8, \
         bill_refund_fen = $9, bill_charge_milli_fen = $10, differences = $11, recorded_late = $12, \
         error = $13, finished_at = $14 WHERE bill_date = $1",
    )
    .bind(date)
    .bind(outcome.state)
    .bind(outcome.bill)
    .bind(totals.our_count)
    .bind(totals.our_paid_fen)
    .bind(totals.our_refund_fen)
    .bind(totals.bill_count)
    .bind(totals.bill_paid_fen)
    .bind(totals.bill_refund_fen)
    .bind(totals.bill_charge_milli_fen)
    .bind(findings.len() as i64 - late)
    .bind(late)
    .bind(outcome.error)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// A day as the 对账 page lists it.
#[derive(Debug, Clone)]
pub struct Day {
    pub bill_date: String,
    pub state: BillCheckState,
    pub totals: Totals,
    pub differences: i64,
    pub recorded_late: i64,
    pub error: String,
    pub finished_at: Option<i64>,
}

const DAY_COLUMNS: &str = "bill_date, state, our_count, our_paid_fen, our_refund_fen, bill_count, \
     bill_paid_fen, bill_refund_fen, bill_charge_milli_fen, differences, recorded_late, error, finished_at";

fn day(r: &AnyRow) -> Result<Day, sqlx::Error> {
    Ok(Day {
        bill_date: r.try_get("bill_date")?,
        state: r.try_get("state")?,
        totals: Totals {
            our_count: r.try_get("our_count")?,
            our_paid_fen: r.try_get("our_paid_fen")?,
            our_refund_fen: r.try_get("our_refund_fen")?,
            bill_count: r.try_get("bill_count")?,
            bill_paid_fen: r.try_get("bill_paid_fen")?,
            bill_refund_fen: r.try_get("bill_refund_fen")?,
            bill_charge_milli_fen: r.try_get("bill_charge_milli_fen")?,
        },
        differences: r.try_get("differences")?,
        recorded_late: r.try_get("recorded_late")?,
        error: r.try_get("error")?,
        finished_at: r.try_get("finished_at")?,
    })
}

pub async fn get(db: &Db, date: &str) -> Result<Option<Day>, sqlx::Error> {
    let sql = format!("SELECT {DAY_COLUMNS} FROM bill_checks WHERE bill_date = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(date)
        .fetch_optional(&db.read)
        .await?
        .map(|r| day(&r))
        .transpose()
}

/// The latest days first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Day>, sqlx::Error> {
    let sql = format!("SELECT {DAY_COLUMNS} FROM bill_checks ORDER BY bill_date DESC LIMIT $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(day)
        .collect()
}

pub async fn findings(db: &Db, date: &str) -> Result<Vec<Finding>, sqlx::Error> {
    sqlx::query(
        "SELECT kind, out_trade_no, out_refund_no, registration_id, ours_fen, bill_fen, detail \
         FROM bill_differences WHERE bill_date = $1 ORDER BY id",
    )
    .bind(date)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| {
        Ok(Finding {
            kind: r.try_get("kind")?,
            out_trade_no: r.try_get("out_trade_no")?,
            out_refund_no: r.try_get("out_refund_no")?,
            registration_id: r.try_get("registration_id")?,
            ours_fen: r.try_get("ours_fen")?,
            bill_fen: r.try_get("bill_fen")?,
            detail: r.try_get("detail")?,
        })
    })
    .collect()
}
