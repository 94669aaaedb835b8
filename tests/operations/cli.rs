//! The `examdesk` binary as an operator runs it: each command's success and errors, settings
//! errors that name their setting, and a clean stop on SIGTERM.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::{TestDb, wait_until};

pub(crate) fn examdesk(
    db: &TestDb,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_examdesk"));
    cmd.args(args)
        .current_dir(db.dir.path())
        .env_clear()
        .env("EXAMDESK_DATABASE_URL", &db.url)
        .env("EXAMDESK_DATA_DIR", db.dir.path().join("data"))
        .env("EXAMDESK_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("examdesk starts");
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().expect("examdesk ends")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A failure is exactly one line on stderr, naming what is wrong.
fn assert_fails_naming(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected failure, got success: {}",
        stdout(out)
    );
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err}");
    assert!(
        lines[0].contains(needle),
        "expected {needle:?} in {:?}",
        lines[0]
    );
}

const EXAM: [&str; 16] = [
    "exam",
    "create",
    "--code",
    "CET2026",
    "--title",
    "2026年英语等级考试",
    "--fee-fen",
    "5000",
    "--capacity",
    "300",
    "--opens",
    "2026-01-01T00:00:00+08:00",
    "--closes",
    "2026-12-01T00:00:00+08:00",
    "--starts",
    "2026-12-20T09:00:00+08:00",
];

fn exam_with(replace: &str, value: &str) -> Vec<String> {
    let mut args: Vec<String> = EXAM.iter().map(|s| s.to_string()).collect();
    let pos = args.iter().position(|a| a == replace).expect("flag exists");
    args[pos + 1] = value.to_string();
    args
}

fn run_args(db: &TestDb, args: &[String]) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    examdesk(db, &refs, &[], None)
}

