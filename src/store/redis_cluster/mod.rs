//! Redis Cluster backend: one distributed store that several `sseek serve`
//! processes share. See [`RedisClusterStore`] for the design.

pub mod layout;
mod scripts;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConnection, cluster_pipe};
use redis::cluster_routing::{MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Value};
use sha2::{Digest, Sha256};

use super::{ManyValues, SharedLock, SnapshotVisitor, Store, Table, Visitor, WriteBatch, WriteOp, prefix_upper_bound};
use crate::{Error, Result};

/// Buckets of a new namespace unless the spec says otherwise.
const DEFAULT_BUCKETS: u32 = 256;

/// A pending batch older than this is presumed abandoned by a dead writer
/// and aborted by whoever finds it.
const STALE_MS: u64 = 10_000;

/// How long a scan's lease on its read point lasts without renewal.
const LEASE_MS: u64 = 60_000;

/// Index members fetched per bucket and request while scanning.
const SCAN_PAGE: usize = 256;

/// Values read per pipelined request while scanning.
const SCAN_CHUNK: usize = 128;

/// Members per prepare script call (bounds how long one script blocks a node).
const PREPARE_CHUNK: usize = 512;

/// Reads retried at a newer read point before giving up.
const READ_RETRIES: usize = 50;

/// How long a shared lock lasts if its holder never releases it (dies).
const LOCK_MS: u64 = 30_000;

/// How long [`Store::shared_lock`] waits for a lock before failing.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Version tag of a value.
const TAG_VALUE: u8 = 1;
/// Version tag of a deletion.
const TAG_TOMBSTONE: u8 = 0;

/// A [`Store`] on a Redis Cluster, shared by any number of processes.
///
/// Spec: `redis-cluster:redis://HOST:PORT[,redis://HOST:PORT...][?buckets=N&wait=R]`
/// (any node reaches the cluster; listing several survives one being down).
/// The namespace (the `--pg-schema` option of the CLI, `sseek` by default)
/// prefixes every key, so stores can share a cluster.
///
/// # Layout: spread by label
/// Every store key `(table, key)` belongs to one of `N` buckets (256 by
/// default, fixed when the namespace is created), chosen by SHA-256 of the
/// table and the whole key. sseek's keys start with the tenant and end with a
/// token, label or document id, so one tenant's entries spread over every
/// bucket: no tenant sits on one shard. A bucket is a Redis hash tag
/// `{ns:bI}`, so everything of one bucket shares a slot and a node:
/// - `{ns:bI}d<member>`, a hash holding the key's versions (field: batch
///   sequence number; value: a tag byte, the sequence number again, the
///   value), and `f`, its collection floor; `<member>` is the table byte and
///   the key;
/// - `{ns:bI}x`, a sorted set of the bucket's members, all score 0, so that
///   `ZRANGE BYLEX` lists them in byte order (the ordered key index);
/// - `{ns:bI}t` (deletions awaiting collection), `{ns:bI}f` (deletion floor),
///   `{ns:bI}a` (aborted batches), `{ns:bI}p<seq>` (members a batch wrote).
///
/// A coordinator slot `{ns:c}` holds the batch sequence counter, the pending
/// batches with their state, and the read leases of running scans.
///
/// # Atomic batches without cross-slot transactions
/// Redis Cluster has no transaction across slots, so batches are versioned
/// (multi-version concurrency control with a global sequence):
/// 1. *Allocate*: one script on the coordinator takes the next sequence
///    number `s`, records `s` as pending (with its start time and the buckets
///    it touches) and returns the collection horizon `h`.
/// 2. *Prepare*: for each bucket, one script writes version `s` of every key
///    the batch changes (a delete writes a tombstone) and indexes new keys.
///    Nothing is visible yet: readers read at a point below `s`.
/// 3. *Commit*: one script on the coordinator removes `s` from the pending
///    set if it is still pending. This is the commit point.
///
/// A reader first asks the coordinator for its *read point* `r`: one less
/// than the oldest pending batch (or the counter if none is pending), so
/// every batch at or below `r` is committed or aborted and whole. It then
/// reads, for each key, the newest version at or below `r`. A batch is
/// thus seen whole or not at all, by every reader of every process, and
/// `write` returns after the commit, so a later reader sees it. Concurrent
/// batches on one key apply in sequence order whatever order their prepares
/// ran in. The cost: every read makes one extra round trip to the
/// coordinator, and every write two; the coordinator slot sees every request
/// (it is small and fast, but it is one node: see `docs/scale.md`).
///
/// Old versions are collected by the prepare scripts: a key keeps every
/// version above the horizon `h` and the newest at or below it, where `h` is
/// the lowest read point anyone may still read at (the read point at
/// allocation, lowered to the oldest live scan lease). A collected key
/// records the floor below which it lost versions; a reader at an older
/// point reads again at a fresh point (gets) or fails (a scan whose lease
/// ran out). Deleted keys go once their tombstone is below the horizon.
///
/// # A writer that dies
/// A batch pending for more than 10 s is presumed abandoned: any reader or
/// writer that finds it aborts it. The abort marks it aborting (so its
/// commit can no longer succeed), then removes its versions bucket by bucket
/// and marks it aborted there (so a late prepare is refused), then drops it.
/// Every step is idempotent, so several processes may abort the same batch.
/// A writer whose batch was aborted gets an error and nothing of its batch
/// remains. Until the abort, readers' read points stay below the batch: a
/// dead writer delays the visibility of later batches by up to 10 s, never
/// their atomicity.
///
/// # Durability: what an acknowledgement means
/// The nodes run with the append-only file and `appendfsync always` (as
/// `scripts/redis-cluster.sh` starts them, and as [`RedisClusterStore::connect`]
/// checks): a node replies to a write only after its AOF is fsynced. When
/// `write` returns `Ok`, every version of the batch and its commit are on
/// disk on their masters. With `wait=R` in the spec, the store also sends
/// `WAIT R` to each node it wrote to, after the allocation, the prepare and
/// the commit, and fails the write unless R replicas acknowledged: then an
/// acknowledged batch also survives the failover of a master to a replica.
/// The allocation is waited for too: a coordinator that failed over without
/// it would hand the same sequence number to another batch, whose commit
/// would then publish this one's prepared versions. An abort likewise waits
/// for its mark on the coordinator before it removes versions, and for the
/// buckets before it ends, so a failover cannot revive an aborted batch.
/// The price of `wait=R` while a master has fewer than R replicas (after a
/// failover, until the old master returns as a replica): writes touching
/// it fail after 5 s, and so does the rollback of interrupted batches, which
/// keeps the read point below them. [`Store::sync`] has nothing left to do.
/// When `write` returns an error, the batch was aborted, or (if the commit's
/// reply was lost) its outcome is unknown: it is then either committed or
/// aborted by the next reader, never half applied. A batch whose rollback
/// could not reach a node stays pending like a dead writer's, so later
/// batches become visible only once it is presumed dead (10 s) and aborted.
///
/// `tests/suite/redis_cluster_crash.rs` checks this with SIGKILL of a master's
/// `redis-server` under four writers (batches of four keys in as many
/// buckets): with `appendfsync always`, a master killed and restarted from
/// its AOF; with a replica per master and `wait=1`, the coordinator's master
/// killed and its replica promoted, then the dead node back as a replica.
/// Every acknowledged batch is read back whole afterwards, no batch is half
/// present, and writes fail only while the node is away (with `wait=1`:
/// until the shard has a replica again). `docs/scale.md` has the figures.
///
/// # Ordered scans
/// `scan_prefix`, `scan_from` and `snapshot` read every bucket's index with
/// `ZRANGE BYLEX` (pages of 256 members, pipelined) and merge the buckets in
/// key order, then read the values at one read point, under a lease that
/// keeps collection away from that point while the scan runs. A snapshot is
/// thus one point in time and blocks no writer. The price of spreading keys
/// by label: every scan asks every bucket, N requests per page, even for a
/// prefix with a few keys; the index doubles the key bytes held in memory.
/// sseek scans to list documents, erase tenants and back up, not to search.
///
/// # Prefix deletes
/// `delete_prefixes` allocates its batch first, waits until every earlier
/// batch is finished, lists the keys under the prefixes at the point just
/// before its own sequence number, and writes their tombstones and the extra
/// batch as one batch: later batches are ordered after it and keep their
/// keys.
///
/// Values read back are checked: the tag byte and the sequence number echoed
/// in the value must match, or the read fails with [`Error::DataCorruption`].
pub struct RedisClusterStore {
    client: ClusterClient,
    pool: Mutex<Vec<ClusterConnection>>,
    ns: String,
    buckets: u32,
    wait_replicas: u32,
    lease_ids: AtomicU64,
    instance: u64,
    scripts: Scripts,
}

