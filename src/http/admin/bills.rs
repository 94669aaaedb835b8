//! 对账: the daily reconciliation against WeChat's bill, for finance. One row a day with its state
//! and both sides' totals; a day's findings with links to the registrations; a re-run; CSV.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csv::{CsvWriter, as_text};
use super::page::{self, Nav, PageError, PageResult, Perm, Staff};
use crate::db::bill_checks::{self, Day, Finding};
use crate::domain::states::{BillCheckState, BillDifference};
use crate::http::AppState;
use crate::payments::daily_bill::{self, BillCheckError};

struct DayRow {
    date: String,
    state: &'static str,
    state_class: &'static str,
    our: String,
    bill: String,
    charges: String,
    differences: i64,
    recorded_late: i64,
    error: String,
    finished: String,
}

fn state_label(state: BillCheckState) -> (&'static str, &'static str) {
    match state {
        BillCheckState::Running => ("对账中", "wait"),
        BillCheckState::Agreed => ("一致", "ok"),
        BillCheckState::Differences => ("有差异", "bad"),
        BillCheckState::NoBill => ("无账单", "muted"),
        BillCheckState::Failed => ("获取失败", "bad"),
    }
}

fn kind_label(kind: BillDifference) -> &'static str {
    match kind {
        BillDifference::RecordedLate => "微信已收款、本系统漏记：已查询并补记",
        BillDifference::UnknownHere => "账单中有、本系统无此订单",
        BillDifference::MissingInBill => "本系统已收款、账单中没有",
        BillDifference::AmountDiffers => "金额不一致",
        BillDifference::TransactionDiffers => "微信订单号不一致",
        BillDifference::RefundMissingInBill => "本系统已退款、账单中没有",
        BillDifference::RefundUnknownHere => "账单中有退款、本系统无记录",
        BillDifference::RefundAmountDiffers => "退款金额不一致",
        BillDifference::TotalsDiffer => "汇总不一致",
    }
}

fn day_row(d: &Day) -> DayRow {
    let (state, state_class) = state_label(d.state);
    let t = &d.totals;
    DayRow {
        date: d.bill_date.clone(),
        state,
        state_class,
        our: format!(
            "{} 笔 · 收 {} · 退 {}",
            t.our_count,
            page::yuan(t.our_paid_fen),
            page::yuan(t.our_refund_fen)
        ),
        bill: format!(
            "{} 笔 · 收 {} · 退 {}",
            t.bill_count,
            page::yuan(t.bill_paid_fen),
            page::yuan(t.bill_refund_fen)
        ),
        charges: format!(
            "¥{}",
            wechat_pay_v2::bill::yuan_charge(t.bill_charge_milli_fen)
        ),
        differences: d.differences,
        recorded_late: d.recorded_late,
        error: d.error.clone(),
        finished: page::when_opt(d.finished_at),
    }
}

struct FindingRow {
    kind: &'static str,
    out_trade_no: String,
    out_refund_no: String,
    registration_id: Option<i64>,
    ours: String,
    bill: String,
    detail: String,
}

fn finding_row(f: &Finding) -> FindingRow {
    let money = |v: Option<i64>| v.map(page::yuan).unwrap_or_default();
    FindingRow {
        kind: kind_label(f.kind),
        out_trade_no: f.out_trade_no.clone(),
        out_refund_no: f.out_refund_no.clone(),
        registration_id: f.registration_id,
        ours: money(f.ours_fen),
        bill: money(f.bill_fen),
        detail: f.detail.clone(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "reconciliation.html")]
struct BillsPage {
    nav: Nav,
    days: Vec<DayRow>,
    selected: Option<DayRow>,
    findings: Vec<FindingRow>,
    csrf: String,
    yesterday: String,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct BillsQuery {
    date: Option<String>,
    notice: Option<String>,
}

/// `/admin/reconciliation`, and one day with `?date=YYYY-MM-DD`.
pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<BillsQuery>,
) -> PageResult<Response> {
    staff.require(Perm::Reconcile)?;
    let days = bill_checks::recent(&state.db, 60).await?;
    let (selected, findings) = match query.date.as_deref() {
        Some(date) => {
            let day = bill_checks::get(&state.db, date)
                .await?
                .ok_or_else(|| PageError::not_found("这一天的对账记录"))?;
            let findings = bill_checks::findings(&state.db, date).await?;
            (
                Some(day_row(&day)),
                findings.iter().map(finding_row).collect(),
            )
        }
        None => (None, Vec::new()),
    };
    Ok(BillsPage {
        nav: staff.nav("reconciliation"),
        days: days.iter().map(day_row).collect(),
        selected,
        findings,
        csrf: staff.0.csrf_token.clone(),
        yesterday: daily_bill::yesterday(crate::util::now()).0,
        notice: query.notice,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct RunForm {
    date: String,
}

/// `POST /admin/reconciliation/run`: fetches the day's bill again and compares it now.
pub async fn run(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<RunForm>,
) -> PageResult<Response> {
    staff.require(Perm::Reconcile)?;
    let date = form.date.trim();
    if daily_bill::day_range(date).is_err() {
        return Err(PageError::bad_request(
            "日期格式应为 YYYY-MM-DD，例如 2026-12-01。",
        ));
    }
    match daily_bill::reconcile_day(&state.payments, date, true).await {
        Ok(report) => {
            tracing::info!(admin = %staff.0.username, date, state = %report.state, "reconciliation re-run");
            Ok(Redirect::to(&format!("/admin/reconciliation?date={date}")).into_response())
        }
        Err(BillCheckError::Busy(_)) => Ok(Redirect::to(&format!(
            "/admin/reconciliation?date={date}&notice=busy"
        ))
        .into_response()),
        Err(BillCheckError::Payment(crate::payments::PaymentError::NotConfigured)) => {
            Err(PageError::bad_request("未配置微信支付商户信息，无法对账。"))
        }
        Err(e) => {
            tracing::error!(date, error = %e, "reconciliation re-run failed");
            Err(PageError::internal())
        }
    }
}

/// `/admin/reconciliation.csv?date=…`: the day's findings.
pub async fn export(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<BillsQuery>,
) -> PageResult<Response> {
    staff.require(Perm::Reconcile)?;
    let date = query.date.unwrap_or_default();
    if bill_checks::get(&state.db, &date).await?.is_none() {
        return Err(PageError::not_found("这一天的对账记录"));
    }
    let mut csv = CsvWriter::new();
    csv.row([
        "日期",
        "差异",
        "商户订单号",
        "商户退款单号",
        "报名编号",
        "本系统金额(元)",
        "微信账单金额(元)",
        "说明",
    ]);
    for f in bill_checks::findings(&state.db, &date).await? {
        let money = |v: Option<i64>| v.map(wechat_pay_v2::bill::yuan).unwrap_or_default();
        csv.row([
            date.clone(),
            kind_label(f.kind).to_string(),
            as_text(&f.out_trade_no),
            as_text(&f.out_refund_no),
            f.registration_id.map(|i| i.to_string()).unwrap_or_default(),
            money(f.ours_fen),
            money(f.bill_fen),
            f.detail.clone(),
        ]);
    }
    Ok(csv.into_download(&format!("reconciliation-{date}.csv")))
}
