use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The trade types this crate places: JSAPI inside a mini-program, NATIVE for a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeType {
    Jsapi,
    Native,
}

impl TradeType {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeType::Jsapi => "JSAPI",
            TradeType::Native => "NATIVE",
        }
    }
}

impl FromStr for TradeType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "JSAPI" => Ok(TradeType::Jsapi),
            "NATIVE" => Ok(TradeType::Native),
            other => Err(other.to_owned()),
        }
    }
}

impl fmt::Display for TradeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `unifiedorder` request; the client adds appid, mch_id, nonce_str and sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedOrder {
    /// At most 32 characters of `[A-Za-z0-9_-|*]`, single-use per merchant.
    pub out_trade_no: String,
    /// What the payer sees (`body`), e.g. `考试报名费-CET4`.
    pub body: String,
    /// In fen.
    pub total_fee: i64,
    pub spbill_create_ip: String,
    pub notify_url: String,
    pub trade_type: TradeType,
    /// Required for JSAPI.
    pub openid: Option<String>,
    /// Required for NATIVE.
    pub product_id: Option<String>,
    pub attach: Option<String>,
    /// `yyyyMMddHHmmss`, China time.
    pub time_expire: Option<String>,
}

impl UnifiedOrder {
    pub fn jsapi(
        out_trade_no: impl Into<String>,
        body: impl Into<String>,
        total_fee: i64,
        openid: impl Into<String>,
        spbill_create_ip: impl Into<String>,
        notify_url: impl Into<String>,
    ) -> Self {
        Self {
            out_trade_no: out_trade_no.into(),
            body: body.into(),
            total_fee,
            spbill_create_ip: spbill_create_ip.into(),
            notify_url: notify_url.into(),
            trade_type: TradeType::Jsapi,
            openid: Some(openid.into()),
            product_id: None,
            attach: None,
            time_expire: None,
        }
    }

    pub fn native(
        out_trade_no: impl Into<String>,
        body: impl Into<String>,
        total_fee: i64,
        product_id: impl Into<String>,
        spbill_create_ip: impl Into<String>,
        notify_url: impl Into<String>,
    ) -> Self {
        Self {
            out_trade_no: out_trade_no.into(),
            body: body.into(),
            total_fee,
            spbill_create_ip: spbill_create_ip.into(),
            notify_url: notify_url.into(),
            trade_type: TradeType::Native,
            openid: None,
            product_id: Some(product_id.into()),
            attach: None,
            time_expire: None,
        }
    }

    pub(crate) fn to_params(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("out_trade_no".into(), self.out_trade_no.clone());
        p.insert("body".into(), self.body.clone());
        p.insert("total_fee".into(), self.total_fee.to_string());
        p.insert("spbill_create_ip".into(), self.spbill_create_ip.clone());
        p.insert("notify_url".into(), self.notify_url.clone());
        p.insert("trade_type".into(), self.trade_type.as_str().into());
        let optional = [
            ("openid", &self.openid),
            ("product_id", &self.product_id),
            ("attach", &self.attach),
            ("time_expire", &self.time_expire),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                p.insert(k.into(), v.clone());
            }
        }
        p
    }
}

/// A successful `unifiedorder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepay {
    pub prepay_id: String,
    /// Only for NATIVE: the `weixin://wxpay/…` link to show as a QR code.
    pub code_url: Option<String>,
}

/// `trade_state` of `orderquery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeState {
    Success,
    Refund,
    NotPay,
    Closed,
    Revoked,
    UserPaying,
    PayError,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::NotPay => "NOTPAY",
            TradeState::Closed => "CLOSED",
            TradeState::Revoked => "REVOKED",
            TradeState::UserPaying => "USERPAYING",
            TradeState::PayError => "PAYERROR",
        }
    }

    /// The money arrived (a later refund does not undo that the order was paid).
    pub fn is_paid(self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }
}

