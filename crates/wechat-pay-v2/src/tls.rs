//! TLS for this crate's HTTP clients.
//!
//! Every client gets its own rustls configuration with the `ring` provider, so the crate works
//! whether or not the program installed a process-wide provider, and never installs one itself.

mod p12;

pub use p12::P12Error;

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The merchant certificate and its key, as WeChat issues them for `/secapi/…` routes.
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// A certificate chain and private key in DER, for callers that decoded another format.
    pub fn from_der(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self { chain, key }
    }

    /// Reads a PEM certificate (`apiclient_cert.pem`) and its PEM key (`apiclient_key.pem`);
    /// without a key file, the certificate file must hold the key too.
    pub fn from_pem_files(cert: &Path, key: Option<&Path>) -> Result<Self, String> {
        let cert_pem = read(cert)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "{}: no PEM certificate in the file",
                cert.display()
            ));
        }
        let (key_path, key_pem) = match key {
            Some(path) => (path, read(path)?),
            None => (cert, cert_pem),
        };
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("{}: no usable PEM private key ({e})", key_path.display()))?;
        Ok(Self { chain, key })
    }
}

/// Whether a certificate file is PKCS#12 (`.p12`, as WeChat issues it, or `.pfx`) rather than PEM,
/// by its extension: the one rule the settings check and the client both follow.
pub fn is_p12_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"))
}

impl ClientIdentity {
    /// Reads WeChat's `apiclient_cert.p12` (legacy PKCS#12; the password is the merchant id
    /// unless the merchant changed it).
    pub fn from_p12_file(path: &Path, password: &str) -> Result<Self, String> {
        Self::from_p12(&read(path)?, password).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Decodes a PKCS#12 file's bytes.
    pub fn from_p12(bytes: &[u8], password: &str) -> Result<Self, P12Error> {
        let (chain, key) = p12::decode(bytes, password)?;
        Ok(Self { chain, key })
    }

    /// The certificate chain, the key's own certificate first.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

/// Reads every certificate in a PEM file, for trusting roots beyond the system's.
pub fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration that verifies servers with the system's roots (and
/// `extra_roots`) and, when given, presents the merchant certificate.
pub fn client_config(
    identity: Option<ClientIdentity>,
    extra_roots: &[CertificateDer<'static>],
) -> Result<ClientConfig, String> {
    let provider = provider();
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            provider.clone(),
        )
    }
    .map_err(|e| format!("system certificate store: {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(|e| format!("certificate and key do not fit together: {e}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// A `reqwest` client builder using [`client_config`]; the caller adds time-outs and builds.
pub fn http_client_builder(
    identity: Option<ClientIdentity>,
) -> Result<reqwest::ClientBuilder, String> {
    http_client_builder_with_roots(identity, &[])
}

/// [`http_client_builder`], also trusting `extra_roots`.
pub fn http_client_builder_with_roots(
    identity: Option<ClientIdentity>,
    extra_roots: &[CertificateDer<'static>],
) -> Result<reqwest::ClientBuilder, String> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(client_config(identity, extra_roots)?))
}
