//! One registration: the candidate's data and photo, the ticket, the flags raised, and a timeline
//! of its orders — created, prepaid, every raw notify received, paid, refunds — with a refund form
//! per paid order for those allowed to refund.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::page::{self, Nav, PageError, PageResult, Perm, Staff};
use crate::db::admin_queries::{self, Callback, OrderView};
use crate::db::refunds::{self, Refund};
use crate::db::{exams, registrations};
use crate::domain::states::{
    CallbackKind, CallbackOutcome, Flag, OrderStatus, RefundResult, RefundStatus, Refusal,
    RegistrationStatus,
};
use crate::http::AppState;
use crate::payments::refunds::new_out_refund_no;

pub struct Event {
    pub at: i64,
    /// Orders events of the same second in the order they can happen.
    pub rank: u8,
    pub when: String,
    pub title: String,
    pub detail: String,
    pub class: &'static str,
    /// A raw callback body, shown folded.
    pub raw: Option<String>,
}

pub struct RefundForm {
    pub order_id: i64,
    pub out_trade_no: String,
    pub paid: String,
    pub remaining: String,
    pub remaining_value: String,
    pub out_refund_no: String,
}

pub struct FlagRow {
    pub label: String,
    pub class: &'static str,
}

pub struct RefundRow {
    pub out_refund_no: String,
    pub amount: String,
    pub reason: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub requested: String,
    pub actor: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "registration.html")]
struct RegistrationPage {
    nav: Nav,
    id: i64,
    exam_id: i64,
    exam_title: String,
    name: String,
    id_number: String,
    phone: String,
    status_label: &'static str,
    status_class: &'static str,
    ticket_no: String,
    seat: String,
    ticket_state: &'static str,
    created: String,
    paid: String,
    has_photo: bool,
    flags: Vec<FlagRow>,
    events: Vec<Event>,
    refunds: Vec<RefundRow>,
    refund_forms: Vec<RefundForm>,
    can_refund: bool,
    notice: Option<&'static str>,
    review: Option<ReviewBox>,
    /// Whether the staff member may release the ID number from this account.
    can_release_id: bool,
    csrf: String,
}

/// The qualification review of a registration of an exam that reviews by hand.
struct ReviewBox {
    under_review: bool,
    /// The reason of the rejection, when rejected.
    note: String,
    can_decide: bool,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    notice: Option<String>,
    /// After a review decision: 1 when it was taken, 0 when the registration was no longer under
    /// review.
    done: Option<i64>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "refund_accepted" => "退款已提交，微信支付已受理，结果将通过退款通知或定时查询更新。",
        "refund_pending" => "退款已记录，但暂时未能送达微信支付；系统会用同一退款单号自动重试。",
        "refund_refused" => "微信支付拒绝了这笔退款，已标记为退款失败，详见下方退款记录。",
        "refund_existing" => "这张退款单已经提交过（重复提交），未再次退款。",
        "id_released" => "身份证号已解除绑定，本账号用该号码的未付款报名已取消。",
        "id_not_bound" => "该身份证号当前未绑定任何账号，无需解除。",
        _ => return None,
    })
}

fn flag_row(flag: &Flag) -> FlagRow {
    let (label, class) = match flag {
        Flag::PaidAfterExpiry => ("付款时已超过保留时间".into(), "wait"),
        Flag::NoSeat => ("付款后无座位可分配".into(), "bad"),
        Flag::PaidAfterCancel => ("考生取消报名后付款：待退款".into(), "bad"),
        Flag::MissingGlyphs(chars) => (
            format!("姓名含字库缺字「{chars}」：准考证上印为空框，请人工核对"),
            "bad",
        ),
    };
    FlagRow { label, class }
}

fn order_events(order: &OrderView, events: &mut Vec<Event>) {
    let no = &order.out_trade_no;
    events.push(Event {
        at: order.created_at,
        rank: 1,
        when: page::when(order.created_at),
        title: "创建订单".into(),
        detail: format!("商户订单号 {no}，金额 {}", page::yuan(order.total_fee)),
        class: "muted",
        raw: None,
    });
    if let Some(prepay) = &order.prepay_id {
        // The prepay time is not stored; it follows the order's creation within seconds.
        events.push(Event {
            at: order.created_at,
            rank: 2,
            when: page::when(order.created_at),
            title: "微信预支付".into(),
            detail: format!(
                "prepay_id {prepay}，有效至 {}",
                page::when_opt(order.prepay_expires_at)
            ),
            class: "wait",
            raw: None,
        });
    }
    if let Some(paid_at) = order.paid_at {
        events.push(Event {
            at: paid_at,
            rank: 4,
            when: page::when(paid_at),
            title: "付款成功".into(),
            detail: format!(
                "微信支付单号 {}，实付 {}",
                order.transaction_id.as_deref().unwrap_or("—"),
                page::yuan(order.paid_fee.unwrap_or(order.total_fee))
            ),
            class: "ok",
            raw: None,
        });
    }
    if let Some(closed_at) = order
        .closed_at
        .filter(|_| order.status == OrderStatus::Closed)
    {
        events.push(Event {
            at: closed_at,
            rank: 8,
            when: page::when(closed_at),
            title: "订单关闭".into(),
            detail: format!("商户订单号 {no}"),
            class: "muted",
            raw: None,
        });
    }
}

