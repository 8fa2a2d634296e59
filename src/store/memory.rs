//! In-memory backend: hash maps behind a read-write lock.
//!
//! Hash maps, not ordered maps, because point reads dominate every search
//! path: a `BTreeMap<Vec<u8>, _>` chases a heap pointer per key comparison,
//! which measured about 3 µs per lookup at 1.8 million SSE entries, against
//! well under 1 µs for a hash map. Prefix scans (statistics, tests) collect
//! the matching keys and sort them, so they still visit in key order.
//!
//! Short keys and values are held inline in the map's slots:
//! an SSE entry's key (tenant, instance, 16-byte label) and a dynamic
//! scheme's few-byte value then sit in the slot the hash probe lands on, so
//! a lookup costs one cache miss instead of three (slot, key allocation,
//! value allocation). The hasher is foldhash (randomly seeded per map),
//! several times cheaper than SipHash on 30-byte keys.
//!
//! Each table is 16 maps, a key's map chosen by its hash: a large write
//! batch (an index setup) is applied by every core at once, one map per
//! task, and growth rehashes one small map at a time.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use rayon::prelude::*;

use super::{ManyVisitor, SnapshotVisitor, Store, Table, TableStats, Visitor, WriteBatch, WriteOp};
use crate::{Error, Result};

/// A byte string stored inline when at most `N` bytes long, else on the heap.
#[derive(Clone)]
enum Bytes<const N: usize> {
    Inline { len: u8, data: [u8; N] },
    Heap(Box<[u8]>),
}

impl<const N: usize> Bytes<N> {
    fn new(v: Vec<u8>) -> Self {
        if v.len() <= N {
            // Byte by byte, not `copy_from_slice`: that is a call to memcpy
            // whose odd-sized stores the array's wide loads right after it
            // cannot take from the store buffer, a stall that measured about
            // a tenth of a one-document update.
            let data = std::array::from_fn(|i| v.get(i).copied().unwrap_or(0));
            // N < 256, so the length fits.
            Bytes::Inline { len: u8::try_from(v.len()).unwrap_or(u8::MAX), data }
        } else {
            Bytes::Heap(v.into_boxed_slice())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline { len, data } => &data[..usize::from(*len)],
            Bytes::Heap(b) => b,
        }
    }
}

impl<const N: usize> std::fmt::Debug for Bytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

impl<const N: usize> PartialEq for Bytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<const N: usize> Eq for Bytes<N> {}

impl<const N: usize> Hash for Bytes<N> {
    // The same hash as the slice's, as `Borrow<[u8]>` requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<const N: usize> Borrow<[u8]> for Bytes<N> {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Inline key bytes: an entry key of a tenant and instance name of up to
/// 13 bytes each fits (1 + 13 + 1 + 13 + 1 + 16 = 45 bytes).
type Key = Bytes<46>;
/// Inline value bytes: the values of Mitra (5 bytes) and Diana (4 bytes) fit.
type Value = Bytes<22>;
type Map = HashMap<Key, Value, foldhash::fast::RandomState>;

/// Maps per table. A key's shard is fixed by its hash, so every operation on
/// one key lands in one map, in batch order: a large batch is applied by
/// all cores at once (one shard per task) with the same outcome as in
/// order, and a table grows by rehashing one small map at a time.
const SHARDS: usize = 16;
/// Batches with fewer operations are applied on the calling thread: below
/// this, splitting them costs more than it saves.
const PARALLEL_OPS: usize = 4096;

/// One table: its shards, and the hasher that picks a key's shard.
#[derive(Debug)]
struct Tables {
    maps: Vec<Map>,
    shard_of: foldhash::fast::RandomState,
}

impl Tables {
    fn new() -> Self {
        Tables {
            maps: (0..4 * SHARDS).map(|_| Map::default()).collect(),
            shard_of: foldhash::fast::RandomState::default(),
        }
    }

    /// The map of `key` in `table`.
    fn index(&self, table: Table, key: &[u8]) -> usize {
        use std::hash::BuildHasher;
        // The top bits: the map's own probe uses the low ones of its own hash.
        let h = self.shard_of.hash_one(key);
        table.index() * SHARDS + (h >> 60) as usize % SHARDS
    }

