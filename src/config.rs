//! Settings from the environment and an optional `examdesk.toml`, validated once at start.
//!
//! Every failure names the setting it comes from, so an operator can fix it from one line of output.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use wechat_pay_v2::{Secret, SignType, WechatConfig};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{setting}: {problem}")]
pub struct SettingError {
    pub setting: String,
    pub problem: String,
}

fn bad(setting: &str, problem: impl Into<String>) -> SettingError {
    SettingError {
        setting: setting.to_string(),
        problem: problem.into(),
    }
}

/// How long and how many clients may hold the service (`EXAMDESK_HEADER_TIMEOUT_SECONDS`,
/// `EXAMDESK_BODY_TIMEOUT_SECONDS`, `EXAMDESK_KEEPALIVE_SECONDS`, `EXAMDESK_MAX_CONNECTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the moment the service waits for a request's head until the head is complete. Hyper
    /// also counts the wait for the next request on a kept-alive connection.
    pub header_timeout: Duration,
    /// From a request's head until its whole body has arrived (see `http/body_deadline.rs`).
    pub body_timeout: Duration,
    /// A kept-alive connection with no byte either way for this long is closed; `None`: every
    /// connection closes after its response.
    pub keepalive_idle: Option<Duration>,
    pub max_connections: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            keepalive_idle: Some(Duration::from_secs(5)),
            max_connections: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// The separate listener for `/metrics` (`EXAMDESK_METRICS_BIND`); `None`: no metrics.
    pub metrics_bind: Option<SocketAddr>,
    pub database_url: String,
    pub public_url: String,
    pub data_dir: PathBuf,
    /// `None` until resolved: then either given or generated into the data dir.
    pub secret: Option<Secret>,
    pub wechat: Option<WechatConfig>,
    pub sign_type: SignType,
    pub pay_base_url: Option<String>,
    pub api_base_url: Option<String>,
    pub order_ttl_minutes: i64,
    pub login_per_minute: u32,
    pub trusted_proxy: Option<std::net::IpAddr>,
    /// Seconds between background job passes; 0 runs none (tests drive them by hand).
    pub job_interval_seconds: u64,
    /// Days the short records of refused callbacks are kept
    /// (`EXAMDESK_REFUSED_CALLBACK_RETENTION_DAYS`).
    pub refused_callback_retention_days: i64,
    /// Unpaid holds per account and per client address (`EXAMDESK_UNPAID_HOLDS_PER_ACCOUNT`,
    /// `EXAMDESK_UNPAID_HOLDS_PER_ADDRESS`; 0 = no limit).
    pub hold_limits: crate::db::id_numbers::HoldLimits,
    /// SQLite's commit durability (`EXAMDESK_SQLITE_SYNCHRONOUS`, FULL by default).
    pub sqlite_durability: crate::db::Durability,
    /// Time limits and the cap on connections, against slow and idle clients.
    pub connections: ConnectionLimits,
    /// The simulator's clock: 1.0 replays WeChat's real notify schedule, 0.001 runs it in ms.
    pub sim_time_scale: f64,
}

pub use wechat_pay_v2::{DEFAULT_API_BASE_URL, DEFAULT_PAY_BASE_URL};

