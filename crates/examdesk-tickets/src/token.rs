//! The signed token inside the ticket's QR code: `EXAMDESK_PUBLIC_URL/verify/{token}`.
//!
//! Binary payload, URL-safe base64 without padding, so the QR code stays at a low version (fewer,
//! larger modules scan better off a phone screen or a poor print):
//! `[format 1][varint registration id][varint issued version][ticket no ASCII][tag 12 bytes]`.
//! The tag is HMAC-SHA256 truncated to 96 bits: forging needs ~2^95 online guesses at the door.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

const FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 12;
/// Keeps tags for tickets apart from any other use of the same application secret.
const DOMAIN: &[u8] = b"examdesk/ticket-qr/v1\0";
/// Longest ticket number accepted inside a token; anything longer is not one of ours.
const MAX_TICKET_NO_LEN: usize = 32;

/// What a genuine token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub registration_id: i64,
    pub ticket_no: String,
    /// Bumped whenever anything printed on the ticket changes, so an old print can be told apart.
    pub issued_version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Not a token at all (bad characters, wrong length, unknown format). Show as forged too.
    #[error("token is malformed")]
    Malformed,
    /// Well-formed, but not signed with our secret: altered or made up.
    #[error("token signature does not match")]
    Forged,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], payload: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; the error arm exists only for fixed-key MACs.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(DOMAIN);
    m.update(payload);
    m
}

/// Signs a ticket's verify token.
pub fn sign_token(
    secret: &[u8],
    registration_id: i64,
    ticket_no: &str,
    issued_version: i64,
) -> String {
    let mut buf = Vec::with_capacity(24 + ticket_no.len() + TAG_LEN);
    buf.push(FORMAT_V1);
    put_varint(&mut buf, zigzag(registration_id));
    put_varint(&mut buf, zigzag(issued_version));
    buf.extend_from_slice(ticket_no.as_bytes());
    let tag = mac(secret, &buf).finalize().into_bytes();
    buf.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Checks a token's signature (in constant time) and returns what it claims.
pub fn verify_token(secret: &[u8], token: &str) -> Result<TokenClaims, TokenError> {
    if token.len() > 4 * (MAX_TICKET_NO_LEN + 32) {
        return Err(TokenError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    if raw.len() < 4 + TAG_LEN || raw[0] != FORMAT_V1 {
        return Err(TokenError::Malformed);
    }
    let (payload, tag) = raw.split_at(raw.len() - TAG_LEN);
    // The length check above matters: verify_truncated_left accepts any non-empty prefix.
    mac(secret, payload)
        .verify_truncated_left(tag)
        .map_err(|_| TokenError::Forged)?;

    let mut rest = &payload[1..];
    let registration_id = unzigzag(take_varint(&mut rest)?);
    let issued_version = unzigzag(take_varint(&mut rest)?);
    let ticket_no = std::str::from_utf8(rest).map_err(|_| TokenError::Malformed)?;
    if ticket_no.is_empty() || ticket_no.len() > MAX_TICKET_NO_LEN {
        return Err(TokenError::Malformed);
    }
    Ok(TokenClaims {
        registration_id,
        ticket_no: ticket_no.to_owned(),
        issued_version,
    })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Result<u64, TokenError> {
    let mut v: u64 = 0;
    for (i, &b) in rest.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Ok(v);
        }
    }
    Err(TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-not-for-production";

    #[test]
    fn round_trip() {
        for (id, version) in [(1, 1), (123_456, 3), (i64::MAX, 0), (-5, -1)] {
            let t = sign_token(SECRET, id, "GK202603017X", version);
            let claims = verify_token(SECRET, &t).unwrap();
            assert_eq!(claims.registration_id, id);
            assert_eq!(claims.ticket_no, "GK202603017X");
            assert_eq!(claims.issued_version, version);
        }
    }

    #[test]
    fn compact_and_url_safe() {
        let t = sign_token(SECRET, 123_456, "GK202603017X", 2);
        assert!(t.len() <= 40, "{} chars: {t}", t.len());
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn altered_token_is_forged() {
        let t = sign_token(SECRET, 42, "GK202603017X", 1);
        let bytes = t.as_bytes();
        for i in 0..bytes.len() - 1 {
            let mut altered = bytes.to_vec();
            altered[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).unwrap();
            let got = verify_token(SECRET, &altered);
            assert!(
                matches!(got, Err(TokenError::Forged | TokenError::Malformed)),
                "position {i}: {got:?}"
            );
            if i > 1 {
                assert_eq!(got, Err(TokenError::Forged), "position {i}");
            }
        }
    }

    #[test]
    fn other_secret_or_other_claims_are_forged() {
        let t = sign_token(SECRET, 42, "GK202603017X", 1);
        assert_eq!(verify_token(b"another secret", &t), Err(TokenError::Forged));
        // A genuine tag moved onto another payload.
        let other = sign_token(SECRET, 43, "GK202603017X", 1);
        let raw_t = URL_SAFE_NO_PAD.decode(&t).unwrap();
        let mut raw_o = URL_SAFE_NO_PAD.decode(&other).unwrap();
        let n = raw_o.len();
        raw_o[n - TAG_LEN..].copy_from_slice(&raw_t[raw_t.len() - TAG_LEN..]);
        let spliced = URL_SAFE_NO_PAD.encode(raw_o);
        assert_eq!(verify_token(SECRET, &spliced), Err(TokenError::Forged));
    }

    #[test]
    fn truncated_or_garbage_is_malformed() {
        let t = sign_token(SECRET, 42, "GK202603017X", 1);
        assert_eq!(verify_token(SECRET, ""), Err(TokenError::Malformed));
        assert_eq!(verify_token(SECRET, "!!!!"), Err(TokenError::Malformed));
        assert_eq!(verify_token(SECRET, &t[..8]), Err(TokenError::Malformed));
        assert_eq!(
            verify_token(SECRET, &"A".repeat(1000)),
            Err(TokenError::Malformed)
        );
        // A shortened tag must not pass just because a prefix of the MAC matches.
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        let short = URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 11]);
        assert!(verify_token(SECRET, &short).is_err());
    }
}
