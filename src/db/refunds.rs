//! Refunds: the one transaction that takes a refund request (never more than what is left of the
//! payment, one row per `out_refund_no`), and the conditional transitions that follow WeChat's
//! answers, settling the registration in the same transaction.
//!
//! Registration rule: a partial refund keeps the registration `paid` and its ticket valid. The
//! refund that asks for the last of the paid amount moves it to `refunding`; when refunds of the
//! whole paid amount have succeeded it becomes `refunded`, its ticket void (seat cleared, ticket
//! version bumped) and its seat given back to the exam. If that refund fails instead, the
//! registration returns to `paid`.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit::{self, Entry};
use super::{Db, is_unique_violation};
use crate::domain::states::{OrderStatus, RefundStatus, RegistrationStatus};

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: i64,
    pub order_id: i64,
    pub out_refund_no: String,
    pub refund_fee: i64,
    pub reason: String,
    pub status: RefundStatus,
    pub refund_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub out_trade_no: String,
    pub total_fee: i64,
    pub registration_id: i64,
    pub name: String,
    pub actor: Option<String>,
}

const SELECT: &str = "SELECT f.id, f.order_id, f.out_refund_no, f.refund_fee, f.reason, f.status, \
     f.refund_id, f.created_at, f.updated_at, o.out_trade_no, o.total_fee, o.registration_id, r.name, \
     a.username AS actor FROM refunds f JOIN orders o ON o.id = f.order_id \
     JOIN registrations r ON r.id = o.registration_id LEFT JOIN admins a ON a.id = f.admin_id";

fn from_row(r: &AnyRow) -> Result<Refund, sqlx::Error> {
    Ok(Refund {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        out_refund_no: r.try_get("out_refund_no")?,
        refund_fee: r.try_get("refund_fee")?,
        reason: r.try_get("reason")?,
        status: r.try_get("status")?,
        refund_id: r.try_get("refund_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        out_trade_no: r.try_get("out_trade_no")?,
        total_fee: r.try_get("total_fee")?,
        registration_id: r.try_get("registration_id")?,
        name: r.try_get("name")?,
        actor: r.try_get("actor")?,
    })
}

async fn select_one(db: &Db, filter: &str, bind: String) -> Result<Option<Refund>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE {filter}")))
        .bind(bind)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn by_out_refund_no(db: &Db, no: &str) -> Result<Option<Refund>, sqlx::Error> {
    select_one(db, "f.out_refund_no = $1", no.to_string()).await
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<Refund>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE f.id = $1")))
        .bind(id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn for_registration(db: &Db, registration_id: i64) -> Result<Vec<Refund>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE o.registration_id = $1 ORDER BY f.id"
    )))
    .bind(registration_id)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Newest first, optionally only one status.
pub async fn page(
    db: &Db,
    status: Option<RefundStatus>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Refund>, i64), sqlx::Error> {
    let status = status.map_or("", RefundStatus::as_str);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1 = '' OR f.status = $1) ORDER BY f.id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.read)
    .await?
    .iter()
    .map(from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let total = sqlx::query("SELECT COUNT(*) AS n FROM refunds WHERE ($1 = '' OR status = $1)")
        .bind(status)
        .fetch_one(&db.read)
        .await?
        .try_get("n")?;
    Ok((rows, total))
}

/// What is left to refund of a paid order: the paid amount less every refund not failed or closed.
pub async fn remaining(db: &Db, order_id: i64) -> Result<i64, sqlx::Error> {
    let mut conn = db.read.acquire().await?;
    remaining_on(&mut conn, order_id).await
}