impl fmt::Debug for RedisClusterStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClusterStore")
            .field("namespace", &self.ns)
            .field("buckets", &self.buckets)
            .field("wait_replicas", &self.wait_replicas)
            .finish_non_exhaustive()
    }
}

/// The script texts, built once.
#[derive(Debug)]
struct Scripts {
    alloc: String,
    read_point: String,
    abort_bucket: String,
    prepare: String,
    read: String,
}

/// Options of a spec after `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    buckets: Option<u32>,
    wait: u32,
}

fn redis_err(what: &str) -> impl Fn(redis::RedisError) -> Error + '_ {
    move |e| Error::Store(format!("redis cluster: {what}: {e}"))
}

fn corrupt(table: Table, reason: impl Into<String>) -> Error {
    Error::DataCorruption { table: table.name(), reason: reason.into() }
}

/// Splits `urls?options` into node URLs and options.
fn parse_spec(spec: &str) -> Result<(Vec<String>, Options)> {
    let (urls, query) = spec.split_once('?').unwrap_or((spec, ""));
    let nodes: Vec<String> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
    if nodes.is_empty() {
        return Err(Error::Config("redis-cluster needs at least one node URL (redis://HOST:PORT)".into()));
    }
    for n in &nodes {
        if !n.starts_with("redis://") {
            return Err(Error::Config(format!("redis-cluster node {n:?} is not a redis:// URL")));
        }
    }
    let mut opts = Options { buckets: None, wait: 0 };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let num = |what: &str| {
            v.parse::<u32>()
                .map_err(|_| Error::Config(format!("redis-cluster option {what} needs a number, got {v:?}")))
        };
        match k {
            "buckets" => {
                let b = num("buckets")?;
                if !(1..=16384).contains(&b) {
                    return Err(Error::Config("redis-cluster buckets must be 1 to 16384".into()));
                }
                opts.buckets = Some(b);
            }
            "wait" => opts.wait = num("wait")?,
            _ => return Err(Error::Config(format!("unknown redis-cluster option {k:?} (buckets, wait)"))),
        }
    }
    Ok((nodes, opts))
}

