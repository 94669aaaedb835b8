//! Metrics for operators: the names the service records under, the process's one Prometheus
//! recorder, and the separate listener that serves `/metrics` (`EXAMDESK_METRICS_BIND`).
//!
//! Code records through the `metrics` facade wherever something happens; with no recorder
//! installed (the setting unset) those calls cost next to nothing. Nothing here points back into
//! the service, so any module may record.

mod listener;
pub mod names;
mod recorder;

pub use listener::{MetricsServer, start};
pub use recorder::handle;
