//! `sseek serve` on a Redis Cluster store: the demo workload over HTTP for
//! every SSE variant and the blind indexes, first through one server, then
//! through two server processes on one cluster with every request going to
//! the other server than the last. Zero mismatches, and the audit log the
//! two servers wrote is one sound chain.
//!
//! Ignored by a plain `cargo test`; run with `cargo test --tests --
//! --ignored redis_cluster` and `SSEEK_REDIS_CLUSTER_URL` set, as `.ci/run`
//! does. Each test uses a key namespace of its own and removes it at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::served::{Served, add_tenant};
use sseek::client::Http;
use sseek::demo::{self, DemoOptions, SSE_VARIANTS};
use sseek::protocol::{Request, Response};
use sseek::store::RedisClusterStore;
use sseek::transport::{Traffic, Transport};

fn cluster_url() -> String {
    match std::env::var("SSEEK_REDIS_CLUSTER_URL") {
        Ok(url) if !url.is_empty() => url.strip_prefix("redis-cluster:").unwrap_or(&url).to_owned(),
        _ => panic!("SSEEK_REDIS_CLUSTER_URL is not set (start a cluster with scripts/redis-cluster.sh start 3)"),
    }
}

/// A namespace removed when the test ends, even when it fails.
struct Namespace {
    url: String,
    name: String,
}

impl Namespace {
    fn new(tag: &str) -> Self {
        Namespace { url: cluster_url(), name: format!("{tag}{}", std::process::id()) }
    }

    fn spec(&self) -> String {
        format!("redis-cluster:{}", self.url)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Ok(s) = RedisClusterStore::connect(&self.url, &self.name) {
            let _ = s.destroy();
        }
    }
}

fn demo_options() -> DemoOptions {
    DemoOptions {
        progress: false,
        queries_per_index: 4,
        schemes: SSE_VARIANTS.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

fn check(report: &demo::DemoReport) {
    assert_eq!(report.mismatches, 0, "{}", report.to_markdown());
    assert_eq!(report.sse.len(), SSE_VARIANTS.len());
    assert!(report.sse.iter().all(|r| r.queries > 0 && r.mismatches == 0 && r.index_bytes > 0));
    assert!(report.queries > 50, "{} queries", report.queries);
}

#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn demo_over_http_on_redis_cluster() {
    // No fsync change or crash test meanwhile (see `common`).
    let _shared = common::REDIS_CLUSTER_TESTS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ns = Namespace::new("httpdemo");
    let token = add_tenant(&ns.spec(), &ns.name, "demo");
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(&ns.spec(), &ns.name, &dir.path().join("server.log"), &[]);
    let report = demo::run_remote(
        &demo_options(),
        common::canary_corpus(5, 200),
        &sseek::client::Endpoint { url: served.url.clone(), token, ca: None },
    )
    .unwrap();
    check(&report);
    assert!(served.stop(), "graceful shutdown exits 0");
    let store = RedisClusterStore::connect(&ns.url, &ns.name).unwrap();
    let audit = sseek::server::audit::verify(&store).unwrap();
    assert!(audit.records > 50, "{} audit records", audit.records);
}

/// Sends each request to the other server than the last one.
#[derive(Debug)]
struct Alternating {
    ends: [Http; 2],
    next: AtomicUsize,
}

impl Transport for Alternating {
    fn call(&self, request: &Request) -> sseek::Result<Response> {
        self.ends[self.next.fetch_add(1, Ordering::Relaxed) % 2].call(request)
    }

    fn traffic(&self) -> Traffic {
        let (a, b) = (self.ends[0].traffic(), self.ends[1].traffic());
        Traffic {
            round_trips: a.round_trips + b.round_trips,
            bytes_sent: a.bytes_sent + b.bytes_sent,
            bytes_received: a.bytes_received + b.bytes_received,
        }
    }
}

#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn demo_over_two_servers_on_one_redis_cluster() {
    // No fsync change or crash test meanwhile (see `common`).
    let _shared = common::REDIS_CLUSTER_TESTS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ns = Namespace::new("twoservers");
    let token = add_tenant(&ns.spec(), &ns.name, "demo");
    let dir = tempfile::tempdir().unwrap();
    let mut one = Served::start(&ns.spec(), &ns.name, &dir.path().join("one.log"), &[]);
    let mut two = Served::start(&ns.spec(), &ns.name, &dir.path().join("two.log"), &[]);
    let opts = DemoOptions { tenant: "demo".into(), ..demo_options() };
    let connect = || {
        Ok(Alternating { ends: [Http::new(&one.url, &token), Http::new(&two.url, &token)], next: AtomicUsize::new(0) })
    };
    let report = demo::run_with_transport(&opts, common::canary_corpus(6, 200), connect, "two servers".into()).unwrap();
    check(&report);
    let calls = |log: &str| std::fs::read_to_string(dir.path().join(log)).unwrap().matches("request_id=").count();
    assert!(one.stop() && two.stop(), "graceful shutdowns exit 0");
    let (a, b) = (calls("one.log"), calls("two.log"));
    assert!(a > 20 && b > 20, "both servers served: {a} and {b} requests");
    // Both processes appended to the audit log: still one chain.
    let store = RedisClusterStore::connect(&ns.url, &ns.name).unwrap();
    let audit = sseek::server::audit::verify(&store).unwrap();
    assert!(audit.records >= a.min(b) as u64, "{} audit records", audit.records);
}
