//! One error type for the JSON API: an HTTP status, a snake_case code and a message for people.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "wechat_unavailable", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误，请稍后重试",
        )
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        tracing::error!(error = %err, "database error");
        match err {
            sqlx::Error::PoolTimedOut => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "系统繁忙，请稍后重试",
            ),
            _ => Self::internal(),
        }
    }
}

impl From<crate::payments::PaymentError> for AppError {
    fn from(err: crate::payments::PaymentError) -> Self {
        use crate::payments::PaymentError as E;
        match err {
            E::NotConfigured => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "payments_not_configured",
                "支付未配置",
            ),
            E::AlreadyPaid => Self::conflict("already_paid", "该报名已付款"),
            E::PaidAtWechat => Self::conflict("already_paid", "该订单已付款，正在确认，请稍后刷新"),
            E::NotPayable => Self::conflict("not_payable", "该报名已取消或已过期，请重新报名"),
            E::NotApproved => Self::conflict("not_approved", "报名资格审核通过后才能缴费"),
            E::HoldExpired => {
                Self::conflict("hold_expired", "付款时间已过，名额已释放，请重新报名")
            }
            E::Wechat(_) => Self::upstream("微信支付暂时不可用，请稍后重试"),
            E::IncompleteAnswer => Self::upstream("微信支付返回的订单信息不完整"),
            E::AmountMismatch { .. } => Self::upstream("订单金额不一致，已通知管理员"),
            E::Inconsistent(what) => {
                tracing::error!(what, "inconsistent data");
                Self::internal()
            }
            E::Db(e) => e.into(),
        }
    }
}

impl From<crate::ticketing::TicketError> for AppError {
    fn from(err: crate::ticketing::TicketError) -> Self {
        use crate::ticketing::TicketError as E;
        match err {
            E::Db(e) => e.into(),
            other => {
                tracing::error!(error = %other, "ticket not available");
                Self::internal()
            }
        }
    }
}

/// A photo that breaks a rule: `422`, a `photo_…` code per rule, and the message naming the rule
/// and the photo's measured value (docs/API.md lists the codes).
impl From<examdesk_tickets::photo::PhotoError> for AppError {
    fn from(err: examdesk_tickets::photo::PhotoError) -> Self {
        use examdesk_tickets::photo::PhotoError as E;
        let code = match &err {
            E::TooLarge { .. } => "photo_too_large",
            E::Empty => "photo_empty",
            E::UnsupportedType(_) | E::TypeMismatch { .. } => "photo_type",
            E::Undecodable(_) => "photo_undecodable",
            E::TooManyPixels { .. } => "photo_too_many_pixels",
            E::TooNarrow { .. } | E::TooShort { .. } => "photo_too_small",
            E::Aspect { .. } => "photo_aspect",
        };
        Self {
            code,
            ..Self::invalid_field("photo", err.message())
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, AppError>;
