//! Tickets for staff: the exam-door check of a QR code, one ticket or a whole exam's (or room's)
//! tickets for printing with progress, and re-arranging seats once registration has closed.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Nav, PageError, PageResult, Perm, Staff};
use crate::db::audit::Entry;
use crate::db::{exams, photos, registrations, seating, ticket_batches};
use crate::domain::id_number::IdNumber;
use crate::domain::states::{BatchKind, BatchStatus, ExamStatus, RegistrationStatus};
use crate::http::AppState;
use crate::util::now;
use examdesk_tickets::token::{TokenError, verify_token};

struct VerifiedTicket {
    id: i64,
    name: String,
    id_number: String,
    exam: String,
    ticket_no: String,
    room: String,
    seat: String,
    starts: String,
    has_photo: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "verify.html")]
pub struct VerifyPage {
    nav: Nav,
    /// `valid`, `void` or `forged`: the colour of the big status.
    state: &'static str,
    headline: &'static str,
    reason: String,
    ticket: Option<VerifiedTicket>,
    /// The door check-in, for a ticket that reads as this system's.
    door: Option<super::door::DoorBox>,
    token: String,
}

/// `/verify/{token}`: what the proctor's phone opens from the ticket's QR code.
pub async fn verify(
    State(state): State<AppState>,
    staff: Staff,
    Path(token): Path<String>,
    Query(query): Query<super::door::VerifyQuery>,
) -> PageResult<VerifyPage> {
    let nav = staff.nav("verify");
    let forged = |reason: &str| VerifyPage {
        nav: nav.clone(),
        state: "forged",
        headline: "伪造",
        reason: reason.to_string(),
        ticket: None,
        door: None,
        token: String::new(),
    };
    let claims = match verify_token(state.secret.expose().as_bytes(), &token) {
        Ok(c) => c,
        Err(TokenError::Forged | TokenError::Malformed) => {
            tracing::warn!(admin = %staff.0.username, "forged ticket QR code scanned");
            return Ok(forged(
                "二维码不是本系统签发的，或已被篡改。请核查考生身份并报告考务负责人。",
            ));
        }
    };
    let Some(r) = registrations::get(&state.db, claims.registration_id).await? else {
        return Ok(forged("二维码对应的报名记录不存在。"));
    };
    let exam = exams::get(&state.db, r.exam_id)
        .await?
        .ok_or_else(PageError::internal)?;
    let has_photo = photos::get(&state.db, r.id).await?.is_some();
    let current_no = r.ticket_no.clone().unwrap_or_default();
    let door = super::door::door_box(&state, &r, &exam, &claims, query.result.as_deref()).await?;
    let void = match r.status {
        RegistrationStatus::Paid => None,
        RegistrationStatus::Refunding | RegistrationStatus::Refunded => {
            Some("该考生已退款，准考证作废。")
        }
        RegistrationStatus::Cancelled => Some("该报名已取消，准考证作废。"),
        RegistrationStatus::UnderReview
        | RegistrationStatus::Rejected
        | RegistrationStatus::PendingPayment
        | RegistrationStatus::Expired => Some("该报名未完成缴费，准考证无效。"),
    };
    let (state_name, headline, reason) = if let Some(why) = void {
        ("void", "作废", why.to_string())
    } else if current_no != claims.ticket_no {
        (
            "void",
            "作废",
            format!(
                "座位已重新编排，此准考证作废；现准考证号为 {current_no}，请考生按新准考证入场。"
            ),
        )
    } else if claims.issued_version != r.ticket_version {
        (
            "valid",
            "有效",
            "准考证已重新签发（如更换照片），请以本页照片为准核对。".to_string(),
        )
    } else {
        (
            "valid",
            "有效",
            "准考证有效，请核对考生本人与照片、身份证件一致。".to_string(),
        )
    };
    Ok(VerifyPage {
        nav,
        state: state_name,
        headline,
        reason,
        ticket: Some(VerifiedTicket {
            id: r.id,
            id_number: IdNumber::parse(&r.id_number)
                .map(|i| i.masked())
                .unwrap_or_default(),
            name: r.name,
            exam: exam.title,
            ticket_no: claims.ticket_no,
            room: r.room.unwrap_or_else(|| "—".into()),
            seat: r
                .seat_no
                .map(|s| s.to_string())
                .unwrap_or_else(|| "—".into()),
            starts: crate::util::to_china_time(exam.starts_at),
            has_photo,
        }),
        door: Some(door),
        token,
    })
}

