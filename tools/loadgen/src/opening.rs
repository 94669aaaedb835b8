//! A whole registration opening: every candidate, as its own job, signs in, lists the exams,
//! registers, uploads a photo, places the order, is paid by a signed notify (the tool plays
//! WeChat; a share gets a repeat notify), then reads its registration until it shows `paid`.
//! Nothing is prepared but the exam and the photo bytes: the whole flow is timed.
//!
//! With several instances (`--also-url`) candidate i makes every call to instance i mod k, as a
//! proxy keeping a client on one instance would, while its notify goes to the next instance: the
//! instance that took the order is not the one WeChat reaches, and the candidate reads back from
//! its own, so every step crosses instances through the shared database.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use image::{ImageEncoder, Rgb, RgbImage};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::client::{Api, ExamInfo, PhotoRulesInfo, loopback_base};
use super::prepare::{Parts, Run, pick_exam};
use super::report::{Check, Figures, Report};
use super::stats::{Recorder, transport_label};
use super::{Merchant, Target, checks, ids, notify, pool};
use wechat_pay_v2::notify::SUCCESS_REPLY;

#[derive(Debug, Clone)]
pub struct Opening {
    pub target: Target,
    pub merchant: Merchant,
    pub candidates: usize,
    /// Candidates going through their flow at once.
    pub concurrency: usize,
    /// Share of the candidates whose notify WeChat sends twice: half of the repeats at the same
    /// moment as the original (to another instance), half after the candidate saw `paid`.
    pub repeat_share: f64,
    /// Default: the first open exam with enough seats left; with none and a `--database-url`,
    /// an exam seating exactly the candidates is created.
    pub exam_id: Option<i64>,
    /// More instances of the same service (base URLs on loopback), sharing the database.
    pub also: Vec<String>,
    /// Pause between two reads of a registration not yet paid.
    pub poll_every: Duration,
    /// A candidate that has not seen `paid` this long after its notify was acknowledged gives up.
    pub poll_limit: Duration,
}

impl Opening {
    pub fn new(target: Target, candidates: usize) -> Self {
        Self {
            target,
            merchant: Merchant::default(),
            candidates,
            concurrency: 256,
            repeat_share: 0.2,
            exam_id: None,
            also: Vec::new(),
            poll_every: Duration::from_millis(10),
            poll_limit: Duration::from_secs(10),
        }
    }
}

/// The steps of one candidate's flow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Login,
    Exams,
    Register,
    Photo,
    Pay,
    Notify,
    /// One `GET /registrations/{id}`; its step figure is the time until `paid` was seen.
    Poll,
}

const STEPS: [Step; 7] = [
    Step::Login,
    Step::Exams,
    Step::Register,
    Step::Photo,
    Step::Pay,
    Step::Notify,
    Step::Poll,
];

/// Where a step comes in the flow, by its name in the report (unknown names last).
pub(crate) fn step_rank(name: &str) -> usize {
    STEPS
        .iter()
        .position(|s| s.name() == name)
        .unwrap_or(STEPS.len())
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Login => "login",
            Step::Exams => "exams",
            Step::Register => "register",
            Step::Photo => "photo",
            Step::Pay => "pay",
            Step::Notify => "notify",
            Step::Poll => "poll-until-paid",
        }
    }

    /// The label prefix of this step's answers in the report.
    fn request(self) -> &'static str {
        match self {
            Step::Poll => "poll",
            other => other.name(),
        }
    }
}

struct Sample {
    step: Step,
    label: String,
    latency: Duration,
    ok: bool,
}

