//! Refunds against WeChat Pay: the staff request (stored first, then sent), the refund notify,
//! and the job pass that re-sends unsent refunds with the SAME out_refund_no (a new number would
//! refund twice) and queries those WeChat has not finished.

use crate::db::refunds::{self, Refund};
use crate::db::refused_callbacks::RefusedCallback;
use crate::domain::states::{CallbackKind, CallbackOutcome, RefundResult, RefundStatus, Refusal};
use crate::payments::Payments;
use crate::payments::notify::{Reply, refusal};
use crate::util::{now, random_hex};
use wechat_pay_v2::notify::{SUCCESS_REPLY, fail_reply, parse_refund_notify};
use wechat_pay_v2::pay::{PayError, RefundRequest, RefundState};

/// How long a sender or a job holds a refund, and how often an unfinished one is queried.
pub const CLAIM_SECONDS: i64 = 60;
const BATCH: i64 = 100;

/// A fresh out_refund_no, put in the refund form when it is shown, so that a double click or a
/// re-sent form carries the same number and the database keeps one refund.
pub fn new_out_refund_no() -> String {
    format!("RF{}{}", now(), random_hex(8).to_uppercase())
}

/// What WeChat accepts as an out_refund_no; anything else in a form is refused before storing.
pub fn valid_out_refund_no(no: &str) -> bool {
    (8..=64).contains(&no.len())
        && no.len() <= 64
        && no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*' | b'@'))
}

/// What became of sending a refund to WeChat.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Accepted,
    /// WeChat said no for good (e.g. not enough left): the refund is marked failed.
    Refused(String),
    /// No answer we can trust: the refund stays `requested` and a job sends it again.
    Retry(String),
}

/// Sends a stored refund to WeChat and records the answer.
pub async fn send(payments: &Payments, refund: &Refund) -> Result<Sent, sqlx::Error> {
    let wechat = match payments.wechat() {
        Ok(w) => w,
        Err(_) => return Ok(Sent::Retry("payments are not configured".into())),
    };
    let request = RefundRequest {
        out_trade_no: refund.out_trade_no.clone(),
        out_refund_no: refund.out_refund_no.clone(),
        total_fee: refund.total_fee,
        refund_fee: refund.refund_fee,
        refund_desc: Some(refund.reason.chars().take(80).collect()),
        notify_url: Some(format!("{}/wechat/refund/notify", payments.public_url)),
    };
    let at = now();
    match wechat.pay.refund(&request).await {
        Ok(accepted) => {
            refunds::mark_processing(
                &payments.db,
                refund.id,
                &accepted.refund_id,
                at,
                at + CLAIM_SECONDS,
            )
            .await?;
            tracing::info!(out_refund_no = %refund.out_refund_no, fee = refund.refund_fee, "refund accepted by WeChat");
            Ok(Sent::Accepted)
        }
        Err(e) if is_final_refusal(&e) => {
            tracing::warn!(out_refund_no = %refund.out_refund_no, error = %e, "refund refused by WeChat");
            refunds::finish(
                &payments.db,
                refund.id,
                RefundStatus::Failed,
                None,
                &format!("refused: {e}"),
                at,
            )
            .await?;
            Ok(Sent::Refused(e.to_string()))
        }
        Err(e) => {
            tracing::warn!(out_refund_no = %refund.out_refund_no, error = %e, "refund not sent; a job will retry");
            Ok(Sent::Retry(e.to_string()))
        }
    }
}

/// Answers after which WeChat certainly did not and will not take this refund.
fn is_final_refusal(e: &PayError) -> bool {
    match e {
        PayError::NotEnough(_)
        | PayError::InvalidRequest(_)
        | PayError::OrderNotExist
        | PayError::Communication(_) => true,
        PayError::Business { .. } => !e.is_retryable(),
        _ => false,
    }
}

/// Asks WeChat about a refund it accepted and applies a final answer.
async fn query(payments: &Payments, refund: &Refund, at: i64) -> Result<(), sqlx::Error> {
    let Ok(wechat) = payments.wechat() else {
        return Ok(());
    };
    match wechat.pay.refund_query(&refund.out_refund_no).await {
        Ok(status) if status.refund_fee != refund.refund_fee => {
            tracing::error!(target: "alert", out_refund_no = %refund.out_refund_no, queried = status.refund_fee,
                expected = refund.refund_fee, "ALERT: queried refund amount differs from ours; not applied");
        }
        Ok(status) => {
            apply_state(
                payments,
                refund,
                status.refund_status,
                Some(&status.refund_id),
                "refund query",
                at,
            )
            .await?;
        }
        Err(PayError::RefundNotExist) => {
            // WeChat never got it after all: send the same number again.
            refunds::mark_unsent(&payments.db, refund.id, at).await?;
        }
        Err(e) => {
            tracing::warn!(out_refund_no = %refund.out_refund_no, error = %e, "refund query failed")
        }
    }
    Ok(())
}

