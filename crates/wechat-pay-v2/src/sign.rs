//! Pay API v2 signatures.
//!
//! The string signed is `k1=v1&k2=v2…&key=<API key>` over the parameters sorted
//! by ASCII, leaving out empty values and `sign` itself, without trimming or URL
//! encoding; the digest is upper-case hex. That string ends with the API key, so
//! it is built here and nowhere else, and never logged.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::SignType;

/// Signs `params` (any `sign` entry in it is ignored).
pub fn sign(params: &BTreeMap<String, String>, key: &str, sign_type: SignType) -> String {
    sign_pairs(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        key,
        sign_type,
    )
}

/// Signs pairs that need not be sorted yet (the `wx.requestPayment` camel-case set, for one).
pub fn sign_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &str,
    sign_type: SignType,
) -> String {
    let mut sorted: Vec<(&str, &str)> = pairs
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && *k != "sign")
        .collect();
    // `str` ordering is byte ordering, which is the ASCII ordering WeChat asks for.
    sorted.sort_unstable();
    let mut to_sign = String::new();
    for (k, v) in sorted {
        to_sign.push_str(k);
        to_sign.push('=');
        to_sign.push_str(v);
        to_sign.push('&');
    }
    to_sign.push_str("key=");
    to_sign.push_str(key);
    digest(to_sign.as_bytes(), key, sign_type)
}

fn digest(message: &[u8], key: &str, sign_type: SignType) -> String {
    match sign_type {
        SignType::Md5 => hex::encode_upper(Md5::digest(message)),
        SignType::HmacSha256 => match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
            Ok(mut mac) => {
                mac.update(message);
                hex::encode_upper(mac.finalize().into_bytes())
            }
            // HMAC takes keys of any length, so this arm is unreachable; an
            // empty result can never match a real signature.
            Err(_) => String::new(),
        },
    }
}

/// Checks the `sign` entry of `params`, in constant time.
///
/// `sign_type` is the algorithm the order was placed with; `None` takes the
/// `sign_type` field if present, else guesses from the signature's length.
pub fn verify(params: &BTreeMap<String, String>, key: &str, sign_type: Option<SignType>) -> bool {
    let Some(received) = params.get("sign") else {
        return false;
    };
    let sign_type = match sign_type {
        Some(t) => t,
        None => match params.get("sign_type").map(|s| s.parse::<SignType>()) {
            Some(Ok(t)) => t,
            Some(Err(_)) => return false,
            None => match SignType::guess_from_signature(received) {
                Some(t) => t,
                None => return false,
            },
        },
    };
    let expected = sign(params, key, sign_type);
    constant_time_eq(&expected, &received.to_ascii_uppercase())
}

pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn published() -> BTreeMap<String, String> {
        map(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ])
    }

    fn chinese_jsapi_order() -> BTreeMap<String, String> {
        map(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
            ("body", "考试报名费"),
            ("out_trade_no", "EXAM2024000001"),
            ("total_fee", "5000"),
            ("spbill_create_ip", "127.0.0.1"),
            ("notify_url", "https://example.com/pay/notify"),
            ("trade_type", "JSAPI"),
            ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ])
    }

    #[test]
    fn published_example_md5() {
        assert_eq!(
            sign(&published(), KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
    }

    #[test]
    fn published_example_hmac_sha256() {
        assert_eq!(
            sign(&published(), KEY, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn mini_program_pay_sign_published_example() {
        let pairs = [
            ("appId", "wxd678efh567hg6787"),
            ("nonceStr", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
            ("package", "prepay_id=wx2017033010242291fcfe0db70013231072"),
            ("signType", "MD5"),
            ("timeStamp", "1490840662"),
        ];
        assert_eq!(
            sign_pairs(pairs, "qazwsxedcrfvtgbyhnujmikolp111111", SignType::Md5),
            "22D9B4E54AB1950F51E0649E8810ACD6"
        );
    }

    #[test]
    fn chinese_body_md5_hashes_utf8() {
        assert_eq!(
            sign(&chinese_jsapi_order(), KEY, SignType::Md5),
            "66D9454A10F88BA16EA1FA605DBC4236"
        );
    }

    #[test]
    fn chinese_body_hmac_with_sign_type_field() {
        let mut params = chinese_jsapi_order();
        params.insert("sign_type".into(), "HMAC-SHA256".into());
        assert_eq!(
            sign(&params, KEY, SignType::HmacSha256),
            "1E792D726874CB60CFF2E043BE4D0E708955F92CCA6FA3F95782CF63E85F3512"
        );
    }

    #[test]
    fn empty_values_and_sign_are_left_out() {
        let mut params = published();
        params.insert("attach".into(), String::new());
        params.insert("sign".into(), "WHATEVER".into());
        assert_eq!(
            sign(&params, KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
    }

    #[test]
    fn values_are_neither_trimmed_nor_url_encoded() {
        let mut padded = published();
        padded.insert("body".into(), " test".into());
        assert_ne!(
            sign(&padded, KEY, SignType::Md5),
            sign(&published(), KEY, SignType::Md5)
        );
        // Computed independently: md5 of the plain string with a raw space and `&`-free value.
        let mut spaced = published();
        spaced.insert("body".into(), "a b".into());
        let expected = hex::encode_upper(Md5::digest(
            format!(
                "appid=wxd930ea5d5a258f4f&body=a b&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key={KEY}"
            )
            .as_bytes(),
        ));
        assert_eq!(sign(&spaced, KEY, SignType::Md5), expected);
    }

    #[test]
    fn keys_sort_by_ascii_so_upper_case_comes_first() {
        let params = map(&[("b", "2"), ("B", "1"), ("a", "3")]);
        let expected = hex::encode_upper(Md5::digest(b"B=1&a=3&b=2&key=k"));
        assert_eq!(sign(&params, "k", SignType::Md5), expected);
    }

    #[test]
    fn app_secret_is_not_the_signing_key() {
        let a = sign(&published(), KEY, SignType::Md5);
        let b = sign(&published(), "some-app-secret", SignType::Md5);
        assert_ne!(a, b);
    }

    #[test]
    fn verify_accepts_own_signature_and_rejects_tampering() {
        for t in [SignType::Md5, SignType::HmacSha256] {
            let mut params = chinese_jsapi_order();
            let s = sign(&params, KEY, t);
            params.insert("sign".into(), s.clone());
            assert!(verify(&params, KEY, Some(t)));
            assert!(verify(&params, KEY, None), "guessed from length");
            let mut lower = params.clone();
            lower.insert("sign".into(), s.to_ascii_lowercase());
            assert!(verify(&lower, KEY, Some(t)));
            assert!(!verify(&params, "wrong-key", Some(t)));
            let other = match t {
                SignType::Md5 => SignType::HmacSha256,
                SignType::HmacSha256 => SignType::Md5,
            };
            assert!(!verify(&params, KEY, Some(other)));
            params.insert("total_fee".into(), "1".into());
            assert!(!verify(&params, KEY, Some(t)));
        }
    }

    #[test]
    fn verify_without_sign_fails() {
        assert!(!verify(&published(), KEY, Some(SignType::Md5)));
        assert!(!verify(&published(), KEY, None));
    }

    #[test]
    fn verify_with_unparseable_signature_fails() {
        let mut params = published();
        params.insert("sign".into(), "not hex at all".into());
        assert!(!verify(&params, KEY, None));
    }
}
