//! Many payments in a few statements, for the group-commit writer (`payments::writer`). Each
//! statement here does for a whole batch what the one-row functions of [`super::orders`] and
//! [`super::seating`] do for one payment, with the same guards; a statement is a round trip to
//! the database (on SQLite, to sqlx's worker thread), and at thousands of notifies a second those
//! round trips, not the work, were what the single writer spent its time on.
//!
//! Rows go in as `VALUES` lists, whose columns both SQLite and PostgreSQL name `column1`, `column2`, …
//! States are SQL literals here, as on the one-row payment path; `db::states` tests them.
//!
//! Every statement must stay a primary-key lookup per row however stale the table statistics
//! are: in the minutes after registration opens the tables grow far faster than autovacuum
//! re-counts them, and PostgreSQL, told that no order is unpaid or that an exam has no rows,
//! chose an index on the filter instead of the key and scanned every such row per batch (measured:
//! 128 notifies/s). So a filter that an index could serve but should not is written as an
//! expression no index matches (`status || ''`, `COALESCE(room_id, 0)`), leaving the key as the
//! only way in, and the transaction plans by keys ([`plan_by_keys`]).

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row};

use super::Backend;
use crate::domain::states::{CallbackKind, CallbackOutcome};
use examdesk_tickets::number::ticket_number;

