//! CPU time during the timed phase, from `/proc`: the load generator's own, the server's (with
//! `--server-pid`), and the whole machine's, so that a reader can see what else was running on
//! the shared cores. Linux counts in USER_HZ ticks, which is 100 per second on every platform
//! Linux supports for user space.

use serde::Serialize;

const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    own: Option<u64>,
    server: Option<u64>,
    /// (busy, total) ticks of all cores.
    machine: Option<(u64, u64)>,
}

/// CPU used during the timed phase, in seconds (and shares of the machine's cores).
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    pub cores: usize,
    pub loadgen_seconds: f64,
    pub server_seconds: Option<f64>,
    /// Server CPU per timed request, in milliseconds.
    pub server_ms_per_request: Option<f64>,
    /// Share of all cores that was busy, in percent.
    pub machine_busy_percent: Option<f64>,
    /// Busy share of all cores used by neither the load generator nor the server, in percent
    /// (only with `--server-pid`): builds and other work on the shared machine.
    pub others_percent: Option<f64>,
}

fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields are counted after its last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

impl Snapshot {
    /// `server_pids`: every instance of the server; their CPU is added up (none readable: none).
    pub fn take(server_pids: &[u32]) -> Self {
        let server = server_pids
            .iter()
            .filter_map(|p| process_ticks(&p.to_string()))
            .reduce(|a, b| a + b);
        Self {
            own: process_ticks("self"),
            server,
            machine: machine_ticks(),
        }
    }

    pub fn since(&self, start: &Snapshot, requests: u64) -> Option<CpuUse> {
        let secs = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.saturating_sub(b) as f64 / TICKS_PER_SECOND),
            _ => None,
        };
        let loadgen = secs(self.own, start.own)?;
        let server = secs(self.server, start.server);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let (busy_pct, others_pct) = match (self.machine, start.machine) {
            // Below a quarter of a second of all cores the 10 ms ticks say nothing useful.
            (Some((b1, t1)), Some((b0, t0))) if t1 >= t0 + 50 => {
                let total = (t1 - t0) as f64;
                let busy = (b1 - b0) as f64;
                let ours = loadgen * TICKS_PER_SECOND + server.unwrap_or(0.0) * TICKS_PER_SECOND;
                (
                    Some(round1(100.0 * busy / total)),
                    server.map(|_| round1((100.0 * (busy - ours) / total).max(0.0))),
                )
            }
            _ => (None, None),
        };
        Some(CpuUse {
            cores,
            loadgen_seconds: round3(loadgen),
            server_seconds: server.map(round3),
            server_ms_per_request: server
                .filter(|_| requests > 0)
                .map(|s| round3(1000.0 * s / requests as f64)),
            machine_busy_percent: busy_pct,
            others_percent: others_pct,
        })
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_and_machine_are_readable() {
        let a = Snapshot::take(&[std::process::id()]);
        // Busy long enough for the shares to count as measured, however fast the build is.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(400) {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        let b = Snapshot::take(&[std::process::id()]);
        let used = b.since(&a, 10).unwrap();
        assert!(used.loadgen_seconds >= 0.0);
        assert!(used.server_seconds.is_some());
        assert!(used.machine_busy_percent.is_some());
    }
}