pub(super) fn pdf_response(bytes: Vec<u8>, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// One candidate's ticket, for staff (e.g. to print it for someone at the door).
pub async fn ticket_pdf(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<i64>,
) -> PageResult<Response> {
    let r = registrations::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这条报名记录"))?;
    if r.status != RegistrationStatus::Paid || r.ticket_no.is_none() {
        return Err(PageError::bad_request(
            "该报名没有有效的准考证（未缴费、已退款或尚未分配座位）。",
        ));
    }
    let pdf = crate::ticketing::ticket_pdf(&state.tickets, &r)
        .await
        .map_err(|_| PageError::internal())?;
    Ok(pdf_response(
        pdf,
        &format!("ticket-{}.pdf", r.ticket_no.unwrap_or_default()),
    ))
}

#[derive(Deserialize)]
pub struct BatchForm {
    #[serde(default)]
    room_no: String,
}

/// Starts a bulk PDF of the exam's (or one room's) tickets and shows its progress page.
pub async fn start_batch(
    State(state): State<AppState>,
    staff: Staff,
    Path(exam_id): Path<i64>,
    Form(form): Form<BatchForm>,
) -> PageResult<Redirect> {
    staff.require(Perm::Export)?;
    let exam = exams::get(&state.db, exam_id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))?;
    let room_no = match form.room_no.trim() {
        "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| PageError::bad_request("考场号应为数字。"))?,
        ),
    };
    let ids = seating::seated(&state.db, exam.id, room_no).await?;
    if ids.is_empty() {
        return Err(PageError::bad_request(
            "没有可打印的准考证（尚无已缴费并分配座位的考生）。",
        ));
    }
    let batch = ticket_batches::create(
        &state.db,
        exam.id,
        room_no,
        BatchKind::Tickets,
        ids.len() as i64,
        &staff.0.username,
        now(),
    )
    .await?;
    tokio::spawn(render_batch(state.clone(), batch, ids));
    Ok(Redirect::to(&format!("/admin/ticket-batches/{batch}")))
}

/// Gathers the tickets' data, then draws them as one PDF.
async fn render_batch(state: AppState, batch: i64, ids: Vec<i64>) {
    let mut tickets = Vec::with_capacity(ids.len());
    for id in ids {
        match registrations::get(&state.db, id).await {
            Ok(Some(r)) => match crate::ticketing::ticket_data(&state.tickets, &r).await {
                Ok(data) => tickets.push(data),
                Err(_) => tracing::warn!(registration_id = id, "left out of a bulk print"),
            },
            _ => tracing::warn!(registration_id = id, "left out of a bulk print"),
        }
    }
    let fonts = state.tickets.fonts.clone();
    run_batch(&state, batch, move |pages_done| {
        examdesk_tickets::render_bulk(&fonts, &tickets, |page, _| pages_done(page))
    })
    .await;
}

/// Draws a batch off the async threads with `draw(pages_done)`, which reports each page drawn;
/// the progress goes to the database every second or so, the file (or the failure) at the end.
pub(super) async fn run_batch<F>(state: &AppState, batch: i64, draw: F)
where
    F: FnOnce(&dyn Fn(usize)) -> Result<Vec<u8>, examdesk_tickets::TicketError> + Send + 'static,
{
    let done = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let counter = done.clone();
    let work = tokio::task::spawn_blocking(move || {
        draw(&|page| counter.store(page as i64, std::sync::atomic::Ordering::Relaxed))
    });
    tokio::pin!(work);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tick.tick() => {
                let _ = ticket_batches::progress(&state.db, batch, done.load(std::sync::atomic::Ordering::Relaxed), now()).await;
            }
        }
    };
    let pdf = match result {
        Ok(Ok(pdf)) => Some(pdf),
        Ok(Err(e)) => {
            tracing::error!(batch, error = %e, "bulk PDF failed");
            None
        }
        Err(e) => {
            tracing::error!(batch, error = %e, "bulk PDF task failed");
            None
        }
    };
    if let Err(e) = ticket_batches::finish(&state.db, batch, pdf.as_deref(), now()).await {
        tracing::error!(batch, error = %e, "bulk PDF could not be stored");
    }
}

