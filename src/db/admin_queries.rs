//! Read-only queries behind the staff pages: registration search, a registration's orders and
//! callbacks, the dashboard's figures. One SQL text for both databases; optional filters are
//! written as `($n = '' OR …)` so the text never changes with the input.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;
use super::registrations::{self, Registration};
use crate::domain::states::{
    CallbackKind, CallbackOutcome, OrderStatus, RefundStatus, RegistrationStatus,
};

/// Search within one exam: free text matches a name (part of it), or exactly an ID number, phone,
/// ticket number or out_trade_no; no `status` means any.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub exam_id: i64,
    pub text: String,
    pub status: Option<RegistrationStatus>,
}

const WHERE: &str = "r.exam_id = $1 AND ($2 = '' OR r.status = $2) AND ($3 = '' OR r.name LIKE $4 ESCAPE '\\' \
     OR r.id_number = $5 OR r.phone = $3 OR r.ticket_no = $5 \
     OR EXISTS (SELECT 1 FROM orders o WHERE o.registration_id = r.id AND o.out_trade_no = $5))";

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn bind_search<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    s: &Search,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let text = s.text.trim().to_string();
    // ID numbers end in an upper-case X and trade numbers are upper-case: accept either case.
    let upper = text.to_uppercase();
    query
        .bind(s.exam_id)
        .bind(s.status.map_or("", RegistrationStatus::as_str))
        .bind(text.clone())
        .bind(like_pattern(&text))
        .bind(upper)
}

