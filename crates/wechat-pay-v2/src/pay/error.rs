use crate::xml::XmlError;

/// Everything a Pay call can end in besides success.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("could not reach WeChat Pay: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("WeChat Pay answered HTTP {0}")]
    Http(u16),
    #[error("WeChat Pay answer is not valid XML: {0}")]
    Xml(#[from] XmlError),
    /// `return_code` FAIL: the request itself was refused (bad signature, bad parameters).
    #[error("WeChat Pay refused the request: {0}")]
    Communication(String),
    #[error("WeChat Pay answer has a wrong signature")]
    BadSignature,
    #[error("WeChat Pay answer is for another appid ({0})")]
    AppidMismatch(String),
    #[error("WeChat Pay answer is for another mch_id ({0})")]
    MchIdMismatch(String),
    #[error("WeChat Pay answer lacks {0}")]
    MissingField(&'static str),
    #[error("WeChat Pay answer has a bad {field}: {value:?}")]
    BadField { field: &'static str, value: String },
    /// ORDERPAID. From `closeorder` it also refuses an order younger than
    /// [`MIN_CLOSE_AGE`](super::MIN_CLOSE_AGE), which WeChat has no code of its own for: there it
    /// means "paid or too young", and only an order query tells which.
    #[error("order already paid (or, from closeorder, too young to close)")]
    OrderPaid,
    #[error("order already closed")]
    OrderClosed,
    #[error("order does not exist")]
    OrderNotExist,
    #[error(
        "out_trade_no already used (order closed or revoked): a new payment needs a new number"
    )]
    OutTradeNoUsed,
    #[error("WeChat Pay system error: {0}")]
    SystemError(String),
    #[error("refund exceeds what is left of the payment: {0}")]
    NotEnough(String),
    #[error("refund does not exist")]
    RefundNotExist,
    /// FREQUENCY_LIMITED, or INVALID_REQ_TOO_MUCH (too many invalid requests in a row): both
    /// ask the merchant to slow down, and neither is helped by an immediate retry.
    #[error("too many requests: {0}")]
    FrequencyLimited(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("WeChat Pay business error {code}: {desc}")]
    Business { code: String, desc: String },
    #[error("WeChat Pay bill: {0}")]
    Bill(#[source] crate::bill::BillError),
    #[error("merchant certificate: {0}")]
    Certificate(String),
    /// The `.p12` is intact but its password is not the one given (by default the merchant id).
    #[error("merchant certificate {}: the password does not open it", .0.display())]
    CertificatePassword(std::path::PathBuf),
}

impl PayError {
    /// Errors after which the very same request may be sent again.
    pub fn is_retryable(&self) -> bool {
        match self {
            PayError::Transport(_) | PayError::SystemError(_) => true,
            PayError::Http(status) => *status >= 500,
            PayError::Business { code, .. } => code == "BIZERR_NEED_RETRY",
            _ => false,
        }
    }

    /// The typed error for a `result_code` FAIL answer.
    pub fn from_err_code(code: &str, desc: &str) -> PayError {
        let desc = desc.to_owned();
        match code {
            "ORDERPAID" => PayError::OrderPaid,
            "ORDERCLOSED" => PayError::OrderClosed,
            "ORDERNOTEXIST" => PayError::OrderNotExist,
            "OUT_TRADE_NO_USED" => PayError::OutTradeNoUsed,
            "SYSTEMERROR" => PayError::SystemError(desc),
            "NOTENOUGH" => PayError::NotEnough(desc),
            "REFUNDNOTEXIST" => PayError::RefundNotExist,
            "FREQUENCY_LIMITED" | "INVALID_REQ_TOO_MUCH" => PayError::FrequencyLimited(desc),
            "INVALID_REQUEST" | "PARAM_ERROR" | "LACK_PARAMS" => PayError::InvalidRequest(desc),
            other => PayError::Business {
                code: other.to_owned(),
                desc,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn err_codes_map_to_typed_errors() {
        assert!(matches!(
            PayError::from_err_code("ORDERPAID", ""),
            PayError::OrderPaid
        ));
        assert!(matches!(
            PayError::from_err_code("ORDERCLOSED", ""),
            PayError::OrderClosed
        ));
        assert!(matches!(
            PayError::from_err_code("ORDERNOTEXIST", ""),
            PayError::OrderNotExist
        ));
        assert!(matches!(
            PayError::from_err_code("OUT_TRADE_NO_USED", ""),
            PayError::OutTradeNoUsed
        ));
        assert!(
            matches!(PayError::from_err_code("NOTENOUGH", "x"), PayError::NotEnough(d) if d == "x")
        );
        assert!(matches!(
            PayError::from_err_code("INVALID_REQUEST", "201 商户订单号重复"),
            PayError::InvalidRequest(d) if d == "201 商户订单号重复"
        ));
        assert!(matches!(
            PayError::from_err_code("INVALID_REQ_TOO_MUCH", "无效请求过多"),
            PayError::FrequencyLimited(d) if d == "无效请求过多"
        ));
        assert!(!PayError::from_err_code("INVALID_REQ_TOO_MUCH", "").is_retryable());
        assert!(matches!(
            PayError::from_err_code("NOAUTH", "d"),
            PayError::Business { code, .. } if code == "NOAUTH"
        ));
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(PayError::from_err_code("SYSTEMERROR", "").is_retryable());
        assert!(PayError::from_err_code("BIZERR_NEED_RETRY", "").is_retryable());
        assert!(PayError::Http(502).is_retryable());
        assert!(!PayError::Http(400).is_retryable());
        assert!(!PayError::OrderPaid.is_retryable());
        assert!(!PayError::BadSignature.is_retryable());
        assert!(!PayError::NotEnough(String::new()).is_retryable());
    }
}