/// What a bulk print holds, as its page heading says it and as its file is named.
fn kind_words(kind: BatchKind) -> (&'static str, &'static str) {
    match kind {
        BatchKind::Tickets => ("准考证", "tickets"),
        BatchKind::DoorLists => ("考场门贴", "door-lists"),
        BatchKind::SignInSheets => ("考生签到表", "sign-in-sheets"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "ticket_batch.html")]
pub struct BatchPage {
    nav: Nav,
    id: i64,
    exam_id: i64,
    exam_code: String,
    /// 准考证, 考场门贴 or 考生签到表.
    what: &'static str,
    scope: String,
    /// "共 5 张" for tickets, "共 12 页" for the room sheets.
    size: String,
    created_by: String,
    created: String,
    percent: i64,
    state_text: String,
    running: bool,
    done: bool,
}

pub async fn batch_page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> PageResult<BatchPage> {
    staff.require(Perm::Export)?;
    let b = ticket_batches::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这个打印任务"))?;
    let exam = exams::get(&state.db, b.exam_id)
        .await?
        .ok_or_else(PageError::internal)?;
    let percent = if b.total > 0 {
        b.done * 100 / b.total
    } else {
        0
    };
    let state_text = match b.status {
        BatchStatus::Running => format!("正在生成：{} / {} 页（{percent}%）", b.done, b.total),
        BatchStatus::Done => format!("已完成：共 {} 页。", b.total),
        BatchStatus::Failed => "生成失败，请重试；如果反复失败，请联系技术人员。".to_string(),
    };
    Ok(BatchPage {
        nav: staff.nav("exams"),
        id: b.id,
        exam_id: exam.id,
        exam_code: exam.code,
        what: kind_words(b.kind).0,
        size: match b.kind {
            BatchKind::Tickets => format!("共 {} 张", b.total),
            BatchKind::DoorLists | BatchKind::SignInSheets => format!("共 {} 页", b.total),
        },
        scope: match b.room_no {
            Some(n) => format!("第{n:02}考场"),
            None => "全部考场".to_string(),
        },
        created_by: b.created_by,
        created: page::when(b.created_at),
        percent,
        running: b.status == BatchStatus::Running,
        done: b.status == BatchStatus::Done,
        state_text,
    })
}

pub async fn batch_pdf(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> PageResult<Response> {
    staff.require(Perm::Export)?;
    let b = ticket_batches::get(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这个文件"))?;
    let pdf = ticket_batches::pdf(&state.db, id)
        .await?
        .ok_or_else(|| PageError::not_found("这个文件"))?;
    let exam_code = exams::get(&state.db, b.exam_id)
        .await?
        .map(|e| e.code)
        .unwrap_or_default();
    let scope = match b.room_no {
        Some(n) => format!("room{n:02}"),
        None => "all-rooms".to_string(),
    };
    let name = kind_words(b.kind).1;
    Ok(pdf_response(
        pdf,
        &format!("{name}-{exam_code}-{scope}-{id}.pdf"),
    ))
}

/// Re-arranges the seats of an exam whose registration has closed, by a recorded random seed.
pub async fn shuffle_seats(
    State(state): State<AppState>,
    staff: Staff,
    Path(exam_id): Path<i64>,
) -> PageResult<Redirect> {
    staff.require(Perm::EditExams)?;
    let exam = exams::get(&state.db, exam_id)
        .await?
        .ok_or_else(|| PageError::not_found("这场考试"))?;
    let at = now();
    if exam.status == ExamStatus::Open && at < exam.closes_at {
        return Err(PageError::bad_request(
            "报名尚未结束：请先关闭报名，再重新编排座位。",
        ));
    }
    let seed: u64 = rand::random::<u64>() >> 1;
    let entry = Entry {
        admin_id: Some(staff.0.admin_id),
        actor: &staff.0.username,
        action: "seats.shuffle",
        target: format!("exam:{}", exam.id),
        amount_fen: None,
        reason: "",
        detail: format!("seed={seed}"),
    };
    let seated = seating::reshuffle(&state.db, exam.id, seed, &entry, at)
        .await
        .map_err(|e| {
            tracing::error!(exam_id, error = %e, "seat shuffle failed");
            PageError::bad_request(format!("座位编排失败：{e}"))
        })?;
    tracing::info!(exam_id, seed, seated, "seats re-arranged");
    Ok(Redirect::to(&format!(
        "/admin/exams/{exam_id}/registrations?shuffled={seated}"
    )))
}
