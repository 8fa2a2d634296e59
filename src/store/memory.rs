//! In-memory backend: ordered maps behind a read-write lock.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use super::{Store, Table, Visitor, WriteBatch, WriteOp};
use crate::{Error, Result};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A [`Store`] in memory. Fast and lost at exit: for tests, benches and the
/// in-process demo. `sync` is a no-op.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: RwLock<[Map; 4]>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, [Map; 4]>> {
        self.tables.read().map_err(|_| Error::Store("memory store lock poisoned".into()))
    }
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read()?[table.index()].get(key).cloned())
    }

    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> super::ManyValues {
        let t = self.read()?;
        Ok(keys.iter().map(|k| t[table.index()].get(k).cloned()).collect())
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut t = self.tables.write().map_err(|_| Error::Store("memory store lock poisoned".into()))?;
        for op in batch.into_ops() {
            match op {
                WriteOp::Put { table, key, value } => {
                    t[table.index()].insert(key, value);
                }
                WriteOp::Delete { table, key } => {
                    t[table.index()].remove(&key);
                }
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        let t = self.read()?;
        for (k, v) in t[table.index()].range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded)) {
            if !k.starts_with(prefix) || !visit(k, v)? {
                break;
            }
        }
        Ok(())
    }
}
