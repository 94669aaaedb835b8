//! Which WeChat account an ID number belongs to, and the unpaid holds an account or a client
//! address has: the two checks a registration passes inside its own transaction.

use sqlx::{Any, Row, Transaction};

use crate::db::Db;
use crate::db::audit::{self, Entry};
use crate::domain::states::RegistrationStatus;

/// Binds `id_number` to `candidate_id` unless another account has it; true when it is (now) the
/// candidate's own. The insert and the read are one transaction's, so two accounts racing for one
/// number cannot both win.
pub async fn bind(
    tx: &mut Transaction<'static, Any>,
    id_number: &str,
    candidate_id: i64,
    at: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO id_number_owners (id_number, candidate_id, bound_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id_number) DO NOTHING",
    )
    .bind(id_number)
    .bind(candidate_id)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    let owner: i64 = sqlx::query("SELECT candidate_id FROM id_number_owners WHERE id_number = $1")
        .bind(id_number)
        .fetch_one(&mut **tx)
        .await?
        .try_get("candidate_id")?;
    Ok(owner == candidate_id)
}

/// Removes a binding this transaction made for a request that was then refused.
pub async fn unbind(
    tx: &mut Transaction<'static, Any>,
    id_number: &str,
    candidate_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM id_number_owners WHERE id_number = $1 AND candidate_id = $2")
        .bind(id_number)
        .bind(candidate_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Limits on unpaid holds; `0` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLimits {
    pub per_account: u32,
    pub per_address: u32,
}

/// Whether one more unpaid hold by `candidate_id` from `address` stays within `limits`.
pub async fn within_hold_limits(
    tx: &mut Transaction<'static, Any>,
    candidate_id: i64,
    address: Option<&str>,
    limits: HoldLimits,
) -> Result<bool, sqlx::Error> {
    if limits.per_account > 0 {
        let sql = "SELECT COUNT(*) AS n FROM registrations WHERE candidate_id = $1 AND status IN ($2, $3)";
        let held = unpaid(tx, sqlx::query(sql).bind(candidate_id)).await?;
        if held >= i64::from(limits.per_account) {
            return Ok(false);
        }
    }
    if let (Some(address), true) = (address, limits.per_address > 0) {
        let sql =
            "SELECT COUNT(*) AS n FROM registrations WHERE client_addr = $1 AND status IN ($2, $3)";
        let held = unpaid(tx, sqlx::query(sql).bind(address)).await?;
        if held >= i64::from(limits.per_address) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs a count whose `$2` and `$3` are the unpaid statuses.
async fn unpaid(
    tx: &mut Transaction<'static, Any>,
    query: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
) -> Result<i64, sqlx::Error> {
    query
        .bind(RegistrationStatus::PendingPayment)
        .bind(RegistrationStatus::UnderReview)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")
}

/// Staff release an ID number from the account it is bound to (audit-logged): the next account
/// that registers with it owns it. False when it was bound to no one.
pub async fn release(
    db: &Db,
    id_number: &str,
    actor: &crate::db::exam_edits::Actor<'_>,
    reason: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.write.begin().await?;
    let gone = sqlx::query("DELETE FROM id_number_owners WHERE id_number = $1")
        .bind(id_number)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    let entry = Entry {
        admin_id: Some(actor.admin_id),
        actor: actor.username,
        action: "release_id_number",
        target: format!(
            "id_number {}",
            crate::domain::id_number::IdNumber::parse(id_number)
                .map(|n| n.masked())
                .unwrap_or_default()
        ),
        amount_fen: None,
        reason,
        detail: String::new(),
    };
    audit::record(&mut tx, &entry, at).await?;
    tx.commit().await?;
    Ok(true)
}

/// The unpaid registrations made with `id_number` by the account it is bound to.
pub async fn unpaid_of_owner(db: &Db, id_number: &str) -> Result<Vec<i64>, sqlx::Error> {
    crate::db::ids(
        sqlx::query(
            "SELECT r.id FROM registrations r JOIN id_number_owners o \
             ON o.id_number = r.id_number AND o.candidate_id = r.candidate_id \
             WHERE r.id_number = $1 AND r.status IN ($2, $3) ORDER BY r.id",
        )
        .bind(id_number)
        .bind(RegistrationStatus::PendingPayment)
        .bind(RegistrationStatus::UnderReview),
        &db.write,
    )
    .await
}
