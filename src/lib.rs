//! examdesk: exam registration with WeChat Pay, admission tickets and an admin panel.
//!
//! `app::build_app` builds the whole HTTP app from its state; `main.rs` and the tests both use it.

pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod loadgen;
pub mod payments;
pub mod ticketing;
pub mod tickets;
pub mod util;
pub mod wechat;

pub use app::{AppState, build_app};
/// The one rustls crypto provider (ring) used by every TLS client; idempotent.
pub use wechat::install_crypto_provider;
