//! WeChat's callbacks. Bodies are read whatever their Content-Type (some senders set none) and
//! capped at 64 KiB; the answer is always HTTP 200 with WeChat's XML.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;

use crate::http::AppState;
use crate::http::extract::ClientIp;

const MAX_NOTIFY_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/wechat/pay/notify", post(pay_notify))
        .route("/wechat/refund/notify", post(refund_notify))
        .layer(DefaultBodyLimit::max(MAX_NOTIFY_BYTES))
}

fn xml(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body)
}

async fn pay_notify(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> impl IntoResponse {
    match body {
        Ok(body) => xml(crate::payments::notify::handle_pay_notify(
            &state.payments,
            &body,
            &address.to_string(),
        )
        .await
        .body),
        Err(_) => {
            crate::payments::notify::count("unreadable");
            xml(wechat_pay_v2::notify::fail_reply(
                "body too large or unreadable",
            ))
        }
    }
}

async fn refund_notify(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> impl IntoResponse {
    match body {
        Ok(body) => xml(crate::payments::refunds::handle_refund_notify(
            &state.payments,
            &body,
            &address.to_string(),
        )
        .await
        .body),
        Err(_) => xml(wechat_pay_v2::notify::fail_reply(
            "body too large or unreadable",
        )),
    }
}
