//! The candidate's photo and admission ticket.

use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::db::{exams, photos};
use crate::domain::states::RegistrationStatus;
use crate::http::AppState;
use crate::http::api::registrations::owned;
use crate::http::error::{ApiResult, AppError};
use crate::http::extract::CandidateAuth;
use examdesk_tickets::photo::check_photo;

/// The photo limit of the contract; the route's body limit lets a little more through so the
/// answer can say the photo is too large rather than fail the upload.
pub const MAX_PHOTO_BYTES: usize = examdesk_tickets::photo::MAX_PHOTO_BYTES;
/// What a multipart upload may carry besides the photo: boundaries, part headers and the few
/// form fields `wx.uploadFile` adds.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// `PUT`: the body is the photo, its type in `Content-Type`.
pub async fn put_photo(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let upload = Upload::new(&state, id, candidate_id).await?;
    let body = body.map_err(|_| photo_too_large())?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    upload.store(&state, &body, Some(content_type)).await
}

/// `POST` with `multipart/form-data`, as `wx.uploadFile` sends it: the file in field `photo`.
/// Phones often label the part `application/octet-stream` (or not at all); then the bytes' own
/// signature says whether it is a JPEG or a PNG. A part that names an image type must be one.
pub async fn post_photo(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    Path(id): Path<i64>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<StatusCode> {
    let upload = Upload::new(&state, id, candidate_id).await?;
    let mut multipart = multipart.map_err(|_| {
        AppError::bad_request(
            "not_multipart",
            "请以 multipart/form-data 上传照片（字段名 photo）",
        )
    })?;
    let (bytes, declared) = photo_part(&mut multipart).await?;
    upload.store(&state, &bytes, declared.as_deref()).await
}

/// The bytes of the form's first `photo` part and the image type it declares (`None` when it
/// declares none or `application/octet-stream`). Public for the fuzz target `photo_upload`.
#[doc(hidden)]
pub async fn photo_part(multipart: &mut Multipart) -> ApiResult<(Bytes, Option<String>)> {
    loop {
        let field = multipart.next_field().await.map_err(multipart_error)?;
        let Some(field) = field else {
            return Err(AppError {
                code: "photo_missing",
                ..AppError::invalid_field("photo", "没有收到照片：请在字段 photo 中上传照片文件。")
            });
        };
        if field.name() != Some("photo") {
            continue;
        }
        let declared = field
            .content_type()
            .map(str::to_owned)
            .filter(|t| !is_octet_stream(t));
        let bytes = field.bytes().await.map_err(multipart_error)?;
        return Ok((bytes, declared));
    }
}

fn is_octet_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/octet-stream"))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        photo_too_large()
    } else {
        AppError::bad_request("invalid_multipart", "上传的表单数据不完整，请重新上传照片")
    }
}

/// A registration of the caller's that may take a photo, and its exam's photo rules.
struct Upload {
    registration_id: i64,
    rules: examdesk_tickets::photo::PhotoRules,
}

impl Upload {
    async fn new(state: &AppState, id: i64, candidate_id: i64) -> ApiResult<Self> {
        let registration = owned(state, id, candidate_id).await?;
        // Under review or rejected the photo is part of what staff check and the candidate
        // corrects; once the registration has ended nothing prints it any more.
        if !matches!(
            registration.status,
            RegistrationStatus::UnderReview
                | RegistrationStatus::Rejected
                | RegistrationStatus::PendingPayment
                | RegistrationStatus::Paid
        ) {
            return Err(AppError::conflict(
                "not_editable",
                "该报名已结束，不能再上传照片",
            ));
        }
        let exam = exams::get(&state.db, registration.exam_id)
            .await?
            .ok_or_else(|| AppError::not_found("考试不存在"))?;
        Ok(Self {
            registration_id: registration.id,
            rules: exam.photo_rules,
        })
    }

    /// Checks the photo against the exam's rules and stores it upright; nothing is stored for a
    /// photo that breaks a rule.
    async fn store(
        &self,
        state: &AppState,
        body: &[u8],
        declared: Option<&str>,
    ) -> ApiResult<StatusCode> {
        if body.len() > MAX_PHOTO_BYTES {
            return Err(photo_too_large());
        }
        let photo = check_photo(body, declared, &self.rules)?;
        photos::put(
            &state.db,
            self.registration_id,
            photo.info.format.content_type(),
            &photo.bytes,
            i64::from(photo.info.width),
            i64::from(photo.info.height),
            crate::util::now(),
        )
        .await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

/// Beyond the absolute cap the upload itself is refused (413), before any exam rule is read.
fn photo_too_large() -> AppError {
    AppError {
        field: Some("photo"),
        ..AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "photo_too_large",
            "照片文件超过 2 MB（2048 KB），请压缩后上传。",
        )
    }
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