impl FromStr for TradeState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "SUCCESS" => TradeState::Success,
            "REFUND" => TradeState::Refund,
            "NOTPAY" => TradeState::NotPay,
            "CLOSED" => TradeState::Closed,
            "REVOKED" => TradeState::Revoked,
            "USERPAYING" => TradeState::UserPaying,
            "PAYERROR" => TradeState::PayError,
            other => return Err(other.to_owned()),
        })
    }
}

/// The answer of `orderquery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderStatus {
    pub out_trade_no: String,
    pub trade_state: TradeState,
    pub trade_state_desc: Option<String>,
    /// Present once paid.
    pub transaction_id: Option<String>,
    pub total_fee: Option<i64>,
    pub cash_fee: Option<i64>,
    pub openid: Option<String>,
    pub time_end: Option<String>,
    pub attach: Option<String>,
    pub raw: BTreeMap<String, String>,
}

/// A `refund` request. Retry a failed refund with the same `out_refund_no`:
/// a new number would refund twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    pub out_refund_no: String,
    /// The order's amount, in fen.
    pub total_fee: i64,
    /// The amount to give back, in fen.
    pub refund_fee: i64,
    pub refund_desc: Option<String>,
    pub notify_url: Option<String>,
}

impl RefundRequest {
    pub(crate) fn to_params(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("out_trade_no".into(), self.out_trade_no.clone());
        p.insert("out_refund_no".into(), self.out_refund_no.clone());
        p.insert("total_fee".into(), self.total_fee.to_string());
        p.insert("refund_fee".into(), self.refund_fee.to_string());
        if let Some(d) = &self.refund_desc {
            p.insert("refund_desc".into(), d.clone());
        }
        if let Some(u) = &self.notify_url {
            p.insert("notify_url".into(), u.clone());
        }
        p
    }
}

/// WeChat accepted a refund; the result comes later by notify or `refundquery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAccepted {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub transaction_id: Option<String>,
    pub refund_id: String,
    pub refund_fee: i64,
    pub total_fee: Option<i64>,
}

/// The state of one refund (`refund_status` / `refund_status_$n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundState {
    Success,
    Processing,
    /// The money could not go back to the payer's account; needs a person.
    Change,
    RefundClose,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Success => "SUCCESS",
            RefundState::Processing => "PROCESSING",
            RefundState::Change => "CHANGE",
            RefundState::RefundClose => "REFUNDCLOSE",
        }
    }
}

impl FromStr for RefundState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "SUCCESS" => RefundState::Success,
            "PROCESSING" => RefundState::Processing,
            "CHANGE" => RefundState::Change,
            "REFUNDCLOSE" => RefundState::RefundClose,
            other => return Err(other.to_owned()),
        })
    }
}

/// The answer of `refundquery` for one `out_refund_no`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundStatus {
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    pub total_fee: Option<i64>,
    pub refund_status: RefundState,
    pub success_time: Option<String>,
    pub raw: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_wire_names() {
        for s in [
            TradeState::Success,
            TradeState::Refund,
            TradeState::NotPay,
            TradeState::Closed,
            TradeState::Revoked,
            TradeState::UserPaying,
            TradeState::PayError,
        ] {
            assert_eq!(s.as_str().parse::<TradeState>(), Ok(s));
        }
        for s in [
            RefundState::Success,
            RefundState::Processing,
            RefundState::Change,
            RefundState::RefundClose,
        ] {
            assert_eq!(s.as_str().parse::<RefundState>(), Ok(s));
        }
        assert!("success".parse::<TradeState>().is_err());
        assert_eq!("NATIVE".parse::<TradeType>(), Ok(TradeType::Native));
    }

    #[test]
    fn jsapi_params_carry_openid_and_skip_absent_options() {
        let order =
            UnifiedOrder::jsapi("E1", "考试报名费", 5000, "oid", "127.0.0.1", "https://x/n");
        let p = order.to_params();
        assert_eq!(p.get("openid").map(String::as_str), Some("oid"));
        assert_eq!(p.get("trade_type").map(String::as_str), Some("JSAPI"));
        assert_eq!(p.get("total_fee").map(String::as_str), Some("5000"));
        assert!(!p.contains_key("product_id") && !p.contains_key("attach"));
    }
}
