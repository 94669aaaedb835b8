use crate::bill::{Bill, BillError, BillType};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::error::PayError;
use super::types::{
    OrderStatus, Prepay, RefundAccepted, RefundRequest, RefundState, RefundStatus, TradeState,
    UnifiedOrder,
};
use crate::call_metrics;
use crate::fields::{FieldError, optional, optional_fen, required, required_fen};
use crate::tls::{ClientIdentity, P12Error, http_client_builder_with_roots, pem_certificates};
use crate::{SignType, WechatConfig, nonce_str, sign, xml};
use rustls::pki_types::CertificateDer;

impl From<FieldError> for PayError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Missing(f) => PayError::MissingField(f),
            FieldError::Bad(field, value) => PayError::BadField { field, value },
        }
    }
}

/// How often a request that is safe to repeat is sent again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Wait before the second try; doubled for each further one.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// The Pay API v2 client for one merchant.
#[derive(Debug, Clone)]
pub struct PayClient {
    config: WechatConfig,
    http: reqwest::Client,
    /// Carries the merchant certificate: only `/secapi/…` routes need it.
    cert_http: reqwest::Client,
    retry: RetryPolicy,
}

/// Whether a call may be repeated after a transient error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Never,
}

impl PayClient {
    /// A client with 10 s time-outs; reads the merchant certificate now, so a bad
    /// file shows at start-up rather than at the first refund.
    pub fn new(config: WechatConfig) -> Result<Self, PayError> {
        Self::with_timeout(config, Duration::from_secs(10))
    }