/// What a read script found.
enum Found {
    Absent,
    Present(Vec<u8>),
    Deleted,
    Retry,
}

/// A scan's lease on its read point.
struct Lease {
    id: String,
    point: u64,
    renewed: Instant,
}

impl RedisClusterStore {
    /// Connects to the cluster of `spec` (the part after `redis-cluster:`)
    /// and opens namespace `namespace` (letters, digits, `_`, `-`; created
    /// with the spec's bucket count on first use). Refuses nodes whose AOF
    /// is off or not fsynced on every write (see the type's docs).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad spec or namespace, or a bucket count that
    /// differs from the namespace's; [`Error::Store`] if the cluster cannot
    /// be reached or its nodes are not durable.
    pub fn connect(spec: &str, namespace: &str) -> Result<Self> {
        if namespace.is_empty()
            || namespace.len() > 64
            || !namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::Config(format!(
                "redis-cluster namespace {namespace:?} must be 1 to 64 letters, digits, '_' or '-'"
            )));
        }
        let (nodes, opts) = parse_spec(spec)?;
        let client = ClusterClient::builder(nodes)
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(30))
            .retries(6)
            .build()
            .map_err(|e| Error::Config(format!("redis-cluster spec: {e}")))?;
        let mut instance = [0u8; 8];
        getrandom::fill(&mut instance).map_err(|e| Error::Store(format!("random lease ids: {e}")))?;
        let mut store = RedisClusterStore {
            client,
            pool: Mutex::new(Vec::new()),
            ns: namespace.to_owned(),
            buckets: opts.buckets.unwrap_or(DEFAULT_BUCKETS),
            wait_replicas: opts.wait,
            lease_ids: AtomicU64::new(0),
            instance: u64::from_le_bytes(instance),
            scripts: Scripts {
                alloc: scripts::alloc(),
                read_point: scripts::read_point(),
                abort_bucket: scripts::abort_bucket(),
                prepare: scripts::prepare(),
                read: scripts::read(),
            },
        };
        store.check_durable()?;
        // The bucket count is the namespace's: the first connect sets it.
        let cfg = store.coord("cfg");
        let wanted = store.buckets.to_string();
        let set: Option<String> = store.with_conn(|c| {
            redis::cmd("SET").arg(&cfg).arg(&wanted).arg("NX").arg("GET").query(c).map_err(redis_err("read config"))
        })?;
        if let Some(existing) = set {
            let n: u32 = existing
                .parse()
                .ok()
                .filter(|n| (1..=16384).contains(n))
                .ok_or_else(|| corrupt(Table::Meta, format!("bucket count {existing:?} of namespace")))?;
            if opts.buckets.is_some_and(|b| b != n) {
                return Err(Error::Config(format!(
                    "namespace {namespace:?} has {n} buckets; the spec asks for {}",
                    store.buckets
                )));
            }
            store.buckets = n;
        }
        Ok(store)
    }

    /// The namespace's bucket count.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Deletes every key of the namespace on every master (for tests and
    /// for dropping a store); returns how many Redis keys went. Must not run
    /// while anything else uses the namespace.
    ///
    /// # Errors
    /// Cluster errors.
    pub fn destroy(&self) -> Result<u64> {
        let pattern = format!("{{{}:*", self.ns);
        let mut removed = 0u64;
        for node in self.masters()? {
            let mut keys = Vec::new();
            self.scan_node(&node, &pattern, &mut |key| {
                keys.push(key.to_vec());
                Ok(())
            })?;
            // One pipelined DEL per key: the keys lie in many slots.
            for part in keys.chunks(1000) {
                let mut pipe = cluster_pipe();
                for key in part {
                    pipe.add_command({
                        let mut cmd = redis::cmd("DEL");
                        cmd.arg(key);
                        cmd
                    });
                }
                let counts: Vec<u64> = self.with_conn(|c| pipe.query(c).map_err(redis_err("delete")))?;
                removed += counts.iter().sum::<u64>();
            }
        }
        Ok(removed)
    }

    /// How many store entries (data keys, all tables, live or awaiting
    /// collection) each master holds: what one shard sees.
    ///
    /// # Errors
    /// Cluster errors.
    pub fn entries_per_master(&self) -> Result<Vec<((String, u16), u64)>> {
        let pattern = format!("{{{}:b*}}d*", self.ns);
        let mut out = Vec::new();
        for node in self.masters()? {
            let mut n = 0u64;
            self.scan_node(&node, &pattern, &mut |_| {
                n += 1;
                Ok(())
            })?;
            out.push((node, n));
        }
        Ok(out)
    }

    /// The store keys (table and key) whose entries live on master `node`,
    /// as that node holds them: what a compromised shard reads.
    ///
    /// # Errors
    /// Cluster errors.
    pub fn entries_on(&self, node: &(String, u16)) -> Result<Vec<(Table, Vec<u8>)>> {
        let pattern = format!("{{{}:b*}}d*", self.ns);
        let mut out = Vec::new();
        self.scan_node(node, &pattern, &mut |key| {
            // {ns:bI}d<table byte><key>
            let Some(close) = key.iter().position(|&b| b == b'}') else { return Ok(()) };
            let rest = &key[close + 1..];
            if let [b'd', t, k @ ..] = rest
                && let Some(&table) = Table::ALL.get(usize::from(*t))
            {
                out.push((table, k.to_vec()));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Visits the keys matching `pattern` on one node (SCAN, so the node stays responsive).
    fn scan_node(&self, node: &(String, u16), pattern: &str, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: node.0.clone(), port: node.1 });
        let mut cursor = 0u64;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000);
            let v = self.with_conn(|c| c.route_command(&cmd, route.clone()).map_err(redis_err("scan")))?;
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::from_redis_value(v).map_err(|e| Error::Store(format!("redis cluster: scan reply: {e}")))?;
            for key in &keys {
                f(key)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Host and port of every master, from `CLUSTER SHARDS`-free `CLUSTER NODES`.
    ///
    /// # Errors
    /// Cluster errors, or a reply that does not parse.
    pub fn masters(&self) -> Result<Vec<(String, u16)>> {
        let text: String =
            self.with_conn(|c| redis::cmd("CLUSTER").arg("NODES").query(c).map_err(redis_err("cluster nodes")))?;
        let mut out = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 8 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let addr = fields[1].split('@').next().unwrap_or("");
            let (host, port) = addr
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| Error::Store(format!("redis cluster: bad node address {addr:?}")))?;
            out.push((host, port));
        }
        out.sort();
        Ok(out)
    }

    /// Runs `f` with a pooled connection (a new one if the pool is empty);
    /// a connection that failed is dropped rather than pooled.
    fn with_conn<T>(&self, f: impl FnOnce(&mut ClusterConnection) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.client.get_connection().map_err(redis_err("connect"))?,
        };
        let out = f(&mut conn);
        if out.is_ok() {
            self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(conn);
        }
        out
    }

    /// Refuses masters that do not fsync every write to their AOF.
    fn check_durable(&self) -> Result<()> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg("append*");
        let v = self.with_conn(|c| {
            c.route_command(&cmd, RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)))
                .map_err(redis_err("config get"))
        })?;
        let mut strings = Vec::new();
        flatten(&v, &mut strings);
        let (mut aof_on, mut fsync_always, mut nodes) = (0, 0, 0);
        for pair in strings.windows(2) {
            match (pair[0].as_str(), pair[1].as_str()) {
                ("appendonly", v) => {
                    nodes += 1;
                    aof_on += usize::from(v == "yes");
                }
                ("appendfsync", v) => fsync_always += usize::from(v == "always"),
                _ => {}
            }
        }
        if nodes == 0 || aof_on != nodes || fsync_always != nodes {
            return Err(Error::Store(format!(
                "redis cluster: of {nodes} masters, {aof_on} have appendonly yes and {fsync_always} appendfsync \
                 always; every master needs both, or an acknowledged write could be lost"
            )));
        }
        Ok(())
    }

    fn coord(&self, name: &str) -> String {
        format!("{{{}:c}}{name}", self.ns)
    }

    /// KEYS of the coordinator scripts: seq, pending, state, leases, lease expiries.
    fn coord_keys(&self) -> [String; 5] {
        ["seq", "pend", "state", "leases", "lexp"].map(|n| self.coord(n))
    }

    fn bucket_prefix(&self, bucket: u32) -> Vec<u8> {
        layout::bucket_tag(&self.ns, bucket).into_bytes()
    }

    fn bucket_key(&self, bucket: u32, suffix: &[u8]) -> Vec<u8> {
        let mut k = self.bucket_prefix(bucket);
        k.extend_from_slice(suffix);
        k
    }

    /// The bucket of a member (table byte and key).
    fn bucket_of(&self, member: &[u8]) -> u32 {
        layout::bucket_of_member(self.buckets, member)
    }

    fn member(table: Table, key: &[u8]) -> Vec<u8> {
        layout::member(table, key)
    }

    fn eval(script: &str, keys: &[&[u8]], args: &[&[u8]]) -> Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len());
        for k in keys {
            cmd.arg(*k);
        }
        for a in args {
            cmd.arg(*a);
        }
        cmd
    }

    fn coord_eval(&self, script: &str, args: &[&[u8]]) -> Result<Value> {
        let keys = self.coord_keys();
        let key_refs: Vec<&[u8]> = keys.iter().map(String::as_bytes).collect();
        let cmd = Self::eval(script, &key_refs, args);
        self.with_conn(|c| cmd.query(c).map_err(redis_err("coordinator")))
    }

    /// The current read point; aborts batches found stale. With `lease`,
    /// registers a lease at the point.
    fn read_point(&self, lease: Option<&str>) -> Result<u64> {
        let lease_ms = LEASE_MS.to_string();
        let stale_ms = STALE_MS.to_string();
        let v = self.coord_eval(
            &self.scripts.read_point,
            &[lease.unwrap_or("").as_bytes(), stale_ms.as_bytes(), lease_ms.as_bytes()],
        )?;
        let items = ints(&v).ok_or_else(|| corrupt(Table::Meta, "read point reply"))?;
        let (&point, stale) = items.split_first().ok_or_else(|| corrupt(Table::Meta, "empty read point reply"))?;
        for &s in stale {
            self.abort(s)?;
        }
        if stale.is_empty() {
            Ok(point)
        } else {
            // The aborts may have moved the read point forward.
            self.read_point(lease)
        }
    }

    /// Aborts batch `s` (idempotent; several processes may race on it).
    fn abort(&self, s: u64) -> Result<()> {
        let seq = s.to_string();
        // With replicas, each step reaches them before the next starts: a
        // coordinator that failed over must not forget that the batch is
        // aborting (its commit would then succeed over removed versions),
        // nor a bucket that it was aborted there (a late prepare would
        // then add versions that nothing removes).
        let state_key = self.coord("state");
        let begin = Self::eval(scripts::ABORT_BEGIN, &[state_key.as_bytes()], &[seq.as_bytes()]);
        let st = self.with_conn(|c| {
            let st: Value = begin.query(c).map_err(redis_err("coordinator"))?;
            self.wait_replicas(c, state_key.as_bytes())?;
            Ok(st)
        })?;
        let buckets: Vec<u32> = match st {
            Value::Nil => return Ok(()),
            Value::BulkString(b) if b == b"*" => (0..self.buckets).collect(),
            Value::BulkString(b) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.split(',').filter(|x| !x.is_empty()).map(|x| x.parse().ok()).collect())
                .ok_or_else(|| corrupt(Table::Meta, "bucket list of a pending batch"))?,
            _ => return Err(corrupt(Table::Meta, "abort reply")),
        };
        let mut pipe = cluster_pipe();
        for &b in &buckets {
            let pending = self.bucket_key(b, format!("p{s}").as_bytes());
            let keys = [self.bucket_key(b, b"a"), pending, self.bucket_key(b, b"x")];
            let prefix = self.bucket_prefix(b);
            pipe.add_command(Self::eval(
                &self.scripts.abort_bucket,
                &[&keys[0], &keys[1], &keys[2]],
                &[seq.as_bytes(), &prefix],
            ));
        }
        self.with_conn(|c| {
            pipe.query::<Vec<Value>>(c).map_err(redis_err("abort"))?;
            for &b in &buckets {
                self.wait_replicas(c, &self.bucket_prefix(b))?;
            }
            Ok(())
        })?;
        self.coord_eval_keys(scripts::ABORT_END, &[self.coord("pend"), self.coord("state")], &[seq.as_bytes()])?;
        Ok(())
    }

    fn coord_eval_keys(&self, script: &str, keys: &[String], args: &[&[u8]]) -> Result<Value> {
        let key_refs: Vec<&[u8]> = keys.iter().map(String::as_bytes).collect();
        let cmd = Self::eval(script, &key_refs, args);
        self.with_conn(|c| cmd.query(c).map_err(redis_err("coordinator")))
    }

    /// Sends `WAIT` for the configured replicas to the node of `slot_key`.
    fn wait_replicas(&self, c: &mut ClusterConnection, slot_key: &[u8]) -> Result<()> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(self.wait_replicas).arg(5000);
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            layout::slot(slot_key),
            SlotAddr::Master,
        )));
        let acked: i64 =
            redis::from_redis_value(c.route_command(&cmd, route).map_err(redis_err("wait"))?).unwrap_or(-1);
        if acked < i64::from(self.wait_replicas) {
            return Err(Error::Store(format!(
                "redis cluster: {acked} of {} replicas acknowledged the write within 5 s",
                self.wait_replicas
            )));
        }
        Ok(())
    }

    /// Reads members at read point `point`; `None` in the answer when any
    /// read must be redone at a newer point.
    fn read_at(&self, table: Table, members: &[Vec<u8>], point: u64) -> Result<Option<Vec<Option<Vec<u8>>>>> {
        if members.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let r = point.to_string();
        let mut pipe = cluster_pipe();
        for m in members {
            let b = self.bucket_of(m);
            let mut dk = self.bucket_prefix(b);
            dk.push(b'd');
            dk.extend_from_slice(m);
            let floor = self.bucket_key(b, b"f");
            pipe.add_command(Self::eval(&self.scripts.read, &[&dk, &floor], &[r.as_bytes()]));
        }
        let replies: Vec<Value> = self.with_conn(|c| pipe.query(c).map_err(redis_err("read")))?;
        if replies.len() != members.len() {
            return Err(corrupt(table, "read reply count"));
        }
        let mut out = Vec::with_capacity(members.len());
        for reply in replies {
            match decode_read(table, reply)? {
                Found::Retry => return Ok(None),
                Found::Absent | Found::Deleted => out.push(None),
                Found::Present(v) => out.push(Some(v)),
            }
        }
        Ok(Some(out))
    }

    fn lease(&self) -> Result<Lease> {
        let id = format!("{:016x}-{}", self.instance, self.lease_ids.fetch_add(1, Ordering::Relaxed));
        let point = self.read_point(Some(&id))?;
        Ok(Lease { id, point, renewed: Instant::now() })
    }

    fn renew(&self, lease: &mut Lease) -> Result<()> {
        // An unregistered lease (a prefix delete's, held up by its own pending batch) needs no renewal.
        if lease.id.is_empty() || lease.renewed.elapsed() < Duration::from_millis(LEASE_MS / 3) {
            return Ok(());
        }
        let ms = LEASE_MS.to_string();
        let v = self.coord_eval_keys(
            scripts::RENEW,
            &[self.coord("leases"), self.coord("lexp")],
            &[lease.id.as_bytes(), ms.as_bytes()],
        )?;
        if !matches!(v, Value::Int(1)) {
            return Err(Error::Store("redis cluster: a scan's read lease expired; scan again".into()));
        }
        lease.renewed = Instant::now();
        Ok(())
    }

    fn release(&self, lease: &Lease) {
        // Best effort: an unreleased lease expires by itself.
        let _ =
            self.coord_eval_keys(scripts::RELEASE, &[self.coord("leases"), self.coord("lexp")], &[lease.id.as_bytes()]);
    }

    /// Visits, in member order, the live entries of `table` with `prefix`
    /// from `start`, at the lease's read point. `visit` gets the key (without
    /// the table byte) and the value.
    fn ordered_scan(
        &self,
        lease: &mut Lease,
        table: Table,
        prefix: &[u8],
        start: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let lower = Self::member(table, if start > prefix { start } else { prefix });
        let upper: Vec<u8> = match prefix_upper_bound(prefix) {
            Some(u) => Self::member(table, &u),
            None => vec![layout::table_byte(table) + 1],
        };
        let mut bound_hi = vec![b'('];
        bound_hi.extend_from_slice(&upper);
        let fetch = |from: &[(u32, Vec<u8>)]| -> Result<Vec<Vec<Vec<u8>>>> {
            let mut pipe = cluster_pipe();
            for (b, lo) in from {
                let mut cmd = redis::cmd("ZRANGE");
                cmd.arg(self.bucket_key(*b, b"x"))
                    .arg(lo)
                    .arg(&bound_hi)
                    .arg("BYLEX")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(SCAN_PAGE);
                pipe.add_command(cmd);
            }
            self.with_conn(|c| pipe.query(c).map_err(redis_err("index range")))
        };
        let mut open_lower = vec![b'['];
        open_lower.extend_from_slice(&lower);
        let all: Vec<(u32, Vec<u8>)> = (0..self.buckets).map(|b| (b, open_lower.clone())).collect();
        let mut pages: Vec<VecDeque<Vec<u8>>> = Vec::with_capacity(all.len());
        // Buckets in groups, so one pipeline stays bounded.
        for group in all.chunks(1024) {
            pages.extend(fetch(group)?.into_iter().map(VecDeque::from));
        }
        // A short page was the bucket's last: members indexed since belong
        // to batches after the read point, so it is not asked again.
        let mut more: Vec<bool> = pages.iter().map(|p| p.len() >= SCAN_PAGE).collect();
        let mut heap: BinaryHeap<Reverse<(Vec<u8>, u32)>> = BinaryHeap::new();
        for (b, page) in pages.iter_mut().enumerate() {
            if let Some(m) = page.pop_front() {
                heap.push(Reverse((m, u32::try_from(b).unwrap_or(0))));
            }
        }
        let mut last_of: Vec<Option<Vec<u8>>> = vec![None; pages.len()];
        loop {
            let mut chunk = Vec::with_capacity(SCAN_CHUNK);
            while chunk.len() < SCAN_CHUNK {
                let Some(Reverse((m, b))) = heap.pop() else { break };
                let bi = b as usize;
                last_of[bi] = Some(m.clone());
                if pages[bi].is_empty() && more[bi] {
                    // Refill this bucket's page after its last member.
                    if let Some(last) = &last_of[bi] {
                        let mut lo = vec![b'('];
                        lo.extend_from_slice(last);
                        let mut next = fetch(&[(b, lo)])?;
                        pages[bi] = VecDeque::from(next.pop().unwrap_or_default());
                        more[bi] = pages[bi].len() >= SCAN_PAGE;
                    }
                }
                if let Some(n) = pages[bi].pop_front() {
                    heap.push(Reverse((n, b)));
                }
                chunk.push(m);
            }
            if chunk.is_empty() {
                return Ok(());
            }
            self.renew(lease)?;
            let values = self.read_at(table, &chunk, lease.point)?.ok_or_else(|| {
                Error::Store("redis cluster: versions a scan needed were collected; scan again".into())
            })?;
            for (m, v) in chunk.iter().zip(values) {
                if let Some(v) = v
                    && !visit(&m[1..], &v)?
                {
                    return Ok(());
                }
            }
        }
    }

    fn scan_with_lease(&self, f: impl FnOnce(&Self, &mut Lease) -> Result<()>) -> Result<()> {
        let mut lease = self.lease()?;
        let out = f(self, &mut lease);
        self.release(&lease);
        out
    }

    /// Writes `ops` (already reduced to one op per member, `None` a delete)
    /// as batch `s` with horizon `h`, commits it, and aborts it on failure.
    fn prepare_and_commit(&self, s: u64, h: u64, ops: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Result<()> {
        let prepared = self.prepare(s, h, ops);
        if let Err(e) = prepared {
            // Best effort; if this fails too, the next reader aborts the batch.
            let _ = self.abort(s);
            return Err(e);
        }
        let seq = s.to_string();
        let committed = self.with_conn(|c| {
            let keys = [self.coord("pend"), self.coord("state")];
            let v: i64 = Self::eval(scripts::COMMIT, &[keys[0].as_bytes(), keys[1].as_bytes()], &[seq.as_bytes()])
                .query(c)
                .map_err(|e| {
                    Error::Store(format!(
                        "redis cluster: commit of batch {s}: {e} (the batch is either committed or will be aborted)"
                    ))
                })?;
            if v == 1 {
                self.wait_replicas(c, self.coord("pend").as_bytes())?;
            }
            Ok(v)
        })?;
        if committed != 1 {
            return Err(Error::Store(format!(
                "redis cluster: batch {s} was aborted (its writer was presumed dead after {} s); nothing of it applied",
                STALE_MS / 1000
            )));
        }
        Ok(())
    }

    fn prepare(&self, s: u64, h: u64, ops: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Result<()> {
        let seq = s.to_string();
        let horizon = h.to_string();
        // Bucket -> (member, encoded version).
        type Encoded<'m> = Vec<(&'m Vec<u8>, Vec<u8>)>;
        let mut by_bucket: BTreeMap<u32, Encoded<'_>> = BTreeMap::new();
        for (m, v) in ops {
            let mut enc = Vec::with_capacity(9 + v.as_ref().map_or(0, Vec::len));
            enc.push(if v.is_some() { TAG_VALUE } else { TAG_TOMBSTONE });
            enc.extend_from_slice(&s.to_be_bytes());
            if let Some(v) = v {
                enc.extend_from_slice(v);
            }
            by_bucket.entry(self.bucket_of(m)).or_default().push((m, enc));
        }
        if by_bucket.is_empty() {
            return Ok(());
        }
        let mut pipe = cluster_pipe();
        for (&b, entries) in &by_bucket {
            let prefix = self.bucket_prefix(b);
            let keys = [
                self.bucket_key(b, b"a"),
                self.bucket_key(b, format!("p{s}").as_bytes()),
                self.bucket_key(b, b"x"),
                self.bucket_key(b, b"t"),
                self.bucket_key(b, b"f"),
            ];
            let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            for part in entries.chunks(PREPARE_CHUNK) {
                let mut args: Vec<&[u8]> = vec![seq.as_bytes(), horizon.as_bytes(), &prefix];
                for (m, enc) in part {
                    args.push(m);
                    args.push(enc);
                }
                pipe.add_command(Self::eval(&self.scripts.prepare, &key_refs, &args));
            }
        }
        self.with_conn(|c| {
            pipe.query::<Vec<Value>>(c).map_err(redis_err("prepare"))?;
            for &b in by_bucket.keys() {
                self.wait_replicas(c, &self.bucket_prefix(b))?;
            }
            Ok(())
        })
    }

    /// Allocates a batch touching `buckets` (`None`: all); returns `(s, h)`.
    fn alloc(&self, buckets: Option<&[u32]>) -> Result<(u64, u64)> {
        let list = match buckets {
            None => "*".to_owned(),
            Some(bs) => bs.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        };
        let keys = self.coord_keys();
        let key_refs: Vec<&[u8]> = keys.iter().map(String::as_bytes).collect();
        let cmd = Self::eval(&self.scripts.alloc, &key_refs, &[list.as_bytes()]);
        let mut allocated = None;
        let replicated = self.with_conn(|c| {
            let v: Value = cmd.query(c).map_err(redis_err("coordinator"))?;
            let (s, h) = match ints(&v).as_deref() {
                Some(&[s, h]) => (s, h),
                _ => return Err(corrupt(Table::Meta, "allocation reply")),
            };
            allocated = Some(s);
            // With replicas, the allocation must reach them before any
            // version of the batch does: a coordinator that failed over
            // without it would hand the same sequence number out again,
            // and this batch's versions would then commit with the other.
            self.wait_replicas(c, keys[0].as_bytes())?;
            Ok((s, h))
        });
        if replicated.is_err()
            && let Some(s) = allocated
        {
            // Best effort; if this fails too, the next reader aborts the batch.
            let _ = self.abort(s);
        }
        replicated
    }

    /// Reduces a batch to its effect per member, in order (last op wins).
    fn reduce(batch: WriteBatch, into: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        for op in batch.into_ops() {
            match op {
                WriteOp::Put { table, key, value } => into.insert(Self::member(table, &key), Some(value)),
                WriteOp::Delete { table, key } => into.insert(Self::member(table, &key), None),
            };
        }
    }
}

