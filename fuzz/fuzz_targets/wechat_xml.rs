//! The notify XML decoder on any bytes: an error or a map, never a panic; and whatever it accepts
//! survives a write-and-read round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_pay_v2::xml;

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = xml::parse(data)
        && let Ok(written) = xml::try_to_xml(&map)
    {
        let again = xml::parse(written.as_bytes()).expect("what we write we can read");
        assert_eq!(again, map, "round trip changed the fields");
    }
});
