//! Extractors shared by the JSON API: a JSON body whose rejections answer in the API's error shape,
//! the signed-in candidate, and the client's address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::db::candidates::{self, SessionLookup};
use crate::http::AppState;
use crate::http::error::AppError;

/// `axum::Json`, but a malformed body gets `{"error": {…}}` like every other API error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                AppError::new(rejection.status(), "payload_too_large", "请求内容太大"),
            ),
            Err(rejection) => Err(AppError::bad_request(
                "invalid_json",
                format!("请求内容不是有效的JSON：{}", rejection.body_text()),
            )),
        }
    }
}

/// The candidate a valid, unexpired bearer token belongs to.
pub struct CandidateAuth(pub i64);

impl FromRequestParts<AppState> for CandidateAuth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AppError::unauthorized("请先登录（缺少 Authorization: Bearer 令牌）"))?;
        match candidates::lookup_session(&state.db, token, crate::util::now()).await? {
            SessionLookup::Valid(id) => Ok(Self(id)),
            SessionLookup::Expired => Err(AppError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "token_expired",
                "登录已过期，请重新登录",
            )),
            SessionLookup::Unknown => Err(AppError::unauthorized("登录令牌无效，请重新登录")),
        }
    }
}

/// The client's address: the peer, or — only when the peer is the configured trusted proxy — the
/// address that proxy appended to `X-Forwarded-For`.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(Self(client_ip(peer, state.settings.trusted_proxy, parts)))
    }
}

fn client_ip(peer: IpAddr, trusted: Option<IpAddr>, parts: &Parts) -> IpAddr {
    if trusted != Some(peer) {
        return peer;
    }
    parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}
