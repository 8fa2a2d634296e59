//! The audit log: one record per operation the server handles, without
//! content, hash-chained, kept in the store.
//!
//! A record says who (a tenant pseudonym), what operation, counts, sizes,
//! status, request id, time and handling time. It never holds tokens, keys,
//! labels, ciphertext, plaintext or the tenant's name.
//!
//! # Tenant pseudonym
//! A record's `tenant_ref` is HMAC-SHA256(tenant audit key, `"sseek audit
//! tenant v1"`). The audit key is 32 random bytes kept in the tenant's own
//! keyspace ([`audit_key_key`]), so erasing the tenant erases the key and its
//! old records can no longer be tied to its name, while the chain still
//! verifies. The log caches pseudonyms; the server calls
//! [`AuditLog::forget_tenant`] when it erases one.
//!
//! # Layout ([`Table::Meta`], keys starting with byte 0, which no tenant keyspace does)
//! | key | value |
//! |---|---|
//! | `"\0audit/r/" || seq (u64 BE)` | postcard [`AuditRecord`] |
//! | `"\0audit/head"` | postcard `{ next_seq: u64, last_hash: [u8; 32] }` |
//!
//! The hash of a record is SHA-256(`"sseek audit v1"` || its stored bytes);
//! each record's `prev` is its predecessor's hash (zeros for seq 0) and the
//! head names the last one, so a removed, altered or reordered record, or a
//! removed tail, breaks [`verify`].
//!
//! # Durability and writers
//! Records are buffered and written in groups (one atomic batch of the
//! records, the head and new audit keys), so an operation does not wait for
//! an fsync. A crash loses the records not yet flushed, at most about one
//! flush interval's worth while the server flushes on its timer (the tail),
//! never one in the middle. One process writes a store's log: a second
//! writer would fork the chain and overwrite records, which [`verify`]
//! reports wherever a link breaks. The exception is a store that several
//! server processes share (Redis Cluster, whose [`Store::shared_lock`]
//! works across processes): each flush then takes the store's audit lock,
//! reads the head, and moves its pending records after it, so the
//! processes append to one chain in turn.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::keyspace::{MAX_TENANT, audit_key_key};
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// Longest operation name in bytes.
pub const MAX_OPERATION: usize = 64;
/// A flush happens once this many records are pending.
pub const FLUSH_RECORDS: usize = 256;
/// A flush happens once the oldest pending record is this old; the server
/// also calls [`AuditLog::flush`] at this interval.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Records kept in memory while the store refuses writes; past it,
/// [`AuditLog::record`] refuses events instead of growing without bound.
const MAX_PENDING: usize = 1 << 16;

const RECORD_PREFIX: &[u8] = b"\0audit/r/";
const HEAD_KEY: &[u8] = b"\0audit/head";
const HASH_DOMAIN: &[u8] = b"sseek audit v1";
const TENANT_DOMAIN: &[u8] = b"sseek audit tenant v1";

/// What the server reports about one handled operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEvent {
    /// The tenant, `None` for server-level operations. Stored only as a pseudonym.
    pub tenant: Option<String>,
    /// Operation name, at most [`MAX_OPERATION`] bytes; never put names or values in it.
    pub operation: String,
    /// Items received (documents, postings, ids).
    pub items_in: u64,
    /// Items answered.
    pub items_out: u64,
    /// Request bytes.
    pub bytes_in: u64,
    /// Response bytes.
    pub bytes_out: u64,
    /// HTTP-style status of the answer.
    pub status: u16,
    /// The request id, if the request had one.
    pub request_id: Option<u64>,
    /// Handling time in microseconds.
    pub micros: u64,
}

/// One stored record of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 0 with no gap.
    pub seq: u64,
    /// Time of the append, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The tenant's pseudonym, `None` for server-level operations.
    pub tenant_ref: Option<[u8; 32]>,
    /// Operation name.
    pub operation: String,
    /// Items received.
    pub items_in: u64,
    /// Items answered.
    pub items_out: u64,
    /// Request bytes.
    pub bytes_in: u64,
    /// Response bytes.
    pub bytes_out: u64,
    /// HTTP-style status.
    pub status: u16,
    /// The request id, if any.
    pub request_id: Option<u64>,
    /// Handling time in microseconds.
    pub micros: u64,
    /// Hash of the previous record; zeros for seq 0.
    pub prev: [u8; 32],
}

/// The stored head: where the chain ends.
#[derive(Serialize, Deserialize)]
struct AuditHead {
    next_seq: u64,
    last_hash: [u8; 32],
}

/// A record appended but not yet in the store.
struct Pending {
    seq: u64,
    bytes: Vec<u8>,
    at: Instant,
}

