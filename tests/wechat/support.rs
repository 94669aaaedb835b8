//! Shared by the WeChat tests of this binary: the simulator on a loopback port and a notify
//! receiver; holds no tests itself.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use wechat_pay_v2::notify::SUCCESS_REPLY;
use wechat_pay_v2::{SignType, WechatConfig};
use wechat_pay_v2_simulator::{Simulator, SimulatorConfig, Stats};

use crate::common::wait_until;

pub const APPID: &str = "wxd930ea5d5a258f4f";
pub const APP_SECRET: &str = "4f1a7d0c9b2e8a6f3d5c1b0e9a8f7d6c";
pub const MCH_ID: &str = "10000100";
pub const API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

pub fn sim_config() -> SimulatorConfig {
    let mut c = SimulatorConfig::new(APPID, APP_SECRET, MCH_ID, API_KEY);
    c.time_scale = 0.001;
    c.refund_delay = Duration::from_secs(20);
    c
}

/// A simulator on a random loopback port, and a client config aimed at it.
pub async fn start() -> (Simulator, WechatConfig) {
    start_with(SignType::Md5).await
}

pub async fn start_with(sign_type: SignType) -> (Simulator, WechatConfig) {
    // The tests' own reqwest clients have no TLS provider of their own.
    examdesk::install_crypto_provider();
    let sim = Simulator::new(sim_config());
    let base = sim.spawn_on_loopback().await.unwrap_or_default();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "simulator did not start"
    );
    let mut config = sim.client_config(&base);
    config.sign_type = sign_type;
    (sim, config)
}

/// How a test notify receiver answers one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Success,
    Http500,
    /// HTTP 200 with return_code FAIL.
    Fail,
    /// HTTP 201 with the SUCCESS body: still a failure for WeChat.
    Created,
}

/// Records every notify body; answers the first ones as `script` says, then SUCCESS.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    hits: Arc<AtomicU32>,
    script: Arc<Vec<Reply>>,
}

impl Receiver {
    pub fn count(&self) -> usize {
        self.bodies.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn body(&self, i: usize) -> Vec<u8> {
        self.bodies
            .lock()
            .ok()
            .and_then(|b| b.get(i).cloned())
            .unwrap_or_default()
    }
}

async fn receive(State(r): State<Receiver>, body: Bytes) -> axum::response::Response {
    if let Ok(mut b) = r.bodies.lock() {
        b.push(body.to_vec());
    }
    let n = r.hits.fetch_add(1, Ordering::SeqCst) as usize;
    match r.script.get(n).copied().unwrap_or(Reply::Success) {
        Reply::Success => (StatusCode::OK, SUCCESS_REPLY).into_response(),
        Reply::Http500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Reply::Fail => (
            StatusCode::OK,
            wechat_pay_v2::notify::fail_reply("database busy"),
        )
            .into_response(),
        Reply::Created => (StatusCode::CREATED, SUCCESS_REPLY).into_response(),
    }
}

pub async fn receiver(script: Vec<Reply>) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await;
    let listener = match listener {
        Ok(l) => l,
        Err(e) => panic!("cannot bind a receiver: {e}"),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let r = Receiver {
        url: format!("http://{addr}/notify"),
        bodies: Arc::default(),
        hits: Arc::default(),
        script: Arc::new(script),
    };
    let app = Router::new()
        .route("/notify", post(receive))
        .with_state(r.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    r
}

/// Waits until the simulator's counters are as `wanted` says.
pub async fn wait_for_stats(sim: &Simulator, what: &str, wanted: impl Fn(&Stats) -> bool) {
    wait_until(what, async || {
        let stats = sim.stats();
        if wanted(&stats) {
            Ok(())
        } else {
            Err(format!("{stats:?}"))
        }
    })
    .await
}
