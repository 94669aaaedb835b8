//! The server's resident memory, sampled from `/proc/PID/status` while the run goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

pub(crate) struct RssSampler {
    pid: u32,
    max_all: Arc<AtomicU64>,
    max_timed: Arc<AtomicU64>,
    timed: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl RssSampler {
    /// Samples every 50 ms; fails at once when the process cannot be read.
    pub fn start(pid: u32) -> Result<Self> {
        let first = vm_rss_kib(pid).with_context(|| {
            format!("--server-pid {pid}: cannot read VmRSS from /proc/{pid}/status")
        })?;
        let max_all = Arc::new(AtomicU64::new(first));
        let max_timed = Arc::new(AtomicU64::new(0));
        let timed = Arc::new(AtomicBool::new(false));
        let (a, t, flag) = (max_all.clone(), max_timed.clone(), timed.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                let Some(kib) = vm_rss_kib(pid) else { break };
                a.fetch_max(kib, Ordering::Relaxed);
                if flag.load(Ordering::Relaxed) {
                    t.fetch_max(kib, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            pid,
            max_all,
            max_timed,
            timed,
            task,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Marks the timed phase; a sample is taken at each edge too, so even a phase shorter than
    /// the sampling interval has a figure.
    pub fn timed_phase(&self, on: bool) {
        let sample = vm_rss_kib(self.pid);
        if let Some(kib) = sample {
            self.max_all.fetch_max(kib, Ordering::Relaxed);
        }
        if on {
            self.timed.store(true, Ordering::Relaxed);
        }
        if let Some(kib) = sample {
            self.max_timed.fetch_max(kib, Ordering::Relaxed);
        }
        if !on {
            self.timed.store(false, Ordering::Relaxed);
        }
    }

    /// (max over the run so far, max during the timed phase), in KiB.
    pub fn snapshot(&self) -> (u64, Option<u64>) {
        let timed = self.max_timed.load(Ordering::Relaxed);
        (
            self.max_all.load(Ordering::Relaxed),
            (timed > 0).then_some(timed),
        )
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}