struct State {
    next_seq: u64,
    last_hash: [u8; 32],
    pending: VecDeque<Pending>,
    /// Audit keys created but not yet in the store, by tenant.
    new_keys: Vec<(String, [u8; 32])>,
    /// Pseudonyms of the tenants seen, so the store is read once per tenant.
    refs: HashMap<String, [u8; 32]>,
}

/// The appending side of the log: buffers records and writes them in groups.
///
/// [`record`](Self::record) assigns seq, time, pseudonym and `prev` at once,
/// in append order, and flushes when [`FLUSH_RECORDS`] are pending or the
/// oldest is [`FLUSH_INTERVAL`] old; [`flush`](Self::flush) forces it. A
/// failed flush keeps its records pending, so the chain never skips one.
///
/// ```
/// use sseek::server::audit::{self, AuditEvent, AuditLog};
/// use sseek::store::MemoryStore;
///
/// let store = MemoryStore::new();
/// let log = AuditLog::open(&store)?;
/// let tenant = Some("acme".to_owned());
/// log.record(&store, AuditEvent { tenant, operation: "search".into(), status: 200, ..Default::default() })?;
/// log.flush(&store)?; // the server does this every 50 ms and at shutdown
/// assert_eq!(audit::verify(&store)?.records, 1);
/// let acme = audit::tenant_ref(&store, "acme")?;
/// audit::visit(&store, acme, None, &mut |r| {
///     assert!(r.to_line().contains(" op=search ") && !r.to_line().contains("acme"));
///     Ok(true)
/// })?;
/// # Ok::<(), sseek::Error>(())
/// ```
pub struct AuditLog {
    state: Mutex<State>,
    /// Held for a whole flush: batches are written one at a time, in chain
    /// order, while `state` stays free for appends.
    flushing: Mutex<()>,
    /// [`FLUSH_INTERVAL`]; longer in tests that must not see time flushes.
    flush_after: Duration,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the cache: it maps tenant names to pseudonyms.
        let pending = self.state.lock().map(|s| s.pending.len()).ok();
        f.debug_struct("AuditLog").field("pending", &pending).finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log of `store`: continues after its head (none: empty log).
    ///
    /// # Errors
    /// Store errors; [`Error::DataCorruption`] if the head does not decode or
    /// a record lies past it (appending would overwrite it: run [`verify`]).
    pub fn open(store: &dyn Store) -> Result<Self> {
        let head = match store.get(Table::Meta, HEAD_KEY)? {
            Some(bytes) => postcard::from_bytes::<AuditHead>(&bytes)
                .map_err(|e| corrupt(format!("audit head does not decode: {e}")))?,
            None => AuditHead { next_seq: 0, last_hash: [0; 32] },
        };
        if store.get(Table::Meta, &record_key(head.next_seq))?.is_some() {
            return Err(corrupt(format!("audit record {} lies past the head", head.next_seq)));
        }
        Ok(AuditLog {
            state: Mutex::new(State {
                next_seq: head.next_seq,
                last_hash: head.last_hash,
                pending: VecDeque::new(),
                new_keys: Vec::new(),
                refs: HashMap::new(),
            }),
            flushing: Mutex::new(()),
            flush_after: FLUSH_INTERVAL,
        })
    }

    /// Appends the record of `event`, then flushes if one is due.
    ///
    /// # Errors
    /// [`Error::Config`] for an operation name over [`MAX_OPERATION`] bytes or
    /// a tenant name outside 1..=255 bytes, [`Error::Store`] while
    /// 65,536 records wait for a store that refuses writes (nothing appended
    /// then); store and RNG errors. An error of the flush leaves the record
    /// appended and pending.
    pub fn record(&self, store: &dyn Store, event: AuditEvent) -> Result<()> {
        if event.operation.len() > MAX_OPERATION {
            return Err(Error::Config(format!(
                "audit operation name of {} bytes ({MAX_OPERATION} allowed)",
                event.operation.len()
            )));
        }
        let tenant_ref = match &event.tenant {
            Some(t) => Some(self.pseudonym_of(store, t)?),
            None => None,
        };
        let due = {
            let mut st = self.lock()?;
            // Read under the lock, so times follow seq order unless the clock steps back.
            let unix_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            if st.pending.len() >= MAX_PENDING {
                return Err(Error::Store(format!("audit log: {MAX_PENDING} records pending, store takes no writes")));
            }
            let record = AuditRecord {
                seq: st.next_seq,
                unix_ms,
                tenant_ref,
                operation: event.operation,
                items_in: event.items_in,
                items_out: event.items_out,
                bytes_in: event.bytes_in,
                bytes_out: event.bytes_out,
                status: event.status,
                request_id: event.request_id,
                micros: event.micros,
                prev: st.last_hash,
            };
            let bytes = encode(&record)?;
            // A head near u64::MAX can only come from a damaged store.
            let next = st.next_seq.checked_add(1).ok_or_else(|| corrupt("audit sequence at its end".into()))?;
            st.last_hash = record_hash(&bytes);
            st.next_seq = next;
            // One clock read for the record's age and the oldest one's.
            let now = Instant::now();
            st.pending.push_back(Pending { seq: record.seq, bytes, at: now });
            st.pending.len() >= FLUSH_RECORDS
                || st.pending.front().is_some_and(|p| now.saturating_duration_since(p.at) >= self.flush_after)
        };
        if !due {
            return Ok(());
        }
        match self.flushing.try_lock() {
            Ok(guard) => self.flush_locked(store, &guard),
            // A flush is under way; it or the next one takes these records.
            Err(TryLockError::WouldBlock) => Ok(()),
            Err(TryLockError::Poisoned(_)) => Err(poisoned()),
        }
    }

