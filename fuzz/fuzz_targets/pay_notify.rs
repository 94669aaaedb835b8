//! Payment notify parsing and verification on any bytes: never a panic; a forged body is never
//! accepted; and the same fields signed with the merchant key are never refused for the signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_pay_v2::notify::{NotifyError, parse_pay_notify};
use wechat_pay_v2::{SignType, WechatConfig, sign, xml};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn config() -> WechatConfig {
    WechatConfig::new("wxd930ea5d5a258f4f", "secret", "10000100", KEY)
}

fuzz_target!(|data: &[u8]| {
    let config = config();
    let raw = parse_pay_notify(&config, data, None);
    let Ok(mut fields) = xml::parse(data) else {
        assert!(raw.is_err(), "bytes that are not XML were accepted");
        return;
    };
    if let Ok(notify) = &raw {
        // Accepted means signed with our key: check that independently.
        assert!(
            sign::verify(&notify.raw, KEY, Some(notify.sign_type)),
            "accepted without a valid signature"
        );
    }
    fields.remove("sign");
    fields.remove("sign_type");
    let signature = sign::sign(&fields, KEY, SignType::Md5);
    fields.insert("sign".into(), signature);
    if let Ok(body) = xml::try_to_xml(&fields) {
        let signed = parse_pay_notify(&config, body.as_bytes(), None);
        assert!(
            !matches!(signed, Err(NotifyError::BadSignature)),
            "a correctly signed body was refused as forged"
        );
    }
});
