//! WeChat's `apiclient_cert.p12`: the merchant certificate and key in PKCS#12 (RFC 7292).
//!
//! WeChat issues the legacy encryption: the certificate bag under pbeWithSHAAnd40BitRC2-CBC, the
//! key under pbeWithSHAAnd3-KeyTripleDES-CBC, an HMAC-SHA1 over the contents, and the merchant id
//! as password. OpenSSL 3 no longer reads these without `-legacy`, so the structure is decoded with
//! RustCrypto's `pkcs12` and each bag decrypted with its `rc2`/`des` and `cbc` crates. The newer
//! PBES2 (AES) encryption is refused with a message saying so: WeChat does not issue it.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyInit, KeyIvInit};
use der::asn1::{ContextSpecific, OctetString};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use hmac::{Hmac, Mac};
use pkcs12::cms::content_info::ContentInfo;
use pkcs12::cms::encrypted_data::EncryptedData;
use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs12::{CertBag, Pfx, SafeBag};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::Sha1;
use spki::AlgorithmIdentifierOwned;

/// Why a `.p12` could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum P12Error {
    #[error(
        "the password does not open this PKCS#12 file (or the file is damaged: its integrity check failed)"
    )]
    WrongPassword,
    #[error("not a readable PKCS#12 file: {0}")]
    Malformed(String),
    #[error(
        "uses {0}, which WeChat does not issue; use the apiclient_cert.p12 from WeChat's download, or its PEM files"
    )]
    Unsupported(String),
    #[error("holds no {0}")]
    Missing(&'static str),
}

const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const X509_CERT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");

/// A hostile file must not make start-up spin: WeChat's files use 2,048 rounds.
const MAX_ROUNDS: i32 = 1_000_000;

fn malformed(e: impl std::fmt::Display) -> P12Error {
    P12Error::Malformed(e.to_string())
}

/// The certificate chain (the key's certificate first) and the private key of a `.p12`.
pub fn decode(
    bytes: &[u8],
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), P12Error> {
    let pfx = Pfx::from_der(bytes).map_err(malformed)?;
    if pfx.auth_safe.content_type != DATA {
        return Err(P12Error::Unsupported("public-key integrity".into()));
    }
    let contents = octets(&pfx.auth_safe)?;
    let mac = pfx
        .mac_data
        .ok_or_else(|| malformed("no password integrity check (MacData)"))?;
    verify_mac(&mac, password, &contents)?;

    let safes: Vec<ContentInfo> = Vec::from_der(&contents).map_err(malformed)?;
    let mut certs: Vec<(Option<Vec<u8>>, CertificateDer<'static>)> = Vec::new();
    let mut keys: Vec<(Option<Vec<u8>>, Vec<u8>)> = Vec::new();
    for safe in &safes {
        let plain = match safe.content_type {
            DATA => octets(safe)?,
            ENCRYPTED_DATA => {
                let data = EncryptedData::from_der(&safe.content.to_der().map_err(malformed)?)
                    .map_err(malformed)?;
                let info = data.enc_content_info;
                let Some(sealed) = info.encrypted_content else {
                    continue;
                };
                decrypt(&info.content_enc_alg, sealed.as_bytes(), password)?
            }
            other => return Err(P12Error::Unsupported(format!("content type {other}"))),
        };
        let bags: Vec<SafeBag> = Vec::from_der(&plain).map_err(malformed)?;
        for bag in bags {
            let key_id = local_key_id(&bag);
            match bag.bag_id {
                pkcs12::PKCS_12_CERT_BAG_OID => {
                    let cert = ContextSpecific::<CertBag>::from_der(&bag.bag_value)
                        .map_err(malformed)?
                        .value;
                    if cert.cert_id == X509_CERT {
                        let der = CertificateDer::from(cert.cert_value.into_bytes().into_vec());
                        certs.push((key_id, der));
                    }
                }
                pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
                    let shrouded =
                        ContextSpecific::<EncryptedPrivateKeyInfo>::from_der(&bag.bag_value)
                            .map_err(malformed)?
                            .value;
                    let key = decrypt(
                        &shrouded.encryption_algorithm,
                        shrouded.encrypted_data.as_bytes(),
                        password,
                    )?;
                    keys.push((key_id, key));
                }
                // Plain (unencrypted) key bags hold the PKCS#8 structure itself.
                pkcs12::PKCS_12_KEY_BAG_OID => {
                    let any = ContextSpecific::<der::Any>::from_der(&bag.bag_value)
                        .map_err(malformed)?
                        .value;
                    keys.push((key_id, any.to_der().map_err(malformed)?));
                }
                _ => {}
            }
        }
    }
    let (key_id, key) = keys
        .into_iter()
        .next()
        .ok_or(P12Error::Missing("private key"))?;
    // The key's own certificate leads the chain; the others (intermediates) follow.
    let position = certs
        .iter()
        .position(|(id, _)| key_id.is_some() && *id == key_id)
        .unwrap_or(0);
    if certs.is_empty() {
        return Err(P12Error::Missing("certificate"));
    }
    let leaf = certs.remove(position).1;
    let chain = std::iter::once(leaf)
        .chain(certs.into_iter().map(|(_, c)| c))
        .collect();
    Ok((chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key))))
}

