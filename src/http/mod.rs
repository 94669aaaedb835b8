//! The HTTP surface: routers per audience, request logging, and health. The only layer that picks
//! HTTP statuses and the Chinese words people read; services below it return their own errors.

pub mod admin;
pub mod api;
mod body_deadline;
pub mod connections;
pub mod error;
pub mod extract;
pub mod health;
pub mod notify;
pub mod request_log;
pub mod route_metrics;
pub mod security_headers;
mod state;

pub use state::{AppState, build_app};
