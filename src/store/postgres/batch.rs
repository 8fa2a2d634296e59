//! Write batches: reduced to their effect ([`Plan`]), then applied in one
//! transaction, as upserts of two arrays for small batches and through binary
//! `COPY` into a temp table for large ones.

use std::collections::HashMap;

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use super::connection::{Inner, Writer};
use super::errors::{pg, pg_table};
use super::sql::table_tag;
use crate::Result;
use crate::store::{Table, WriteBatch, WriteOp, prefix_upper_bound};

/// Batches with at least this many puts (after collapsing) go through `COPY`.
const COPY_MIN_PUTS: usize = 256;

/// Batches with at least this many bytes of puts go through `COPY`.
const COPY_MIN_BYTES: usize = 1 << 20;

/// A batch reduced to its effect: per table, the keys to delete and the
/// entries to put, each key at most once.
pub(super) struct Plan {
    deletes: Vec<Vec<Vec<u8>>>,
    puts: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    put_count: usize,
    put_bytes: usize,
}

impl Plan {
    pub(super) fn new(batch: WriteBatch) -> Self {
        // Within one transaction only the last operation on a key is observable.
        let mut last: HashMap<(Table, Vec<u8>), Option<Vec<u8>>> = HashMap::with_capacity(batch.len());
        for op in batch.into_ops() {
            match op {
                WriteOp::Put { table, key, value } => last.insert((table, key), Some(value)),
                WriteOp::Delete { table, key } => last.insert((table, key), None),
            };
        }
        let mut plan = Plan {
            deletes: Table::ALL.iter().map(|_| Vec::new()).collect(),
            puts: Table::ALL.iter().map(|_| Vec::new()).collect(),
            put_count: 0,
            put_bytes: 0,
        };
        for ((table, key), value) in last {
            match value {
                Some(value) => {
                    plan.put_count += 1;
                    plan.put_bytes += key.len() + value.len();
                    plan.puts[table.index()].push((key, value));
                }
                None => plan.deletes[table.index()].push(key),
            }
        }
        plan
    }

    fn use_copy(&self) -> bool {
        self.put_count >= COPY_MIN_PUTS || self.put_bytes >= COPY_MIN_BYTES
    }
}

impl Inner {
    /// Applies a batch plan in one transaction, after deleting every key
    /// under `prefixes`; returns how many keys the prefixes removed.
    pub(super) async fn apply(&self, plan: Plan, prefixes: &[(Table, Vec<u8>)]) -> Result<u64> {
        let use_copy = plan.use_copy();
        let mut guard = self.writer().await?;
        let Writer { client, copy_in, tables, unsynced, .. } = &mut *guard;
        // Dropping `tx` without commit (on any error below) rolls it back.
        let tx = client.transaction().await.map_err(pg("begin a write transaction"))?;
        let mut removed = 0u64;
        for (table, prefix) in prefixes {
            let t = format!("{}.{}", self.quoted, table.name());
            let n = match prefix_upper_bound(prefix) {
                Some(upper) => {
                    tx.execute(
                        &format!("delete from {t} where key >= $1::bytea and key < $2::bytea"),
                        &[prefix, &upper],
                    )
                    .await
                }
                None => tx.execute(&format!("delete from {t} where key >= $1::bytea"), &[prefix]).await,
            }
            .map_err(pg_table("delete a prefix", *table))?;
            removed += n;
        }
        for (table, keys) in Table::ALL.into_iter().zip(&plan.deletes) {
            if !keys.is_empty() {
                tx.execute(&tables[table.index()].delete, &[keys]).await.map_err(pg_table("delete", table))?;
            }
        }
        if use_copy {
            let sink = tx.copy_in(&*copy_in).await.map_err(pg("start COPY of a batch"))?;
            let writer = BinaryCopyInWriter::new(sink, &[Type::INT2, Type::BYTEA, Type::BYTEA]);
            let mut writer = std::pin::pin!(writer);
            for (table, puts) in Table::ALL.into_iter().zip(&plan.puts) {
                let tag = table_tag(table);
                for (k, v) in puts {
                    writer.as_mut().write(&[&tag, k, v]).await.map_err(pg_table("COPY", table))?;
                }
            }
            writer.as_mut().finish().await.map_err(pg("finish COPY of a batch"))?;
            for (table, puts) in Table::ALL.into_iter().zip(&plan.puts) {
                if !puts.is_empty() {
                    tx.execute(&tables[table.index()].upsert_loaded, &[])
                        .await
                        .map_err(pg_table("upsert (COPY)", table))?;
                }
            }
        } else {
            for (table, puts) in Table::ALL.into_iter().zip(&plan.puts) {
                if puts.is_empty() {
                    continue;
                }
                let keys: Vec<&[u8]> = puts.iter().map(|(k, _)| k.as_slice()).collect();
                let values: Vec<&[u8]> = puts.iter().map(|(_, v)| v.as_slice()).collect();
                tx.execute(&tables[table.index()].upsert, &[&keys, &values])
                    .await
                    .map_err(pg_table("upsert", table))?;
            }
        }
        tx.commit().await.map_err(pg("commit a batch"))?;
        *unsynced = true;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_keeps_the_last_op_per_key() {
        let mut b = WriteBatch::new();
        b.put(Table::Meta, b"x".to_vec(), b"1".to_vec());
        b.delete(Table::Meta, b"x".to_vec());
        b.put(Table::Meta, b"y".to_vec(), b"1".to_vec());
        b.put(Table::Meta, b"y".to_vec(), b"2".to_vec());
        b.delete(Table::Entries, b"y".to_vec());
        b.put(Table::Entries, b"y".to_vec(), b"3".to_vec());
        let plan = Plan::new(b);
        assert_eq!(plan.deletes[Table::Meta.index()], vec![b"x".to_vec()]);
        assert_eq!(plan.puts[Table::Meta.index()], vec![(b"y".to_vec(), b"2".to_vec())]);
        assert_eq!(plan.puts[Table::Entries.index()], vec![(b"y".to_vec(), b"3".to_vec())]);
        assert!(plan.deletes[Table::Entries.index()].is_empty());
        assert_eq!(plan.put_count, 2);
        assert!(!plan.use_copy());
    }
}