/// What became of a callback, in words for staff. Outcomes that never had words of their own
/// show their stored text (English, as kept for logs and support).
fn outcome_label(outcome: &CallbackOutcome) -> String {
    let words = match outcome {
        CallbackOutcome::Paid => "已记为付款",
        CallbackOutcome::AlreadyPaid => "重复通知，已付款，未重复记账",
        CallbackOutcome::PaidAfterExpiry => "保留时间过后付款，已重新分配名额",
        CallbackOutcome::PaidNoSeat => "保留时间过后付款，无名额，已列入待退款队列",
        CallbackOutcome::PaymentFailed => "微信支付告知付款失败",
        CallbackOutcome::Refund {
            result: RefundResult::Success,
            ..
        } => "退款成功",
        CallbackOutcome::Refused(refusal) => {
            let why = match refusal {
                Refusal::AmountMismatch => "金额与订单不符",
                Refusal::BadSignature => "签名错误",
                Refusal::UnknownOrder => "订单不存在",
                other => other.reason(),
            };
            return format!("已拒收（{why}）");
        }
        CallbackOutcome::Refund { .. } | CallbackOutcome::UnknownRefund => {
            return outcome.to_string();
        }
    };
    words.to_string()
}

fn callback_event(c: &Callback) -> Event {
    let refund = c.kind == CallbackKind::Refund;
    Event {
        at: c.received_at,
        rank: if refund { 6 } else { 3 },
        when: page::when(c.received_at),
        title: if refund {
            "收到退款通知".into()
        } else {
            "收到支付通知".into()
        },
        detail: format!("处理结果：{}", outcome_label(&c.outcome)),
        class: if c.outcome.is_refused() {
            "bad"
        } else {
            "info"
        },
        raw: Some(c.body.clone()),
    }
}

fn refund_events(r: &Refund, events: &mut Vec<Event>) {
    events.push(Event {
        at: r.created_at,
        rank: 5,
        when: page::when(r.created_at),
        title: "申请退款".into(),
        detail: format!(
            "{}，退款单号 {}，经办人 {}，原因：{}",
            page::yuan(r.refund_fee),
            r.out_refund_no,
            r.actor.as_deref().unwrap_or("—"),
            r.reason
        ),
        class: "wait",
        raw: None,
    });
    if r.status.is_final() {
        events.push(Event {
            at: r.updated_at,
            rank: 7,
            when: page::when(r.updated_at),
            title: format!(
                "退款{}",
                if r.status == RefundStatus::Success {
                    "成功"
                } else {
                    "未成功"
                }
            ),
            detail: format!("{}，退款单号 {}", page::yuan(r.refund_fee), r.out_refund_no),
            class: page::status_class(r.status),
            raw: None,
        });
    }
}

