//! Latencies and answers of one phase. Every sample is kept (a few bytes each), so percentiles are
//! exact rather than bucketed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::report::{Figures, Latency};

#[derive(Default)]
pub(crate) struct Recorder {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<String, u64>,
    errors: u64,
}

impl Recorder {
    /// One answered (or failed) request: `label` names the outcome ("200", "409 sold_out",
    /// "timeout", …), `ok` says whether the scenario expected it.
    pub fn record(&mut self, label: &str, latency: Duration, ok: bool) {
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        *self.statuses.entry(label.to_string()).or_default() += 1;
        if !ok {
            self.errors += 1;
        }
    }

    pub fn figures(mut self, elapsed: Duration) -> Figures {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let ms = |us: u32| f64::from(us) / 1000.0;
        let pick = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            // Nearest rank: the smallest sample with at least p of all samples at or below it.
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
            ms(self.latencies_us[rank - 1])
        };
        let mean = if n == 0 {
            0.0
        } else {
            self.latencies_us.iter().map(|&u| f64::from(u)).sum::<f64>() / n as f64 / 1000.0
        };
        let seconds = elapsed.as_secs_f64();
        Figures {
            requests: n as u64,
            seconds: round3(seconds),
            requests_per_second: if seconds > 0.0 {
                (n as f64 / seconds).round()
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: round3(pick(0.50)),
                p90: round3(pick(0.90)),
                p99: round3(pick(0.99)),
                max: round3(self.latencies_us.last().map_or(0.0, |&u| ms(u))),
                mean: round3(mean),
            },
            statuses: self.statuses,
            errors: self.errors,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// How a request that got no HTTP answer failed.
pub(crate) fn transport_label(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect error"
    } else {
        "transport error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut r = Recorder::default();
        for i in 1..=100u64 {
            r.record("200", Duration::from_millis(i), i != 7);
        }
        let f = r.figures(Duration::from_secs(2));
        assert_eq!(f.requests, 100);
        assert_eq!(f.requests_per_second, 50.0);
        assert_eq!(f.latency_ms.p50, 50.0);
        assert_eq!(f.latency_ms.p99, 99.0);
        assert_eq!(f.latency_ms.max, 100.0);
        assert_eq!(f.errors, 1);
    }
}
