//! Registration burst: N signed-in candidates racing to register for one exam of capacity C.
//! Only the registrations are timed; every refusal must be a clear 409 `sold_out`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::time::Instant;

use super::prepare::{Parts, Run};
use super::report::{Check, Report};
use super::stats::{Recorder, transport_label};
use super::{Target, checks, pool};
use examdesk::domain::exam::NewExam;

#[derive(Debug, Clone)]
pub struct RegistrationBurst {
    pub target: Target,
    pub candidates: usize,
    /// The exam's capacity: checked against `exam_id`, or the capacity of the exam this run
    /// creates (through `--database-url`) when no `exam_id` is given.
    pub capacity: Option<i64>,
    pub exam_id: Option<i64>,
    /// Registrations in flight at once.
    pub concurrency: usize,
}

impl RegistrationBurst {
    pub fn new(target: Target, candidates: usize) -> Self {
        Self {
            target,
            candidates,
            capacity: None,
            exam_id: None,
            concurrency: 256,
        }
    }
}

struct Answer {
    label: String,
    ok: bool,
    created: bool,
    server_error: bool,
    latency: std::time::Duration,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Creates an exam open now with `capacity` seats, directly in the server's database.
pub(crate) async fn create_exam(url: &str, run_id: &str, capacity: i64) -> Result<i64> {
    // Opens read-only first, so a wrong SQLite path fails instead of creating a new database.
    checks::open(url).await?.close().await;
    let db = examdesk::db::Db::connect(url).await?;
    let now = examdesk::util::now();
    let exam = NewExam {
        code: format!("LG{}", run_id.to_ascii_uppercase()),
        title: format!("负载测试考试 {run_id}"),
        fee_fen: 5000,
        capacity,
        opens_at: now - 60,
        closes_at: now + 7 * 86_400,
        starts_at: now + 8 * 86_400,
        venue: "负载测试考点".into(),
        review: examdesk::domain::states::ExamReview::None,
        late_minutes: examdesk::domain::exam::DEFAULT_LATE_MINUTES,
        photo_rules: examdesk_tickets::photo::PhotoRules::default(),
    };
    let id = examdesk::db::exams::create(&db, &exam)
        .await
        .context("creating the run's exam")?;
    db.close().await;
    Ok(id)
}

pub async fn run_registration_burst(b: &RegistrationBurst) -> Result<Report> {
    if b.candidates == 0 || b.concurrency == 0 {
        bail!("--candidates and --concurrency must be at least 1");
    }
    let run = Run::start(&b.target).await?;
    let exam_id = match (b.exam_id, b.capacity, &b.target.database_url) {
        (Some(id), _, _) => id,
        (None, Some(capacity), Some(url)) => {
            let id = create_exam(url, &run.run_id, capacity).await?;
            run.progress(&format!("created exam {id} with {capacity} seats"));
            id
        }
        _ => bail!(
            "registration-burst needs --exam-id (an exam created with `examdesk exam create \
             --capacity C …`), or --capacity with --database-url to create one"
        ),
    };
    let exam = run
        .api
        .exams()
        .await?
        .into_iter()
        .find(|e| e.id == exam_id)
        .with_context(|| format!("--exam-id {exam_id}: no such exam open for registration"))?;
    if let Some(c) = b.capacity
        && c != exam.capacity
    {
        bail!(
            "--capacity {c}: exam {exam_id} has capacity {}",
            exam.capacity
        );
    }
    let db = match &b.target.database_url {
        Some(url) => Some(checks::open(url).await?),
        None => None,
    };
    let tokens = Arc::new(run.login_all("b", b.candidates).await?);
    // Taken after the sign-ins, just before the clock starts: what the burst competes for.
    let taken_before = match &db {
        Some(pool) => checks::seats(pool, exam_id).await?.taken,
        None => exam.capacity - exam.remaining,
    };
    let left_before = exam.capacity - taken_before;

    let prepare = run.warm_up(b.concurrency.min(b.candidates)).await?;
    run.progress(&format!(
        "timed: {} registrations for {left_before} seats at concurrency {}",
        b.candidates, b.concurrency
    ));
    let started = Instant::now();
    let (api, run_id, tokens2) = (run.api.clone(), run.run_id.clone(), tokens.clone());
    let pooled = pool::run(
        b.candidates,
        b.concurrency,
        run.deadline,
        Arc::new(AtomicBool::new(false)),
        move |i| {
            let request = api.register_request(&tokens2[i], exam_id, &run_id, i);
            async move {
                let t0 = Instant::now();
                let result = async {
                    let res = request.send().await?;
                    let status = res.status();
                    let body = res.bytes().await?;
                    Ok::<_, reqwest::Error>((status, body))
                }
                .await;
                let latency = t0.elapsed();
                match result {
                    Ok((status, _)) if status == 201 => Answer {
                        label: "201".into(),
                        ok: true,
                        created: true,
                        server_error: false,
                        latency,
                    },
                    Ok((status, body)) => {
                        let code = serde_json::from_slice::<ErrorBody>(&body)
                            .ok()
                            .filter(|e| !e.error.message.trim().is_empty())
                            .map(|e| e.error.code);
                        let clear_sold_out = status == 409 && code.as_deref() == Some("sold_out");
                        Answer {
                            label: match code {
                                Some(c) => format!("{} {c}", status.as_u16()),
                                None => status.as_u16().to_string(),
                            },
                            ok: clear_sold_out,
                            created: false,
                            server_error: status.is_server_error(),
                            latency,
                        }
                    }
                    Err(e) => Answer {
                        label: transport_label(&e).into(),
                        ok: false,
                        created: false,
                        server_error: false,
                        latency,
                    },
                }
            }
        },
    )
    .await?;
    let elapsed = started.elapsed();
    run.end_timed(pooled.results.len() as u64);

    let mut recorder = Recorder::default();
    let (mut created, mut server_errors) = (0i64, 0u64);
    for (_, a) in pooled.results {
        recorder.record(&a.label, a.latency, a.ok);
        created += i64::from(a.created);
        server_errors += u64::from(a.server_error);
    }
    let timed = recorder.figures(elapsed);
    let expected_held = left_before.min(b.candidates as i64);
    let mut checks = vec![
        Check::new(
            "completed within --max-seconds",
            !pooled.cut_short,
            format!("{} of {} registrations sent", timed.requests, b.candidates),
        ),
        Check::new(
            "every refusal a clear 409 sold_out",
            timed.errors == 0,
            format!("{} answers neither 201 nor 409 sold_out", timed.errors),
        ),
        Check::new(
            "no 5xx",
            server_errors == 0,
            format!("{server_errors} answers 5xx"),
        ),
        Check::new(
            "registered = min(candidates, seats left)",
            created == expected_held,
            format!(
                "{created} registered, {left_before} seats were left, {} candidates",
                b.candidates
            ),
        ),
    ];
    let mut database_skipped = None;
    match &db {
        Some(pool) => {
            let after = checks::seats(pool, exam_id).await?;
            checks.push(Check::new(
                "seats held by the burst = registrations answered 201",
                after.taken - taken_before == created,
                format!(
                    "seats_taken {taken_before} -> {}, {created} answered 201",
                    after.taken
                ),
            ));
            checks.extend(checks::seat_checks(pool, exam_id).await?);
            pool.close().await;
        }
        None => database_skipped = Some("no --database-url given".into()),
    }

    let parameters = BTreeMap::from([
        ("candidates".into(), json!(b.candidates)),
        ("capacity".into(), json!(exam.capacity)),
        ("concurrency".into(), json!(b.concurrency)),
    ]);
    let details = BTreeMap::from([
        ("seats_left".into(), json!(left_before)),
        ("registered".into(), json!(created)),
    ]);
    Ok(run.finish(
        "registration-burst",
        exam_id,
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
