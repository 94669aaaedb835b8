//! The load generator: drives a running examdesk over HTTP on loopback as the mini-program and as
//! WeChat, times one phase of each scenario, then checks the invariants through the database.
//!
//! `src/main.rs` is a thin command line over this library; `tests/load_smoke.rs` runs the
//! same scenarios with small counts against an in-process server, so they keep working in CI.
//!
//! Preparation (sign-ins, registrations, orders, payments that a scenario needs beforehand) is
//! never timed; only the scenario's own phase is.

mod burst;
mod checks;
mod client;
mod cpu;
mod ids;
mod notify;
mod opening;
mod pool;
mod prepare;
mod report;
mod rss;
mod stats;
mod storm;
mod tickets;
mod wechat_faults;

use std::time::Duration;

pub use burst::{RegistrationBurst, run_registration_burst};
pub use client::{check_database_url, loopback_base};
pub use cpu::CpuUse;
pub use notify::notify_body;
pub use opening::{Opening, run_opening};
pub use report::{Check, Figures, Latency, Report};
pub use storm::{NotifyStorm, run_notify_storm};
pub use tickets::{TicketDownloads, run_ticket_downloads};
pub use wechat_faults::WechatFaults;

/// Where the load goes and the limits every scenario shares.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL of the running examdesk; it must resolve to a loopback address.
    pub url: String,
    /// The database the server uses (`sqlite://…` or `postgres://…`); without it the invariants
    /// that need the database are reported as skipped.
    pub database_url: Option<String>,
    /// The whole run, preparation included, stops after this.
    pub max_duration: Duration,
    /// One request gives up after this.
    pub request_timeout: Duration,
    /// The server's process id, to sample its resident memory from `/proc`.
    pub server_pid: Option<u32>,
    /// More instances' process ids (one per `--also-url`, as `--server-pid` repeated): each one's
    /// memory is sampled, and their CPU is added to the server's.
    pub also_server_pids: Vec<u32>,
    /// Part of this run's login codes, ID numbers and transaction ids, so runs never collide.
    pub run_id: String,
    /// Requests in flight during the untimed preparation.
    pub prepare_concurrency: usize,
    /// Progress lines on stderr during preparation.
    pub progress: bool,
}

impl Target {
    /// Every server process to sample: `server_pid`, then `also_server_pids`.
    pub fn server_pids(&self) -> Vec<u32> {
        self.server_pid
            .into_iter()
            .chain(self.also_server_pids.iter().copied())
            .collect()
    }

    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            database_url: None,
            max_duration: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            server_pid: None,
            also_server_pids: Vec::new(),
            run_id: examdesk::util::random_hex(4),
            prepare_concurrency: 32,
            progress: false,
        }
    }
}

/// The merchant whose API key signs the notifies; the demo merchant by default.
#[derive(Clone)]
pub struct Merchant {
    pub appid: String,
    pub mch_id: String,
    pub api_key: String,
}

impl Default for Merchant {
    fn default() -> Self {
        Self {
            appid: examdesk::demo::DEMO_APPID.into(),
            mch_id: examdesk::demo::DEMO_MCH_ID.into(),
            api_key: examdesk::demo::DEMO_API_KEY.into(),
        }
    }
}

// The key is a secret: never in Debug output.
impl std::fmt::Debug for Merchant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merchant")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("api_key", &"***")
            .finish()
    }
}
