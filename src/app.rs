//! The application: its shared state, the router built from it, and serving with graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::{Secret, Settings};
use crate::db::Db;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub secret: Secret,
    pub demo: bool,
    pub wechat: Option<crate::payments::Wechat>,
    /// The embedded WeChat simulator of demo mode, served under `/_sim`.
    pub simulator: Option<wechat_pay_v2_simulator::Simulator>,
    pub login_limiter: Arc<crate::http::rate_limit::RateLimiter>,
    /// The ticket fonts, parsed once.
    pub fonts: Arc<examdesk_tickets::TicketFonts>,
    /// Tickets drawn at once: one per core. Drawing is CPU-bound, so more would not be faster,
    /// only hold more memory while a crowd downloads.
    pub renders: Arc<tokio::sync::Semaphore>,
    /// Writes payment notifies in group commits.
    pub payment_writer: crate::payments::writer::PaymentWriter,
    /// Names this process in row claims, so two instances never work on one order.
    pub worker_id: Arc<str>,
}

impl AppState {
    /// The WeChat clients; every payment route needs them.
    pub fn wechat(&self) -> Result<&crate::payments::Wechat, crate::error::AppError> {
        self.wechat.as_ref().ok_or_else(|| {
            crate::error::AppError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "payments_not_configured",
                "支付未配置",
            )
        })
    }
}

/// The whole HTTP app, used alike by `main` and by the tests.
pub fn build_app(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(crate::http::health::healthz))
        .merge(crate::http::api::router())
        .merge(crate::http::notify::router())
        .merge(crate::http::admin::router(state.clone()))
        .with_state(state.clone());
    let router = match &state.simulator {
        Some(sim) => router.nest("/_sim", sim.router()),
        None => router,
    };
    crate::http::request_log::layer(router)
}

/// Serves until `shutdown` resolves, then stops accepting and lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Binds the listen address, naming the setting when that fails.
pub async fn bind(settings: &Settings) -> Result<TcpListener, String> {
    TcpListener::bind(settings.bind).await.map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "is already in use".to_string()
        } else {
            format!("cannot be bound: {e}")
        };
        format!("EXAMDESK_BIND: {} {why}", settings.bind)
    })
}

/// Connects and migrates the database and builds the state.
pub async fn prepare(mut settings: Settings, demo: bool) -> Result<AppState, String> {
    crate::install_crypto_provider();
    let secret = settings.resolve_secret().map_err(|e| e.to_string())?;
    let db = Db::connect_with(&settings.database_url, settings.sqlite_durability)
        .await
        .map_err(|e| e.to_string())?;
    crate::db::migrate(&db).await.map_err(|e| e.to_string())?;
    let wechat_config = if demo {
        Some(crate::demo::wechat_config(&settings))
    } else {
        settings.wechat.clone()
    };
    let simulator = match (&wechat_config, demo) {
        (Some(config), true) => {
            let mut sim_config = wechat_pay_v2_simulator::SimulatorConfig::from_wechat(config);
            sim_config.time_scale = settings.sim_time_scale;
            Some(wechat_pay_v2_simulator::Simulator::new(sim_config))
        }
        _ => None,
    };
    let wechat = wechat_config
        .map(crate::payments::Wechat::new)
        .transpose()?;
    let login_limiter = Arc::new(crate::http::rate_limit::RateLimiter::new(
        settings.login_per_minute,
    ));
    let worker_id: Arc<str> =
        format!("{}-{}", std::process::id(), crate::util::random_hex(4)).into();
    let payment_writer = crate::payments::writer::PaymentWriter::start(db.clone());
    let fonts = Arc::new(
        examdesk_tickets::TicketFonts::bundled().map_err(|e| format!("ticket fonts: {e}"))?,
    );
    Ok(AppState {
        db,
        settings: Arc::new(settings),
        secret,
        demo,
        wechat,
        simulator,
        payment_writer,
        fonts,
        renders: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        login_limiter,
        worker_id,
    })
}
