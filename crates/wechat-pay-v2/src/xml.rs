//! The flat `<xml><key>value</key>…</xml>` documents of Pay API v2.
//!
//! Reading is deliberately narrow: anything that is not one `<xml>` root
//! holding text-only children is refused, which also shuts out XXE (no DOCTYPE,
//! no entities beyond the five predefined ones and character references).

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The largest body accepted; WeChat's own documents are a few KiB.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML body larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("XML body is not UTF-8")]
    NotUtf8,
    #[error("XML is malformed: {0}")]
    Malformed(String),
    #[error("DOCTYPE and entity declarations are refused")]
    Doctype,
    #[error("processing instructions are refused")]
    ProcessingInstruction,
    #[error("the root element must be <xml>, found <{0}>")]
    WrongRoot(String),
    #[error("no <xml> root element")]
    NoRoot,
    #[error("content after the root element")]
    TrailingContent,
    #[error("element <{0}> is nested inside a field")]
    Nested(String),
    #[error("field <{0}> appears twice")]
    DuplicateKey(String),
    #[error("text directly inside <xml>")]
    StrayText,
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    #[error("invalid field name {0:?}")]
    InvalidName(String),
}

/// Parses a WeChat XML document into its fields. Empty elements give empty values.
pub fn parse(body: &[u8]) -> Result<BTreeMap<String, String>, XmlError> {
    parse_with_root(body, "xml")
}

/// Like [`parse`] with another root name: a refund notify's decrypted `req_info` is `<root>`.
pub fn parse_with_root(body: &[u8], root: &str) -> Result<BTreeMap<String, String>, XmlError> {
    if body.len() > MAX_BODY {
        return Err(XmlError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;

    let mut fields = BTreeMap::new();
    let mut state = State::BeforeRoot;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match (&mut state, event) {
            (_, Event::DocType(_)) => return Err(XmlError::Doctype),
            (_, Event::PI(_)) => return Err(XmlError::ProcessingInstruction),
            (_, Event::Comment(_)) => {}
            (State::BeforeRoot, Event::Decl(_)) => {}
            (_, Event::Decl(_)) => return Err(XmlError::Malformed("misplaced declaration".into())),
            (State::BeforeRoot | State::AfterRoot, Event::Text(t)) => {
                if !is_blank(&t) {
                    return Err(XmlError::Malformed("text outside the root".into()));
                }
            }
            (State::BeforeRoot, Event::Start(e)) => {
                check_root(e.name().as_ref(), root)?;
                state = State::InRoot;
            }
            (State::BeforeRoot, Event::Empty(e)) => {
                check_root(e.name().as_ref(), root)?;
                state = State::AfterRoot;
            }
            (State::InRoot, Event::Text(t)) => {
                if !is_blank(&t) {
                    return Err(XmlError::StrayText);
                }
            }
            (State::InRoot, Event::Start(e)) => {
                let key = field_name(e.name().as_ref())?;
                state = State::InField(key, String::new());
            }
            (State::InRoot, Event::Empty(e)) => {
                let key = field_name(e.name().as_ref())?;
                insert(&mut fields, key, String::new())?;
            }
            (State::InRoot, Event::End(_)) => state = State::AfterRoot,
            (State::InField(_, value), Event::Text(t)) => value.push_str(&t),
            (State::InField(_, value), Event::CData(c)) => value.push_str(&c),
            (State::InField(_, value), Event::GeneralRef(r)) => value.push(resolve(&r)?),
            (State::InField(_, _), Event::Start(e) | Event::Empty(e)) => {
                return Err(XmlError::Nested(lossy(e.name().as_ref())));
            }
            (State::InField(key, value), Event::End(_)) => {
                insert(&mut fields, std::mem::take(key), std::mem::take(value))?;
                state = State::InRoot;
            }
            (State::AfterRoot, Event::Eof) => return Ok(fields),
            (_, Event::Eof) => {
                return Err(match state {
                    State::BeforeRoot => XmlError::NoRoot,
                    _ => XmlError::Malformed("document ends inside an element".into()),
                });
            }
            (State::AfterRoot, _) => return Err(XmlError::TrailingContent),
            (_, Event::GeneralRef(r)) => {
                return Err(XmlError::Malformed(format!(
                    "entity &{}; outside a field",
                    lossy(&r)
                )));
            }
            (_, Event::CData(_)) => return Err(XmlError::StrayText),
            (_, Event::End(_)) => return Err(XmlError::Malformed("unexpected end tag".into())),
        }
    }
}

enum State {
    BeforeRoot,
    InRoot,
    InField(String, String),
    AfterRoot,
}

fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn lossy(s: &str) -> String {
    s.to_owned()
}

fn check_root(name: &str, root: &str) -> Result<(), XmlError> {
    if name == root {
        Ok(())
    } else {
        Err(XmlError::WrongRoot(lossy(name)))
    }
}

fn field_name(name: &str) -> Result<String, XmlError> {
    let name = name.to_owned();
    if is_valid_name(&name) {
        Ok(name)
    } else {
        Err(XmlError::InvalidName(name))
    }
}

/// WeChat's field names are ASCII identifiers; anything else is refused both ways.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn insert(
    fields: &mut BTreeMap<String, String>,
    key: String,
    value: String,
) -> Result<(), XmlError> {
    if fields.contains_key(&key) {
        return Err(XmlError::DuplicateKey(key));
    }
    fields.insert(key, value);
    Ok(())
}

fn resolve(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Ok(c);
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(XmlError::UnknownEntity(lossy(other))),
    }
}

