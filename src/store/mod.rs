//! Everything the server keeps, behind one small trait.
//!
//! # Semantics
//! - Four tables: sealed [`Table::Documents`], blind-index [`Table::Postings`]
//!   (token -> serialized bitmap), SSE [`Table::Entries`] (label -> value) and
//!   [`Table::Meta`] (public schema, counters). Keys and values are opaque bytes.
//! - [`Store::write`] applies a [`WriteBatch`] atomically: readers see all of it
//!   or none of it. It is visible to readers when `write` returns.
//! - Durability: after [`Store::sync`] returns, every batch written before it
//!   survives a crash. [`RedbStore`] and [`PostgresStore`] go further: their
//!   `write` returns only once the batch is on disk, so an acknowledged write
//!   survives a crash at any point. redb shares one fsync among concurrent
//!   writers (group commit; `tests/suite/redb_durability.rs` kills a writer process
//!   to check it); PostgreSQL commits with `synchronous_commit = on` and
//!   flushes concurrent commits' WAL together (`tests/suite/store_postgres.rs`
//!   checks the WAL flush position after each acknowledged write).
//!   [`MemoryStore`] keeps nothing across a restart.
//! - Reads of missing keys return `Ok(None)`, never an error.
//!
//! Backends: [`MemoryStore`] (tests, benches), [`RedbStore`] (the embedded
//! default), [`PostgresStore`] (multi-user deployments) and
//! [`RedisClusterStore`] (one index shared by many server processes over a
//! Redis Cluster; its `write` too returns only once the batch is fsynced on
//! every node it touched). Every backend passes [`conformance`], the shared
//! suite.

pub mod backup;
pub mod conformance;
pub mod keyspace;
pub mod lifecycle;
mod memory;
mod postgres;
mod redb_store;
mod redis_cluster;

use std::fmt::Debug;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use redb_store::RedbStore;
pub use redis_cluster::{RedisClusterStore, layout as redis_cluster_layout};

use crate::{Error, Result};

/// Values read by [`Store::get_many`], aligned with the keys asked for.
pub type ManyValues = Result<Vec<Option<Vec<u8>>>>;

/// A callback of [`Store::visit_many`]: gets the position of a key among
/// those asked for and its value if stored, returns whether to go on.
pub type ManyVisitor<'a> = dyn FnMut(usize, Option<&[u8]>) -> Result<bool> + 'a;

/// A callback of [`Store::scan_prefix`]: gets key and value, returns whether to go on.
pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// A callback of [`Store::snapshot`]: gets table, key and value, returns whether to go on.
pub type SnapshotVisitor<'a> = dyn FnMut(Table, &[u8], &[u8]) -> Result<bool> + 'a;

/// The Meta key a restore writes first and removes last: a store holding it
/// is a restore that did not finish, and [`open`] refuses it.
pub const RESTORE_MARKER: &[u8] = b"\0restore/incomplete";

/// A table of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Sealed documents by tenant and id.
    Documents,
    /// Blind-index posting lists by tenant, index and token.
    Postings,
    /// SSE dictionary entries by tenant and label.
    Entries,
    /// Public metadata: schema, counters.
    Meta,
}

impl Table {
    /// All tables.
    pub const ALL: [Table; 4] = [Table::Documents, Table::Postings, Table::Entries, Table::Meta];

