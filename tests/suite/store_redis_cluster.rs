//! The store conformance suite and Redis Cluster-specific checks against a
//! live cluster. The tests that need one are ignored by a plain `cargo test`
//! and run with `cargo test --tests -- --ignored redis_cluster` and
//! `SSEEK_REDIS_CLUSTER_URL` set to the cluster's spec (what
//! `scripts/redis-cluster.sh start 3` prints, without the `redis-cluster:`
//! prefix or with it), as `.ci/run` does; run without it they fail. Each
//! store gets a key namespace of its own, removed when the test ends, even
//! when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sseek::Error;
use sseek::store::{RedisClusterStore, Store, Table, WriteBatch, conformance};

// Connecting checks every master's fsync setting, which one test changes
// for a moment: it holds this exclusively, the others (and the Redis
// Cluster tests of the other modules) shared.
use crate::common::REDIS_CLUSTER_TESTS as FSYNC_SETTING;

/// The cluster spec from `SSEEK_REDIS_CLUSTER_URL`. Panics without it: a
/// test asked to run against a cluster must not pass without one.
fn cluster_url() -> String {
    match std::env::var("SSEEK_REDIS_CLUSTER_URL") {
        Ok(url) if !url.is_empty() => url.strip_prefix("redis-cluster:").unwrap_or(&url).to_owned(),
        _ => panic!(
            "SSEEK_REDIS_CLUSTER_URL is not set, so there is no Redis Cluster to test against \
             (start one with scripts/redis-cluster.sh start 3 and set it to the printed spec)"
        ),
    }
}

/// Namespaces used by one test, destroyed when it ends (also on panic).
struct Namespaces {
    url: String,
    names: Mutex<BTreeSet<String>>,
}

impl Namespaces {
    fn new() -> Self {
        Namespaces { url: cluster_url(), names: Mutex::new(BTreeSet::new()) }
    }

    fn for_dir(&self, dir: &Path) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        dir.hash(&mut h);
        self.named(format!("t{:016x}", h.finish()))
    }

    fn named(&self, name: String) -> String {
        self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.clone());
        name
    }

    fn open(&self, ns: &str, options: &str) -> RedisClusterStore {
        RedisClusterStore::connect(&format!("{}{options}", self.url), ns).expect("connect to the cluster")
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for ns in names {
            if let Ok(s) = RedisClusterStore::connect(&self.url, &ns) {
                let _ = s.destroy();
            }
        }
    }
}

#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn redis_cluster_conformance() {
    let _shared = FSYNC_SETTING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let spaces = Namespaces::new();
    conformance::run_all(&|dir: &Path| spaces.open(&spaces.for_dir(dir), ""), true);
}

/// The suite again with one bucket per store key range of 4 buckets: the
/// merge of few, long index pages.
#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn redis_cluster_conformance_few_buckets() {
    let _shared = FSYNC_SETTING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let spaces = Namespaces::new();
    conformance::run_all(&|dir: &Path| spaces.open(&spaces.for_dir(dir), "?buckets=4"), true);
}

/// Two store handles on one namespace stand for two server processes:
/// batches written through either are seen whole through both, and a
/// write acknowledged by one is visible to the other at once.
#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn redis_cluster_two_processes_share_one_store() {
    let _shared = FSYNC_SETTING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let spaces = Namespaces::new();
    let ns = spaces.named("two-processes".to_owned() + &std::process::id().to_string());
    let a = Arc::new(spaces.open(&ns, ""));
    let b = Arc::new(spaces.open(&ns, ""));
    let keys: Vec<Vec<u8>> = (0u8..8).map(|i| vec![b't', i]).collect();
    let writers: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
        .into_iter()
        .enumerate()
        .map(|(w, s)| {
            let keys = keys.clone();
            std::thread::spawn(move || {
                for round in 0u32..40 {
                    let mut batch = WriteBatch::new();
                    let v = (round * 2 + u32::try_from(w).unwrap()).to_be_bytes().to_vec();
                    for k in &keys {
                        batch.put(Table::Entries, k.clone(), v.clone());
                    }
                    s.write(batch).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
        .into_iter()
        .map(|s| {
            let keys = keys.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let v = s.get_many(Table::Entries, &keys).unwrap();
                    assert!(v.iter().all(|x| *x == v[0]), "a reader saw parts of two batches: {v:?}");
                }
            })
        })
        .collect();
    for t in writers.into_iter().chain(readers) {
        t.join().unwrap();
    }
    for round in 0u32..20 {
        let mut batch = WriteBatch::new();
        batch.put(Table::Meta, b"counter".to_vec(), round.to_be_bytes().to_vec());
        a.write(batch).unwrap();
        assert_eq!(b.get(Table::Meta, b"counter").unwrap(), Some(round.to_be_bytes().to_vec()), "read your writes");
    }
}

/// One tenant's entries spread over every master; with a single bucket
/// (the negative control) they all sit on one.
#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn redis_cluster_spreads_a_tenant_over_the_shards() {
    let _shared = FSYNC_SETTING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let spaces = Namespaces::new();
    let pid = std::process::id();
    let fill = |s: &RedisClusterStore| {
        let mut b = WriteBatch::new();
        for i in 0u32..600 {
            let mut key = b"tenant-a/label/".to_vec();
            key.extend_from_slice(&i.to_be_bytes());
            b.put(Table::Entries, key, vec![7; 16]);
        }
        s.write(b).unwrap();
        s.entries_per_master().unwrap()
    };
    let spread = fill(&spaces.open(&spaces.named(format!("spread{pid}")), ""));
    assert!(spread.len() >= 3, "a cluster of at least 3 masters: {spread:?}");
    let total: u64 = spread.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 600);
    let mean = total as f64 / spread.len() as f64;
    for (node, n) in &spread {
        assert!((*n as f64) > mean * 0.5, "{node:?} holds {n} of {total} entries: {spread:?}");
    }
    let one = fill(&spaces.open(&spaces.named(format!("onebucket{pid}")), "?buckets=1"));
    let nonempty = one.iter().filter(|(_, n)| *n > 0).count();
    assert_eq!(nonempty, 1, "one bucket puts a tenant on one shard: {one:?}");
}

