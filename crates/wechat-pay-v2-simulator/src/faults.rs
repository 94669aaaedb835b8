use serde::{Deserialize, Serialize};

/// How a failing call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailWith {
    /// HTTP 500 with no body, like an overloaded gateway.
    #[default]
    Http500,
    /// A signed answer with `err_code` SYSTEMERROR (errcode -1 for jscode2session).
    SystemError,
    /// `err_code` FREQUENCY_LIMITED: WeChat's rate limit.
    FrequencyLimited,
    /// `err_code` INVALID_REQ_TOO_MUCH: blocked for a while after many invalid requests.
    InvalidReqTooMuch,
    /// `err_code` BIZERR_NEED_RETRY: a refund caught in a concurrent change, to be sent again.
    BizerrNeedRetry,
}

impl FailWith {
    /// The `err_code` and `err_code_des` of a signed business refusal; `None` for HTTP 500.
    pub(crate) fn refusal(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            FailWith::Http500 => return None,
            FailWith::SystemError => ("SYSTEMERROR", "系统超时"),
            FailWith::FrequencyLimited => ("FREQUENCY_LIMITED", "请求频率过高，请降低频率后重试"),
            FailWith::InvalidReqTooMuch => (
                "INVALID_REQ_TOO_MUCH",
                "无效请求过多，请检查请求参数后稍后再试",
            ),
            FailWith::BizerrNeedRetry => {
                ("BIZERR_NEED_RETRY", "退款业务流程错误，需要商户触发重试")
            }
        })
    }
}

/// Switches that make the simulator misbehave the way WeChat sometimes does.
/// JSON at `GET/POST /faults`; fields left out of a POST are reset to their default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Extra copies of each first payment notify, sent at the same moment.
    pub duplicate_notifies: u32,
    /// Payments happen (orderquery says SUCCESS) but no notify is ever sent.
    pub drop_notifies: bool,
    /// Every protocol answer waits this long first.
    pub delay_ms: u64,
    /// The next N protocol calls fail.
    pub fail_next: u32,
    /// Share (0.0–1.0) of protocol calls that fail.
    pub fail_rate: f64,
    pub fail_with: FailWith,
}

/// Counters at `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub unifiedorder: u64,
    pub orderquery: u64,
    pub closeorder: u64,
    pub refund: u64,
    pub refundquery: u64,
    pub downloadbill: u64,
    pub jscode2session: u64,
    /// Payments made through `POST /pay/{id}` or `Simulator::pay`.
    pub payments: u64,
    /// Calls answered with an injected failure.
    pub injected_failures: u64,
    /// Payment notify deliveries tried (first sends, repeats and duplicates).
    pub notifies_sent: u64,
    /// Payment notify deliveries answered HTTP 200 with return_code SUCCESS.
    pub notifies_answered: u64,
    pub refund_notifies_sent: u64,
    pub refund_notifies_answered: u64,
}

/// Which protocol route a call was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    UnifiedOrder,
    OrderQuery,
    CloseOrder,
    Refund,
    RefundQuery,
    DownloadBill,
    JsCode2Session,
}

impl Stats {
    pub(crate) fn count(&mut self, api: Api) {
        let counter = match api {
            Api::UnifiedOrder => &mut self.unifiedorder,
            Api::OrderQuery => &mut self.orderquery,
            Api::CloseOrder => &mut self.closeorder,
            Api::Refund => &mut self.refund,
            Api::RefundQuery => &mut self.refundquery,
            Api::DownloadBill => &mut self.downloadbill,
            Api::JsCode2Session => &mut self.jscode2session,
        };
        *counter += 1;
    }
}

impl Faults {
    /// Decides whether this call fails, consuming one of `fail_next`.
    pub(crate) fn take_failure(&mut self) -> Option<FailWith> {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(self.fail_with);
        }
        if self.fail_rate > 0.0 {
            use rand::RngExt;
            if rand::rng().random_bool(self.fail_rate.clamp(0.0, 1.0)) {
                return Some(self.fail_with);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_is_consumed_and_rate_bounds_hold() {
        let mut f = Faults {
            fail_next: 2,
            ..Faults::default()
        };
        assert_eq!(f.take_failure(), Some(FailWith::Http500));
        assert_eq!(f.take_failure(), Some(FailWith::Http500));
        assert_eq!(f.take_failure(), None);
        f.fail_rate = 1.0;
        f.fail_with = FailWith::SystemError;
        assert_eq!(f.take_failure(), Some(FailWith::SystemError));
        f.fail_rate = 7.0; // clamped rather than a panic
        assert!(f.take_failure().is_some());
    }

    #[test]
    fn injected_refusals_carry_wechats_codes_in_chinese() {
        assert_eq!(FailWith::Http500.refusal(), None);
        for (with, code) in [
            (FailWith::SystemError, "SYSTEMERROR"),
            (FailWith::FrequencyLimited, "FREQUENCY_LIMITED"),
            (FailWith::InvalidReqTooMuch, "INVALID_REQ_TOO_MUCH"),
            (FailWith::BizerrNeedRetry, "BIZERR_NEED_RETRY"),
        ] {
            let (got, desc) = with.refusal().unwrap_or_default();
            assert_eq!(got, code);
            assert!(!desc.is_ascii(), "{code}: {desc}");
        }
        let named: Faults =
            serde_json::from_str(r#"{"fail_next":1,"fail_with":"invalid_req_too_much"}"#)
                .unwrap_or_default();
        assert_eq!(named.fail_with, FailWith::InvalidReqTooMuch);
    }

    #[test]
    fn partial_json_leaves_other_switches_at_default() {
        let f: Faults = serde_json::from_str(r#"{"drop_notifies":true}"#).unwrap_or_default();
        assert!(f.drop_notifies);
        assert_eq!(f.duplicate_notifies, 0);
        assert_eq!(f.fail_with, FailWith::Http500);
    }
}
