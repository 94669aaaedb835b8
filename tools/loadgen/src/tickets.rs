//! Ticket downloads: paid candidates fetching `GET /api/v1/registrations/{id}/ticket.pdf`.
//! Candidates are made paid by signed notifies before the clock starts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Result, bail};
use serde_json::json;
use tokio::time::Instant;

use super::prepare::{Parts, Run, notify_bodies, pick_exam};
use super::report::{Check, Report};
use super::stats::{Recorder, transport_label};
use super::{Merchant, Target, checks, ids, pool};

#[derive(Debug, Clone)]
pub struct TicketDownloads {
    pub target: Target,
    pub merchant: Merchant,
    pub candidates: usize,
    /// Downloads in flight at once.
    pub concurrency: usize,
    /// Downloads per candidate (the second and later may come from the server's cache).
    pub rounds: usize,
    pub exam_id: Option<i64>,
}

impl TicketDownloads {
    pub fn new(target: Target, candidates: usize) -> Self {
        Self {
            target,
            merchant: Merchant::default(),
            candidates,
            concurrency: 16,
            rounds: 1,
            exam_id: None,
        }
    }
}

struct Download {
    label: String,
    ok: bool,
    bytes: usize,
    latency: std::time::Duration,
}

pub async fn run_ticket_downloads(t: &TicketDownloads) -> Result<Report> {
    if t.candidates == 0 || t.concurrency == 0 || t.rounds == 0 {
        bail!("--candidates, --concurrency and --rounds must be at least 1");
    }
    let run = Run::start(&t.target).await?;
    let exam = pick_exam(&run.api, t.exam_id, t.candidates).await?;
    let ready = run.ready_orders(exam.id, t.candidates).await?;
    run.pay_by_notify(Arc::new(notify_bodies(
        &run.run_id,
        &t.merchant,
        &ready,
        exam.fee_fen,
    )))
    .await?;
    let ready = Arc::new(ready);

    let prepare = run.warm_up(t.concurrency.min(t.candidates)).await?;
    let total = t.candidates * t.rounds;
    run.progress(&format!(
        "timed: {total} downloads at concurrency {}",
        t.concurrency
    ));
    let started = Instant::now();
    let (api, ready2, n) = (run.api.clone(), ready.clone(), t.candidates);
    let pooled = pool::run(
        total,
        t.concurrency,
        run.deadline,
        Arc::new(AtomicBool::new(false)),
        move |j| {
            let r = &ready2[j % n];
            let request = api
                .http
                .get(api.url(&format!(
                    "/api/v1/registrations/{}/ticket.pdf",
                    r.registration_id
                )))
                .bearer_auth(&r.token);
            async move {
                let t0 = Instant::now();
                let result = async {
                    let res = request.send().await?;
                    let status = res.status();
                    let pdf_type = res
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("application/pdf"));
                    let body = res.bytes().await?;
                    Ok::<_, reqwest::Error>((status, pdf_type, body))
                }
                .await;
                let latency = t0.elapsed();
                let (label, ok, bytes) = match result {
                    Ok((status, true, body)) if status == 200 && body.starts_with(b"%PDF-") => {
                        ("200 pdf".to_string(), true, body.len())
                    }
                    Ok((status, _, _)) if status == 200 => ("200 not a PDF".into(), false, 0),
                    Ok((status, _, body)) => {
                        let code = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["error"]["code"].as_str().map(str::to_string));
                        let label = match code {
                            Some(c) => format!("{} {c}", status.as_u16()),
                            // axum answers an unknown route with an empty 404.
                            None if status == 404 => "404 no such route".into(),
                            None => status.as_u16().to_string(),
                        };
                        (label, false, 0)
                    }
                    Err(e) => (transport_label(&e).into(), false, 0),
                };
                Download {
                    label,
                    ok,
                    bytes,
                    latency,
                }
            }
        },
    )
    .await?;
    let elapsed = started.elapsed();
    run.end_timed(pooled.results.len() as u64);

    let mut recorder = Recorder::default();
    let mut sizes = Vec::new();
    for (_, d) in pooled.results {
        recorder.record(&d.label, d.latency, d.ok);
        if d.ok {
            sizes.push(d.bytes);
        }
    }
    let timed = recorder.figures(elapsed);
    let no_route = timed
        .statuses
        .get("404 no such route")
        .copied()
        .unwrap_or(0);
    let mut checks = vec![
        Check::new(
            "completed within --max-seconds",
            !pooled.cut_short,
            format!("{} of {total} downloads", timed.requests),
        ),
        Check::new(
            "every download a PDF",
            timed.errors == 0,
            if no_route > 0 {
                format!(
                    "{} failed; {no_route} answered 404 with no body: this build has no \
                     GET /api/v1/registrations/{{id}}/ticket.pdf route yet",
                    timed.errors
                )
            } else {
                format!("{} of {} were not a PDF", timed.errors, timed.requests)
            },
        ),
    ];
    let mut database_skipped = None;
    match &t.target.database_url {
        Some(url) => {
            let pool = checks::open(url).await?;
            let sent: HashMap<String, String> = ready
                .iter()
                .enumerate()
                .map(|(i, r)| (r.out_trade_no.clone(), ids::transaction_id(&run.run_id, i)))
                .collect();
            // Preparation required SUCCESS for every one of them.
            let acknowledged: HashSet<String> = sent.keys().cloned().collect();
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

    let mut details = BTreeMap::new();
    if !sizes.is_empty() {
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        details.insert(
            "pdf_bytes".into(),
            json!({
                "mean": mean,
                "min": sizes.iter().min(),
                "max": sizes.iter().max(),
            }),
        );
    }
    let parameters = BTreeMap::from([
        ("candidates".into(), json!(t.candidates)),
        ("concurrency".into(), json!(t.concurrency)),
        ("rounds".into(), json!(t.rounds)),
    ]);
    Ok(run.finish(
        "ticket-downloads",
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