/// A writer that died between allocating its batch and committing it: the
/// batch (whose versions are already on a node) is aborted by the next
/// reader once stale, its versions are never seen, and later writes become
/// visible again.
#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn redis_cluster_dead_writer_is_aborted() {
    let _shared = FSYNC_SETTING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let spaces = Namespaces::new();
    let ns = spaces.named(format!("dead{}", std::process::id()));
    let s = spaces.open(&ns, "?buckets=1");
    let mut b = WriteBatch::new();
    b.put(Table::Documents, b"doc".to_vec(), b"old".to_vec());
    s.write(b).unwrap();
    // Forge what a writer leaves behind when it dies after its prepare:
    // batch 1000 pending since the epoch, its version of `doc` in bucket 0.
    let client = redis::cluster::ClusterClient::new(vec![spaces.url.split(',').next().unwrap()]).unwrap();
    let mut c = client.get_connection().unwrap();
    let coord = |n: &str| format!("{{{ns}:c}}{n}");
    let seq: u64 = redis::cmd("GET").arg(coord("seq")).query(&mut c).unwrap();
    let dead = seq + 1;
    let _: () = redis::cmd("SET").arg(coord("seq")).arg(dead).query(&mut c).unwrap();
    let _: () = redis::cmd("ZADD").arg(coord("pend")).arg(dead).arg(dead).query(&mut c).unwrap();
    let _: () = redis::cmd("HSET").arg(coord("state")).arg(dead).arg("p:0:0").query(&mut c).unwrap();
    let mut version = vec![1u8];
    version.extend_from_slice(&dead.to_be_bytes());
    version.extend_from_slice(b"from a dead writer");
    let mut data_key = format!("{{{ns}:b0}}d").into_bytes();
    data_key.push(0); // Table::Documents
    data_key.extend_from_slice(b"doc");
    let _: () = redis::cmd("HSET").arg(&data_key).arg(dead).arg(&version).query(&mut c).unwrap();
    let _: () = redis::cmd("SADD")
        .arg(format!("{{{ns}:b0}}p{dead}"))
        .arg(&data_key[data_key.len() - 4..])
        .query(&mut c)
        .unwrap();
    // The next read aborts the stale batch and never shows its version.
    assert_eq!(s.get(Table::Documents, b"doc").unwrap().as_deref(), Some(&b"old"[..]));
    let pending: u64 = redis::cmd("ZCARD").arg(coord("pend")).query(&mut c).unwrap();
    assert_eq!(pending, 0, "the stale batch was aborted");
    let left: bool = redis::cmd("HEXISTS").arg(&data_key).arg(dead).query(&mut c).unwrap();
    assert!(!left, "the aborted batch's version was removed");
    let mut b = WriteBatch::new();
    b.put(Table::Documents, b"doc".to_vec(), b"new".to_vec());
    s.write(b).unwrap();
    assert_eq!(s.get(Table::Documents, b"doc").unwrap().as_deref(), Some(&b"new"[..]), "later writes are visible");
    // A version whose bytes were damaged is an error, not a value.
    let seq: u64 = redis::cmd("GET").arg(coord("seq")).query(&mut c).unwrap();
    let _: () = redis::cmd("HSET").arg(&data_key).arg(seq).arg(b"\x07junk".as_slice()).query(&mut c).unwrap();
    let err = s.get(Table::Documents, b"doc").unwrap_err();
    assert!(matches!(err, Error::DataCorruption { .. }), "{err}");
}