/// Collects every string of a reply, depth first.
fn flatten(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => out.push(s.clone()),
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|i| flatten(i, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        _ => {}
    }
}

/// A reply that is an array of non-negative integers (or decimal strings).
fn ints(v: &Value) -> Option<Vec<u64>> {
    let Value::Array(items) = v else { return None };
    items
        .iter()
        .map(|i| match i {
            Value::Int(n) => u64::try_from(*n).ok(),
            Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        })
        .collect()
}

/// Decodes and checks a read script's reply.
fn decode_read(table: Table, reply: Value) -> Result<Found> {
    let Value::Array(mut items) = reply else { return Err(corrupt(table, "read reply is not an array")) };
    match items.first() {
        Some(Value::Int(0)) if items.len() == 1 => Ok(Found::Absent),
        Some(Value::Int(2)) if items.len() == 1 => Ok(Found::Retry),
        Some(Value::Int(1)) if items.len() == 3 => {
            let Some(Value::BulkString(enc)) = items.pop() else { return Err(corrupt(table, "version is not bytes")) };
            let Some(Value::BulkString(field)) = items.pop() else { return Err(corrupt(table, "bad version field")) };
            let seq: u64 = std::str::from_utf8(&field)
                .ok()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| corrupt(table, "version field is not a sequence number"))?;
            if enc.len() < 9 || enc[1..9] != seq.to_be_bytes() {
                return Err(corrupt(table, format!("version {seq} does not carry its sequence number")));
            }
            match enc[0] {
                TAG_VALUE => Ok(Found::Present(enc[9..].to_vec())),
                TAG_TOMBSTONE if enc.len() == 9 => Ok(Found::Deleted),
                t => Err(corrupt(table, format!("version {seq} has unknown tag {t}"))),
            }
        }
        _ => Err(corrupt(table, "unexpected read reply")),
    }
}