pub async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(query): Query<ShowQuery>,
) -> PageResult<Response> {
    let r = registrations::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这条报名记录"))?;
    let exam = exams::get(&state.db, r.exam_id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))?;
    let orders = admin_queries::orders_of(&state.db, id).await?;
    let numbers: Vec<String> = orders.iter().map(|o| o.out_trade_no.clone()).collect();
    let callbacks = admin_queries::callbacks_of(&state.db, &numbers).await?;
    let refund_list = refunds::for_registration(&state.db, id).await?;

    let mut events = vec![Event {
        at: r.created_at,
        rank: 0,
        when: page::when(r.created_at),
        title: "提交报名".into(),
        detail: format!("{}，{}", r.name, exam.title),
        class: "muted",
        raw: None,
    }];
    for order in &orders {
        order_events(order, &mut events);
    }
    events.extend(callbacks.iter().map(callback_event));
    for refund in &refund_list {
        refund_events(refund, &mut events);
    }
    // A stable sort keeps each order's own sequence where times are equal.
    events.sort_by_key(|e| (e.at, e.rank));

    let mut flags: Vec<FlagRow> = r.flags.raised().map(flag_row).collect();
    if r.flags.needs_refund() {
        flags.push(FlagRow {
            label: "已付款但无法安排座位，等待退款".into(),
            class: "bad",
        });
    }
    let mismatches = callbacks
        .iter()
        .filter(|c| c.outcome == CallbackOutcome::Refused(Refusal::AmountMismatch))
        .count();
    if mismatches > 0 {
        flags.push(FlagRow {
            label: format!("收到 {mismatches} 次金额与订单不符的支付通知（已拒收）"),
            class: "bad",
        });
    }

    let can_refund = staff.can(Perm::Refund);
    let mut refund_forms = Vec::new();
    if can_refund {
        for order in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
            let left = refunds::remaining(&state.db, order.id).await?;
            if left > 0 {
                refund_forms.push(RefundForm {
                    order_id: order.id,
                    out_trade_no: order.out_trade_no.clone(),
                    paid: page::yuan(order.paid_fee.unwrap_or(order.total_fee)),
                    remaining: page::yuan(left),
                    remaining_value: page::yuan(left).trim_start_matches('¥').to_string(),
                    out_refund_no: new_out_refund_no(),
                });
            }
        }
    }
    let ticket_state = match r.status {
        RegistrationStatus::Paid if r.ticket_no.is_some() => "有效",
        RegistrationStatus::Paid => "待生成",
        RegistrationStatus::Refunding => "退款中（仍有效）",
        RegistrationStatus::Refunded => "已作废",
        RegistrationStatus::UnderReview
        | RegistrationStatus::Rejected
        | RegistrationStatus::PendingPayment
        | RegistrationStatus::Cancelled
        | RegistrationStatus::Expired => "无",
    };
    let page = RegistrationPage {
        nav: staff.nav("exams"),
        id,
        exam_id: exam.id,
        exam_title: exam.title.clone(),
        name: r.name.clone(),
        id_number: r.id_number.clone(),
        phone: r.phone.clone(),
        status_label: page::status_label(r.status),
        status_class: page::status_class(r.status),
        ticket_no: r.ticket_no.clone().unwrap_or_else(|| "—".into()),
        seat: {
            let s = super::registrations::seat(&r);
            if s.is_empty() { "—".into() } else { s }
        },
        ticket_state,
        created: page::when(r.created_at),
        paid: page::when_opt(r.paid_at),
        has_photo: admin_queries::has_photo(&state.db, id).await?,
        flags,
        events,
        refunds: refund_list
            .iter()
            .map(|f| RefundRow {
                out_refund_no: f.out_refund_no.clone(),
                amount: page::yuan(f.refund_fee),
                reason: f.reason.clone(),
                status_label: page::status_label(f.status),
                status_class: page::status_class(f.status),
                requested: page::when(f.created_at),
                actor: f.actor.clone().unwrap_or_else(|| "—".into()),
            })
            .collect(),
        refund_forms,
        can_refund,
        notice: match query.done {
            Some(1) => Some("审核决定已记录，并记入操作日志。"),
            Some(_) => Some("该报名已不在待审核状态（可能已被他人处理或考生已取消），未作改动。"),
            None => notice_text(query.notice.as_deref()),
        },
        review: matches!(
            r.status,
            RegistrationStatus::UnderReview | RegistrationStatus::Rejected
        )
        .then(|| ReviewBox {
            under_review: r.status == RegistrationStatus::UnderReview,
            note: r.review_note.clone().unwrap_or_default(),
            can_decide: staff.can(Perm::Review),
        }),
        can_release_id: staff.can(Perm::ReleaseIdNumber),
        csrf: staff.0.csrf_token.clone(),
    };
    Ok(page.into_response())
}

pub async fn photo(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<i64>,
) -> PageResult<Response> {
    let (content_type, bytes) = admin_queries::photo(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这张照片"))?;
    // Only the two types the upload accepts are served as images; anything else is a download.
    let content_type = match content_type.as_str() {
        "image/jpeg" | "image/png" => content_type,
        _ => "application/octet-stream".into(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store".into()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_outcomes_read_as_staff_have_always_seen_them() {
        let refund = |result| CallbackOutcome::Refund {
            out_refund_no: "RF1764000000AB".into(),
            result,
        };
        for (outcome, words) in [
            (CallbackOutcome::Paid, "已记为付款"),
            (CallbackOutcome::AlreadyPaid, "重复通知，已付款，未重复记账"),
            (
                CallbackOutcome::PaidNoSeat,
                "保留时间过后付款，无名额，已列入待退款队列",
            ),
            (CallbackOutcome::PaymentFailed, "微信支付告知付款失败"),
            (
                CallbackOutcome::Refused(Refusal::AmountMismatch),
                "已拒收（金额与订单不符）",
            ),
            (
                CallbackOutcome::Refused(Refusal::OtherMerchant),
                "已拒收（another merchant）",
            ),
            (refund(RefundResult::Success), "退款成功"),
            (refund(RefundResult::Change), "refund RF1764000000AB CHANGE"),
            (
                CallbackOutcome::UnknownRefund,
                "ignored: unknown out_refund_no",
            ),
        ] {
            assert_eq!(outcome_label(&outcome), words, "{outcome:?}");
        }
    }
}
