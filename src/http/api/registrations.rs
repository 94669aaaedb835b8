//! Registering for an exam, reading one's own registrations, and cancelling an unpaid one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::db::exams;
use crate::db::hold_batch::Hold;
use crate::db::registrations::{self, HoldError, Registration};
use crate::db::review::{self, ResubmitError};
use crate::domain::candidate::{MobileNumber, PersonName};
use crate::domain::id_number::IdNumber;
use crate::domain::states::{ExamReview, ExamStatus, RegistrationStatus};
use crate::http::AppState;
use crate::http::error::{ApiResult, AppError};
use crate::http::extract::{ApiJson, CandidateAuth, ClientIp};
use crate::util::{now, to_rfc3339};

/// The candidate's own fields, checked by the same rules at registration and resubmission.
struct Fields {
    name: PersonName,
    id_number: IdNumber,
    phone: MobileNumber,
}

fn check_fields(name: &str, id_number: &str, phone: &str) -> ApiResult<Fields> {
    Ok(Fields {
        name: PersonName::parse(name).map_err(|m| AppError::invalid_field("name", m))?,
        id_number: IdNumber::parse(id_number)
            .map_err(|e| AppError::invalid_field("id_number", e.to_string()))?,
        phone: MobileNumber::parse(phone).map_err(|m| AppError::invalid_field("phone", m))?,
    })
}

#[derive(Deserialize)]
pub struct RegisterRequest {
    exam_id: i64,
    name: String,
    id_number: String,
    phone: String,
}

#[derive(Serialize)]
pub struct RegistrationView {
    id: i64,
    exam_id: i64,
    status: RegistrationStatus,
    name: String,
    id_number: String,
    phone: String,
    ticket_no: Option<String>,
    room: Option<String>,
    seat_no: Option<i64>,
    created_at: String,
    hold_expires_at: Option<String>,
    paid_at: Option<String>,
    /// Paid after the hold had ended and no seat was left: the money goes back.
    refund_pending: bool,
    /// Why staff rejected the qualification, while it stands rejected.
    review_note: Option<String>,
}

