//! The simulator's books: orders and refunds, and WeChat's rules for them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::RngExt;

use wechat_pay_v2::SignType;
use wechat_pay_v2::bill::{Bill, BillRecord, BillSummary, BillType};
use wechat_pay_v2::clock::{china_now, format_compact, format_dashed};
use wechat_pay_v2::parse_fen;
use wechat_pay_v2::pay::{RefundState, TradeState};

pub(crate) type Fields = BTreeMap<String, String>;

/// A refusal the way WeChat words it: `err_code` and `err_code_des`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: &'static str,
    pub desc: String,
}

fn refuse(code: &'static str, desc: impl Into<String>) -> Refusal {
    Refusal {
        code,
        desc: desc.into(),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub prepay_id: String,
    pub out_trade_no: String,
    /// What was asked for, minus nonce/sign: a repeat must match it exactly.
    pub content: Fields,
    pub body: String,
    pub total_fee: i64,
    pub trade_type: String,
    pub openid: Option<String>,
    pub notify_url: String,
    pub attach: Option<String>,
    pub code_url: Option<String>,
    pub sign_type: SignType,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    pub time_end: Option<String>,
    pub refunds: Vec<Refund>,
    /// When it was placed, on the simulator's real clock (WeChat's time rules scale it).
    pub placed: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    pub state: RefundState,
    pub success_time: Option<String>,
    pub notify_url: Option<String>,
}

impl Order {
    fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.refund_fee).sum()
    }

    fn paid_fields(&self, f: &mut Fields) {
        if let (Some(tx), Some(t)) = (&self.transaction_id, &self.time_end) {
            f.insert("transaction_id".into(), tx.clone());
            f.insert("time_end".into(), t.clone());
            f.insert("cash_fee".into(), self.total_fee.to_string());
            f.insert("fee_type".into(), "CNY".into());
            f.insert("bank_type".into(), "CMC".into());
            f.insert("is_subscribe".into(), "N".into());
            f.insert("openid".into(), self.payer_openid());
        }
    }

    /// NATIVE orders carry no openid; the payer gets one derived from the order.
    pub fn payer_openid(&self) -> String {
        self.openid.clone().unwrap_or_else(|| {
            format!(
                "oSimNativePayer{}",
                &self.prepay_id[self.prepay_id.len().saturating_sub(13)..]
            )
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct Books {
    orders: HashMap<String, Order>,
    by_prepay: HashMap<String, String>,
    by_refund: HashMap<String, String>,
}

fn random_digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[usize::from(rng.random_range(0..16u8))]))
        .collect()
}

fn valid_out_trade_no(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*'))
}

/// WeChat's own words for the close interval, as the simulator's ORDERPAID refusal of a young order.
pub(crate) const TOO_YOUNG_TO_CLOSE: &str =
    "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟";

fn need<'a>(p: &'a Fields, key: &str) -> Result<&'a str, Refusal> {
    match p.get(key) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(refuse("PARAM_ERROR", format!("缺少参数{key}"))),
    }
}

fn need_fen(p: &Fields, key: &str) -> Result<i64, Refusal> {
    match parse_fen(need(p, key)?) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(refuse("PARAM_ERROR", format!("{key}参数错误"))),
    }
}

/// WeChat's usual rate for mini-program payments: 0.6 %, i.e. 6 thousandths of a fen per fen.
const CHARGE_MILLI_FEN_PER_FEN: i64 = 6;

fn dashed(compact: &str) -> String {
    if compact.len() != 14 {
        return compact.to_owned();
    }
    format!(
        "{}-{}-{} {}:{}:{}",
        &compact[0..4],
        &compact[4..6],
        &compact[6..8],
        &compact[8..10],
        &compact[10..12],
        &compact[12..14]
    )
}

