//! `POST /wechat/pay/notify`: verify, check against the order, store the raw callback, record the
//! payment once. SUCCESS is answered only after the result is committed; anything else is FAIL, so
//! WeChat sends it again.

use crate::db::orders::PaymentOutcome;
use crate::db::refused_callbacks::RefusedCallback;
use crate::domain::states::{CallbackKind, CallbackOutcome, Refusal};
use crate::payments::Payments;
use crate::payments::writer::{Done, callback_outcome};
use crate::util::now;
use wechat_pay_v2::notify::{NotifyError, SUCCESS_REPLY, fail_reply, parse_pay_notify};

/// What the handler answers: the XML body and whether it was SUCCESS.
pub struct Reply {
    pub body: String,
    pub success: bool,
}

fn fail(reason: &str) -> Reply {
    Reply {
        body: fail_reply(reason),
        success: false,
    }
}

fn success() -> Reply {
    Reply {
        body: SUCCESS_REPLY.to_string(),
        success: true,
    }
}

/// Why a notify that could not be read is refused; the error itself goes to the log (it may
/// carry what the sender sent, and a refusal is kept as one of a few fixed reasons).
pub fn refusal(e: &NotifyError) -> Refusal {
    match e {
        NotifyError::BadSignature => Refusal::BadSignature,
        NotifyError::AppidMismatch(_) | NotifyError::MchIdMismatch(_) => Refusal::OtherMerchant,
        NotifyError::Xml(_) => Refusal::MalformedXml,
        _ => Refusal::InvalidNotify,
    }
}

/// Handles one pay notify posted from `address` (the client address, as the proxy said it).
pub async fn handle_pay_notify(payments: &Payments, body: &[u8], address: &str) -> Reply {
    let (reply, outcome) = match process(payments, body, address).await {
        Ok(answered) => answered,
        Err(e) => {
            tracing::error!(error = %e, "pay notify could not be stored; WeChat will send it again");
            (fail("temporary failure, please retry"), NOT_STORED)
        }
    };
    count(outcome);
    reply
}

/// The outcome label of a notify not written because the database failed (WeChat resends it).
const NOT_STORED: &str = "not_stored";

/// Counts a notify by what became of it (`examdesk_notifies_total{outcome}`).
pub fn count(outcome: &'static str) {
    metrics::counter!(crate::telemetry::names::NOTIFIES, "outcome" => outcome).increment(1);
}

/// The metric label of what became of a notify: one per outcome the handler tells apart.
fn outcome_label(outcome: &CallbackOutcome) -> &'static str {
    match outcome {
        CallbackOutcome::Paid => "recorded",
        CallbackOutcome::AlreadyPaid => "duplicate",
        CallbackOutcome::PaidAfterExpiry => "recorded_after_expiry",
        CallbackOutcome::PaidNoSeat => "recorded_no_seat",
        CallbackOutcome::PaymentFailed => "payment_failed",
        CallbackOutcome::Refused(refusal) => refusal_label(*refusal),
        CallbackOutcome::UnknownRefund | CallbackOutcome::Refund { .. } => "refund",
    }
}

fn refusal_label(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::OtherTransaction => "other_transaction",
        Refusal::SignTypeDiffers => "sign_type_differs",
        Refusal::AmountMismatch => "amount_mismatch",
        Refusal::UnknownOrder => "unknown_order",
        Refusal::BadSignature => "bad_signature",
        Refusal::OtherMerchant => "other_merchant",
        Refusal::MalformedXml => "malformed",
        Refusal::InvalidNotify => "invalid_notify",
        Refusal::RefundMismatch => "refund_mismatch",
    }
}

/// Whether a notify was refused before its signature was found good: anyone can send those.
fn refused_unverified(e: &NotifyError) -> bool {
    matches!(
        e,
        NotifyError::Xml(_) | NotifyError::ReturnFail(_) | NotifyError::BadSignature
    )
}

async fn process(
    payments: &Payments,
    body: &[u8],
    address: &str,
) -> Result<(Reply, &'static str), String> {
    let Ok(wechat) = payments.wechat() else {
        return Ok((fail("payments are not configured"), "not_configured"));
    };
    let writer = &payments.writer;
    let at = now();
    let notify = match parse_pay_notify(&wechat.config, body, None) {
        Ok(n) => n,
        Err(e) if refused_unverified(&e) => {
            let refusal = refusal(&e);
            let refused = RefusedCallback {
                kind: CallbackKind::Pay,
                at,
                address,
                refusal,
                size: body.len(),
            };
            payments
                .refused
                .note(&payments.db, &refused, &e)
                .await
                .map_err(|e| e.to_string())?;
            return Ok((fail(refusal.reason()), refusal_label(refusal)));
        }
        // Signed with our key but wrong in itself: kept whole, as evidence.
        Err(e) => {
            let refusal = refusal(&e);
            tracing::warn!(error = %e, "signed pay notify refused");
            let text = String::from_utf8_lossy(body).into_owned();
            writer
                .log(None, text, CallbackOutcome::Refused(refusal), at)
                .await?;
            return Ok((fail(refusal.reason()), refusal_label(refusal)));
        }
    };
    let text = String::from_utf8_lossy(body).into_owned();
    let (order, applied) = match writer.notify(notify, text, at).await? {
        Done::Paid { order, applied } => (order, applied),
        Done::Refused { refusal, reason } => return Ok((fail(reason), refusal_label(refusal))),
        // A failed payment at WeChat: kept, and acknowledged so that WeChat stops sending it.
        Done::Logged => {
            return Ok((success(), outcome_label(&CallbackOutcome::PaymentFailed)));
        }
    };
    let no = order.out_trade_no.as_str();
    let outcome = applied.outcome;
    let label = outcome_label(&callback_outcome(&outcome));
    if outcome == PaymentOutcome::ConflictingTransaction {
        tracing::error!(target: "alert", out_trade_no = no, "ALERT: second transaction for a paid order");
        return Ok((fail("order already paid by another transaction"), label));
    }
    if outcome != PaymentOutcome::AlreadyRecorded {
        tracing::info!(
            out_trade_no = no,
            outcome = callback_outcome(&outcome).text().as_ref(),
            "payment recorded"
        );
        if !applied.seated {
            crate::payments::reconcile::after_payment(payments, order.registration_id).await;
        }
    }
    Ok((success(), label))
}
