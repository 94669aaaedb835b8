//! Notify storm: orders made ready through the public API, then correctly signed payment notifies
//! for them at a set concurrency, with a share of repeats mixed in. Only the notifies are timed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;
use tokio::time::Instant;

use super::prepare::{Parts, Run, notify_bodies, pick_exam};
use super::report::{Check, Report};
use super::stats::{Recorder, transport_label};
use super::wechat_faults::{Simulator, WechatFaults, wait_until_paid};
use super::{Merchant, Target, checks, ids, pool};
use wechat_pay_v2::notify::SUCCESS_REPLY;

#[derive(Debug, Clone)]
pub struct NotifyStorm {
    pub target: Target,
    pub merchant: Merchant,
    /// Orders made ready, each notified once (plus repeats).
    pub orders: usize,
    /// Workers sending notifies, each on its own keep-alive connection. A concurrent repeat is
    /// sent by one worker as two requests at once, so up to twice this many may be in flight.
    pub concurrency: usize,
    /// Repeats as a share of `orders` (0.2 = one repeat for every fifth order): half of them sent
    /// at the same moment as the original, half a little later, as WeChat re-sends.
    pub repeat_share: f64,
    /// The exam to register for; by default the first open one with enough seats left.
    pub exam_id: Option<i64>,
    /// Chooses which orders are repeated and when.
    pub seed: u64,
    /// More instances of the same service (base URLs on loopback): notify jobs are spread over
    /// `target.url` and these in turn, as a proxy in front of several instances would.
    pub also: Vec<String>,
    /// Re-send a notify that was not answered SUCCESS (a FAIL, a 5xx, a dead instance, a time-out)
    /// after this pause, to the next instance, until it is acknowledged or the run's time is up —
    /// what WeChat does. Without it every answer must be SUCCESS at the first try.
    pub resend: Option<Duration>,
    /// WeChat loses some notifies and fails some of the service's calls meanwhile (needs the
    /// database, to wait until the service has found the lost payments).
    pub wechat: Option<WechatFaults>,
}

impl NotifyStorm {
    pub fn new(target: Target, orders: usize) -> Self {
        Self {
            target,
            merchant: Merchant::default(),
            orders,
            concurrency: 64,
            repeat_share: 0.2,
            exam_id: None,
            seed: 1,
            also: Vec::new(),
            resend: None,
            wechat: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// One notify for the order (its first, or a later repeat).
    One(usize),
    /// The first notify and a repeat of it at the same moment.
    Pair(usize),
}

/// splitmix64: small, deterministic, good enough to pick repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The order of the notifies: every order once, in order; `repeats` distinct orders get a repeat,
/// alternately at the same moment (a pair) or placed one to four rounds of workers later.
fn plan(orders: usize, repeats: usize, concurrency: usize, seed: u64) -> Vec<Job> {
    let mut rng = Rng(seed);
    let mut pick: Vec<usize> = (0..orders).collect();
    let repeats = repeats.min(orders);
    for k in 0..repeats {
        let j = k + rng.below(orders - k);
        pick.swap(k, j);
    }
    let mut paired = vec![false; orders];
    let mut keyed: Vec<(f64, Job)> = Vec::with_capacity(orders + repeats);
    for (k, &i) in pick[..repeats].iter().enumerate() {
        if k % 2 == 0 {
            paired[i] = true;
        } else {
            let later = concurrency + rng.below(3 * concurrency.max(1));
            keyed.push(((i + later) as f64 + 0.5, Job::One(i)));
        }
    }
    for (i, &p) in paired.iter().enumerate() {
        keyed.push((i as f64, if p { Job::Pair(i) } else { Job::One(i) }));
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, j)| j).collect()
}

struct Sent {
    order: usize,
    label: String,
    latency: Duration,
    success: bool,
}

async fn send(api: &super::client::Api, body: String, order: usize) -> Sent {
    let (latency, result) = api.notify_timed(body).await;
    let (label, success) = match result {
        Ok((status, text)) if status == 200 && text == SUCCESS_REPLY => {
            ("200 SUCCESS".into(), true)
        }
        Ok((status, text)) if status == 200 => (format!("200 {}", fail_reason(&text)), false),
        Ok((status, _)) => (status.as_u16().to_string(), false),
        Err(e) => (transport_label(&e).into(), false),
    };
    Sent {
        order,
        label,
        latency,
        success,
    }
}

/// Sends one notify, starting at instance `first`; with `resend`, sends it again to the next
/// instance after each failure until it is acknowledged or `deadline` passes. Every attempt is
/// returned, the last one first-class: it tells whether the order was acknowledged in the end.
async fn deliver(
    apis: &[super::client::Api],
    first: usize,
    body: &str,
    order: usize,
    resend: Option<Duration>,
    deadline: Instant,
) -> Vec<Sent> {
    let mut attempts = Vec::new();
    let mut at = first;
    loop {
        let sent = send(&apis[at % apis.len()], body.to_string(), order).await;
        let done = sent.success;
        attempts.push(sent);
        match resend {
            Some(pause) if !done && Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                at += 1;
            }
            _ => return attempts,
        }
    }
}

