//! Orders (one WeChat out_trade_no each) and the one transaction that records a payment.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, is_unique_violation};
use crate::domain::states::{CallbackKind, CallbackOutcome, Flag, OrderStatus, RegistrationStatus};
use wechat_pay_v2::SignType;

#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub registration_id: i64,
    pub out_trade_no: String,
    pub total_fee: i64,
    pub sign_type: SignType,
    pub status: OrderStatus,
    pub prepay_id: Option<String>,
    pub prepay_expires_at: Option<i64>,
    pub transaction_id: Option<String>,
    pub created_at: i64,
    /// Set when a cancellation came before WeChat lets the order be closed: the jobs close it
    /// from then on.
    pub close_after: Option<i64>,
}

const COLUMNS: &str = "id, registration_id, out_trade_no, total_fee, sign_type, status, prepay_id, \
     prepay_expires_at, transaction_id, created_at, close_after";

fn from_row(row: &AnyRow) -> Result<Order, sqlx::Error> {
    Ok(Order {
        id: row.try_get("id")?,
        registration_id: row.try_get("registration_id")?,
        out_trade_no: row.try_get("out_trade_no")?,
        total_fee: row.try_get("total_fee")?,
        sign_type: super::states::sign_type(row, "sign_type")?,
        status: row.try_get("status")?,
        prepay_id: row.try_get("prepay_id")?,
        prepay_expires_at: row.try_get("prepay_expires_at")?,
        transaction_id: row.try_get("transaction_id")?,
        created_at: row.try_get("created_at")?,
        close_after: row.try_get("close_after")?,
    })
}

async fn one(db: &Db, filter: &str, bind: impl ToString) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE {filter}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(bind.to_string())
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn open_for_registration(
    db: &Db,
    registration_id: i64,
) -> Result<Option<Order>, sqlx::Error> {
    // Literal states: the partial unique index of open orders is the one index on registration_id.
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE registration_id = $1 AND status IN ('created', 'prepaid')"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(registration_id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn by_out_trade_no(db: &Db, out_trade_no: &str) -> Result<Option<Order>, sqlx::Error> {
    one(db, "out_trade_no = $1", out_trade_no).await
}

