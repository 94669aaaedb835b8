//! Asking WeChat what became of an order, and acting on the answer: a payment is recorded, an
//! unpaid order is closed before its seat is released. Used by cancellation and the jobs.

use crate::db::orders::{self, Order, PaymentOutcome};
use crate::db::registrations;
use crate::domain::states::RegistrationStatus;
use crate::payments::{PaymentError, Payments};
use crate::util::now;
use wechat_pay_v2::pay::{PayError, TradeState};

/// WeChat refuses to close an order younger than this.
pub const MIN_CLOSE_AGE: i64 = 5 * 60;

#[derive(Debug, PartialEq, Eq)]
pub enum QueryResult {
    Paid(PaymentOutcome),
    NotPaid(TradeState),
    /// WeChat never saw the order (the unified order never reached it).
    Unknown,
}

/// Queries the order; a payment WeChat confirms (with the right amount) is recorded.
pub async fn query_and_record(
    payments: &Payments,
    order: &Order,
) -> Result<QueryResult, PaymentError> {
    let wechat = payments.wechat()?;
    let status = match wechat.pay.order_query(&order.out_trade_no).await {
        Ok(s) => s,
        Err(PayError::OrderNotExist) => return Ok(QueryResult::Unknown),
        Err(e) => {
            tracing::warn!(error = %e, out_trade_no = %order.out_trade_no, "order query failed");
            return Err(PaymentError::Wechat(e));
        }
    };
    if !status.trade_state.is_paid() {
        return Ok(QueryResult::NotPaid(status.trade_state));
    }
    let (Some(transaction_id), Some(fee)) = (status.transaction_id.as_deref(), status.total_fee)
    else {
        return Err(PaymentError::IncompleteAnswer);
    };
    if fee != order.total_fee {
        tracing::error!(target: "alert", out_trade_no = %order.out_trade_no, fee, expected = order.total_fee,
            "ALERT: queried order amount differs from ours; not recorded");
        return Err(PaymentError::AmountMismatch {
            reported: fee,
            expected: order.total_fee,
        });
    }
    let applied = orders::record_payment(&payments.db, order, transaction_id, fee, now()).await?;
    let outcome = applied.outcome;
    if matches!(
        outcome,
        PaymentOutcome::Recorded
            | PaymentOutcome::RecordedAfterExpiry
            | PaymentOutcome::RecordedNeedsRefund
    ) {
        tracing::info!(out_trade_no = %order.out_trade_no, ?outcome, "payment found by order query");
        if !applied.seated {
            after_payment(payments, order.registration_id).await;
        }
    }
    Ok(QueryResult::Paid(outcome))
}

/// Closes the registration's open order at WeChat (if any) so that it can no longer be paid.
/// A payment found on the way is recorded instead, and the caller is told it is paid.
pub async fn close_before_release(
    payments: &Payments,
    registration_id: i64,
) -> Result<(), PaymentError> {
    let Some(order) = orders::open_for_registration(&payments.db, registration_id).await? else {
        return Ok(());
    };
    close_order(payments, &order).await
}

async fn close_order(payments: &Payments, order: &Order) -> Result<(), PaymentError> {
    let wechat = payments.wechat()?;
    match wechat.pay.close_order(&order.out_trade_no).await {
        Ok(()) | Err(PayError::OrderClosed | PayError::OrderNotExist) => {
            orders::mark_closed(&payments.db, order.id, now()).await?;
            Ok(())
        }
        Err(PayError::OrderPaid) => {
            query_and_record(payments, order).await?;
            Err(PaymentError::AlreadyPaid)
        }
        Err(e) => {
            tracing::warn!(error = %e, out_trade_no = %order.out_trade_no, "close order failed");
            Err(PaymentError::Wechat(e))
        }
    }
}

/// What [`expire`] did with an order whose hold had ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// WeChat had the payment after all: it is recorded.
    Paid,
    /// Unpaid, but younger than WeChat lets one close: left for a later pass.
    TooYoungToClose,
    /// Closed, and the registration's seat released.
    Closed,
}

/// An expired hold: query first (a payment is recorded), otherwise close at WeChat and release.
pub async fn expire(payments: &Payments, order: &Order, at: i64) -> Result<Expiry, PaymentError> {
    match query_and_record(payments, order).await? {
        QueryResult::Paid(_) => return Ok(Expiry::Paid),
        QueryResult::Unknown => {
            orders::mark_closed(&payments.db, order.id, at).await?;
        }
        QueryResult::NotPaid(_) => {
            if at - order.created_at < MIN_CLOSE_AGE {
                return Ok(Expiry::TooYoungToClose);
            }
            close_order(payments, order).await?;
        }
    }
    let expired = RegistrationStatus::Expired;
    registrations::release_unpaid(&payments.db, order.registration_id, expired, at).await?;
    Ok(Expiry::Closed)
}

/// Work that follows a recorded payment (the seat); failures are retried by the jobs.
pub async fn after_payment(payments: &Payments, registration_id: i64) {
    crate::ticketing::seat_after_payment(&payments.tickets, registration_id).await;
}
