//! WeChat misbehaving during a storm, through the simulator's control routes: payments whose
//! notify never comes (the service must find them with its query job) while a share of the
//! service's own calls to WeChat fail with HTTP 500.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sqlx::{AnyPool, AssertSqlSafe, Row};
use tokio::time::Instant;

use super::client::{Api, loopback_base};

/// What the storm asks of the simulator.
#[derive(Debug, Clone)]
pub struct WechatFaults {
    /// Base URL of the simulator the service under load talks to (`examdesk simulator`).
    pub simulator_url: String,
    /// Share of the orders paid at WeChat whose notify is lost: the service must query them.
    pub lost_share: f64,
    /// Share of the service's calls to WeChat answered HTTP 500 meanwhile (every answer also
    /// comes 30 ms late).
    pub fail_rate: f64,
}

pub(crate) struct Simulator {
    api: Api,
}

impl Simulator {
    pub async fn connect(url: &str) -> Result<Self> {
        let base = loopback_base(url).await?;
        let api = Api::new(base, Duration::from_secs(10))?;
        api.http
            .get(api.url("/stats"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("--simulator-url {url}: no simulator answers"))?;
        Ok(Self { api })
    }

    /// Notifies dropped and a share of protocol calls failing, or (`None`) everything normal.
    pub async fn set_faults(&self, fail_rate: Option<f64>) -> Result<()> {
        let faults = match fail_rate {
            Some(rate) => json!({
                "drop_notifies": true, "fail_rate": rate, "fail_with": "http500", "delay_ms": 30
            }),
            None => json!({}),
        };
        self.api
            .http
            .post(self.api.url("/faults"))
            .json(&faults)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .context("setting the simulator's faults")?;
        Ok(())
    }

    /// The candidate pays at WeChat; returns WeChat's transaction id.
    pub async fn pay(&self, out_trade_no: &str) -> Result<String> {
        let res = self
            .api
            .http
            .post(self.api.url(&format!("/pay/{out_trade_no}")))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        match body["transaction_id"].as_str() {
            Some(id) if status.is_success() => Ok(id.to_string()),
            _ => bail!("paying {out_trade_no} at the simulator: {status} {body}"),
        }
    }

    pub async fn stats(&self) -> Result<Value> {
        Ok(self
            .api
            .http
            .get(self.api.url("/stats"))
            .send()
            .await?
            .json()
            .await?)
    }
}

/// Polls the database until every one of the orders is paid or the deadline passes; returns how
/// many were paid at the end.
pub(crate) async fn wait_until_paid(
    pool: &AnyPool,
    out_trade_nos: &[String],
    deadline: Instant,
    progress: impl Fn(&str),
) -> Result<usize> {
    let wanted: HashSet<&str> = out_trade_nos.iter().map(String::as_str).collect();
    let mut last = usize::MAX;
    loop {
        let mut paid = 0;
        for chunk in out_trade_nos.chunks(200) {
            let list = examdesk::db::payment_batch::list(chunk.len());
            let mut q = sqlx::query(AssertSqlSafe(format!(
                "SELECT out_trade_no FROM orders WHERE status = 'paid' AND out_trade_no IN ({list})"
            )));
            for no in chunk {
                q = q.bind(no.as_str());
            }
            for row in q.fetch_all(pool).await? {
                let no: String = row.try_get(0)?;
                if wanted.contains(no.as_str()) {
                    paid += 1;
                }
            }
        }
        if paid != last {
            progress(&format!(
                "{paid} of {} payments with a lost notify found by the service",
                out_trade_nos.len()
            ));
            last = paid;
        }
        if paid == out_trade_nos.len() || Instant::now() >= deadline {
            return Ok(paid);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
