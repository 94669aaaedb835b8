//! A strict, in-memory WeChat: Pay API v2 and `jscode2session`, for tests, demos and a
//! stand-alone fake WeChat on a developer's machine.
//!
//! It checks what real WeChat checks (signature with the sign type the request
//! names, appid, mch_id, required fields, order and refund rules), signs its
//! answers with the merchant key, and delivers notifies on WeChat's retry
//! schedule, scaled by `time_scale`.

mod faults;
mod login;
mod notifier;
mod page;
mod state;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

pub use faults::{FailWith, Faults, Stats};
pub use notifier::NOTIFY_SCHEDULE_SECS;
use state::Books;
pub use state::PayRefusal;
pub use tls::SimulatorTls;
use wechat_pay_v2::pay::TradeState;
use wechat_pay_v2::{Secret, SignType, WechatConfig};

/// The merchant and mini-program the simulator plays WeChat for.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub appid: String,
    pub app_secret: Secret,
    pub mch_id: String,
    pub api_key: Secret,
    /// 1.0 runs WeChat's real notify schedule (15 s … 6 h); 0.001 runs it in milliseconds.
    pub time_scale: f64,
    /// How long a refund stays PROCESSING before it succeeds, before scaling.
    pub refund_delay: Duration,
    /// How long a notify receiver has to answer (WeChat gives 5 s), not scaled.
    pub notify_timeout: Duration,
}

impl SimulatorConfig {
    pub fn new(
        appid: impl Into<String>,
        app_secret: impl Into<Secret>,
        mch_id: impl Into<String>,
        api_key: impl Into<Secret>,
    ) -> Self {
        Self {
            appid: appid.into(),
            app_secret: app_secret.into(),
            mch_id: mch_id.into(),
            api_key: api_key.into(),
            time_scale: 1.0,
            refund_delay: Duration::from_secs(10),
            notify_timeout: Duration::from_secs(5),
        }
    }

    /// Plays WeChat for the merchant of a client config.
    pub fn from_wechat(config: &WechatConfig) -> Self {
        Self::new(
            config.appid.clone(),
            config.app_secret.clone(),
            config.mch_id.clone(),
            config.api_key.clone(),
        )
    }

    pub fn scaled(&self, real: Duration) -> Duration {
        let scale = if self.time_scale.is_finite() && self.time_scale >= 0.0 {
            self.time_scale
        } else {
            1.0
        };
        Duration::from_secs_f64((real.as_secs_f64() * scale).min(1e9))
    }
}

/// What tests can see of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOrder {
    pub out_trade_no: String,
    pub prepay_id: String,
    pub body: String,
    pub total_fee: i64,
    pub trade_type: String,
    pub openid: Option<String>,
    pub notify_url: String,
    /// The payer's address as the merchant reported it.
    pub spbill_create_ip: String,
    pub sign_type: SignType,
    pub trade_state: TradeState,
    pub transaction_id: Option<String>,
    pub refunds: Vec<SimRefund>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRefund {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    pub refund_status: wechat_pay_v2::pay::RefundState,
}

pub(crate) struct Inner {
    config: SimulatorConfig,
    books: Mutex<Books>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    /// `None` only if no HTTP client could be built; notifies are then impossible.
    http: Option<reqwest::Client>,
}

