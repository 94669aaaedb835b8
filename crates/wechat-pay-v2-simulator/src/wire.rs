//! The Pay API v2 routes: parse, check like WeChat, answer signed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::faults::{Api, FailWith};
use super::state::{Books, Fields, Refusal};
use super::{Simulator, lock, notifier};
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
    handle(&sim, Api::CloseOrder, &body, |books, p, _| {
        books.close_order(p)
    })
    .await
}

/// Real WeChat also demands the merchant certificate here; over plain HTTP the
/// simulator cannot see TLS, so it takes the refund without it.
pub(super) async fn refund(State(sim): State<Simulator>, body: Bytes) -> Response {
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

/// Runs one call through faults, the common checks and `business`.
async fn handle(
    sim: &Simulator,
    api: Api,
    body: &[u8],
    business: impl FnOnce(&mut Books, &Fields, SignType) -> Result<Fields, Refusal>,
) -> Response {
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
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }

    let request = match xml::parse(body) {
        Ok(r) => r,
        Err(_) => return fail("XML格式错误"),
    };
    let sign_type = match request.get("sign_type").map(String::as_str) {
        None | Some("") => SignType::Md5,
        Some(raw) => match raw.parse::<SignType>() {
            Ok(t) => t,
            Err(_) => return fail("sign_type参数错误"),
        },
    };
    let config = &inner.config;
    if request.get("appid") != Some(&config.appid) {
        return fail("appid参数错误");
    }
    if request.get("mch_id") != Some(&config.mch_id) {
        return fail("商户号mch_id与appid不匹配");
    }
    if !request
        .get("nonce_str")
        .is_some_and(|n| !n.is_empty() && n.len() <= 32)
    {
        return fail("nonce_str参数错误");
    }
    if !sign::verify(&request, config.api_key.expose(), Some(sign_type)) {
        return fail("签名错误");
    }

    let result = if failure == Some(FailWith::SystemError) {
        Err(Refusal {
            code: "SYSTEMERROR",
            desc: "系统超时".into(),
        })
    } else {
        business(&mut lock(&inner.books), &request, sign_type)
    };
    answer(sim, sign_type, result)
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
