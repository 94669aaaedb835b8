//! The candidate's photo and admission ticket.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::db::photos;
use crate::domain::states::RegistrationStatus;
use crate::http::AppState;
use crate::http::api::registrations::owned;
use crate::http::error::{ApiResult, AppError};
use crate::http::extract::CandidateAuth;
use examdesk_tickets::photo::{PhotoFormat, check_photo};

/// The photo limit of the contract; the route's body limit lets a little more through so the
/// answer can say the photo is too large rather than fail the upload.
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;

pub async fn put_photo(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let registration = owned(&state, id, candidate_id).await?;
    if !matches!(
        registration.status,
        RegistrationStatus::PendingPayment | RegistrationStatus::Paid
    ) {
        return Err(AppError::conflict(
            "not_editable",
            "该报名已结束，不能再上传照片",
        ));
    }
    let body = body.map_err(|_| photo_too_large())?;
    if body.len() > MAX_PHOTO_BYTES {
        return Err(photo_too_large());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let info = check_photo(&body, content_type)
        .map_err(|e| AppError::invalid_field("photo", e.message()))?;
    let stored_type = match info.format {
        PhotoFormat::Jpeg => "image/jpeg",
        PhotoFormat::Png => "image/png",
    };
    photos::put(
        &state.db,
        registration.id,
        stored_type,
        &body,
        i64::from(info.width),
        i64::from(info.height),
        crate::util::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn photo_too_large() -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "photo_too_large",
        "照片不能超过2MB",
    )
}

pub async fn ticket_pdf(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let mut registration = owned(&state, id, candidate_id).await?;
    match registration.status {
        RegistrationStatus::Paid => {}
        RegistrationStatus::UnderReview
        | RegistrationStatus::Rejected
        | RegistrationStatus::PendingPayment => {
            return Err(AppError::conflict("not_paid", "付款完成后才能下载准考证"));
        }
        RegistrationStatus::Refunding | RegistrationStatus::Refunded => {
            return Err(AppError::conflict(
                "ticket_void",
                "该报名已退款，准考证作废",
            ));
        }
        RegistrationStatus::Cancelled | RegistrationStatus::Expired => {
            return Err(AppError::conflict(
                "ticket_void",
                "该报名已取消或已过期，没有准考证",
            ));
        }
    }
    if registration.flags.needs_refund() {
        return Err(AppError::conflict(
            "no_seat",
            "名额已满，您的付款将原路退回",
        ));
    }
    if registration.ticket_no.is_none() {
        crate::ticketing::seat_after_payment(&state.tickets, registration.id).await;
        registration = owned(&state, id, candidate_id).await?;
        if registration.ticket_no.is_none() {
            return Err(AppError::conflict(
                "ticket_not_ready",
                "正在分配考场座位，请稍后再试",
            ));
        }
    }
    let pdf = crate::ticketing::ticket_pdf(&state.tickets, &registration).await?;
    let filename = format!(
        "ticket-{}.pdf",
        registration.ticket_no.as_deref().unwrap_or_default()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        pdf,
    )
        .into_response())
}
