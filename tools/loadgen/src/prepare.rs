//! What every scenario shares: the checked target, the run's clock and limits, and the untimed
//! preparation (sign-ins, registrations, orders, payments) done through the public API.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use tokio::time::Instant;

use super::client::{Api, ExamInfo, check_database_url, loopback_base};
use super::cpu::{self, CpuUse};
use super::report::{Check, Figures, Report};
use super::rss::RssSampler;
use super::{Merchant, Target, ids, notify, pool};

pub(crate) struct Run {
    pub target: Target,
    pub api: Api,
    pub run_id: Arc<str>,
    pub deadline: Instant,
    date: String,
    /// One sampler per server process, in `Target::server_pids` order.
    rss: Vec<RssSampler>,
    prepare_requests: AtomicU64,
    prepare_started: Instant,
    /// CPU counters when the clock started, and what the timed phase used.
    cpu_start: Mutex<Option<(cpu::Snapshot, Instant)>>,
    cpu_used: Mutex<Option<CpuUse>>,
}

/// What a scenario measured and checked, for [`Run::finish`] to turn into the report.
pub(crate) struct Parts {
    pub parameters: BTreeMap<String, serde_json::Value>,
    pub prepare: Figures,
    pub timed: Figures,
    pub details: BTreeMap<String, serde_json::Value>,
    pub checks: Vec<Check>,
    pub database_skipped: Option<String>,
}

/// A registration with its open order, made through the API.
#[derive(Debug, Clone)]
pub(crate) struct Ready {
    pub token: String,
    pub registration_id: i64,
    pub out_trade_no: String,
}

impl Run {
    pub async fn start(target: &Target) -> Result<Arc<Self>> {
        let base = loopback_base(&target.url).await?;
        if let Some(url) = &target.database_url {
            check_database_url(url).await?;
        }
        if target.run_id.is_empty() || !target.run_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!("--run-id: letters and digits only, got {:?}", target.run_id);
        }
        let api = Api::new(base, target.request_timeout)?;
        api.healthz().await?;
        let rss = target
            .server_pids()
            .into_iter()
            .map(RssSampler::start)
            .collect::<Result<Vec<_>>>()?;
        let now = Instant::now();
        Ok(Arc::new(Self {
            target: target.clone(),
            api,
            run_id: Arc::from(target.run_id.as_str()),
            deadline: now + target.max_duration,
            date: examdesk::util::to_rfc3339(examdesk::util::now()),
            rss,
            prepare_requests: AtomicU64::new(0),
            prepare_started: now,
            cpu_start: Mutex::new(None),
            cpu_used: Mutex::new(None),
        }))
    }

    pub fn progress(&self, message: &str) {
        if self.target.progress {
            eprintln!("[loadgen {}] {message}", self.run_id);
        }
    }

    fn count_prepare(&self, requests: u64) {
        self.prepare_requests.fetch_add(requests, Ordering::Relaxed);
    }

    /// Opens `concurrency` keep-alive connections before the clock starts, so the timed phase
    /// measures requests rather than TCP handshakes.
    pub async fn warm_up(&self, concurrency: usize) -> Result<Figures> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let api = self.api.clone();
            set.spawn(async move { api.healthz().await });
        }
        while let Some(done) = set.join_next().await {
            done.context("warm-up")??;
        }
        self.count_prepare(concurrency as u64);
        let elapsed = self.prepare_started.elapsed();
        let requests = self.prepare_requests.load(Ordering::Relaxed);
        for rss in &self.rss {
            rss.timed_phase(true);
        }
        *lock(&self.cpu_start) = Some((
            cpu::Snapshot::take(&self.target.server_pids()),
            Instant::now(),
        ));
        Ok(Figures {
            requests,
            seconds: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            requests_per_second: (requests as f64 / elapsed.as_secs_f64().max(1e-9)).round(),
            ..Figures::default()
        })
    }

    /// Ends the timed phase of `requests` requests.
    pub fn end_timed(&self, requests: u64) {
        let end = cpu::Snapshot::take(&self.target.server_pids());
        for rss in &self.rss {
            rss.timed_phase(false);
        }
        if let Some((start, _)) = lock(&self.cpu_start).take() {
            *lock(&self.cpu_used) = end.since(&start, requests);
        }
    }

    /// Runs `n` preparation jobs; the first failure stops the others and is returned.
    async fn prepare_all<T, F, Fut>(
        self: &Arc<Self>,
        what: &str,
        n: usize,
        job: F,
    ) -> Result<Vec<T>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.progress(&format!("{what}: {n} …"));
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let (stop2, done2, run) = (stop.clone(), done.clone(), self.clone());
        let step = (n / 10).max(1) as u64;
        let label = what.to_string();
        let pooled = pool::run(
            n,
            self.target.prepare_concurrency,
            self.deadline,
            stop.clone(),
            move |i| {
                let fut = job(i);
                let (stop, done, run, label) =
                    (stop2.clone(), done2.clone(), run.clone(), label.clone());
                async move {
                    let out = fut.await;
                    if out.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if d % step == 0 {
                        run.progress(&format!("{label}: {d}/{n}"));
                    }
                    out
                }
            },
        )
        .await?;
        let mut results: Vec<(usize, T)> = Vec::with_capacity(n);
        for (i, r) in pooled.results {
            results.push((
                i,
                r.with_context(|| format!("preparation ({what}) failed"))?,
            ));
        }
        if pooled.cut_short {
            bail!(
                "--max-seconds {}: the time limit was reached while preparing ({what}: {} of {n} done)",
                self.target.max_duration.as_secs(),
                results.len()
            );
        }
        results.sort_unstable_by_key(|(i, _)| *i);
        Ok(results.into_iter().map(|(_, t)| t).collect())
    }

    /// Signs in `n` distinct candidates (simulator codes `lg-<run>-<phase><i>`).
    pub async fn login_all(self: &Arc<Self>, phase: &'static str, n: usize) -> Result<Vec<String>> {
        let (api, run_id, run) = (self.api.clone(), self.run_id.clone(), self.clone());
        self.prepare_all("sign-ins", n, move |i| {
            let (api, run_id, run) = (api.clone(), run_id.clone(), run.clone());
            async move {
                run.count_prepare(1);
                api.login(&ids::login_code(&run_id, phase, i)).await
            }
        })
        .await
    }

    /// `n` registrations for the exam, each with its order placed (`POST …/pay`).
    pub async fn ready_orders(self: &Arc<Self>, exam_id: i64, n: usize) -> Result<Vec<Ready>> {
        let (api, run_id, run) = (self.api.clone(), self.run_id.clone(), self.clone());
        self.prepare_all("sign-in, register, order", n, move |i| {
            let (api, run_id, run) = (api.clone(), run_id.clone(), run.clone());
            async move {
                let token = api.login(&ids::login_code(&run_id, "o", i)).await?;
                let registration_id = api.register(&token, exam_id, &run_id, i).await?;
                let out_trade_no = api.pay(&token, registration_id).await?;
                run.count_prepare(3);
                Ok(Ready {
                    token,
                    registration_id,
                    out_trade_no,
                })
            }
        })
        .await
    }

    /// Pays every order by its signed notify (untimed); each must be answered SUCCESS.
    pub async fn pay_by_notify(self: &Arc<Self>, bodies: Arc<Vec<String>>) -> Result<()> {
        let (api, run) = (self.api.clone(), self.clone());
        let n = bodies.len();
        self.prepare_all("payment notifies", n, move |i| {
            let (api, run, bodies) = (api.clone(), run.clone(), bodies.clone());
            async move {
                run.count_prepare(1);
                let res = api.notify_request(bodies[i].clone()).send().await?;
                let text = res.text().await?;
                if text != wechat_pay_v2::notify::SUCCESS_REPLY {
                    bail!(
                        "a payment notify was answered {}",
                        super::client::clip(&text)
                    );
                }
                Ok(())
            }
        })
        .await
        .map(|_| ())
    }

    pub fn finish(&self, scenario: &str, exam_id: i64, parts: Parts) -> Report {
        // The largest of any instance; with several instances each one's figures go to the details.
        let snapshots: Vec<(u32, u64, Option<u64>)> = self
            .rss
            .iter()
            .map(|r| {
                let (a, t) = r.snapshot();
                (r.pid(), a, t)
            })
            .collect();
        let rss_all = snapshots.iter().map(|s| s.1).max();
        let rss_timed = snapshots.iter().filter_map(|s| s.2).max();
        let mut details = parts.details;
        if snapshots.len() > 1 {
            let by_pid: serde_json::Map<String, serde_json::Value> = snapshots
                .iter()
                .map(|(pid, all, timed)| {
                    (
                        pid.to_string(),
                        serde_json::json!({ "run": all, "timed": timed }),
                    )
                })
                .collect();
            details.insert("server_rss_max_kib_by_pid".into(), by_pid.into());
        }
        Report {
            scenario: scenario.into(),
            run_id: self.run_id.to_string(),
            url: self.api.base.clone(),
            date: self.date.clone(),
            exam_id,
            parameters: parts.parameters,
            prepare: parts.prepare,
            timed: parts.timed,
            details,
            checks: parts.checks,
            database_skipped: parts.database_skipped,
            server_rss_max_kib: rss_all,
            server_rss_max_timed_kib: rss_timed,
            timed_cpu: lock(&self.cpu_used).clone(),
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for rss in &self.rss {
            rss.stop();
        }
    }
}