    fn get(&self, table: Table, key: &[u8]) -> Option<&Value> {
        self.maps[self.index(table, key)].get(key)
    }

    /// The shards of one table.
    fn table(&self, table: Table) -> impl Iterator<Item = (&Key, &Value)> {
        self.maps[table.index() * SHARDS..(table.index() + 1) * SHARDS].iter().flatten()
    }
}

/// A [`Store`] in memory. Fast and lost at exit: for tests, benches and the
/// in-process demo. `sync` is a no-op.
#[derive(Debug)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore { tables: RwLock::new(Tables::new()) }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Tables>> {
        self.tables.read().map_err(|_| Error::Store("memory store lock poisoned".into()))
    }
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read()?.get(table, key).map(|v| v.as_slice().to_vec()))
    }

    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> super::ManyValues {
        let t = self.read()?;
        Ok(keys.iter().map(|k| t.get(table, k).map(|v| v.as_slice().to_vec())).collect())
    }

    fn visit_many(&self, table: Table, keys: &[Vec<u8>], visit: &mut ManyVisitor<'_>) -> Result<()> {
        let t = self.read()?;
        if keys.len() >= PARALLEL_OPS && rayon::current_num_threads() > 1 {
            // A setup chunk's no-overwrite check: the lookups (a cache miss
            // each in a large table) on every core, the visits in order.
            let found: Vec<Option<&Value>> = keys.par_iter().map(|k| t.get(table, k)).collect();
            for (i, v) in found.into_iter().enumerate() {
                if !visit(i, v.map(Bytes::as_slice))? {
                    break;
                }
            }
            return Ok(());
        }
        for (i, k) in keys.iter().enumerate() {
            if !visit(i, t.get(table, k).map(Bytes::as_slice))? {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut t = self.tables.write().map_err(|_| Error::Store("memory store lock poisoned".into()))?;
        apply(&mut t, batch);
        Ok(())
    }

    fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64> {
        let mut t = self.tables.write().map_err(|_| Error::Store("memory store lock poisoned".into()))?;
        let mut removed = 0u64;
        for (table, prefix) in prefixes {
            for map in &mut t.maps[table.index() * SHARDS..(table.index() + 1) * SHARDS] {
                let before = map.len();
                map.retain(|k, _| !k.as_slice().starts_with(prefix));
                removed += (before - map.len()) as u64;
            }
        }
        apply(&mut t, batch);
        Ok(removed)
    }

    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<()> {
        let t = self.read()?;
        for table in Table::ALL {
            let mut entries: Vec<(&[u8], &[u8])> = t.table(table).map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                if !visit(table, k, v)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        self.scan_from(table, prefix, prefix, visit)
    }

    fn scan_from(&self, table: Table, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        let t = self.read()?;
        let mut hits: Vec<(&[u8], &[u8])> = t
            .table(table)
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .filter(|(k, _)| k.starts_with(prefix) && *k >= start)
            .collect();
        hits.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, v) in hits {
            if !visit(k, v)? {
                break;
            }
        }
        Ok(())
    }

    fn stats(&self, table: Table, prefix: &[u8]) -> Result<TableStats> {
        let t = self.read()?;
        let mut s = TableStats::default();
        for (k, v) in t.table(table).filter(|(k, _)| k.as_slice().starts_with(prefix)) {
            s.entries += 1;
            s.bytes += (k.as_slice().len() + v.as_slice().len()) as u64;
        }
        Ok(s)
    }
}

/// Applies a batch's operations in order: a large batch shard by shard in
/// parallel, keeping the order of the operations within each shard (and so
/// on each key). The caller holds the write lock, so no reader sees it half
/// applied.
fn apply(t: &mut Tables, batch: WriteBatch) {
    let ops = batch.into_ops();
    if ops.len() < PARALLEL_OPS || rayon::current_num_threads() < 2 {
        for op in ops {
            let i = t.index(op_table(&op), op_key(&op));
            apply_one(&mut t.maps[i], op);
        }
        return;
    }
    // Hashing every key for its map is done on every core too; only the
    // moves into the per-map lists are sequential (they keep batch order).
    let shard: Vec<usize> = ops.par_iter().map(|op| t.index(op_table(op), op_key(op))).collect();
    let mut per_map: Vec<Vec<WriteOp>> = (0..t.maps.len()).map(|_| Vec::new()).collect();
    for (op, i) in ops.into_iter().zip(shard) {
        per_map[i].push(op);
    }
    t.maps.par_iter_mut().zip(per_map).for_each(|(map, ops)| {
        for op in ops {
            apply_one(map, op);
        }
    });
}

fn op_table(op: &WriteOp) -> Table {
    match op {
        WriteOp::Put { table, .. } | WriteOp::Delete { table, .. } => *table,
    }
}

fn op_key(op: &WriteOp) -> &[u8] {
    match op {
        WriteOp::Put { key, .. } | WriteOp::Delete { key, .. } => key,
    }
}

fn apply_one(map: &mut Map, op: WriteOp) {
    match op {
        WriteOp::Put { key, value, .. } => {
            map.insert(Key::new(key), Value::new(value));
        }
        WriteOp::Delete { key, .. } => {
            map.remove(key.as_slice());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A batch large enough to be applied shard by shard, with puts,
    /// overwrites and deletes of the same keys in one batch: the outcome is
    /// the sequential one, on one thread and on two.
    #[test]
    fn a_large_batch_applies_as_in_order() {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let store = MemoryStore::new();
            let mut model: BTreeMap<(usize, Vec<u8>), Vec<u8>> = BTreeMap::new();
            let mut batch = WriteBatch::new();
            let mut x = 0x9e37_79b9_u32;
            for i in 0..3 * PARALLEL_OPS {
                // A small key space, so most keys see several operations.
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let table = Table::ALL[x as usize % 2];
                let key = (x % 997).to_le_bytes().to_vec();
                let slot = (table.index(), key.clone());
                if x.is_multiple_of(5) {
                    batch.delete(table, key);
                    model.remove(&slot);
                } else {
                    let value = u32::try_from(i).expect("small").to_le_bytes().repeat(1 + i % 9);
                    batch.put(table, key, value.clone());
                    model.insert(slot, value);
                }
            }
            pool.install(|| store.write(batch)).expect("write");
            let mut got: BTreeMap<(usize, Vec<u8>), Vec<u8>> = BTreeMap::new();
            for table in Table::ALL {
                store
                    .scan_prefix(table, &[], &mut |k, v| {
                        got.insert((table.index(), k.to_vec()), v.to_vec());
                        Ok(true)
                    })
                    .expect("scan");
            }
            assert_eq!(got, model, "{threads} thread(s)");
            assert!(got.len() > 1_000, "the batch left {} keys", got.len());
        }
    }

    /// A lookup of many keys (looked up in parallel on two threads) visits
    /// every key in order with its value or `None`, and stops when told to.
    #[test]
    fn a_large_visit_sees_every_key_in_order() {
        let store = MemoryStore::new();
        let mut batch = WriteBatch::new();
        let n = u32::try_from(2 * PARALLEL_OPS).expect("small");
        let keys: Vec<Vec<u8>> = (0..n).map(|i| i.to_be_bytes().to_vec()).collect();
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
            batch.put(Table::Entries, k.clone(), vec![u8::try_from(i % 251).expect("small")]);
        }
        store.write(batch).expect("write");
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let mut seen = Vec::new();
            pool.install(|| {
                store.visit_many(Table::Entries, &keys, &mut |i, v| {
                    seen.push((i, v.map(<[u8]>::to_vec)));
                    Ok(i + 1 < PARALLEL_OPS + 7)
                })
            })
            .expect("visit");
            let want: Vec<(usize, Option<Vec<u8>>)> = (0..PARALLEL_OPS + 7)
                .map(|i| (i, (i % 3 != 0).then(|| vec![u8::try_from(i % 251).expect("small")])))
                .collect();
            assert_eq!(seen, want, "{threads} thread(s)");
        }
    }
}