impl Books {
    /// The bill of one day (`yyyyMMdd`, Beijing time): payments by their `time_end`, refunds by
    /// their success time. `None` for a day with nothing, as WeChat answers `No Bill Exist`.
    pub fn bill(&self, date: &str, bill_type: BillType, appid: &str, mch_id: &str) -> Option<Bill> {
        let mut orders: Vec<&Order> = self.orders.values().collect();
        orders.sort_by(|a, b| {
            a.time_end
                .cmp(&b.time_end)
                .then(a.out_trade_no.cmp(&b.out_trade_no))
        });
        let mut records = Vec::new();
        for order in orders {
            let base = BillRecord {
                appid: appid.to_owned(),
                mch_id: mch_id.to_owned(),
                sub_mch_id: "0".into(),
                transaction_id: order.transaction_id.clone().unwrap_or_default(),
                out_trade_no: order.out_trade_no.clone(),
                openid: order.payer_openid(),
                trade_type: order.trade_type.clone(),
                bank_type: "CMC".into(),
                fee_type: "CNY".into(),
                body: order.body.clone(),
                attach: order.attach.clone().unwrap_or_default(),
                rate: "0.60%".into(),
                ..BillRecord::default()
            };
            let paid_that_day = order
                .time_end
                .as_deref()
                .is_some_and(|t| t.starts_with(date));
            if paid_that_day && bill_type != BillType::Refund {
                records.push(BillRecord {
                    trade_time: dashed(order.time_end.as_deref().unwrap_or_default()),
                    trade_state: "SUCCESS".into(),
                    settlement_total_fen: order.total_fee,
                    total_fen: order.total_fee,
                    charge_milli_fen: order.total_fee * CHARGE_MILLI_FEN_PER_FEN,
                    ..base.clone()
                });
            }
            if bill_type == BillType::Success {
                continue;
            }
            for refund in &order.refunds {
                let Some(done) = refund.success_time.as_deref() else {
                    continue;
                };
                if refund.state != RefundState::Success
                    || done.replace('-', "").get(..8) != Some(date)
                {
                    continue;
                }
                records.push(BillRecord {
                    trade_time: dashed(order.time_end.as_deref().unwrap_or_default()),
                    trade_state: "REFUND".into(),
                    refund_apply_time: done.to_owned(),
                    refund_success_time: done.to_owned(),
                    refund_id: refund.refund_id.clone(),
                    out_refund_no: refund.out_refund_no.clone(),
                    refund_fen: refund.refund_fee,
                    refund_applied_fen: refund.refund_fee,
                    refund_type: "ORIGINAL".into(),
                    refund_status: "SUCCESS".into(),
                    charge_milli_fen: -refund.refund_fee * CHARGE_MILLI_FEN_PER_FEN,
                    ..base.clone()
                });
            }
        }
        if records.is_empty() {
            return None;
        }
        Some(Bill {
            bill_type,
            summary: BillSummary::of(&records),
            records,
        })
    }

    pub fn has_refund(&self, out_refund_no: &str) -> bool {
        self.by_refund.contains_key(out_refund_no)
    }

    #[cfg(test)]
    pub fn order(&self, out_trade_no: &str) -> Option<&Order> {
        self.orders.get(out_trade_no)
    }