/// The orders of many notifies at once, on the caller's connection (the payment writer's), keyed
/// by out_trade_no; numbers with no order are left out.
pub async fn by_out_trade_nos(
    conn: &mut AnyConnection,
    out_trade_nos: &[&str],
) -> Result<std::collections::HashMap<String, Order>, sqlx::Error> {
    let mut found = std::collections::HashMap::with_capacity(out_trade_nos.len());
    for chunk in out_trade_nos.chunks(100) {
        let list = super::payment_batch::list(super::payment_batch::padded(chunk).count());
        let sql = format!("SELECT {COLUMNS} FROM orders WHERE out_trade_no IN ({list})");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for no in super::payment_batch::padded(chunk) {
            q = q.bind(*no);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let order = from_row(&row)?;
            found.insert(order.out_trade_no.clone(), order);
        }
    }
    Ok(found)
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.read)
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// Creates the registration's open order; `None` when another request created one first.
pub async fn insert(
    db: &Db,
    registration_id: i64,
    out_trade_no: &str,
    total_fee: i64,
    sign_type: SignType,
    at: i64,
) -> Result<Option<Order>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO orders (registration_id, out_trade_no, total_fee, sign_type, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(registration_id)
    .bind(out_trade_no)
    .bind(total_fee)
    .bind(sign_type.as_str())
    .bind(OrderStatus::Created)
    .bind(at)
    .fetch_one(&db.write)
    .await;
    match inserted {
        Ok(row) => by_id(db, row.try_get("id")?).await,
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Keeps the prepay_id WeChat gave, and lengthens the registration's hold to the order's lifetime.
pub async fn set_prepay(
    db: &Db,
    order: &Order,
    prepay_id: &str,
    prepay_expires_at: i64,
    hold_until: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.write.begin().await?;
    sqlx::query(
        "UPDATE orders SET status = $5, prepay_id = $2, prepay_expires_at = $3, updated_at = $4 \
         WHERE id = $1 AND status IN ($6, $5)",
    )
    .bind(order.id)
    .bind(prepay_id)
    .bind(prepay_expires_at)
    .bind(at)
    .bind(OrderStatus::Prepaid)
    .bind(OrderStatus::Created)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE registrations SET hold_expires_at = $2, updated_at = $3 \
         WHERE id = $1 AND status = $4 AND (hold_expires_at IS NULL OR hold_expires_at < $2)",
    )
    .bind(order.registration_id)
    .bind(hold_until)
    .bind(at)
    .bind(RegistrationStatus::PendingPayment)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Marks an order closed after WeChat closed it (or never had it).
pub async fn mark_closed(db: &Db, order_id: i64, at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE orders SET status = $3, closed_at = $2, updated_at = $2 \
         WHERE id = $1 AND status IN ($4, $5)",
    )
    .bind(order_id)
    .bind(at)
    .bind(OrderStatus::Closed)
    .bind(OrderStatus::Created)
    .bind(OrderStatus::Prepaid)
    .execute(&db.write)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Leaves an open order to the jobs, to be closed at WeChat from `from` on (it was too young to
/// close when its registration ended).
pub async fn close_later(db: &Db, order_id: i64, from: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orders SET close_after = $2, updated_at = $3 WHERE id = $1 AND status IN ($4, $5)",
    )
    .bind(order_id)
    .bind(from)
    .bind(at)
    .bind(OrderStatus::Created)
    .bind(OrderStatus::Prepaid)
    .execute(&db.write)
    .await
    .map(|_| ())
}

pub async fn mark_queried(db: &Db, order_id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET last_queried_at = $2, claimed_by = NULL, claim_until = NULL WHERE id = $1")
        .bind(order_id)
        .bind(at)
        .execute(&db.write)
        .await
        .map(|_| ())
}

/// Claims an order for one background worker until `until`: two instances never both win.
pub async fn claim(
    db: &Db,
    order_id: i64,
    worker: &str,
    at: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE orders SET claimed_by = $2, claim_until = $4 \
         WHERE id = $1 AND status IN ($5, $6) AND (claim_until IS NULL OR claim_until < $3)",
    )
    .bind(order_id)
    .bind(worker)
    .bind(at)
    .bind(until)
    .bind(OrderStatus::Created)
    .bind(OrderStatus::Prepaid)
    .execute(&db.write)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn release_claim(db: &Db, order_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET claimed_by = NULL, claim_until = NULL WHERE id = $1")
        .bind(order_id)
        .execute(&db.write)
        .await
        .map(|_| ())
}

/// Open orders whose registration's hold has ended, oldest first: the job queries them and
/// closes those still unpaid.
pub async fn hold_ended_ids(db: &Db, at: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    open_ids(
        db,
        "r.hold_expires_at <= $1 AND o.close_after IS NULL",
        at,
        limit,
    )
    .await
}

/// Open orders left to be closed later whose time has come, oldest first.
pub async fn close_due_ids(db: &Db, at: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    open_ids(db, "o.close_after <= $1", at, limit).await
}

/// Prepaid orders within their hold whose notify is `overdue` seconds late and that were not
/// queried in the last `every` seconds, oldest first: the job asks WeChat about them.
pub async fn unanswered_ids(
    db: &Db,
    at: i64,
    overdue: i64,
    every: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let filter = format!(
        "o.status = 'prepaid' AND r.hold_expires_at > $1 AND o.created_at <= $1 - {overdue} \
         AND (o.last_queried_at IS NULL OR o.last_queried_at <= $1 - {every})"
    );
    open_ids(db, &filter, at, limit).await
}

/// Ids of open orders matching a job's filter, oldest first. The open statuses stay literals:
/// the order's (status, created_at) index and the partial one are matched by them.
async fn open_ids(db: &Db, filter: &str, at: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT o.id FROM orders o JOIN registrations r ON r.id = o.registration_id \
         WHERE o.status IN ('created', 'prepaid') AND (o.claim_until IS NULL OR o.claim_until < $1) AND {filter} \
         ORDER BY o.created_at LIMIT $2"
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at).bind(limit);
    super::ids(query, &db.read).await
}

/// What recording a payment did, and whether the seat was given in the same commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub outcome: PaymentOutcome,
    pub seated: bool,
}

