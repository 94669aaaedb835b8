//! What the payment services can end in besides success; `http/` chooses the status and the words.

use wechat_pay_v2::pay::PayError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("payments are not configured")]
    NotConfigured,
    #[error("the registration is already paid")]
    AlreadyPaid,
    /// WeChat says the order is paid before we recorded it; the payment is being recorded.
    #[error("WeChat reports the order paid; recording the payment")]
    PaidAtWechat,
    #[error("the registration was cancelled or has expired")]
    NotPayable,
    /// The exam reviews qualifications and staff have not approved this registration.
    #[error("the registration is not approved yet")]
    NotApproved,
    #[error("the payment hold has ended")]
    HoldExpired,
    #[error("WeChat Pay: {0}")]
    Wechat(#[source] PayError),
    #[error("WeChat Pay answered a paid order without its transaction id or amount")]
    IncompleteAnswer,
    #[error("WeChat Pay reports {reported} fen for an order of {expected} fen")]
    AmountMismatch { reported: i64, expected: i64 },
    /// Something the database should make impossible (an order without its candidate).
    #[error("inconsistent data: {0}")]
    Inconsistent(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}
