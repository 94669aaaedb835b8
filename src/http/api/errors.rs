//! Refusals that axum makes before a handler runs (an unknown route, a method the route does not
//! take, a path id or query string that does not parse, a body over its limit) in the API's own
//! error shape, so the mini-program reads every error the same way.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::error::AppError;

/// `/api/v1/…` that names no route.
pub async fn unknown_route() -> AppError {
    AppError::not_found("没有这个接口，请检查地址")
}

/// Turns an error answer that is not already JSON into `{"error": {"code", "message"}}`, keeping
/// its status.
pub async fn in_api_shape(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "没有这个接口或记录"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "该接口不支持这种请求方式"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "请求内容太大"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "请求内容的类型不受支持"),
        s if s.is_server_error() => ("internal", "服务器内部错误，请稍后重试"),
        // Path ids and query strings that do not parse, and any other refusal of the request itself.
        _ => ("bad_request", "请求的地址或参数无效"),
    };
    let mut shaped = AppError::new(status, code, message).into_response();
    // An `Allow` header on a 405 says what the route takes: keep it.
    if let Some(allow) = response.headers().get(header::ALLOW) {
        shaped.headers_mut().insert(header::ALLOW, allow.clone());
    }
    shaped
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
