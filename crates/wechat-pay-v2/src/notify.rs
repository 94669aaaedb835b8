//! The callbacks WeChat Pay sends: payment result (signed) and refund result
//! (`req_info` encrypted with the API key).
//!
//! Checked here: signature, appid, mch_id. Not here: that `total_fee` equals the
//! order's amount, which only the app knows and must check.

use std::collections::BTreeMap;

use super::crypto::{self, CryptoError};
use super::fields::{FieldError, optional, required, required_fen};
use super::pay::RefundState;
use super::xml::{self, XmlError};
use super::{SignType, WechatConfig, sign};

pub use super::crypto::encrypt_req_info;

/// The answer that stops WeChat from sending a notify again (with HTTP 200).
pub const SUCCESS_REPLY: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";

/// The answer telling WeChat the notify was not taken (it will send it again).
pub fn fail_reply(msg: &str) -> String {
    let fields = BTreeMap::from([
        ("return_code".to_owned(), "FAIL".to_owned()),
        ("return_msg".to_owned(), msg.to_owned()),
    ]);
    xml::to_xml(&fields)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("notify body: {0}")]
    Xml(#[from] XmlError),
    #[error("notify says return_code FAIL: {0}")]
    ReturnFail(String),
    #[error("notify signature is wrong or missing")]
    BadSignature,
    #[error("notify is for another appid ({0})")]
    AppidMismatch(String),
    #[error("notify is for another mch_id ({0})")]
    MchIdMismatch(String),
    #[error("notify lacks {0}")]
    MissingField(&'static str),
    #[error("notify has a bad {field}: {value:?}")]
    BadField { field: &'static str, value: String },
    #[error("refund notify req_info: {0}")]
    Crypto(#[from] CryptoError),
}

impl From<FieldError> for NotifyError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Missing(f) => NotifyError::MissingField(f),
            FieldError::Bad(field, value) => NotifyError::BadField { field, value },
        }
    }
}

/// A verified payment notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayNotify {
    pub appid: String,
    pub mch_id: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    /// In fen; compare with the order's amount before taking the payment.
    pub total_fee: i64,
    pub cash_fee: i64,
    pub openid: String,
    /// `yyyyMMddHHmmss`, China time.
    pub time_end: String,
    /// `SUCCESS` or `FAIL`.
    pub result_code: String,
    pub trade_type: Option<String>,
    pub attach: Option<String>,
    /// The algorithm the signature was checked with.
    pub sign_type: SignType,
    pub raw: BTreeMap<String, String>,
}

impl PayNotify {
    pub fn is_success(&self) -> bool {
        self.result_code == "SUCCESS"
    }
}

/// Verifies and reads a payment notify.
///
/// `expected_sign_type` is the algorithm the order was placed with; `None`
/// tells it from the signature's length (an HMAC-SHA256 notify may carry no `sign_type`).
pub fn parse_pay_notify(
    config: &WechatConfig,
    body: &[u8],
    expected_sign_type: Option<SignType>,
) -> Result<PayNotify, NotifyError> {
    let raw = xml::parse(body)?;
    if raw.get("return_code").map(String::as_str) != Some("SUCCESS") {
        return Err(NotifyError::ReturnFail(
            optional(&raw, "return_msg").unwrap_or_default(),
        ));
    }
    let received = raw.get("sign").ok_or(NotifyError::BadSignature)?;
    let sign_type = match expected_sign_type {
        Some(t) => t,
        None => SignType::guess_from_signature(received).ok_or(NotifyError::BadSignature)?,
    };
    if !sign::verify(&raw, config.api_key.expose(), Some(sign_type)) {
        return Err(NotifyError::BadSignature);
    }
    check_merchant(config, &raw)?;
    // Fees are fen of renminbi: an amount in another currency is not the order's amount, whatever
    // its number. WeChat leaves `fee_type` out for CNY.
    if let Some(fee_type) = optional(&raw, "fee_type")
        && fee_type != "CNY"
    {
        return Err(NotifyError::BadField {
            field: "fee_type",
            value: fee_type,
        });
    }
    Ok(PayNotify {
        appid: required(&raw, "appid")?,
        mch_id: required(&raw, "mch_id")?,
        out_trade_no: required(&raw, "out_trade_no")?,
        transaction_id: required(&raw, "transaction_id")?,
        total_fee: required_fen(&raw, "total_fee")?,
        cash_fee: required_fen(&raw, "cash_fee")?,
        openid: required(&raw, "openid")?,
        time_end: required(&raw, "time_end")?,
        result_code: required(&raw, "result_code")?,
        trade_type: optional(&raw, "trade_type"),
        attach: optional(&raw, "attach"),
        sign_type,
        raw,
    })
}

