//! The command line: `serve [--demo]`, `simulator`, `migrate`, `admin create`,
//! `exam create`. Every failure becomes one line on stderr and a non-zero exit status.

use crate::domain::states::ExamReview;
use std::io::BufRead;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Settings, Source};
use crate::db::{self, Db, admins};
use crate::domain::exam::{ExamField, ExamRule, NewExam};
use crate::util::parse_rfc3339;

#[derive(Debug, Parser)]
#[command(
    name = "examdesk",
    version,
    about = "Exam registration with WeChat Pay and admission tickets"
)]
pub struct Cli {
    /// Optional settings file (same keys as the environment, in lower case).
    #[arg(long, global = true, default_value = "examdesk.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve HTTP (demo mode when no WECHAT_MCH_ID is set).
    Serve {
        /// Demo mode even when WeChat settings exist.
        #[arg(long)]
        demo: bool,
    },
    /// Run the WeChat simulator alone.
    Simulator {
        #[arg(long, default_value = "127.0.0.1:8081")]
        bind: std::net::SocketAddr,
    },
    /// Apply migrations and exit.
    Migrate,
    /// Manage staff accounts.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Manage exams.
    Exam {
        #[command(subcommand)]
        action: ExamCommand,
    },
    /// Compare one day's WeChat bill with the payments and refunds recorded here; exit 0 when
    /// both agree, 1 when there are differences, 2 when the bill could not be had.
    Reconcile {
        /// The day, in Beijing time.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin; the password comes from EXAMDESK_ADMIN_PASSWORD or one line of stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "admin", value_parser = ["admin", "finance", "viewer"])]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExamCommand {
    /// Create an exam open for registration; prints its id.
    Create {
        #[arg(long)]
        code: String,
        #[arg(long)]
        title: String,
        #[arg(long, allow_negative_numbers = true)]
        fee_fen: i64,
        #[arg(long, allow_negative_numbers = true)]
        capacity: i64,
        #[arg(long)]
        opens: String,
        #[arg(long)]
        closes: String,
        #[arg(long)]
        starts: String,
        #[arg(long, default_value = "")]
        venue: String,
        /// `manual`: staff approve each registration before the candidate may pay.
        #[arg(long, default_value = "none", value_parser = ["none", "manual"])]
        review: String,
    },
}

pub fn load_settings(cli: &Cli) -> Result<Settings, String> {
    let mut source = Source::load(Some(&cli.config)).map_err(|e| e.to_string())?;
    if matches!(cli.command, Some(Command::Serve { demo: true })) {
        source = source.without_merchant();
    }
    Settings::from_source(&source).map_err(|e| e.to_string())
}

async fn connect_and_migrate(settings: &Settings) -> Result<Db, String> {
    let db = Db::connect(&settings.database_url)
        .await
        .map_err(|e| e.to_string())?;
    db::migrate(&db).await.map_err(|e| e.to_string())?;
    Ok(db)
}

/// Runs the command; the exit status it ends with.
pub async fn run(cli: Cli) -> Result<std::process::ExitCode, String> {
    let settings = load_settings(&cli)?;
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Reconcile { date } => reconcile(settings, &date).await,
        other => run_command(settings, other)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
    }
}

async fn reconcile(settings: Settings, date: &str) -> Result<std::process::ExitCode, String> {
    use crate::domain::states::BillCheckState;
    if settings.wechat.is_none() {
        return Err("reconcile needs the WeChat settings (WECHAT_MCH_ID and the others)".into());
    }
    let state = crate::app::prepare(settings, false).await?;
    let report = crate::payments::daily_bill::reconcile_day(&state.payments, date, true)
        .await
        .map_err(|e| e.to_string())?;
    let t = &report.totals;
    let yuan = wechat_pay_v2::bill::yuan;
    println!("{} {}", report.date, report.state);
    println!(
        "ours:   {} lines, paid {}, refunded {}",
        t.our_count,
        yuan(t.our_paid_fen),
        yuan(t.our_refund_fen)
    );
    println!(
        "WeChat: {} lines, paid {}, refunded {}, charges {}",
        t.bill_count,
        yuan(t.bill_paid_fen),
        yuan(t.bill_refund_fen),
        wechat_pay_v2::bill::yuan_charge(t.bill_charge_milli_fen)
    );
    for f in &report.findings {
        println!(
            "{} {} {} ours={} wechat={} {}",
            f.kind,
            f.out_trade_no,
            f.out_refund_no,
            f.ours_fen.map(yuan).unwrap_or_default(),
            f.bill_fen.map(yuan).unwrap_or_default(),
            f.detail
        );
    }
    state.db.close().await;
    Ok(match report.state {
        BillCheckState::Agreed | BillCheckState::NoBill => std::process::ExitCode::SUCCESS,
        BillCheckState::Differences | BillCheckState::Running => std::process::ExitCode::from(1),
        BillCheckState::Failed => std::process::ExitCode::from(2),
    })
}

