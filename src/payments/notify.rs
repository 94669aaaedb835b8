//! `POST /wechat/pay/notify`: verify, check against the order, store the raw callback, record the
//! payment once. SUCCESS is answered only after the result is committed; anything else is FAIL, so
//! WeChat sends it again.

use crate::app::AppState;
use crate::db::orders::{self, PaymentOutcome};
use crate::util::now;
use crate::wechat::notify::{NotifyError, SUCCESS_REPLY, fail_reply, parse_pay_notify};

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

pub async fn handle_pay_notify(state: &AppState, body: &[u8]) -> Reply {
    match process(state, body).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(error = %e, "pay notify could not be stored; WeChat will send it again");
            fail("temporary failure, please retry")
        }
    }
}

async fn process(state: &AppState, body: &[u8]) -> Result<Reply, sqlx::Error> {
    let Ok(wechat) = state.wechat() else {
        return Ok(fail("payments are not configured"));
    };
    let at = now();
    let text = String::from_utf8_lossy(body);
    let notify = match parse_pay_notify(&wechat.config, body, None) {
        Ok(n) => n,
        Err(e) => {
            let outcome = match &e {
                NotifyError::BadSignature => "refused: bad signature",
                NotifyError::AppidMismatch(_) | NotifyError::MchIdMismatch(_) => {
                    "refused: another merchant"
                }
                NotifyError::Xml(_) => "refused: malformed XML",
                _ => "refused: invalid notify",
            };
            tracing::warn!(error = %e, "pay notify refused");
            orders::log_callback(&state.db, "pay", None, &text, outcome, at).await?;
            return Ok(fail(outcome.trim_start_matches("refused: ")));
        }
    };
    let no = notify.out_trade_no.as_str();
    let Some(order) = orders::by_out_trade_no(&state.db, no).await? else {
        tracing::warn!(out_trade_no = no, "pay notify for an unknown order");
        orders::log_callback(
            &state.db,
            "pay",
            Some(no),
            &text,
            "refused: unknown order",
            at,
        )
        .await?;
        return Ok(fail("unknown out_trade_no"));
    };
    if notify.sign_type.as_str() != order.sign_type {
        orders::log_callback(
            &state.db,
            "pay",
            Some(no),
            &text,
            "refused: sign type differs from the order's",
            at,
        )
        .await?;
        return Ok(fail("sign type differs from the order"));
    }
    if notify.total_fee != order.total_fee {
        tracing::error!(
            target: "alert",
            out_trade_no = no,
            notified = notify.total_fee,
            expected = order.total_fee,
            "ALERT: pay notify amount differs from the order; refused"
        );
        orders::log_callback(
            &state.db,
            "pay",
            Some(no),
            &text,
            "refused: amount mismatch",
            at,
        )
        .await?;
        return Ok(fail("total_fee does not match the order"));
    }
    if !notify.is_success() {
        orders::log_callback(
            &state.db,
            "pay",
            Some(no),
            &text,
            "payment failed at WeChat",
            at,
        )
        .await?;
        return Ok(success());
    }
    let outcome = orders::record_payment(
        &state.db,
        &order,
        &notify.transaction_id,
        notify.total_fee,
        at,
    )
    .await?;
    let label = match outcome {
        PaymentOutcome::Recorded => "paid",
        PaymentOutcome::AlreadyRecorded => "repeat: already paid",
        PaymentOutcome::RecordedAfterExpiry => "paid after expiry: seat given back",
        PaymentOutcome::RecordedNeedsRefund => "paid after expiry: no seat, queued for refund",
        PaymentOutcome::ConflictingTransaction => "refused: order paid by another transaction",
    };
    orders::log_callback(&state.db, "pay", Some(no), &text, label, at).await?;
    if outcome == PaymentOutcome::ConflictingTransaction {
        tracing::error!(target: "alert", out_trade_no = no, "ALERT: second transaction for a paid order");
        return Ok(fail("order already paid by another transaction"));
    }
    if outcome != PaymentOutcome::AlreadyRecorded {
        tracing::info!(out_trade_no = no, outcome = label, "payment recorded");
        crate::payments::reconcile::after_payment(state, order.registration_id).await;
    }
    Ok(success())
}
