//! Server half of the blind indexes: posting lists as roaring bitmaps in the
//! store, boolean evaluation by bitmap algebra. Sees tokens and ids only.

use std::collections::HashMap;

use roaring::{MultiOps, RoaringBitmap};

use crate::protocol::{BlindPostings, BlindQuery};
use crate::store::keyspace::keyspace;
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// Largest accepted query: tokens and nesting depth.
pub const MAX_QUERY_TOKENS: usize = 1024;
/// Largest accepted query nesting depth (enforced while decoding, and here
/// again for queries built in process).
pub use crate::protocol::MAX_QUERY_DEPTH;
/// Longest accepted index name in bytes.
pub const MAX_INDEX_NAME: usize = 64;

/// The key prefix of one index's posting lists: the tenant's keyspace, then
/// the index name, length-prefixed. Scanning it measures one index.
pub fn index_prefix(tenant: &str, index: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.push(u8::try_from(index.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(index.as_bytes());
    k
}

fn posting_key(tenant: &str, index: &str, token: u64) -> Vec<u8> {
    let mut k = index_prefix(tenant, index);
    k.extend_from_slice(&token.to_be_bytes());
    k
}

fn check_index_name(index: &str) -> Result<()> {
    if index.is_empty() || index.len() > MAX_INDEX_NAME {
        return Err(Error::Protocol(format!("index name of {} bytes (1 to {MAX_INDEX_NAME} allowed)", index.len())));
    }
    Ok(())
}

fn decode_bitmap(bytes: &[u8]) -> Result<RoaringBitmap> {
    decode_ids(bytes, Table::Postings)
}

/// Adds `added` and removes `removed` from the posting lists, as puts (and
/// deletes of lists left empty) in `batch`, for the caller to commit with
/// whatever else belongs to the same transaction. Every list is read once,
/// however many entries name it. The caller serializes concurrent merges
/// (read-modify-write).
///
/// # Errors
/// [`Error::Protocol`] for a bad index name; [`Error::DataCorruption`] if an
/// existing posting list is damaged (then nothing is added to `batch`).
pub fn merge_into(
    store: &dyn Store,
    tenant: &str,
    added: &[BlindPostings],
    removed: &[BlindPostings],
    batch: &mut WriteBatch,
) -> Result<()> {
    let mut changes: Vec<(Vec<u8>, &[u32], bool)> = Vec::new();
    for (postings, add) in added.iter().map(|p| (p, true)).chain(removed.iter().map(|p| (p, false))) {
        check_index_name(&postings.index)?;
        for (token, ids) in &postings.postings {
            changes.push((posting_key(tenant, &postings.index, *token), ids, add));
        }
    }
    let mut keys: Vec<Vec<u8>> = changes.iter().map(|(k, _, _)| k.clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    let existing = store.get_many(Table::Postings, &keys)?;
    let mut lists: HashMap<&[u8], RoaringBitmap> = HashMap::with_capacity(keys.len());
    for (key, old) in keys.iter().zip(existing) {
        let bitmap = match old {
            Some(bytes) => decode_bitmap(&bytes)?,
            None => RoaringBitmap::new(),
        };
        lists.insert(key.as_slice(), bitmap);
    }
    // Additions first, then removals: a delete in the same request wins.
    for (key, ids, _) in changes.iter().filter(|c| c.2) {
        if let Some(b) = lists.get_mut(key.as_slice()) {
            b.extend(ids.iter().copied());
        }
    }
    for (key, ids, _) in changes.iter().filter(|c| !c.2) {
        if let Some(b) = lists.get_mut(key.as_slice()) {
            for id in *ids {
                b.remove(*id);
            }
        }
    }
    for (key, bitmap) in lists {
        if bitmap.is_empty() {
            batch.delete(Table::Postings, key.to_vec());
            continue;
        }
        batch.put(Table::Postings, key.to_vec(), encode_ids(bitmap)?);
    }
    Ok(())
}

/// Merges a batch of postings into the store in one write batch (see [`merge_into`]).
///
/// # Errors
/// As [`merge_into`], and store errors.
pub fn insert(store: &dyn Store, tenant: &str, postings: &BlindPostings) -> Result<()> {
    let mut batch = WriteBatch::new();
    merge_into(store, tenant, std::slice::from_ref(postings), &[], &mut batch)?;
    store.write(batch)
}

/// Encodes a bitmap of ids for storage or the wire (roaring's portable
/// format, after choosing the smallest container of each chunk).
///
/// # Errors
/// [`Error::Store`] if serialization fails (it writes to memory, so it does not).
pub fn encode_ids(mut ids: RoaringBitmap) -> Result<Vec<u8>> {
    ids.optimize();
    let mut buf = Vec::with_capacity(ids.serialized_size());
    ids.serialize_into(&mut buf).map_err(|e| Error::Store(format!("serialize id bitmap: {e}")))?;
    Ok(buf)
}

/// Decodes a stored bitmap of ids (a posting list, or tombstones) through
/// roaring's validating deserializer.
///
/// # Errors
/// [`Error::DataCorruption`] naming `table` if it does not decode.
pub fn decode_ids(bytes: &[u8], table: Table) -> Result<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes)
        .map_err(|e| Error::DataCorruption { table: table.name(), reason: format!("id bitmap does not decode: {e}") })
}

/// Takes `deleted` ids out of every posting list of the tenant, adding the
/// changed lists (and the deletes of emptied ones) to `batch`. Returns how
/// many lists changed. A delete whose tokens the client could not compute
/// (a REST delete, a delete racing a rotation) leaves such postings; the
/// tombstones mask them in searches, this removes them at rest.
///
/// # Errors
/// Store errors; [`Error::DataCorruption`] for a damaged list.
pub fn prune_into(store: &dyn Store, tenant: &str, deleted: &RoaringBitmap, batch: &mut WriteBatch) -> Result<u64> {
    if deleted.is_empty() {
        return Ok(0);
    }
    let mut changed = 0u64;
    store.scan_prefix(Table::Postings, &keyspace(tenant), &mut |key, value| {
        let mut bitmap = decode_bitmap(value)?;
        if bitmap.is_disjoint(deleted) {
            return Ok(true);
        }
        bitmap -= deleted;
        changed += 1;
        if bitmap.is_empty() {
            batch.delete(Table::Postings, key.to_vec());
        } else {
            batch.put(Table::Postings, key.to_vec(), encode_ids(bitmap)?);
        }
        Ok(true)
    })?;
    Ok(changed)
}

/// Evaluates a blind query. Unknown tokens and indexes give empty sets: the
/// answer for a keyword nobody used looks like any other empty answer.
///
/// # Errors
/// [`Error::Protocol`] for an over-large query; [`Error::DataCorruption`] for a
/// damaged posting list.
pub fn search(store: &dyn Store, tenant: &str, query: &BlindQuery) -> Result<RoaringBitmap> {
    let (tokens, depth) = (query.token_count(), query.depth());
    if tokens > MAX_QUERY_TOKENS || depth > MAX_QUERY_DEPTH {
        return Err(Error::Protocol(format!(
            "query too large ({tokens} tokens, depth {depth}; limits {MAX_QUERY_TOKENS} and {MAX_QUERY_DEPTH})"
        )));
    }
    eval(store, tenant, query)
}

fn eval(store: &dyn Store, tenant: &str, query: &BlindQuery) -> Result<RoaringBitmap> {
    match query {
        BlindQuery::Token(t) => {
            check_index_name(&t.index)?;
            match store.get(Table::Postings, &posting_key(tenant, &t.index, t.value))? {
                Some(bytes) => decode_bitmap(&bytes),
                None => Ok(RoaringBitmap::new()),
            }
        }
        BlindQuery::And(qs) => qs.iter().map(|q| eval(store, tenant, q)).intersection(),
        BlindQuery::Or(qs) => qs.iter().map(|q| eval(store, tenant, q)).union(),
    }
}
