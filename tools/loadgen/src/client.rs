//! HTTP to the examdesk under test, on loopback only, as the mini-program and as WeChat.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use serde::Deserialize;
use url::{Host, Url};

/// The base URL with its host replaced by the loopback address it resolves to. Anything that is
/// not loopback is refused: this tool must never send load elsewhere.
pub async fn loopback_base(url: &str) -> Result<String> {
    let mut parsed = Url::parse(url).with_context(|| format!("--url {url}: not a URL"))?;
    if parsed.scheme() != "http" {
        bail!("--url {url}: only http:// is supported (the target is on loopback, no TLS)");
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = parsed
        .host()
        .map(|h| h.to_owned())
        .with_context(|| format!("--url {url}: no host"))?;
    let ip = resolve_loopback(&host, port, "--url", url).await?;
    parsed
        .set_ip_host(ip)
        .map_err(|()| anyhow::anyhow!("--url {url}: cannot use address {ip}"))?;
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// Refuses a PostgreSQL server that is not on this machine; SQLite files are local by nature.
pub async fn check_database_url(url: &str) -> Result<()> {
    if url.starts_with("sqlite:") {
        return Ok(());
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!("--database-url: sqlite://… or postgres://… expected");
    }
    let parsed = Url::parse(url).context("--database-url: not a URL")?;
    match parsed.host() {
        // No host: a Unix socket on this machine.
        None => Ok(()),
        Some(Host::Domain("")) => Ok(()),
        Some(host) => {
            let port = parsed.port().unwrap_or(5432);
            resolve_loopback(&host.to_owned(), port, "--database-url", "the database URL")
                .await
                .map(|_| ())
        }
    }
}

async fn resolve_loopback(
    host: &Host<String>,
    port: u16,
    what: &str,
    shown: &str,
) -> Result<IpAddr> {
    let addrs: Vec<IpAddr> = match host {
        Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
        Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
        Host::Domain(name) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .with_context(|| format!("{what}: cannot resolve {name}"))?
            .map(|a| a.ip())
            .collect(),
    };
    if let Some(bad) = addrs.iter().find(|ip| !ip.is_loopback()) {
        bail!(
            "{what}: refusing {shown}: {host} is {bad}, not a loopback address; load goes only to \
             127.0.0.0/8 or ::1 on this machine"
        );
    }
    // IPv4 first: servers here bind 127.0.0.1 unless told otherwise.
    addrs
        .iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .with_context(|| format!("{what}: {host} resolves to no address"))
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ExamInfo {
    pub id: i64,
    pub fee_fen: i64,
    pub capacity: i64,
    pub remaining: i64,
    /// What an uploaded photo must be (absent from builds before photos).
    #[serde(default)]
    pub photo_rules: Option<PhotoRulesInfo>,
}

/// The exam's published photo rules, as `GET /api/v1/exams` gives them.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct PhotoRulesInfo {
    pub min_width: u32,
    pub min_height: u32,
    pub aspect_width: u32,
    pub aspect_height: u32,
    pub max_bytes: u32,
}

#[derive(Debug, Deserialize)]
struct Token {
    token: String,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct PayAnswer {
    out_trade_no: String,
}

/// One keep-alive HTTP/1.1 client for the whole run.
#[derive(Clone)]
pub(crate) struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: String, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            // Proxy variables in the environment must not send the load anywhere else.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http, base })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn healthz(&self) -> Result<()> {
        let res = self
            .http
            .get(self.url("/healthz"))
            .send()
            .await
            .with_context(|| format!("{} does not answer; is examdesk running?", self.base))?;
        if !res.status().is_success() {
            bail!("{}/healthz answered {}", self.base, res.status());
        }
        Ok(())
    }

    pub async fn exams(&self) -> Result<Vec<ExamInfo>> {
        let res = self.http.get(self.url("/api/v1/exams")).send().await?;
        expect(res, StatusCode::OK, "GET /api/v1/exams").await
    }

    pub async fn login(&self, code: &str) -> Result<String> {
        let res = self
            .http
            .post(self.url("/api/v1/login"))
            .json(&serde_json::json!({ "code": code }))
            .send()
            .await?;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            bail!(
                "POST /api/v1/login answered 429: start the server with EXAMDESK_LOGIN_PER_MINUTE=0 \
                 for load runs"
            );
        }
        let token: Token = expect(res, StatusCode::OK, "POST /api/v1/login").await?;
        Ok(token.token)
    }

    pub fn register_request(
        &self,
        token: &str,
        exam_id: i64,
        run_id: &str,
        i: usize,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/api/v1/registrations"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "exam_id": exam_id,
                "name": super::ids::name(i),
                "id_number": super::ids::id_number(run_id, i),
                "phone": super::ids::phone(i),
            }))
    }

    /// Registers and returns the registration id; any refusal is an error of the preparation.
    pub async fn register(&self, token: &str, exam_id: i64, run_id: &str, i: usize) -> Result<i64> {
        let res = self
            .register_request(token, exam_id, run_id, i)
            .send()
            .await?;
        let created: Created =
            expect(res, StatusCode::CREATED, "POST /api/v1/registrations").await?;
        Ok(created.id)
    }

    /// `POST /registrations/{id}/pay`: the order's out_trade_no.
    pub async fn pay(&self, token: &str, registration_id: i64) -> Result<String> {
        let what = format!("POST /api/v1/registrations/{registration_id}/pay");
        let res = self
            .http
            .post(self.url(&format!("/api/v1/registrations/{registration_id}/pay")))
            .bearer_auth(token)
            .send()
            .await?;
        let answer: PayAnswer = expect(res, StatusCode::OK, &what).await?;
        Ok(answer.out_trade_no)
    }

    pub fn notify_request(&self, body: String) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/wechat/pay/notify"))
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .body(body)
    }

    /// Posts a notify and reads its answer whole; how long that took, and the status and text.
    pub async fn notify_timed(
        &self,
        body: String,
    ) -> (Duration, Result<(StatusCode, String), reqwest::Error>) {
        let t0 = std::time::Instant::now();
        let result = async {
            let res = self.notify_request(body).send().await?;
            let status = res.status();
            let text = res.text().await?;
            Ok((status, text))
        }
        .await;
        (t0.elapsed(), result)
    }
}

