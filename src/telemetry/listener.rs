//! `/metrics` on a listener of its own, so that the scrape is reachable only where the operator
//! binds it (a private interface) and never through the public proxy.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

/// What Prometheus expects of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";
/// Histogram samples wait in per-thread buffers until upkeep folds them in; between scrapes
/// this keeps those buffers small.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// A running metrics listener.
pub struct MetricsServer {
    /// Where it listens (the port chosen when the setting asked for port 0).
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Installs the recorder (once per process), binds `bind` and serves `/metrics` until
/// `shutdown` resolves.
pub async fn start(
    bind: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<MetricsServer, String> {
    let handle = super::handle()?;
    let listener = TcpListener::bind(bind).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("EXAMDESK_METRICS_BIND: {bind} is already in use")
        } else {
            format!("EXAMDESK_METRICS_BIND: {bind} cannot be bound: {e}")
        }
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("EXAMDESK_METRICS_BIND: {e}"))?;
    let upkeep = handle.clone();
    let router = Router::new().route("/metrics", get(move || scrape(handle.clone())));
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(shutdown);
        tokio::select! {
            served = serve => served,
            () = run_upkeep(upkeep) => Ok(()),
        }
    });
    Ok(MetricsServer { addr, task })
}

async fn scrape(handle: PrometheusHandle) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render())
}

async fn run_upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}