/// What recording a payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// First time: order and registration are now paid.
    Recorded,
    /// The same payment again (a repeated notify, or a query after the notify).
    AlreadyRecorded,
    /// Paid after the hold had ended: the registration got its seat back.
    RecordedAfterExpiry,
    /// Paid after the hold had ended and no seat was left: recorded, and queued for a refund.
    RecordedNeedsRefund,
    /// The order was already paid by another transaction: nothing changed.
    ConflictingTransaction,
}

/// Records a payment WeChat confirmed, in one transaction of its own.
pub async fn record_payment(
    db: &Db,
    order: &Order,
    transaction_id: &str,
    paid_fee: i64,
    at: i64,
) -> Result<Applied, sqlx::Error> {
    let mut tx = db.write.begin().await?;
    let applied = apply_payment(&mut tx, order, transaction_id, paid_fee, at).await?;
    tx.commit().await?;
    Ok(applied)
}

/// Records a payment inside the caller's transaction: [`mark_paid`], then [`finish_late`] for a
/// registration whose hold had ended, then the seat.
pub async fn apply_payment(
    conn: &mut AnyConnection,
    order: &Order,
    transaction_id: &str,
    paid_fee: i64,
    at: i64,
) -> Result<Applied, sqlx::Error> {
    let (outcome, exam) = match mark_paid(conn, order, transaction_id, paid_fee, at).await? {
        Marked::Finished(outcome) => {
            return Ok(Applied {
                outcome,
                seated: false,
            });
        }
        Marked::Paid { exam_id, code } => (PaymentOutcome::Recorded, Some((exam_id, code))),
        Marked::Late => (finish_late(conn, order, at).await?, None),
    };
    let seated = needs_seat(&outcome)
        && super::seating::seat_in_transaction(conn, order.registration_id, exam, at).await?;
    Ok(Applied { outcome, seated })
}

/// What the first step of recording a payment found.
pub enum Marked {
    /// Nothing more to do: a repeat, or a conflicting transaction.
    Finished(PaymentOutcome),
    /// Order and waiting registration are paid; the exam is what the seat step needs.
    Paid { exam_id: i64, code: String },
    /// The order is paid but its registration's hold had ended: see [`finish_late`].
    Late,
}

pub fn needs_seat(outcome: &PaymentOutcome) -> bool {
    matches!(
        outcome,
        PaymentOutcome::Recorded | PaymentOutcome::RecordedAfterExpiry
    )
}

/// The order, and its registration if it still waits, marked paid. One conditional UPDATE of the
/// order decides who records the payment, so repeats — sequential, concurrent, or in the same
/// batch — change nothing. It locks only the order's and the registration's rows; the shared
/// rows (the exam's seat count, the rooms' counters) come in later steps, so that batches which
/// lock orders in id order first can never wait on each other in a circle.
/// No statement here can fail on a constraint (each guards itself with a condition), so many
/// payments can share one transaction and one commit without savepoints.
pub async fn mark_paid(
    conn: &mut AnyConnection,
    order: &Order,
    transaction_id: &str,
    paid_fee: i64,
    at: i64,
) -> Result<Marked, sqlx::Error> {
    // The payment path keeps its states literal (see `db::states`).
    let won = sqlx::query(
        "UPDATE orders SET status = 'paid', transaction_id = $2, paid_fee = $3, paid_at = $4, updated_at = $4, \
         claimed_by = NULL, claim_until = NULL WHERE id = $1 AND status IN ('created', 'prepaid', 'closed') \
         AND NOT EXISTS (SELECT 1 FROM orders other WHERE other.transaction_id = $2)",
    )
    .bind(order.id)
    .bind(transaction_id)
    .bind(paid_fee)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !won {
        let existing: Option<String> =
            sqlx::query("SELECT transaction_id FROM orders WHERE id = $1")
                .bind(order.id)
                .fetch_one(&mut *conn)
                .await?
                .try_get("transaction_id")?;
        return Ok(Marked::Finished(
            if existing.as_deref() == Some(transaction_id) {
                PaymentOutcome::AlreadyRecorded
            } else {
                // Either the order was paid by another transaction, or this transaction_id already
                // paid another order: WeChat never does either, so nothing is recorded.
                PaymentOutcome::ConflictingTransaction
            },
        ));
    }
    // RETURNING hands the seat step what it needs without another round trip.
    let paid = sqlx::query(
        "UPDATE registrations SET status = 'paid', paid_at = $2, updated_at = $2 \
         WHERE id = $1 AND status = 'pending_payment' \
         RETURNING exam_id, (SELECT code FROM exams WHERE exams.id = registrations.exam_id) AS code",
    )
    .bind(order.registration_id)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match paid {
        Some(row) => Marked::Paid {
            exam_id: row.try_get("exam_id")?,
            code: row.try_get("code")?,
        },
        None => Marked::Late,
    })
}

