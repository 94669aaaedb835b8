//! Qualification review for exams that review by hand: the queue with filters and pages, and the
//! approve / reject decisions, one at a time or for every ticked row. Staff of any role see the
//! queue; only the `admin` role decides.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Nav, PageError, PageResult, Pager, Perm, Staff};
use super::registrations::StatusOption;
use crate::db::exam_edits::{self, Actor};
use crate::db::registrations;
use crate::db::review::{self, Decided, QueueFilter};
use crate::domain::states::{ExamReview, RegistrationStatus};
use crate::http::AppState;
use crate::util::now;

/// What the candidate reads must fit on a phone screen.
const MAX_REASON_CHARS: usize = 200;
/// One bulk decision covers at most a page of the queue.
const MAX_BULK: usize = Pager::PER_PAGE as usize;

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    exam: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    page: Option<i64>,
    /// After a decision: how many were decided and how many had been decided already.
    done: Option<i64>,
    skipped: Option<i64>,
}

pub struct QueueRow {
    id: i64,
    exam: String,
    name: String,
    id_number: String,
    phone: String,
    status_label: &'static str,
    status_class: &'static str,
    submitted: String,
    note: String,
    reviewable: bool,
}

pub struct ExamOption {
    id: i64,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "review.html")]
struct QueuePage {
    nav: Nav,
    exams: Vec<ExamOption>,
    statuses: Vec<StatusOption>,
    q: String,
    rows: Vec<QueueRow>,
    pager: Pager,
    can_review: bool,
    csrf: String,
    back: String,
    done: Option<i64>,
    skipped: i64,
}

fn status_of(text: &str) -> RegistrationStatus {
    match text.parse() {
        Ok(RegistrationStatus::Rejected) => RegistrationStatus::Rejected,
        _ => RegistrationStatus::UnderReview,
    }
}

/// `/admin/review`: registrations waiting for a decision (or rejected ones), oldest first.
pub async fn queue(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<QueueQuery>,
) -> PageResult<Response> {
    let all_exams = exam_edits::list_all(&state.db).await?;
    let reviewed: Vec<_> = all_exams
        .iter()
        .filter(|e| e.review == ExamReview::Manual)
        .collect();
    let exam_id = query.exam.parse::<i64>().ok();
    let status = status_of(&query.status);
    let text: String = query.q.trim().chars().take(64).collect();
    let filter = QueueFilter {
        exam_id,
        status: Some(status),
        query: Some(text.clone()),
    };
    let page_no = query.page.unwrap_or(1).max(1);
    let (found, total) =
        review::queue(&state.db, &filter, Pager::PER_PAGE, Pager::offset(page_no)).await?;
    let base = format!(
        "/admin/review?exam={}&status={}&q={}",
        exam_id.map(|i| i.to_string()).unwrap_or_default(),
        status.as_str(),
        page::q(&text)
    );
    let pager = Pager::new(page_no, total, |n| format!("{base}&page={n}"));
    let back = format!("{base}&page={}", pager.page);
    let exam_code = |id: i64| {
        all_exams
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.code.clone())
            .unwrap_or_default()
    };
    let rows = found
        .iter()
        .map(|r| QueueRow {
            id: r.id,
            exam: exam_code(r.exam_id),
            name: r.name.clone(),
            id_number: r.id_number.clone(),
            phone: r.phone.clone(),
            status_label: page::status_label(r.status),
            status_class: page::status_class(r.status),
            submitted: page::when(r.created_at),
            note: r.review_note.clone().unwrap_or_default(),
            reviewable: r.status == RegistrationStatus::UnderReview,
        })
        .collect();
    let statuses = [
        RegistrationStatus::UnderReview,
        RegistrationStatus::Rejected,
    ]
    .into_iter()
    .map(|s| StatusOption {
        value: s.as_str(),
        label: page::status_label(s),
        selected: s == status,
    })
    .collect();
    Ok(QueuePage {
        nav: staff.nav("review"),
        exams: reviewed
            .iter()
            .map(|e| ExamOption {
                id: e.id,
                label: format!("{} {}", e.code, e.title),
                selected: Some(e.id) == exam_id,
            })
            .collect(),
        statuses,
        q: text,
        rows,
        pager,
        can_review: staff.can(Perm::Review),
        csrf: staff.0.csrf_token.clone(),
        back,
        done: query.done,
        skipped: query.skipped.unwrap_or(0),
    }
    .into_response())
}

/// A decision's form: where to go afterwards, and for a rejection the reason.
#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: String,
}

/// Staff come back to the queue page they decided on, or to the registration; never elsewhere.
fn back_to(back: &str, fallback: String) -> String {
    if back.starts_with("/admin/review?") && !back.contains("//") {
        back.to_string()
    } else {
        fallback
    }
}

