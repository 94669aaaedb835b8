//! The audit log, newest first, in pages; admins only.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::page::{self, Nav, PageResult, Pager, Perm, Staff};
use crate::db::audit;
use crate::http::AppState;

pub struct AuditRow {
    pub when: String,
    pub actor: String,
    pub action: String,
    pub action_label: &'static str,
    pub target: String,
    pub target_href: Option<String>,
    pub amount: String,
    pub reason: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    rows: Vec<AuditRow>,
    pager: Pager,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    page: Option<i64>,
}

fn action_label(action: &str) -> &'static str {
    match action {
        "exam.create" => "新建考试",
        "exam.update" => "修改考试",
        "exam.open" => "开放报名",
        "exam.close" => "关闭报名",
        "refund.request" => "申请退款",
        "refund.success" => "退款成功",
        "refund.failed" => "退款失败",
        "refund.closed" => "退款关闭",
        _ => "其他",
    }
}

fn target_href(target: &str) -> Option<String> {
    let (kind, id) = target.split_once(':')?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "registration" => Some(format!("/admin/registrations/{id}")),
        "exam" => Some(format!("/admin/exams/{id}/edit")),
        _ => None,
    }
}

pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<AuditQuery>,
) -> PageResult<Response> {
    staff.require(Perm::Audit)?;
    let page_no = query.page.unwrap_or(1).max(1);
    let (rows, total) = audit::page(&state.db, "", Pager::PER_PAGE, Pager::offset(page_no)).await?;
    Ok(AuditPage {
        nav: staff.nav("audit"),
        rows: rows
            .iter()
            .map(|r| AuditRow {
                when: page::when(r.at),
                actor: r.actor.clone(),
                action: r.action.clone(),
                action_label: action_label(&r.action),
                target: r.target.clone(),
                target_href: target_href(&r.target),
                amount: r.amount_fen.map(page::yuan).unwrap_or_default(),
                reason: r.reason.clone(),
                detail: r.detail.clone(),
            })
            .collect(),
        pager: Pager::new(page_no, total, |n| format!("/admin/audit?page={n}")),
    }
    .into_response())
}