/// What one candidate did, every request in order.
#[derive(Default)]
struct Flow {
    samples: Vec<Sample>,
    registration_id: Option<i64>,
    out_trade_no: Option<String>,
    /// At least one notify was sent for the order; one was answered SUCCESS.
    notified: bool,
    acknowledged: bool,
    repeats: u32,
    /// From the first read after the notify until the read that showed `paid`.
    until_paid: Option<Duration>,
    polls: u32,
    /// The reads never showed `paid` within the limit.
    gave_up: bool,
    through: bool,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

#[derive(Deserialize)]
struct PayAnswer {
    out_trade_no: String,
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorCode,
}

#[derive(Deserialize)]
struct ErrorCode {
    code: String,
}

impl Flow {
    /// Sends one request of `step`; its answer is expected with `expected` status. The body of
    /// an expected answer is returned; anything else ends the candidate's flow.
    async fn call(
        &mut self,
        step: Step,
        request: reqwest::RequestBuilder,
        expected: StatusCode,
    ) -> Option<Vec<u8>> {
        let t0 = Instant::now();
        let result = async {
            let res = request.send().await?;
            let status = res.status();
            let body = res.bytes().await?;
            Ok::<_, reqwest::Error>((status, body.to_vec()))
        }
        .await;
        let latency = t0.elapsed();
        let (label, body) = match result {
            Ok((status, body)) if status == expected => (status.as_u16().to_string(), Some(body)),
            Ok((status, body)) => {
                let code = serde_json::from_slice::<ErrorBody>(&body)
                    .map(|e| format!(" {}", e.error.code))
                    .unwrap_or_default();
                (format!("{}{code}", status.as_u16()), None)
            }
            Err(e) => (transport_label(&e).to_string(), None),
        };
        self.samples.push(Sample {
            step,
            label,
            latency,
            ok: body.is_some(),
        });
        body
    }

    /// Reads the JSON of the last expected answer; a body that is not what the contract says
    /// turns that answer into an unexpected one.
    fn parse<T: serde::de::DeserializeOwned>(&mut self, body: &[u8]) -> Option<T> {
        match serde_json::from_slice(body) {
            Ok(v) => Some(v),
            Err(_) => {
                self.unexpected("unexpected JSON");
                None
            }
        }
    }

    fn unexpected(&mut self, why: &str) {
        if let Some(last) = self.samples.last_mut() {
            last.label = format!("{} {why}", last.label);
            last.ok = false;
        }
    }

    /// One notify: answered SUCCESS or not.
    async fn notify(&mut self, api: &Api, body: String) -> bool {
        let (latency, result) = api.notify_timed(body).await;
        self.record_notify(latency, result)
    }