fn octets(info: &ContentInfo) -> Result<Vec<u8>, P12Error> {
    let any = info.content.to_der().map_err(malformed)?;
    Ok(OctetString::from_der(&any)
        .map_err(malformed)?
        .into_bytes()
        .into_vec())
}

fn local_key_id(bag: &SafeBag) -> Option<Vec<u8>> {
    let attributes = bag.bag_attributes.as_ref()?;
    let attribute = attributes.iter().find(|a| a.oid == LOCAL_KEY_ID)?;
    let value = attribute.values.iter().next()?;
    Some(value.value().to_vec())
}

fn verify_mac(mac: &pkcs12::MacData, password: &str, contents: &[u8]) -> Result<(), P12Error> {
    if mac.mac.algorithm.oid == SHA256 {
        return Err(P12Error::Unsupported(
            "the modern format (SHA-256 integrity, PBES2/AES encryption: OpenSSL 3's default)"
                .into(),
        ));
    }
    if mac.mac.algorithm.oid != SHA1 {
        return Err(P12Error::Unsupported(format!(
            "integrity digest {}",
            mac.mac.algorithm.oid
        )));
    }
    let rounds = checked_rounds(mac.iterations)?;
    let key = derive_key_utf8::<Sha1>(
        password,
        mac.mac_salt.as_bytes(),
        Pkcs12KeyType::Mac,
        rounds,
        20,
    )
    .map_err(malformed)?;
    let mut hmac = <Hmac<Sha1> as hmac::KeyInit>::new_from_slice(&key).map_err(malformed)?;
    hmac.update(contents);
    hmac.verify_slice(mac.mac.digest.as_bytes())
        .map_err(|_| P12Error::WrongPassword)
}

fn checked_rounds(rounds: i32) -> Result<i32, P12Error> {
    if (1..=MAX_ROUNDS).contains(&rounds) {
        Ok(rounds)
    } else {
        Err(malformed(format!("{rounds} key derivation rounds")))
    }
}

fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    sealed: &[u8],
    password: &str,
) -> Result<Vec<u8>, P12Error> {
    let key_len = match algorithm.oid {
        pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC => 5,
        pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC => 24,
        PBES2 => return Err(P12Error::Unsupported("PBES2 (AES) encryption".into())),
        other => return Err(P12Error::Unsupported(format!("encryption {other}"))),
    };
    let params = algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| malformed("encryption without parameters"))?;
    let params =
        Pkcs12PbeParams::from_der(&params.to_der().map_err(malformed)?).map_err(malformed)?;
    let rounds = checked_rounds(params.iterations)?;
    let salt = params.salt.as_bytes();
    let derive = |kind, len| derive_key_utf8::<Sha1>(password, salt, kind, rounds, len);
    let key = derive(Pkcs12KeyType::EncryptionKey, key_len).map_err(malformed)?;
    let iv = derive(Pkcs12KeyType::Iv, 8).map_err(malformed)?;
    if key_len == 5 {
        // RC2's effective key length is the key's own length here: 40 bits.
        cbc_decrypt::<rc2::Rc2>(&key, &iv, sealed)
    } else {
        cbc_decrypt::<des::TdesEde3>(&key, &iv, sealed)
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], sealed: &[u8]) -> Result<Vec<u8>, P12Error>
where
    C: BlockCipherDecrypt + KeyInit,
{
    // The MAC already proved the password, so a padding error means a damaged file.
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(malformed)?
        .decrypt_padded_vec::<Pkcs7>(sealed)
        .map_err(|_| malformed("a bag does not decrypt"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    const WECHAT_FORMAT: &[u8] = include_bytes!("../../tests/data/apiclient_cert.p12");
    const MODERN_AES: &[u8] = include_bytes!("../../tests/data/modern_aes.p12");
    const CERT_PEM: &[u8] = include_bytes!("../../tests/data/apiclient_cert.pem");
    const KEY_PEM: &[u8] = include_bytes!("../../tests/data/apiclient_key.pem");
    const MCH_ID: &str = "10000100";

    fn der_oid(oid: &str) -> Vec<u8> {
        ObjectIdentifier::new_unwrap(oid)
            .to_der()
            .unwrap_or_default()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn the_test_file_is_packed_as_wechat_packs_it() {
        // The algorithm identifiers sit in the clear: RC2-40 for the certificates, 3DES for the key.
        let rc2_40 = der_oid("1.2.840.113549.1.12.1.6");
        let triple_des = der_oid("1.2.840.113549.1.12.1.3");
        assert!(
            contains(WECHAT_FORMAT, &rc2_40),
            "no pbeWithSHAAnd40BitRC2-CBC"
        );
        assert!(
            contains(WECHAT_FORMAT, &triple_des),
            "no pbeWithSHAAnd3-KeyTripleDES-CBC"
        );
        assert!(
            !contains(WECHAT_FORMAT, &der_oid("1.2.840.113549.1.5.13")),
            "PBES2 found"
        );
    }

    #[test]
    fn decodes_the_certificate_and_key_openssl_packed() {
        let (chain, key) = decode(WECHAT_FORMAT, MCH_ID).unwrap();
        let cert = CertificateDer::from_pem_slice(CERT_PEM).unwrap();
        assert_eq!(chain, vec![cert]);
        let expected = PrivateKeyDer::from_pem_slice(KEY_PEM).unwrap();
        assert_eq!(key.secret_der(), expected.secret_der());
    }

    #[test]
    fn a_wrong_password_is_told_apart() {
        assert_eq!(
            decode(WECHAT_FORMAT, "10000101"),
            Err(P12Error::WrongPassword)
        );
        assert_eq!(decode(WECHAT_FORMAT, ""), Err(P12Error::WrongPassword));
    }

    #[test]
    fn the_modern_aes_format_is_refused_naming_it() {
        let err = decode(MODERN_AES, MCH_ID)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("PBES2") && err.contains("WeChat does not issue"),
            "{err}"
        );
    }

    #[test]
    fn garbage_and_truncated_files_are_malformed() {
        assert!(matches!(
            decode(b"not a p12", MCH_ID),
            Err(P12Error::Malformed(_))
        ));
        let cut = &WECHAT_FORMAT[..WECHAT_FORMAT.len() / 2];
        assert!(matches!(decode(cut, MCH_ID), Err(P12Error::Malformed(_))));
        assert!(matches!(decode(&[], MCH_ID), Err(P12Error::Malformed(_))));
    }

    #[test]
    fn a_flipped_byte_in_the_contents_fails_the_integrity_check() {
        let mut damaged = WECHAT_FORMAT.to_vec();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x01;
        assert!(decode(&damaged, MCH_ID).is_err());
    }

    #[test]
    fn the_identity_makes_a_client_configuration() {
        let identity = crate::tls::ClientIdentity::from_p12(WECHAT_FORMAT, MCH_ID).unwrap();
        assert_eq!(identity.certificates().len(), 1);
        let config = crate::tls::client_config(Some(identity), &[]).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
    }
}
