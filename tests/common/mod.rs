//! The test harness: every test starts the real app on a random port with a fresh database and
//! talks to it over HTTP. With `EXAMDESK_TEST_DATABASE_URL=postgres://…` each test gets a database
//! of its own on that server; otherwise a SQLite file in a temporary folder.
//!
//! One tree for every test binary (`mod common;` in each `main.rs`) and for loadgen's smoke tests
//! (included there by `#[path]`): the app and its database here, the data tests make in
//! [`fixtures`], waiting in [`wait`], notifies in [`notify`], staff and paid candidates in [`staff`].
#![allow(dead_code)]

pub mod fixtures;
pub mod mtls;
pub mod notify;
pub mod staff;
pub mod wait;

use std::net::SocketAddr;

use examdesk::AppState;
use examdesk::config::{Settings, Source};
use tokio::sync::oneshot;

pub use fixtures::{ExamBuilder, id_number};
pub use wait::wait_until;

pub const PG_ENV: &str = "EXAMDESK_TEST_DATABASE_URL";

/// Why the PostgreSQL-only tests are ignored by default; also their failure when run without it.
pub const PG_ONLY: &str =
    "PostgreSQL only: run with EXAMDESK_TEST_DATABASE_URL=postgres://… and --include-ignored";

/// A fresh, empty database for one test; a PostgreSQL one is dropped when the test ends.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        examdesk::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) {
            Some(server) => {
                let name = format!("examdesk_t_{}", examdesk::util::random_hex(6));
                let mut admin = sqlx_pg_admin(&server).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let url = replace_db_name(&server, &name);
                Self {
                    url,
                    dir,
                    pg: Some((server, name)),
                }
            }
            None => {
                let url = format!("sqlite://{}/examdesk.db", dir.path().display());
                Self { url, dir, pg: None }
            }
        }
    }

    /// A fresh PostgreSQL database, for the tests that need what SQLite cannot give (several
    /// instances on one database); fails the test when no PostgreSQL server is given.
    pub async fn postgres() -> Self {
        let db = Self::new().await;
        assert!(db.is_postgres(), "{PG_ONLY}");
        db
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The same database for a second instance (with a data folder of its own); dropping it
    /// leaves the database to the original.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            pg: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.pg.take() {
            // Dropping runs outside the test's runtime, which may already be shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        let mut admin = sqlx_pg_admin(&server).await;
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await;
                    });
                }
            })
            .join();
        }
    }
}

async fn sqlx_pg_admin(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to the PostgreSQL test server")
}

