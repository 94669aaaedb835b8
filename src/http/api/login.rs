//! `POST /api/v1/login`: `wx.login`'s code for a bearer token. The session_key stays on WeChat's
//! side of this server: it is neither stored nor answered.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::db::candidates;
use crate::http::AppState;
use crate::http::error::{ApiResult, AppError};
use crate::http::extract::{ApiJson, ClientIp};
use crate::util::{now, to_rfc3339};
use wechat_pay_v2::login::LoginError;

#[derive(Deserialize)]
pub struct LoginRequest {
    code: String,
}

#[derive(Serialize)]
pub struct LoginAnswer {
    token: String,
    expires_at: String,
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginAnswer>> {
    let at = now();
    if !state.login_limiter.allow(ip, at) {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_logins",
            "登录过于频繁，请一分钟后再试",
        ));
    }
    let code = req.code.trim();
    if code.is_empty() || code.len() > 128 {
        return Err(AppError::invalid_field("code", "缺少 wx.login 返回的 code"));
    }
    let session = state
        .payments
        .wechat()?
        .login
        .code_to_session(code)
        .await
        .map_err(|e| match e {
            LoginError::InvalidCode(_) => {
                AppError::unauthorized("登录凭证无效或已使用，请重新调用 wx.login")
            }
            LoginError::RateLimited => AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_logins",
                "微信登录过于频繁，请稍后再试",
            ),
            other => {
                tracing::warn!(error = %other, "jscode2session failed");
                AppError::upstream("微信登录暂时不可用，请稍后重试")
            }
        })?;
    let candidate_id = candidates::upsert(&state.db, &session.openid, at).await?;
    let (token, expires_at) = candidates::create_session(&state.db, candidate_id, at).await?;
    Ok(Json(LoginAnswer {
        token,
        expires_at: to_rfc3339(expires_at),
    }))
}
