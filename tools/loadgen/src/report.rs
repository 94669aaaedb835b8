//! What a run measured and what it checked, printed for people and written as JSON for docs.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// One phase: how many requests, how fast, and how they were answered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub requests: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub latency_ms: Latency,
    /// Answers by outcome: "200", "201", "409 sold_out", "timeout", …
    pub statuses: BTreeMap<String, u64>,
    /// Requests whose outcome the scenario did not expect.
    pub errors: u64,
}

/// One invariant and whether it held.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub run_id: String,
    pub url: String,
    /// When the run started, RFC 3339 UTC.
    pub date: String,
    pub exam_id: i64,
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// The untimed preparation.
    pub prepare: Figures,
    /// The measured phase.
    pub timed: Figures,
    /// Scenario-specific figures (repeats sent, seats held, PDF sizes, …).
    pub details: BTreeMap<String, serde_json::Value>,
    pub checks: Vec<Check>,
    /// Why the database invariants were not checked, when they were not.
    pub database_skipped: Option<String>,
    /// The server's largest resident set during the whole run and during the timed phase (KiB).
    pub server_rss_max_kib: Option<u64>,
    pub server_rss_max_timed_kib: Option<u64>,
    /// CPU used while the clock ran (Linux `/proc`).
    pub timed_cpu: Option<super::CpuUse>,
}

impl Report {
    /// Every check held (the run completing in time is one of them).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} run {} against {} (exam {}) at {}",
            self.scenario, self.run_id, self.url, self.exam_id, self.date
        )?;
        let params: Vec<String> = self
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(f, "  parameters  {}", params.join(" "))?;
        writeln!(
            f,
            "  prepare     {} requests in {:.2} s (not timed)",
            self.prepare.requests, self.prepare.seconds
        )?;
        let t = &self.timed;
        writeln!(
            f,
            "  timed       {} requests in {:.3} s = {} req/s",
            t.requests, t.seconds, t.requests_per_second
        )?;
        writeln!(
            f,
            "  latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
            t.latency_ms.p50,
            t.latency_ms.p90,
            t.latency_ms.p99,
            t.latency_ms.max,
            t.latency_ms.mean
        )?;
        let statuses: Vec<String> = t
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        writeln!(
            f,
            "  answers     {}  (unexpected: {})",
            statuses.join(", "),
            t.errors
        )?;
        for (k, v) in &self.details {
            match (k.as_str(), v.as_object()) {
                // Per-step figures (the opening) read better as a table than as one JSON line.
                ("steps", Some(steps)) => {
                    writeln!(f, "  steps ms     p50 / p90 / p99 / max (n, unexpected)")?;
                    // In the order of the flow; names the flow does not know after them.
                    let mut names: Vec<&String> = steps.keys().collect();
                    names.sort_by_key(|n| super::opening::step_rank(n));
                    for name in names {
                        let step = &steps[name.as_str()];
                        let l = &step["latency_ms"];
                        writeln!(
                            f,
                            "    {name:<16} {} / {} / {} / {}  ({}, {})",
                            l["p50"], l["p90"], l["p99"], l["max"], step["n"], step["unexpected"]
                        )?;
                    }
                }
                _ => writeln!(f, "  {k:<12} {v}")?,
            }
        }
        if let Some(all) = self.server_rss_max_kib {
            writeln!(
                f,
                "  server RSS  max {:.1} MiB over the run, {} in the timed phase",
                all as f64 / 1024.0,
                self.server_rss_max_timed_kib
                    .map_or("-".to_string(), |t| format!("{:.1} MiB", t as f64 / 1024.0))
            )?;
        }
        if let Some(cpu) = &self.timed_cpu {
            let opt =
                |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v}{unit}"));
            writeln!(
                f,
                "  timed CPU   loadgen {} s, server {} ({} per request); machine busy {} of {} cores, others {}",
                cpu.loadgen_seconds,
                opt(cpu.server_seconds, " s"),
                opt(cpu.server_ms_per_request, " ms"),
                opt(cpu.machine_busy_percent, " %"),
                cpu.cores,
                opt(cpu.others_percent, " %"),
            )?;
        }
        writeln!(f, "  checks")?;
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            writeln!(f, "    {mark} {}: {}", c.name, c.detail)?;
        }
        if let Some(why) = &self.database_skipped {
            writeln!(f, "    skip database invariants: {why}")?;
        }
        write!(
            f,
            "  result      {}",
            if self.passed() { "PASSED" } else { "FAILED" }
        )
    }
}
