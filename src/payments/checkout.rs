//! `POST /registrations/{id}/pay`: one order per registration, and fresh `wx.requestPayment`
//! arguments for the same prepay_id while it is valid — never a second order.

use std::net::IpAddr;

use serde::Serialize;

use crate::app::AppState;
use crate::db::orders::{self, Order};
use crate::db::registrations::Registration;
use crate::db::{candidates, exams};
use crate::domain::states::RegistrationStatus;
use crate::error::AppError;
use crate::payments::reconcile;
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
    state: &AppState,
    registration: &Registration,
    client_ip: IpAddr,
) -> Result<PayArguments, AppError> {
    let wechat = state.wechat()?;
    match registration.status {
        RegistrationStatus::PendingPayment => {}
        RegistrationStatus::Paid | RegistrationStatus::Refunding | RegistrationStatus::Refunded => {
            return Err(AppError::conflict("already_paid", "该报名已付款"));
        }
        RegistrationStatus::Cancelled | RegistrationStatus::Expired => {
            return Err(AppError::conflict(
                "not_payable",
                "该报名已取消或已过期，请重新报名",
            ));
        }
    }
    let at = now();
    if registration.hold_expires_at.is_some_and(|t| t <= at) {
        return Err(AppError::conflict(
            "hold_expired",
            "付款时间已过，名额已释放，请重新报名",
        ));
    }
    let exam = exams::get(&state.db, registration.exam_id)
        .await?
        .ok_or_else(AppError::internal)?;
    // Two tries: the second after WeChat told us the first number can no longer be paid.
    for _ in 0..2 {
        let order = open_order(state, registration, exam.fee_fen).await?;
        if let (Some(prepay_id), Some(valid_until)) = (&order.prepay_id, order.prepay_expires_at)
            && valid_until > at
        {
            return Ok(PayArguments {
                params: jsapi_params(&wechat.config, prepay_id),
                out_trade_no: order.out_trade_no,
            });
        }
        let openid = candidates::openid(&state.db, registration.candidate_id)
            .await?
            .ok_or_else(AppError::internal)?;
        let request = UnifiedOrder::jsapi(
            &order.out_trade_no,
            format!("{}-报名费", exam.title),
            order.total_fee,
            openid,
            client_ip.to_string(),
            format!("{}/wechat/pay/notify", state.settings.public_url),
        );
        match wechat.pay.unified_order(&request).await {
            Ok(prepay) => {
                let hold_until = order.created_at + state.settings.order_ttl_minutes * 60;
                orders::set_prepay(
                    &state.db,
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
                reconcile::query_and_record(state, &order).await?;
                return Err(AppError::conflict(
                    "already_paid",
                    "该订单已付款，正在确认，请稍后刷新",
                ));
            }
            Err(PayError::OrderClosed | PayError::OutTradeNoUsed) => {
                orders::mark_closed(&state.db, order.id, at).await?;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, out_trade_no = %order.out_trade_no, "unified order failed");
                return Err(AppError::upstream("微信支付暂时不可用，请稍后重试"));
            }
        }
    }
    Err(AppError::upstream("微信支付暂时不可用，请稍后重试"))
}

/// The registration's open order, created if there is none. Two concurrent calls end with the
/// same order: the database allows one open order per registration.
async fn open_order(
    state: &AppState,
    registration: &Registration,
    fee: i64,
) -> Result<Order, AppError> {
    let sign_type = state.wechat()?.config.sign_type;
    for _ in 0..3 {
        if let Some(order) = orders::open_for_registration(&state.db, registration.id).await? {
            return Ok(order);
        }
        let number = new_out_trade_no(registration.id);
        if let Some(order) =
            orders::insert(&state.db, registration.id, &number, fee, sign_type, now()).await?
        {
            return Ok(order);
        }
    }
    Err(AppError::internal())
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