    fn record_notify(
        &mut self,
        latency: Duration,
        result: Result<(StatusCode, String), reqwest::Error>,
    ) -> bool {
        let (label, ok) = match result {
            Ok((status, text)) if status == StatusCode::OK && text == SUCCESS_REPLY => {
                ("200 SUCCESS".to_string(), true)
            }
            Ok((status, _)) if status == StatusCode::OK => ("200 not SUCCESS".to_string(), false),
            Ok((status, _)) => (status.as_u16().to_string(), false),
            Err(e) => (transport_label(&e).to_string(), false),
        };
        self.notified = true;
        self.acknowledged |= ok;
        self.samples.push(Sample {
            step: Step::Notify,
            label,
            latency,
            ok,
        });
        ok
    }
}

/// What every candidate's job shares.
struct Shared {
    apis: Vec<Api>,
    run_id: Arc<str>,
    merchant: Merchant,
    exam_id: i64,
    fee_fen: i64,
    photo: Vec<u8>,
    candidates: usize,
    repeat_share: f64,
    poll_every: Duration,
    poll_limit: Duration,
    deadline: Instant,
}

/// Whether candidate `i` gets a repeat notify, and whether at the same moment as the original:
/// repeats spread evenly over the candidates, alternately concurrent and late.
fn repeat_of(i: usize, share: f64) -> Option<bool> {
    let before = (i as f64 * share).floor();
    let upto = ((i + 1) as f64 * share).floor();
    (upto > before).then_some((before as u64).is_multiple_of(2))
}

fn repeats_total(n: usize, share: f64) -> usize {
    (0..n).filter(|&i| repeat_of(i, share).is_some()).count()
}

async fn candidate(s: Arc<Shared>, i: usize) -> Flow {
    let mut flow = Flow::default();
    if flow_steps(&s, i, &mut flow).await.is_some() {
        flow.through = true;
    }
    flow
}

/// The candidate's steps; `None` as soon as one was not answered as expected.
async fn flow_steps(s: &Shared, i: usize, flow: &mut Flow) -> Option<()> {
    let k = s.apis.len();
    let api = &s.apis[i % k];

    let login = api
        .http
        .post(api.url("/api/v1/login"))
        .json(&json!({ "code": ids::login_code(&s.run_id, "p", i) }));
    let body = flow.call(Step::Login, login, StatusCode::OK).await?;
    let token = flow.parse::<Token>(&body)?.token;

    let body = flow
        .call(
            Step::Exams,
            api.http.get(api.url("/api/v1/exams")),
            StatusCode::OK,
        )
        .await?;
    let exams: Vec<Id> = flow.parse(&body)?;
    if !exams.iter().any(|e| e.id == s.exam_id) {
        flow.unexpected("without the exam");
        return None;
    }

    let register = api.register_request(&token, s.exam_id, &s.run_id, i);
    let body = flow
        .call(Step::Register, register, StatusCode::CREATED)
        .await?;
    let id = flow.parse::<Id>(&body)?.id;
    flow.registration_id = Some(id);

    let photo = api
        .http
        .put(api.url(&format!("/api/v1/registrations/{id}/photo")))
        .bearer_auth(&token)
        .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
        .body(s.photo.clone());
    flow.call(Step::Photo, photo, StatusCode::NO_CONTENT)
        .await?;

    let pay = api
        .http
        .post(api.url(&format!("/api/v1/registrations/{id}/pay")))
        .bearer_auth(&token);
    let body = flow.call(Step::Pay, pay, StatusCode::OK).await?;
    let out_trade_no = flow.parse::<PayAnswer>(&body)?.out_trade_no;
    flow.out_trade_no = Some(out_trade_no.clone());

    // WeChat reaches another instance than the one that took the order; a repeat the next one.
    let notify_body = notify::notify_body(
        &s.merchant,
        &out_trade_no,
        s.fee_fen,
        &ids::transaction_id(&s.run_id, i),
        &ids::openid(&s.run_id, i),
        &notify::nonce(&s.run_id, i),
    );
    let (first, second) = (&s.apis[(i + 1) % k], &s.apis[(i + 2) % k]);
    let repeat = repeat_of(i, s.repeat_share);
    let acknowledged = if repeat == Some(true) {
        flow.repeats += 1;
        let (a, b) = tokio::join!(
            first.notify_timed(notify_body.clone()),
            second.notify_timed(notify_body.clone())
        );
        let a = flow.record_notify(a.0, a.1);
        let b = flow.record_notify(b.0, b.1);
        a && b
    } else {
        flow.notify(first, notify_body.clone()).await
    };
    if !acknowledged {
        return None;
    }

    let started = Instant::now();
    loop {
        let read = api
            .http
            .get(api.url(&format!("/api/v1/registrations/{id}")))
            .bearer_auth(&token);
        let body = flow.call(Step::Poll, read, StatusCode::OK).await?;
        flow.polls += 1;
        let status = flow.parse::<Status>(&body)?.status;
        if let Some(last) = flow.samples.last_mut() {
            last.label = format!("{} {status}", last.label);
        }
        match status.as_str() {
            "paid" => break,
            // Tolerated: how long `paid` takes to show after the acknowledgement is what the
            // reads measure (zero reads more than the first when the answer waits for the commit).
            "pending_payment" => {}
            _ => {
                flow.unexpected("after an acknowledged payment");
                return None;
            }
        }
        if started.elapsed() >= s.poll_limit || Instant::now() + s.poll_every >= s.deadline {
            flow.gave_up = true;
            return None;
        }
        tokio::time::sleep(s.poll_every).await;
    }
    flow.until_paid = Some(started.elapsed());

    if repeat == Some(false) {
        // WeChat re-sends when it missed the acknowledgement: the order is paid by now.
        flow.repeats += 1;
        if !flow.notify(second, notify_body).await {
            return None;
        }
    }
    Some(())
}

/// The smallest photo of the exam's aspect at least 300 pixels wide and as large as the rules
/// ask, as a JPEG with a gradient (a flat colour would compress to nothing and not be a photo).
fn photo_for(rules: Option<PhotoRulesInfo>) -> Result<Vec<u8>> {
    let (aw, ah, min_w, min_h, max_bytes) = match rules {
        Some(r) => (
            r.aspect_width.max(1),
            r.aspect_height.max(1),
            r.min_width,
            r.min_height,
            r.max_bytes,
        ),
        None => (3, 4, 0, 0, u32::MAX),
    };
    let k = [
        300u32.div_ceil(aw),
        min_w.div_ceil(aw),
        min_h.div_ceil(ah),
        1,
    ]
    .into_iter()
    .max()
    .unwrap_or(1);
    let (w, h) = (aw * k, ah * k);
    let img = RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (60 + x * 150 / w) as u8,
            (120 + y * 100 / h) as u8,
            (200 - (x + y) * 60 / (w + h)) as u8,
        ])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .context("encoding the candidates' photo")?;
    if bytes.len() as u64 > u64::from(max_bytes) {
        bail!(
            "the exam's photo rules allow {max_bytes} bytes; a {w}x{h} photo takes {}",
            bytes.len()
        );
    }
    Ok(bytes)
}