async fn remaining_on(conn: &mut sqlx::AnyConnection, order_id: i64) -> Result<i64, sqlx::Error> {
    let [requested, processing, success] = RefundStatus::HOLDING_MONEY;
    let row = sqlx::query(
        "SELECT COALESCE(o.paid_fee, o.total_fee) - CAST(COALESCE((SELECT SUM(f.refund_fee) FROM refunds f \
         WHERE f.order_id = o.id AND f.status IN ($2, $3, $4)), 0) AS BIGINT) AS left_fen \
         FROM orders o WHERE o.id = $1 AND o.status = $5",
    )
    .bind(order_id)
    .bind(requested)
    .bind(processing)
    .bind(success)
    .bind(OrderStatus::Paid)
    .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64, _>("left_fen")?.max(0),
        None => 0,
    })
}

pub struct NewRefund<'a> {
    pub order_id: i64,
    pub out_refund_no: &'a str,
    pub refund_fee: i64,
    pub reason: &'a str,
    pub admin_id: i64,
    pub actor: &'a str,
    /// Who will send it to WeChat first; a job only takes over once this claim ends.
    pub worker: &'a str,
}

#[derive(Debug)]
pub enum RequestOutcome {
    Created(i64),
    /// The same `out_refund_no` was sent before (double click, re-sent form): nothing new.
    Existing(i64),
    TooMuch {
        remaining: i64,
    },
    NotPaid,
}

/// Takes a refund request in one transaction: the order row is locked first, so two requests for
/// one order are checked against what is left one after the other.
pub async fn request(db: &Db, new: &NewRefund<'_>, at: i64) -> Result<RequestOutcome, sqlx::Error> {
    let mut tx = db.write.begin().await?;
    // A no-op UPDATE takes the row lock on PostgreSQL (SQLite has one writer anyway).
    let locked =
        sqlx::query("UPDATE orders SET updated_at = updated_at WHERE id = $1 AND status = $2")
            .bind(new.order_id)
            .bind(OrderStatus::Paid)
            .execute(&mut *tx)
            .await?;
    if locked.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(RequestOutcome::NotPaid);
    }
    if let Some(id) = existing_id(&mut tx, new.out_refund_no).await? {
        tx.rollback().await?;
        return Ok(RequestOutcome::Existing(id));
    }
    let left = remaining_on(&mut tx, new.order_id).await?;
    if new.refund_fee <= 0 || new.refund_fee > left {
        tx.rollback().await?;
        return Ok(RequestOutcome::TooMuch { remaining: left });
    }
    let inserted = sqlx::query(
        "INSERT INTO refunds (order_id, out_refund_no, refund_fee, reason, status, admin_id, claimed_by, \
         claim_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $9, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(new.order_id)
    .bind(new.out_refund_no)
    .bind(new.refund_fee)
    .bind(new.reason)
    .bind(new.admin_id)
    .bind(new.worker)
    .bind(at + 60)
    .bind(at)
    .bind(RefundStatus::Requested)
    .fetch_one(&mut *tx)
    .await;
    let id: i64 = match inserted {
        Ok(row) => row.try_get("id")?,
        Err(e) if is_unique_violation(&e) => {
            tx.rollback().await?;
            return Ok(match by_out_refund_no(db, new.out_refund_no).await? {
                Some(r) => RequestOutcome::Existing(r.id),
                None => RequestOutcome::NotPaid,
            });
        }
        Err(e) => return Err(e),
    };
    let registration_id: i64 = sqlx::query("SELECT registration_id FROM orders WHERE id = $1")
        .bind(new.order_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("registration_id")?;
    if new.refund_fee == left {
        // The last of the money is on its way back: the registration is no longer simply paid.
        sqlx::query(
            "UPDATE registrations SET status = $3, updated_at = $2 WHERE id = $1 AND status = $4",
        )
        .bind(registration_id)
        .bind(at)
        .bind(RegistrationStatus::Refunding)
        .bind(RegistrationStatus::Paid)
        .execute(&mut *tx)
        .await?;
    }
    let entry = Entry {
        admin_id: Some(new.admin_id),
        actor: new.actor,
        action: "refund.request",
        target: format!("registration:{registration_id}"),
        amount_fen: Some(new.refund_fee),
        reason: new.reason,
        detail: format!(
            "out_refund_no={} order_id={} {}",
            new.out_refund_no,
            new.order_id,
            if new.refund_fee == left {
                "full"
            } else {
                "partial"
            }
        ),
    };
    audit::record(&mut tx, &entry, at).await?;
    tx.commit().await?;
    Ok(RequestOutcome::Created(id))
}

async fn existing_id(
    tx: &mut Transaction<'static, Any>,
    out_refund_no: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM refunds WHERE out_refund_no = $1")
        .bind(out_refund_no)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()
}

/// WeChat accepted the request; the result comes later. The claim becomes the time of the first
/// refund query.
pub async fn mark_processing(
    db: &Db,
    id: i64,
    refund_id: &str,
    at: i64,
    query_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refunds SET status = $5, refund_id = $2, updated_at = $3, claimed_by = NULL, \
         claim_until = $4 WHERE id = $1 AND status = $6",
    )
    .bind(id)
    .bind(refund_id)
    .bind(at)
    .bind(query_at)
    .bind(RefundStatus::Processing)
    .bind(RefundStatus::Requested)
    .execute(&db.write)
    .await
    .map(|_| ())
}