async fn apply_state(
    payments: &Payments,
    refund: &Refund,
    refund_state: RefundState,
    refund_id: Option<&str>,
    how: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    let status = match refund_state {
        RefundState::Processing => return Ok(()),
        RefundState::Success => RefundStatus::Success,
        // CHANGE: the money could not reach the payer's account; staff must handle it at WeChat.
        RefundState::Change => RefundStatus::Failed,
        RefundState::RefundClose => RefundStatus::Closed,
    };
    if refunds::finish(&payments.db, refund.id, status, refund_id, how, at).await? {
        tracing::info!(out_refund_no = %refund.out_refund_no, status = status.as_str(), how, "refund finished");
    }
    Ok(())
}

/// One pass of the refund job; returns how many refunds it worked on.
pub async fn job_pass(payments: &Payments, at: i64) -> Result<usize, sqlx::Error> {
    let mut worked = 0;
    for id in refunds::due_ids(&payments.db, at, BATCH).await? {
        if !refunds::claim(
            &payments.db,
            id,
            &payments.worker_id,
            at,
            at + CLAIM_SECONDS,
        )
        .await?
        {
            continue;
        }
        let Some(refund) = refunds::by_id(&payments.db, id).await? else {
            continue;
        };
        worked += 1;
        match refund.status {
            RefundStatus::Requested => {
                send(payments, &refund).await?;
            }
            RefundStatus::Processing => query(payments, &refund, at).await?,
            RefundStatus::Success | RefundStatus::Failed | RefundStatus::Closed => {}
        }
    }
    Ok(worked)
}

/// `POST /wechat/refund/notify`: decrypt, check against our refund, store the raw callback and
/// apply the result once. SUCCESS is answered only after it is stored.
pub async fn handle_refund_notify(payments: &Payments, body: &[u8], address: &str) -> Reply {
    match process_notify(payments, body, address).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(error = %e, "refund notify could not be stored; WeChat will send it again");
            Reply {
                body: fail_reply("temporary failure, please retry"),
                success: false,
            }
        }
    }
}

async fn process_notify(
    payments: &Payments,
    body: &[u8],
    address: &str,
) -> Result<Reply, sqlx::Error> {
    let fail = |reason: &str| Reply {
        body: fail_reply(reason),
        success: false,
    };
    let ok = || Reply {
        body: SUCCESS_REPLY.to_string(),
        success: true,
    };
    let Ok(wechat) = payments.wechat() else {
        return Ok(fail("payments are not configured"));
    };
    let at = now();
    let text = String::from_utf8_lossy(body);
    let log = |no: Option<String>, outcome: CallbackOutcome| {
        let text = text.clone();
        async move {
            // Its own short write, after the refund's transaction: never inside it (one SQLite writer).
            let mut conn = payments.db.write.acquire().await?;
            let kind = CallbackKind::Refund;
            crate::db::orders::log_callback(&mut conn, kind, no.as_deref(), &text, &outcome, at)
                .await
        }
    };
    let notify = match parse_refund_notify(&wechat.config, body) {
        Ok(n) => n,
        // Nothing proves the sender before req_info decrypts: a short record, not the body.
        Err(e) => {
            let refused = RefusedCallback {
                kind: CallbackKind::Refund,
                at,
                address,
                refusal: refusal(&e),
                size: body.len(),
            };
            payments.refused.note(&payments.db, &refused, &e).await?;
            return Ok(fail("invalid refund notify"));
        }
    };
    let trade = Some(notify.out_trade_no.clone());
    let Some(refund) = refunds::by_out_refund_no(&payments.db, &notify.out_refund_no).await? else {
        // A refund made elsewhere (e.g. by hand at WeChat): kept for the record, not retried.
        tracing::error!(target: "alert", out_refund_no = %notify.out_refund_no, "ALERT: refund notify for an unknown refund");
        log(trade, CallbackOutcome::UnknownRefund).await?;
        return Ok(ok());
    };
    if refund.out_trade_no != notify.out_trade_no || refund.refund_fee != notify.refund_fee {
        tracing::error!(target: "alert", out_refund_no = %notify.out_refund_no, "ALERT: refund notify differs from our refund");
        log(trade, CallbackOutcome::Refused(Refusal::RefundMismatch)).await?;
        return Ok(fail("refund does not match"));
    }
    apply_state(
        payments,
        &refund,
        notify.refund_status,
        Some(&notify.refund_id),
        "refund notify",
        at,
    )
    .await?;
    let outcome = CallbackOutcome::Refund {
        out_refund_no: notify.out_refund_no.clone(),
        result: match notify.refund_status {
            RefundState::Success => RefundResult::Success,
            RefundState::Processing => RefundResult::Processing,
            RefundState::Change => RefundResult::Change,
            RefundState::RefundClose => RefundResult::Closed,
        },
    };
    log(trade, outcome).await?;
    Ok(ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_numbers_fit_wechat_and_differ() {
        let a = new_out_refund_no();
        assert!(valid_out_refund_no(&a), "{a}");
        assert!(a.len() <= 32);
        assert_ne!(a, new_out_refund_no());
        assert!(!valid_out_refund_no("RF 1"));
        assert!(!valid_out_refund_no("short"));
    }
}
