//! redb backend: the embedded default. One database file, one redb table per
//! [`Table`]. Batches commit without fsync; [`Store::sync`] commits with
//! immediate durability, which makes everything before it durable.

use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use super::{Store, Table, Visitor, WriteBatch, WriteOp};
use crate::{Error, Result};

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

/// A [`Store`] in a redb database file.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens the database at `path`, creating it (and its tables) if missing.
    ///
    /// # Errors
    /// [`Error::Store`] if the file is not a redb database or cannot be opened
    /// (for example, because another process holds it).
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let db = Database::create(path)
            .map_err(|e| Error::Store(format!("cannot open redb store {}: {e}", path.display())))?;
        let txn = db.begin_write()?;
        for t in Table::ALL {
            txn.open_table(definition(t))?;
        }
        txn.commit()?;
        Ok(RedbStore { db, path: path.to_owned() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for RedbStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(definition(table))?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> super::ManyValues {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(definition(table))?;
        keys.iter().map(|k| Ok(t.get(k.as_slice())?.map(|v| v.value().to_vec()))).collect()
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        {
            let mut tables: Vec<Option<redb::Table<'_, &[u8], &[u8]>>> = (0..Table::ALL.len()).map(|_| None).collect();
            for op in batch.ops() {
                let (table, key) = match op {
                    WriteOp::Put { table, key, .. } | WriteOp::Delete { table, key } => (*table, key),
                };
                let slot = &mut tables[table.index()];
                if slot.is_none() {
                    *slot = Some(txn.open_table(definition(table))?);
                }
                let Some(t) = slot.as_mut() else { unreachable!("slot filled above") };
                match op {
                    WriteOp::Put { value, .. } => {
                        t.insert(key.as_slice(), value.as_slice())?;
                    }
                    WriteOp::Delete { .. } => {
                        t.remove(key.as_slice())?;
                    }
                }
            }
        }
        // Dropping the transaction without commit aborts it: nothing of a failed batch lands.
        txn.commit()?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(definition(table))?;
        for item in t.range::<&[u8]>(prefix..)? {
            let (k, v) = item?;
            if !k.value().starts_with(prefix) || !visit(k.value(), v.value())? {
                break;
            }
        }
        Ok(())
    }
}