/// Writes fields as `<xml>` with every value in CDATA, splitting a `]]>` inside
/// a value across two sections so the value reads back unchanged.
///
/// Entries whose key is not a valid name (see [`is_valid_name`]) cannot be
/// written as an element; use [`try_to_xml`] to be told about them. `to_xml`
/// leaves them out, so the signature over the document fails at the other end.
pub fn to_xml(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(64 + fields.len() * 48);
    out.push_str("<xml>");
    for (key, value) in fields {
        if !is_valid_name(key) {
            tracing::warn!(key = %key, "XML field with an invalid name left out");
            continue;
        }
        out.push('<');
        out.push_str(key);
        out.push('>');
        out.push_str("<![CDATA[");
        out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
        out.push_str("]]>");
        out.push_str("</");
        out.push_str(key);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

/// Like [`to_xml`], but refuses a field name that cannot be written.
pub fn try_to_xml(fields: &BTreeMap<String, String>) -> Result<String, XmlError> {
    if let Some(bad) = fields.keys().find(|k| !is_valid_name(k)) {
        return Err(XmlError::InvalidName(bad.clone()));
    }
    Ok(to_xml(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(key: &str, value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(key.to_owned(), value.to_owned())])
    }

    #[test]
    fn reads_cdata_and_plain_text_alike() {
        let doc = br#"<xml>
            <return_code><![CDATA[SUCCESS]]></return_code>
            <total_fee>5000</total_fee>
            <attach>a &amp; b &lt;c&gt; &#20013;&#x6587;</attach>
            <empty></empty><self_closed/>
        </xml>"#;
        let fields = parse(doc).unwrap_or_default();
        assert_eq!(
            fields.get("return_code").map(String::as_str),
            Some("SUCCESS")
        );
        assert_eq!(fields.get("total_fee").map(String::as_str), Some("5000"));
        assert_eq!(
            fields.get("attach").map(String::as_str),
            Some("a & b <c> 中文")
        );
        assert_eq!(fields.get("empty").map(String::as_str), Some(""));
        assert_eq!(fields.get("self_closed").map(String::as_str), Some(""));
        assert_eq!(fields.len(), 5);
    }

    #[test]
    fn declaration_and_bom_are_accepted() {
        let doc = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?><xml><a>1</a></xml>";
        assert_eq!(parse(doc.as_bytes()), Ok(one("a", "1")));
    }

    #[test]
    fn cdata_terminator_in_value_round_trips() {
        let fields = one("body", "x]]><evil>y</evil>]]]]>");
        let written = to_xml(&fields);
        assert!(!written.contains("<evil>y</evil>]]></body>"), "{written}");
        assert_eq!(parse(written.as_bytes()), Ok(fields));
    }

    #[test]
    fn chinese_and_special_characters_round_trip() {
        let fields: BTreeMap<String, String> = [
            ("body", "考试报名费 <&>\"'"),
            ("attach", "a=1&b=2"),
            ("detail", "{\"goods\":[\"苹果\"]}"),
            ("blank", ""),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(parse(to_xml(&fields).as_bytes()), Ok(fields));
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>"#;
        assert_eq!(parse(xxe), Err(XmlError::Doctype));
        let undeclared = b"<xml><a>&xxe;</a></xml>";
        assert_eq!(
            parse(undeclared),
            Err(XmlError::UnknownEntity("xxe".into()))
        );
    }

    #[test]
    fn refuses_nested_elements() {
        assert_eq!(
            parse(b"<xml><a><b>1</b></a></xml>"),
            Err(XmlError::Nested("b".into()))
        );
        assert_eq!(
            parse(b"<xml><a><b/></a></xml>"),
            Err(XmlError::Nested("b".into()))
        );
    }

    #[test]
    fn refuses_duplicate_keys() {
        assert_eq!(
            parse(b"<xml><total_fee>1</total_fee><total_fee>5000</total_fee></xml>"),
            Err(XmlError::DuplicateKey("total_fee".into()))
        );
    }

    #[test]
    fn refuses_large_bodies() {
        let mut doc = b"<xml><a>".to_vec();
        doc.extend(std::iter::repeat_n(b'x', MAX_BODY));
        doc.extend(b"</a></xml>");
        assert_eq!(parse(&doc), Err(XmlError::TooLarge));
        let exactly = format!("<xml><a>{}</a></xml>", "x".repeat(MAX_BODY - 18));
        assert_eq!(exactly.len(), MAX_BODY);
        assert!(parse(exactly.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_other_roots_and_shapes() {
        assert_eq!(
            parse(b"<root><a>1</a></root>"),
            Err(XmlError::WrongRoot("root".into()))
        );
        assert_eq!(parse(b""), Err(XmlError::NoRoot));
        assert_eq!(parse(b"   "), Err(XmlError::NoRoot));
        assert_eq!(
            parse(b"<xml><a>1</a></xml><xml/>"),
            Err(XmlError::TrailingContent)
        );
        assert_eq!(parse(b"<xml>stray<a>1</a></xml>"), Err(XmlError::StrayText));
        assert!(matches!(
            parse(b"<xml><a>1</b></xml>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"<xml><a>1</a>"),
            Err(XmlError::Malformed(_))
        ));
        assert_eq!(
            parse(b"<xml><?php x?></xml>"),
            Err(XmlError::ProcessingInstruction)
        );
        assert_eq!(parse(&[0xff, 0xfe, b'<']), Err(XmlError::NotUtf8));
        assert_eq!(parse(b"<xml/>"), Ok(BTreeMap::new()));
    }

    #[test]
    fn writer_refuses_or_skips_invalid_names() {
        let bad = one("a><b", "1");
        assert_eq!(try_to_xml(&bad), Err(XmlError::InvalidName("a><b".into())));
        assert_eq!(to_xml(&bad), "<xml></xml>");
    }
}
