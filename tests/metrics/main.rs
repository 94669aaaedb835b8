//! The operators' metrics over HTTP: the separate `/metrics` listener and what it counts —
//! requests by route template, a storm of payment notifies by outcome, payment batches, job
//! passes, WeChat calls, reconciliation findings and ticket drawings. One binary, and the
//! process has one recorder: each test holds [`scrape::serial`] and asserts on the difference
//! between two scrapes, never on totals other tests add to.

#[path = "../common/mod.rs"]
mod common;

mod scrape;

mod jobs;
mod listener;
mod notify_storm;
mod routes;
mod tickets;
mod wechat_calls;
