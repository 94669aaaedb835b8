//! Start-up of `serve` and `simulator`: the real service, or demo mode with the embedded WeChat
//! simulator. Start-up lines say where everything is.

use crate::app;
use crate::config::Settings;
use crate::demo;
use crate::http::AppState;

pub async fn serve(mut settings: Settings, force_demo: bool) -> Result<(), String> {
    app::fit_connections_to_open_files(&mut settings.connections);
    let demo = force_demo || settings.wechat.is_none();
    let listener = app::bind(&settings).await?;
    let metrics = match settings.metrics_bind {
        Some(bind) => Some(
            crate::telemetry::start(bind, app::shutdown_signal())
                .await?
                .addr,
        ),
        None => None,
    };
    if demo {
        tracing::warn!(
            "demo mode: notifies are verified with the published demo API key and /_sim answers anyone"
        );
    }
    let state = app::prepare(settings, demo).await?;
    let admin_line = if demo {
        Some(demo::ensure_demo(&state.db, &state.settings.data_dir).await?)
    } else {
        None
    };
    print_banner(&state, admin_line.as_deref(), metrics);
    if state.settings.job_interval_seconds > 0 {
        crate::jobs::spawn(
            state.payments.clone(),
            std::time::Duration::from_secs(state.settings.job_interval_seconds),
        );
    }
    let router = crate::http::build_app(state.clone());
    let limits = state.settings.connections;
    app::serve(listener, router, limits, app::shutdown_signal())
        .await
        .map_err(|e| format!("server stopped: {e}"))?;
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// `examdesk simulator`: plays WeChat for the merchant named by the `WECHAT_*` settings (the demo
/// merchant when none are set).
pub async fn run_simulator(settings: Settings, bind: std::net::SocketAddr) -> Result<(), String> {
    let config = settings
        .wechat
        .clone()
        .unwrap_or_else(|| demo::wechat_config(&settings));
    let mut sim_config = wechat_pay_v2_simulator::SimulatorConfig::from_wechat(&config);
    sim_config.time_scale = settings.sim_time_scale;
    println!(
        "WeChat simulator for merchant {} (appid {})",
        config.mch_id, config.appid
    );
    println!("  listening      http://{bind}  (also under /_sim)");
    println!("  point WECHAT_PAY_BASE_URL and WECHAT_API_BASE_URL at http://{bind}");
    tokio::select! {
        served = wechat_pay_v2_simulator::run_standalone(sim_config, bind) => {
            served.map_err(|e| format!("--bind {bind}: {e}"))
        }
        () = app::shutdown_signal() => Ok(()),
    }
}

fn print_banner(state: &AppState, admin_line: Option<&str>, metrics: Option<std::net::SocketAddr>) {
    let s = &state.settings;
    let url = &s.public_url;
    let mode = if state.demo {
        "demo mode: WeChat simulator embedded, nothing is charged"
    } else {
        "production mode"
    };
    println!("examdesk {} — {mode}", env!("CARGO_PKG_VERSION"));
    println!("  listening      {}", s.bind);
    println!("  candidate API  {url}/api/v1/exams");
    println!("  admin panel    {url}/admin/login");
    if let Some(line) = admin_line {
        println!("  demo admin     {line}");
    }
    if state.demo {
        println!("  WeChat sim     {url}/_sim/");
        println!(
            "  WARNING        the published demo API key signs notifies here: anyone who reaches \
             this address can mark any order paid. Never expose demo mode."
        );
    }
    println!("  health         {url}/healthz");
    if let Some(addr) = metrics {
        println!("  metrics        http://{addr}/metrics  (its own listener)");
    }
    println!("  database       {}", redact_url(&s.database_url));
    println!("  data folder    {}", s.data_dir.display());
    println!("Stop with Ctrl-C.");
}

/// A database URL with its password replaced, for start-up lines.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