/// Rows per statement: well under SQLite's and PostgreSQL's limits on bound parameters.
const CHUNK: usize = 100;

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` columns.
fn values(rows: usize, cols: usize) -> String {
    values_from(rows, cols, 1)
}

/// `$1, $2, …` for `n` values, as `IN (…)` lists take them.
pub fn list(n: usize) -> String {
    list_from(n, 1)
}

/// As [`list`], numbering from `$first`.
pub fn list_from(n: usize, first: usize) -> String {
    values_from(n, 1, first).replace(['(', ')'], "")
}

/// The rows of a chunk, the last one repeated up to the next of a few fixed sizes. A statement's
/// text names its row count, and each new text is parsed and planned again (one more round trip
/// to PostgreSQL); with a few sizes each connection keeps them all prepared. A repeated row
/// changes nothing: an `IN` list or a joined `VALUES` row that is already there.
pub fn padded<T>(chunk: &[T]) -> impl Iterator<Item = &T> {
    let size = SIZES
        .iter()
        .copied()
        .find(|&s| s >= chunk.len())
        .unwrap_or(chunk.len());
    chunk
        .iter()
        .chain(std::iter::repeat_n(chunk.last(), size - chunk.len()).flatten())
}

const SIZES: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, CHUNK];

fn query(sql: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(sql))
}

/// A verified payment of one order, as the batch applies it.
pub struct Payment<'a> {
    pub order_id: i64,
    pub transaction_id: &'a str,
    pub fee: i64,
    pub at: i64,
}

/// On PostgreSQL, keeps this transaction's plans to index lookups joined row by row. Each batch
/// statement joins a few dozen rows to tables that are large by the time it matters; with
/// statistics from when they were small PostgreSQL chose to scan (or hash) every unseated or
/// unpaid row instead, once per batch. Turning the scan and hash strategies off for the
/// transaction leaves it nested loops over the keys, which is what every statement here means.
pub async fn plan_by_keys(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true), \
         set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), \
         set_config('enable_material', 'off', true)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// On PostgreSQL, locks the orders in id order before anything else touches them, so that two
/// instances' batches (which may share orders: WeChat's repeats go to either) queue instead of
/// deadlocking; returns the ids now locked. SQLite has one writer at a time and needs no row locks.
pub async fn lock_orders(
    conn: &mut AnyConnection,
    ids: &[i64],
    wait: bool,
) -> Result<HashSet<i64>, sqlx::Error> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    // Without `wait`, an order another transaction holds is skipped (and not returned).
    let skip = if wait { "" } else { " SKIP LOCKED" };
    let mut locked = HashSet::with_capacity(sorted.len());
    for chunk in sorted.chunks(CHUNK) {
        let mut q = query(format!(
            "SELECT id FROM orders WHERE id IN ({}) ORDER BY id FOR UPDATE{skip}",
            list(padded(chunk).count())
        ));
        for id in padded(chunk) {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            locked.insert(row.try_get::<i64, _>(0)?);
        }
    }
    Ok(locked)
}

/// Marks the orders paid where that is still to be done, with the guards of
/// [`super::orders::mark_paid`]; returns the ids of the orders this batch paid. The payments must
/// have distinct orders and distinct transaction ids (the writer sees to it).
pub async fn mark_orders_paid(
    conn: &mut AnyConnection,
    payments: &[Payment<'_>],
) -> Result<HashSet<i64>, sqlx::Error> {
    let mut won = HashSet::with_capacity(payments.len());
    for chunk in payments.chunks(CHUNK) {
        let mut q = query(format!(
            "UPDATE orders SET status = 'paid', transaction_id = v.column2, paid_fee = v.column3, \
             paid_at = v.column4, updated_at = v.column4, claimed_by = NULL, claim_until = NULL \
             FROM (VALUES {}) AS v WHERE orders.id = v.column1 \
             AND (orders.status || '') IN ('created', 'prepaid', 'closed') \
             AND NOT EXISTS (SELECT 1 FROM orders other WHERE other.transaction_id = v.column2) \
             RETURNING orders.id",
            values(padded(chunk).count(), 4)
        ));
        for p in padded(chunk) {
            q = q
                .bind(p.order_id)
                .bind(p.transaction_id)
                .bind(p.fee)
                .bind(p.at);
        }
        for row in q.fetch_all(&mut *conn).await? {
            won.insert(row.try_get::<i64, _>(0)?);
        }
    }
    Ok(won)
}

/// Marks paid the registrations that still wait for their payment; returns, for each one marked,
/// its exam and the exam's code (what the seat step needs). A registration left out had no hold
/// any more: its payment is late.
pub async fn mark_registrations_paid(
    conn: &mut AnyConnection,
    registrations: &[(i64, i64)],
) -> Result<HashMap<i64, (i64, String)>, sqlx::Error> {
    let mut paid = HashMap::with_capacity(registrations.len());
    for chunk in registrations.chunks(CHUNK) {
        let mut q = query(format!(
            "UPDATE registrations SET status = 'paid', paid_at = v.column2, updated_at = v.column2 \
             FROM (VALUES {}) AS v WHERE registrations.id = v.column1 \
             AND (registrations.status || '') = 'pending_payment' \
             RETURNING registrations.id, registrations.exam_id, \
             (SELECT code FROM exams WHERE exams.id = registrations.exam_id) AS code",
            values(padded(chunk).count(), 2)
        ));
        for (id, at) in padded(chunk) {
            q = q.bind(*id).bind(*at);
        }
        for row in q.fetch_all(&mut *conn).await? {
            paid.insert(
                row.try_get::<i64, _>(0)?,
                (row.try_get::<i64, _>(1)?, row.try_get::<String, _>(2)?),
            );
        }
    }
    Ok(paid)
}

/// The transaction id each order is paid with now (`None`: not paid).
pub async fn transactions_of(
    conn: &mut AnyConnection,
    order_ids: &[i64],
) -> Result<HashMap<i64, Option<String>>, sqlx::Error> {
    let mut out = HashMap::with_capacity(order_ids.len());
    for chunk in order_ids.chunks(CHUNK) {
        let mut q = query(format!(
            "SELECT id, transaction_id FROM orders WHERE id IN ({})",
            list(padded(chunk).count())
        ));
        for id in padded(chunk) {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.insert(row.try_get::<i64, _>(0)?, row.try_get(1)?);
        }
    }
    Ok(out)
}

/// Seats the registrations (all paid, of one exam) from the rooms' counters, in room order, as
/// [`super::seating::seat_in_transaction`] does one at a time; returns those seated. A registration
/// left out (counters used up, or a guard refused) is seated later by the search in
/// [`super::seating::assign`]. On PostgreSQL the exam's rooms are locked first, in room order, so
/// that concurrent batches and the one-row path take their seats one after another.
pub async fn seat_many(
    conn: &mut AnyConnection,
    backend: Backend,
    exam_id: i64,
    code: &str,
    registration_ids: &[i64],
    at: i64,
) -> Result<HashSet<i64>, sqlx::Error> {
    let rooms = sqlx::query(match backend {
        Backend::Sqlite => {
            "SELECT id, room_no, next_seat, capacity FROM exam_rooms \
             WHERE exam_id = $1 AND next_seat < capacity ORDER BY room_no"
        }
        Backend::Postgres => {
            "SELECT id, room_no, next_seat, capacity FROM exam_rooms \
             WHERE exam_id = $1 AND next_seat < capacity ORDER BY room_no FOR UPDATE"
        }
    })
    .bind(exam_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut wanted = registration_ids.iter();
    let mut seats = Vec::with_capacity(registration_ids.len());
    'rooms: for room in rooms {
        let (room_id, room_no, mut next, capacity): (i64, i64, i64, i64) = (
            room.try_get(0)?,
            room.try_get(1)?,
            room.try_get(2)?,
            room.try_get(3)?,
        );
        let before = next;
        while next < capacity {
            let Some(&registration_id) = wanted.next() else {
                break;
            };
            next += 1;
            if let Ok(number) = ticket_number(code, room_no as u16, next as u16) {
                seats.push((registration_id, room_id, next, number));
            }
        }
        if next > before {
            sqlx::query("UPDATE exam_rooms SET next_seat = $2 WHERE id = $1")
                .bind(room_id)
                .bind(next)
                .execute(&mut *conn)
                .await?;
        }
        if wanted.len() == 0 {
            break 'rooms;
        }
    }
    // A correlated subquery on PostgreSQL (`OFFSET 0` keeps it one), so that each row's ticket
    // number is a key of the (exam_id, ticket_no) index: as an anti-join the exam's statistics,
    // still those of an empty exam, had it read every paid row of the exam for each row.
    let per_row = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " OFFSET 0",
    };
    let mut seated = HashSet::with_capacity(seats.len());
    for chunk in seats.chunks(CHUNK) {
        let mut q = query(format!(
            "UPDATE registrations SET room_id = v.column2, seat_no = v.column3, ticket_no = v.column4, \
             ticket_version = ticket_version + 1, updated_at = $1 \
             FROM (VALUES {}) AS v WHERE registrations.id = v.column1 \
             AND COALESCE(registrations.room_id, 0) = 0 \
             AND NOT EXISTS (SELECT 1 FROM registrations other \
                 WHERE other.room_id = v.column2 AND other.seat_no = v.column3) \
             AND NOT EXISTS (SELECT 1 FROM registrations other WHERE other.exam_id = $2 \
                 AND other.ticket_no = v.column4 AND other.status IN ('paid', 'refunding'){per_row}) \
             RETURNING registrations.id",
            values_from(padded(chunk).count(), 4, 3)
        ))
        // The exam as a parameter, not `registrations.exam_id`: the guard is then one lookup in
        // the (exam_id, ticket_no) index.
        .bind(at)
        .bind(exam_id);
        for (registration_id, room_id, seat_no, number) in padded(chunk) {
            q = q
                .bind(*registration_id)
                .bind(*room_id)
                .bind(*seat_no)
                .bind(number.as_str());
        }
        for row in q.fetch_all(&mut *conn).await? {
            seated.insert(row.try_get::<i64, _>(0)?);
        }
    }
    Ok(seated)
}

/// As [`values`], numbering from `$first`.
fn values_from(rows: usize, cols: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(first + r * cols + c).to_string());
        }
        out.push(')');
    }
    out
}

/// A callback as received, with what became of it.
pub struct Callback<'a> {
    pub out_trade_no: Option<&'a str>,
    pub body: &'a str,
    pub outcome: CallbackOutcome,
    pub at: i64,
}

/// Keeps the batch's payment callbacks, as [`super::orders::log_callback`] does one.
pub async fn log_pay_callbacks(
    conn: &mut AnyConnection,
    backend: Backend,
    callbacks: &[Callback<'_>],
) -> Result<(), sqlx::Error> {
    let limit = match backend {
        Backend::Sqlite => usize::MAX,
        Backend::Postgres => POSTGRES_MESSAGE_BYTES,
    };
    for chunk in by_size(callbacks, limit) {
        let mut q = query(format!(
            "INSERT INTO wechat_callbacks (kind, received_at, out_trade_no, body, outcome) VALUES {}",
            values(chunk.len(), 5)
        ));
        for c in chunk {
            q = q
                .bind(CallbackKind::Pay)
                .bind(c.at)
                .bind(c.out_trade_no)
                .bind(c.body)
                .bind(&c.outcome);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Largest statement sent to PostgreSQL at once, roughly. sqlx 0.9.0 leaves Nagle's algorithm on
/// (its issue 4335): a message larger than the socket's send buffer goes out in two writes, and
/// the second waits for PostgreSQL's delayed acknowledgement, 40 ms. A batch's raw callbacks
/// (≈ 800 bytes each) in one statement cost a batch 44 ms that way (measured: 53 ms for 63
/// notifies, 7 ms for 6); in statements under this size they cost 0.3 ms each.
const POSTGRES_MESSAGE_BYTES: usize = 8 * 1024;

/// The callbacks in consecutive runs of at most [`CHUNK`] rows whose bodies add up to at most
/// `limit` bytes (a longer body alone).
fn by_size<'a, 'b>(callbacks: &'a [Callback<'b>], limit: usize) -> Vec<&'a [Callback<'b>]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, c) in callbacks.iter().enumerate() {
        let size = c.body.len() + 64;
        if i > start && (i - start == CHUNK || bytes + size > limit) {
            runs.push(&callbacks[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < callbacks.len() {
        runs.push(&callbacks[start..]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_row_by_row() {
        assert_eq!(values(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_from(2, 2, 2), "($2, $3), ($4, $5)");
        assert_eq!(list(3), "$1, $2, $3");
        assert_eq!(list_from(2, 3), "$3, $4");
    }

    #[test]
    fn chunks_are_padded_to_a_few_sizes_with_their_last_row() {
        let rows = [1, 2, 3, 4, 5];
        assert_eq!(
            padded(&rows).copied().collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 5, 5, 5]
        );
        assert_eq!(padded(&rows[..1]).count(), 1);
        assert_eq!(padded(&[0u8; 0]).count(), 0);
        let full: Vec<u32> = (0..CHUNK as u32).collect();
        assert_eq!(padded(&full).count(), CHUNK);
        let many: Vec<u32> = (0..70).collect();
        assert_eq!(padded(&many).count(), CHUNK);
    }

    #[test]
    fn callbacks_go_in_statements_of_bounded_size() {
        let body = "x".repeat(900);
        let callbacks: Vec<Callback> = (0..30)
            .map(|i| Callback {
                out_trade_no: None,
                body: if i == 7 { "" } else { &body },
                outcome: CallbackOutcome::Paid,
                at: 0,
            })
            .collect();
        let runs = by_size(&callbacks, POSTGRES_MESSAGE_BYTES);
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 30);
        assert!(runs.len() >= 4, "{}", runs.len());
        for run in &runs {
            let bytes: usize = run.iter().map(|c| c.body.len() + 64).sum();
            assert!(bytes <= POSTGRES_MESSAGE_BYTES, "{bytes}");
        }
        assert_eq!(
            by_size(&callbacks, usize::MAX).len(),
            1,
            "SQLite: one statement"
        );
        let huge = "y".repeat(20_000);
        let one = [Callback {
            out_trade_no: None,
            body: &huge,
            outcome: CallbackOutcome::Paid,
            at: 0,
        }];
        assert_eq!(
            by_size(&one, POSTGRES_MESSAGE_BYTES).len(),
            1,
            "a long body alone"
        );
    }
}