fn with_counts(target: &str, done: usize, skipped: usize) -> String {
    let sep = if target.contains('?') { '&' } else { '?' };
    format!("{target}{sep}done={done}&skipped={skipped}")
}

fn valid_reason(reason: &str) -> Result<String, PageError> {
    let reason = reason.trim();
    let chars = reason.chars().count();
    if chars == 0 {
        return Err(PageError::bad_request(
            "驳回须填写原因，考生会看到它并据此修改报名信息。",
        ));
    }
    if chars > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(PageError::bad_request(format!(
            "驳回原因须为 1 到 {MAX_REASON_CHARS} 个字，且不含换行等控制字符。"
        )));
    }
    Ok(reason.to_string())
}

async fn exists(state: &AppState, id: i64) -> PageResult<()> {
    registrations::get(&state.db, id)
        .await?
        .map(drop)
        .ok_or_else(|| PageError::not_found("这条报名记录"))
}

fn hold_until(state: &AppState, at: i64) -> i64 {
    at + state.settings.order_ttl_minutes * 60
}

/// `POST /admin/registrations/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<DecisionForm>,
) -> PageResult<Response> {
    staff.require(Perm::Review)?;
    exists(&state, id).await?;
    let actor = actor(&staff);
    let at = now();
    let decided = review::approve(&state.db, id, hold_until(&state, at), &actor, at).await?;
    decided_one(&staff, id, decided, "approved", &form.back)
}

/// `POST /admin/registrations/{id}/reject` with a required `reason`.
pub async fn reject(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<DecisionForm>,
) -> PageResult<Response> {
    staff.require(Perm::Review)?;
    let reason = valid_reason(&form.reason)?;
    exists(&state, id).await?;
    let actor = actor(&staff);
    let decided = review::reject(&state.db, id, &reason, &actor, now()).await?;
    decided_one(&staff, id, decided, "rejected", &form.back)
}

fn actor(staff: &Staff) -> Actor<'_> {
    Actor {
        admin_id: staff.0.admin_id,
        username: &staff.0.username,
    }
}

fn decided_one(
    staff: &Staff,
    id: i64,
    decided: Decided,
    what: &str,
    back: &str,
) -> PageResult<Response> {
    let (done, skipped) = match decided {
        Decided::Done => (1, 0),
        Decided::NotUnderReview => (0, 1),
    };
    tracing::info!(admin = %staff.0.username, registration = id, decision = what, done, "qualification reviewed");
    let target = back_to(back, format!("/admin/registrations/{id}"));
    Ok(Redirect::to(&with_counts(&target, done, skipped)).into_response())
}

/// `POST /admin/review/bulk`: `action` (`approve` or `reject`), the ticked `ids`, and for a
/// rejection one `reason` for all. Each registration is decided in its own transaction, so one
/// decided meanwhile by someone else is skipped, not a failure of the rest.
pub async fn bulk(
    State(state): State<AppState>,
    staff: Staff,
    body: Bytes,
) -> PageResult<Response> {
    staff.require(Perm::Review)?;
    let mut action = String::new();
    let mut reason = String::new();
    let mut back = String::new();
    let mut ids = Vec::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match &*key {
            "action" => action = value.into_owned(),
            "reason" => reason = value.into_owned(),
            "back" => back = value.into_owned(),
            "ids" => {
                ids.push(value.parse::<i64>().map_err(|_| {
                    PageError::bad_request("所选的报名编号无效，请刷新页面后重试。")
                })?)
            }
            _ => {}
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(PageError::bad_request("请先勾选要审核的报名。"));
    }
    if ids.len() > MAX_BULK {
        return Err(PageError::bad_request(format!(
            "一次最多审核 {MAX_BULK} 条报名。"
        )));
    }
    let reason = match action.as_str() {
        "approve" => None,
        "reject" => Some(valid_reason(&reason)?),
        _ => return Err(PageError::bad_request("请选择“通过”或“驳回”。")),
    };
    let actor = actor(&staff);
    let (mut done, mut skipped) = (0, 0);
    for id in ids {
        let at = now();
        let decided = match &reason {
            None => review::approve(&state.db, id, hold_until(&state, at), &actor, at).await?,
            Some(reason) => review::reject(&state.db, id, reason, &actor, at).await?,
        };
        match decided {
            Decided::Done => done += 1,
            Decided::NotUnderReview => skipped += 1,
        }
    }
    tracing::info!(admin = %staff.0.username, action = %action, done, skipped, "qualifications reviewed in bulk");
    let target = back_to(&back, "/admin/review?".to_string());
    Ok(Redirect::to(&with_counts(&target, done, skipped)).into_response())
}