/// Keeps other workers off a refund until `until`; false when someone else holds it or it is final.
pub async fn claim(
    db: &Db,
    id: i64,
    worker: &str,
    at: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE refunds SET claimed_by = $2, claim_until = $4 WHERE id = $1 \
         AND status IN ($5, $6) AND (claim_until IS NULL OR claim_until < $3)",
    )
    .bind(id)
    .bind(worker)
    .bind(at)
    .bind(until)
    .bind(RefundStatus::Requested)
    .bind(RefundStatus::Processing)
    .execute(&db.write)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Refunds a job should look at: unsent or unfinished, and not held by anyone.
pub async fn due_ids(db: &Db, at: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let query = sqlx::query(
        "SELECT id FROM refunds WHERE status IN ($3, $4) \
         AND (claim_until IS NULL OR claim_until < $1) ORDER BY id LIMIT $2",
    )
    .bind(at)
    .bind(limit)
    .bind(RefundStatus::Requested)
    .bind(RefundStatus::Processing);
    super::ids(query, &db.read).await
}

/// Back to `requested` so the same out_refund_no is sent again (WeChat never saw it).
pub async fn mark_unsent(db: &Db, id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refunds SET status = $3, updated_at = $2, claimed_by = NULL, claim_until = NULL \
         WHERE id = $1 AND status = $4",
    )
    .bind(id)
    .bind(at)
    .bind(RefundStatus::Requested)
    .bind(RefundStatus::Processing)
    .execute(&db.write)
    .await
    .map(|_| ())
}

