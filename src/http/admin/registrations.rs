//! One exam's registrations: search by name, ID number, phone, ticket number or out_trade_no,
//! filter by status, pages of results, and the CSV export of the same selection.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::csv::{CsvWriter, as_text};
use super::page::{self, Nav, PageError, PageResult, Pager, Perm, Staff};
use crate::db::admin_queries::{self, Search};
use crate::db::exams;
use crate::db::registrations::Registration;
use crate::domain::states::RegistrationStatus;
use crate::http::AppState;

/// More rows than this in one export would be better split by status.
const EXPORT_LIMIT: i64 = 200_000;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    page: Option<i64>,
    shuffled: Option<i64>,
}

pub struct RegRow {
    pub id: i64,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub ticket: String,
    pub seat: String,
    pub created: String,
    pub flagged: bool,
}

pub fn reg_row(r: &Registration) -> RegRow {
    RegRow {
        id: r.id,
        name: r.name.clone(),
        id_number: r.id_number.clone(),
        phone: r.phone.clone(),
        status_label: page::status_label(r.status),
        status_class: page::status_class(r.status),
        ticket: r.ticket_no.clone().unwrap_or_default(),
        seat: seat(r),
        created: page::when(r.created_at),
        flagged: !r.flags.is_empty(),
    }
}

pub fn seat(r: &Registration) -> String {
    match (&r.room, r.seat_no) {
        (Some(room), Some(no)) => format!("{room} {no}号"),
        _ => String::new(),
    }
}

pub struct StatusOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "registrations.html")]
struct ListPage {
    nav: Nav,
    exam: super::exams::ExamRow,
    q: String,
    statuses: Vec<StatusOption>,
    rows: Vec<RegRow>,
    pager: Pager,
    csv_href: String,
    can_export: bool,
    can_shuffle: bool,
    csrf: String,
    /// Set after a seat re-arrangement: how many were seated.
    shuffled: Option<i64>,
    /// The rooms, with links to their door lists and sign-in sheets (staff who may export).
    rooms: Vec<crate::db::sheets::RoomCount>,
}

fn search_of(exam_id: i64, query: &ListQuery) -> Search {
    let status = query
        .status
        .parse()
        .ok()
        .filter(|s| page::REGISTRATION_STATUSES.contains(s));
    Search {
        exam_id,
        text: query.q.trim().chars().take(64).collect(),
        status,
    }
}

pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(query): Query<ListQuery>,
) -> PageResult<Response> {
    let exam = exams::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))?;
    let search = search_of(id, &query);
    let page_no = query.page.unwrap_or(1).max(1);
    let (rows, total) =
        admin_queries::search(&state.db, &search, Pager::PER_PAGE, Pager::offset(page_no)).await?;
    let status = search.status.map_or("", RegistrationStatus::as_str);
    let base = format!(
        "/admin/exams/{id}/registrations?q={}&status={}",
        page::q(&search.text),
        page::q(status)
    );
    let pager = Pager::new(page_no, total, |n| format!("{base}&page={n}"));
    let statuses = page::REGISTRATION_STATUSES
        .into_iter()
        .map(|s| StatusOption {
            value: s.as_str(),
            label: page::status_label(s),
            selected: Some(s) == search.status,
        })
        .collect();
    Ok(ListPage {
        nav: staff.nav("exams"),
        exam: super::exams::row(&exam),
        q: search.text.clone(),
        statuses,
        rows: rows.iter().map(reg_row).collect(),
        pager,
        csv_href: format!(
            "/admin/exams/{id}/registrations.csv?q={}&status={}",
            page::q(&search.text),
            page::q(status)
        ),
        can_export: staff.can(Perm::Export),
        can_shuffle: staff.can(Perm::EditExams),
        csrf: staff.0.csrf_token.clone(),
        shuffled: query.shuffled,
        rooms: if staff.can(Perm::Export) {
            crate::db::sheets::rooms(&state.db, id).await?
        } else {
            Vec::new()
        },
    }
    .into_response())
}

pub async fn export(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(query): Query<ListQuery>,
) -> PageResult<Response> {
    staff.require(Perm::Export)?;
    let exam = exams::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))?;
    let rows = admin_queries::export(&state.db, &search_of(id, &query), EXPORT_LIMIT).await?;
    let mut csv = CsvWriter::new();
    csv.row([
        "报名编号",
        "姓名",
        "身份证号",
        "手机号",
        "状态",
        "准考证号",
        "考场座位",
        "报名时间",
        "付款时间",
        "商户订单号",
        "实付金额(元)",
        "标记",
    ]);
    for row in &rows {
        let r = &row.registration;
        csv.row([
            r.id.to_string(),
            r.name.clone(),
            as_text(&r.id_number),
            as_text(&r.phone),
            page::status_label(r.status).to_string(),
            as_text(r.ticket_no.as_deref().unwrap_or("")),
            seat(r),
            page::when(r.created_at),
            r.paid_at.map(page::when).unwrap_or_default(),
            as_text(row.out_trade_no.as_deref().unwrap_or("")),
            row.paid_fee
                .map(|f| page::yuan(f).trim_start_matches('¥').to_string())
                .unwrap_or_default(),
            r.flags.text(),
        ]);
    }
    tracing::info!(admin = %staff.0.username, exam = %exam.code, rows = rows.len(), "registrations exported");
    let filename = format!("registrations-{}.csv", exam.code);
    Ok(csv.into_download(&filename))
}