/// The exam asked for, the first open one with room for every candidate, or (with the
/// database) one created seating exactly the candidates.
async fn choose_exam(run: &Run, o: &Opening) -> Result<ExamInfo> {
    if o.exam_id.is_some() {
        return pick_exam(&run.api, o.exam_id, o.candidates).await;
    }
    match (
        pick_exam(&run.api, None, o.candidates).await,
        &o.target.database_url,
    ) {
        (Ok(exam), _) => Ok(exam),
        (Err(_), Some(url)) => {
            let seats = i64::try_from(o.candidates).context("--candidates")?;
            let id = super::burst::create_exam(url, &run.run_id, seats).await?;
            run.progress(&format!("created exam {id} with {seats} seats"));
            pick_exam(&run.api, Some(id), o.candidates).await
        }
        (Err(e), None) => Err(e),
    }
}

fn step_figures(f: &Figures) -> serde_json::Value {
    json!({
        "n": f.requests,
        "unexpected": f.errors,
        "latency_ms": f.latency_ms,
    })
}

pub async fn run_opening(o: &Opening) -> Result<Report> {
    if o.candidates == 0 || o.concurrency == 0 {
        bail!("--candidates and --concurrency must be at least 1");
    }
    if !(0.0..=1.0).contains(&o.repeat_share) {
        bail!("--repeat-share: between 0 and 1, got {}", o.repeat_share);
    }
    let run = Run::start(&o.target).await?;
    let mut apis = vec![run.api.clone()];
    for url in &o.also {
        let api = Api::new(loopback_base(url).await?, o.target.request_timeout)?;
        // Every instance takes a share of the candidates: one that is down cannot run.
        api.healthz().await?;
        apis.push(api);
    }
    let exam = choose_exam(&run, o).await?;
    let photo = photo_for(exam.photo_rules)?;
    run.progress(&format!(
        "exam {}: {} seats left; photo {} bytes",
        exam.id,
        exam.remaining,
        photo.len()
    ));
    let db = match &o.target.database_url {
        Some(url) => Some(checks::open(url).await?),
        None => None,
    };
    let k = apis.len();
    // Each instance sees about its share of the candidates in flight.
    let per_instance = o.concurrency.min(o.candidates).div_ceil(k);
    for api in &apis[1..] {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..per_instance {
            let api = api.clone();
            set.spawn(async move { api.healthz().await });
        }
        while let Some(done) = set.join_next().await {
            done.context("warm-up")??;
        }
    }
    let shared = Arc::new(Shared {
        apis,
        run_id: run.run_id.clone(),
        merchant: o.merchant.clone(),
        exam_id: exam.id,
        fee_fen: exam.fee_fen,
        photo,
        candidates: o.candidates,
        repeat_share: o.repeat_share,
        poll_every: o.poll_every,
        poll_limit: o.poll_limit,
        deadline: run.deadline,
    });
    let prepare = run.warm_up(per_instance).await?;
    run.progress(&format!(
        "timed: {} candidates through the whole flow at concurrency {} over {k} instance(s)",
        o.candidates, o.concurrency
    ));
    let started = Instant::now();
    let shared2 = shared.clone();
    let pooled = pool::run(
        shared.candidates,
        o.concurrency,
        run.deadline,
        Arc::new(AtomicBool::new(false)),
        move |i| candidate(shared2.clone(), i),
    )
    .await?;
    let elapsed = started.elapsed();
    run.end_timed(
        pooled
            .results
            .iter()
            .map(|(_, f)| f.samples.len() as u64)
            .sum(),
    );

    let mut all = Recorder::default();
    let mut steps: Vec<Recorder> = STEPS.iter().map(|_| Recorder::default()).collect();
    let mut unexpected: BTreeMap<String, u64> = BTreeMap::new();
    let (mut through, mut gave_up, mut repeats, mut polls) = (0usize, 0usize, 0u64, 0u64);
    let mut sent: HashMap<String, String> = HashMap::new();
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut registrations: HashSet<i64> = HashSet::new();
    for (i, flow) in &pooled.results {
        for sample in &flow.samples {
            let label = format!("{} {}", sample.step.request(), sample.label);
            all.record(&label, sample.latency, sample.ok);
            if !sample.ok {
                *unexpected.entry(label).or_default() += 1;
            }
            if sample.step != Step::Poll {
                let at = STEPS.iter().position(|s| *s == sample.step).unwrap_or(0);
                steps[at].record(&sample.label, sample.latency, sample.ok);
            }
        }
        if let Some(d) = flow.until_paid {
            steps[STEPS.len() - 1].record("paid", d, true);
        }
        through += usize::from(flow.through);
        gave_up += usize::from(flow.gave_up);
        repeats += u64::from(flow.repeats);
        polls += u64::from(flow.polls);
        if let Some(id) = flow.registration_id {
            registrations.insert(id);
        }
        if let (Some(no), true) = (&flow.out_trade_no, flow.notified) {
            sent.insert(no.clone(), ids::transaction_id(&run.run_id, *i));
            if flow.acknowledged {
                acknowledged.insert(no.clone());
            }
        }
    }
    let timed = all.figures(elapsed);
    let step_details: serde_json::Map<String, serde_json::Value> = STEPS
        .iter()
        .zip(steps)
        .map(|(s, r)| (s.name().to_string(), step_figures(&r.figures(elapsed))))
        .collect();
    let seconds = elapsed.as_secs_f64();
    let per_second = if seconds > 0.0 {
        (through as f64 / seconds * 10.0).round() / 10.0
    } else {
        0.0
    };
    let sample = |m: &BTreeMap<String, u64>| {
        m.iter()
            .take(6)
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };

    let mut checks = vec![
        Check::new(
            "completed within --max-seconds",
            !pooled.cut_short,
            format!(
                "{} of {} candidates started",
                pooled.results.len(),
                o.candidates
            ),
        ),
        Check::new(
            "every candidate through (paid and seen paid)",
            through == o.candidates,
            format!(
                "{through} of {} through; {gave_up} never saw paid within {} s",
                o.candidates,
                o.poll_limit.as_secs_f64()
            ),
        ),
        Check::new(
            "every answer as expected",
            timed.errors == 0,
            if unexpected.is_empty() {
                format!("{} answers", timed.requests)
            } else {
                format!("{} unexpected: {}", timed.errors, sample(&unexpected))
            },
        ),
    ];
    let mut database_skipped = None;
    match &db {
        Some(pool) => {
            checks.extend(checks::paid_once(pool, exam.id, &registrations, o.candidates).await?);
            checks.extend(
                checks::payment_checks(pool, exam.id, &sent, &acknowledged, &registrations).await?,
            );
            checks.extend(checks::seat_checks(pool, exam.id).await?);
            pool.close().await;
        }
        None => database_skipped = Some("no --database-url given".into()),
    }

    let parameters = BTreeMap::from([
        ("candidates".into(), json!(o.candidates)),
        ("concurrency".into(), json!(o.concurrency)),
        ("repeat_share".into(), json!(o.repeat_share)),
        ("instances".into(), json!(k)),
        (
            "poll_every_ms".into(),
            json!(o.poll_every.as_millis() as u64),
        ),
    ]);
    let details = BTreeMap::from([
        ("candidates_through".into(), json!(through)),
        ("candidates_per_second".into(), json!(per_second)),
        (
            "repeats".into(),
            json!({ "planned": repeats_total(o.candidates, o.repeat_share), "sent": repeats }),
        ),
        (
            "reads".into(),
            json!({ "total": polls, "per_candidate": (polls as f64 / pooled.results.len().max(1) as f64 * 100.0).round() / 100.0 }),
        ),
        ("photo_bytes".into(), json!(shared.photo.len())),
        ("steps".into(), step_details.into()),
    ]);
    Ok(run.finish(
        "opening",
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
    fn repeats_spread_evenly_and_alternate() {
        assert_eq!(repeats_total(1000, 0.2), 200);
        assert_eq!(repeats_total(30, 0.0), 0);
        assert_eq!(repeats_total(30, 1.0), 30);
        let kinds: Vec<bool> = (0..20).filter_map(|i| repeat_of(i, 0.2)).collect();
        assert_eq!(kinds, vec![true, false, true, false]);
    }

    #[test]
    fn the_photo_fits_the_default_rules() {
        let rules = examdesk_tickets::photo::PhotoRules::default();
        let info = PhotoRulesInfo {
            min_width: rules.min_width,
            min_height: rules.min_height,
            aspect_width: rules.aspect_width,
            aspect_height: rules.aspect_height,
            max_bytes: rules.max_bytes,
        };
        let bytes = photo_for(Some(info)).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (300, 400));
        assert!(rules.fits_aspect(img.width(), img.height()));
    }
}