    /// Writes every pending record, the head and new audit keys in one batch.
    ///
    /// # Errors
    /// Store errors; then everything stays pending for the next flush.
    pub fn flush(&self, store: &dyn Store) -> Result<()> {
        let guard = self.flushing.lock().map_err(|_| poisoned())?;
        self.flush_locked(store, &guard)
    }

    /// Drops the cached pseudonym and any unwritten audit key of `tenant`.
    /// The server calls it when it erases the tenant (after the erasing
    /// batch): otherwise later records would reuse the erased pseudonym and
    /// an unwritten key would be written back into the erased keyspace.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn forget_tenant(&self, tenant: &str) -> Result<()> {
        // Under the flush lock so no flush is between snapshot and cleanup.
        let _guard = self.flushing.lock().map_err(|_| poisoned())?;
        let mut st = self.lock()?;
        st.refs.remove(tenant);
        st.new_keys.retain(|(t, _)| t != tenant);
        Ok(())
    }

    fn flush_locked(&self, store: &dyn Store, _flushing: &MutexGuard<'_, ()>) -> Result<()> {
        // A store shared by several server processes: one chain, appended
        // to by each in turn, its pending records moved after the stored head.
        let shared = store.shared_lock(b"audit")?;
        if shared.is_some() {
            self.rechain(store)?;
        }
        let (batch, records, keys) = {
            let st = self.lock()?;
            let mut batch = WriteBatch::new();
            for p in &st.pending {
                batch.put(Table::Meta, record_key(p.seq), p.bytes.clone());
            }
            if !st.pending.is_empty() {
                // All pending records are in the batch, so the state's head is theirs.
                let head = AuditHead { next_seq: st.next_seq, last_hash: st.last_hash };
                batch.put(Table::Meta, HEAD_KEY.to_vec(), encode(&head)?);
            }
            for (tenant, key) in &st.new_keys {
                batch.put(Table::Meta, audit_key_key(tenant), key.to_vec());
            }
            (batch, st.pending.len(), st.new_keys.len())
        };
        if batch.is_empty() {
            return Ok(());
        }
        store.write(batch)?;
        // Appends only push at the back and only flushes (serialized) pop, so
        // the front entries are exactly the ones written.
        let mut st = self.lock()?;
        st.pending.drain(..records);
        st.new_keys.drain(..keys);
        Ok(())
    }

    /// Moves the pending records after the stored head if other processes
    /// appended since this one last flushed: new seq and `prev` for each, in
    /// order. The caller holds the store's shared audit lock.
    fn rechain(&self, store: &dyn Store) -> Result<()> {
        let head = match store.get(Table::Meta, HEAD_KEY)? {
            Some(bytes) => postcard::from_bytes::<AuditHead>(&bytes)
                .map_err(|e| corrupt(format!("audit head does not decode: {e}")))?,
            None => AuditHead { next_seq: 0, last_hash: [0; 32] },
        };
        let mut st = self.lock()?;
        let Some(first) = st.pending.front() else { return Ok(()) };
        let first: AuditRecord =
            postcard::from_bytes(&first.bytes).map_err(|e| corrupt(format!("pending audit record: {e}")))?;
        if first.seq == head.next_seq && first.prev == head.last_hash {
            return Ok(());
        }
        let (mut seq, mut prev) = (head.next_seq, head.last_hash);
        for p in st.pending.iter_mut() {
            let mut record: AuditRecord =
                postcard::from_bytes(&p.bytes).map_err(|e| corrupt(format!("pending audit record: {e}")))?;
            record.seq = seq;
            record.prev = prev;
            p.bytes = encode(&record)?;
            p.seq = seq;
            prev = record_hash(&p.bytes);
            seq = seq.checked_add(1).ok_or_else(|| corrupt("audit sequence at its end".into()))?;
        }
        st.next_seq = seq;
        st.last_hash = prev;
        Ok(())
    }

    /// The pseudonym of `tenant`: cached, else from its stored key, else from
    /// a new key written with the next flush.
    fn pseudonym_of(&self, store: &dyn Store, tenant: &str) -> Result<[u8; 32]> {
        if tenant.is_empty() || tenant.len() > MAX_TENANT {
            return Err(Error::Config(format!("tenant name of {} bytes (1 to {MAX_TENANT} allowed)", tenant.len())));
        }
        if let Some(r) = self.lock()?.refs.get(tenant) {
            return Ok(*r);
        }
        // The store is read without the lock so appends of others go on.
        let stored = tenant_ref(store, tenant)?;
        let mut st = self.lock()?;
        if let Some(r) = st.refs.get(tenant) {
            return Ok(*r); // another thread got there first
        }
        let r = match stored {
            Some(r) => r,
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| Error::Crypto(format!("OS RNG: {e}")))?;
                st.new_keys.push((tenant.to_owned(), key));
                pseudonym(&key)?
            }
        };
        st.refs.insert(tenant.to_owned(), r);
        Ok(r)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| poisoned())
    }
}