    /// The table's name in storage engines and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Table::Documents => "documents",
            Table::Postings => "postings",
            Table::Entries => "entries",
            Table::Meta => "meta",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None`
/// if there is none (empty prefix, or only `0xff` bytes).
pub(crate) fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Insert or overwrite `key` with `value`.
    Put {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
    },
}

/// An ordered list of writes applied atomically by [`Store::write`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.ops.push(WriteOp::Put { table, key, value });
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) -> &mut Self {
        self.ops.push(WriteOp::Delete { table, key });
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// Consumes the batch into its operations.
    pub fn into_ops(self) -> Vec<WriteOp> {
        self.ops
    }
}

/// Entry counts and byte sizes of one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Number of entries.
    pub entries: u64,
    /// Sum of key and value lengths.
    pub bytes: u64,
}

/// A lock held across every process that uses one store, released when
/// dropped (see [`Store::shared_lock`]).
pub struct SharedLock<'a> {
    release: Option<Box<dyn FnOnce() + Send + 'a>>,
}

impl<'a> SharedLock<'a> {
    /// A held lock that `release` gives back.
    pub fn new(release: impl FnOnce() + Send + 'a) -> Self {
        SharedLock { release: Some(Box::new(release)) }
    }
}

impl Drop for SharedLock<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl Debug for SharedLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLock").finish_non_exhaustive()
    }
}

/// Server-side storage. See the module docs for the semantics every backend
/// must follow.
pub trait Store: Send + Sync + Debug {
    /// Reads one value.
    ///
    /// # Errors
    /// Engine failure.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Reads many values in one snapshot; the answer is aligned with `keys`.
    ///
    /// # Errors
    /// Engine failure.
    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> ManyValues {
        keys.iter().map(|k| self.get(table, k)).collect()
    }

    /// Reads many values in one snapshot, as [`Store::get_many`], and hands
    /// each to `visit` in the order of `keys` until it returns `false`. A
    /// backend that holds its values in memory lends them instead of
    /// copying each out (a long search reads thousands).
    ///
    /// # Errors
    /// Engine failure; the first error of `visit`.
    fn visit_many(&self, table: Table, keys: &[Vec<u8>], visit: &mut ManyVisitor<'_>) -> Result<()> {
        for (i, v) in self.get_many(table, keys)?.into_iter().enumerate() {
            if !visit(i, v.as_deref())? {
                break;
            }
        }
        Ok(())
    }

    /// Applies a batch atomically.
    ///
    /// # Errors
    /// Engine failure; then nothing of the batch is applied.
    fn write(&self, batch: WriteBatch) -> Result<()>;

    /// Durability point: all batches written before are on stable storage when this returns.
    ///
    /// # Errors
    /// Engine failure.
    fn sync(&self) -> Result<()>;

    /// Visits the entries of `table` whose key starts with `prefix`, in key
    /// order, until `visit` returns `Ok(false)`.
    ///
    /// # Errors
    /// Engine failure, or the first error returned by `visit`.
    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()>;

    /// Like [`Store::scan_prefix`], from the first key at or after `start`
    /// (pages of a long listing start where the last one ended, instead of
    /// scanning the prefix from its beginning each time).
    ///
    /// # Errors
    /// Engine failure, or the first error returned by `visit`.
    fn scan_from(&self, table: Table, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        self.scan_prefix(table, prefix, &mut |k, v| if k < start { Ok(true) } else { visit(k, v) })
    }

    /// Visits every entry of every table, tables in [`Table::ALL`] order and
    /// keys in order within each, as of one point in time: every batch
    /// written before the snapshot began is seen whole, and nothing written
    /// while it runs is seen. Writers are not blocked meanwhile. The visitor
    /// must not write to the store (the memory backend holds its read lock).
    ///
    /// # Errors
    /// Engine failure, or the first error returned by `visit`.
    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<()>;

    /// Deletes every key that starts with one of `prefixes` (each in its
    /// table), then applies `batch`, in one transaction; returns how many
    /// keys the prefixes removed. Erasure of a tenant is one call; a key the
    /// batch puts under a deleted prefix stays.
    ///
    /// # Errors
    /// Engine failure; then nothing is deleted.
    fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64>;

    /// Takes lock `name` for every process that uses this store, waiting
    /// for it, and holds it until the answer is dropped. `None` means the
    /// backend is served by one process at a time (redb, memory; PostgreSQL
    /// as sseek deploys it), so the caller's in-process lock is enough. The
    /// server takes it around a tenant's read-modify-writes and the audit
    /// log's appends.
    ///
    /// # Errors
    /// Engine failure, or a lock not obtained in time.
    fn shared_lock(&self, name: &[u8]) -> Result<Option<SharedLock<'_>>> {
        let _ = name;
        Ok(None)
    }

    /// Entry count and bytes of keys with `prefix` in `table`.
    ///
    /// # Errors
    /// Engine failure.
    fn stats(&self, table: Table, prefix: &[u8]) -> Result<TableStats> {
        let mut s = TableStats::default();
        self.scan_prefix(table, prefix, &mut |k, v| {
            s.entries += 1;
            s.bytes += (k.len() + v.len()) as u64;
            Ok(true)
        })?;
        Ok(s)
    }
}

/// Forwards every [`Store`] method through a smart pointer.
macro_rules! forward_store {
    ($($ptr:ident)::+) => {
        impl<S: Store + ?Sized> Store for $($ptr)::+<S> {
            fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
                (**self).get(table, key)
            }
            fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> ManyValues {
                (**self).get_many(table, keys)
            }
            fn visit_many(&self, table: Table, keys: &[Vec<u8>], visit: &mut ManyVisitor<'_>) -> Result<()> {
                (**self).visit_many(table, keys, visit)
            }
            fn write(&self, batch: WriteBatch) -> Result<()> {
                (**self).write(batch)
            }
            fn sync(&self) -> Result<()> {
                (**self).sync()
            }
            fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
                (**self).scan_prefix(table, prefix, visit)
            }
            fn scan_from(&self, table: Table, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
                (**self).scan_from(table, prefix, start, visit)
            }
            fn stats(&self, table: Table, prefix: &[u8]) -> Result<TableStats> {
                (**self).stats(table, prefix)
            }
            fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<()> {
                (**self).snapshot(visit)
            }
            fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64> {
                (**self).delete_prefixes(prefixes, batch)
            }
            fn shared_lock(&self, name: &[u8]) -> Result<Option<SharedLock<'_>>> {
                (**self).shared_lock(name)
            }
        }
    };
}
forward_store!(Box);
forward_store!(std::sync::Arc);

/// Opens a store from a spec: `redb:PATH` (the database file, created if
/// missing), `postgres:URL` (in PostgreSQL schema `pg_schema`, migrated at
/// connect) or `redis-cluster:redis://HOST:PORT,...` (in key namespace
/// `pg_schema`; see [`RedisClusterStore`]).
///
/// # Errors
/// [`Error::Config`] for an unknown spec; store errors; [`Error::Store`]
/// for a store whose restore did not finish (see [`RESTORE_MARKER`]).
pub fn open(spec: &str, pg_schema: &str) -> Result<Box<dyn Store>> {
    let store = open_unchecked(spec, pg_schema)?;
    if store.get(Table::Meta, RESTORE_MARKER)?.is_some() {
        return Err(Error::Store(format!(
            "{} holds a restore that did not finish; restore again into an empty store",
            describe(spec)
        )));
    }
    Ok(store)
}

/// A spec without its password, for messages.
pub fn describe(spec: &str) -> String {
    match spec.strip_prefix("postgres:").and_then(|url| url.parse::<tokio_postgres::Config>().ok()) {
        Some(c) => format!("PostgreSQL database {:?} on {:?}", c.get_dbname().unwrap_or("?"), c.get_hosts()),
        None => spec.to_owned(),
    }
}

/// [`open`] without the check for an unfinished restore: for restore itself.
///
/// # Errors
/// As [`open`], less the restore check.
pub fn open_unchecked(spec: &str, pg_schema: &str) -> Result<Box<dyn Store>> {
    if let Some(path) = spec.strip_prefix("redb:") {
        Ok(Box::new(RedbStore::open(std::path::Path::new(path))?))
    } else if let Some(url) = spec.strip_prefix("postgres:") {
        Ok(Box::new(PostgresStore::connect(url, pg_schema)?))
    } else if let Some(nodes) = spec.strip_prefix("redis-cluster:") {
        Ok(Box::new(RedisClusterStore::connect(nodes, pg_schema)?))
    } else {
        Err(Error::Config("store must be redb:PATH, postgres:URL or redis-cluster:redis://HOST:PORT,...".into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn store_specs() {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("redb:{}", dir.path().join("s.redb").display());
        assert!(open(&spec, "x").is_ok());
        assert!(open("mysql:x", "x").is_err());
    }
}
