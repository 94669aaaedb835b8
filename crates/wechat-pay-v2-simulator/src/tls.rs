//! HTTPS for the simulator, with the merchant certificate checked as WeChat checks it on
//! `/secapi/…`: the handshake asks for a client certificate, verifies any it gets against the
//! merchant roots, and the refund route refuses a request that came without one.

use std::path::Path;
use std::sync::Arc;

use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the simulator needs to serve HTTPS.
pub struct SimulatorTls {
    /// The server's certificate chain, leaf first (for `127.0.0.1` when on the loopback).
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    /// The roots merchant certificates must chain to (WeChat's own CA, for the real one).
    pub merchant_roots: Vec<CertificateDer<'static>>,
}

impl SimulatorTls {
    /// Reads the server's chain (leaf first) and key, and the merchant roots, from PEM files.
    pub fn from_pem_files(
        server_chain: &Path,
        server_key: &Path,
        merchant_roots: &Path,
    ) -> std::io::Result<Self> {
        let certs = |path: &Path| -> std::io::Result<Vec<CertificateDer<'static>>> {
            CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
        };
        let server_key = PrivateKeyDer::from_pem_file(server_key)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", server_key.display())))?;
        Ok(Self {
            server_chain: certs(server_chain)?,
            server_key,
            merchant_roots: certs(merchant_roots)?,
        })
    }
}

/// Set on every request that came over the simulator's HTTPS listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OverTls {
    /// The client showed a certificate that chains to the merchant roots.
    pub merchant_certificate: bool,
}

fn server_config(tls: SimulatorTls) -> std::io::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for root in tls.merchant_roots {
        roots.add(root).map_err(std::io::Error::other)?;
    }
    // Other Pay routes take no certificate, so an unauthenticated client is let through the
    // handshake and refused by the routes that need one.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(std::io::Error::other)?;
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(tls.server_chain, tls.server_key)
        .map_err(std::io::Error::other)
}

/// Accepts connections on `listener` until the process ends, serving `router` over TLS.
pub(crate) fn serve(
    listener: TcpListener,
    router: Router,
    tls: SimulatorTls,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(tls)?));
    tokio::spawn(async move {
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "simulator TLS accept failed");
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let stream = match acceptor.accept(tcp).await {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::info!(error = %e, "simulator TLS handshake refused");
                        return;
                    }
                };
                let peer = OverTls {
                    merchant_certificate: stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .is_some_and(|certs| !certs.is_empty()),
                };
                let service = TowerToHyperService::new(router.layer(Extension(peer)));
                let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "simulator TLS connection ended");
                }
            });
        }
    });
    Ok(())
}