fn replace_db_name(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("EXAMDESK_TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub url: String,
    /// `http://…/metrics` of the app's metrics listener, when `EXAMDESK_METRICS_BIND` was given.
    pub metrics_url: Option<String>,
    pub state: AppState,
    pub http: reqwest::Client,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the app with extra settings, as the environment would give them.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new().await;
        Self::spawn_on(db, extra, examdesk::build_app).await
    }

    /// Starts the app on `db`, letting the test wrap the router (e.g. to add a slow route).
    pub async fn spawn_on(
        db: TestDb,
        extra: &[(&str, &str)],
        make_router: impl FnOnce(AppState) -> axum::Router,
    ) -> Self {
        Self::spawn_adjusted(db, extra, |_| {}, make_router).await
    }

    /// [`Self::spawn_on`], with the settings adjusted where no environment variable reaches
    /// (e.g. a test CA to trust).
    pub async fn spawn_adjusted(
        db: TestDb,
        extra: &[(&str, &str)],
        adjust: impl FnOnce(&mut Settings),
        make_router: impl FnOnce(AppState) -> axum::Router,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let url = format!("http://{addr}");
        let data_dir = db.dir.path().join("data");
        let mut pairs: Vec<(String, String)> = vec![
            ("EXAMDESK_BIND".into(), addr.to_string()),
            ("EXAMDESK_PUBLIC_URL".into(), url.clone()),
            ("EXAMDESK_DATABASE_URL".into(), db.url.clone()),
            ("EXAMDESK_DATA_DIR".into(), data_dir.display().to_string()),
            ("EXAMDESK_SIM_TIME_SCALE".into(), "0.001".into()),
            // Every test client comes from 127.0.0.1; the tests of the limit set it themselves.
            ("EXAMDESK_UNPAID_HOLDS_PER_ADDRESS".into(), "0".into()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut settings =
            Settings::from_source(&Source::from_pairs(pairs)).expect("test settings");
        adjust(&mut settings);
        // With merchant settings the app talks to a WeChat (simulator) of the test's; else demo mode.
        let demo = !extra.iter().any(|(k, _)| *k == "WECHAT_MCH_ID");
        let state = examdesk::app::prepare(settings, demo)
            .await
            .expect("app prepares");
        let router = make_router(state.clone());
        let metrics_url = match state.settings.metrics_bind {
            // Serves until the test's runtime ends, as the process's signal would end it.
            Some(bind) => {
                let metrics = examdesk::telemetry::start(bind, std::future::pending())
                    .await
                    .expect("metrics listener starts");
                Some(format!("http://{}/metrics", metrics.addr))
            }
            None => None,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let limits = state.settings.connections;
        let server = tokio::spawn(examdesk::app::serve(listener, router, limits, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            url,
            metrics_url,
            state,
            http: reqwest::Client::new(),
            db,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Asks the server to stop and waits until it has, as SIGTERM would.
    pub async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl TestApp {
    /// Signs in through the simulator's jscode2session; the same code is the same candidate.
    pub async fn login(&self, code: &str) -> String {
        let res = self
            .http
            .post(self.at("/api/v1/login"))
            .json(&serde_json::json!({ "code": code }))
            .send()
            .await
            .expect("login request");
        assert_eq!(
            res.status(),
            200,
            "login failed: {}",
            res.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = res.json().await.expect("login JSON");
        body["token"].as_str().expect("token").to_string()
    }

    /// An exam to create, open for registration now unless told otherwise.
    pub fn exam(&self, code: &str) -> ExamBuilder<'_> {
        ExamBuilder::new(&self.state.db, code)
    }

    /// Registers `token`'s account for `exam_id` as `name` with ID number `id`; the status and
    /// the JSON answer.
    pub async fn register_person(
        &self,
        token: &str,
        exam_id: i64,
        name: &str,
        id: &str,
    ) -> (u16, serde_json::Value) {
        register_person(
            &self.http,
            &self.at("/api/v1/registrations"),
            token,
            exam_id,
            name,
            id,
        )
        .await
    }

    pub async fn register(&self, token: &str, exam_id: i64, seq: u32) -> reqwest::Response {
        self.http
            .post(self.at("/api/v1/registrations"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "exam_id": exam_id,
                "name": "张三",
                "id_number": id_number(seq),
                "phone": "13800138000",
            }))
            .send()
            .await
            .expect("register request")
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .get(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .post(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub fn simulator(&self) -> &wechat_pay_v2_simulator::Simulator {
        self.state
            .simulator
            .as_ref()
            .expect("tests run in demo mode with the simulator")
    }

    /// A single number from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::Row::try_get(
            &sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(&self.state.db.read)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            0,
        )
        .expect("a number")
    }

    /// Waits until the candidate API shows the registration with `status`; its JSON then.
    pub async fn wait_for_status(&self, token: &str, id: i64, status: &str) -> serde_json::Value {
        self.wait_for_registration(token, id, &format!("becomes {status}"), |body| {
            body["status"] == status
        })
        .await
    }

    /// Waits until the registration's JSON in the candidate API is as `wanted` says; that JSON.
    pub async fn wait_for_registration(
        &self,
        token: &str,
        id: i64,
        what: &str,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let path = format!("/api/v1/registrations/{id}");
        wait_until(&format!("registration {id} {what}"), async || {
            let (_, body) = self.get_json(token, &path).await;
            if wanted(&body) { Ok(body) } else { Err(body) }
        })
        .await
    }
}

/// [`TestApp::register_person`] with a client and URL of its own, for a task that outlives the
/// borrow of the app.
pub async fn register_person(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    exam_id: i64,
    name: &str,
    id: &str,
) -> (u16, serde_json::Value) {
    let res = http
        .post(url)
        .bearer_auth(token)
        .json(&serde_json::json!({
            "exam_id": exam_id,
            "name": name,
            "id_number": id,
            "phone": "13800138000",
        }))
        .send()
        .await
        .expect("register");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}