/// What [`verify`] found in a sound log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    /// Number of records.
    pub records: u64,
    /// Hash of the last record (zeros for an empty log).
    pub head_hash: [u8; 32],
    /// Time of the first record.
    pub first_unix_ms: Option<u64>,
    /// Time of the last record.
    pub last_unix_ms: Option<u64>,
}

/// Walks the chain from seq 0: every record decodes, seqs are 0, 1, 2, ...
/// with no gap and each key holds its own seq, each `prev` is the previous
/// record's hash, and the head names the last record's seq + 1 and hash.
/// Times are not checked (clocks step back).
///
/// A broken link between records j-1 and j is blamed on j-1 if record j+1
/// (or the head) still links to j, and on j otherwise.
///
/// # Errors
/// The first problem found, as [`Error::Audit`] naming the seq, for
/// example `record 17 is missing`; store errors.
pub fn verify(store: &dyn Store) -> Result<AuditSummary> {
    let mut walk = Walk { count: 0, last_hash: [0; 32], first: None, last: None, broken: None };
    store.scan_prefix(Table::Meta, RECORD_PREFIX, &mut |key, bytes| walk.step(key, bytes).map(|()| true))?;
    let n = walk.count;
    let Some(bytes) = store.get(Table::Meta, HEAD_KEY)? else {
        walk.settle(None)?;
        return if n == 0 {
            Ok(walk.summary())
        } else {
            Err(Error::Audit(format!("head is missing, found {n} records")))
        };
    };
    let head: AuditHead =
        postcard::from_bytes(&bytes).map_err(|e| Error::Audit(format!("head does not decode: {e}")))?;
    walk.settle((head.next_seq == n).then_some(head.last_hash))?;
    if head.next_seq > n {
        return Err(Error::Audit(format!("record {n} is missing: head says {} records, found {n}", head.next_seq)));
    }
    if head.next_seq < n {
        return Err(Error::Audit(format!(
            "record {} is past the head: head says {} records, found {n}",
            head.next_seq, head.next_seq
        )));
    }
    if head.last_hash != walk.last_hash {
        return Err(match n.checked_sub(1) {
            Some(last) => {
                Error::Audit(format!("record {last} or the head was altered: its hash does not match the head"))
            }
            None => Error::Audit("head of an empty log names a record".into()),
        });
    }
    Ok(walk.summary())
}

/// State of [`verify`]'s walk over the records.
struct Walk {
    count: u64,
    last_hash: [u8; 32],
    first: Option<u64>,
    last: Option<u64>,
    /// A record whose `prev` does not match, blamed once its successor is seen.
    broken: Option<u64>,
}