/// A final answer for a refund (`Success`, `Failed` or `Closed`), applied once: repeats of the
/// same notify, or a query after it, change nothing. Returns whether this call applied it.
pub async fn finish(
    db: &Db,
    id: i64,
    status: RefundStatus,
    refund_id: Option<&str>,
    how: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.write.begin().await?;
    let done = sqlx::query(
        "UPDATE refunds SET status = $2, refund_id = COALESCE($3, refund_id), updated_at = $4, \
         claimed_by = NULL, claim_until = NULL WHERE id = $1 AND status IN ($5, $6)",
    )
    .bind(id)
    .bind(status)
    .bind(refund_id)
    .bind(at)
    .bind(RefundStatus::Requested)
    .bind(RefundStatus::Processing)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    let row = sqlx::query(
        "SELECT f.order_id, f.refund_fee, f.out_refund_no, f.reason, o.registration_id FROM refunds f \
         JOIN orders o ON o.id = f.order_id WHERE f.id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let order_id: i64 = row.try_get("order_id")?;
    let registration_id: i64 = row.try_get("registration_id")?;
    let out_refund_no: String = row.try_get("out_refund_no")?;
    let reason: String = row.try_get("reason")?;
    let settled = settle_registration(&mut tx, order_id, registration_id, at).await?;
    let entry = Entry {
        admin_id: None,
        actor: "wechat",
        action: match status {
            RefundStatus::Success => "refund.success",
            RefundStatus::Closed => "refund.closed",
            _ => "refund.failed",
        },
        target: format!("registration:{registration_id}"),
        amount_fen: Some(row.try_get("refund_fee")?),
        reason: &reason,
        detail: format!("out_refund_no={out_refund_no} via {how}{settled}"),
    };
    audit::record(&mut tx, &entry, at).await?;
    tx.commit().await?;
    Ok(true)
}

/// After a refund became final: the registration is `refunded` once the whole paid amount came
/// back, or `paid` again when its last refund in flight failed. Returns a note for the audit.
async fn settle_registration(
    tx: &mut Transaction<'static, Any>,
    order_id: i64,
    registration_id: i64,
    at: i64,
) -> Result<&'static str, sqlx::Error> {
    let sums = sqlx::query(
        "SELECT COALESCE(o.paid_fee, o.total_fee) AS paid_fen, \
         CAST(COALESCE((SELECT SUM(refund_fee) FROM refunds WHERE order_id = o.id AND status = $2), 0) AS BIGINT) AS back, \
         (SELECT COUNT(*) FROM refunds WHERE order_id = o.id AND status IN ($3, $4)) AS in_flight \
         FROM orders o WHERE o.id = $1",
    )
    .bind(order_id)
    .bind(RefundStatus::Success)
    .bind(RefundStatus::Requested)
    .bind(RefundStatus::Processing)
    .fetch_one(&mut **tx)
    .await?;
    let paid: i64 = sums.try_get("paid_fen")?;
    let back: i64 = sums.try_get("back")?;
    let in_flight: i64 = sums.try_get("in_flight")?;
    if back >= paid {
        // Held a seat (paid or refunding): the seat goes back to the exam and the ticket is void.
        let voided = sqlx::query(
            "UPDATE registrations SET status = $3, needs_refund = 0, room_id = NULL, seat_no = NULL, \
             ticket_version = ticket_version + 1, updated_at = $2 WHERE id = $1 AND status IN ($4, $5)",
        )
        .bind(registration_id)
        .bind(at)
        .bind(RegistrationStatus::Refunded)
        .bind(RegistrationStatus::Paid)
        .bind(RegistrationStatus::Refunding)
        .execute(&mut **tx)
        .await?;
        if voided.rows_affected() == 1 {
            sqlx::query(
                "UPDATE exams SET seats_taken = seats_taken - 1, updated_at = $2 \
                 WHERE id = (SELECT exam_id FROM registrations WHERE id = $1) AND seats_taken > 0",
            )
            .bind(registration_id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
            return Ok("; registration refunded, ticket void, seat released");
        }
        // Paid after its hold ended and never seated: only the queue entry ends.
        let queued = sqlx::query(
            "UPDATE registrations SET status = $3, needs_refund = 0, updated_at = $2 \
             WHERE id = $1 AND needs_refund = 1 AND status IN ($4, $5)",
        )
        .bind(registration_id)
        .bind(at)
        .bind(RegistrationStatus::Refunded)
        .bind(RegistrationStatus::Expired)
        .bind(RegistrationStatus::Cancelled)
        .execute(&mut **tx)
        .await?;
        if queued.rows_affected() == 1 {
            return Ok("; registration refunded (was in the refund queue)");
        }
        return Ok("");
    }
    if in_flight == 0 {
        let back_to_paid = sqlx::query(
            "UPDATE registrations SET status = $3, updated_at = $2 WHERE id = $1 AND status = $4",
        )
        .bind(registration_id)
        .bind(at)
        .bind(RegistrationStatus::Paid)
        .bind(RegistrationStatus::Refunding)
        .execute(&mut **tx)
        .await?;
        if back_to_paid.rows_affected() == 1 {
            return Ok("; registration back to paid");
        }
    }
    Ok("")
}