/// A cheap-to-clone handle on one simulated WeChat.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// A lock whose holder panicked still guards consistent data here (every
/// update is a single assignment), so poisoning is ignored rather than spread.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Simulator {
    pub fn new(config: SimulatorConfig) -> Self {
        let http = wechat_pay_v2::tls::http_client_builder(None)
            .map_err(|e| tracing::error!(error = %e, "simulator cannot send notifies"))
            .ok()
            .and_then(|builder| {
                builder
                    .timeout(config.notify_timeout)
                    .connect_timeout(config.notify_timeout)
                    .build()
                    .map_err(|e| tracing::error!(error = %e, "simulator cannot send notifies"))
                    .ok()
            });
        Self {
            inner: Arc::new(Inner {
                config,
                books: Mutex::new(Books::default()),
                faults: Mutex::new(Faults::default()),
                stats: Mutex::new(Stats::default()),
                http,
            }),
        }
    }

    pub fn config(&self) -> &SimulatorConfig {
        &self.inner.config
    }

    /// A client config that speaks to this simulator at `base_url`.
    pub fn client_config(&self, base_url: &str) -> WechatConfig {
        let c = &self.inner.config;
        WechatConfig::new(
            c.appid.clone(),
            c.app_secret.clone(),
            c.mch_id.clone(),
            c.api_key.clone(),
        )
        .with_base_url(base_url)
    }

    /// The protocol and control routes at the router's root; nest it where you like.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/pay/unifiedorder", post(wire::unified_order))
            .route("/pay/orderquery", post(wire::order_query))
            .route("/pay/closeorder", post(wire::close_order))
            .route("/secapi/pay/refund", post(wire::refund))
            .route("/pay/refundquery", post(wire::refund_query))
            .route("/pay/downloadbill", post(wire::download_bill))
            .route("/sns/jscode2session", get(login::jscode2session))
            .route("/pay.css", get(page::stylesheet))
            .route(
                "/pay/{prepay_id}",
                get(page::pay_page).post(page::pay_route),
            )
            .route("/faults", get(page::get_faults).post(page::set_faults))
            .route("/stats", get(page::get_stats))
            .with_state(self.clone())
    }

    /// The router `examdesk simulator` serves: everything at the root and again under `/_sim`.
    pub fn standalone_router(&self) -> Router {
        Router::new()
            .nest("/_sim", self.router())
            .merge(self.router())
    }

    /// Serves the simulator on 127.0.0.1 at a free port; returns its base URL.
    pub async fn spawn_on_loopback(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        Ok(format!("http://{addr}"))
    }

    /// Serves the simulator over HTTPS on 127.0.0.1 at a free port, checking merchant
    /// certificates like WeChat; returns its base URL (`https://127.0.0.1:…`).
    pub async fn spawn_tls_on_loopback(&self, tls: SimulatorTls) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tls::serve(listener, self.router(), tls)?;
        Ok(format!("https://{addr}"))
    }

    /// Pays an order (by prepay_id or out_trade_no) and sends its notify;
    /// returns the new transaction_id.
    pub fn pay(&self, id: &str) -> Result<String, PayRefusal> {
        let order = lock(&self.inner.books).pay(id)?;
        lock(&self.inner.stats).payments += 1;
        let transaction_id = order.transaction_id.clone().unwrap_or_default();
        notifier::send_pay_notify(&self.inner, &order);
        Ok(transaction_id)
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.inner.faults) = faults;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    pub fn order(&self, id: &str) -> Option<SimOrder> {
        let books = lock(&self.inner.books);
        let o = books.find(id)?;
        Some(SimOrder {
            out_trade_no: o.out_trade_no.clone(),
            prepay_id: o.prepay_id.clone(),
            body: o.body.clone(),
            total_fee: o.total_fee,
            trade_type: o.trade_type.clone(),
            openid: o.openid.clone(),
            notify_url: o.notify_url.clone(),
            spbill_create_ip: o
                .content
                .get("spbill_create_ip")
                .cloned()
                .unwrap_or_default(),
            sign_type: o.sign_type,
            trade_state: o.state,
            transaction_id: o.transaction_id.clone(),
            refunds: o
                .refunds
                .iter()
                .map(|r| SimRefund {
                    out_refund_no: r.out_refund_no.clone(),
                    refund_id: r.refund_id.clone(),
                    refund_fee: r.refund_fee,
                    refund_status: r.state,
                })
                .collect(),
        })
    }

    /// The openid `jscode2session` gives for a code: stable for a code and a
    /// config, different for different codes.
    pub fn openid_for_code(&self, code: &str) -> String {
        login::openid_for_code(&self.inner.config, code)
    }
}

/// Runs the simulator alone (`examdesk simulator`) until the process ends.
pub async fn run_standalone(config: SimulatorConfig, bind: SocketAddr) -> std::io::Result<()> {
    let sim = Simulator::new(config);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "WeChat simulator listening; point WECHAT_PAY_BASE_URL and WECHAT_API_BASE_URL at http://{addr}");
    axum::serve(listener, sim.standalone_router()).await
}
