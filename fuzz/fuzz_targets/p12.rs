//! The `.p12` reader on any bytes, with the test files' password: an error or a certificate and
//! key, never a panic, and no allocation beyond what the input's size explains (run with
//! `-malloc_limit_mb`). Random bytes rarely pass the HMAC integrity check, so each input that
//! parses as a PFX is also tried once more with its MAC recomputed for that password: then the
//! safes, bags and their decryption are what gets fuzzed.
#![no_main]

use der::asn1::OctetString;
use der::{Decode, Encode};
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use pkcs12::Pfx;
use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};
use sha1::Sha1;
use wechat_pay_v2::tls::ClientIdentity;

/// The merchant id the test files in `crates/wechat-pay-v2/tests/data` are sealed with.
const PASSWORD: &str = "10000100";
/// Recomputing a MAC costs its rounds; WeChat's files use 2,048.
const MAX_REMAC_ROUNDS: i32 = 4096;

/// The input with its MAC made valid for [`PASSWORD`], if it parses as a PFX with a MAC.
fn remac(data: &[u8]) -> Option<Vec<u8>> {
    let mut pfx = Pfx::from_der(data).ok()?;
    let mac = pfx.mac_data.as_mut()?;
    if !(1..=MAX_REMAC_ROUNDS).contains(&mac.iterations) {
        return None;
    }
    let contents = OctetString::from_der(&pfx.auth_safe.content.to_der().ok()?).ok()?;
    let key = derive_key_utf8::<Sha1>(
        PASSWORD,
        mac.mac_salt.as_bytes(),
        Pkcs12KeyType::Mac,
        mac.iterations,
        20,
    )
    .ok()?;
    let mut hmac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).ok()?;
    hmac.update(contents.as_bytes());
    mac.mac.digest = OctetString::new(hmac.finalize().into_bytes().to_vec()).ok()?;
    pfx.to_der().ok()
}

fn check(bytes: &[u8]) {
    if let Ok(identity) = ClientIdentity::from_p12(bytes, PASSWORD) {
        assert!(
            !identity.certificates().is_empty(),
            "accepted without a certificate"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = remac(data) {
        check(&fixed);
    }
});
