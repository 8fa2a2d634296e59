//! redb backend: the embedded default. One database file, one redb table per
//! [`Table`].
//!
//! **Durable writes by group commit.** [`Store::write`] returns only once its
//! batch is on disk (a redb commit with immediate durability, which fsyncs).
//! An fsync costs milliseconds, so concurrent writers share one: the first
//! writer to arrive becomes the leader, takes every batch queued so far,
//! applies them in one write transaction, commits it durably, and wakes the
//! writers whose batches it carried; writers that arrived meanwhile form the
//! next group. Each batch still applies all-or-nothing: if the group's
//! transaction fails, the leader retries each batch in a transaction of its
//! own, so one bad batch does not fail its neighbours.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{SnapshotVisitor, Store, Table, Visitor, WriteBatch, WriteOp, prefix_upper_bound};
use crate::{Error, Result};

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

/// A [`Store`] in a redb database file.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    group: GroupCommit,
}

/// Batches waiting for the next durable commit, and outcomes not yet collected.
#[derive(Debug, Default)]
struct GroupCommit {
    queue: Mutex<Queue>,
    /// Signalled when a group is committed (outcomes ready, no leader).
    committed: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, WriteBatch)>,
    done: HashMap<u64, Result<()>>,
    /// Whether a writer is committing a group now.
    leader: bool,
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
        Ok(RedbStore { db, path: path.to_owned(), group: GroupCommit::default() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl RedbStore {
    /// Commits a group of batches with one fsync and returns each batch's outcome.
    fn commit_group(&self, group: Vec<(u64, WriteBatch)>) -> Vec<(u64, Result<()>)> {
        let batches: Vec<&WriteBatch> = group.iter().map(|(_, b)| b).collect();
        match self.commit_durably(&batches) {
            Ok(()) => group.into_iter().map(|(t, _)| (t, Ok(()))).collect(),
            Err(e) if group.len() == 1 => vec![(group[0].0, Err(e))],
            // One batch may be at fault: give each its own transaction.
            Err(_) => group.into_iter().map(|(t, b)| (t, self.commit_durably(&[&b]))).collect(),
        }
    }

    /// Applies `batches` in one transaction and commits it with an fsync.
    fn commit_durably(&self, batches: &[&WriteBatch]) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        Self::apply(&txn, batches)?;
        // Dropping the transaction without commit aborts it: nothing of a failed group lands.
        txn.commit()?;
        Ok(())
    }

    /// Applies `batches`' operations in order inside `txn`.
    fn apply(txn: &redb::WriteTransaction, batches: &[&WriteBatch]) -> Result<()> {
        {
            let mut tables: Vec<Option<redb::Table<'_, &[u8], &[u8]>>> = (0..Table::ALL.len()).map(|_| None).collect();
            for op in batches.iter().flat_map(|b| b.ops()) {
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
        Ok(())
    }
}

fn poisoned() -> Error {
    Error::Store("redb group commit lock poisoned".into())
}

impl Store for RedbStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(definition(table))?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    /// One read transaction, keys visited in sorted order: consecutive
    /// lookups then walk neighbouring B-tree pages, which stay in cache,
    /// instead of jumping across the file in the callers' (pseudorandom
    /// label) order. Answers come back in the callers' order.
    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> super::ManyValues {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(definition(table))?;
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        for i in order {
            out[i] = t.get(keys[i].as_slice())?.map(|v| v.value().to_vec());
        }
        Ok(out)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut q = self.group.queue.lock().map_err(|_| poisoned())?;
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, batch));
        loop {
            if let Some(outcome) = q.done.remove(&ticket) {
                return outcome;
            }
            if q.leader {
                q = self.group.committed.wait(q).map_err(|_| poisoned())?;
                continue;
            }
            // No group is being committed: lead the next one (it holds our batch).
            q.leader = true;
            let group = std::mem::take(&mut q.pending);
            drop(q);
            let outcomes = self.commit_group(group);
            q = self.group.queue.lock().map_err(|_| poisoned())?;
            q.done.extend(outcomes);
            q.leader = false;
            self.group.committed.notify_all();
        }
    }

    fn sync(&self) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<()> {
        // A read transaction is a snapshot; redb's writers go on beside it.
        let txn = self.db.begin_read()?;
        for table in Table::ALL {
            let t = txn.open_table(definition(table))?;
            for item in t.iter()? {
                let (k, v) = item?;
                if !visit(table, k.value(), v.value())? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64> {
        // Not through the group commit: one transaction of its own, durable when it returns.
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut removed = 0u64;
        for (table, prefix) in prefixes {
            let mut t = txn.open_table(definition(*table))?;
            let count = |_: &[u8], _: &[u8]| {
                removed += 1;
                false
            };
            match prefix_upper_bound(prefix) {
                Some(upper) => t.retain_in::<&[u8], _>(prefix.as_slice()..upper.as_slice(), count)?,
                None => t.retain_in::<&[u8], _>(prefix.as_slice().., count)?,
            }
        }
        Self::apply(&txn, &[&batch])?;
        txn.commit()?;
        Ok(removed)
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        self.scan_from(table, prefix, prefix, visit)
    }

    fn scan_from(&self, table: Table, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(definition(table))?;
        for item in t.range::<&[u8]>(prefix.max(start)..)? {
            let (k, v) = item?;
            if !k.value().starts_with(prefix) || !visit(k.value(), v.value())? {
                break;
            }
        }
        Ok(())
    }
}
