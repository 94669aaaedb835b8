//! The dashboard: registrations and money per exam and status, refunds, and registrations per
//! day over the last 30 days as a server-drawn SVG chart.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::page::{self, Nav, PageResult, Staff};
use crate::db::{admin_queries, exam_edits};
use crate::domain::states::{RefundStatus, RegistrationStatus};
use crate::http::AppState;
use crate::util::now;

const DAYS: i64 = 30;

pub struct ExamStats {
    pub id: i64,
    pub title: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub pending: i64,
    pub paid: i64,
    pub refunding: i64,
    pub refunded: i64,
    pub ended: i64,
    pub seats: String,
    pub received: String,
    pub returned: String,
    pub net: String,
}

pub struct RefundStat {
    pub label: &'static str,
    pub class: &'static str,
    pub count: i64,
    pub amount: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    total_registrations: i64,
    total_paid: i64,
    net_income: String,
    refunds_open: i64,
    queue: i64,
    exams: Vec<ExamStats>,
    refunds: Vec<RefundStat>,
    chart: String,
    chart_total: i64,
}

pub async fn show(State(state): State<AppState>, staff: Staff) -> PageResult<Response> {
    let db = &state.db;
    let exams = exam_edits::list_all(db).await?;
    let counts = admin_queries::status_counts(db).await?;
    let money: HashMap<i64, (i64, i64)> = admin_queries::money_per_exam(db)
        .await?
        .into_iter()
        .map(|m| (m.exam_id, (m.paid, m.refunded)))
        .collect();
    let mut by_exam: HashMap<(i64, RegistrationStatus), i64> = HashMap::new();
    for c in &counts {
        by_exam.insert((c.exam_id, c.status), c.n);
    }
    let get = |id: i64, s: RegistrationStatus| by_exam.get(&(id, s)).copied().unwrap_or(0);
    let mut total_received = 0;
    let mut total_returned = 0;
    let stats: Vec<ExamStats> = exams
        .iter()
        .map(|e| {
            let (received, returned) = money.get(&e.id).copied().unwrap_or((0, 0));
            total_received += received;
            total_returned += returned;
            ExamStats {
                id: e.id,
                title: e.title.clone(),
                status_label: page::status_label(e.status),
                status_class: page::status_class(e.status),
                pending: get(e.id, RegistrationStatus::PendingPayment),
                paid: get(e.id, RegistrationStatus::Paid),
                refunding: get(e.id, RegistrationStatus::Refunding),
                refunded: get(e.id, RegistrationStatus::Refunded),
                ended: get(e.id, RegistrationStatus::Expired)
                    + get(e.id, RegistrationStatus::Cancelled),
                seats: format!("{} / {}", e.seats_taken, e.capacity),
                received: page::yuan(received),
                returned: page::yuan(returned),
                net: page::yuan(received - returned),
            }
        })
        .collect();
    let refund_totals = admin_queries::refund_totals(db).await?;
    let refunds_open = refund_totals
        .iter()
        .filter(|(s, _, _)| !s.is_final())
        .map(|(_, n, _)| n)
        .sum();
    let refunds = RefundStatus::ALL
        .iter()
        .filter_map(|s| {
            refund_totals
                .iter()
                .find(|(st, _, _)| st == s)
                .map(|(_, n, fen)| RefundStat {
                    label: page::status_label(*s),
                    class: page::status_class(*s),
                    count: *n,
                    amount: page::yuan(*fen),
                })
        })
        .collect();
    let queue = admin_queries::refund_queue(db).await?.len() as i64;

    let today = (now() + 8 * 3600) / 86_400;
    let first = today - DAYS + 1;
    let per_day: HashMap<i64, i64> = admin_queries::per_day(db, first * 86_400 - 8 * 3600)
        .await?
        .into_iter()
        .collect();
    let days: Vec<i64> = (first..=today).collect();
    let labels: Vec<String> = days
        .iter()
        .map(|d| {
            let t = d * 86_400;
            page::when(t - 8 * 3600)
                .get(5..10)
                .map(|md| md.replacen('-', "/", 1))
                .unwrap_or_default()
        })
        .collect();
    let values: Vec<i64> = days
        .iter()
        .map(|d| per_day.get(d).copied().unwrap_or(0))
        .collect();
    let chart_total = values.iter().sum();
    let chart = super::chart::bars(&labels, &values, "近30天每日报名人数");

    Ok(DashboardPage {
        nav: staff.nav("dashboard"),
        total_registrations: counts.iter().map(|c| c.n).sum(),
        total_paid: counts
            .iter()
            .filter(|c| {
                matches!(
                    c.status,
                    RegistrationStatus::Paid | RegistrationStatus::Refunding
                )
            })
            .map(|c| c.n)
            .sum(),
        net_income: page::yuan(total_received - total_returned),
        refunds_open,
        queue,
        exams: stats,
        refunds,
        chart,
        chart_total,
    }
    .into_response())
}
