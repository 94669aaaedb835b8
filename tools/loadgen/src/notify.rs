//! Payment notifies as WeChat sends them, signed here by an implementation of the Pay API v2 MD5
//! rule written independently of `wechat_pay_v2::sign`, so the server's check is really tested.

use md5::{Digest, Md5};

use super::Merchant;

/// One payment notify for `out_trade_no`: every field WeChat sends (16 plus `sign`), in WeChat's
/// own layout (CDATA for text, bare digits for amounts), on one line.
pub fn notify_body(
    merchant: &Merchant,
    out_trade_no: &str,
    fee_fen: i64,
    transaction_id: &str,
    openid: &str,
    nonce: &str,
) -> String {
    let fee = fee_fen.to_string();
    let mut fields: Vec<(&str, &str)> = vec![
        ("appid", &merchant.appid),
        ("attach", "2026年考试报名费"),
        ("bank_type", "OTHERS"),
        ("cash_fee", &fee),
        ("fee_type", "CNY"),
        ("is_subscribe", "N"),
        ("mch_id", &merchant.mch_id),
        ("nonce_str", nonce),
        ("openid", openid),
        ("out_trade_no", out_trade_no),
        ("result_code", "SUCCESS"),
        ("return_code", "SUCCESS"),
        ("time_end", "20261125120000"),
        ("total_fee", &fee),
        ("trade_type", "JSAPI"),
        ("transaction_id", transaction_id),
    ];
    let sign = md5_sign(&mut fields, &merchant.api_key);
    let mut out = String::with_capacity(900);
    out.push_str("<xml>");
    for (k, v) in fields.iter().copied().chain([("sign", sign.as_str())]) {
        if k == "total_fee" || k == "cash_fee" {
            out.push_str(&format!("<{k}>{v}</{k}>"));
        } else {
            out.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
        }
    }
    out.push_str("</xml>");
    out
}

/// `k=v&…&key=KEY` over the non-empty fields sorted by name, MD5, upper-case hex.
fn md5_sign(fields: &mut [(&str, &str)], key: &str) -> String {
    fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut text = String::new();
    for (k, v) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        text.push_str(k);
        text.push('=');
        text.push_str(v);
        text.push('&');
    }
    text.push_str("key=");
    text.push_str(key);
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

/// A 32-character nonce, distinct per order (WeChat's are random; distinct is what matters here).
pub(crate) fn nonce(run_id: &str, i: usize) -> String {
    hex::encode(Md5::digest(format!("nonce-{run_id}-{i}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wechat_pay_v2::{SignType, sign, xml};

    #[test]
    fn body_parses_and_verifies_with_the_server_code() {
        let m = Merchant::default();
        let body = notify_body(&m, "ED00000001ABCDEF", 5000, "4200000001", "oX", "n1");
        let fields = xml::parse(body.as_bytes()).unwrap();
        assert_eq!(fields.len(), 17);
        assert_eq!(fields["total_fee"], "5000");
        assert_eq!(fields["attach"], "2026年考试报名费");
        assert!(sign::verify(&fields, &m.api_key, Some(SignType::Md5)));
        assert!(!sign::verify(&fields, "another-key", Some(SignType::Md5)));
    }
}
