//! The Pay API v2 routes: parse, check like WeChat, answer signed.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::faults::{Api, FailWith};
use super::state::{Books, Fields, Refusal};
use super::tls::OverTls;
use super::{Simulator, lock, notifier};
use wechat_pay_v2::bill::BillType;
use wechat_pay_v2::{SignType, nonce_str, sign, xml};

pub(super) async fn unified_order(State(sim): State<Simulator>, body: Bytes) -> Response {
    handle(&sim, Api::UnifiedOrder, &body, |books, p, t| {
        books.unified_order(p, t)
    })
    .await
}

pub(super) async fn order_query(State(sim): State<Simulator>, body: Bytes) -> Response {
    handle(&sim, Api::OrderQuery, &body, |books, p, _| {
        books.order_query(p)
    })
    .await
}

pub(super) async fn close_order(State(sim): State<Simulator>, body: Bytes) -> Response {
    let min_age = sim.inner.config.scaled(wechat_pay_v2::pay::MIN_CLOSE_AGE);
    handle(&sim, Api::CloseOrder, &body, |books, p, _| {
        books.close_order(p, std::time::Instant::now(), min_age)
    })
    .await
}

/// WeChat demands the merchant certificate here. Over the simulator's HTTPS listener a request
/// without one is refused; over plain HTTP (tests and the demo) the simulator cannot see TLS, so
/// it takes the refund without it.
pub(super) async fn refund(
    State(sim): State<Simulator>,
    over_tls: Option<Extension<OverTls>>,
    body: Bytes,
) -> Response {
    if over_tls.is_some_and(|Extension(tls)| !tls.merchant_certificate) {
        lock(&sim.inner.stats).count(Api::Refund);
        return fail("请求未携带商户API证书，请检查证书配置");
    }
    let mut created = None;
    let response = handle(&sim, Api::Refund, &body, |books, p, _| {
        let no = p.get("out_refund_no").cloned().unwrap_or_default();
        let is_new = !books.has_refund(&no);
        let answer = books.refund(p)?;
        if is_new {
            created = Some(no);
        }
        Ok(answer)
    })
    .await;
    if let Some(out_refund_no) = created {
        notifier::settle_refund_later(&sim.inner, out_refund_no);
    }
    response
}

pub(super) async fn refund_query(State(sim): State<Simulator>, body: Bytes) -> Response {
    handle(&sim, Api::RefundQuery, &body, |books, p, _| {
        books.refund_query(p)
    })
    .await
}

/// The day's bill from the books, as text (gzip on `tar_type=GZIP`), or WeChat's error XML.
pub(super) async fn download_bill(State(sim): State<Simulator>, body: Bytes) -> Response {
    let (request, _sign_type, failure) = match admit(&sim, Api::DownloadBill, &body).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    if failure.and_then(FailWith::refusal).is_some() {
        return fail("系统超时");
    }
    let date = request.get("bill_date").cloned().unwrap_or_default();
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return fail("invalid bill_date");
    }
    let bill_type = match request.get("bill_type").map(String::as_str) {
        None | Some("") => BillType::All,
        Some(raw) => match raw.parse::<BillType>() {
            Ok(t) => t,
            Err(_) => return fail("invalid bill_type"),
        },
    };
    let gzip = match request.get("tar_type").map(String::as_str) {
        None | Some("") => false,
        Some("GZIP") => true,
        Some(_) => return fail("invalid tar_type"),
    };
    let config = &sim.inner.config;
    let Some(bill) = lock(&sim.inner.books).bill(&date, bill_type, &config.appid, &config.mch_id)
    else {
        return fail("No Bill Exist");
    };
    let text = bill.to_text();
    if gzip {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let packed = encoder
            .write_all(text.as_bytes())
            .and_then(|()| encoder.finish());
        match packed {
            Ok(bytes) => ([(header::CONTENT_TYPE, "application/x-gzip")], bytes).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    } else {
        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
    }
}

/// Runs one call through faults, the common checks and `business`.
async fn handle(
    sim: &Simulator,
    api: Api,
    body: &[u8],
    business: impl FnOnce(&mut Books, &Fields, SignType) -> Result<Fields, Refusal>,
) -> Response {
    let (request, sign_type, failure) = match admit(sim, api, body).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let result = match failure.and_then(FailWith::refusal) {
        Some((code, desc)) => Err(Refusal {
            code,
            desc: desc.into(),
        }),
        None => business(&mut lock(&sim.inner.books), &request, sign_type),
    };
    answer(sim, sign_type, result)
}

/// Faults, then the checks every call passes: XML, sign type, appid, mch_id, nonce, signature.
/// The request and the failure to inject into its business answer, or the refusal.
async fn admit(
    sim: &Simulator,
    api: Api,
    body: &[u8],
) -> Result<(Fields, SignType, Option<FailWith>), Response> {
    let inner = &sim.inner;
    lock(&inner.stats).count(api);
    let (delay, failure) = {
        let mut faults = lock(&inner.faults);
        (faults.delay_ms, faults.take_failure())
    };
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if failure.is_some() {
        lock(&inner.stats).injected_failures += 1;
    }
    if failure == Some(FailWith::Http500) {
        return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }

    let request = xml::parse(body).map_err(|_| fail("XML格式错误"))?;
    let sign_type = match request.get("sign_type").map(String::as_str) {
        None | Some("") => SignType::Md5,
        Some(raw) => raw
            .parse::<SignType>()
            .map_err(|_| fail("sign_type参数错误"))?,
    };
    let config = &inner.config;
    if request.get("appid") != Some(&config.appid) {
        return Err(fail("appid参数错误"));
    }
    if request.get("mch_id") != Some(&config.mch_id) {
        return Err(fail("商户号mch_id与appid不匹配"));
    }
    if !request
        .get("nonce_str")
        .is_some_and(|n| !n.is_empty() && n.len() <= 32)
    {
        return Err(fail("nonce_str参数错误"));
    }
    if !sign::verify(&request, config.api_key.expose(), Some(sign_type)) {
        return Err(fail("签名错误"));
    }
    Ok((request, sign_type, failure))
}

/// `return_code` FAIL: the request was not taken; unsigned, as WeChat sends it.
fn fail(msg: &str) -> Response {
    let fields = Fields::from([
        ("return_code".to_owned(), "FAIL".to_owned()),
        ("return_msg".to_owned(), msg.to_owned()),
    ]);
    xml_response(xml::to_xml(&fields))
}

fn answer(sim: &Simulator, sign_type: SignType, result: Result<Fields, Refusal>) -> Response {
    let config = &sim.inner.config;
    let mut fields = match result {
        Ok(mut f) => {
            f.insert("result_code".into(), "SUCCESS".into());
            f
        }
        Err(refusal) => Fields::from([
            ("result_code".to_owned(), "FAIL".to_owned()),
            ("err_code".to_owned(), refusal.code.to_owned()),
            ("err_code_des".to_owned(), refusal.desc),
        ]),
    };
    fields.insert("return_code".into(), "SUCCESS".into());
    fields.insert("return_msg".into(), "OK".into());
    fields.insert("appid".into(), config.appid.clone());
    fields.insert("mch_id".into(), config.mch_id.clone());
    fields.insert("nonce_str".into(), nonce_str());
    let signature = sign::sign(&fields, config.api_key.expose(), sign_type);
    fields.insert("sign".into(), signature);
    xml_response(xml::to_xml(&fields))
}

fn xml_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}
