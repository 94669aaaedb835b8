//! The state every handler gets, and the whole router built from it.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::config::{Secret, Settings};
use crate::db::Db;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub secret: Secret,
    pub demo: bool,
    /// Orders, notifies, refunds and the jobs, with the WeChat clients.
    pub payments: crate::payments::Payments,
    /// Seats, ticket PDFs and verify tokens.
    pub tickets: crate::ticketing::Ticketing,
    /// Seat holds, committed together when they arrive together.
    pub holds: crate::holds::HoldWriter,
    /// The embedded WeChat simulator of demo mode, served under `/_sim`.
    pub simulator: Option<wechat_pay_v2_simulator::Simulator>,
    pub login_limiter: Arc<crate::rate_limit::RateLimiter>,
}

/// The whole HTTP app, used alike by `main` and by the tests.
pub fn build_app(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(super::health::healthz))
        .merge(super::api::router())
        .merge(super::notify::router())
        .merge(super::admin::router(state.clone()))
        .with_state(state.clone());
    let router = match &state.simulator {
        Some(sim) => router.nest("/_sim", sim.router()),
        None => router,
    };
    // Only with a metrics listener: without one nobody reads the counts.
    let router = match state.settings.metrics_bind {
        Some(_) => super::route_metrics::layer(router),
        None => router,
    };
    let router = super::body_deadline::layer(router, state.settings.connections.body_timeout);
    let router = super::security_headers::layer(router, state.settings.is_https());
    super::request_log::layer(router)
}
