//! examdesk: exam registration with WeChat Pay, admission tickets and an admin panel.
//!
//! `http::build_app` builds the whole HTTP app from its state (`app::prepare` makes that state from
//! the settings); `serve` and the tests both use it.

pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod holds;
pub mod http;
pub mod jobs;
#[cfg(test)]
mod layering;
pub mod payments;
pub mod rate_limit;
pub mod serve;
pub mod telemetry;
pub mod ticketing;
pub mod util;

pub use http::{AppState, build_app};

/// Installs ring as the process-wide rustls provider, for HTTP clients built without one of
/// their own (the tests' and the tools'); safe to call any number of times.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}