async fn run_command(settings: Settings, command: Command) -> Result<(), String> {
    match command {
        Command::Reconcile { .. } => Err("reconcile is run by itself".into()),
        Command::Serve { demo } => crate::serve::serve(settings, demo).await,
        Command::Simulator { bind } => crate::serve::run_simulator(settings, bind).await,
        Command::Migrate => {
            let db = connect_and_migrate(&settings).await?;
            println!("migrations applied; database is up to date");
            db.close().await;
            Ok(())
        }
        Command::Admin {
            action: AdminCommand::Create { username, role },
        } => {
            let role = admins::Role::parse(&role).ok_or("--role: admin, finance or viewer")?;
            let password = read_password()?;
            let db = connect_and_migrate(&settings).await?;
            let id = admins::create(&db, &username, &password, role)
                .await
                .map_err(|e| e.to_string())?;
            db.close().await;
            println!("admin {username} created (id {id}, role {})", role.as_str());
            Ok(())
        }
        Command::Exam {
            action:
                ExamCommand::Create {
                    code,
                    title,
                    fee_fen,
                    capacity,
                    opens,
                    closes,
                    starts,
                    venue,
                    review,
                },
        } => {
            let exam = NewExam {
                // Ticket numbers print the code in capitals; accept it typed either way.
                code: code.trim().to_ascii_uppercase(),
                title,
                fee_fen,
                capacity,
                opens_at: parse_rfc3339(&opens).map_err(|e| format!("--opens: {e}"))?,
                closes_at: parse_rfc3339(&closes).map_err(|e| format!("--closes: {e}"))?,
                starts_at: parse_rfc3339(&starts).map_err(|e| format!("--starts: {e}"))?,
                venue,
                review: review
                    .parse::<ExamReview>()
                    .map_err(|e| format!("--review: {e}"))?,
                late_minutes: crate::domain::exam::DEFAULT_LATE_MINUTES,
                photo_rules: examdesk_tickets::photo::PhotoRules::default(),
            };
            exam.validate().map_err(|rule| flag_error(&rule))?;
            let db = connect_and_migrate(&settings).await?;
            let id = db::exams::create(&db, &exam).await.map_err(|e| match e {
                db::exams::CreateExamError::Invalid(rule) => flag_error(&rule),
                other => other.to_string(),
            })?;
            db.close().await;
            println!("{id}");
            Ok(())
        }
    }
}

/// A broken exam rule as one line naming the flag to change.
fn flag_error(rule: &ExamRule) -> String {
    let flag = match rule.field() {
        ExamField::Code => "--code",
        ExamField::Title => "--title",
        ExamField::Fee => "--fee-fen",
        ExamField::Capacity | ExamField::Rooms => "--capacity",
        ExamField::Opens => "--opens",
        ExamField::Closes => "--closes",
        ExamField::Starts => "--starts",
        ExamField::Venue => "--venue",
        ExamField::Review => "--review",
        // The command line sets these to their defaults, which keep the rules; the admin form
        // changes them.
        ExamField::LateMinutes
        | ExamField::PhotoMinWidth
        | ExamField::PhotoMinHeight
        | ExamField::PhotoAspect
        | ExamField::PhotoTolerance
        | ExamField::PhotoMaxBytes => "exam settings",
    };
    format!("{flag}: {rule}")
}

fn read_password() -> Result<String, String> {
    if let Ok(password) = std::env::var("EXAMDESK_ADMIN_PASSWORD")
        && !password.is_empty()
    {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("no password: set EXAMDESK_ADMIN_PASSWORD or give one line on stdin".into());
    }
    Ok(password)
}