impl Walk {
    fn step(&mut self, key: &[u8], bytes: &[u8]) -> Result<()> {
        let k = key
            .strip_prefix(RECORD_PREFIX)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| Error::Audit(format!("stray key of {} bytes among the records", key.len())))?;
        if k != self.count {
            self.settle(None)?;
            return Err(Error::Audit(format!("record {} is missing", self.count)));
        }
        let record = match postcard::from_bytes::<AuditRecord>(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.settle(None)?;
                return Err(Error::Audit(format!("record {k} does not decode: {e}")));
            }
        };
        if record.seq != k {
            self.settle(None)?;
            return Err(Error::Audit(format!("record {k} was altered or moved: it holds seq {}", record.seq)));
        }
        self.settle(Some(record.prev))?;
        if record.prev != self.last_hash {
            if k == 0 {
                return Err(Error::Audit("record 0 was altered: its prev is not zero".into()));
            }
            self.broken = Some(k);
        }
        self.last_hash = record_hash(bytes);
        self.count += 1;
        self.first.get_or_insert(record.unix_ms);
        self.last = Some(record.unix_ms);
        Ok(())
    }

    /// Blames a pending broken link, given the `prev` that follows the
    /// broken record (the next record's or the head's; `None`: unknown).
    fn settle(&mut self, next_prev: Option<[u8; 32]>) -> Result<()> {
        let Some(j) = self.broken.take() else { return Ok(()) };
        let i = j - 1; // j > 0: seq 0 is checked apart
        Err(Error::Audit(if next_prev == Some(self.last_hash) {
            format!("record {i} was altered: its hash does not match record {j}'s prev")
        } else {
            format!("record {j} was altered: its prev does not match record {i}'s hash")
        }))
    }

    fn summary(&self) -> AuditSummary {
        AuditSummary {
            records: self.count,
            head_hash: self.last_hash,
            first_unix_ms: self.first,
            last_unix_ms: self.last,
        }
    }
}

/// The pseudonym of a tenant, if it has an audit key in the store.
///
/// # Errors
/// Store errors; [`Error::DataCorruption`] for a key that is not 32 bytes.
pub fn tenant_ref(store: &dyn Store, tenant: &str) -> Result<Option<[u8; 32]>> {
    match store.get(Table::Meta, &audit_key_key(tenant))? {
        Some(key) if key.len() == 32 => pseudonym(&key).map(Some),
        Some(key) => Err(corrupt(format!("audit key of {} bytes", key.len()))),
        None => Ok(None),
    }
}

/// Visits records in seq order whose `tenant_ref` matches (if given) and
/// whose time is at least `since_unix_ms` (if given), until `f` returns
/// `Ok(false)`. Does not verify the chain (see [`verify`]).
///
/// # Errors
/// Store errors, [`Error::DataCorruption`] for a record that does not
/// decode, or the first error of `f`.
pub fn visit(
    store: &dyn Store,
    tenant_ref: Option<[u8; 32]>,
    since_unix_ms: Option<u64>,
    f: &mut dyn FnMut(&AuditRecord) -> Result<bool>,
) -> Result<()> {
    store.scan_prefix(Table::Meta, RECORD_PREFIX, &mut |_, bytes| {
        let r: AuditRecord =
            postcard::from_bytes(bytes).map_err(|e| corrupt(format!("audit record does not decode: {e}")))?;
        let wanted = tenant_ref.is_none_or(|t| r.tenant_ref == Some(t)) && since_unix_ms.is_none_or(|s| r.unix_ms >= s);
        if wanted { f(&r) } else { Ok(true) }
    })
}

impl AuditRecord {
    /// One human-readable line: time (RFC 3339, UTC), seq, the first 8 hex
    /// digits of the tenant pseudonym (`-` for none), operation, status,
    /// items and bytes in/out, request id and handling time.
    pub fn to_line(&self) -> String {
        let tenant = self.tenant_ref.map_or_else(|| "-".to_owned(), |r| hex::encode(&r[..4]));
        let request = self.request_id.map_or_else(|| "-".to_owned(), |r| r.to_string());
        format!(
            "{} seq={} tenant={tenant} op={} status={} items={}/{} bytes={}/{} request={request} micros={}",
            rfc3339(self.unix_ms),
            self.seq,
            self.operation,
            self.status,
            self.items_in,
            self.items_out,
            self.bytes_in,
            self.bytes_out,
            self.micros
        )
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a Unix time in milliseconds.
fn rfc3339(unix_ms: u64) -> String {
    let (days, ms) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    // Days to a civil date (H. Hinnant's algorithm), on eras of 400 years from 0000-03-01.
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z", ms % 1000)
}

fn record_key(seq: u64) -> Vec<u8> {
    let mut k = RECORD_PREFIX.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn record_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN);
    h.update(bytes);
    h.finalize().into()
}

fn pseudonym(key: &[u8]) -> Result<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|e| Error::Crypto(e.to_string()))?;
    mac.update(TENANT_DOMAIN);
    Ok(mac.finalize().into_bytes().into())
}