pub async fn search(
    db: &Db,
    s: &Search,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Registration>, i64), sqlx::Error> {
    let select = registrations::SELECT;
    let sql = format!("{select} WHERE {WHERE} ORDER BY r.id DESC LIMIT $6 OFFSET $7");
    let rows = bind_search(sqlx::query(sqlx::AssertSqlSafe(sql)), s)
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(registrations::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let count_sql = format!("SELECT COUNT(*) AS n FROM registrations r WHERE {WHERE}");
    let total = bind_search(sqlx::query(sqlx::AssertSqlSafe(count_sql)), s)
        .fetch_one(&db.read)
        .await?
        .try_get("n")?;
    Ok((rows, total))
}

/// One row of the CSV export: the registration and its paid order, if any.
pub struct ExportRow {
    pub registration: Registration,
    pub out_trade_no: Option<String>,
    pub paid_fee: Option<i64>,
}

pub async fn export(db: &Db, s: &Search, limit: i64) -> Result<Vec<ExportRow>, sqlx::Error> {
    let select = registrations::SELECT.replacen(
        " FROM registrations r",
        ", (SELECT o.out_trade_no FROM orders o WHERE o.registration_id = r.id AND o.status = $7 \
         ORDER BY o.id DESC LIMIT 1) AS paid_trade_no, \
         (SELECT o.paid_fee FROM orders o WHERE o.registration_id = r.id AND o.status = $7 \
         ORDER BY o.id DESC LIMIT 1) AS paid_fee FROM registrations r",
        1,
    );
    let sql = format!("{select} WHERE {WHERE} ORDER BY r.id LIMIT $6");
    bind_search(sqlx::query(sqlx::AssertSqlSafe(sql)), s)
        .bind(limit)
        .bind(OrderStatus::Paid)
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(|r| {
            Ok(ExportRow {
                registration: registrations::from_row(r)?,
                out_trade_no: r.try_get("paid_trade_no")?,
                paid_fee: r.try_get("paid_fee")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct OrderView {
    pub id: i64,
    pub out_trade_no: String,
    pub total_fee: i64,
    pub status: OrderStatus,
    pub prepay_id: Option<String>,
    pub prepay_expires_at: Option<i64>,
    pub transaction_id: Option<String>,
    pub paid_fee: Option<i64>,
    pub paid_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
}

fn order_from_row(r: &AnyRow) -> Result<OrderView, sqlx::Error> {
    Ok(OrderView {
        id: r.try_get("id")?,
        out_trade_no: r.try_get("out_trade_no")?,
        total_fee: r.try_get("total_fee")?,
        status: r.try_get("status")?,
        prepay_id: r.try_get("prepay_id")?,
        prepay_expires_at: r.try_get("prepay_expires_at")?,
        transaction_id: r.try_get("transaction_id")?,
        paid_fee: r.try_get("paid_fee")?,
        paid_at: r.try_get("paid_at")?,
        closed_at: r.try_get("closed_at")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn orders_of(db: &Db, registration_id: i64) -> Result<Vec<OrderView>, sqlx::Error> {
    sqlx::query(
        "SELECT id, out_trade_no, total_fee, status, prepay_id, prepay_expires_at, transaction_id, paid_fee, \
         paid_at, closed_at, created_at FROM orders WHERE registration_id = $1 ORDER BY id",
    )
    .bind(registration_id)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(order_from_row)
    .collect()
}

pub async fn order(db: &Db, id: i64) -> Result<Option<(OrderView, i64)>, sqlx::Error> {
    sqlx::query(
        "SELECT id, out_trade_no, total_fee, status, prepay_id, prepay_expires_at, transaction_id, paid_fee, \
         paid_at, closed_at, created_at, registration_id FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.read)
    .await?
    .map(|r| Ok((order_from_row(&r)?, r.try_get("registration_id")?)))
    .transpose()
}

#[derive(Debug, Clone)]
pub struct Callback {
    pub id: i64,
    pub kind: CallbackKind,
    pub received_at: i64,
    pub out_trade_no: Option<String>,
    pub body: String,
    pub outcome: CallbackOutcome,
}

pub async fn callbacks_of(db: &Db, out_trade_nos: &[String]) -> Result<Vec<Callback>, sqlx::Error> {
    let mut all = Vec::new();
    for no in out_trade_nos {
        let rows = sqlx::query(
            "SELECT id, kind, received_at, out_trade_no, body, outcome FROM wechat_callbacks \
             WHERE out_trade_no = $1 ORDER BY id",
        )
        .bind(no)
        .fetch_all(&db.read)
        .await?;
        for r in rows {
            all.push(Callback {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                received_at: r.try_get("received_at")?,
                out_trade_no: r.try_get("out_trade_no")?,
                body: r.try_get("body")?,
                outcome: r.try_get("outcome")?,
            });
        }
    }
    Ok(all)
}

pub async fn photo(
    db: &Db,
    registration_id: i64,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query("SELECT content_type, bytes FROM photos WHERE registration_id = $1")
        .bind(registration_id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| Ok((r.try_get("content_type")?, r.try_get("bytes")?)))
        .transpose()
}

pub async fn has_photo(db: &Db, registration_id: i64) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM photos WHERE registration_id = $1")
        .bind(registration_id)
        .fetch_one(&db.read)
        .await?
        .try_get("n")?;
    Ok(n > 0)
}

/// Paid registrations that could not be seated (paid after their hold ended, no seat left).
pub async fn refund_queue(db: &Db) -> Result<Vec<Registration>, sqlx::Error> {
    let sql = format!(
        "{} WHERE r.needs_refund = 1 ORDER BY r.id",
        registrations::SELECT
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(registrations::from_row)
        .collect()
}

/// Registrations of one exam and status.
pub struct StatusCount {
    pub exam_id: i64,
    pub status: RegistrationStatus,
    pub n: i64,
}

pub async fn status_counts(db: &Db) -> Result<Vec<StatusCount>, sqlx::Error> {
    sqlx::query("SELECT exam_id, status, COUNT(*) AS n FROM registrations GROUP BY exam_id, status")
        .fetch_all(&db.read)
        .await?
        .iter()
        .map(|r| {
            Ok(StatusCount {
                exam_id: r.try_get("exam_id")?,
                status: r.try_get("status")?,
                n: r.try_get("n")?,
            })
        })
        .collect()
}

/// Money per exam: received (paid orders) and given back (successful refunds), in fen.
pub struct Money {
    pub exam_id: i64,
    pub paid: i64,
    pub refunded: i64,
}

pub async fn money_per_exam(db: &Db) -> Result<Vec<Money>, sqlx::Error> {
    sqlx::query(
        "SELECT e.id AS exam_id, \
         CAST(COALESCE((SELECT SUM(COALESCE(o.paid_fee, o.total_fee)) FROM orders o JOIN registrations r \
           ON r.id = o.registration_id WHERE r.exam_id = e.id AND o.status = $1), 0) AS BIGINT) AS paid_fen, \
         CAST(COALESCE((SELECT SUM(f.refund_fee) FROM refunds f JOIN orders o ON o.id = f.order_id \
           JOIN registrations r ON r.id = o.registration_id WHERE r.exam_id = e.id AND f.status = $2), 0) \
           AS BIGINT) AS refunded_fen FROM exams e",
    )
    .bind(OrderStatus::Paid)
    .bind(RefundStatus::Success)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| {
        Ok(Money {
            exam_id: r.try_get("exam_id")?,
            paid: r.try_get("paid_fen")?,
            refunded: r.try_get("refunded_fen")?,
        })
    })
    .collect()
}

/// Refunds per status: how many and how much.
pub async fn refund_totals(db: &Db) -> Result<Vec<(RefundStatus, i64, i64)>, sqlx::Error> {
    sqlx::query(
        "SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(refund_fee), 0) AS BIGINT) AS fen FROM refunds GROUP BY status",
    )
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("status")?, r.try_get("n")?, r.try_get("fen")?)))
    .collect()
}

/// Registrations created per China-time day since `since`: (day number since the epoch, count).
pub async fn per_day(db: &Db, since: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query(
        "SELECT (created_at + 28800) / 86400 AS day, COUNT(*) AS n FROM registrations \
         WHERE created_at >= $1 GROUP BY (created_at + 28800) / 86400 ORDER BY 1",
    )
    .bind(since)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("day")?, r.try_get("n")?)))
    .collect()
}