/// The exam to load: the one asked for, or the first open one with `need` seats left.
pub(crate) async fn pick_exam(api: &Api, exam_id: Option<i64>, need: usize) -> Result<ExamInfo> {
    let exams = api.exams().await?;
    let need = i64::try_from(need).unwrap_or(i64::MAX);
    let hint = "create one first, e.g. `examdesk exam create --code LOAD1 --title 负载测试 --fee-fen 5000 \
                --capacity 98901 --opens 2026-01-01T00:00:00+08:00 --closes 2027-01-01T00:00:00+08:00 \
                --starts 2027-01-02T09:00:00+08:00` (same EXAMDESK_DATABASE_URL as the server), then pass \
                --exam-id";
    match exam_id {
        Some(id) => {
            let exam = exams.into_iter().find(|e| e.id == id).with_context(|| {
                format!("--exam-id {id}: no such exam open for registration (GET /api/v1/exams)")
            })?;
            if exam.remaining < need {
                bail!(
                    "--exam-id {id}: {} seats left, {need} needed; {hint}",
                    exam.remaining
                );
            }
            Ok(exam)
        }
        None => exams
            .into_iter()
            .find(|e| e.remaining >= need)
            .with_context(|| {
                format!("no open exam has {need} seats left (the demo exam seats 200); {hint}")
            }),
    }
}

/// Signed notify bodies for the orders, one per order (the transaction id is the run's).
pub(crate) fn notify_bodies(
    run_id: &str,
    merchant: &Merchant,
    ready: &[Ready],
    fee_fen: i64,
) -> Vec<String> {
    ready
        .iter()
        .enumerate()
        .map(|(i, r)| {
            notify::notify_body(
                merchant,
                &r.out_trade_no,
                fee_fen,
                &ids::transaction_id(run_id, i),
                &ids::openid(run_id, i),
                &notify::nonce(run_id, i),
            )
        })
        .collect()
}

/// The data behind these locks stays valid whatever a panicking holder did.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
