//! Calls to WeChat as metrics, through the `metrics` facade: nothing is recorded unless the
//! application installs a recorder. One count per call (its retries inside it), by API and by
//! how it ended, so that an operator sees WeChat failing before candidates say so.
//!
//! - `wechat_pay_calls_total{api, result}`: `api` is the route's last part (`unifiedorder`,
//!   `orderquery`, `closeorder`, `refund`, `refundquery`, `downloadbill`, `jscode2session`);
//!   `result` is `success` or the kind of error (`system_error`, `http_error`, `transport`, …).
//! - `wechat_pay_call_duration_seconds{api}`: the whole call, retries and back-off included.
//! - `wechat_pay_call_retries_total{api}`: tries after the first.

use std::time::Instant;

use crate::login::LoginError;
use crate::pay::PayError;

pub const CALLS: &str = "wechat_pay_calls_total";
pub const CALL_DURATION: &str = "wechat_pay_call_duration_seconds";
pub const RETRIES: &str = "wechat_pay_call_retries_total";

/// Help lines for the three metrics; call once after installing a recorder.
pub fn describe() {
    metrics::describe_counter!(CALLS, "WeChat API calls by api and result");
    metrics::describe_histogram!(
        CALL_DURATION,
        metrics::Unit::Seconds,
        "WeChat API call duration by api, retries included"
    );
    metrics::describe_counter!(RETRIES, "WeChat API tries after the first, by api");
}

/// The API's name from its path: `/secapi/pay/refund` → `refund`.
pub(crate) fn api_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub(crate) fn retried(api: &str) {
    metrics::counter!(RETRIES, "api" => api.to_owned()).increment(1);
}

/// Counts a finished call and its duration.
pub(crate) fn finished(api: &str, result: &'static str, started: Instant) {
    let api = api.to_owned();
    metrics::histogram!(CALL_DURATION, "api" => api.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(CALLS, "api" => api, "result" => result).increment(1);
}

/// The `result` label of a Pay call.
pub(crate) fn pay_result<T>(result: &Result<T, PayError>) -> &'static str {
    let Err(e) = result else { return "success" };
    match e {
        PayError::Transport(_) => "transport",
        PayError::Http(_) => "http_error",
        PayError::Xml(_) => "malformed",
        PayError::Communication(_) => "refused",
        PayError::BadSignature => "bad_signature",
        PayError::AppidMismatch(_) | PayError::MchIdMismatch(_) => "other_merchant",
        PayError::MissingField(_) | PayError::BadField { .. } => "bad_field",
        PayError::OrderPaid => "order_paid",
        PayError::OrderClosed => "order_closed",
        PayError::OrderNotExist => "order_not_exist",
        PayError::OutTradeNoUsed => "out_trade_no_used",
        PayError::SystemError(_) => "system_error",
        PayError::NotEnough(_) => "not_enough",
        PayError::RefundNotExist => "refund_not_exist",
        PayError::FrequencyLimited(_) => "frequency_limited",
        PayError::InvalidRequest(_) => "invalid_request",
        PayError::Business { .. } => "business_error",
        PayError::Bill(_) => "bad_bill",
        PayError::Certificate(_) | PayError::CertificatePassword(_) => "certificate",
    }
}

/// The `result` label of a `jscode2session` call.
pub(crate) fn login_result<T>(result: &Result<T, LoginError>) -> &'static str {
    let Err(e) = result else { return "success" };
    match e {
        LoginError::Transport(_) => "transport",
        LoginError::Tls(_) => "certificate",
        LoginError::Http(_) => "http_error",
        LoginError::Malformed => "malformed",
        LoginError::InvalidCode(_) => "invalid_code",
        LoginError::RateLimited => "frequency_limited",
        LoginError::Busy => "system_error",
        LoginError::Other { .. } => "business_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_the_last_part_of_the_path() {
        assert_eq!(api_of("/pay/unifiedorder"), "unifiedorder");
        assert_eq!(api_of("/secapi/pay/refund"), "refund");
        assert_eq!(api_of("/sns/jscode2session"), "jscode2session");
    }

    #[test]
    fn results_name_the_kind_of_failure() {
        assert_eq!(pay_result(&Ok::<(), PayError>(())), "success");
        let system = PayError::from_err_code("SYSTEMERROR", "busy");
        assert_eq!(pay_result::<()>(&Err(system)), "system_error");
        assert_eq!(pay_result::<()>(&Err(PayError::Http(502))), "http_error");
        assert_eq!(
            login_result::<()>(&Err(LoginError::InvalidCode(40029))),
            "invalid_code"
        );
        assert_eq!(login_result::<()>(&Err(LoginError::Busy)), "system_error");
    }
}
