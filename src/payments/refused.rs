//! Callbacks refused before they proved to come from WeChat (no valid signature, not XML, a refund
//! notify that does not decrypt) are anyone's posts to a public route. Each is counted in the
//! metrics; a short record (time, address, reason, size; never the body) is written for at most a
//! few per address and minute, and for at most a few per minute in all, and kept for the retention
//! period. So a flood of them costs neither disk nor the single SQLite writer, and the log still
//! shows where they came from.

use std::net::{IpAddr, Ipv4Addr};

use crate::db::Db;
use crate::db::refused_callbacks::{self, RefusedCallback};
use crate::rate_limit::RateLimiter;

/// Records per client address and minute.
pub const PER_ADDRESS_PER_MINUTE: u32 = 10;
/// Records per minute from every address together (a flood from many addresses).
pub const OVERALL_PER_MINUTE: u32 = 60;

pub struct RefusedLog {
    per_address: RateLimiter,
    overall: RateLimiter,
    retention_days: i64,
}

impl RefusedLog {
    pub fn new(retention_days: i64) -> Self {
        Self {
            per_address: RateLimiter::new(PER_ADDRESS_PER_MINUTE),
            overall: RateLimiter::new(OVERALL_PER_MINUTE),
            retention_days,
        }
    }

    /// Records the refusal unless its address, or everyone together, has had this minute's share;
    /// `error` (which may quote the sender) goes to the log with the record, not into it.
    pub async fn note(
        &self,
        db: &Db,
        refused: &RefusedCallback<'_>,
        error: &(dyn std::fmt::Display + Sync),
    ) -> Result<(), sqlx::Error> {
        let address = refused
            .address
            .parse::<IpAddr>()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let everyone = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        if !self.per_address.allow(address, refused.at) || !self.overall.allow(everyone, refused.at)
        {
            tracing::debug!(
                address = refused.address,
                "refused callback not recorded: over the limit"
            );
            return Ok(());
        }
        tracing::warn!(
            kind = refused.kind.as_str(),
            address = refused.address,
            reason = refused.refusal.reason(),
            size = refused.size,
            error = %error,
            "callback refused"
        );
        refused_callbacks::record(db, refused).await
    }

    /// Deletes the records older than the retention period; how many went.
    pub async fn purge(&self, db: &Db, at: i64) -> Result<u64, sqlx::Error> {
        refused_callbacks::purge_before(db, at - self.retention_days * 86_400).await
    }
}
