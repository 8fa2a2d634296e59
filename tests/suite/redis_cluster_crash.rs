//! Crash tests of the Redis Cluster store against clusters of its own: the
//! real `redis-server` of one master is SIGKILLed while writer threads load
//! the store with multi-bucket batches, and afterwards a fresh store handle
//! checks every batch: each acknowledged one is wholly there (0 lost, 0
//! half present), each failed one is wholly there or wholly absent, and the
//! failures fall in the window the node was away.
//!
//! - `redis_cluster_master_killed_and_restarted`: 3 masters, `appendfsync
//!   always`, no replicas; a master is killed and restarted 2 s later from
//!   its AOF.
//! - `redis_cluster_master_failover`: 3 masters and 3 replicas, store spec
//!   `?wait=1`; the master holding the coordinator slot is killed and its
//!   replica promoted; the dead node is brought back afterwards and rejoins
//!   as a replica of the promoted one (so the data read back is what the
//!   promoted replica held), after which writes succeed again.
//!
//! Each test starts its own cluster with `scripts/redis-cluster.sh` in a
//! temporary directory, on free ports probed from 19000 upward in steps of
//! 10 (`SSEEK_REDIS_CRASH_PORT` moves the start), and stops it when it ends,
//! even on panic. They need `redis-server` and `redis-cli` on the PATH and
//! run with `cargo test --test suite redis_cluster_crash:: -- --ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sseek::store::{RedisClusterStore, Store, Table, WriteBatch};

// One test at a time, and no other Redis Cluster test meanwhile: each
// runs a cluster and loads both cores.
use crate::common::REDIS_CLUSTER_TESTS as SERIAL;

/// The namespace the tests write (each cluster is their own).
const NS: &str = "crash";

/// Entries per batch; they fall in (usually) as many buckets.
const KEYS_PER_BATCH: u8 = 4;

/// Writer threads.
const WRITERS: u64 = 4;

/// A cluster started by the repository's script, stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    base: u16,
    nodes: u16,
    spec: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/redis-cluster.sh")
}

/// Whether nothing listens on `port` of the loopback address.
fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