    /// Finds an order by prepay_id or out_trade_no.
    pub fn find_mut(&mut self, id: &str) -> Option<&mut Order> {
        let key = self
            .by_prepay
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned());
        self.orders.get_mut(&key)
    }

    pub fn find(&self, id: &str) -> Option<&Order> {
        let key = self.by_prepay.get(id).map(String::as_str).unwrap_or(id);
        self.orders.get(key)
    }

    pub fn unified_order(&mut self, p: &Fields, sign_type: SignType) -> Result<Fields, Refusal> {
        let out_trade_no = need(p, "out_trade_no")?;
        if !valid_out_trade_no(out_trade_no) {
            return Err(refuse("PARAM_ERROR", "out_trade_no参数格式错误"));
        }
        let body = need(p, "body")?;
        if body.chars().count() > 128 {
            return Err(refuse("PARAM_ERROR", "body参数长度有误"));
        }
        let total_fee = need_fen(p, "total_fee")?;
        need(p, "spbill_create_ip")?;
        let notify_url = need(p, "notify_url")?;
        if !(notify_url.starts_with("http://") || notify_url.starts_with("https://"))
            || notify_url.contains('?')
        {
            return Err(refuse(
                "PARAM_ERROR",
                "notify_url参数格式错误，不能携带参数",
            ));
        }
        let trade_type = need(p, "trade_type")?;
        match trade_type {
            "JSAPI" => {
                need(p, "openid").map_err(|_| refuse("PARAM_ERROR", "JSAPI支付必须传openid"))?;
            }
            "NATIVE" => {
                need(p, "product_id")
                    .map_err(|_| refuse("PARAM_ERROR", "NATIVE支付必须传product_id"))?;
            }
            _ => return Err(refuse("PARAM_ERROR", "trade_type参数错误")),
        }
        let mut content = p.clone();
        for k in ["nonce_str", "sign", "sign_type"] {
            content.remove(k);
        }

        if let Some(existing) = self.orders.get(out_trade_no) {
            return match existing.state {
                TradeState::Success | TradeState::Refund => {
                    Err(refuse("ORDERPAID", "该订单已支付"))
                }
                TradeState::Closed | TradeState::Revoked => {
                    Err(refuse("OUT_TRADE_NO_USED", "商户订单号重复"))
                }
                _ if existing.content != content => {
                    Err(refuse("INVALID_REQUEST", "201 商户订单号重复"))
                }
                _ => Ok(prepay_answer(existing)),
            };
        }

        let prepay_id = format!("wx{}{}", format_compact(china_now()), random_hex(20));
        let code_url = (trade_type == "NATIVE")
            .then(|| format!("weixin://wxpay/bizpayurl?pr={}", random_hex(7)));
        let order = Order {
            prepay_id: prepay_id.clone(),
            out_trade_no: out_trade_no.to_owned(),
            body: body.to_owned(),
            total_fee,
            trade_type: trade_type.to_owned(),
            openid: p.get("openid").filter(|v| !v.is_empty()).cloned(),
            notify_url: notify_url.to_owned(),
            attach: p.get("attach").filter(|v| !v.is_empty()).cloned(),
            code_url,
            sign_type,
            state: TradeState::NotPay,
            transaction_id: None,
            time_end: None,
            refunds: Vec::new(),
            content,
            placed: Instant::now(),
        };
        let answer = prepay_answer(&order);
        self.by_prepay.insert(prepay_id, order.out_trade_no.clone());
        self.orders.insert(order.out_trade_no.clone(), order);
        Ok(answer)
    }

    pub fn order_query(&self, p: &Fields) -> Result<Fields, Refusal> {
        // orderquery words an unknown transaction_id like an unknown order number.
        let order = self.lookup(p).map_err(|r| match r.code {
            "INVALID_TRANSACTIONID" => refuse("ORDERNOTEXIST", "订单不存在"),
            _ => r,
        })?;
        let mut f = Fields::new();
        f.insert("out_trade_no".into(), order.out_trade_no.clone());
        f.insert("trade_state".into(), order.state.as_str().into());
        f.insert(
            "trade_state_desc".into(),
            trade_state_desc(order.state).into(),
        );
        f.insert("total_fee".into(), order.total_fee.to_string());
        f.insert("trade_type".into(), order.trade_type.clone());
        if let Some(a) = &order.attach {
            f.insert("attach".into(), a.clone());
        }
        order.paid_fields(&mut f);
        Ok(f)
    }

    fn lookup(&self, p: &Fields) -> Result<&Order, Refusal> {
        match (p.get("out_trade_no"), p.get("transaction_id")) {
            (Some(no), _) if !no.is_empty() => self
                .orders
                .get(no)
                .ok_or_else(|| refuse("ORDERNOTEXIST", "订单不存在")),
            (_, Some(tx)) if !tx.is_empty() => self
                .orders
                .values()
                .find(|o| o.transaction_id.as_deref() == Some(tx.as_str()))
                .ok_or_else(|| refuse("INVALID_TRANSACTIONID", "无效transaction_id")),
            _ => Err(refuse("PARAM_ERROR", "缺少参数out_trade_no")),
        }
    }

    /// Closes an unpaid order at `now`, unless it is younger than `min_age` (WeChat's 5 minutes,
    /// already scaled): WeChat has no code of its own for that and refuses it as ORDERPAID, with
    /// its documented rule as the description.
    pub fn close_order(
        &mut self,
        p: &Fields,
        now: Instant,
        min_age: Duration,
    ) -> Result<Fields, Refusal> {
        let no = need(p, "out_trade_no")?;
        let order = self
            .orders
            .get_mut(no)
            .ok_or_else(|| refuse("ORDERNOTEXIST", "订单不存在"))?;
        match order.state {
            TradeState::Success | TradeState::Refund => {
                Err(refuse("ORDERPAID", "订单已支付，不能发起关单"))
            }
            TradeState::Closed | TradeState::Revoked => {
                Err(refuse("ORDERCLOSED", "订单已关闭，无法重复关闭"))
            }
            _ if now.saturating_duration_since(order.placed) < min_age => {
                Err(refuse("ORDERPAID", TOO_YOUNG_TO_CLOSE))
            }
            _ => {
                order.state = TradeState::Closed;
                Ok(Fields::new())
            }
        }
    }

    /// Marks an order paid; `Err` names why it cannot be.
    pub fn pay(&mut self, id: &str) -> Result<Order, PayRefusal> {
        let order = self.find_mut(id).ok_or(PayRefusal::NotFound)?;
        match order.state {
            TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => {
                order.state = TradeState::Success;
                order.transaction_id = Some(format!("4200{}", random_digits(24)));
                order.time_end = Some(format_compact(china_now()));
                Ok(order.clone())
            }
            TradeState::Success | TradeState::Refund => Err(PayRefusal::AlreadyPaid(
                order.transaction_id.clone().unwrap_or_default(),
            )),
            TradeState::Closed | TradeState::Revoked => Err(PayRefusal::Closed),
        }
    }

    pub fn refund(&mut self, p: &Fields) -> Result<Fields, Refusal> {
        let out_refund_no = need(p, "out_refund_no")?.to_owned();
        if out_refund_no.len() > 64 {
            return Err(refuse("PARAM_ERROR", "out_refund_no参数格式错误"));
        }
        let total_fee = need_fen(p, "total_fee")?;
        let refund_fee = need_fen(p, "refund_fee")?;
        let out_trade_no = self.lookup(p)?.out_trade_no.clone();
        let order = self
            .orders
            .get_mut(&out_trade_no)
            .ok_or_else(|| refuse("ORDERNOTEXIST", "订单不存在"))?;
        if !order.state.is_paid() {
            return Err(refuse(
                "TRADE_STATE_ERROR",
                "订单状态错误，未支付的订单不能退款",
            ));
        }
        if total_fee != order.total_fee {
            return Err(refuse("INVALID_REQUEST", "订单金额与实际金额不一致"));
        }
        if let Some(existing) = order
            .refunds
            .iter()
            .find(|r| r.out_refund_no == out_refund_no)
        {
            if existing.refund_fee != refund_fee {
                return Err(refuse(
                    "INVALID_REQUEST",
                    "退款金额与之前请求不一致，请核实后再试",
                ));
            }
            // The same refund asked again: the same answer, no second refund.
            let existing = existing.clone();
            return Ok(refund_answer(order, &existing));
        }
        if self.by_refund.contains_key(&out_refund_no) {
            return Err(refuse("INVALID_REQUEST", "退款单号已用于其他订单"));
        }
        if order.refunds.len() >= 50 {
            return Err(refuse(
                "INVALID_REQUEST",
                "订单已经超过可退款的最大次数（50次）",
            ));
        }
        if order.refunded() + refund_fee > order.total_fee {
            return Err(refuse("NOTENOUGH", "订单可退金额不足"));
        }
        let refund = Refund {
            out_refund_no: out_refund_no.clone(),
            refund_id: format!("50{}", random_digits(27)),
            refund_fee,
            state: RefundState::Processing,
            success_time: None,
            notify_url: p.get("notify_url").filter(|v| !v.is_empty()).cloned(),
        };
        order.refunds.push(refund.clone());
        order.state = TradeState::Refund;
        self.by_refund.insert(out_refund_no, out_trade_no);
        Ok(refund_answer(order, &refund))
    }

    /// Settles a refund; returns the decrypted notify fields and where to send them.
    pub fn settle_refund(&mut self, out_refund_no: &str) -> Option<(Fields, Option<String>)> {
        let out_trade_no = self.by_refund.get(out_refund_no)?.clone();
        let order = self.orders.get_mut(&out_trade_no)?;
        let (tx, total) = (order.transaction_id.clone(), order.total_fee);
        let refund = order
            .refunds
            .iter_mut()
            .find(|r| r.out_refund_no == out_refund_no)?;
        if refund.state == RefundState::Processing {
            let now = china_now();
            refund.state = RefundState::Success;
            refund.success_time = Some(format_dashed(now));
        }
        let mut f = Fields::new();
        f.insert("out_trade_no".into(), out_trade_no);
        if let Some(tx) = tx {
            f.insert("transaction_id".into(), tx);
        }
        f.insert("out_refund_no".into(), refund.out_refund_no.clone());
        f.insert("refund_id".into(), refund.refund_id.clone());
        f.insert("total_fee".into(), total.to_string());
        f.insert("settlement_total_fee".into(), total.to_string());
        f.insert("refund_fee".into(), refund.refund_fee.to_string());
        f.insert(
            "settlement_refund_fee".into(),
            refund.refund_fee.to_string(),
        );
        f.insert("refund_status".into(), refund.state.as_str().into());
        if let Some(t) = &refund.success_time {
            f.insert("success_time".into(), t.clone());
        }
        f.insert("refund_recv_accout".into(), "支付用户的零钱".into());
        f.insert(
            "refund_account".into(),
            "REFUND_SOURCE_UNSETTLED_FUNDS".into(),
        );
        f.insert("refund_request_source".into(), "API".into());
        Some((f, refund.notify_url.clone()))
    }

    pub fn refund_query(&self, p: &Fields) -> Result<Fields, Refusal> {
        let (order, only) = if let Some(no) = p.get("out_refund_no").filter(|v| !v.is_empty()) {
            let order = self
                .by_refund
                .get(no)
                .and_then(|t| self.orders.get(t))
                .ok_or_else(|| refuse("REFUNDNOTEXIST", "退款订单查询失败"))?;
            (order, Some(no.as_str()))
        } else {
            (
                self.lookup(p).map_err(|r| {
                    if r.code == "ORDERNOTEXIST" {
                        refuse("REFUNDNOTEXIST", "退款订单查询失败")
                    } else {
                        r
                    }
                })?,
                None,
            )
        };
        let refunds: Vec<&Refund> = order
            .refunds
            .iter()
            .filter(|r| only.is_none_or(|no| r.out_refund_no == no))
            .collect();
        if refunds.is_empty() {
            return Err(refuse("REFUNDNOTEXIST", "退款订单查询失败"));
        }
        let mut f = Fields::new();
        f.insert("out_trade_no".into(), order.out_trade_no.clone());
        if let Some(tx) = &order.transaction_id {
            f.insert("transaction_id".into(), tx.clone());
        }
        f.insert("total_fee".into(), order.total_fee.to_string());
        f.insert("cash_fee".into(), order.total_fee.to_string());
        f.insert("refund_count".into(), refunds.len().to_string());
        for (n, r) in refunds.iter().enumerate() {
            f.insert(format!("out_refund_no_{n}"), r.out_refund_no.clone());
            f.insert(format!("refund_id_{n}"), r.refund_id.clone());
            f.insert(format!("refund_fee_{n}"), r.refund_fee.to_string());
            f.insert(format!("refund_status_{n}"), r.state.as_str().into());
            f.insert(format!("refund_channel_{n}"), "ORIGINAL".into());
            f.insert(format!("refund_recv_accout_{n}"), "支付用户的零钱".into());
            if let Some(t) = &r.success_time {
                f.insert(format!("refund_success_time_{n}"), t.clone());
            }
        }
        Ok(f)
    }
}

