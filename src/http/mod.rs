//! The HTTP surface: routers per audience, request logging, and health.

pub mod admin;
pub mod api;
pub mod extract;
pub mod health;
pub mod notify;
pub mod rate_limit;
pub mod request_log;
