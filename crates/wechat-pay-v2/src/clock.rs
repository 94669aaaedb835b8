//! Nonces and the Beijing-time formats WeChat writes (`time_end`, `success_time`).

use rand::RngExt;
use rand::distr::Alphanumeric;
use time::{OffsetDateTime, UtcOffset};

/// A random 32-character `nonce_str` (WeChat allows at most 32).
pub fn nonce_str() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect()
}

/// China Standard Time: WeChat's `time_end` and `success_time` are local Beijing time.
pub fn china_offset() -> UtcOffset {
    UtcOffset::from_whole_seconds(8 * 3600).unwrap_or(UtcOffset::UTC)
}

/// Now in China time, as WeChat writes `time_end`: `yyyyMMddHHmmss`.
pub fn china_time_now() -> String {
    format_compact(OffsetDateTime::now_utc().to_offset(china_offset()))
}

pub fn format_compact(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `yyyy-MM-dd HH:mm:ss` in China time, as WeChat writes `success_time` in refund notifies.
pub fn format_dashed(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub fn china_now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(china_offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_32_alphanumerics_and_varies() {
        let a = nonce_str();
        let b = nonce_str();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn compact_time_is_china_local() {
        let t = time::macros::datetime!(2024-03-01 16:05:09 UTC).to_offset(china_offset());
        assert_eq!(format_compact(t), "20240302000509");
        assert_eq!(format_dashed(t), "2024-03-02 00:05:09");
        assert_eq!(china_time_now().len(), 14);
    }
}