impl From<Registration> for RegistrationView {
    fn from(r: Registration) -> Self {
        let masked = IdNumber::parse(&r.id_number)
            .map(|id| id.masked())
            .unwrap_or_default();
        Self {
            status: r.status,
            id: r.id,
            exam_id: r.exam_id,
            hold_expires_at: (r.status == RegistrationStatus::PendingPayment)
                .then(|| r.hold_expires_at.map(to_rfc3339))
                .flatten(),
            name: r.name,
            id_number: masked,
            phone: r.phone,
            ticket_no: r.ticket_no,
            room: r.room,
            seat_no: r.seat_no,
            created_at: to_rfc3339(r.created_at),
            paid_at: r.paid_at.map(to_rfc3339),
            refund_pending: r.flags.needs_refund(),
            review_note: r
                .review_note
                .filter(|_| r.status == RegistrationStatus::Rejected),
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    ClientIp(address): ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<RegistrationView>)> {
    let Fields {
        name,
        id_number,
        phone,
    } = check_fields(&req.name, &req.id_number, &req.phone)?;
    let at = now();
    let exam = exams::get(&state.db, req.exam_id)
        .await?
        .ok_or_else(|| AppError::not_found("考试不存在"))?;
    if exam.status != ExamStatus::Open || at >= exam.closes_at {
        return Err(AppError::conflict(
            "registration_closed",
            "该考试报名已截止",
        ));
    }
    if at < exam.opens_at {
        return Err(AppError::conflict(
            "registration_not_open",
            format!(
                "报名尚未开始，开始时间：{}",
                crate::util::to_china_time(exam.opens_at)
            ),
        ));
    }
    let hold = Hold {
        exam_id: exam.id,
        candidate_id,
        name: name.as_str().to_string(),
        id_number: id_number.as_str().to_string(),
        phone: phone.as_str().to_string(),
        status: match exam.review {
            ExamReview::None => RegistrationStatus::PendingPayment,
            ExamReview::Manual => RegistrationStatus::UnderReview,
        },
        // Under review the hold starts only once staff approve.
        hold_expires_at: (exam.review == ExamReview::None)
            .then_some(at + state.settings.order_ttl_minutes * 60),
        client_addr: Some(address.to_string()),
        limits: state.settings.hold_limits,
        at,
    };
    let id = match state.holds.hold(hold).await {
        Ok(id) => id,
        Err(HoldError::NoSeat) => {
            return Err(AppError::conflict("sold_out", "名额已满，报名未成功"));
        }
        Err(HoldError::CandidateTaken) => return Err(already_registered()),
        Err(HoldError::IdNumberTaken | HoldError::IdNumberOwnedElsewhere) => {
            return Err(id_number_unavailable());
        }
        Err(HoldError::TooManyUnpaid) => return Err(too_many_unpaid()),
        Err(HoldError::Sql(e)) => return Err(e.into()),
    };
    let registration = registrations::get(&state.db, id)
        .await?
        .ok_or_else(AppError::internal)?;
    Ok((StatusCode::CREATED, Json(registration.into())))
}

pub async fn list(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
) -> ApiResult<Json<Vec<RegistrationView>>> {
    let all = registrations::list_owned(&state.db, candidate_id).await?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

/// The caller's registration; any other id — someone else's or none — is the same 404.
pub async fn owned(state: &AppState, id: i64, candidate_id: i64) -> ApiResult<Registration> {
    registrations::get_owned(&state.db, id, candidate_id)
        .await?
        .ok_or_else(|| AppError::not_found("报名记录不存在"))
}

pub async fn show(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<RegistrationView>> {
    Ok(Json(owned(&state, id, candidate_id).await?.into()))
}

pub async fn cancel(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let registration = owned(&state, id, candidate_id).await?;
    if !matches!(
        registration.status,
        RegistrationStatus::PendingPayment | RegistrationStatus::UnderReview
    ) {
        return Err(AppError::conflict(
            "not_cancellable",
            "只能取消未付款的报名；已付款的报名请联系考务人员退款",
        ));
    }
    crate::payments::close_before_release(&state.payments, id).await?;
    let cancelled = RegistrationStatus::Cancelled;
    if !registrations::release_unpaid(&state.db, id, cancelled, now()).await? {
        return Err(AppError::conflict(
            "not_cancellable",
            "报名状态已变化，请刷新后重试",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn already_registered() -> AppError {
    AppError::conflict("already_registered", "您已报名该考试，请勿重复报名")
}

/// Another account has the ID number: the same answer whether or not it registered for this
/// exam, so the refusal tells no one what that account did.
fn id_number_unavailable() -> AppError {
    AppError {
        field: Some("id_number"),
        ..AppError::conflict(
            "id_number_unavailable",
            "该身份证号已绑定其他微信账号，不能用于报名。如需更正请联系考试办公室。",
        )
    }
}

fn too_many_unpaid() -> AppError {
    AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_unpaid",
        "未付款的报名过多，请先完成缴费或取消之前未付款的报名。",
    )
}

#[derive(Deserialize)]
pub struct CorrectionRequest {
    name: String,
    id_number: String,
    phone: String,
}

/// `PUT /api/v1/registrations/{id}`: a rejected registration, corrected, goes back under review.
pub async fn resubmit(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<CorrectionRequest>,
) -> ApiResult<Json<RegistrationView>> {
    let current = owned(&state, id, candidate_id).await?;
    let fields = check_fields(&req.name, &req.id_number, &req.phone)?;
    if current.status != RegistrationStatus::Rejected {
        return Err(not_rejected());
    }
    let fix = review::Correction {
        name: fields.name.as_str(),
        id_number: fields.id_number.as_str(),
        phone: fields.phone.as_str(),
    };
    match review::resubmit(&state.db, id, candidate_id, &fix, now()).await {
        Ok(registration) => Ok(Json(registration.into())),
        Err(ResubmitError::NotRejected) => Err(not_rejected()),
        Err(ResubmitError::Closed) => Err(AppError::conflict(
            "registration_closed",
            "该考试报名已截止，无法重新提交",
        )),
        Err(ResubmitError::NoSeat) => Err(AppError::conflict("sold_out", "名额已满，无法重新提交")),
        Err(ResubmitError::CandidateTaken) => Err(already_registered()),
        Err(ResubmitError::IdNumberTaken | ResubmitError::IdNumberOwnedElsewhere) => {
            Err(id_number_unavailable())
        }
        Err(ResubmitError::Sql(e)) => Err(e.into()),
    }
}

fn not_rejected() -> AppError {
    AppError::conflict("not_rejected", "只有审核未通过的报名可以修改后重新提交")
}