    pub fn with_timeout(config: WechatConfig, timeout: Duration) -> Result<Self, PayError> {
        let timeouts = |builder: reqwest::ClientBuilder| {
            builder
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
        };
        let roots = extra_roots(&config)?;
        let builder = |identity| {
            http_client_builder_with_roots(identity, &roots).map_err(PayError::Certificate)
        };
        let http = timeouts(builder(None)?)
            .build()
            .map_err(PayError::Transport)?;
        let cert_http = match (&config.client_cert, &config.client_key) {
            (Some(cert), _) => {
                let identity = load_identity(&config, cert)?;
                timeouts(builder(Some(identity))?)
                    .build()
                    .map_err(PayError::Transport)?
            }
            (None, Some(_)) => {
                return Err(PayError::Certificate(
                    "a private key was given without its certificate".into(),
                ));
            }
            // Without a certificate only the simulator will take a refund.
            (None, None) => http.clone(),
        };
        Ok(Self {
            config,
            http,
            cert_http,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn config(&self) -> &WechatConfig {
        &self.config
    }

    /// Places an order. Retried on transient errors: WeChat answers the same
    /// out_trade_no with the same content with the same prepay_id.
    pub async fn unified_order(&self, order: &UnifiedOrder) -> Result<Prepay, PayError> {
        let answer = self
            .call("/pay/unifiedorder", order.to_params(), false, Repeat::Safe)
            .await?;
        Ok(Prepay {
            prepay_id: required(&answer, "prepay_id")?,
            code_url: optional(&answer, "code_url"),
        })
    }

    pub async fn order_query(&self, out_trade_no: &str) -> Result<OrderStatus, PayError> {
        let params = BTreeMap::from([("out_trade_no".to_owned(), out_trade_no.to_owned())]);
        let answer = self
            .call("/pay/orderquery", params, false, Repeat::Safe)
            .await?;
        let state_raw = required(&answer, "trade_state")?;
        let trade_state = state_raw
            .parse::<TradeState>()
            .map_err(|value| PayError::BadField {
                field: "trade_state",
                value,
            })?;
        Ok(OrderStatus {
            out_trade_no: optional(&answer, "out_trade_no")
                .unwrap_or_else(|| out_trade_no.to_owned()),
            trade_state,
            trade_state_desc: optional(&answer, "trade_state_desc"),
            transaction_id: optional(&answer, "transaction_id"),
            total_fee: optional_fen(&answer, "total_fee")?,
            cash_fee: optional_fen(&answer, "cash_fee")?,
            openid: optional(&answer, "openid"),
            time_end: optional(&answer, "time_end"),
            attach: optional(&answer, "attach"),
            raw: answer,
        })
    }

    /// Closes an unpaid order; its out_trade_no can never be paid afterwards.
    /// Not retried here: the caller decides what a second close after an
    /// unknown outcome means (it may answer ORDERCLOSED or ORDERPAID).
    ///
    /// WeChat refuses to close an order younger than [`MIN_CLOSE_AGE`](super::MIN_CLOSE_AGE) and publishes no error
    /// code of its own for that: the refusal arrives as ORDERPAID (`PayError::OrderPaid`, with
    /// the 5-minute rule in `err_code_des`). So ORDERPAID from here means "paid *or* too young":
    /// query the order ([`PayClient::order_query`]) before taking it as paid; NOTPAY then means
    /// "close again later".
    pub async fn close_order(&self, out_trade_no: &str) -> Result<(), PayError> {
        let params = BTreeMap::from([("out_trade_no".to_owned(), out_trade_no.to_owned())]);
        self.call("/pay/closeorder", params, false, Repeat::Never)
            .await?;
        Ok(())
    }

    /// Asks for a refund, over mutual TLS. Retried with the same out_refund_no,
    /// which WeChat treats as the same refund.
    pub async fn refund(&self, request: &RefundRequest) -> Result<RefundAccepted, PayError> {
        let answer = self
            .call(
                "/secapi/pay/refund",
                request.to_params(),
                true,
                Repeat::Safe,
            )
            .await?;
        Ok(RefundAccepted {
            out_trade_no: optional(&answer, "out_trade_no")
                .unwrap_or_else(|| request.out_trade_no.clone()),
            out_refund_no: optional(&answer, "out_refund_no")
                .unwrap_or_else(|| request.out_refund_no.clone()),
            transaction_id: optional(&answer, "transaction_id"),
            refund_id: required(&answer, "refund_id")?,
            refund_fee: required_fen(&answer, "refund_fee")?,
            total_fee: optional_fen(&answer, "total_fee")?,
        })
    }

    pub async fn refund_query(&self, out_refund_no: &str) -> Result<RefundStatus, PayError> {
        let params = BTreeMap::from([("out_refund_no".to_owned(), out_refund_no.to_owned())]);
        let answer = self
            .call("/pay/refundquery", params, false, Repeat::Safe)
            .await?;
        let n = (0..50)
            .find(|n| {
                answer
                    .get(&format!("out_refund_no_{n}"))
                    .map(String::as_str)
                    == Some(out_refund_no)
            })
            .ok_or(PayError::MissingField("out_refund_no_$n"))?;
        let field = |name: &str| format!("{name}_{n}");
        let status_raw = answer
            .get(&field("refund_status"))
            .cloned()
            .ok_or(PayError::MissingField("refund_status_$n"))?;
        let refund_status =
            status_raw
                .parse::<RefundState>()
                .map_err(|value| PayError::BadField {
                    field: "refund_status_$n",
                    value,
                })?;
        let refund_fee_raw = answer
            .get(&field("refund_fee"))
            .cloned()
            .ok_or(PayError::MissingField("refund_fee_$n"))?;
        let refund_fee = crate::fields::parse_fen(&refund_fee_raw).ok_or(PayError::BadField {
            field: "refund_fee_$n",
            value: refund_fee_raw,
        })?;
        Ok(RefundStatus {
            out_trade_no: required(&answer, "out_trade_no")?,
            transaction_id: optional(&answer, "transaction_id"),
            out_refund_no: out_refund_no.to_owned(),
            refund_id: answer
                .get(&field("refund_id"))
                .cloned()
                .ok_or(PayError::MissingField("refund_id_$n"))?,
            refund_fee,
            total_fee: optional_fen(&answer, "total_fee")?,
            refund_status,
            success_time: optional(&answer, &field("refund_success_time")),
            raw: answer,
        })
    }

    /// The day's bill (`bill_date` as `yyyyMMdd`, Beijing time), read into typed records;
    /// `None` when WeChat has no bill for that day (nothing happened, or not yet generated — it
    /// makes the previous day's bill from 09:00). With `gzip` the bill travels compressed.
    pub async fn download_bill(
        &self,
        bill_date: &str,
        bill_type: BillType,
        gzip: bool,
    ) -> Result<Option<Bill>, PayError> {
        if bill_date.len() != 8 || !bill_date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PayError::InvalidRequest(format!(
                "bill_date must be yyyyMMdd, got {bill_date:?}"
            )));
        }
        let mut params = BTreeMap::from([
            ("bill_date".to_owned(), bill_date.to_owned()),
            ("bill_type".to_owned(), bill_type.as_str().to_owned()),
        ]);
        if gzip {
            params.insert("tar_type".into(), "GZIP".into());
        }
        let body = self.signed_body(params);
        let url = self.url("/pay/downloadbill");
        self.retrying("/pay/downloadbill", Repeat::Safe, || async {
            let bytes = self.fetch(&self.http, &url, body.clone()).await?;
            read_bill(&bytes, bill_type, gzip)
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.pay_base_url.trim_end_matches('/'), path)
    }

    /// The request's XML with appid, mch_id, a fresh nonce and the signature added.
    fn signed_body(&self, mut params: BTreeMap<String, String>) -> String {
        params.insert("appid".into(), self.config.appid.clone());
        params.insert("mch_id".into(), self.config.mch_id.clone());
        params.insert("nonce_str".into(), nonce_str());
        if self.config.sign_type == SignType::HmacSha256 {
            params.insert("sign_type".into(), SignType::HmacSha256.as_str().into());
        }
        let signature = sign::sign(&params, self.config.api_key.expose(), self.config.sign_type);
        params.insert("sign".into(), signature);
        xml::to_xml(&params)
    }

    /// Signs and sends one request and checks the answer; repeats the very same
    /// bytes (same nonce, same signature) on a transient error if `repeat` allows.
    async fn call(
        &self,
        path: &str,
        params: BTreeMap<String, String>,
        with_cert: bool,
        repeat: Repeat,
    ) -> Result<BTreeMap<String, String>, PayError> {
        let body = self.signed_body(params);
        let url = self.url(path);
        let http = if with_cert {
            &self.cert_http
        } else {
            &self.http
        };
        self.retrying(path, repeat, || async {
            let bytes = self.fetch(http, &url, body.clone()).await?;
            check_answer(&self.config, &bytes)
        })
        .await
    }

    /// Runs `send` once, or again after a transient error (of the transport or of WeChat's
    /// answer) while `repeat` allows, backing off.
    async fn retrying<T, F, Fut>(&self, path: &str, repeat: Repeat, send: F) -> Result<T, PayError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, PayError>>,
    {
        let attempts = match repeat {
            Repeat::Safe => self.retry.attempts.max(1),
            Repeat::Never => 1,
        };
        let mut wait = self.retry.backoff;
        let mut attempt = 1;
        let (api, started) = (call_metrics::api_of(path), std::time::Instant::now());
        loop {
            match send().await {
                Err(e) if e.is_retryable() && attempt < attempts => {
                    tracing::warn!(path, attempt, error = %e, "WeChat Pay call failed; trying again");
                    call_metrics::retried(api);
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                other => {
                    call_metrics::finished(api, call_metrics::pay_result(&other), started);
                    return other;
                }
            }
        }
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: String,
    ) -> Result<Vec<u8>, PayError> {
        let response = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(PayError::Transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(PayError::Http(status.as_u16()));
        }
        let bytes = response.bytes().await.map_err(PayError::Transport)?;
        Ok(bytes.to_vec())
    }
}

/// A bill larger than this, unpacked, is not one an exam office's merchant makes in a day.
const MAX_BILL_BYTES: u64 = 256 * 1024 * 1024;

/// A bill answer is text (or gzip) on success and unsigned error XML otherwise.
fn read_bill(bytes: &[u8], bill_type: BillType, gzip: bool) -> Result<Option<Bill>, PayError> {
    if bytes.trim_ascii_start().starts_with(b"<xml") {
        let answer = xml::parse(bytes)?;
        let message = optional(&answer, "return_msg").unwrap_or_else(|| "no return_msg".into());
        if message.contains("No Bill Exist") {
            return Ok(None);
        }
        return Err(PayError::Communication(message));
    }
    let text = if gzip {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_BILL_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| PayError::Bill(BillError::Gzip(e.to_string())))?;
        if out.len() as u64 > MAX_BILL_BYTES {
            return Err(PayError::Bill(BillError::TooLarge));
        }
        out
    } else {
        bytes.to_vec()
    };
    Bill::parse(bill_type, &text)
        .map(Some)
        .map_err(PayError::Bill)
}

/// Applies WeChat's layered answer: `return_code` (was the request taken), then
/// the answer's own signature, appid and mch_id, then `result_code`/`err_code`.
pub(crate) fn check_answer(
    config: &WechatConfig,
    body: &[u8],
) -> Result<BTreeMap<String, String>, PayError> {
    let answer = xml::parse(body)?;
    if answer.get("return_code").map(String::as_str) != Some("SUCCESS") {
        return Err(PayError::Communication(
            optional(&answer, "return_msg").unwrap_or_else(|| "no return_msg".into()),
        ));
    }
    if !sign::verify(&answer, config.api_key.expose(), Some(config.sign_type)) {
        return Err(PayError::BadSignature);
    }
    let appid = answer.get("appid").cloned().unwrap_or_default();
    if appid != config.appid {
        return Err(PayError::AppidMismatch(appid));
    }
    let mch_id = answer.get("mch_id").cloned().unwrap_or_default();
    if mch_id != config.mch_id {
        return Err(PayError::MchIdMismatch(mch_id));
    }
    if answer.get("result_code").map(String::as_str) != Some("SUCCESS") {
        let code = answer.get("err_code").map(String::as_str).unwrap_or("");
        let desc = answer.get("err_code_des").map(String::as_str).unwrap_or("");
        return Err(PayError::from_err_code(code, desc));
    }
    Ok(answer)
}

/// Reads the merchant certificate for mutual TLS: WeChat's `.p12` (by its extension; the
/// password defaults to the merchant id), or a PEM certificate plus PEM key (or one PEM holding
/// both).
fn load_identity(config: &WechatConfig, cert: &Path) -> Result<ClientIdentity, PayError> {
    if !crate::tls::is_p12_path(cert) {
        return ClientIdentity::from_pem_files(cert, config.client_key.as_deref())
            .map_err(PayError::Certificate);
    }
    let password = config
        .client_p12_password
        .as_ref()
        .map_or(config.mch_id.as_str(), |p| p.expose());
    let bytes = std::fs::read(cert)
        .map_err(|e| PayError::Certificate(format!("{}: {e}", cert.display())))?;
    ClientIdentity::from_p12(&bytes, password).map_err(|e| match e {
        P12Error::WrongPassword => PayError::CertificatePassword(cert.to_path_buf()),
        other => PayError::Certificate(format!("{}: {other}", cert.display())),
    })
}

fn extra_roots(config: &WechatConfig) -> Result<Vec<CertificateDer<'static>>, PayError> {
    let mut roots = Vec::new();
    for path in &config.extra_root_certs {
        roots.extend(pem_certificates(path).map_err(PayError::Certificate)?);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WechatConfig {
        WechatConfig::new("wxapp", "secret", "1900000109", "k".repeat(32))
    }

    fn signed(mut fields: BTreeMap<String, String>, key: &str) -> Vec<u8> {
        let s = sign::sign(&fields, key, SignType::Md5);
        fields.insert("sign".into(), s);
        xml::to_xml(&fields).into_bytes()
    }

    fn base() -> BTreeMap<String, String> {
        [
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("appid", "wxapp"),
            ("mch_id", "1900000109"),
            ("nonce_str", "n"),
            ("prepay_id", "wx1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn answer_checks_signature_appid_and_mch_id() {
        let key = "k".repeat(32);
        assert!(check_answer(&config(), &signed(base(), &key)).is_ok());
        assert!(matches!(
            check_answer(&config(), &signed(base(), "other-key")),
            Err(PayError::BadSignature)
        ));
        let mut other_app = base();
        other_app.insert("appid".into(), "wxother".into());
        assert!(matches!(
            check_answer(&config(), &signed(other_app, &key)),
            Err(PayError::AppidMismatch(a)) if a == "wxother"
        ));
        let mut other_mch = base();
        other_mch.insert("mch_id".into(), "1".into());
        assert!(matches!(
            check_answer(&config(), &signed(other_mch, &key)),
            Err(PayError::MchIdMismatch(_))
        ));
        let unsigned = xml::to_xml(&base()).into_bytes();
        assert!(matches!(
            check_answer(&config(), &unsigned),
            Err(PayError::BadSignature)
        ));
    }

    #[test]
    fn return_fail_and_err_codes_become_typed_errors() {
        let fail = b"<xml><return_code>FAIL</return_code><return_msg>\xe7\xad\xbe\xe5\x90\x8d\xe9\x94\x99\xe8\xaf\xaf</return_msg></xml>";
        assert!(matches!(
            check_answer(&config(), fail),
            Err(PayError::Communication(m)) if m == "签名错误"
        ));
        let mut paid = base();
        paid.insert("result_code".into(), "FAIL".into());
        paid.insert("err_code".into(), "ORDERPAID".into());
        paid.insert("err_code_des".into(), "该订单已支付".into());
        assert!(matches!(
            check_answer(&config(), &signed(paid, &"k".repeat(32))),
            Err(PayError::OrderPaid)
        ));
    }

    #[test]
    fn missing_certificate_file_is_reported_at_start() {
        let mut c = config();
        c.client_cert = Some("/nonexistent/apiclient_cert.pem".into());
        c.client_key = Some("/nonexistent/apiclient_key.pem".into());
        assert!(matches!(PayClient::new(c), Err(PayError::Certificate(_))));
    }
}
