//! Many seat holds in one transaction, for the group-commit hold writer (the `holds` module). When
//! registration opens, a thousand winners each committing alone queue behind one another: on
//! SQLite behind the single writer's fsyncs, on PostgreSQL behind the exam row's lock, held until
//! each commit. Here a batch takes each exam's row once, decides every request in arrival order
//! with the same rules as [`super::registrations::hold_seat`], and commits once.
//!
//! No statement here fails on a constraint (each guards itself), so one refused request never
//! rolls back the others; a database error fails the batch and the writer retries its requests
//! one by one.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{Any, Row, Transaction};

use super::Backend;
use super::id_numbers::{self, HoldLimits};
use super::payment_batch::{list_from, padded};
use super::registrations::HoldError;
use crate::domain::states::{ExamStatus, RegistrationStatus};

/// Keys per statement when counting unpaid holds or binding ID numbers.
const CHUNK: usize = 100;

/// A registration to create with its seat held, owned so it can wait in a queue.
#[derive(Debug, Clone)]
pub struct Hold {
    pub exam_id: i64,
    pub candidate_id: i64,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub status: RegistrationStatus,
    pub hold_expires_at: Option<i64>,
    pub client_addr: Option<String>,
    pub limits: HoldLimits,
    pub at: i64,
}

impl Hold {
    pub fn as_new(&self) -> super::registrations::NewRegistration<'_> {
        super::registrations::NewRegistration {
            exam_id: self.exam_id,
            candidate_id: self.candidate_id,
            name: &self.name,
            id_number: &self.id_number,
            phone: &self.phone,
            status: self.status,
            hold_expires_at: self.hold_expires_at,
            client_addr: self.client_addr.as_deref(),
            limits: self.limits,
        }
    }
}

/// What became of one request: the registration's id, or why not. A duplicate is told apart
/// (same candidate or same ID number) after the commit, by [`super::registrations`].
#[derive(Debug)]
pub enum Verdict {
    Held(i64),
    Refused(HoldError),
    Duplicate,
}

