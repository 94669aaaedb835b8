//! Control routes: the pay page and button, fault switches, counters.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::faults::Faults;
use super::state::PayRefusal;
use super::{SimOrder, Simulator};
use wechat_pay_v2::pay::TradeState;

pub(super) async fn get_faults(State(sim): State<Simulator>) -> Json<Faults> {
    Json(sim.faults())
}

pub(super) async fn set_faults(
    State(sim): State<Simulator>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    sim.set_faults(faults);
    Json(sim.faults())
}

pub(super) async fn get_stats(State(sim): State<Simulator>) -> Json<super::Stats> {
    Json(sim.stats())
}

pub(super) async fn pay_route(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let from_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let result = sim.pay(&id);
    if from_form {
        // Back to the page, which now shows the result; relative, so it works under any prefix.
        let order = sim.order(&id);
        let status = match &result {
            Ok(_) | Err(PayRefusal::AlreadyPaid(_)) => StatusCode::OK,
            Err(PayRefusal::NotFound) => StatusCode::NOT_FOUND,
            Err(PayRefusal::Closed) => StatusCode::CONFLICT,
        };
        return (status, Html(render(order.as_ref(), &id, result.err()))).into_response();
    }
    match result {
        Ok(transaction_id) => Json(serde_json::json!({
            "out_trade_no": sim.order(&id).map(|o| o.out_trade_no),
            "transaction_id": transaction_id,
        }))
        .into_response(),
        Err(refusal) => {
            let status = match refusal {
                PayRefusal::NotFound => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            (
                status,
                Json(serde_json::json!({ "error": refusal.to_string() })),
            )
                .into_response()
        }
    }
}

pub(super) async fn pay_page(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    let order = sim.order(&id);
    let status = if order.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    (status, Html(render(order.as_ref(), &id, None))).into_response()
}

fn render(order: Option<&SimOrder>, id: &str, refusal: Option<PayRefusal>) -> String {
    let content = match order {
        None => format!("<p class=\"warn\">找不到订单 {}</p>", escape(id)),
        Some(o) => {
            let state = match o.trade_state {
                TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => format!(
                    // The action is relative to …/pay/, so the page works at / and under /_sim.
                    "<form method=\"post\" action=\"{}\"><button type=\"submit\">确认支付</button></form>",
                    escape(&o.prepay_id)
                ),
                TradeState::Success | TradeState::Refund => format!(
                    "<p class=\"ok\">支付成功</p><p>微信支付单号 {}</p>",
                    escape(o.transaction_id.as_deref().unwrap_or(""))
                ),
                TradeState::Closed | TradeState::Revoked => {
                    "<p class=\"warn\">订单已关闭，无法支付</p>".to_owned()
                }
            };
            let note = match refusal {
                Some(PayRefusal::AlreadyPaid(_)) => "<p>该订单此前已支付。</p>",
                _ => "",
            };
            format!(
                "<p class=\"body\">{}</p><p class=\"amount\">¥{}.{:02}</p><p class=\"no\">商户订单号 {}</p>{state}{note}",
                escape(&o.body),
                o.total_fee / 100,
                o.total_fee % 100,
                escape(&o.out_trade_no),
            )
        }
    };
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>微信支付（模拟）</title><link rel=\"stylesheet\" href=\"../pay.css\"></head><body><main><h1>微信支付</h1>{content}\
<p class=\"sim\">这是 examdesk 的微信支付模拟器，不会真实扣款。</p></main></body></html>"
    )
}

/// The payment page's style, served as a file (relative to the page, so also under a prefix):
/// the service's Content-Security-Policy allows no inline style.
const STYLE: &str = "body{font-family:sans-serif;background:#ededed;margin:0}\
main{max-width:24rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:8px;text-align:center}\
.amount{font-size:2rem;font-weight:bold}.no{color:#888;font-size:.8rem}\
button{background:#07c160;color:#fff;border:0;border-radius:4px;padding:.8rem 3rem;font-size:1rem}\
.ok{color:#07c160}.warn{color:#c00}.sim{color:#888;font-size:.8rem}";

pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
