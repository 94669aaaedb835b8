//! Refunds: the form's POST (finance or admin) and the refunds page with the queue of
//! paid-but-unseatable registrations.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Nav, PageError, PageResult, Pager, Perm, Staff};
use crate::db::admin_queries;
use crate::db::refunds::{self, NewRefund, RequestOutcome};
use crate::domain::states::RefundStatus;
use crate::http::AppState;
use crate::payments::refunds::{Sent, send, valid_out_refund_no};
use crate::util::now;

#[derive(Deserialize)]
pub struct RefundFormData {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    out_refund_no: String,
}

pub async fn create(
    State(state): State<AppState>,
    staff: Staff,
    Path(order_id): Path<i64>,
    Form(form): Form<RefundFormData>,
) -> PageResult<Response> {
    staff.require(Perm::Refund)?;
    let (order, registration_id) = admin_queries::order(&state.db, order_id)
        .await?
        .ok_or_else(|| PageError::not_found("这笔订单"))?;
    let back = format!("/admin/registrations/{registration_id}");
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(PageError::bad_request(
            "请填写退款原因（1 到 200 个字）。请返回上一页补充后重新提交。",
        ));
    }
    let Some(fee) = page::parse_yuan(&form.amount).filter(|f| *f > 0) else {
        return Err(PageError::bad_request(
            "退款金额须为大于 0 的金额，单位元，最多两位小数。",
        ));
    };
    if !valid_out_refund_no(&form.out_refund_no) {
        return Err(PageError::bad_request(
            "退款单号无效，请返回上一页刷新后重新提交。",
        ));
    }
    let new = NewRefund {
        order_id,
        out_refund_no: &form.out_refund_no,
        refund_fee: fee,
        reason,
        admin_id: staff.0.admin_id,
        actor: &staff.0.username,
        worker: &state.payments.worker_id,
    };
    let id = match refunds::request(&state.db, &new, now()).await? {
        RequestOutcome::Created(id) => id,
        RequestOutcome::Existing(_) => {
            return Ok(Redirect::to(&format!("{back}?notice=refund_existing")).into_response());
        }
        RequestOutcome::TooMuch { remaining } => {
            return Err(PageError::bad_request(format!(
                "退款金额 {} 超过了订单 {} 尚可退款的 {}，未提交。",
                page::yuan(fee),
                order.out_trade_no,
                page::yuan(remaining)
            )));
        }
        RequestOutcome::NotPaid => {
            return Err(PageError::bad_request(format!(
                "订单 {} 未付款，不能退款。",
                order.out_trade_no
            )));
        }
    };
    tracing::info!(admin = %staff.0.username, out_refund_no = %form.out_refund_no, fee, "refund requested");
    let refund = refunds::by_id(&state.db, id)
        .await?
        .ok_or_else(PageError::internal)?;
    let notice = match send(&state.payments, &refund).await? {
        Sent::Accepted => "refund_accepted",
        Sent::Refused(_) => "refund_refused",
        Sent::Retry(_) => "refund_pending",
    };
    Ok(Redirect::to(&format!("{back}?notice={notice}")).into_response())
}

pub struct RefundRow {
    pub registration_id: i64,
    pub name: String,
    pub out_refund_no: String,
    pub out_trade_no: String,
    pub amount: String,
    pub reason: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub requested: String,
    pub updated: String,
    pub actor: String,
}

pub struct QueueRow {
    pub id: i64,
    pub name: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub paid: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "refunds.html")]
struct RefundsPage {
    nav: Nav,
    queue: Vec<QueueRow>,
    rows: Vec<RefundRow>,
    pager: Pager,
    statuses: Vec<super::registrations::StatusOption>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    page: Option<i64>,
}

/// The statuses of the list's filter.
const REFUND_STATUSES: [RefundStatus; 4] = [
    RefundStatus::Requested,
    RefundStatus::Processing,
    RefundStatus::Success,
    RefundStatus::Failed,
];

pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<ListQuery>,
) -> PageResult<Response> {
    let status = query
        .status
        .parse()
        .ok()
        .filter(|s| REFUND_STATUSES.contains(s));
    let page_no = query.page.unwrap_or(1).max(1);
    let (list, total) =
        refunds::page(&state.db, status, Pager::PER_PAGE, Pager::offset(page_no)).await?;
    let queue = admin_queries::refund_queue(&state.db).await?;
    let pager = Pager::new(page_no, total, |n| {
        let shown = status.map_or("", RefundStatus::as_str);
        format!("/admin/refunds?status={}&page={n}", page::q(shown))
    });
    Ok(RefundsPage {
        nav: staff.nav("refunds"),
        queue: queue
            .iter()
            .map(|r| QueueRow {
                id: r.id,
                name: r.name.clone(),
                status_label: page::status_label(r.status),
                status_class: page::status_class(r.status),
                paid: page::when_opt(r.paid_at),
            })
            .collect(),
        rows: list
            .iter()
            .map(|f| RefundRow {
                registration_id: f.registration_id,
                name: f.name.clone(),
                out_refund_no: f.out_refund_no.clone(),
                out_trade_no: f.out_trade_no.clone(),
                amount: page::yuan(f.refund_fee),
                reason: f.reason.clone(),
                status_label: page::status_label(f.status),
                status_class: page::status_class(f.status),
                requested: page::when(f.created_at),
                updated: page::when(f.updated_at),
                actor: f.actor.clone().unwrap_or_else(|| "—".into()),
            })
            .collect(),
        pager,
        statuses: REFUND_STATUSES
            .into_iter()
            .map(|s| super::registrations::StatusOption {
                value: s.as_str(),
                label: page::status_label(s),
                selected: Some(s) == status,
            })
            .collect(),
    }
    .into_response())
}