/// Bytes reserved for an encoded record or head: a record takes about 100
/// (two 32-byte hashes, the operation name, varints), so the buffer is
/// allocated once instead of doubled from empty.
const ENCODED_CAPACITY: usize = 192;

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_extend(value, Vec::with_capacity(ENCODED_CAPACITY))
        .map_err(|e| Error::Store(format!("audit encoding: {e}")))
}

fn corrupt(reason: String) -> Error {
    Error::DataCorruption { table: Table::Meta.name(), reason }
}

fn poisoned() -> Error {
    Error::Store("audit log lock poisoned".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicBool, Ordering};

    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::store::{MemoryStore, Visitor};

    const TENANTS: [&str; 3] = ["canary-tenant-alpha", "canary-tenant-bravo", "canary-tenant-charlie"];
    const OPERATIONS: [&str; 4] = ["ingest", "blind_search", "get_documents", "delete_messages"];
    const N: u64 = 1000;

    fn event(tenant: Option<&str>, i: u64) -> AuditEvent {
        let operation = OPERATIONS[usize::try_from(i % 4).unwrap()].to_owned();
        let tenant = tenant.map(str::to_owned);
        AuditEvent {
            tenant,
            operation,
            items_in: i,
            bytes_out: 300 * i,
            status: 200,
            request_id: Some(i),
            micros: i,
            ..Default::default()
        }
    }

    /// 1,000 events of three tenants and of the server, flushed at random
    /// points, with the log reopened halfway.
    fn filled() -> MemoryStore {
        let store = MemoryStore::new();
        let mut log = AuditLog::open(&store).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for i in 0..N {
            log.record(&store, event(TENANTS.get(rng.random_range(0..4usize)).copied(), i)).unwrap();
            if rng.random_bool(0.03) || i == N / 2 {
                log.flush(&store).unwrap();
            }
            if i == N / 2 {
                log = AuditLog::open(&store).unwrap();
            }
        }
        log.flush(&store).unwrap();
        store
    }

    fn get(store: &dyn Store, seq: u64) -> Vec<u8> {
        store.get(Table::Meta, &record_key(seq)).unwrap().unwrap()
    }

    fn decoded(store: &dyn Store, seq: u64) -> AuditRecord {
        postcard::from_bytes(&get(store, seq)).unwrap()
    }

    /// Puts `value` at `key`, or deletes `key`.
    fn set(store: &dyn Store, key: Vec<u8>, value: Option<Vec<u8>>) {
        let mut b = WriteBatch::new();
        match value {
            Some(v) => b.put(Table::Meta, key, v),
            None => b.delete(Table::Meta, key),
        };
        store.write(b).unwrap();
    }

    fn edit(store: &dyn Store, seq: u64, f: impl FnOnce(&mut AuditRecord)) {
        let mut r = decoded(store, seq);
        f(&mut r);
        set(store, record_key(seq), Some(encode(&r).unwrap()));
    }

    /// Verification fails with an audit error that names `seq` first.
    fn blames(store: &dyn Store, seq: u64) {
        let e = verify(store).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::Audit(_)) && msg.starts_with(&format!("audit log check failed: record {seq} ")),
            "{msg}"
        );
    }

    fn count(store: &dyn Store, tenant_ref: Option<[u8; 32]>, since: Option<u64>) -> u64 {
        let mut n = 0;
        visit(store, tenant_ref, since, &mut |_| {
            n += 1;
            Ok(true)
        })
        .unwrap();
        n
    }

    #[test]
    fn a_sound_log_verifies() {
        let store = filled();
        let s = verify(&store).unwrap();
        assert_eq!((s.records, s.head_hash), (N, record_hash(&get(&store, N - 1))));
        let mut seqs = Vec::new();
        visit(&store, None, None, &mut |r| {
            seqs.push(r.seq);
            Ok(r.seq < 9) // stops after 10
        })
        .unwrap();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>());
        assert_eq!(count(&store, None, s.first_unix_ms), N);
        assert_eq!(count(&store, None, s.last_unix_ms.map(|t| t + 1)), 0);
        assert_eq!(verify(&MemoryStore::new()).unwrap().records, 0);
    }

    #[test]
    fn a_deleted_record_is_found() {
        for seq in [500, N - 1] {
            let store = filled();
            set(&store, record_key(seq), None);
            blames(&store, seq);
        }
    }

    #[test]
    fn a_decodable_edit_is_found() {
        for seq in [0, 300, N - 1] {
            let store = filled();
            edit(&store, seq, |r| r.status = 599);
            blames(&store, seq);
            edit(&store, seq, |r| r.status = 200);
            verify(&store).unwrap();
            edit(&store, seq, |r| r.prev[0] ^= 1);
            blames(&store, seq);
        }
    }

    #[test]
    fn every_byte_flip_is_found() {
        let store = filled();
        for seq in [0, 300, N - 1] {
            let original = get(&store, seq);
            for i in 0..original.len() {
                let mut bytes = original.clone();
                bytes[i] ^= 0xff;
                set(&store, record_key(seq), Some(bytes));
                blames(&store, seq);
            }
            set(&store, record_key(seq), Some(original));
            verify(&store).unwrap(); // the same store is sound again: each flip was tested alone
        }
    }

    #[test]
    fn swapped_records_are_found() {
        let store = filled();
        let (a, b) = (get(&store, 3), get(&store, 4));
        set(&store, record_key(3), Some(b));
        set(&store, record_key(4), Some(a));
        blames(&store, 3);
        // Also with the seqs rewritten to fit the keys: then the prev links break.
        edit(&store, 3, |r| r.seq = 3);
        edit(&store, 4, |r| r.seq = 4);
        blames(&store, 3);
    }

    #[test]
    fn an_edited_head_is_found() {
        let store = filled();
        let head = |next_seq: u64, flip: u8| {
            let mut last_hash = record_hash(&get(&store, N - 1));
            last_hash[0] ^= flip;
            set(&store, HEAD_KEY.to_vec(), Some(encode(&AuditHead { next_seq, last_hash }).unwrap()));
        };
        head(N, 1);
        blames(&store, N - 1);
        head(N + 1, 0);
        blames(&store, N);
        head(N - 1, 0);
        blames(&store, N - 1);
        head(N, 0);
        verify(&store).unwrap();
        set(&store, HEAD_KEY.to_vec(), Some(vec![0xff; 3]));
        assert!(matches!(verify(&store), Err(Error::Audit(_))));
        set(&store, HEAD_KEY.to_vec(), None);
        assert!(verify(&store).unwrap_err().to_string().contains("head is missing"));
        assert!(matches!(AuditLog::open(&store), Err(Error::DataCorruption { .. }))); // would overwrite record 0
    }

    #[test]
    fn tenant_refs_are_per_tenant_and_erasable() {
        let store = filled();
        let refs = TENANTS.map(|t| tenant_ref(&store, t).unwrap().unwrap());
        assert!(refs[0] != refs[1] && refs[1] != refs[2] && refs[0] != refs[2]);
        let mut by_tenant = [0u64; 4];
        visit(&store, None, None, &mut |r| {
            by_tenant[r.tenant_ref.map_or(3, |t| refs.iter().position(|x| *x == t).unwrap())] += 1;
            Ok(true)
        })
        .unwrap();
        for (i, r) in refs.iter().enumerate() {
            assert_eq!(count(&store, Some(*r), None), by_tenant[i]);
            assert!(by_tenant[i] > 200);
        }
        set(&store, audit_key_key(TENANTS[0]), None);
        assert_eq!(tenant_ref(&store, TENANTS[0]).unwrap(), None);
        assert_eq!(verify(&store).unwrap().records, N);

        // A restarted log reuses a stored key. A tenant erased while its new
        // key is pending and then forgotten gets no key written back, and a
        // fresh one on its next record.
        let log = AuditLog::open(&store).unwrap();
        log.record(&store, event(Some(TENANTS[1]), 0)).unwrap();
        log.record(&store, event(Some(TENANTS[0]), 0)).unwrap();
        log.forget_tenant(TENANTS[0]).unwrap();
        log.flush(&store).unwrap();
        assert_eq!(decoded(&store, N).tenant_ref, Some(refs[1]));
        assert_eq!(tenant_ref(&store, TENANTS[0]).unwrap(), None);
        log.record(&store, event(Some(TENANTS[0]), 0)).unwrap();
        log.flush(&store).unwrap();
        let fresh = tenant_ref(&store, TENANTS[0]).unwrap();
        assert!(fresh.is_some() && decoded(&store, N + 2).tenant_ref == fresh);
        assert!(![Some(refs[0]), decoded(&store, N + 1).tenant_ref].contains(&fresh));
        assert_eq!(verify(&store).unwrap().records, N + 3);
    }

    #[test]
    fn no_tenant_name_reaches_the_log() {
        let store = filled();
        assert!(OPERATIONS.iter().all(|op| TENANTS.iter().all(|t| !op.contains(t))));
        let mut entries = 0;
        let has = |bytes: &[u8], name: &str| bytes.windows(name.len()).any(|w| w == name.as_bytes());
        store
            .scan_prefix(Table::Meta, b"\0audit/", &mut |k, v| {
                assert!(TENANTS.iter().all(|t| !has(k, t) && !has(v, t)));
                entries += 1;
                Ok(true)
            })
            .unwrap();
        assert_eq!(entries, N + 1); // the records and the head
        visit(&store, None, None, &mut |r| {
            assert!(TENANTS.iter().all(|t| !r.to_line().contains(t)));
            Ok(true)
        })
        .unwrap();
    }

    /// A store whose next write fails while armed.
    #[derive(Debug, Default)]
    struct FailOnce {
        inner: MemoryStore,
        armed: AtomicBool,
    }

    impl Store for FailOnce {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
            self.inner.get(table, key)
        }
        fn write(&self, batch: WriteBatch) -> Result<()> {
            if self.armed.swap(false, Ordering::SeqCst) {
                return Err(Error::Store("injected failure".into()));
            }
            self.inner.write(batch)
        }
        fn sync(&self) -> Result<()> {
            self.inner.sync()
        }
        fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
            self.inner.scan_prefix(table, prefix, visit)
        }
        fn snapshot(&self, visit: &mut crate::store::SnapshotVisitor<'_>) -> Result<()> {
            self.inner.snapshot(visit)
        }
        fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64> {
            self.inner.delete_prefixes(prefixes, batch)
        }
    }

    #[test]
    fn a_failed_flush_keeps_its_records() {
        let store = FailOnce { armed: AtomicBool::new(true), ..FailOnce::default() };
        let log = AuditLog::open(&store).unwrap();
        for i in 0..10 {
            log.record(&store, event(Some(TENANTS[0]), i)).unwrap();
        }
        assert!(matches!(log.flush(&store), Err(Error::Store(_))));
        assert_eq!((verify(&store).unwrap().records, tenant_ref(&store, TENANTS[0]).unwrap()), (0, None));
        log.record(&store, event(None, 10)).unwrap();
        log.flush(&store).unwrap();
        assert_eq!(verify(&store).unwrap().records, 11);
        assert_eq!(decoded(&store, 0).tenant_ref, tenant_ref(&store, TENANTS[0]).unwrap());
    }

    #[test]
    fn record_flushes_by_count_and_by_age() {
        let store = MemoryStore::new();
        let mut log = AuditLog::open(&store).unwrap();
        log.flush_after = Duration::from_secs(3600); // no time flush on a slow machine
        for i in 1..u64::try_from(FLUSH_RECORDS).unwrap() {
            log.record(&store, event(None, i)).unwrap();
        }
        assert!(store.get(Table::Meta, HEAD_KEY).unwrap().is_none());
        log.record(&store, event(None, 0)).unwrap();
        assert_eq!(verify(&store).unwrap().records, 256);

        let log = AuditLog::open(&store).unwrap();
        log.record(&store, event(None, 1)).unwrap();
        std::thread::sleep(FLUSH_INTERVAL + Duration::from_millis(5));
        log.record(&store, event(None, 2)).unwrap();
        assert_eq!(verify(&store).unwrap().records, 258);
    }

    #[test]
    fn concurrent_appends_make_one_chain() {
        let store = MemoryStore::new();
        let log = AuditLog::open(&store).unwrap();
        std::thread::scope(|s| {
            for t in TENANTS {
                s.spawn(|| (0..300).for_each(|i| log.record(&store, event(Some(t), i)).unwrap()));
            }
        });
        log.flush(&store).unwrap();
        assert_eq!(verify(&store).unwrap().records, 900);
    }

    #[test]
    fn bad_events_are_refused() {
        let store = MemoryStore::new();
        let log = AuditLog::open(&store).unwrap();
        let long = AuditEvent { operation: "x".repeat(MAX_OPERATION + 1), ..event(None, 0) };
        assert!(matches!(log.record(&store, long), Err(Error::Config(_))));
        assert!(matches!(log.record(&store, event(Some(""), 0)), Err(Error::Config(_))));
        log.flush(&store).unwrap();
        assert_eq!(verify(&store).unwrap().records, 0);
    }

    #[test]
    fn lines_read_well() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        let store = MemoryStore::new();
        let log = AuditLog::open(&store).unwrap();
        log.record(&store, AuditEvent { bytes_in: 4, items_out: 2, request_id: None, ..event(None, 1) }).unwrap();
        log.flush(&store).unwrap();
        let r = AuditRecord { unix_ms: 1_700_000_000_000, ..decoded(&store, 0) };
        let line = "2023-11-14T22:13:20.000Z seq=0 tenant=- op=blind_search status=200 items=1/2 bytes=4/300 request=- micros=1";
        assert_eq!(r.to_line(), line);
        assert!(AuditRecord { tenant_ref: Some([0xab; 32]), ..r }.to_line().contains(" tenant=abababab "));
    }
}
