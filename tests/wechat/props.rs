//! Property tests of the wire format: hostile input never panics, and every map
//! survives a write/read round trip and a sign/verify round trip.
//!
//! The default run is short; `PROPTEST_CASES=1000000 cargo test --release --test wechat props::`
//! is the long run (see docs/wechat.md).

use std::collections::BTreeMap;

use proptest::prelude::*;
use wechat_pay_v2::{SignType, sign, xml};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn field_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,15}"
}

/// Values mixing Chinese, XML specials, CDATA terminators and signature separators.
fn field_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("考试报名费".to_owned()),
        Just("]]>".to_owned()),
        Just("<![CDATA[".to_owned()),
        Just("&amp;".to_owned()),
        Just("&".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("\"'".to_owned()),
        Just("=".to_owned()),
        Just("&key=".to_owned()),
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        "[a-zA-Z0-9]{0,8}",
        "[\u{4e00}-\u{9fa5}]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|parts| parts.concat())
}

fn field_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(field_name(), field_value(), 0..12)
}

/// Fragments of hostile XML, glued in random order.
fn hostile_document() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("<xml>"),
        Just("</xml>"),
        Just("<xml/>"),
        Just("<a>"),
        Just("</a>"),
        Just("<b/>"),
        Just("<![CDATA["),
        Just("]]>"),
        Just("&amp;"),
        Just("&xxe;"),
        Just("&#0;"),
        Just("&#x110000;"),
        Just("&#20013;"),
        Just("&"),
        Just("<"),
        Just(">"),
        Just("<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"),
        Just("<!ENTITY a \"b\">"),
        Just("<?xml version=\"1.0\"?>"),
        Just("<?pi x?>"),
        Just("<!-- c -->"),
        Just("<a x=\"1\">"),
        Just("中文"),
        Just(" "),
        Just("\u{feff}"),
    ];
    prop::collection::vec(token, 0..24).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::parse(&body);
    }

    #[test]
    fn hostile_documents_never_panic_and_never_expand_entities(doc in hostile_document()) {
        if let Ok(fields) = xml::parse(doc.as_bytes()) {
            prop_assert!(!doc.contains("<!DOCTYPE") && !doc.contains("<!ENTITY"));
            for (key, value) in &fields {
                prop_assert!(xml::is_valid_name(key));
                prop_assert!(!value.contains("/etc/passwd"));
            }
        }
    }

    #[test]
    fn write_then_read_gives_the_same_map(fields in field_map()) {
        let written = xml::to_xml(&fields);
        prop_assert_eq!(xml::parse(written.as_bytes()), Ok(fields));
    }

    #[test]
    fn a_value_cannot_inject_an_element(value in field_value()) {
        let fields = BTreeMap::from([("body".to_owned(), value)]);
        let parsed = xml::parse(xml::to_xml(&fields).as_bytes());
        prop_assert_eq!(parsed.map(|m| m.len()), Ok(1));
    }

    #[test]
    fn sign_then_verify_and_any_change_breaks_it(
        mut fields in field_map(),
        key in "[A-Za-z0-9]{32}",
        hmac in any::<bool>(),
        victim in any::<prop::sample::Index>(),
    ) {
        let sign_type = if hmac { SignType::HmacSha256 } else { SignType::Md5 };
        fields.remove("sign");
        let signature = sign::sign(&fields, &key, sign_type);
        prop_assert_eq!(signature.len(), if hmac { 64 } else { 32 });
        let mut signed = fields.clone();
        signed.insert("sign".to_owned(), signature);
        prop_assert!(sign::verify(&signed, &key, Some(sign_type)));
        prop_assert!(sign::verify(&signed, &key, None));

        // Through the wire format too.
        let reread = xml::parse(xml::to_xml(&signed).as_bytes()).unwrap_or_default();
        prop_assert!(sign::verify(&reread, &key, Some(sign_type)));

        let non_empty: Vec<String> = fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        if !non_empty.is_empty() {
            let k = &non_empty[victim.index(non_empty.len())];
            let mut tampered = signed.clone();
            if let Some(v) = tampered.get_mut(k) {
                v.push('x');
            }
            prop_assert!(!sign::verify(&tampered, &key, Some(sign_type)));
        }
    }
}