impl Cluster {
    /// Starts `masters` masters with `replicas` replicas each on the first
    /// free ports (node and cluster bus) from the probe base.
    fn start(masters: u16, replicas: u16) -> Cluster {
        let nodes = masters * (1 + replicas);
        let first: u16 = std::env::var("SSEEK_REDIS_CRASH_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(19000);
        let base = (0..100)
            .map(|i| first + 10 * i)
            .find(|&b| (b..b + nodes).all(|p| free(p) && free(p + 10000)))
            .expect("no free ports for a test cluster");
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(script())
            .args(["start", &masters.to_string(), "--replicas", &replicas.to_string()])
            .args(["--base-port", &base.to_string(), "--dir"])
            .arg(dir.path())
            .output()
            .expect("run scripts/redis-cluster.sh (needs bash, redis-server, redis-cli)");
        let cluster = Cluster { dir, base, nodes, spec: String::from_utf8_lossy(&out.stdout).trim().to_owned() };
        assert!(
            out.status.success() && cluster.spec.starts_with("redis-cluster:"),
            "cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    /// The store spec without the `redis-cluster:` prefix.
    fn url(&self) -> &str {
        self.spec.strip_prefix("redis-cluster:").unwrap()
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new(script()).args(args).arg("--dir").arg(self.dir.path()).output().unwrap();
        assert!(out.status.success(), "redis-cluster.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// SIGKILL of the node's `redis-server`.
    fn kill(&self, port: u16) {
        self.run(&["kill", &port.to_string()]);
    }

    /// Starts the node again on its data directory (AOF and nodes.conf).
    fn restart(&self, port: u16) {
        self.run(&["restart", &port.to_string()]);
    }

    fn conn(port: u16) -> Option<redis::Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        client.get_connection_with_timeout(Duration::from_secs(1)).ok()
    }

    fn text(port: u16, args: &[&str]) -> Option<String> {
        let mut c = Self::conn(port)?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<String>(&mut c).ok()
    }

    /// The node's role: "master" or "slave", `None` if it does not answer.
    fn role(port: u16) -> Option<String> {
        let info = Self::text(port, &["INFO", "replication"])?;
        info.lines().find_map(|l| l.strip_prefix("role:")).map(|r| r.trim().to_owned())
    }

    /// Whether every live node reports `cluster_state:ok`.
    fn ok(&self) -> bool {
        (self.base..self.base + self.nodes)
            .filter(|&p| Self::role(p).is_some())
            .all(|p| Self::text(p, &["CLUSTER", "INFO"]).is_some_and(|i| i.contains("cluster_state:ok")))
    }

    /// The port of the master that serves `key`'s slot, asked of a live node.
    fn master_of(&self, key: &str) -> u16 {
        let port = self.base;
        let mut c = Self::conn(port).unwrap();
        let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut c).unwrap();
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c).unwrap();
        for line in nodes.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 9 || !f[2].contains("master") || f[2].contains("fail") {
                continue;
            }
            let owns = f[8..].iter().any(|r| {
                let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                matches!((lo.parse::<i64>(), hi.parse::<i64>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
            });
            if owns {
                return f[1].split('@').next().unwrap().rsplit_once(':').unwrap().1.parse().unwrap();
            }
        }
        panic!("no master serves slot {slot} of {key}");
    }

    /// The replica that follows master `port`.
    fn replica_of(&self, port: u16) -> u16 {
        (self.base..self.base + self.nodes)
            .find(|&p| {
                Self::text(p, &["INFO", "replication"])
                    .is_some_and(|i| i.contains("role:slave") && i.contains(&format!("master_port:{port}")))
            })
            .expect("the master has a replica")
    }

    /// Waits up to `limit` for `cond`; returns how long it took.
    fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
        let started = Instant::now();
        while !cond() {
            assert!(started.elapsed() < limit, "{what} not within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        started.elapsed()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg("--dir").arg(self.dir.path()).output();
    }
}

/// The store keys of batch `id`, one per part.
fn keys_of(id: u64) -> Vec<Vec<u8>> {
    (0..KEYS_PER_BATCH)
        .map(|part| {
            let mut k = b"crash/".to_vec();
            k.extend_from_slice(&id.to_be_bytes());
            k.push(part);
            k
        })
        .collect()
}

/// The value of part `part` of batch `id`.
fn value_of(id: u64, part: usize) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.push(part as u8);
    v
}

/// One write as the client saw it.
struct Attempt {
    id: u64,
    started: Instant,
    ended: Instant,
    /// `None` if acknowledged, else the error's text.
    error: Option<String>,
}

/// Writer threads writing batches until told to stop.
struct Writers {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<Vec<Attempt>>>,
}

impl Writers {
    /// Starts the writers; `round` keeps batch ids of separate runs apart.
    fn start(store: &Arc<RedisClusterStore>, round: u64) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..WRITERS)
            .map(|t| {
                let (store, stop) = (Arc::clone(store), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut attempts = Vec::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let id = round << 48 | t << 40 | n;
                        n += 1;
                        let mut b = WriteBatch::new();
                        for (part, key) in keys_of(id).into_iter().enumerate() {
                            b.put(Table::Entries, key, value_of(id, part));
                        }
                        let started = Instant::now();
                        let result = store.write(b);
                        let ended = Instant::now();
                        let failed = result.is_err();
                        attempts.push(Attempt { id, started, ended, error: result.err().map(|e| e.to_string()) });
                        if failed {
                            // As a client would, rather than spinning on a dead node.
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    attempts
                })
            })
            .collect();
        Writers { stop, handles }
    }

    fn finish(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        self.handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    }
}

/// What a read-back found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Verdict {
    acked: usize,
    errors: usize,
    /// Acknowledged batches with no entry left.
    lost: usize,
    /// Batches (acknowledged or not) with some but not all entries.
    half_present: usize,
    /// Failed batches found wholly applied (their commit went through).
    errored_present: usize,
}

