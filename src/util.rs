//! Small helpers shared across modules: randomness, clock and time formats.

use rand::RngExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Options that create files readable by the owner only: the data folder holds the demo admin's
/// password, the secret and tickets full of personal data, and must not be world-readable.
pub fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Writes `contents` to `path`, created (or cut back to nothing) with owner-only permissions. A
/// file that existed with wider ones is narrowed too.
pub fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = private_file_options()
        .create(true)
        .truncate(true)
        .open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)
}

/// `bytes` random bytes as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let data: Vec<u8> = (0..bytes).map(|_| rng.random::<u8>()).collect();
    hex::encode(data)
}

/// Seconds since the Unix epoch, UTC: how every time is stored.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub fn to_rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| format!("not an RFC 3339 time: {text:?} (e.g. 2026-12-01T09:00:00+08:00)"))
}

/// China Standard Time, for text shown to candidates and staff.
pub fn to_china_time(unix: i64) -> String {
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let t = t.to_offset(offset);
            format!(
                "{}年{}月{}日 {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_is_utc() {
        let t = parse_rfc3339("2026-12-01T09:00:00+08:00").unwrap();
        assert_eq!(to_rfc3339(t), "2026-12-01T01:00:00Z");
        assert_eq!(to_china_time(t), "2026年12月1日 09:00");
        assert!(parse_rfc3339("2026-12-01").is_err());
    }

    #[test]
    fn random_hex_has_the_asked_length_and_varies() {
        let a = random_hex(16);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(16));
    }
}
