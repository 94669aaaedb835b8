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
use super::{Merchant, Target, checks, ids, pool};
use crate::wechat::notify::SUCCESS_REPLY;

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
    let t0 = Instant::now();
    let result = async {
        let res = api.notify_request(body).send().await?;
        let status = res.status();
        let text = res.text().await?;
        Ok::<_, reqwest::Error>((status, text))
    }
    .await;
    let latency = t0.elapsed();
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
    let exam = pick_exam(&run.api, s.exam_id, s.orders).await?;
    run.progress(&format!("exam {}: {} seats left", exam.id, exam.remaining));
    let ready = run.ready_orders(exam.id, s.orders).await?;
    let bodies = Arc::new(notify_bodies(
        &run.run_id,
        &s.merchant,
        &ready,
        exam.fee_fen,
    ));
    let repeats = (s.repeat_share * s.orders as f64).round() as usize;
    let jobs = Arc::new(plan(s.orders, repeats, s.concurrency, s.seed));
    let pairs = jobs.iter().filter(|j| matches!(j, Job::Pair(_))).count();

    let prepare = run.warm_up(s.concurrency).await?;
    run.progress(&format!(
        "timed: {} notify jobs at concurrency {}",
        jobs.len(),
        s.concurrency
    ));
    let started = Instant::now();
    let (api, jobs2, bodies2) = (run.api.clone(), jobs.clone(), bodies.clone());
    let pooled = pool::run(
        jobs.len(),
        s.concurrency,
        run.deadline,
        Arc::new(AtomicBool::new(false)),
        move |j| {
            let (api, job, bodies) = (api.clone(), jobs2[j], bodies2.clone());
            async move {
                match job {
                    Job::One(i) => vec![send(&api, bodies[i].clone(), i).await],
                    Job::Pair(i) => {
                        let (a, b) = tokio::join!(
                            send(&api, bodies[i].clone(), i),
                            send(&api, bodies[i].clone(), i)
                        );
                        vec![a, b]
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
    for (_, results) in pooled.results {
        for r in results {
            recorder.record(&r.label, r.latency, r.success);
            sent_orders.insert(r.order);
            if r.success {
                acknowledged.insert(ready[r.order].out_trade_no.clone());
            }
        }
    }
    let timed = recorder.figures(elapsed);

    let mut checks = vec![
        Check::new(
            "completed within --max-seconds",
            !pooled.cut_short,
            format!("{} of {} notifies sent", timed.requests, s.orders + repeats),
        ),
        Check::new(
            "every notify answered with WeChat's SUCCESS XML",
            timed.errors == 0,
            format!(
                "{} of {} answers were something else",
                timed.errors, timed.requests
            ),
        ),
    ];
    let mut database_skipped = None;
    match &s.target.database_url {
        Some(url) => {
            let pool = checks::open(url).await?;
            let sent: HashMap<String, String> = sent_orders
                .iter()
                .map(|&i| {
                    (
                        ready[i].out_trade_no.clone(),
                        ids::transaction_id(&run.run_id, i),
                    )
                })
                .collect();
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
    ]);
    let details = BTreeMap::from([
        (
            "repeats".into(),
            json!({ "total": repeats, "concurrent_with_original": pairs, "later": repeats - pairs.min(repeats) }),
        ),
        ("acknowledged".into(), json!(acknowledged.len())),
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
        let fail = crate::wechat::notify::fail_reply("bad signature");
        assert_eq!(fail_reason(&fail), "FAIL bad signature");
        assert_eq!(fail_reason("nope"), "unexpected body");
    }
}