/// Where raw values come from: the environment wins over the file.
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    /// Reads `examdesk.toml` (if `file` exists) and then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingError> {
        Self::read(file, std::env::vars())
    }

    /// The file's settings, then those of `env` over them (the process's environment, or a test's).
    fn read(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingError> {
        let mut values = HashMap::new();
        if let Some(path) = file.filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(&path.display().to_string(), format!("cannot read: {e}")))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| bad(&path.display().to_string(), format!("not valid TOML: {e}")))?;
            for (key, value) in table {
                let text = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(bad(
                            &key.to_uppercase(),
                            format!(
                                "expected a string or number in {}, got {other}",
                                path.display()
                            ),
                        ));
                    }
                };
                values.insert(key.to_uppercase(), text);
            }
        }
        for (key, value) in env {
            if key.starts_with("EXAMDESK_") || key.starts_with("WECHAT_") {
                values.insert(key, value);
            }
        }
        Ok(Self { values })
    }

    /// The same values without the merchant settings: `serve --demo` ignores them.
    pub fn without_merchant(mut self) -> Self {
        for key in MERCHANT_SETTINGS {
            self.values.remove(key);
        }
        self
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

fn check_url(setting: &str, value: &str) -> Result<String, SettingError> {
    let url =
        url::Url::parse(value).map_err(|e| bad(setting, format!("not a URL ({e}): {value}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(
            setting,
            format!("must be an http(s) URL with a host, got {value}"),
        ));
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn check_database_url(value: &str) -> Result<String, SettingError> {
    const KEY: &str = "EXAMDESK_DATABASE_URL";
    if value.starts_with("sqlite:") {
        return Ok(value.to_string());
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        url::Url::parse(value)
            .map_err(|e| bad(KEY, format!("not a valid PostgreSQL URL ({e})")))?;
        return Ok(value.to_string());
    }
    Err(bad(KEY, "must start with sqlite:// or postgres://"))
}

fn parse_sign_type(value: Option<&str>) -> Result<SignType, SettingError> {
    match value {
        None => Ok(SignType::Md5),
        Some(text) => text.parse().map_err(|_| {
            bad(
                "WECHAT_SIGN_TYPE",
                format!("unknown sign type {text:?}: use MD5 or HMAC-SHA256"),
            )
        }),
    }
}

fn existing_file(setting: &str, value: Option<&str>) -> Result<Option<PathBuf>, SettingError> {
    let Some(value) = value else { return Ok(None) };
    let path = PathBuf::from(value);
    if !path.is_file() {
        return Err(bad(setting, format!("file does not exist: {value}")));
    }
    Ok(Some(path))
}

/// A PEM certificate needs its key file; WeChat's `.p12` holds both and is opened here, so that a
/// wrong password stops the start rather than the first refund.
fn check_certificate(
    cert: Option<&Path>,
    key: Option<&Path>,
    p12_password: Option<&Secret>,
    mch_id: Option<&str>,
) -> Result<(), SettingError> {
    match (cert, key) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(bad(
            "WECHAT_CLIENT_CERT",
            "the certificate and its key must be given together",
        )),
        (Some(cert), Some(_)) if wechat_pay_v2::tls::is_p12_path(cert) => Err(bad(
            "WECHAT_CLIENT_KEY",
            "not needed with a .p12 certificate, which holds the key: unset it",
        )),
        (Some(_), Some(_)) => Ok(()),
        (Some(cert), None) if !wechat_pay_v2::tls::is_p12_path(cert) => Err(bad(
            "WECHAT_CLIENT_KEY",
            "the certificate and its key must be given together (or name WeChat's apiclient_cert.p12)",
        )),
        (Some(cert), None) => {
            let (password, whose) = match (p12_password, mch_id) {
                (Some(p), _) => (p.expose(), "WECHAT_CLIENT_P12_PASSWORD"),
                (None, Some(mch_id)) => (mch_id, "the merchant id (WECHAT_MCH_ID)"),
                (None, None) => return Ok(()),
            };
            let bytes = std::fs::read(cert)
                .map_err(|e| bad("WECHAT_CLIENT_CERT", format!("{}: {e}", cert.display())))?;
            match wechat_pay_v2::tls::ClientIdentity::from_p12(&bytes, password) {
                Ok(_) => Ok(()),
                Err(wechat_pay_v2::tls::P12Error::WrongPassword) => Err(bad(
                    "WECHAT_CLIENT_P12_PASSWORD",
                    format!(
                        "{whose} does not open {}; set WECHAT_CLIENT_P12_PASSWORD to the certificate's password",
                        cert.display()
                    ),
                )),
                Err(e) => Err(bad(
                    "WECHAT_CLIENT_CERT",
                    format!("{}: {e}", cert.display()),
                )),
            }
        }
    }
}

/// The settings that make production mode: all of them, or none (demo mode).
pub const MERCHANT_SETTINGS: [&str; 4] = [
    "WECHAT_APPID",
    "WECHAT_APP_SECRET",
    "WECHAT_MCH_ID",
    "WECHAT_API_KEY",
];

/// Some merchant settings without the others would start demo mode, whose published key lets
/// anyone mark an order paid; so a partial set is refused, naming every missing setting.
pub fn check_merchant_complete(source: &Source) -> Result<(), SettingError> {
    let (present, missing): (Vec<&str>, Vec<&str>) = MERCHANT_SETTINGS
        .iter()
        .partition(|key| source.get(key).is_some());
    match missing.first() {
        Some(first) if !present.is_empty() => Err(bad(
            first,
            format!(
                "missing while {} set: production needs all of {} (missing: {}); \
                 set none of them, or pass --demo, for demo mode",
                present.join(", "),
                MERCHANT_SETTINGS.join(", "),
                missing.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

fn require(source: &Source, key: &str) -> Result<String, SettingError> {
    source
        .get(key)
        .map(str::to_string)
        .ok_or_else(|| bad(key, "must be set when WECHAT_MCH_ID is set"))
}

impl Settings {
    pub fn from_source(source: &Source) -> Result<Self, SettingError> {
        let bind_text = source.get("EXAMDESK_BIND").unwrap_or("127.0.0.1:8080");
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            bad(
                "EXAMDESK_BIND",
                format!("not an address:port, got {bind_text:?} (e.g. 127.0.0.1:8080)"),
            )
        })?;
        let metrics_bind = source
            .get("EXAMDESK_METRICS_BIND")
            .map(|v| {
                v.parse().map_err(|_| {
                    bad(
                        "EXAMDESK_METRICS_BIND",
                        format!("not an address:port, got {v:?} (e.g. 127.0.0.1:9090)"),
                    )
                })
            })
            .transpose()?;
        let database_url = check_database_url(
            source
                .get("EXAMDESK_DATABASE_URL")
                .unwrap_or("sqlite://data/examdesk.db"),
        )?;
        let public_url = match source.get("EXAMDESK_PUBLIC_URL") {
            Some(v) => check_url("EXAMDESK_PUBLIC_URL", v)?,
            None => format!("http://{bind}"),
        };
        let data_dir = PathBuf::from(source.get("EXAMDESK_DATA_DIR").unwrap_or("data"));
        let secret = match source.get("EXAMDESK_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(bad("EXAMDESK_SECRET", "must be at least 32 characters"));
            }
            Some(s) => Some(Secret::new(s)),
            None => None,
        };
        let sign_type = parse_sign_type(source.get("WECHAT_SIGN_TYPE"))?;
        let pay_base_url = source
            .get("WECHAT_PAY_BASE_URL")
            .map(|v| check_url("WECHAT_PAY_BASE_URL", v))
            .transpose()?;
        let api_base_url = source
            .get("WECHAT_API_BASE_URL")
            .map(|v| check_url("WECHAT_API_BASE_URL", v))
            .transpose()?;
        let client_cert = existing_file("WECHAT_CLIENT_CERT", source.get("WECHAT_CLIENT_CERT"))?;
        let client_key = existing_file("WECHAT_CLIENT_KEY", source.get("WECHAT_CLIENT_KEY"))?;
        if let Some(key) = source.get("WECHAT_API_KEY")
            && key.chars().count() != 32
        {
            return Err(bad(
                "WECHAT_API_KEY",
                format!("must be exactly 32 characters, got {}", key.chars().count()),
            ));
        }
        check_merchant_complete(source)?;
        let p12_password = source.get("WECHAT_CLIENT_P12_PASSWORD").map(Secret::new);
        check_certificate(
            client_cert.as_deref(),
            client_key.as_deref(),
            p12_password.as_ref(),
            source.get("WECHAT_MCH_ID"),
        )?;
        let wechat = match source.get("WECHAT_MCH_ID") {
            None => None,
            Some(mch_id) => Some(WechatConfig {
                appid: require(source, "WECHAT_APPID")?,
                app_secret: Secret::new(require(source, "WECHAT_APP_SECRET")?),
                mch_id: mch_id.to_string(),
                api_key: Secret::new(require(source, "WECHAT_API_KEY")?),
                sign_type,
                pay_base_url: pay_base_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PAY_BASE_URL.to_string()),
                api_base_url: api_base_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_string()),
                client_cert: client_cert.clone(),
                client_key: client_key.clone(),
                client_p12_password: p12_password.clone(),
                extra_root_certs: Vec::new(),
            }),
        };
        let order_ttl_minutes = parse_number(source, "EXAMDESK_ORDER_TTL_MINUTES", 30)?;
        if !(5..=7 * 24 * 60).contains(&order_ttl_minutes) {
            return Err(bad(
                "EXAMDESK_ORDER_TTL_MINUTES",
                "must be between 5 (WeChat closes no order younger than 5 minutes) and 10080",
            ));
        }
        let login_per_minute = parse_number(source, "EXAMDESK_LOGIN_PER_MINUTE", 60)?;
        let login_per_minute = u32::try_from(login_per_minute).map_err(|_| {
            bad(
                "EXAMDESK_LOGIN_PER_MINUTE",
                "must be 0 or a positive number",
            )
        })?;
        let trusted_proxy = source
            .get("EXAMDESK_TRUSTED_PROXY")
            .map(|v| {
                v.parse().map_err(|_| {
                    bad(
                        "EXAMDESK_TRUSTED_PROXY",
                        format!("not an IP address: {v:?}"),
                    )
                })
            })
            .transpose()?;
        let job_interval_seconds =
            u64::try_from(parse_number(source, "EXAMDESK_JOB_INTERVAL_SECONDS", 15)?).map_err(
                |_| {
                    bad(
                        "EXAMDESK_JOB_INTERVAL_SECONDS",
                        "must be 0 or a positive number",
                    )
                },
            )?;
        let refused_callback_retention_days =
            parse_number(source, "EXAMDESK_REFUSED_CALLBACK_RETENTION_DAYS", 7)?;
        if !(1..=3650).contains(&refused_callback_retention_days) {
            return Err(bad(
                "EXAMDESK_REFUSED_CALLBACK_RETENTION_DAYS",
                "must be between 1 and 3650 days",
            ));
        }
        let hold_limits = crate::db::id_numbers::HoldLimits {
            per_account: parse_limit(source, "EXAMDESK_UNPAID_HOLDS_PER_ACCOUNT", 3)?,
            per_address: parse_limit(source, "EXAMDESK_UNPAID_HOLDS_PER_ADDRESS", 30)?,
        };
        let sim_time_scale = match source.get("EXAMDESK_SIM_TIME_SCALE") {
            None => 1.0,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| {
                    bad(
                        "EXAMDESK_SIM_TIME_SCALE",
                        format!("not a positive number: {v:?}"),
                    )
                })?,
        };
        let sqlite_durability = match source
            .get("EXAMDESK_SQLITE_SYNCHRONOUS")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("FULL") => crate::db::Durability::Full,
            Some("NORMAL") => crate::db::Durability::Normal,
            Some(other) => {
                return Err(bad(
                    "EXAMDESK_SQLITE_SYNCHRONOUS",
                    format!("FULL (durable, the default) or NORMAL, got {other:?}"),
                ));
            }
        };
        Ok(Self {
            connections: connection_limits(source)?,
            sqlite_durability,
            sim_time_scale,
            job_interval_seconds,
            refused_callback_retention_days,
            hold_limits,
            bind,
            metrics_bind,
            database_url,
            public_url,
            data_dir,
            secret,
            wechat,
            sign_type,
            pay_base_url,
            api_base_url,
            order_ttl_minutes,
            login_per_minute,
            trusted_proxy,
        })
    }

    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The secret given in settings, or the one generated into the data dir on first start.
    pub fn resolve_secret(&mut self) -> Result<Secret, SettingError> {
        if let Some(secret) = &self.secret {
            return Ok(secret.clone());
        }
        let path = self.data_dir.join("secret");
        let secret = match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= 32 => text.trim().to_string(),
            Ok(_) => {
                return Err(bad(
                    "EXAMDESK_SECRET",
                    format!(
                        "{} holds a secret shorter than 32 characters",
                        path.display()
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let generated = crate::util::random_hex(32);
                std::fs::create_dir_all(&self.data_dir).map_err(|e| {
                    bad(
                        "EXAMDESK_DATA_DIR",
                        format!("cannot create {}: {e}", self.data_dir.display()),
                    )
                })?;
                write_private(&path, &generated).map_err(|e| {
                    bad(
                        "EXAMDESK_DATA_DIR",
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?;
                generated
            }
            Err(e) => {
                return Err(bad(
                    "EXAMDESK_DATA_DIR",
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        };
        let secret = Secret::new(secret);
        self.secret = Some(secret.clone());
        Ok(secret)
    }
}

fn connection_limits(source: &Source) -> Result<ConnectionLimits, SettingError> {
    let defaults = ConnectionLimits::default();
    let seconds = |key: &str, default: Duration, least: u64| -> Result<Duration, SettingError> {
        let default = i64::try_from(default.as_secs()).unwrap_or(i64::MAX);
        u64::try_from(parse_number(source, key, default)?)
            .ok()
            .filter(|n| (least..=3600).contains(n))
            .map(Duration::from_secs)
            .ok_or_else(|| bad(key, format!("must be between {least} and 3600 seconds")))
    };
    let keepalive = seconds(
        "EXAMDESK_KEEPALIVE_SECONDS",
        defaults.keepalive_idle.unwrap_or_default(),
        0,
    )?;
    let max_connections = parse_number(
        source,
        "EXAMDESK_MAX_CONNECTIONS",
        i64::from(defaults.max_connections),
    )?;
    Ok(ConnectionLimits {
        header_timeout: seconds(
            "EXAMDESK_HEADER_TIMEOUT_SECONDS",
            defaults.header_timeout,
            1,
        )?,
        body_timeout: seconds("EXAMDESK_BODY_TIMEOUT_SECONDS", defaults.body_timeout, 1)?,
        keepalive_idle: (!keepalive.is_zero()).then_some(keepalive),
        max_connections: u32::try_from(max_connections)
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| bad("EXAMDESK_MAX_CONNECTIONS", "must be between 1 and 1000000"))?,
    })
}

/// A count where `0` turns the limit off.
fn parse_limit(source: &Source, key: &str, default: i64) -> Result<u32, SettingError> {
    u32::try_from(parse_number(source, key, default)?)
        .map_err(|_| bad(key, "must be 0 (no limit) or a positive number"))
}

fn parse_number(source: &Source, key: &str, default: i64) -> Result<i64, SettingError> {
    match source.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| bad(key, format!("not a whole number: {v:?}"))),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    // create_new: two instances starting at once must not each write a different secret.
    let mut file = crate::util::private_file_options()
        .create_new(true)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        Settings::from_source(&Source::from_pairs(pairs.iter().copied()))
    }

    fn setting_of(pairs: &[(&str, &str)]) -> String {
        match settings(pairs) {
            Ok(_) => "accepted".into(),
            Err(e) => e.setting,
        }
    }

    const MERCHANT: [(&str, &str); 4] = [
        ("WECHAT_MCH_ID", "10000100"),
        ("WECHAT_APPID", "wxd930ea5d5a258f4f"),
        ("WECHAT_APP_SECRET", "app-secret-value"),
        ("WECHAT_API_KEY", "192006250b4c09247ec02edce69f6a2d"),
    ];

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://data/examdesk.db");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.order_ttl_minutes, 30);
        assert_eq!(s.login_per_minute, 60);
        assert!(s.wechat.is_none(), "no merchant id means demo mode");
        assert_eq!(s.metrics_bind, None, "no metrics unless asked for");
        let limits = s.connections;
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.body_timeout, Duration::from_secs(20));
        assert_eq!(limits.keepalive_idle, Some(Duration::from_secs(5)));
        assert_eq!(limits.max_connections, 10_000);
    }

    #[test]
    fn merchant_settings_without_the_merchant_id_are_refused_naming_it() {
        // The case: three of four set, WECHAT_MCH_ID forgotten, used to start demo mode.
        let err = settings(&MERCHANT[1..]).unwrap_err();
        assert_eq!(err.setting, "WECHAT_MCH_ID");
        assert!(err.problem.contains("missing: WECHAT_MCH_ID"), "{err}");
        // Each missing setting is named, not only the first.
        let err = settings(&MERCHANT[..2]).unwrap_err();
        assert!(
            err.problem
                .contains("missing: WECHAT_APP_SECRET, WECHAT_API_KEY"),
            "{err}"
        );
        assert!(settings(&MERCHANT).unwrap().wechat.is_some());
        assert!(settings(&[]).unwrap().wechat.is_none());
        // `serve --demo` drops them before they are checked.
        let demo = Source::from_pairs(MERCHANT[1..].iter().copied()).without_merchant();
        assert!(Settings::from_source(&demo).unwrap().wechat.is_none());
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        assert_eq!(
            setting_of(&[("EXAMDESK_DATABASE_URL", "mysql://x")]),
            "EXAMDESK_DATABASE_URL"
        );
        assert_eq!(
            setting_of(&[("EXAMDESK_PUBLIC_URL", "not a url")]),
            "EXAMDESK_PUBLIC_URL"
        );
        assert_eq!(
            setting_of(&[("EXAMDESK_BIND", "localhost")]),
            "EXAMDESK_BIND"
        );
        assert_eq!(
            setting_of(&[("WECHAT_SIGN_TYPE", "SHA1")]),
            "WECHAT_SIGN_TYPE"
        );
        assert_eq!(setting_of(&[("WECHAT_API_KEY", "short")]), "WECHAT_API_KEY");
        assert_eq!(
            setting_of(&[("WECHAT_CLIENT_CERT", "/nonexistent/apiclient_cert.pem")]),
            "WECHAT_CLIENT_CERT"
        );
        assert_eq!(
            setting_of(&[("EXAMDESK_ORDER_TTL_MINUTES", "x")]),
            "EXAMDESK_ORDER_TTL_MINUTES"
        );
        assert_eq!(
            setting_of(&[("EXAMDESK_SECRET", "too-short")]),
            "EXAMDESK_SECRET"
        );
        assert_eq!(
            setting_of(&[("EXAMDESK_TRUSTED_PROXY", "proxy")]),
            "EXAMDESK_TRUSTED_PROXY"
        );
        assert_eq!(setting_of(&[("WECHAT_MCH_ID", "10000100")]), "WECHAT_APPID");
        assert_eq!(
            setting_of(&[("EXAMDESK_METRICS_BIND", "9090")]),
            "EXAMDESK_METRICS_BIND"
        );
        assert_eq!(
            setting_of(&[("EXAMDESK_SQLITE_SYNCHRONOUS", "OFF")]),
            "EXAMDESK_SQLITE_SYNCHRONOUS"
        );
        assert_eq!(
            setting_of(&[("EXAMDESK_SIM_TIME_SCALE", "-1")]),
            "EXAMDESK_SIM_TIME_SCALE"
        );
        for (key, value) in [
            ("EXAMDESK_HEADER_TIMEOUT_SECONDS", "0"),
            ("EXAMDESK_BODY_TIMEOUT_SECONDS", "3601"),
            ("EXAMDESK_KEEPALIVE_SECONDS", "-1"),
            ("EXAMDESK_MAX_CONNECTIONS", "0"),
            ("EXAMDESK_MAX_CONNECTIONS", "many"),
        ] {
            assert_eq!(setting_of(&[(key, value)]), key, "{key}={value}");
        }
        let off = settings(&[("EXAMDESK_KEEPALIVE_SECONDS", "0")]).unwrap();
        assert_eq!(
            off.connections.keepalive_idle, None,
            "0 turns keep-alive off"
        );
    }

    fn test_cert(name: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        dir.join("crates/wechat-pay-v2/tests/data")
            .join(name)
            .display()
            .to_string()
    }

    fn with_merchant(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        MERCHANT
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn merchant_setting_of(extra: &[(&str, &str)]) -> Result<Settings, SettingError> {
        Settings::from_source(&Source::from_pairs(with_merchant(extra)))
    }

    #[test]
    fn a_p12_certificate_needs_no_key_and_opens_with_the_merchant_id() {
        let p12 = test_cert("apiclient_cert.p12");
        let s = merchant_setting_of(&[("WECHAT_CLIENT_CERT", &p12)]).unwrap();
        let wechat = s.wechat.unwrap();
        assert_eq!(
            wechat.client_cert.map(|p| p.display().to_string()),
            Some(p12.clone())
        );
        assert!(wechat.client_key.is_none() && wechat.client_p12_password.is_none());
        let s = merchant_setting_of(&[
            ("WECHAT_CLIENT_CERT", &p12),
            ("WECHAT_CLIENT_P12_PASSWORD", "10000100"),
        ]);
        assert!(s.is_ok());
    }

    #[test]
    fn a_wrong_p12_password_names_its_setting() {
        let p12 = test_cert("apiclient_cert.p12");
        let err = merchant_setting_of(&[
            ("WECHAT_CLIENT_CERT", &p12),
            ("WECHAT_CLIENT_P12_PASSWORD", "wrong-password"),
        ])
        .err()
        .unwrap();
        assert_eq!(err.setting, "WECHAT_CLIENT_P12_PASSWORD");
        assert!(!err.to_string().contains("wrong-password"), "{err}");
        // No password given and the merchant id does not open it: the same setting is named.
        let mut pairs = with_merchant(&[("WECHAT_CLIENT_CERT", &p12)]);
        pairs[0].1 = "10000199".into();
        let err = Settings::from_source(&Source::from_pairs(pairs))
            .err()
            .unwrap();
        assert_eq!(err.setting, "WECHAT_CLIENT_P12_PASSWORD");
        assert!(err.to_string().contains("merchant id"), "{err}");
    }

    #[test]
    fn certificate_and_key_files_are_checked_as_a_pair() {
        let p12 = test_cert("apiclient_cert.p12");
        let pem = test_cert("apiclient_cert.pem");
        let key = test_cert("apiclient_key.pem");
        let named = |extra: &[(&str, &str)]| match merchant_setting_of(extra) {
            Ok(_) => "accepted".to_string(),
            Err(e) => e.setting,
        };
        assert_eq!(
            named(&[("WECHAT_CLIENT_CERT", &pem), ("WECHAT_CLIENT_KEY", &key)]),
            "accepted"
        );
        assert_eq!(named(&[("WECHAT_CLIENT_CERT", &pem)]), "WECHAT_CLIENT_KEY");
        assert_eq!(named(&[("WECHAT_CLIENT_KEY", &key)]), "WECHAT_CLIENT_CERT");
        assert_eq!(
            named(&[("WECHAT_CLIENT_CERT", &p12), ("WECHAT_CLIENT_KEY", &key)]),
            "WECHAT_CLIENT_KEY"
        );
        let modern = test_cert("modern_aes.p12");
        assert_eq!(
            named(&[("WECHAT_CLIENT_CERT", &modern)]),
            "WECHAT_CLIENT_CERT"
        );
    }

    #[test]
    fn the_settings_file_holds_the_same_keys_in_lower_case() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("examdesk.toml");
        std::fs::write(
            &path,
            "examdesk_bind = \"127.0.0.1:9090\"\nexamdesk_order_ttl_minutes = 45\n",
        )
        .unwrap();
        // An empty environment, not the test process's: the assertions hold wherever it runs.
        let no_env = || std::iter::empty::<(String, String)>();
        let source = Source::read(Some(&path), no_env()).unwrap();
        let s = Settings::from_source(&source).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:9090");
        assert_eq!(s.order_ttl_minutes, 45);
        // The environment wins over the file; other variables are not settings.
        let env = [
            ("EXAMDESK_ORDER_TTL_MINUTES", "20"),
            ("HOME", "/root"),
            ("PATH", "/usr/bin"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let source = Source::read(Some(&path), env).unwrap();
        let s = Settings::from_source(&source).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:9090");
        assert_eq!(s.order_ttl_minutes, 20);
        assert_eq!(source.get("HOME"), None);
        std::fs::write(&path, "examdesk_bind = [1, 2]\n").unwrap();
        let err = Source::read(Some(&path), no_env())
            .err()
            .expect("a list is not a setting");
        assert_eq!(err.setting, "EXAMDESK_BIND");
        std::fs::write(&path, "not toml =").unwrap();
        assert!(
            Source::read(Some(&path), no_env()).is_err(),
            "a broken file is refused"
        );
    }

    #[test]
    fn merchant_settings_are_read_and_secrets_stay_hidden() {
        let s = settings(&MERCHANT).unwrap();
        let wechat = s.wechat.as_ref().unwrap();
        assert_eq!(wechat.mch_id, "10000100");
        assert_eq!(wechat.pay_base_url, DEFAULT_PAY_BASE_URL);
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("192006250b4c09247ec02edce69f6a2d"),
            "{debug}"
        );
        assert!(!debug.contains("app-secret-value"), "{debug}");
    }

    #[test]
    fn api_key_length_counts_characters() {
        let mut pairs = MERCHANT.to_vec();
        pairs[3] = ("WECHAT_API_KEY", "192006250b4c09247ec02edce69f6a2");
        let err = settings(&pairs).unwrap_err();
        assert_eq!(err.setting, "WECHAT_API_KEY");
        assert!(err.problem.contains("31"), "{}", err.problem);
        assert!(
            !err.to_string().contains("192006250b4c"),
            "the key never appears in an error"
        );
    }
}
