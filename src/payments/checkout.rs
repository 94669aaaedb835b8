//! `POST /registrations/{id}/pay`: one order per registration, and fresh `wx.requestPayment`
//! arguments for the same prepay_id while it is valid — never a second order.

use std::net::IpAddr;

use serde::Serialize;

use crate::db::orders::{self, Order};
use crate::db::registrations::Registration;
use crate::db::{candidates, exams};
use crate::domain::states::RegistrationStatus;
use crate::payments::reconcile;
use crate::payments::{PaymentError, Payments};
use crate::util::{now, random_hex};
use wechat_pay_v2::pay::{JsapiParams, PayError, UnifiedOrder, jsapi_params};

/// WeChat keeps a prepay_id usable for two hours; a margin keeps us from handing out a stale one.
const PREPAY_LIFETIME: i64 = 2 * 3600 - 300;

#[derive(Serialize)]
pub struct PayArguments {
    #[serde(flatten)]
    pub params: JsapiParams,
    pub out_trade_no: String,
}

/// Up to 32 characters of WeChat's alphabet; unique by the database's constraint.
pub fn new_out_trade_no(registration_id: i64) -> String {
    format!("ED{registration_id:08}{}", random_hex(6).to_uppercase())
}

pub async fn pay(
    payments: &Payments,
    registration: &Registration,
    client_ip: IpAddr,
) -> Result<PayArguments, PaymentError> {
    let wechat = payments.wechat()?;
    match registration.status {
        RegistrationStatus::PendingPayment => {}
        RegistrationStatus::Paid | RegistrationStatus::Refunding | RegistrationStatus::Refunded => {
            return Err(PaymentError::AlreadyPaid);
        }
        RegistrationStatus::Cancelled | RegistrationStatus::Expired => {
            return Err(PaymentError::NotPayable);
        }
        RegistrationStatus::UnderReview | RegistrationStatus::Rejected => {
            return Err(PaymentError::NotApproved);
        }
    }
    let at = now();
    if registration.hold_expires_at.is_some_and(|t| t <= at) {
        return Err(PaymentError::HoldExpired);
    }
    let exam = exams::get(&payments.db, registration.exam_id)
        .await?
        .ok_or(PaymentError::Inconsistent("registration without its exam"))?;
    // Two tries: the second after WeChat told us the first number can no longer be paid.
    for _ in 0..2 {
        let order = open_order(payments, registration, exam.fee_fen).await?;
        if let (Some(prepay_id), Some(valid_until)) = (&order.prepay_id, order.prepay_expires_at)
            && valid_until > at
        {
            return Ok(PayArguments {
                params: jsapi_params(&wechat.config, prepay_id),
                out_trade_no: order.out_trade_no,
            });
        }
        let openid = candidates::openid(&payments.db, registration.candidate_id)
            .await?
            .ok_or(PaymentError::Inconsistent(
                "registration without its candidate",
            ))?;
        let request = UnifiedOrder::jsapi(
            &order.out_trade_no,
            format!("{}-报名费", exam.title),
            order.total_fee,
            openid,
            client_ip.to_string(),
            format!("{}/wechat/pay/notify", payments.public_url),
        );
        match wechat.pay.unified_order(&request).await {
            Ok(prepay) => {
                let hold_until = order.created_at + payments.order_ttl_minutes * 60;
                orders::set_prepay(
                    &payments.db,
                    &order,
                    &prepay.prepay_id,
                    at + PREPAY_LIFETIME,
                    hold_until,
                    at,
                )
                .await?;
                return Ok(PayArguments {
                    params: jsapi_params(&wechat.config, &prepay.prepay_id),
                    out_trade_no: order.out_trade_no,
                });
            }
            Err(PayError::OrderPaid) => {
                reconcile::query_and_record(payments, &order).await?;
                return Err(PaymentError::PaidAtWechat);
            }
            Err(PayError::OrderClosed | PayError::OutTradeNoUsed) => {
                orders::mark_closed(&payments.db, order.id, at).await?;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, out_trade_no = %order.out_trade_no, "unified order failed");
                return Err(PaymentError::Wechat(e));
            }
        }
    }
    Err(PaymentError::Wechat(PayError::OutTradeNoUsed))
}

/// The registration's open order, created if there is none. Two concurrent calls end with the
/// same order: the database allows one open order per registration.
async fn open_order(
    payments: &Payments,
    registration: &Registration,
    fee: i64,
) -> Result<Order, PaymentError> {
    let sign_type = payments.wechat()?.config.sign_type;
    for _ in 0..3 {
        if let Some(order) = orders::open_for_registration(&payments.db, registration.id).await? {
            return Ok(order);
        }
        let number = new_out_trade_no(registration.id);
        if let Some(order) = orders::insert(
            &payments.db,
            registration.id,
            &number,
            fee,
            sign_type,
            now(),
        )
        .await?
        {
            return Ok(order);
        }
    }
    Err(PaymentError::Inconsistent(
        "no open order after three tries",
    ))
}

#[cfg(test)]
mod tests {
    use super::new_out_trade_no;

    #[test]
    fn trade_numbers_fit_wechat() {
        let n = new_out_trade_no(123_456_789_012);
        assert!(n.len() <= 32, "{n}");
        assert!(n.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(new_out_trade_no(1), new_out_trade_no(1));
    }
}