/// Reads every batch back through a fresh store handle. A batch that
/// failed while its node was away may stay pending until it is presumed
/// dead (10 s) and aborted by a reader; until then the read point stays
/// below it and later batches are not yet visible, so this reads again
/// (for at most 20 s) while acknowledged batches are missing.
fn verify(url: &str, attempts: &[Attempt]) -> Verdict {
    let store = RedisClusterStore::connect(url, NS).expect("reconnect after the crash");
    let started = Instant::now();
    loop {
        let mut v = Verdict::default();
        let mut read_failed = None;
        for chunk in attempts.chunks(100) {
            let keys: Vec<Vec<u8>> = chunk.iter().flat_map(|a| keys_of(a.id)).collect();
            let values = match store.get_many(Table::Entries, &keys) {
                Ok(values) => values,
                Err(e) => {
                    read_failed = Some(e.to_string());
                    break;
                }
            };
            for (i, a) in chunk.iter().enumerate() {
                let n = KEYS_PER_BATCH as usize;
                let present = (0..n).filter(|&p| values[i * n + p].as_deref() == Some(&value_of(a.id, p)[..])).count();
                let whole = present == n;
                if present != 0 && !whole {
                    v.half_present += 1;
                }
                match &a.error {
                    None => {
                        v.acked += 1;
                        v.lost += usize::from(present == 0);
                    }
                    Some(_) => {
                        v.errors += 1;
                        v.errored_present += usize::from(whole);
                    }
                }
            }
        }
        let settled = read_failed.is_none() && v.lost == 0;
        if settled || started.elapsed() > Duration::from_secs(20) {
            assert!(read_failed.is_none(), "reading back failed: {read_failed:?}");
            eprintln!("read back after {:.1} s of waiting for stale batches", started.elapsed().as_secs_f64());
            return v;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn summary(attempts: &[Attempt]) -> (usize, usize) {
    let errors = attempts.iter().filter(|a| a.error.is_some()).count();
    (attempts.len() - errors, errors)
}

#[test]
#[ignore = "needs Redis Cluster: redis-server and redis-cli on PATH"]
fn redis_cluster_master_killed_and_restarted() {
    let _serial = SERIAL.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let test_started = Instant::now();
    let cluster = Cluster::start(3, 0);
    let store = Arc::new(RedisClusterStore::connect(cluster.url(), NS).unwrap());
    // A master other than the coordinator's: batches then fail half
    // prepared, and their rollback meets the dead node too.
    let coordinator = cluster.master_of(&format!("{{{NS}:c}}"));
    let victim = (cluster.base..cluster.base + 3).find(|&p| p != coordinator).unwrap();

    let writers = Writers::start(&store, 1);
    std::thread::sleep(Duration::from_secs(3));
    let killed = Instant::now();
    cluster.kill(victim);
    std::thread::sleep(Duration::from_secs(2));
    cluster.restart(victim);
    Cluster::wait_for(Duration::from_secs(20), "cluster_state:ok after the restart", || cluster.ok());
    let back = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let attempts = writers.finish();

    let (acked, errors) = summary(&attempts);
    let before = attempts.iter().filter(|a| a.started < killed && a.error.is_none()).count();
    let after = attempts.iter().filter(|a| a.started > back + Duration::from_secs(1) && a.error.is_none()).count();
    eprintln!(
        "master {victim} down {:.1} s: {acked} acknowledged batches ({before} before the kill, {after} after it was \
         back), {errors} errors",
        (back - killed).as_secs_f64()
    );
    for a in attempts.iter().filter(|a| a.error.is_some()).take(3) {
        eprintln!("  e.g. {}", a.error.as_deref().unwrap());
    }
    assert!(before > 0, "no batch was acknowledged before the kill");
    assert!(errors > 0, "the kill caused no write error: it did not hit");
    assert!(after > 0, "no write succeeded after the node was back");
    // Errors only for requests in flight while the node was away (a second
    // of grace for clients to reconnect).
    for a in attempts.iter().filter(|a| a.error.is_some()) {
        assert!(
            a.ended >= killed && a.started <= back + Duration::from_secs(1),
            "a write failed outside the outage ({:?} after the kill): {}",
            a.started.saturating_duration_since(killed),
            a.error.as_deref().unwrap()
        );
    }

    let v = verify(cluster.url(), &attempts);
    eprintln!("{v:?}; test took {:.1} s", test_started.elapsed().as_secs_f64());
    assert_eq!((v.acked, v.errors), (acked, errors));
    assert_eq!(v.lost, 0, "acknowledged batches lost");
    assert_eq!(v.half_present, 0, "batches half present");
}

#[test]
#[ignore = "needs Redis Cluster: redis-server and redis-cli on PATH"]
fn redis_cluster_master_failover() {
    let _serial = SERIAL.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let test_started = Instant::now();
    let cluster = Cluster::start(3, 1);
    let url = format!("{}?wait=1", cluster.url());
    let store = Arc::new(RedisClusterStore::connect(&url, NS).unwrap());
    // The coordinator's master: every batch allocates and commits there, so
    // its failover is the one the sequence numbers must survive.
    let victim = cluster.master_of(&format!("{{{NS}:c}}"));
    let replica = cluster.replica_of(victim);

    let writers = Writers::start(&store, 1);
    std::thread::sleep(Duration::from_secs(3));
    let killed = Instant::now();
    cluster.kill(victim);
    let promoted_after = Cluster::wait_for(Duration::from_secs(20), "promotion of the replica", || {
        Cluster::role(replica).as_deref() == Some("master")
    });
    Cluster::wait_for(Duration::from_secs(20), "cluster_state:ok after the failover", || cluster.ok());
    std::thread::sleep(Duration::from_secs(1));
    let during = writers.finish();
    let (acked_during, errors_during) = summary(&during);
    let before = during.iter().filter(|a| a.started < killed && a.error.is_none()).count();
    eprintln!(
        "master {victim} killed, replica {replica} promoted after {:.1} s: {acked_during} acknowledged batches \
         ({before} before the kill), {errors_during} errors",
        promoted_after.as_secs_f64()
    );
    for a in during.iter().filter(|a| a.error.is_some()).take(3) {
        eprintln!("  e.g. {}", a.error.as_deref().unwrap());
    }
    assert!(before > 0, "no batch was acknowledged before the kill");
    assert!(errors_during > 0, "the kill caused no write error: it did not hit");
    for a in during.iter().filter(|a| a.error.is_some()) {
        assert!(a.ended >= killed, "a write failed before the kill: {}", a.error.as_deref().unwrap());
    }

    // The promoted master has no replica, so wait=1 refuses its writes (and
    // the rollback of the batches the kill interrupted) until one is back:
    // the dead node returns and, outvoted, follows the promoted one,
    // dropping its own data for the promoted replica's.
    cluster.restart(victim);
    let rejoined = Cluster::wait_for(Duration::from_secs(30), "the old master to follow the promoted replica", || {
        Cluster::text(victim, &["INFO", "replication"])
            .is_some_and(|i| i.contains("role:slave") && i.contains("master_link_status:up"))
    });
    eprintln!("old master {victim} back as a replica after {:.1} s", rejoined.as_secs_f64());
    assert_eq!(Cluster::role(replica).as_deref(), Some("master"), "the promoted replica stays master");

    let writers = Writers::start(&store, 2);
    std::thread::sleep(Duration::from_secs(3));
    let after = writers.finish();
    let (acked_after, errors_after) = summary(&after);
    eprintln!("with a replica back: {acked_after} acknowledged batches, {errors_after} errors");
    assert!(acked_after > 0, "no write succeeded after the failover");
    let resumed = after.iter().map(|a| a.started).min().unwrap();
    for a in &after {
        // A second of grace for the first batches to reach the new topology.
        assert!(
            a.error.is_none() || a.started < resumed + Duration::from_secs(1),
            "a write failed with the replica back: {}",
            a.error.as_deref().unwrap()
        );
    }

    let all: Vec<Attempt> = during.into_iter().chain(after).collect();
    let v = verify(&url, &all);
    eprintln!("{v:?}; test took {:.1} s", test_started.elapsed().as_secs_f64());
    assert_eq!((v.acked, v.errors), (acked_during + acked_after, errors_during + errors_after));
    assert_eq!(v.lost, 0, "acknowledged batches lost");
    assert_eq!(v.half_present, 0, "batches half present");
}
