//! Asking WeChat what became of an order, and acting on the answer: a payment is recorded, an
//! unpaid order is closed before its seat is released. Used by cancellation and the jobs.

use crate::db::orders::{self, Order, PaymentOutcome};
use crate::db::registrations;
use crate::domain::states::RegistrationStatus;
use crate::payments::{PaymentError, Payments};
use crate::util::now;
use wechat_pay_v2::pay::{PayError, TradeState};

/// WeChat refuses to close an order younger than this (in seconds).
pub const MIN_CLOSE_AGE: i64 = wechat_pay_v2::pay::MIN_CLOSE_AGE.as_secs() as i64;

/// How long a close that WeChat still found too young waits before the next try (our clock and
/// WeChat's may differ by a little).
const CLOSE_AGAIN_AFTER: i64 = 60;

#[derive(Debug, PartialEq, Eq)]
pub enum QueryResult {
    Paid(PaymentOutcome),
    NotPaid(TradeState),
    /// WeChat never saw the order (the unified order never reached it).
    Unknown,
}

/// What asking WeChat to close an order came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Close {
    /// Closed (or WeChat never had it): it can no longer be paid.
    Closed,
    /// Still open and payable: WeChat found it too young to close.
    TooYoung,
    /// WeChat had a payment; it is recorded.
    Paid(PaymentOutcome),
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

/// Makes the registration's open order (if any) unpayable before its seat is released, or, while
/// WeChat would still refuse to close it, leaves it open for the jobs to close later: a payment
/// that still comes is then recorded as paid after cancellation. A payment found on the way is
/// recorded instead, and the caller is told it is paid.
pub async fn close_before_release(
    payments: &Payments,
    registration_id: i64,
) -> Result<(), PaymentError> {
    let Some(order) = orders::open_for_registration(&payments.db, registration_id).await? else {
        return Ok(());
    };
    let at = now();
    if at - order.created_at < MIN_CLOSE_AGE {
        // WeChat would refuse the close; what it knows of the order decides instead.
        return match query_and_record(payments, &order).await? {
            QueryResult::Paid(_) => Err(PaymentError::AlreadyPaid),
            QueryResult::Unknown => {
                orders::mark_closed(&payments.db, order.id, at).await?;
                Ok(())
            }
            QueryResult::NotPaid(_) => {
                let from = order.created_at + MIN_CLOSE_AGE;
                orders::close_later(&payments.db, order.id, from, at).await?;
                Ok(())
            }
        };
    }
    match close_order(payments, &order).await? {
        Close::Closed => Ok(()),
        Close::TooYoung => {
            orders::close_later(&payments.db, order.id, at + CLOSE_AGAIN_AFTER, at).await?;
            Ok(())
        }
        Close::Paid(_) => Err(PaymentError::AlreadyPaid),
    }
}

/// Closes an order at WeChat. ORDERPAID is taken as paid only when the query says so: WeChat
/// answers it to a close of an order younger than 5 minutes too.
async fn close_order(payments: &Payments, order: &Order) -> Result<Close, PaymentError> {
    let wechat = payments.wechat()?;
    match wechat.pay.close_order(&order.out_trade_no).await {
        Ok(()) | Err(PayError::OrderClosed | PayError::OrderNotExist) => {
            orders::mark_closed(&payments.db, order.id, now()).await?;
            Ok(Close::Closed)
        }
        Err(PayError::OrderPaid) => match query_and_record(payments, order).await? {
            QueryResult::Paid(outcome) => Ok(Close::Paid(outcome)),
            QueryResult::NotPaid(state) => {
                tracing::info!(out_trade_no = %order.out_trade_no, ?state,
                    "close refused as ORDERPAID but the order is unpaid: too young, closing later");
                Ok(Close::TooYoung)
            }
            QueryResult::Unknown => Err(PaymentError::Inconsistent(
                "WeChat refused to close an order it does not know",
            )),
        },
        Err(e) => {
            tracing::warn!(error = %e, out_trade_no = %order.out_trade_no, "close order failed");
            Err(PaymentError::Wechat(e))
        }
    }
}

/// An order left to be closed later (its registration was cancelled while it was young): closed
/// now if WeChat lets it, else tried again a little later.
pub async fn close_deferred(
    payments: &Payments,
    order: &Order,
    at: i64,
) -> Result<Close, PaymentError> {
    let done = close_order(payments, order).await?;
    if done == Close::TooYoung {
        orders::close_later(&payments.db, order.id, at + CLOSE_AGAIN_AFTER, at).await?;
    }
    Ok(done)
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
            match close_order(payments, order).await? {
                Close::Closed => {}
                Close::TooYoung => return Ok(Expiry::TooYoungToClose),
                Close::Paid(_) => return Ok(Expiry::Paid),
            }
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