/// Decides and writes the batch in `tx`; the caller commits. Exams are locked in id order first
/// (PostgreSQL), so that two instances' batches queue instead of deadlocking. Each step is a few
/// statements for the whole batch (a round trip each), decided in arrival order: the limits are
/// counted once and kept up to date here, ID numbers bound together, registrations inserted
/// together; a request refused on the way gives its seat to the next one waiting.
pub async fn hold_many(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    holds: &[Hold],
) -> Result<Vec<Verdict>, sqlx::Error> {
    let at = holds.iter().map(|h| h.at).max().unwrap_or_default();
    let mut seats = seats_left(tx, backend, holds, at).await?;
    let limits = holds.first().map(|h| h.limits).unwrap_or(HoldLimits {
        per_account: 0,
        per_address: 0,
    });
    let mut per_account = unpaid_counts(tx, holds, limits, Counted::Account).await?;
    let mut per_address = unpaid_counts(tx, holds, limits, Counted::Address).await?;
    let mut verdicts: Vec<Option<Verdict>> = (0..holds.len()).map(|_| None).collect();
    let mut taken: BTreeMap<i64, i64> = BTreeMap::new();
    let mut unbind_later = Vec::new();
    // A second request of one candidate, or for one ID number, in the same exam and batch is a
    // duplicate of the first, as it would be one after the other.
    let mut seen = HashSet::new();
    for (i, hold) in holds.iter().enumerate() {
        let candidate = (hold.exam_id, "c", hold.candidate_id.to_string());
        let number = (hold.exam_id, "n", hold.id_number.clone());
        let new_candidate = seen.insert(candidate);
        let new_number = seen.insert(number);
        if !new_candidate || !new_number {
            verdicts[i] = Some(Verdict::Duplicate);
        }
    }
    loop {
        // This round: the requests still undecided that a seat and the limits allow.
        let mut round = Vec::new();
        for (i, hold) in holds.iter().enumerate() {
            if verdicts[i].is_some() {
                continue;
            }
            let left = seats.entry(hold.exam_id).or_insert(0);
            if *left <= 0 {
                continue;
            }
            let account = per_account
                .entry(hold.candidate_id.to_string())
                .or_insert(0);
            let over_account = limits.per_account > 0 && *account >= i64::from(limits.per_account);
            let address = hold.client_addr.clone().unwrap_or_default();
            let by_address = per_address.entry(address).or_insert(0);
            let over_address = limits.per_address > 0
                && hold.client_addr.is_some()
                && *by_address >= i64::from(limits.per_address);
            if over_account || over_address {
                verdicts[i] = Some(Verdict::Refused(HoldError::TooManyUnpaid));
                continue;
            }
            *left -= 1;
            *account += 1;
            *by_address += 1;
            round.push(i);
        }
        if round.is_empty() {
            break;
        }
        let owners = bind_all(tx, holds, &round).await?;
        let mut insert = Vec::with_capacity(round.len());
        let mut freed = Vec::new();
        for &i in &round {
            let hold = &holds[i];
            match owners.get(hold.id_number.as_str()) {
                Some((owner, _)) if *owner == hold.candidate_id => insert.push(i),
                _ => {
                    verdicts[i] = Some(Verdict::Refused(HoldError::IdNumberOwnedElsewhere));
                    freed.push(i);
                }
            }
        }
        let ids = insert_all(tx, holds, &insert).await?;
        for &i in &insert {
            let hold = &holds[i];
            match ids.get(&(hold.exam_id, hold.candidate_id)) {
                Some(id) => {
                    verdicts[i] = Some(Verdict::Held(*id));
                    *taken.entry(hold.exam_id).or_insert(0) += 1;
                }
                None => {
                    if owners
                        .get(hold.id_number.as_str())
                        .is_some_and(|(_, new)| *new)
                    {
                        unbind_later.push(i);
                    }
                    verdicts[i] = Some(Verdict::Duplicate);
                    freed.push(i);
                }
            }
        }
        if freed.is_empty() {
            break;
        }
        for &i in &freed {
            let hold = &holds[i];
            *seats.entry(hold.exam_id).or_insert(0) += 1;
            *per_account
                .entry(hold.candidate_id.to_string())
                .or_insert(0) -= 1;
            *per_address
                .entry(hold.client_addr.clone().unwrap_or_default())
                .or_insert(0) -= 1;
        }
    }
    // As hold_seat's rollback would: a binding this batch made for a refused request goes,
    // unless another request of the batch holds a seat with it.
    for &i in &unbind_later {
        let hold = &holds[i];
        let used = holds.iter().zip(&verdicts).any(|(other, verdict)| {
            matches!(verdict, Some(Verdict::Held(_)))
                && other.id_number == hold.id_number
                && other.candidate_id == hold.candidate_id
        });
        if !used {
            id_numbers::unbind(tx, &hold.id_number, hold.candidate_id).await?;
        }
    }
    for (exam_id, taken) in &taken {
        sqlx::query(
            "UPDATE exams SET seats_taken = seats_taken + $2, updated_at = $3 \
             WHERE id = $1 AND seats_taken + $2 <= capacity",
        )
        .bind(*exam_id)
        .bind(*taken)
        .bind(at)
        .execute(&mut **tx)
        .await
        .and_then(|done| {
            // The row is ours since the batch read it (locked, or the single SQLite writer):
            // anything else is a bug that must not commit more holds than seats.
            if done.rows_affected() == 1 {
                Ok(())
            } else {
                Err(sqlx::Error::Protocol(format!(
                    "exam {exam_id}: seats changed under the hold batch"
                )))
            }
        })?;
    }
    Ok(verdicts
        .into_iter()
        .map(|v| v.unwrap_or(Verdict::Refused(HoldError::NoSeat)))
        .collect())
}

/// Seats left per exam of the batch, each exam's row locked on PostgreSQL (in id order).
async fn seats_left(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    holds: &[Hold],
    at: i64,
) -> Result<BTreeMap<i64, i64>, sqlx::Error> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let sql = format!(
        "SELECT capacity - seats_taken AS seats_left FROM exams WHERE id = $1 AND status = $2 \
         AND opens_at <= $3 AND closes_at > $3{lock}"
    );
    let mut exams: BTreeMap<i64, i64> = holds.iter().map(|h| (h.exam_id, 0)).collect();
    for (exam_id, left) in exams.iter_mut() {
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(*exam_id)
            .bind(ExamStatus::Open)
            .bind(at)
            .fetch_optional(&mut **tx)
            .await?;
        *left = match row {
            Some(row) => row.try_get("seats_left")?,
            None => 0,
        };
    }
    Ok(exams)
}

#[derive(Clone, Copy)]
enum Counted {
    Account,
    Address,
}

