//! `POST /api/v1/registrations/{id}/pay`: the arguments of `wx.requestPayment`.

use axum::Json;
use axum::extract::{Path, State};

use crate::http::AppState;
use crate::http::api::registrations::owned;
use crate::http::error::ApiResult;
use crate::http::extract::{CandidateAuth, ClientIp};
use crate::payments::checkout::{self, PayArguments};

pub async fn pay(
    State(state): State<AppState>,
    CandidateAuth(candidate_id): CandidateAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> ApiResult<Json<PayArguments>> {
    let registration = owned(&state, id, candidate_id).await?;
    Ok(Json(
        checkout::pay(&state.payments, &registration, ip).await?,
    ))
}
