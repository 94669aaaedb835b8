//! Reading typed values out of a parsed answer or notify.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldError {
    Missing(&'static str),
    Bad(&'static str, String),
}

pub(crate) fn required(
    map: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<String, FieldError> {
    match map.get(key) {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => Err(FieldError::Missing(key)),
    }
}

pub(crate) fn optional(map: &BTreeMap<String, String>, key: &str) -> Option<String> {
    map.get(key).filter(|v| !v.is_empty()).cloned()
}

pub(crate) fn required_fen(
    map: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<i64, FieldError> {
    let raw = required(map, key)?;
    parse_fen(&raw).ok_or(FieldError::Bad(key, raw))
}

pub(crate) fn optional_fen(
    map: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<Option<i64>, FieldError> {
    match optional(map, key) {
        None => Ok(None),
        Some(raw) => parse_fen(&raw).map(Some).ok_or(FieldError::Bad(key, raw)),
    }
}

/// Amounts are non-negative integers of fen, digits only (no sign, no decimals).
pub fn parse_fen(raw: &str) -> Option<i64> {
    if raw.is_empty() || raw.len() > 15 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_must_be_plain_digits() {
        assert_eq!(parse_fen("5000"), Some(5000));
        assert_eq!(parse_fen("0"), Some(0));
        for bad in ["", "-1", "+1", "50.00", " 1", "1e3", "9999999999999999"] {
            assert_eq!(parse_fen(bad), None, "{bad}");
        }
    }
}