/// Unpaid holds (pending payment or under review) per account or per client address, for the
/// batch's accounts or addresses; empty when that limit is off.
async fn unpaid_counts(
    tx: &mut Transaction<'static, Any>,
    holds: &[Hold],
    limits: HoldLimits,
    counted: Counted,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let (keys, column, on): (Vec<String>, &str, bool) = match counted {
        Counted::Account => (
            holds.iter().map(|h| h.candidate_id.to_string()).collect(),
            "CAST(candidate_id AS TEXT)",
            limits.per_account > 0,
        ),
        Counted::Address => (
            holds.iter().filter_map(|h| h.client_addr.clone()).collect(),
            "client_addr",
            limits.per_address > 0,
        ),
    };
    let mut counts = HashMap::new();
    if !on {
        return Ok(counts);
    }
    let mut keys = keys;
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(CHUNK) {
        let filter = match counted {
            // The key column itself, so that its index serves the lookup.
            Counted::Account => "candidate_id",
            Counted::Address => "client_addr",
        };
        let sql = format!(
            "SELECT {column} AS k, COUNT(*) AS n FROM registrations WHERE {filter} IN ({}) \
             AND status IN ($1, $2) GROUP BY {filter}",
            list_from(padded(chunk).count(), 3)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(RegistrationStatus::PendingPayment)
            .bind(RegistrationStatus::UnderReview);
        for key in padded(chunk) {
            q = match counted {
                Counted::Account => q.bind(key.parse::<i64>().unwrap_or_default()),
                Counted::Address => q.bind(key.as_str()),
            };
        }
        for row in q.fetch_all(&mut **tx).await? {
            counts.insert(row.try_get::<String, _>("k")?, row.try_get::<i64, _>("n")?);
        }
    }
    Ok(counts)
}

/// Binds the requests' ID numbers to their accounts where nobody has them; returns each number's
/// owner now, and whether this batch made that binding.
async fn bind_all(
    tx: &mut Transaction<'static, Any>,
    holds: &[Hold],
    round: &[usize],
) -> Result<HashMap<String, (i64, bool)>, sqlx::Error> {
    let mut owners = HashMap::with_capacity(round.len());
    let at = round.iter().map(|&i| holds[i].at).max().unwrap_or_default();
    for chunk in round.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO id_number_owners (id_number, candidate_id, bound_at) VALUES {} \
             ON CONFLICT (id_number) DO NOTHING RETURNING id_number, candidate_id",
            rows(chunk.len(), 2, 2, "$1")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
        for &i in chunk {
            q = q
                .bind(holds[i].id_number.as_str())
                .bind(holds[i].candidate_id);
        }
        for row in q.fetch_all(&mut **tx).await? {
            owners.insert(
                row.try_get::<String, _>("id_number")?,
                (row.try_get::<i64, _>("candidate_id")?, true),
            );
        }
        let known: Vec<&str> = chunk
            .iter()
            .map(|&i| holds[i].id_number.as_str())
            .filter(|n| !owners.contains_key(*n))
            .collect();
        if known.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT id_number, candidate_id FROM id_number_owners WHERE id_number IN ({})",
            list_from(padded(&known).count(), 1)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for number in padded(&known) {
            q = q.bind(*number);
        }
        for row in q.fetch_all(&mut **tx).await? {
            owners.insert(
                row.try_get::<String, _>("id_number")?,
                (row.try_get::<i64, _>("candidate_id")?, false),
            );
        }
    }
    Ok(owners)
}

/// Registrations a statement inserts at most: its parameters stay well under the size at which
/// sqlx's messages to PostgreSQL stall (see `payment_batch`).
const INSERT_ROWS: usize = 32;

/// Inserts the registrations; returns the new ids by exam and candidate. A request left out
/// collided with a live registration of its candidate or ID number.
async fn insert_all(
    tx: &mut Transaction<'static, Any>,
    holds: &[Hold],
    insert: &[usize],
) -> Result<HashMap<(i64, i64), i64>, sqlx::Error> {
    let mut ids = HashMap::with_capacity(insert.len());
    for chunk in insert.chunks(INSERT_ROWS) {
        let sql = format!(
            "INSERT INTO registrations (exam_id, candidate_id, name, id_number, phone, status, \
             hold_expires_at, client_addr, created_at, updated_at) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING id, exam_id, candidate_id",
            rows(chunk.len(), 8, 2, "$1, $1")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(holds[chunk[0]].at);
        for &i in chunk {
            let h = &holds[i];
            q = q
                .bind(h.exam_id)
                .bind(h.candidate_id)
                .bind(h.name.as_str())
                .bind(h.id_number.as_str())
                .bind(h.phone.as_str())
                .bind(h.status)
                .bind(h.hold_expires_at)
                .bind(h.client_addr.as_deref());
        }
        for row in q.fetch_all(&mut **tx).await? {
            ids.insert(
                (row.try_get("exam_id")?, row.try_get("candidate_id")?),
                row.try_get("id")?,
            );
        }
    }
    Ok(ids)
}

/// `($2, $3, …, tail), (…)`: `count` rows of `cols` numbered parameters from `$first`, each
/// followed by `tail` (parameters shared by every row).
fn rows(count: usize, cols: usize, first: usize, tail: &str) -> String {
    (0..count)
        .map(|r| {
            let params: Vec<String> = (0..cols)
                .map(|c| format!("${}", first + r * cols + c))
                .collect();
            format!("({}, {tail})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