impl Store for RedisClusterStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.get_many(table, &[key.to_vec()])?.pop().flatten())
    }

    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> ManyValues {
        let members: Vec<Vec<u8>> = keys.iter().map(|k| Self::member(table, k)).collect();
        for _ in 0..READ_RETRIES {
            let point = self.read_point(None)?;
            if let Some(values) = self.read_at(table, &members, point)? {
                return Ok(values);
            }
        }
        Err(Error::Store(format!("redis cluster: versions kept being collected under {READ_RETRIES} successive reads")))
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut ops = BTreeMap::new();
        Self::reduce(batch, &mut ops);
        let mut buckets: Vec<u32> = ops.keys().map(|m| self.bucket_of(m)).collect();
        buckets.sort_unstable();
        buckets.dedup();
        let (s, h) = self.alloc(Some(&buckets))?;
        self.prepare_and_commit(s, h, &ops)
    }

    fn sync(&self) -> Result<()> {
        // Every acknowledged write is already fsynced (and replicated with wait=R).
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        self.scan_from(table, prefix, prefix, visit)
    }

    fn scan_from(&self, table: Table, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        self.scan_with_lease(|s, lease| s.ordered_scan(lease, table, prefix, start, &mut |k, v| visit(k, v)))
    }

    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<()> {
        self.scan_with_lease(|s, lease| {
            let mut go_on = true;
            for table in Table::ALL {
                s.ordered_scan(lease, table, &[], &[], &mut |k, v| {
                    go_on = visit(table, k, v)?;
                    Ok(go_on)
                })?;
                if !go_on {
                    break;
                }
            }
            Ok(())
        })
    }

    fn shared_lock(&self, name: &[u8]) -> Result<Option<SharedLock<'_>>> {
        // Named by a hash, so lock names (tenant names) are not in key names
        // and locks spread over the slots.
        let key = format!("{{{}:l{}}}", self.ns, hex::encode(&Sha256::digest(name)[..12]));
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).map_err(|e| Error::Store(format!("random lock token: {e}")))?;
        let token = hex::encode(token);
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            let got: Option<String> = self.with_conn(|c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(LOCK_MS)
                    .query(c)
                    .map_err(redis_err("lock"))
            })?;
            if got.is_some() {
                break;
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(Error::Store(format!("redis cluster: lock busy for {} s", LOCK_WAIT.as_secs())));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        Ok(Some(SharedLock::new(move || {
            // Only our own token is deleted: a lock that expired and was taken by another stays.
            let cmd = Self::eval(scripts::UNLOCK, &[key.as_bytes()], &[token.as_bytes()]);
            let _ = self.with_conn(|c| cmd.query::<Value>(c).map_err(redis_err("unlock")));
        })))
    }

    fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64> {
        let (s, h) = self.alloc(None)?;
        let listed = (|| {
            // Wait until every earlier batch is finished (aborting dead ones).
            let mut pause = Duration::from_micros(500);
            loop {
                let point = self.read_point(None)?;
                if point + 1 >= s {
                    break;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            let mut ops = BTreeMap::new();
            let mut removed = 0u64;
            // Read just below s: every earlier batch, none of the later ones.
            let mut lease = Lease { id: String::new(), point: s - 1, renewed: Instant::now() };
            for (table, prefix) in prefixes {
                self.ordered_scan(&mut lease, *table, prefix, prefix, &mut |k, _| {
                    if ops.insert(Self::member(*table, k), None).is_none() {
                        removed += 1;
                    }
                    Ok(true)
                })?;
            }
            Self::reduce(batch, &mut ops);
            Ok((ops, removed))
        })();
        match listed {
            Ok((ops, removed)) => self.prepare_and_commit(s, h, &ops).map(|()| removed),
            Err(e) => {
                let _ = self.abort(s);
                Err(e)
            }
        }
    }
}