/// Which orders lose their notify: every n-th, for the share asked (sorted).
fn lost_orders(orders: usize, share: f64) -> Vec<usize> {
    let count = (share * orders as f64).round() as usize;
    if count == 0 {
        return Vec::new();
    }
    let step = orders / count;
    (0..count).map(|k| k * step).collect()
}

/// "FAIL <return_msg>" from WeChat's reply XML, or "unexpected body".
fn fail_reason(text: &str) -> String {
    let msg = text
        .split("<return_msg><![CDATA[")
        .nth(1)
        .and_then(|rest| rest.split("]]>").next());
    match msg {
        Some(m) if text.contains("FAIL") => {
            format!("FAIL {}", m.chars().take(60).collect::<String>())
        }
        _ => "unexpected body".into(),
    }
}

pub async fn run_notify_storm(s: &NotifyStorm) -> Result<Report> {
    if s.orders == 0 || s.concurrency == 0 {
        bail!("--orders and --concurrency must be at least 1");
    }
    if !(0.0..=1.0).contains(&s.repeat_share) {
        bail!("--repeat-share: between 0 and 1, got {}", s.repeat_share);
    }
    let run = Run::start(&s.target).await?;
    let mut apis = vec![run.api.clone()];
    for url in &s.also {
        let base = super::client::loopback_base(url).await?;
        let api = super::client::Api::new(base, s.target.request_timeout)?;
        // An instance that is down is part of what a run may test; its notifies fail over.
        if let Err(e) = api.healthz().await {
            run.progress(&format!("{url} does not answer now: {e}"));
        }
        apis.push(api);
    }
    let apis = Arc::new(apis);
    let exam = pick_exam(&run.api, s.exam_id, s.orders).await?;
    run.progress(&format!("exam {}: {} seats left", exam.id, exam.remaining));
    let ready = run.ready_orders(exam.id, s.orders).await?;
    let bodies = Arc::new(notify_bodies(
        &run.run_id,
        &s.merchant,
        &ready,
        exam.fee_fen,
    ));
    let simulator = match &s.wechat {
        Some(w) => {
            if s.target.database_url.is_none() {
                bail!("lost notifies need --database-url, to wait until the service finds them");
            }
            if !(0.0..1.0).contains(&w.lost_share) || !(0.0..=1.0).contains(&w.fail_rate) {
                bail!("--lost-share: at least 0 and below 1; --wechat-fail-rate: between 0 and 1");
            }
            Some(Simulator::connect(&w.simulator_url).await?)
        }
        None => None,
    };
    let lost = lost_orders(s.orders, s.wechat.as_ref().map_or(0.0, |w| w.lost_share));
    // Plan indices point into `notified`: the orders whose notifies are sent.
    let notified: Arc<Vec<usize>> = Arc::new(
        (0..s.orders)
            .filter(|i| lost.binary_search(i).is_err())
            .collect(),
    );
    let repeats = (s.repeat_share * notified.len() as f64).round() as usize;
    let jobs = Arc::new(plan(notified.len(), repeats, s.concurrency, s.seed));
    let pairs = jobs.iter().filter(|j| matches!(j, Job::Pair(_))).count();

    let prepare = run.warm_up(s.concurrency).await?;
    run.progress(&format!(
        "timed: {} notify jobs at concurrency {}",
        jobs.len(),
        s.concurrency
    ));
    let mut lost_paid: HashMap<String, String> = HashMap::new();
    if let (Some(sim), Some(w)) = (&simulator, &s.wechat) {
        sim.set_faults(Some(w.fail_rate)).await?;
        for &i in &lost {
            let no = &ready[i].out_trade_no;
            lost_paid.insert(no.clone(), sim.pay(no).await?);
        }
        run.progress(&format!(
            "{} orders paid at WeChat with their notifies lost; {:.0} % of the service's calls to WeChat fail",
            lost.len(),
            w.fail_rate * 100.0
        ));
    }
    let started = Instant::now();
    let (apis2, jobs2, bodies2) = (apis.clone(), jobs.clone(), bodies.clone());
    let notified2 = notified.clone();
    let (resend, deadline) = (s.resend, run.deadline);
    let pooled = pool::run(
        jobs.len(),
        s.concurrency,
        run.deadline,
        Arc::new(AtomicBool::new(false)),
        move |j| {
            let (apis, job, bodies) = (apis2.clone(), jobs2[j], bodies2.clone());
            let job = match job {
                Job::One(k) => Job::One(notified2[k]),
                Job::Pair(k) => Job::Pair(notified2[k]),
            };
            async move {
                match job {
                    Job::One(i) => deliver(&apis, j, &bodies[i], i, resend, deadline).await,
                    Job::Pair(i) => {
                        // The copy goes to the next instance: two instances race for one order.
                        let (mut a, b) = tokio::join!(
                            deliver(&apis, j, &bodies[i], i, resend, deadline),
                            deliver(&apis, j + 1, &bodies[i], i, resend, deadline)
                        );
                        a.extend(b);
                        a
                    }
                }
            }
        },
    )
    .await?;
    let elapsed = started.elapsed();
    run.end_timed(
        pooled
            .results
            .iter()
            .map(|(_, sent)| sent.len() as u64)
            .sum(),
    );

    let mut recorder = Recorder::default();
    let mut sent_orders = HashSet::new();
    let mut acknowledged = HashSet::new();
    let mut resent = 0u64;
    for (_, results) in pooled.results {
        for r in results {
            recorder.record(&r.label, r.latency, r.success);
            sent_orders.insert(r.order);
            if r.success {
                acknowledged.insert(ready[r.order].out_trade_no.clone());
            } else {
                resent += 1;
            }
        }
    }
    let timed = recorder.figures(elapsed);
    let acknowledged_by_notify = acknowledged.len();

    let mut checks = vec![
        Check::new(
            "completed within --max-seconds",
            !pooled.cut_short,
            format!(
                "{} of {} notifies sent ({} of them sent again after a failure)",
                timed.requests - resent,
                notified.len() + repeats,
                resent
            ),
        ),
        if s.resend.is_some() {
            Check::new(
                "every order acknowledged with WeChat's SUCCESS XML in the end",
                acknowledged.len() == notified.len(),
                format!(
                    "{} of {} orders; {} failed attempts sent again",
                    acknowledged.len(),
                    notified.len(),
                    resent
                ),
            )
        } else {
            Check::new(
                "every notify answered with WeChat's SUCCESS XML",
                timed.errors == 0,
                format!(
                    "{} of {} answers were something else",
                    timed.errors, timed.requests
                ),
            )
        },
    ];
    let mut database_skipped = None;
    match &s.target.database_url {
        Some(url) => {
            let pool = checks::open(url).await?;
            if let Some(sim) = &simulator {
                let waited = Instant::now();
                let nos: Vec<String> = lost_paid.keys().cloned().collect();
                let found = wait_until_paid(&pool, &nos, run.deadline, |m| run.progress(m)).await;
                sim.set_faults(None).await?;
                let found = found?;
                let stats = sim.stats().await?;
                checks.push(Check::new(
                    "every payment whose notify was lost found by the service",
                    found == nos.len(),
                    format!(
                        "{found} of {} within {:.0} s after the storm; WeChat failed {} of the service's calls",
                        nos.len(),
                        waited.elapsed().as_secs_f64(),
                        stats["injected_failures"]
                    ),
                ));
            }
            let mut sent: HashMap<String, String> = sent_orders
                .iter()
                .map(|&i| {
                    (
                        ready[i].out_trade_no.clone(),
                        ids::transaction_id(&run.run_id, i),
                    )
                })
                .collect();
            sent.extend(lost_paid.clone());
            // A lost payment must end paid with WeChat's transaction id like an acknowledged one.
            acknowledged.extend(lost_paid.keys().cloned());
            let registrations: HashSet<i64> = ready.iter().map(|r| r.registration_id).collect();
            checks.extend(
                checks::payment_checks(&pool, exam.id, &sent, &acknowledged, &registrations)
                    .await?,
            );
            checks.extend(checks::seat_checks(&pool, exam.id).await?);
            pool.close().await;
        }
        None => database_skipped = Some("no --database-url given".into()),
    }

    let mean_body = bodies.iter().map(String::len).sum::<usize>() / bodies.len().max(1);
    let parameters = BTreeMap::from([
        ("orders".into(), json!(s.orders)),
        ("concurrency".into(), json!(s.concurrency)),
        ("repeat_share".into(), json!(s.repeat_share)),
        ("instances".into(), json!(apis.len())),
        (
            "resend_ms".into(),
            json!(s.resend.map(|d| d.as_millis() as u64)),
        ),
    ]);
    let details = BTreeMap::from([
        (
            "repeats".into(),
            json!({ "total": repeats, "concurrent_with_original": pairs, "later": repeats - pairs.min(repeats) }),
        ),
        ("acknowledged".into(), json!(acknowledged_by_notify)),
        ("notifies_lost".into(), json!(lost.len())),
        ("failed_attempts_resent".into(), json!(resent)),
        ("body_bytes".into(), json!(mean_body)),
    ]);
    Ok(run.finish(
        "notify-storm",
        exam.id,
        Parts {
            parameters,
            prepare,
            timed,
            details,
            checks,
            database_skipped,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_sends_every_order_once_plus_the_repeats() {
        let jobs = plan(1000, 200, 16, 7);
        let mut sends = vec![0u32; 1000];
        let mut pairs = 0;
        for j in &jobs {
            match *j {
                Job::One(i) => sends[i] += 1,
                Job::Pair(i) => {
                    sends[i] += 2;
                    pairs += 1;
                }
            }
        }
        assert_eq!(sends.iter().sum::<u32>(), 1200);
        assert_eq!(sends.iter().filter(|&&n| n == 2).count(), 200);
        assert_eq!(pairs, 100);
        // Each order's first appearance is its original, and the originals keep their order, so
        // a later repeat never comes before the notify it repeats.
        let mut seen = vec![false; 1000];
        let mut firsts = Vec::new();
        for j in &jobs {
            let (Job::One(i) | Job::Pair(i)) = *j;
            if !seen[i] {
                seen[i] = true;
                firsts.push(i);
            }
        }
        assert_eq!(firsts, (0..1000).collect::<Vec<_>>());
        assert_eq!(plan(10, 0, 4, 1), (0..10).map(Job::One).collect::<Vec<_>>());
    }

    #[test]
    fn fail_reasons_are_read_from_the_reply() {
        let fail = wechat_pay_v2::notify::fail_reply("bad signature");
        assert_eq!(fail_reason(&fail), "FAIL bad signature");
        assert_eq!(fail_reason("nope"), "unexpected body");
    }
}
