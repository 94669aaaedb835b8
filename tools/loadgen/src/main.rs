//! `loadgen`: drives a running examdesk on loopback as the mini-program and as WeChat, prints
//! requests/s, latencies and errors, then checks the invariants through the database.
//!
//! ```sh
//! cargo run --release -p loadgen --bin loadgen -- notify-storm --orders 20000 --concurrency 64 \
//!     --database-url sqlite://data/examdesk.db --server-pid $(pgrep -n examdesk)
//! # a whole opening over two instances on one PostgreSQL database, one --server-pid each
//! cargo run --release -p loadgen --bin loadgen -- opening --candidates 2000 \
//!     --url http://127.0.0.1:8081 --also-url http://127.0.0.1:8082 \
//!     --server-pid $PID_A --server-pid $PID_B --database-url postgres://…/examdesk
//! ```
//!
//! Exit status: 0 when every check held, 1 when one failed, 2 when the run could not be done.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use loadgen::{
    Merchant, NotifyStorm, Opening, RegistrationBurst, Report, Target, TicketDownloads,
    WechatFaults, run_notify_storm, run_opening, run_registration_burst, run_ticket_downloads,
};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load scenarios against a running examdesk on loopback, with invariant checks"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Clone)]
struct Common {
    /// Base URL of the running examdesk; only loopback addresses are accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's database (same URL as its EXAMDESK_DATABASE_URL, same working folder for a
    /// relative SQLite path), for the invariant checks.
    #[arg(long, env = "EXAMDESK_DATABASE_URL")]
    database_url: Option<String>,
    /// The whole run, preparation included, stops after this many seconds.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// One request gives up after this many seconds.
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// Samples the server's resident memory (VmRSS) from /proc during the run. Repeatable, one
    /// per instance: each one's memory is sampled and their CPU is added up.
    #[arg(long = "server-pid", value_name = "PID")]
    server_pid: Vec<u32>,
    /// Names this run's candidates and transaction ids (letters and digits); random by default.
    #[arg(long)]
    run_id: Option<String>,
    /// Requests in flight during the untimed preparation.
    #[arg(long, default_value_t = 32)]
    prepare_concurrency: usize,
    /// Writes the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct MerchantArgs {
    /// The merchant API key that signs notifies (the demo merchant's by default).
    #[arg(long, env = "WECHAT_API_KEY", hide_env_values = true, default_value = examdesk::demo::DEMO_API_KEY, hide_default_value = true)]
    api_key: String,
    #[arg(long, default_value = examdesk::demo::DEMO_APPID)]
    appid: String,
    #[arg(long, default_value = examdesk::demo::DEMO_MCH_ID)]
    mch_id: String,
}

#[derive(Subcommand)]
enum Scenario {
    /// Orders made ready through the API, then signed payment notifies at a set concurrency with
    /// a share of repeats; only the notifies are timed.
    NotifyStorm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        merchant: MerchantArgs,
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Repeats as a share of --orders; half sent together with the original, half later.
        #[arg(long, default_value_t = 0.2)]
        repeat_share: f64,
        /// Default: the first open exam with enough seats left.
        #[arg(long)]
        exam_id: Option<i64>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Another instance of the service (repeatable): notifies go to --url and these in turn.
        #[arg(long = "also-url", value_name = "URL")]
        also_url: Vec<String>,
        /// Send a notify that was not acknowledged again after this many milliseconds, to the
        /// next instance, until SUCCESS — as WeChat does. Off by default: then every first answer
        /// must be SUCCESS.
        #[arg(long, value_name = "MS")]
        resend_ms: Option<u64>,
        /// The simulator the service talks to as WeChat: with it, --lost-share of the orders are
        /// paid at WeChat with their notifies lost (the service must find them by querying) while
        /// --wechat-fail-rate of the service's calls to WeChat fail with HTTP 500.
        #[arg(long, value_name = "URL")]
        simulator_url: Option<String>,
        #[arg(long, default_value_t = 0.1, requires = "simulator_url")]
        lost_share: f64,
        #[arg(long, default_value_t = 0.3, requires = "simulator_url")]
        wechat_fail_rate: f64,
    },
    /// N signed-in candidates racing to register for an exam of capacity C; only the
    /// registrations are timed.
    RegistrationBurst {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 1000)]
        candidates: usize,
        /// With --database-url and no --exam-id: creates an exam with this many seats.
        /// With --exam-id: checked against the exam.
        #[arg(long)]
        capacity: Option<i64>,
        #[arg(long)]
        exam_id: Option<i64>,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
    },
    /// Paid candidates (paid by signed notifies beforehand) fetching their ticket PDFs; only the
    /// downloads are timed.
    TicketDownloads {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        merchant: MerchantArgs,
        #[arg(long, default_value_t = 100)]
        candidates: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Downloads per candidate.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        #[arg(long)]
        exam_id: Option<i64>,
    },
    /// A whole registration opening: each candidate signs in, lists the exams, registers, uploads
    /// a photo, orders, is paid by a signed notify (some twice) and reads its registration until
    /// it shows paid; the whole flow is timed.
    Opening {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        merchant: MerchantArgs,
        #[arg(long, default_value_t = 1000)]
        candidates: usize,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Share of the candidates whose notify is sent twice: half at the same moment as the
        /// original, half after the candidate saw paid.
        #[arg(long, default_value_t = 0.2)]
        repeat_share: f64,
        /// Default: the first open exam with enough seats left; with none and --database-url,
        /// one seating exactly the candidates is created.
        #[arg(long)]
        exam_id: Option<i64>,
        /// Another instance on the same database (repeatable): candidate i makes every call to
        /// instance i mod k (--url first), its notify goes to the next instance.
        #[arg(long = "also-url", value_name = "URL")]
        also_url: Vec<String>,
        /// Pause between two reads of a registration not yet paid.
        #[arg(long, default_value_t = 10)]
        poll_ms: u64,
        /// A candidate gives up when its registration does not show paid this many seconds after
        /// its notify was acknowledged.
        #[arg(long, default_value_t = 10)]
        poll_seconds: u64,
    },
}

