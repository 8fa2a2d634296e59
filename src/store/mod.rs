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
//!   writers (group commit; `tests/redb_durability.rs` kills a writer process
//!   to check it); PostgreSQL commits with `synchronous_commit = on` and
//!   flushes concurrent commits' WAL together (`tests/store_postgres.rs`
//!   checks the WAL flush position after each acknowledged write).
//!   [`MemoryStore`] keeps nothing across a restart.
//! - Reads of missing keys return `Ok(None)`, never an error.
//!
//! Backends: [`MemoryStore`] (tests, benches), [`RedbStore`] (the embedded
//! default) and [`PostgresStore`] (multi-user deployments). Every backend
//! passes [`conformance`], the shared suite.

pub mod conformance;
pub mod keyspace;
mod memory;
mod postgres;
mod redb_store;

use std::fmt::Debug;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use redb_store::RedbStore;

use crate::{Error, Result};

/// Values read by [`Store::get_many`], aligned with the keys asked for.
pub type ManyValues = Result<Vec<Option<Vec<u8>>>>;

/// A callback of [`Store::scan_prefix`]: gets key and value, returns whether to go on.
pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

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
            fn write(&self, batch: WriteBatch) -> Result<()> {
                (**self).write(batch)
            }
            fn sync(&self) -> Result<()> {
                (**self).sync()
            }
            fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
                (**self).scan_prefix(table, prefix, visit)
            }
            fn stats(&self, table: Table, prefix: &[u8]) -> Result<TableStats> {
                (**self).stats(table, prefix)
            }
        }
    };
}
forward_store!(Box);
forward_store!(std::sync::Arc);

/// Opens a store from a spec: `redb:PATH` (the database file, created if
/// missing) or `postgres:URL` (in PostgreSQL schema `pg_schema`, migrated at
/// connect).
///
/// # Errors
/// [`Error::Config`] for an unknown spec; store errors.
pub fn open(spec: &str, pg_schema: &str) -> Result<Box<dyn Store>> {
    if let Some(path) = spec.strip_prefix("redb:") {
        Ok(Box::new(RedbStore::open(std::path::Path::new(path))?))
    } else if let Some(url) = spec.strip_prefix("postgres:") {
        Ok(Box::new(PostgresStore::connect(url, pg_schema)?))
    } else {
        Err(Error::Config("store must be redb:PATH or postgres:URL".into()))
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
