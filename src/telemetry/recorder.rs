//! The process's one Prometheus recorder. `metrics` allows a single global recorder, and tests
//! start several apps in one process, so it is installed on first use and shared after that.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::names::{COUNTERS, GAUGES, HISTOGRAMS};

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The handle that renders the scrape; installs the recorder the first time.
pub fn handle() -> Result<PrometheusHandle, String> {
    HANDLE.get_or_init(install).clone()
}

fn install() -> Result<PrometheusHandle, String> {
    let mut builder = PrometheusBuilder::new();
    for (name, _, buckets) in HISTOGRAMS {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_string()), buckets)
            .map_err(|e| format!("metric {name}: {e}"))?;
    }
    let handle = builder
        .install_recorder()
        .map_err(|e| format!("EXAMDESK_METRICS_BIND: the metrics recorder: {e}"))?;
    for (name, help) in COUNTERS {
        metrics::describe_counter!(*name, *help);
    }
    for (name, help) in GAUGES {
        metrics::describe_gauge!(*name, *help);
    }
    for (name, help, _) in HISTOGRAMS {
        metrics::describe_histogram!(*name, *help);
    }
    wechat_pay_v2::call_metrics::describe();
    Ok(handle)
}