/// Why `POST /pay/{id}` cannot pay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayRefusal {
    #[error("no such order")]
    NotFound,
    #[error("order already paid (transaction {0})")]
    AlreadyPaid(String),
    #[error("order is closed")]
    Closed,
}

fn prepay_answer(order: &Order) -> Fields {
    let mut f = Fields::new();
    f.insert("prepay_id".into(), order.prepay_id.clone());
    f.insert("trade_type".into(), order.trade_type.clone());
    if let Some(c) = &order.code_url {
        f.insert("code_url".into(), c.clone());
    }
    f
}

fn refund_answer(order: &Order, refund: &Refund) -> Fields {
    let mut f = Fields::new();
    f.insert("out_trade_no".into(), order.out_trade_no.clone());
    if let Some(tx) = &order.transaction_id {
        f.insert("transaction_id".into(), tx.clone());
    }
    f.insert("out_refund_no".into(), refund.out_refund_no.clone());
    f.insert("refund_id".into(), refund.refund_id.clone());
    f.insert("refund_fee".into(), refund.refund_fee.to_string());
    f.insert("total_fee".into(), order.total_fee.to_string());
    f.insert("cash_fee".into(), order.total_fee.to_string());
    f
}

fn trade_state_desc(state: TradeState) -> &'static str {
    match state {
        TradeState::Success => "支付成功",
        TradeState::Refund => "转入退款",
        TradeState::NotPay => "订单未支付",
        TradeState::Closed => "已关闭",
        TradeState::Revoked => "已撤销",
        TradeState::UserPaying => "用户支付中",
        TradeState::PayError => "支付失败",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_params(no: &str, fee: &str) -> Fields {
        [
            ("out_trade_no", no),
            ("body", "考试报名费"),
            ("total_fee", fee),
            ("spbill_create_ip", "127.0.0.1"),
            ("notify_url", "http://127.0.0.1:1/n"),
            ("trade_type", "JSAPI"),
            ("openid", "o1"),
            ("nonce_str", "n1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn out_trade_no_rules() {
        assert!(valid_out_trade_no("EXAM-2024_01|*"));
        assert!(!valid_out_trade_no(&"A".repeat(33)));
        assert!(!valid_out_trade_no("中文"));
        assert!(!valid_out_trade_no("a b"));
        assert!(!valid_out_trade_no(""));
        let mut books = Books::default();
        let bad = order_params("has space", "100");
        assert_eq!(
            books.unified_order(&bad, SignType::Md5).map_err(|r| r.code),
            Err("PARAM_ERROR")
        );
    }

    #[test]
    fn required_fields_and_amount_rules() {
        let mut books = Books::default();
        for (key, value) in [
            ("total_fee", "0"),
            ("total_fee", "-5"),
            ("total_fee", "1.5"),
            ("openid", ""),
            ("body", ""),
            ("spbill_create_ip", ""),
            ("notify_url", "ftp://x"),
            ("notify_url", "https://x/n?a=1"),
            ("trade_type", "APP"),
        ] {
            let mut p = order_params("E1", "100");
            p.insert(key.into(), value.into());
            assert_eq!(
                books.unified_order(&p, SignType::Md5).map_err(|r| r.code),
                Err("PARAM_ERROR"),
                "{key}={value}"
            );
        }
        let mut native = order_params("E2", "100");
        native.insert("trade_type".into(), "NATIVE".into());
        native.remove("openid");
        assert!(
            books.unified_order(&native, SignType::Md5).is_err(),
            "NATIVE needs product_id"
        );
        native.insert("product_id".into(), "P1".into());
        let answer = books
            .unified_order(&native, SignType::Md5)
            .unwrap_or_default();
        assert!(
            answer
                .get("code_url")
                .is_some_and(|c| c.starts_with("weixin://wxpay/bizpayurl"))
        );
    }

    #[test]
    fn refunds_never_exceed_the_payment() {
        let mut books = Books::default();
        let _ = books.unified_order(&order_params("E1", "100"), SignType::Md5);
        let refund = |no: &str, fee: &str| -> Fields {
            [
                ("out_trade_no", "E1"),
                ("out_refund_no", no),
                ("total_fee", "100"),
                ("refund_fee", fee),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
        };
        assert_eq!(
            books.refund(&refund("R1", "60")).map_err(|r| r.code),
            Err("TRADE_STATE_ERROR")
        );
        assert!(books.pay("E1").is_ok());
        assert!(books.refund(&refund("R1", "60")).is_ok());
        assert!(
            books.refund(&refund("R1", "60")).is_ok(),
            "same out_refund_no again"
        );
        assert_eq!(
            books.refund(&refund("R2", "41")).map_err(|r| r.code),
            Err("NOTENOUGH")
        );
        assert!(books.refund(&refund("R2", "40")).is_ok());
        assert_eq!(
            books.refund(&refund("R3", "1")).map_err(|r| r.code),
            Err("NOTENOUGH")
        );
        assert_eq!(books.order("E1").map(Order::refunded), Some(100));
    }

    fn close_params(no: &str) -> Fields {
        Fields::from([("out_trade_no".to_owned(), no.to_owned())])
    }

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    /// Books with one unpaid order E1, and when it was placed.
    fn one_order() -> (Books, Instant) {
        let mut books = Books::default();
        let _ = books.unified_order(&order_params("E1", "100"), SignType::Md5);
        let placed = books
            .order("E1")
            .map(|o| o.placed)
            .unwrap_or_else(Instant::now);
        (books, placed)
    }

    #[test]
    fn a_young_order_is_refused_as_orderpaid_and_closes_once_five_minutes_old() {
        let (mut books, placed) = one_order();
        let refused = books.close_order(
            &close_params("E1"),
            placed + Duration::from_secs(299),
            FIVE_MINUTES,
        );
        assert_eq!(
            refused,
            Err(Refusal {
                code: "ORDERPAID",
                desc: TOO_YOUNG_TO_CLOSE.to_owned()
            })
        );
        assert_eq!(
            books.order("E1").map(|o| o.state),
            Some(TradeState::NotPay),
            "a refused close leaves the order payable"
        );
        assert!(
            books
                .close_order(&close_params("E1"), placed + FIVE_MINUTES, FIVE_MINUTES)
                .is_ok()
        );
        assert_eq!(books.order("E1").map(|o| o.state), Some(TradeState::Closed));
        assert_eq!(
            books
                .close_order(&close_params("E1"), placed + FIVE_MINUTES, FIVE_MINUTES)
                .map_err(|r| r.code),
            Err("ORDERCLOSED")
        );
    }

    #[test]
    fn a_paid_order_is_orderpaid_whatever_its_age_with_other_words() {
        let (mut books, placed) = one_order();
        assert!(books.pay("E1").is_ok());
        for age in [Duration::ZERO, FIVE_MINUTES * 2] {
            let refusal = books.close_order(&close_params("E1"), placed + age, FIVE_MINUTES);
            assert_eq!(refusal.as_ref().map_err(|r| r.code), Err("ORDERPAID"));
            assert!(
                refusal.is_err_and(|r| r.desc != TOO_YOUNG_TO_CLOSE),
                "a paid order is told apart by its description"
            );
        }
    }

    #[test]
    fn the_close_interval_follows_the_time_scale() {
        let mut config = crate::SimulatorConfig::new("wx1", "s", "m1", "k");
        config.time_scale = 0.001;
        let min_age = config.scaled(wechat_pay_v2::pay::MIN_CLOSE_AGE);
        assert_eq!(min_age, Duration::from_millis(300));
        let (mut books, placed) = one_order();
        assert!(
            books
                .close_order(
                    &close_params("E1"),
                    placed + Duration::from_millis(299),
                    min_age
                )
                .is_err(),
            "299 ms is under five scaled minutes"
        );
        assert!(
            books
                .close_order(
                    &close_params("E1"),
                    placed + Duration::from_millis(300),
                    min_age
                )
                .is_ok()
        );
    }

    #[test]
    fn an_unknown_transaction_id_is_worded_per_api() {
        let mut books = Books::default();
        let by_tx = Fields::from([
            (
                "transaction_id".to_owned(),
                "4200000000000000000000000000".to_owned(),
            ),
            ("out_refund_no".to_owned(), "R1".to_owned()),
            ("total_fee".to_owned(), "100".to_owned()),
            ("refund_fee".to_owned(), "100".to_owned()),
        ]);
        assert_eq!(
            books.refund(&by_tx).map_err(|r| r.code),
            Err("INVALID_TRANSACTIONID")
        );
        assert_eq!(
            books.order_query(&by_tx).map_err(|r| r.code),
            Err("ORDERNOTEXIST")
        );
        let mut query = by_tx.clone();
        query.remove("out_refund_no");
        assert_eq!(
            books.refund_query(&query).map_err(|r| r.code),
            Err("INVALID_TRANSACTIONID")
        );
    }

    #[test]
    fn at_most_fifty_refunds_per_order() {
        let mut books = Books::default();
        let _ = books.unified_order(&order_params("E1", "1000"), SignType::Md5);
        assert!(books.pay("E1").is_ok());
        for i in 0..51 {
            let p: Fields = [
                ("out_trade_no", "E1".to_owned()),
                ("out_refund_no", format!("R{i}")),
                ("total_fee", "1000".into()),
                ("refund_fee", "1".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let result = books.refund(&p);
            if i < 50 {
                assert!(result.is_ok(), "refund {i}");
            } else {
                assert_eq!(result.map_err(|r| r.code), Err("INVALID_REQUEST"));
            }
        }
    }
}
