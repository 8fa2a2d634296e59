//! [`Http`]: the [`Transport`] to a remote `sseek serve`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::protocol::transport::{Traffic, Transport};
use crate::protocol::{self, Request, Response};
use crate::{Error, Result};

/// Largest response body the client reads (a search fetching many sealed
/// documents can be large; this only bounds a misbehaving server).
const MAX_RESPONSE: u64 = 1 << 30;

/// Per-request timeout: generous, as one ingest or setup chunk can take seconds.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Where a server is and how to reach it: its URL, the tenant's API token,
/// and for `https://` a CA file to trust instead of the system roots.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL, `http://` or `https://`.
    pub url: String,
    /// The tenant's API token.
    pub token: String,
    /// PEM certificates to trust for `https://` instead of the system roots.
    pub ca: Option<std::path::PathBuf>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is deliberately left out.
        f.debug_struct("Endpoint").field("url", &self.url).field("ca", &self.ca).finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new transport to this endpoint.
    ///
    /// # Errors
    /// As [`Http::with_ca`] when a CA file is set.
    pub fn connect(&self) -> Result<Http> {
        match &self.ca {
            Some(ca) => Http::with_ca(&self.url, &self.token, ca),
            None => Ok(Http::new(&self.url, &self.token)),
        }
    }
}

/// A transport to a remote server over HTTP or HTTPS: sends each request in the
/// binary protocol encoding to `POST /v1/rpc` with the tenant's bearer token.
/// Counts traffic like [`crate::server::InProcess`]: encoded protocol
/// bytes, without HTTP headers, so figures compare across transports.
pub struct Http {
    agent: ureq::Agent,
    base: String,
    authorization: String,
    round_trips: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is deliberately left out.
        f.debug_struct("Http").field("base", &self.base).field("traffic", &self.traffic()).finish_non_exhaustive()
    }
}

impl Http {
    /// A transport to the server at `base_url` (e.g. `http://127.0.0.1:8080`,
    /// or `https://...`, verified against the system's root certificates)
    /// with an API token. Nothing is sent until the first call.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self::with_roots(base_url, token, ureq::tls::RootCerts::PlatformVerifier)
    }

    /// [`Http::new`], but an `https://` server must present a certificate
    /// issued by one of the PEM certificates in `ca` (a private CA, or the
    /// server's own self-signed certificate) instead of the system roots.
    ///
    /// # Errors
    /// [`Error::Io`] if `ca` cannot be read; [`Error::Config`] if it holds no PEM certificate.
    pub fn with_ca(base_url: &str, token: &str, ca: &Path) -> Result<Self> {
        let pem = std::fs::read(ca).map_err(|e| Error::io(ca.display().to_string(), e))?;
        let mut roots = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => roots.push(c),
                Ok(_) => {}
                Err(e) => return Err(Error::Config(format!("{}: {e}", ca.display()))),
            }
        }
        if roots.is_empty() {
            return Err(Error::Config(format!("{}: no PEM certificate", ca.display())));
        }
        Ok(Self::with_roots(base_url, token, ureq::tls::RootCerts::Specific(Arc::new(roots))))
    }

    fn with_roots(base_url: &str, token: &str, roots: ureq::tls::RootCerts) -> Self {
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        let config = ureq::Agent::config_builder()
            // Rejections carry a JSON body the caller should see, not a bare status.
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .tls_config(tls)
            .build();
        Http {
            agent: config.into(),
            base: base_url.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
            round_trips: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
        }
    }

    /// The tenant the token belongs to (`GET /v1/whoami`). Clients need it:
    /// the tenant name is bound into every sealed document and key label.
    ///
    /// # Errors
    /// [`Error::Server`] (401 for a bad token); [`Error::Http`] if the server
    /// cannot be reached.
    pub fn tenant(&self) -> Result<String> {
        let mut resp = self
            .agent
            .get(format!("{}/v1/whoami", self.base))
            .header("Authorization", &self.authorization)
            .call()
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body =
            resp.body_mut().with_config().limit(MAX_RESPONSE).read_to_vec().map_err(|e| Error::Http(e.to_string()))?;
        if status != 200 {
            return Err(rejection(status, &body));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("whoami answer: {e}")))?;
        v.get("tenant")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol("whoami answer without a tenant".into()))
    }
}

/// The error for a non-200 answer: the server's JSON `{code, message}` if present.
impl Http {
    /// Operator route: streams the server's online backup into `out` and
    /// returns the bytes received. The endpoint's token must be the
    /// server's admin token. No overall deadline: a large store takes long.
    ///
    /// # Errors
    /// [`Error::Server`] for a rejection (404 when the admin routes are off,
    /// 401 for a wrong token); [`Error::Http`] for a transport failure or a
    /// stream the server cut short; write errors.
    pub fn download_backup(
        &self,
        out: &mut dyn std::io::Write,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<u64> {
        let mut resp = self
            .agent
            .get(format!("{}/v1/admin/backup", self.base))
            .header("Authorization", &self.authorization)
            .config()
            .timeout_global(None)
            .build()
            .call()
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
            return Err(rejection(status, &body));
        }
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n =
                std::io::Read::read(&mut reader, &mut buf).map_err(|e| Error::Http(format!("backup stream: {e}")))?;
            if n == 0 {
                return Ok(total);
            }
            out.write_all(&buf[..n]).map_err(|e| Error::io("<backup>", e))?;
            total += n as u64;
            if let Some(pb) = progress {
                pb.inc(n as u64);
            }
        }
    }

    /// Operator route: erases a tenant on the server (every row and token,
    /// one transaction) and returns the server's report as JSON.
    ///
    /// # Errors
    /// [`Error::Server`] for a rejection (404 also for a tenant with
    /// nothing stored); [`Error::Http`] for a transport failure.
    pub fn erase_tenant(&self, tenant: &str) -> Result<serde_json::Value> {
        let mut resp = self
            .agent
            .delete(format!("{}/v1/admin/tenants/{tenant}", self.base))
            .header("Authorization", &self.authorization)
            .call()
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body =
            resp.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| Error::Http(e.to_string()))?;
        if status != 200 {
            return Err(rejection(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("erase answer: {e}")))
    }
}

fn rejection(status: u16, body: &[u8]) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(|m| m.as_str())
        .map_or_else(|| format!("HTTP status {status}"), str::to_owned);
    Error::Server { code: status, message }
}

impl Transport for Http {
    fn call(&self, request: &Request) -> Result<Response> {
        let bytes = protocol::encode(request);
        let mut resp = self
            .agent
            .post(format!("{}/v1/rpc", self.base))
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/octet-stream")
            .send(&bytes[..])
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body =
            resp.body_mut().with_config().limit(MAX_RESPONSE).read_to_vec().map_err(|e| Error::Http(e.to_string()))?;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.received.fetch_add(body.len() as u64, Ordering::Relaxed);
        if status != 200 {
            return Err(rejection(status, &body));
        }
        match protocol::decode::<Response>(&body)? {
            Response::Error { code, message } => Err(Error::Server { code, message }),
            r => Ok(r),
        }
    }

    fn traffic(&self) -> Traffic {
        Traffic {
            round_trips: self.round_trips.load(Ordering::Relaxed),
            bytes_sent: self.sent.load(Ordering::Relaxed),
            bytes_received: self.received.load(Ordering::Relaxed),
        }
    }
}