fn check_merchant(
    config: &WechatConfig,
    raw: &BTreeMap<String, String>,
) -> Result<(), NotifyError> {
    let appid = raw.get("appid").cloned().unwrap_or_default();
    if appid != config.appid {
        return Err(NotifyError::AppidMismatch(appid));
    }
    let mch_id = raw.get("mch_id").cloned().unwrap_or_default();
    if mch_id != config.mch_id {
        return Err(NotifyError::MchIdMismatch(mch_id));
    }
    Ok(())
}

/// A decrypted refund notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundNotify {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub transaction_id: Option<String>,
    pub refund_id: String,
    pub refund_fee: i64,
    pub total_fee: i64,
    pub refund_status: RefundState,
    /// `yyyy-MM-dd HH:mm:ss`, China time; only for SUCCESS.
    pub success_time: Option<String>,
    /// The decrypted `req_info` fields.
    pub raw: BTreeMap<String, String>,
}

/// Decrypts and reads a refund notify. It carries no signature: only a holder
/// of the API key can produce a `req_info` that decrypts to valid XML.
pub fn parse_refund_notify(
    config: &WechatConfig,
    body: &[u8],
) -> Result<RefundNotify, NotifyError> {
    let outer = xml::parse(body)?;
    if outer.get("return_code").map(String::as_str) != Some("SUCCESS") {
        return Err(NotifyError::ReturnFail(
            optional(&outer, "return_msg").unwrap_or_default(),
        ));
    }
    check_merchant(config, &outer)?;
    let req_info = required(&outer, "req_info")?;
    let inner_xml = crypto::decrypt_req_info(&req_info, config.api_key.expose())?;
    let raw = xml::parse_with_root(inner_xml.as_bytes(), "root")?;
    let status_raw = required(&raw, "refund_status")?;
    let refund_status =
        status_raw
            .parse::<RefundState>()
            .map_err(|value| NotifyError::BadField {
                field: "refund_status",
                value,
            })?;
    Ok(RefundNotify {
        out_trade_no: required(&raw, "out_trade_no")?,
        out_refund_no: required(&raw, "out_refund_no")?,
        transaction_id: optional(&raw, "transaction_id"),
        refund_id: required(&raw, "refund_id")?,
        refund_fee: required_fen(&raw, "refund_fee")?,
        total_fee: required_fen(&raw, "total_fee")?,
        refund_status,
        success_time: optional(&raw, "success_time"),
        raw,
    })
}