#[tokio::test]
async fn exam_create_prints_the_id_and_refuses_bad_values() {
    let db = TestDb::new().await;
    let out = examdesk(&db, &EXAM, &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let id: i64 = stdout(&out)
        .trim()
        .parse()
        .expect("prints the new exam's id");
    assert!(id > 0);

    assert_fails_naming(&examdesk(&db, &EXAM, &[], None), "already exists");
    assert_fails_naming(&run_args(&db, &exam_with("--fee-fen", "0")), "--fee-fen");
    assert_fails_naming(&run_args(&db, &exam_with("--capacity", "0")), "--capacity");
    // 99 rooms of 999 seats is all a ticket number can print.
    assert_fails_naming(&run_args(&db, &exam_with("--capacity", "98902")), "98901");
    let most = run_args(&db, &exam_with("--capacity", "98901"));
    assert_fails_naming(&most, "already exists");
    assert_fails_naming(
        &run_args(&db, &exam_with("--opens", "2026-12-02T00:00:00+08:00")),
        "--opens",
    );
    assert_fails_naming(
        &run_args(&db, &exam_with("--starts", "2026-11-01T00:00:00+08:00")),
        "--closes",
    );
    assert_fails_naming(&run_args(&db, &exam_with("--opens", "tomorrow")), "--opens");
}

#[tokio::test]
async fn exam_create_takes_the_review_mode() {
    let db = TestDb::new().await;
    let mut args: Vec<String> = exam_with("--code", "REVIEW1");
    args.extend(["--review".to_string(), "manual".to_string()]);
    let out = run_args(&db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let id: i64 = stdout(&out).trim().parse().expect("prints the id");
    let stored = examdesk::db::Db::connect(&db.url).await.expect("connect");
    let reviewed = examdesk::db::exams::get(&stored, id)
        .await
        .expect("read")
        .expect("exam stored");
    assert_eq!(reviewed.review.as_str(), "manual");

    let out = run_args(&db, &exam_with("--code", "REVIEW2"));
    assert!(out.status.success(), "{}", stderr(&out));
    let id: i64 = stdout(&out).trim().parse().expect("prints the id");
    let plain = examdesk::db::exams::get(&stored, id).await.expect("read");
    assert_eq!(
        plain.expect("exam stored").review.as_str(),
        "none",
        "the default"
    );

    let mut args = exam_with("--code", "REVIEW3");
    args.extend(["--review".to_string(), "sometimes".to_string()]);
    let out = run_args(&db, &args);
    assert!(!out.status.success(), "an unknown review mode is refused");
    assert!(stderr(&out).contains("--review"), "{}", stderr(&out));
}

#[tokio::test]
async fn admin_create_takes_the_password_from_env_or_stdin() {
    let db = TestDb::new().await;
    let out = examdesk(
        &db,
        &["admin", "create", "--username", "alice"],
        &[("EXAMDESK_ADMIN_PASSWORD", "correct horse battery")],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("alice"));

    let out = examdesk(
        &db,
        &["admin", "create", "--username", "bob", "--role", "finance"],
        &[],
        Some("another long password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("finance"));

    assert_fails_naming(
        &examdesk(
            &db,
            &["admin", "create", "--username", "alice"],
            &[("EXAMDESK_ADMIN_PASSWORD", "correct horse battery")],
            None,
        ),
        "already exists",
    );
    assert_fails_naming(
        &examdesk(
            &db,
            &["admin", "create", "--username", "carol"],
            &[],
            Some("short\n"),
        ),
        "at least 10",
    );
    assert_fails_naming(
        &examdesk(
            &db,
            &["admin", "create", "--username", "dave"],
            &[],
            Some(""),
        ),
        "no password",
    );
    assert_fails_naming(
        &examdesk(
            &db,
            &["admin", "create", "--username", "a b"],
            &[("EXAMDESK_ADMIN_PASSWORD", "correct horse battery")],
            None,
        ),
        "--username",
    );
    let out = examdesk(
        &db,
        &["admin", "create", "--username", "eve", "--role", "root"],
        &[],
        Some("long enough password\n"),
    );
    assert!(!out.status.success(), "an unknown role is refused");
}

#[tokio::test]
async fn bad_settings_stop_start_up_with_one_line_naming_the_setting() {
    let db = TestDb::new().await;
    let cases: [(&str, &str, &str); 6] = [
        (
            "EXAMDESK_DATABASE_URL",
            "mysql://localhost/x",
            "EXAMDESK_DATABASE_URL",
        ),
        ("EXAMDESK_PUBLIC_URL", "exam desk", "EXAMDESK_PUBLIC_URL"),
        ("WECHAT_API_KEY", "only-20-characters!!", "WECHAT_API_KEY"),
        ("WECHAT_SIGN_TYPE", "SHA1", "WECHAT_SIGN_TYPE"),
        (
            "WECHAT_CLIENT_CERT",
            "/nonexistent/apiclient_cert.pem",
            "WECHAT_CLIENT_CERT",
        ),
        ("EXAMDESK_BIND", "not-an-address", "EXAMDESK_BIND"),
    ];
    for (key, value, named) in cases {
        let out = examdesk(&db, &["serve"], &[(key, value)], None);
        assert_fails_naming(&out, named);
    }
    // The API key never appears in the error about it.
    let out = examdesk(
        &db,
        &["serve"],
        &[("WECHAT_API_KEY", "only-20-characters!!")],
        None,
    );
    assert!(!stderr(&out).contains("only-20-characters"));
}

#[tokio::test]
async fn a_p12_certificate_with_a_wrong_password_stops_start_up_naming_the_setting() {
    let db = TestDb::new().await;
    let p12 = crate::common::mtls::merchant_p12().display().to_string();
    let merchant = [
        ("WECHAT_APPID", examdesk::demo::DEMO_APPID),
        ("WECHAT_APP_SECRET", examdesk::demo::DEMO_APP_SECRET),
        ("WECHAT_MCH_ID", examdesk::demo::DEMO_MCH_ID),
        ("WECHAT_API_KEY", examdesk::demo::DEMO_API_KEY),
        ("WECHAT_CLIENT_CERT", p12.as_str()),
        ("WECHAT_CLIENT_P12_PASSWORD", "not-the-password"),
    ];
    let out = examdesk(&db, &["serve"], &merchant, None);
    assert_fails_naming(&out, "WECHAT_CLIENT_P12_PASSWORD");
    assert!(
        !stderr(&out).contains("not-the-password"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("apiclient_cert.p12"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn some_wechat_settings_without_the_rest_refuse_to_start_instead_of_demo_mode() {
    let db = TestDb::new().await;
    // The case: WECHAT_MCH_ID forgotten used to start demo mode with its published key.
    let partial = [
        ("WECHAT_APPID", "wx0123456789abcdef"),
        ("WECHAT_APP_SECRET", "an-app-secret"),
        ("WECHAT_API_KEY", "0123456789abcdef0123456789abcdef"),
    ];
    let out = examdesk(&db, &["serve"], &partial, None);
    assert_fails_naming(&out, "WECHAT_MCH_ID");
    assert!(
        !stderr(&out).contains("0123456789abcdef0123456789abcdef"),
        "the key stays out of the error: {}",
        stderr(&out)
    );
    let out = examdesk(&db, &["serve"], &partial[..1], None);
    assert_fails_naming(
        &out,
        "missing: WECHAT_APP_SECRET, WECHAT_MCH_ID, WECHAT_API_KEY",
    );
}

#[tokio::test]
async fn a_bind_address_in_use_is_named() {
    let db = TestDb::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = examdesk(&db, &["serve"], &[("EXAMDESK_BIND", &addr)], None);
    assert_fails_naming(&out, "EXAMDESK_BIND");
    assert!(stderr(&out).contains("already in use"));
}

#[tokio::test]
async fn migrate_applies_and_reports() {
    let db = TestDb::new().await;
    let out = examdesk(&db, &["migrate"], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("up to date"));
    let again = examdesk(&db, &["migrate"], &[], None);
    assert!(again.status.success(), "migrating twice is harmless");
}

fn free_bind() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// What a `serve` on `bind` over the test's database runs with.
fn serve_env(db: &TestDb, bind: &str) -> [(&'static str, String); 4] {
    [
        ("EXAMDESK_DATABASE_URL", db.url.clone()),
        (
            "EXAMDESK_DATA_DIR",
            db.dir.path().join("data").display().to_string(),
        ),
        ("EXAMDESK_BIND", bind.to_string()),
        ("EXAMDESK_LOG", "warn".to_string()),
    ]
}

#[cfg(unix)]
#[tokio::test]
async fn a_connection_cap_beyond_the_open_file_limit_is_lowered_with_a_warning() {
    use std::io::{BufRead, BufReader};
    let db = TestDb::new().await;
    let bind = free_bind();
    // A soft limit of 256 under a hard one of 512, as a cautious service manager might set.
    let mut child = Command::new("bash")
        .args([
            "-c",
            "ulimit -Sn 256 && ulimit -Hn 512 && exec \"$0\" serve --demo",
        ])
        .arg(env!("CARGO_BIN_EXE_examdesk"))
        .current_dir(db.dir.path())
        .env_clear()
        .envs(serve_env(&db, &bind))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read on a thread while the test waits for the service to answer.
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    wait_until("the service answers /healthz", async || {
        reqwest::get(format!("http://{bind}/healthz")).await
    })
    .await;
    send_signal(child.id(), 15);
    let _ = child.wait();
    // The process has ended, so its stderr has too: the lines run out, they cannot hang.
    let warning = seen
        .iter()
        .find(|line| line.contains("EXAMDESK_MAX_CONNECTIONS"))
        .expect("a warning names EXAMDESK_MAX_CONNECTIONS");
    assert!(
        warning.contains("may open only 512 files: serving at most 256 connections"),
        "the soft limit is raised to the hard one and the cap fitted under it: {warning}"
    );
}

#[tokio::test]
async fn demo_serve_prints_where_things_are_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let db = TestDb::new().await;
    let bind = free_bind();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_examdesk"))
            .current_dir(db.dir.path())
            .env_clear()
            .envs(serve_env(&db, &bind))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut banners = Vec::new();
    for _ in 0..2 {
        let mut child = start();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Stop with") {
                break;
            }
        }
        let health = reqwest::get(format!("http://{bind}/healthz"))
            .await
            .unwrap();
        assert_eq!(health.text().await.unwrap(), "ok");
        send_signal(child.id(), 15);
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "SIGTERM ends the server cleanly, got {status}"
        );
        banners.push(banner);
    }
    assert!(banners[0].contains("demo mode"), "{}", banners[0]);
    assert!(
        banners[0].contains("WARNING") && banners[0].contains("published demo API key"),
        "demo mode says loudly that anyone can mark orders paid: {}",
        banners[0]
    );
    assert!(banners[0].contains(&format!("http://{bind}/admin/login")));
    let password = |b: &str| -> String {
        let line = b
            .lines()
            .find(|l| l.contains("demo admin"))
            .expect("admin line")
            .to_string();
        line.split("password ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        password(&banners[0]),
        password(&banners[1]),
        "a second start keeps the password"
    );
    assert!(banners[1].contains("unchanged"));
    let pool = examdesk::db::Db::connect(&db.url).await.unwrap();
    let n: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM exams")
            .fetch_one(&pool.read)
            .await
            .unwrap(),
        "n",
    )
    .unwrap();
    assert_eq!(n, 1, "the demo exam is created once");
    for file in ["demo-admin-password", "secret"] {
        assert_eq!(
            mode_of(&db.dir.path().join("data").join(file)),
            0o600,
            "{file} is readable by its owner only"
        );
    }
}

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_files_are_readable_by_the_owner_only() {
    // On either test database: this is about the files SQLite makes, so it names its own.
    let db = TestDb::new().await;
    let file = db.dir.path().join("own").join("examdesk.db");
    let url = format!("sqlite://{}", file.display());
    let out = examdesk(&db, &["migrate"], &[("EXAMDESK_DATABASE_URL", &url)], None);
    assert!(out.status.success(), "{}", stderr(&out));
    // SQLite gives its -wal and -shm files the mode of this one.
    assert_eq!(mode_of(&file), 0o600, "the database file");
}

#[cfg(unix)]
fn send_signal(pid: u32, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[tokio::test]
async fn the_simulator_command_plays_wechat_on_its_own() {
    use std::io::{BufRead, BufReader};
    let db = TestDb::new().await;
    let bind = free_bind();
    let mut child = Command::new(env!("CARGO_BIN_EXE_examdesk"))
        .args(["simulator", "--bind", &bind])
        .current_dir(db.dir.path())
        .env_clear()
        .env("EXAMDESK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("WeChat simulator"), "{first}");
    let url = format!(
        "http://{bind}/sns/jscode2session?appid={}&secret={}&js_code=abc&grant_type=authorization_code",
        examdesk::demo::DEMO_APPID,
        examdesk::demo::DEMO_APP_SECRET
    );
    let answer = wait_until("the simulator answers jscode2session", async || {
        reqwest::get(&url).await
    })
    .await
    .text()
    .await
    .unwrap();
    assert!(answer.contains("openid"), "{answer}");
    assert!(!answer.contains("errcode\":40029"), "{answer}");
    send_signal(child.id(), 15);
    assert!(child.wait().unwrap().success());
}
