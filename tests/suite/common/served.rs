//! A real `sseek serve` for the HTTP tests: started on an ephemeral
//! loopback port, stopped with SIGTERM; tenants, raw exchanges, PostgreSQL
//! schemas of a test's own.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sseek::store::PostgresStore;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_sseek");

/// A running `sseek serve`, stopped with SIGTERM on drop.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Served {
    /// Starts the server on `store` (a `redb:` or `postgres:` spec), logging to `log`.
    pub(crate) fn start(store: &str, pg_schema: &str, log: &Path, extra: &[&str]) -> Served {
        let log_file = std::fs::File::create(log).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--store", store, "--pg-schema", pg_schema, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("no address in {line:?}")).to_owned();
        Served { child, url }
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited 0.
    pub(crate) fn stop(&mut self) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

impl Served {
    /// A server on a fresh redb store in a temporary directory (kept while
    /// the returned directory lives), with the tenants `names`: the
    /// directory, the server and each tenant's token.
    pub(crate) fn on_redb(names: &[&str], extra: &[&str]) -> (tempfile::TempDir, Served, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("redb:{}", dir.path().join("server.redb").display());
        let tokens = names.iter().map(|n| add_tenant(&spec, "unused", n)).collect();
        let served = Served::start(&spec, "unused", &dir.path().join("server.log"), extra);
        (dir, served, tokens)
    }
}

/// `sseek tenant add NAME`: the printed token.
pub(crate) fn add_tenant(store: &str, pg_schema: &str, name: &str) -> String {
    let out =
        Command::new(BIN).args(["tenant", "add", name, "--store", store, "--pg-schema", pg_schema]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The PostgreSQL URL from `SSEEK_PG_URL`. Panics without it: a test asked
/// to run against PostgreSQL must not pass without one.
pub(crate) fn pg_url() -> String {
    match std::env::var("SSEEK_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("SSEEK_PG_URL is not set, so there is no PostgreSQL server to test against"),
    }
}

/// A PostgreSQL schema of the test's own, dropped on drop (also on panic).
pub(crate) struct PgSchema {
    pub(crate) url: String,
    pub(crate) name: String,
}

impl PgSchema {
    pub(crate) fn new(url: &str, test: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        PgSchema { url: url.to_owned(), name: format!("sseek_http_{test}_{}_{nanos}", std::process::id()) }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Err(e) = PostgresStore::connect(&self.url, &self.name).and_then(PostgresStore::drop_schema) {
            eprintln!("cannot drop test schema {}: {e}", self.name);
        }
    }
}

/// One raw HTTP exchange: status and body.
pub(crate) fn raw(method: &str, url: &str, token: Option<&str>, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    try_raw(method, url, token, content_type, body).unwrap()
}

/// [`raw`], with a transport failure (a connection the server closed at
/// once, say) returned rather than a panic.
pub(crate) fn try_raw(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = ureq::http::Request::builder().method(method).uri(url).header("Content-Type", content_type);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = agent.run(req.body(body.to_vec()).unwrap())?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().with_config().limit(1 << 30).read_to_vec()?;
    Ok((status, body))
}

/// Asserts a rejection: the status, and a JSON body `{code, message}` carrying it.
pub(crate) fn assert_rejected(what: &str, (status, body): (u16, Vec<u8>), expected: &[u16]) {
    assert!(
        expected.contains(&status),
        "{what}: status {status}, expected {expected:?}: {}",
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e})"));
    assert_eq!(v["code"].as_u64(), Some(u64::from(status)), "{what}: {v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {v}");
}
