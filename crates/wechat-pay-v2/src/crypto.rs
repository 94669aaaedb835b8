//! The refund notify's `req_info`: Base64 of AES-256-ECB (PKCS#7) under the
//! lower-case hex MD5 of the API key. ECB is WeChat's choice, not ours.

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("req_info is not valid Base64")]
    Base64,
    #[error("req_info does not decrypt under this API key")]
    Decrypt,
    #[error("decrypted req_info is not UTF-8")]
    NotUtf8,
}

/// The AES key WeChat derives from the API key: the 32 ASCII bytes of its lower-case hex MD5.
fn aes_key(api_key: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let hex_digest = hex::encode(Md5::digest(api_key.as_bytes()));
    key.copy_from_slice(&hex_digest.as_bytes()[..32]);
    key
}

/// Decrypts a refund notify's `req_info` into its inner XML text.
pub fn decrypt_req_info(req_info: &str, api_key: &str) -> Result<String, CryptoError> {
    let data = STANDARD
        .decode(req_info.trim())
        .map_err(|_| CryptoError::Base64)?;
    let key = aes_key(api_key);
    let plain = ecb::Decryptor::<Aes256>::new(&key.into())
        .decrypt_padded_vec::<Pkcs7>(&data)
        .map_err(|_| CryptoError::Decrypt)?;
    String::from_utf8(plain).map_err(|_| CryptoError::NotUtf8)
}

/// Encrypts XML into `req_info` the way WeChat does (used by the simulator and tests).
pub fn encrypt_req_info(plain_xml: &str, api_key: &str) -> String {
    let key = aes_key(api_key);
    let data = ecb::Encryptor::<Aes256>::new(&key.into())
        .encrypt_padded_vec::<Pkcs7>(plain_xml.as_bytes());
    STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    #[test]
    fn key_is_lower_case_hex_md5_bytes() {
        let key = aes_key(KEY);
        let expected = hex::encode(Md5::digest(KEY.as_bytes()));
        assert_eq!(&key[..], expected.as_bytes());
        assert!(expected.bytes().all(|b| !b.is_ascii_uppercase()));
    }

    #[test]
    fn round_trip_with_chinese() {
        let xml = "<root><out_refund_no><![CDATA[退款R1]]></out_refund_no></root>";
        let enc = encrypt_req_info(xml, KEY);
        assert_eq!(decrypt_req_info(&enc, KEY).as_deref(), Ok(xml));
    }

    #[test]
    fn wrong_key_or_garbage_fails_cleanly() {
        let enc = encrypt_req_info("<root><a>1</a></root>", KEY);
        assert_ne!(
            decrypt_req_info(&enc, "another-key-another-key-another-k").as_deref(),
            Ok("<root><a>1</a></root>")
        );
        assert_eq!(decrypt_req_info("%%%", KEY), Err(CryptoError::Base64));
        assert_eq!(decrypt_req_info("", KEY), Err(CryptoError::Decrypt));
        assert_eq!(decrypt_req_info("AAAA", KEY), Err(CryptoError::Decrypt));
    }

    #[test]
    fn known_answer_from_openssl() {
        // printf %s XML | openssl enc -aes-256-ecb -nosalt -K <hex of the ASCII of md5(KEY)> | base64
        let expected = "bDP/xixH0hFEaZusu714Uyyh0dv8MPgMqVLeIkI0QHBoWJbCzCFX0olPqtxTh2q95uvewe45Es+0+iD/4no6Cg==";
        let xml = "<root><refund_status>SUCCESS</refund_status></root>";
        assert_eq!(encrypt_req_info(xml, KEY), expected);
        assert_eq!(decrypt_req_info(expected, KEY).as_deref(), Ok(xml));
    }
}
