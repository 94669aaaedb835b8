//! `POST /wechat/pay/notify`: verify, check against the order, store the raw callback, record the
//! payment once. SUCCESS is answered only after the result is committed; anything else is FAIL, so
//! WeChat sends it again.

use crate::app::AppState;
use crate::db::orders::{self, PaymentOutcome};
use crate::payments::writer::outcome_label;
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

async fn process(state: &AppState, body: &[u8]) -> Result<Reply, String> {
    let Ok(wechat) = state.wechat() else {
        return Ok(fail("payments are not configured"));
    };
    let writer = &state.payment_writer;
    let at = now();
    let text = String::from_utf8_lossy(body).into_owned();
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
            writer.log(None, text, outcome, at).await?;
            return Ok(fail(outcome.trim_start_matches("refused: ")));
        }
    };
    let no = notify.out_trade_no.as_str();
    let order = orders::by_out_trade_no(&state.db, no)
        .await
        .map_err(|e| e.to_string())?;
    let Some(order) = order else {
        tracing::warn!(out_trade_no = no, "pay notify for an unknown order");
        writer
            .log(Some(no), text, "refused: unknown order", at)
            .await?;
        return Ok(fail("unknown out_trade_no"));
    };
    if notify.sign_type.as_str() != order.sign_type {
        writer
            .log(
                Some(no),
                text,
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
        writer
            .log(Some(no), text, "refused: amount mismatch", at)
            .await?;
        return Ok(fail("total_fee does not match the order"));
    }
    if !notify.is_success() {
        writer
            .log(Some(no), text, "payment failed at WeChat", at)
            .await?;
        return Ok(success());
    }
    let applied = writer
        .pay(
            order.clone(),
            notify.transaction_id.clone(),
            notify.total_fee,
            text,
            at,
        )
        .await?;
    let outcome = applied.outcome;
    if outcome == PaymentOutcome::ConflictingTransaction {
        tracing::error!(target: "alert", out_trade_no = no, "ALERT: second transaction for a paid order");
        return Ok(fail("order already paid by another transaction"));
    }
    if outcome != PaymentOutcome::AlreadyRecorded {
        tracing::info!(
            out_trade_no = no,
            outcome = outcome_label(&outcome),
            "payment recorded"
        );
        if !applied.seated {
            crate::payments::reconcile::after_payment(state, order.registration_id).await;
        }
    }
    Ok(success())
}
