//! `GET /sns/jscode2session`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;

use super::faults::{Api, FailWith};
use super::{Simulator, SimulatorConfig, lock};

/// Stable per (app, code): the same code is the same person, and load tests get
/// as many people as they use distinct codes. Shaped like a real openid (28 characters).
pub(super) fn openid_for_code(config: &SimulatorConfig, code: &str) -> String {
    let digest = match Hmac::<Sha256>::new_from_slice(config.app_secret.expose().as_bytes()) {
        Ok(mut mac) => {
            mac.update(config.appid.as_bytes());
            mac.update(b"\0");
            mac.update(code.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => code.as_bytes().to_vec(),
    };
    let encoded = URL_SAFE_NO_PAD.encode(&digest);
    format!("o{}", encoded.chars().take(27).collect::<String>())
}

pub(super) async fn jscode2session(
    State(sim): State<Simulator>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let inner = &sim.inner;
    lock(&inner.stats).count(Api::JsCode2Session);
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
    match failure {
        Some(FailWith::Http500) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Some(FailWith::SystemError | FailWith::BizerrNeedRetry) => {
            return error(-1, "system error");
        }
        // The mini-program API's own word for a rate limit.
        Some(FailWith::FrequencyLimited | FailWith::InvalidReqTooMuch) => {
            return error(45011, "api minute-quota reach limit");
        }
        None => {}
    }
    let config = &inner.config;
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("appid") != config.appid {
        return error(40013, "invalid appid");
    }
    if get("secret") != config.app_secret.expose() {
        return error(40125, "invalid appsecret");
    }
    if get("grant_type") != "authorization_code" {
        return error(40002, "invalid grant_type");
    }
    // A few codes stand for WeChat's refusals, so clients can be tested against them.
    match get("js_code") {
        "" | "invalid" => return error(40029, "invalid code"),
        "used" => return error(40163, "code been used"),
        "ratelimit" => return error(45011, "api minute-quota reach limit"),
        "busy" => return error(-1, "system error"),
        _ => {}
    }
    let mut key = [0u8; 16];
    rand::rng().fill(&mut key);
    let body = serde_json::json!({
        "openid": openid_for_code(config, get("js_code")),
        "session_key": STANDARD.encode(key),
    });
    text_json(body.to_string())
}

fn error(errcode: i64, errmsg: &str) -> Response {
    text_json(serde_json::json!({ "errcode": errcode, "errmsg": errmsg }).to_string())
}

/// WeChat labels this JSON as text/plain; clients must not depend on the label.
fn text_json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