fn target(c: &Common) -> Target {
    let mut t = Target::new(c.url.clone());
    t.database_url = c.database_url.clone();
    t.max_duration = Duration::from_secs(c.max_seconds);
    t.request_timeout = Duration::from_secs(c.request_timeout);
    t.server_pid = c.server_pid.first().copied();
    t.also_server_pids = c.server_pid.iter().skip(1).copied().collect();
    if let Some(id) = &c.run_id {
        t.run_id = id.clone();
    }
    t.prepare_concurrency = c.prepare_concurrency.max(1);
    t.progress = !c.quiet;
    t
}

fn merchant(m: &MerchantArgs) -> Merchant {
    Merchant {
        appid: m.appid.clone(),
        mch_id: m.mch_id.clone(),
        api_key: m.api_key.clone(),
    }
}

async fn run(cli: Cli) -> Result<(Report, Option<PathBuf>)> {
    let (report, json) = match cli.scenario {
        Scenario::NotifyStorm {
            common,
            merchant: m,
            orders,
            concurrency,
            repeat_share,
            exam_id,
            seed,
            also_url,
            resend_ms,
            simulator_url,
            lost_share,
            wechat_fail_rate,
        } => {
            let mut s = NotifyStorm::new(target(&common), orders);
            s.merchant = merchant(&m);
            s.concurrency = concurrency;
            s.repeat_share = repeat_share;
            s.exam_id = exam_id;
            s.seed = seed;
            s.also = also_url;
            s.resend = resend_ms.map(Duration::from_millis);
            s.wechat = simulator_url.map(|simulator_url| WechatFaults {
                simulator_url,
                lost_share,
                fail_rate: wechat_fail_rate,
            });
            (run_notify_storm(&s).await?, common.json)
        }
        Scenario::RegistrationBurst {
            common,
            candidates,
            capacity,
            exam_id,
            concurrency,
        } => {
            let mut b = RegistrationBurst::new(target(&common), candidates);
            b.capacity = capacity;
            b.exam_id = exam_id;
            b.concurrency = concurrency;
            (run_registration_burst(&b).await?, common.json)
        }
        Scenario::TicketDownloads {
            common,
            merchant: m,
            candidates,
            concurrency,
            rounds,
            exam_id,
        } => {
            let mut t = TicketDownloads::new(target(&common), candidates);
            t.merchant = merchant(&m);
            t.concurrency = concurrency;
            t.rounds = rounds;
            t.exam_id = exam_id;
            (run_ticket_downloads(&t).await?, common.json)
        }
        Scenario::Opening {
            common,
            merchant: m,
            candidates,
            concurrency,
            repeat_share,
            exam_id,
            also_url,
            poll_ms,
            poll_seconds,
        } => {
            let mut o = Opening::new(target(&common), candidates);
            o.merchant = merchant(&m);
            o.concurrency = concurrency;
            o.repeat_share = repeat_share;
            o.exam_id = exam_id;
            o.also = also_url;
            o.poll_every = Duration::from_millis(poll_ms);
            o.poll_limit = Duration::from_secs(poll_seconds);
            (run_opening(&o).await?, common.json)
        }
    };
    Ok((report, json))
}

#[tokio::main]
async fn main() -> ExitCode {
    examdesk::install_crypto_provider();
    let cli = Cli::parse();
    match run(cli).await {
        Ok((report, json)) => {
            println!("{report}");
            if let Some(path) = json {
                let written = serde_json::to_string_pretty(&report)
                    .context("encoding the report")
                    .and_then(|text| {
                        std::fs::write(&path, text + "\n")
                            .with_context(|| format!("--json {}", path.display()))
                    });
                if let Err(e) = written {
                    eprintln!("loadgen: {e:#}");
                    return ExitCode::from(2);
                }
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}
