//! The connection layer under the routes: accepts TCP connections (TLS
//! when configured) and serves HTTP/1.1 on each with hyper, within
//! [`Limits`]. The limits are hyper's and tower's own settings; this module
//! only wires them: the header timeout is hyper's `header_read_timeout`
//! (which also ends idle keep-alive connections), the request deadline is
//! tower-http's `TimeoutLayer`, the body limit its `RequestBodyLimitLayer`
//! (which refuses an oversized `Content-Length` before reading a byte), the
//! in-flight cap tower's `GlobalConcurrencyLimitLayer`, and graceful
//! shutdown hyper-util's `GracefulShutdown`. The one thing neither offers
//! is a cap on open connections, which a semaphore permit per connection
//! gives.

use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::metrics::Metrics;
use crate::{Error, Result};

/// Connection and request limits of `sseek serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection must deliver a complete request head within this time
    /// of starting one, or of finishing the previous request (so this is
    /// also the idle timeout of keep-alive connections); else it is closed.
    /// A TLS handshake must finish within it too.
    pub header_timeout: Duration,
    /// Deadline of one request from its head to its answer, body upload
    /// and store work included; past it the answer is 408.
    pub request_timeout: Duration,
    /// Open connections at most; a connection beyond is closed at once.
    pub max_connections: usize,
    /// Requests handled at once; more wait (within their deadline).
    pub max_in_flight: usize,
    /// Memory the request bodies in flight may take once decoded, in
    /// bytes. Each body is charged 32 times its `Content-Length` (the most
    /// a protocol message grows when decoded: a 2-byte posting entry
    /// becomes a 32-byte one), or the body limit when it has none; a body
    /// that would pass the budget waits (within its deadline) for others
    /// to finish. Many large uploads at once thus queue instead of
    /// exhausting memory.
    pub memory_budget: usize,
}

impl Default for Limits {
    /// 10 s header and idle timeout, 60 s per request, 1,024 connections,
    /// 64 requests in flight, 2 GiB of decoded bodies.
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_in_flight: 64,
            memory_budget: 2 << 30,
        }
    }
}

/// A PEM certificate chain and its private key, for serving HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The leaf's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The TLS acceptor for a certificate and key (TLS 1.2 and 1.3, HTTP/1.1).
///
/// # Errors
/// [`Error::Io`] if a file cannot be read; [`Error::Config`] if it holds no
/// certificate, no key, or a key that does not fit the certificate.
pub(super) fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let pem_error = |path: &PathBuf, e: rustls::pki_types::pem::Error| match e {
        rustls::pki_types::pem::Error::Io(io) => Error::io(path.display().to_string(), io),
        other => Error::Config(format!("{}: {other}", path.display())),
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| pem_error(&files.cert, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&files.cert, e))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("{}: no PEM certificate", files.cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| pem_error(&files.key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config(format!("TLS certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections on `listener` and serves `app` on each until
/// `shutdown` completes; then stops accepting, asks every connection to
/// finish its request in flight and close, and returns once they have.
pub(super) async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of descriptors, say: back off instead of spinning on the error.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics.connection_refused();
            drop(stream);
            continue;
        };
        // Small request/response exchanges: do not wait to fill a segment.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _open = metrics.connection_opened();
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let served = match tls {
                None => watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await,
                Some(acceptor) => match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => watcher.watch(http.serve_connection(TokioIo::new(tls_stream), service)).await,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                // Timeouts and resets by the peer end up here: routine, not server faults.
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