async fn expect<T: serde::de::DeserializeOwned>(
    res: reqwest::Response,
    status: StatusCode,
    what: &str,
) -> Result<T> {
    let got = res.status();
    if got != status {
        let body = res.text().await.unwrap_or_default();
        bail!("{what} answered {got} (expected {status}): {}", clip(&body));
    }
    res.json::<T>()
        .await
        .with_context(|| format!("{what}: unexpected JSON"))
}

pub(crate) fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn non_loopback_targets_are_refused() {
        for url in [
            "http://10.0.0.1:8080",
            "http://[2001:db8::1]:80",
            "http://8.8.8.8",
        ] {
            let err = loopback_base(url).await.unwrap_err().to_string();
            assert!(err.contains("not a loopback address"), "{err}");
        }
        assert!(loopback_base("https://127.0.0.1").await.is_err());
        assert_eq!(
            loopback_base("http://127.0.0.1:8080/").await.unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            loopback_base("http://[::1]:9/x/").await.unwrap(),
            "http://[::1]:9/x"
        );
    }

    #[tokio::test]
    async fn database_urls_stay_on_this_machine() {
        assert!(
            check_database_url("sqlite://data/examdesk.db")
                .await
                .is_ok()
        );
        assert!(
            check_database_url("postgres://u@127.0.0.1:5432/x")
                .await
                .is_ok()
        );
        assert!(check_database_url("postgres://u@10.1.2.3/x").await.is_err());
        assert!(check_database_url("mysql://127.0.0.1/x").await.is_err());
    }
}
