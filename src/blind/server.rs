//! Server half of the blind indexes: posting lists as roaring bitmaps in the
//! store, boolean evaluation by bitmap algebra. Sees tokens and ids only.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

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

/// Decodes a stored bitmap through roaring's validating deserializer.
fn decode_bitmap(bytes: &[u8]) -> Result<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes).map_err(|e| Error::DataCorruption {
        table: Table::Postings.name(),
        reason: format!("posting list does not decode: {e}"),
    })
}

/// Merges a batch of postings into the store in one write batch. The caller
/// serializes concurrent merges (read-modify-write).
///
/// # Errors
/// [`Error::Protocol`] for a bad index name; [`Error::DataCorruption`] if an
/// existing posting list is damaged (then nothing is written).
pub fn insert(store: &dyn Store, tenant: &str, postings: &BlindPostings) -> Result<()> {
    check_index_name(&postings.index)?;
    let keys: Vec<Vec<u8>> = postings.postings.iter().map(|(t, _)| posting_key(tenant, &postings.index, *t)).collect();
    let existing = store.get_many(Table::Postings, &keys)?;
    let mut merged: HashMap<&[u8], RoaringBitmap> = HashMap::new();
    // A token may repeat within a batch: later ids join the bitmap decoded first.
    for ((key, old), (_, ids)) in keys.iter().zip(existing).zip(&postings.postings) {
        let bitmap = match merged.entry(key.as_slice()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(match old {
                Some(bytes) => decode_bitmap(&bytes)?,
                None => RoaringBitmap::new(),
            }),
        };
        bitmap.extend(ids.iter().copied());
    }
    let mut batch = WriteBatch::new();
    for (key, mut bitmap) in merged {
        bitmap.optimize();
        let mut buf = Vec::with_capacity(bitmap.serialized_size());
        bitmap.serialize_into(&mut buf).map_err(|e| Error::Store(format!("serialize bitmap: {e}")))?;
        batch.put(Table::Postings, key.to_vec(), buf);
    }
    store.write(batch)
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
