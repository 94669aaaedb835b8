//! The HTTP surface: routers per audience, request logging, and health.

pub mod health;
pub mod request_log;
