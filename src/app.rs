//! Putting the service together: the state built from the settings, binding, and serving with
//! graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::{ConnectionLimits, Settings};
use crate::db::Db;
use crate::http::AppState;

/// Serves until `shutdown` resolves, then stops accepting and lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::http::connections::serve(listener, router, limits, shutdown).await
}

/// Files kept for what is not a client connection: the database pool, logs, cached tickets.
const FILES_BESIDE_CONNECTIONS: u64 = 256;

/// Raises the soft limit on open files to the hard one, as Go's runtime does, and lowers the
/// connection cap to what fits under it: beyond the cap a client is told the service is busy,
/// beyond the file limit it would not even be accepted.
pub fn fit_connections_to_open_files(limits: &mut ConnectionLimits) {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!("could not read or raise the limit on open files: {e}");
            return;
        }
    };
    let fits = files.saturating_sub(FILES_BESIDE_CONNECTIONS).max(1);
    if u64::from(limits.max_connections) > fits {
        let capped = u32::try_from(fits).unwrap_or(u32::MAX);
        tracing::warn!(
            "EXAMDESK_MAX_CONNECTIONS is {} but the process may open only {files} files: serving \
             at most {capped} connections; raise the limit (ulimit -n, systemd's LimitNOFILE)",
            limits.max_connections
        );
        limits.max_connections = capped;
    }
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
    let login_limiter = Arc::new(crate::rate_limit::RateLimiter::new(
        settings.login_per_minute,
    ));
    let worker_id: Arc<str> =
        format!("{}-{}", std::process::id(), crate::util::random_hex(4)).into();
    let fonts = Arc::new(
        examdesk_tickets::TicketFonts::bundled().map_err(|e| format!("ticket fonts: {e}"))?,
    );
    let public_url: Arc<str> = settings.public_url.as_str().into();
    let tickets = crate::ticketing::Ticketing {
        db: db.clone(),
        fonts,
        renders: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        secret: secret.clone(),
        public_url: public_url.clone(),
        cache_dir: settings.data_dir.join("tickets"),
    };
    let payments = crate::payments::Payments {
        db: db.clone(),
        wechat,
        writer: crate::payments::writer::PaymentWriter::start(db.clone()),
        tickets: tickets.clone(),
        public_url,
        order_ttl_minutes: settings.order_ttl_minutes,
        worker_id,
        refused: Arc::new(crate::payments::refused::RefusedLog::new(
            settings.refused_callback_retention_days,
        )),
    };
    let holds = crate::holds::HoldWriter::start(db.clone());
    Ok(AppState {
        db,
        settings: Arc::new(settings),
        secret,
        demo,
        payments,
        tickets,
        holds,
        simulator,
        login_limiter,
    })
}