/// Bad specs are configuration errors, an unreachable cluster a store
/// error; masters that do not fsync every write are refused.
#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn redis_cluster_connect_errors() {
    let url = cluster_url();
    for bad in ["", "http://127.0.0.1:7000", "redis://127.0.0.1:7000?buckets=0", "redis://127.0.0.1:7000?x=1"] {
        let err = RedisClusterStore::connect(bad, "ns").unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{bad}: {err}");
    }
    assert!(matches!(RedisClusterStore::connect(&url, "bad:name").unwrap_err(), Error::Config(_)));
    let err = RedisClusterStore::connect("redis://127.0.0.1:1", "ns").unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    let spaces = Namespaces::new();
    let ns = spaces.named(format!("cfg{}", std::process::id()));
    drop(spaces.open(&ns, "?buckets=8"));
    let err = RedisClusterStore::connect(&format!("{url}?buckets=16"), &ns).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "a namespace keeps its bucket count: {err}");
    // Negative control of the durability check: one master on everysec.
    let _exclusive = FSYNC_SETTING.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let first = url.split(',').next().unwrap();
    let mut c = redis::Client::open(first).unwrap().get_connection().unwrap();
    let set = |c: &mut redis::Connection, v: &str| {
        let _: () = redis::cmd("CONFIG").arg("SET").arg("appendfsync").arg(v).query(c).unwrap();
    };
    set(&mut c, "everysec");
    let refused = RedisClusterStore::connect(&url, &ns);
    set(&mut c, "always");
    assert!(matches!(refused.unwrap_err(), Error::Store(m) if m.contains("appendfsync")));
    assert!(RedisClusterStore::connect(&url, &ns).is_ok());
}

/// The shard layout the leakage analysis computes without a cluster (the
/// store's buckets, CRC16 slots, the slot ranges of `redis-cli --cluster
/// create`) is where the cluster puts the keys: each master holds exactly
/// the keys computed for one shard.
#[test]
#[ignore = "needs Redis Cluster: set SSEEK_REDIS_CLUSTER_URL"]
fn redis_cluster_shard_layout_matches_the_cluster() {
    use sseek::leakage::experiment::shard::ShardLayout;
    use sseek::store::keyspace::document_key;
    let _shared = FSYNC_SETTING.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let spaces = Namespaces::new();
    let ns = spaces.named(format!("layout{}", std::process::id()));
    let store = spaces.open(&ns, "");
    let mut batch = WriteBatch::new();
    let mut keys: BTreeSet<(&str, Vec<u8>)> = BTreeSet::new();
    for i in 0u32..400 {
        let doc = document_key("acme", i);
        batch.put(Table::Documents, doc.clone(), vec![1; 8]);
        keys.insert((Table::Documents.name(), doc));
        let mut entry = b"\x04acme\x01iD".to_vec();
        entry.extend_from_slice(&i.to_be_bytes());
        batch.put(Table::Entries, entry.clone(), vec![2; 8]);
        keys.insert((Table::Entries.name(), entry));
    }
    store.write(batch).unwrap();
    let masters = store.masters().unwrap();
    let layout = ShardLayout::new(&ns, store.buckets(), u16::try_from(masters.len()).unwrap()).unwrap();
    let table = |name: &str| *Table::ALL.iter().find(|t| t.name() == name).unwrap();
    let mut shards_seen = BTreeSet::new();
    for node in &masters {
        let held: BTreeSet<(&str, Vec<u8>)> =
            store.entries_on(node).unwrap().into_iter().map(|(t, k)| (t.name(), k)).collect();
        let shards: BTreeSet<u16> = held.iter().map(|(t, k)| layout.shard_of(table(t), k)).collect();
        assert_eq!(shards.len(), 1, "{node:?} holds keys of computed shards {shards:?}");
        let shard = *shards.first().unwrap();
        assert!(shards_seen.insert(shard), "two masters hold computed shard {shard}");
        let computed: BTreeSet<(&str, Vec<u8>)> =
            keys.iter().filter(|(t, k)| layout.shard_of(table(t), k) == shard).cloned().collect();
        assert_eq!(held, computed, "{node:?}");
    }
    assert_eq!(shards_seen.len(), masters.len());
}