/// Builds the outer body of a refund notify around encrypted `inner` fields
/// (the simulator's side, and tests').
pub fn build_refund_notify(config: &WechatConfig, inner: &BTreeMap<String, String>) -> String {
    let inner_xml = xml::to_xml(inner);
    let inner_xml = inner_xml
        .strip_prefix("<xml>")
        .and_then(|s| s.strip_suffix("</xml>"))
        .map(|s| format!("<root>{s}</root>"))
        .unwrap_or(inner_xml);
    let outer = BTreeMap::from([
        ("return_code".to_owned(), "SUCCESS".to_owned()),
        ("appid".to_owned(), config.appid.clone()),
        ("mch_id".to_owned(), config.mch_id.clone()),
        ("nonce_str".to_owned(), super::nonce_str()),
        (
            "req_info".to_owned(),
            encrypt_req_info(&inner_xml, config.api_key.expose()),
        ),
    ]);
    xml::to_xml(&outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn config() -> WechatConfig {
        WechatConfig::new("wxd930ea5d5a258f4f", "app-secret", "10000100", KEY)
    }

    fn notify_fields() -> BTreeMap<String, String> {
        [
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"),
            ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
            ("is_subscribe", "N"),
            ("trade_type", "JSAPI"),
            ("bank_type", "CMC"),
            ("total_fee", "5000"),
            ("cash_fee", "5000"),
            ("fee_type", "CNY"),
            ("transaction_id", "4200000123202401011234567890"),
            ("out_trade_no", "EXAM2024000001"),
            ("attach", "考试 & <报名>"),
            ("time_end", "20240101120000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn signed_body(mut fields: BTreeMap<String, String>, key: &str, t: SignType) -> Vec<u8> {
        let s = sign::sign(&fields, key, t);
        fields.insert("sign".into(), s);
        xml::to_xml(&fields).into_bytes()
    }

    #[test]
    fn genuine_md5_notify_is_parsed() {
        let body = signed_body(notify_fields(), KEY, SignType::Md5);
        let n = parse_pay_notify(&config(), &body, Some(SignType::Md5));
        let n = n.as_ref().ok();
        assert_eq!(n.map(|n| n.total_fee), Some(5000));
        assert_eq!(n.map(|n| n.out_trade_no.as_str()), Some("EXAM2024000001"));
        assert_eq!(
            n.map(|n| n.transaction_id.as_str()),
            Some("4200000123202401011234567890")
        );
        assert_eq!(n.and_then(|n| n.attach.as_deref()), Some("考试 & <报名>"));
        assert_eq!(n.map(PayNotify::is_success), Some(true));
    }

    #[test]
    fn hmac_notify_without_sign_type_is_verified_by_order_type_or_length() {
        let body = signed_body(notify_fields(), KEY, SignType::HmacSha256);
        assert!(!String::from_utf8_lossy(&body).contains("sign_type"));
        let by_order = parse_pay_notify(&config(), &body, Some(SignType::HmacSha256));
        assert_eq!(by_order.map(|n| n.sign_type), Ok(SignType::HmacSha256));
        let by_length = parse_pay_notify(&config(), &body, None);
        assert_eq!(by_length.map(|n| n.sign_type), Ok(SignType::HmacSha256));
        // An HMAC order answered with an MD5-signed notify is not accepted.
        let md5_body = signed_body(notify_fields(), KEY, SignType::Md5);
        assert_eq!(
            parse_pay_notify(&config(), &md5_body, Some(SignType::HmacSha256)),
            Err(NotifyError::BadSignature)
        );
    }

    #[test]
    fn forged_notifies_are_rejected() {
        let forged = signed_body(notify_fields(), "not-the-api-key", SignType::Md5);
        assert_eq!(
            parse_pay_notify(&config(), &forged, None),
            Err(NotifyError::BadSignature)
        );

        // Signed with the AppSecret instead of the API key: the classic mix-up.
        let app_secret_signed = signed_body(notify_fields(), "app-secret", SignType::Md5);
        assert_eq!(
            parse_pay_notify(&config(), &app_secret_signed, None),
            Err(NotifyError::BadSignature)
        );

        let mut changed =
            xml::parse(&signed_body(notify_fields(), KEY, SignType::Md5)).unwrap_or_default();
        changed.insert("total_fee".into(), "1".into());
        let tampered = xml::to_xml(&changed).into_bytes();
        assert_eq!(
            parse_pay_notify(&config(), &tampered, None),
            Err(NotifyError::BadSignature)
        );

        let mut unsigned = notify_fields();
        unsigned.remove("sign");
        let unsigned = xml::to_xml(&unsigned).into_bytes();
        assert_eq!(
            parse_pay_notify(&config(), &unsigned, None),
            Err(NotifyError::BadSignature)
        );
    }

    #[test]
    fn notify_for_another_merchant_is_rejected_even_if_signed() {
        let mut other = notify_fields();
        other.insert("mch_id".into(), "19999999".into());
        let body = signed_body(other, KEY, SignType::Md5);
        assert_eq!(
            parse_pay_notify(&config(), &body, None),
            Err(NotifyError::MchIdMismatch("19999999".into()))
        );
        let mut other = notify_fields();
        other.insert("appid".into(), "wxother".into());
        let body = signed_body(other, KEY, SignType::Md5);
        assert_eq!(
            parse_pay_notify(&config(), &body, None),
            Err(NotifyError::AppidMismatch("wxother".into()))
        );
    }

    #[test]
    fn hostile_or_failed_notifies_are_errors() {
        let xxe =
            br#"<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>"#;
        assert_eq!(
            parse_pay_notify(&config(), xxe, None),
            Err(NotifyError::Xml(XmlError::Doctype))
        );
        let fail = b"<xml><return_code>FAIL</return_code><return_msg>bad</return_msg></xml>";
        assert_eq!(
            parse_pay_notify(&config(), fail, None),
            Err(NotifyError::ReturnFail("bad".into()))
        );
        let mut bad_fee = notify_fields();
        bad_fee.insert("total_fee".into(), "50.00".into());
        let body = signed_body(bad_fee, KEY, SignType::Md5);
        assert!(matches!(
            parse_pay_notify(&config(), &body, None),
            Err(NotifyError::BadField {
                field: "total_fee",
                ..
            })
        ));
    }

    #[test]
    fn a_signed_notify_in_another_currency_is_refused() {
        let mut usd = notify_fields();
        usd.insert("fee_type".into(), "USD".into());
        let body = signed_body(usd, KEY, SignType::Md5);
        assert_eq!(
            parse_pay_notify(&config(), &body, None),
            Err(NotifyError::BadField {
                field: "fee_type",
                value: "USD".into()
            })
        );
        let mut unstated = notify_fields();
        unstated.remove("fee_type");
        let body = signed_body(unstated, KEY, SignType::Md5);
        assert!(
            parse_pay_notify(&config(), &body, None).is_ok(),
            "CNY when left out"
        );
    }

    #[test]
    fn replies_are_exact() {
        assert_eq!(
            SUCCESS_REPLY,
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        let fail = fail_reply("签名错误 ]]> <x>");
        let parsed = xml::parse(fail.as_bytes()).unwrap_or_default();
        assert_eq!(parsed.get("return_code").map(String::as_str), Some("FAIL"));
        assert_eq!(
            parsed.get("return_msg").map(String::as_str),
            Some("签名错误 ]]> <x>")
        );
    }

    fn refund_inner() -> BTreeMap<String, String> {
        [
            ("out_trade_no", "EXAM2024000001"),
            ("out_refund_no", "R2024000001"),
            ("transaction_id", "4200000123202401011234567890"),
            ("refund_id", "50000000012024010112345678901"),
            ("total_fee", "5000"),
            ("refund_fee", "2000"),
            ("settlement_refund_fee", "2000"),
            ("refund_status", "SUCCESS"),
            ("success_time", "2024-01-02 10:00:00"),
            ("refund_recv_accout", "招商银行信用卡0403"),
            ("refund_account", "REFUND_SOURCE_RECHARGE_FUNDS"),
            ("refund_request_source", "API"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn refund_notify_decrypt_round_trip() {
        let body = build_refund_notify(&config(), &refund_inner());
        assert!(!body.contains("R2024000001"), "req_info must be encrypted");
        let n = parse_refund_notify(&config(), body.as_bytes());
        let n = n.as_ref().ok();
        assert_eq!(n.map(|n| n.out_refund_no.as_str()), Some("R2024000001"));
        assert_eq!(n.map(|n| n.refund_fee), Some(2000));
        assert_eq!(n.map(|n| n.total_fee), Some(5000));
        assert_eq!(n.map(|n| n.refund_status), Some(RefundState::Success));
        assert_eq!(
            n.and_then(|n| n.success_time.as_deref()),
            Some("2024-01-02 10:00:00")
        );
        assert_eq!(
            n.and_then(|n| n.raw.get("refund_recv_accout"))
                .map(String::as_str),
            Some("招商银行信用卡0403")
        );
    }

    #[test]
    fn refund_notify_under_another_key_or_merchant_is_rejected() {
        let mut other = config();
        other.api_key = "another-api-key-another-api-key!".into();
        let body = build_refund_notify(&other, &refund_inner());
        assert!(parse_refund_notify(&config(), body.as_bytes()).is_err());

        let mut other = config();
        other.mch_id = "19999999".into();
        let body = build_refund_notify(&other, &refund_inner());
        assert_eq!(
            parse_refund_notify(&config(), body.as_bytes()),
            Err(NotifyError::MchIdMismatch("19999999".into()))
        );
    }

    #[test]
    fn refund_notify_statuses() {
        for (raw, state) in [
            ("CHANGE", RefundState::Change),
            ("REFUNDCLOSE", RefundState::RefundClose),
        ] {
            let mut inner = refund_inner();
            inner.insert("refund_status".into(), raw.into());
            inner.remove("success_time");
            let body = build_refund_notify(&config(), &inner);
            let n = parse_refund_notify(&config(), body.as_bytes());
            assert_eq!(n.as_ref().map(|n| n.refund_status), Ok(state));
            assert_eq!(n.map(|n| n.success_time), Ok(None));
        }
    }
}