/// The second step for a payment that came after its registration's hold had ended.
pub async fn finish_late(
    conn: &mut AnyConnection,
    order: &Order,
    at: i64,
) -> Result<PaymentOutcome, sqlx::Error> {
    reinstate_or_queue_refund(conn, order.registration_id, at).await
}

/// A payment for a registration whose hold had ended: give the seat back if one is left and no
/// newer live registration of the same candidate or ID number stands in the way; otherwise flag
/// it for a refund. The seat is taken first (the conditional UPDATE locks the exam's row) and
/// handed back if the registration cannot be reinstated, so no statement can break a constraint.
/// A registration the candidate cancelled is never reinstated: its payment waits for a refund.
async fn reinstate_or_queue_refund(
    conn: &mut AnyConnection,
    registration_id: i64,
    at: i64,
) -> Result<PaymentOutcome, sqlx::Error> {
    let cancelled = sqlx::query(
        "UPDATE registrations SET needs_refund = 1, updated_at = $2, flags = flags || $3 \
         WHERE id = $1 AND status = 'cancelled'",
    )
    .bind(registration_id)
    .bind(at)
    .bind(Flag::appended(&[Flag::PaidAfterCancel]))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if cancelled {
        tracing::warn!(
            registration_id,
            "payment after the candidate cancelled: queued for refund"
        );
        return Ok(PaymentOutcome::RecordedNeedsRefund);
    }
    let seat = sqlx::query(
        "UPDATE exams SET seats_taken = seats_taken + 1, updated_at = $2 \
         WHERE id = (SELECT exam_id FROM registrations WHERE id = $1) AND seats_taken < capacity",
    )
    .bind(registration_id)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if seat {
        let back = sqlx::query(
            "UPDATE registrations SET status = 'paid', paid_at = $2, updated_at = $2, \
             flags = flags || $3 \
             WHERE id = $1 AND status = 'expired' \
             AND NOT EXISTS (SELECT 1 FROM registrations live WHERE live.exam_id = registrations.exam_id \
                 AND live.id <> registrations.id AND live.status IN ('under_review', 'pending_payment', 'paid', 'refunding') \
                 AND (live.candidate_id = registrations.candidate_id OR live.id_number = registrations.id_number))",
        )
        .bind(registration_id)
        .bind(at)
        .bind(Flag::appended(&[Flag::PaidAfterExpiry]))
        .execute(&mut *conn)
        .await?;
        if back.rows_affected() == 1 {
            return Ok(PaymentOutcome::RecordedAfterExpiry);
        }
        sqlx::query(
            "UPDATE exams SET seats_taken = seats_taken - 1 \
             WHERE id = (SELECT exam_id FROM registrations WHERE id = $1)",
        )
        .bind(registration_id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE registrations SET needs_refund = 1, updated_at = $2, flags = flags || $3 WHERE id = $1",
    )
    .bind(registration_id)
    .bind(at)
    .bind(Flag::appended(&[Flag::PaidAfterExpiry, Flag::NoSeat]))
    .execute(&mut *conn)
    .await?;
    tracing::warn!(
        registration_id,
        "payment after the hold ended and no seat left: queued for refund"
    );
    Ok(PaymentOutcome::RecordedNeedsRefund)
}

/// Keeps every callback as received, whatever became of it.
pub async fn log_callback(
    conn: &mut AnyConnection,
    kind: CallbackKind,
    out_trade_no: Option<&str>,
    body: &str,
    outcome: &CallbackOutcome,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_callbacks (kind, received_at, out_trade_no, body, outcome) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(kind)
    .bind(at)
    .bind(out_trade_no)
    .bind(body)
    .bind(outcome)
    .execute(conn)
    .await
    .map(|_| ())
}
