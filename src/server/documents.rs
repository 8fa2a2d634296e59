//! The life of a tenant's documents on the server: id reservation, atomic
//! ingest, deletes with their postings, and tombstones.
//!
//! Ids come from a per-tenant counter in the store. Every id below it was
//! reserved, put or deleted, and none is handed out twice: a reservation
//! is committed durably before it is answered. An ingest writes documents
//! and postings in one write batch, so a batch is wholly stored or wholly
//! absent, and it may only use reserved ids that hold no document and were
//! never deleted, so one client cannot overwrite another's messages. A
//! delete removes documents and the postings the client names in one batch
//! and adds the ids to the tombstones, which searches apply to entries the
//! delete could not remove (static SSE indexes, and the REST delete, which
//! carries no tokens). Every function here runs under the tenant's merge lock.

use std::collections::HashSet;

use roaring::RoaringBitmap;

use super::key_epoch;
use crate::blind::server as blind;
use crate::protocol::{self, BlindPostings, DocId, EncryptedDocument, IngestBatch, KeyEpoch, Schema};
use crate::store::keyspace::{document_id, document_key, keyspace, next_id_key, schema_key, tombstones_key};
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// Most ids one reservation may ask for.
pub const MAX_RESERVATION: u32 = 10_000_000;

/// The tenant's next free id. The first time, the counter is derived from
/// what is stored (the schema's old counter, the largest document id and
/// the largest tombstone), so stores written before reservations existed
/// keep their ids.
fn next_id(store: &dyn Store, tenant: &str) -> Result<DocId> {
    stored_next_id(store, tenant)?.map_or_else(|| derived_next_id(store, tenant), Ok)
}

/// The stored id counter, if there is one.
fn stored_next_id(store: &dyn Store, tenant: &str) -> Result<Option<DocId>> {
    let Some(bytes) = store.get(Table::Meta, &next_id_key(tenant))? else { return Ok(None) };
    let raw = <[u8; 4]>::try_from(bytes.as_slice()).map_err(|_| Error::DataCorruption {
        table: Table::Meta.name(),
        reason: format!("id counter of {} bytes", bytes.len()),
    })?;
    Ok(Some(DocId::from_be_bytes(raw)))
}

/// The next free id of a tenant without a stored counter, from what it stores.
fn derived_next_id(store: &dyn Store, tenant: &str) -> Result<DocId> {
    let mut next = match store.get(Table::Meta, &schema_key(tenant))? {
        Some(bytes) => protocol::decode::<Schema>(&bytes).map(|s| s.next_doc_id).unwrap_or(0),
        None => 0,
    };
    let prefix = keyspace(tenant);
    store.scan_prefix(Table::Documents, &prefix, &mut |k, _| {
        if let Some(id) = document_id(k, &prefix) {
            next = next.max(id.saturating_add(1));
        }
        Ok(true)
    })?;
    if let Some(max) = tombstones(store, tenant)?.max() {
        next = next.max(max.saturating_add(1));
    }
    Ok(next)
}

fn put_next_id(batch: &mut WriteBatch, tenant: &str, next: DocId) {
    batch.put(Table::Meta, next_id_key(tenant), next.to_be_bytes().to_vec());
}

/// The tenant's deleted ids.
///
/// # Errors
/// Store errors; [`Error::DataCorruption`] if the stored bitmap is damaged.
pub fn tombstones(store: &dyn Store, tenant: &str) -> Result<RoaringBitmap> {
    match store.get(Table::Meta, &tombstones_key(tenant))? {
        Some(bytes) => blind::decode_ids(&bytes, Table::Meta),
        None => Ok(RoaringBitmap::new()),
    }
}

fn put_tombstones(batch: &mut WriteBatch, tenant: &str, deleted: RoaringBitmap) -> Result<()> {
    batch.put(Table::Meta, tombstones_key(tenant), blind::encode_ids(deleted)?);
    Ok(())
}

/// Reserves `count` fresh ids: `first..end`, committed before it returns
/// (`count` 0 only reads the next free id).
///
/// # Errors
/// [`Error::Protocol`] for a count over [`MAX_RESERVATION`]; [`Error::Conflict`]
/// when the id space is exhausted; store errors.
pub fn reserve(store: &dyn Store, tenant: &str, count: u32) -> Result<(DocId, DocId)> {
    if count > MAX_RESERVATION {
        return Err(Error::Protocol(format!("reservation of {count} ids exceeds the limit of {MAX_RESERVATION}")));
    }
    if count == 0 {
        // A reservation of nothing reads the counter; it writes only a
        // counter derived by a scan (a store from before reservations),
        // so the scan happens once.
        if let Some(first) = stored_next_id(store, tenant)? {
            return Ok((first, first));
        }
        let first = derived_next_id(store, tenant)?;
        if first > 0 {
            let mut batch = WriteBatch::new();
            put_next_id(&mut batch, tenant, first);
            store.write(batch)?;
        }
        return Ok((first, first));
    }
    let first = next_id(store, tenant)?;
    let end = first
        .checked_add(count)
        .ok_or_else(|| Error::Conflict(format!("document id space exhausted ({first} used, {count} asked)")))?;
    let mut batch = WriteBatch::new();
    put_next_id(&mut batch, tenant, end);
    store.write(batch)?;
    Ok((first, end))
}

/// Checks that every posting id is one of `ids`.
fn postings_within(postings: &[BlindPostings], ids: &RoaringBitmap, what: &str) -> Result<()> {
    for p in postings {
        if let Some(id) = p.postings.iter().flat_map(|(_, ids)| ids).find(|id| !ids.contains(**id)) {
            return Err(Error::Protocol(format!(
                "{what} postings of index {} name id {id}, not in the batch",
                p.index
            )));
        }
    }
    Ok(())
}

/// Stores a batch of new documents and their postings in one transaction.
///
/// # Errors
/// [`Error::Protocol`] for a document of another tenant or a posting of an
/// id not in the batch; [`Error::Conflict`] for an id not reserved, already
/// stored, deleted, or twice in the batch; store errors. Nothing is written then.
pub fn ingest(store: &dyn Store, tenant: &str, batch_in: &IngestBatch) -> Result<()> {
    let next = next_id(store, tenant)?;
    let deleted = tombstones(store, tenant)?;
    let mut ids = RoaringBitmap::new();
    for d in &batch_in.documents {
        let id = d.public.doc_id;
        check_tenant(tenant, d)?;
        if id >= next {
            return Err(Error::Conflict(format!("document id {id} was not reserved (next free id {next})")));
        }
        if deleted.contains(id) {
            return Err(Error::Conflict(format!(
                "document id {id} belonged to a deleted document; ids are never reused"
            )));
        }
        if !ids.insert(id) {
            return Err(Error::Conflict(format!("document id {id} twice in one batch")));
        }
    }
    postings_within(&batch_in.postings, &ids, "ingest")?;
    let keys: Vec<Vec<u8>> = ids.iter().map(|id| document_key(tenant, id)).collect();
    if let Some(taken) = store.get_many(Table::Documents, &keys)?.iter().zip(ids.iter()).find(|(v, _)| v.is_some()) {
        return Err(Error::Conflict(format!("document id {} holds a document already; ids are never reused", taken.1)));
    }
    let mut batch = WriteBatch::new();
    for d in &batch_in.documents {
        batch.put(Table::Documents, document_key(tenant, d.public.doc_id), protocol::encode(d));
    }
    blind::merge_into(store, tenant, &batch_in.postings, &[], &mut batch)?;
    store.write(batch)
}

/// Stores or replaces documents without postings (the REST route); the
/// counter moves past their ids so no reservation hands them out.
///
/// # Errors
/// [`Error::Protocol`] for a document of another tenant; [`Error::Conflict`]
/// for a deleted id; store errors.
pub fn put(store: &dyn Store, tenant: &str, documents: &[EncryptedDocument]) -> Result<()> {
    let deleted = tombstones(store, tenant)?;
    let mut next = next_id(store, tenant)?;
    let mut batch = WriteBatch::new();
    for d in documents {
        check_tenant(tenant, d)?;
        let id = d.public.doc_id;
        if deleted.contains(id) {
            return Err(Error::Conflict(format!("document {id} was deleted; ids are never reused")));
        }
        next = next.max(id.saturating_add(1));
        batch.put(Table::Documents, document_key(tenant, id), protocol::encode(d));
    }
    put_next_id(&mut batch, tenant, next);
    store.write(batch)
}

/// Deletes documents, removes `postings`, and records tombstones, in one
/// transaction. Returns the ids that held a document, ascending.
///
/// # Errors
/// [`Error::Protocol`] for a posting of an id not in `ids`; store errors.
pub fn delete(store: &dyn Store, tenant: &str, ids: &[DocId], postings: &[BlindPostings]) -> Result<Vec<DocId>> {
    let asked: RoaringBitmap = ids.iter().copied().collect();
    postings_within(postings, &asked, "delete")?;
    let keys: Vec<Vec<u8>> = asked.iter().map(|id| document_key(tenant, id)).collect();
    let present = store.get_many(Table::Documents, &keys)?;
    let mut batch = WriteBatch::new();
    let mut deleted = Vec::new();
    for ((id, key), value) in asked.iter().zip(keys).zip(present) {
        if value.is_some() {
            deleted.push(id);
            batch.delete(Table::Documents, key);
        }
    }
    blind::merge_into(store, tenant, &[], postings, &mut batch)?;
    if !deleted.is_empty() {
        let mut tomb = tombstones(store, tenant)?;
        tomb.extend(deleted.iter().copied());
        put_tombstones(&mut batch, tenant, tomb)?;
        // A deleted id stays below the counter, so no reservation returns it.
        let next = next_id(store, tenant)?;
        if let Some(max) = deleted.last() {
            put_next_id(&mut batch, tenant, next.max(max.saturating_add(1)));
        }
    }
    if !batch.is_empty() {
        store.write(batch)?;
    }
    Ok(deleted)
}

/// Applies one batch of a key rotation in one transaction: each document
/// replaces the stored one of its id if that is still stored (one deleted
/// meanwhile stays deleted, and its new postings are dropped), `remove`
/// (postings under the retiring version) is taken out and `add` (under the
/// new one) put in. Removals go first, so a new token that truncates to the
/// same value as an old one keeps its id. Returns the ids rewritten.
///
/// # Errors
/// [`Error::Conflict`] unless the tenant is rotating in `epoch`;
/// [`Error::Protocol`] for a document of another tenant, an id twice, or a
/// posting of an id not in the batch; store errors. Nothing is written then.
pub fn rotate(
    store: &dyn Store,
    tenant: &str,
    epoch: &KeyEpoch,
    documents: &[EncryptedDocument],
    remove: &[BlindPostings],
    add: &[BlindPostings],
) -> Result<Vec<DocId>> {
    if epoch.previous.is_none() {
        return Err(Error::Conflict("no rotation names this epoch: it has no version being retired".into()));
    }
    key_epoch::require(store, tenant, epoch)?;
    let mut ids = RoaringBitmap::new();
    for d in documents {
        check_tenant(tenant, d)?;
        if !ids.insert(d.public.doc_id) {
            return Err(Error::Protocol(format!("document id {} twice in one rotation batch", d.public.doc_id)));
        }
    }
    postings_within(add, &ids, "rotation")?;
    postings_within(remove, &ids, "rotation")?;
    let keys: Vec<Vec<u8>> = documents.iter().map(|d| document_key(tenant, d.public.doc_id)).collect();
    let present = store.get_many(Table::Documents, &keys)?;
    let mut batch = WriteBatch::new();
    let mut kept = RoaringBitmap::new();
    for ((d, key), value) in documents.iter().zip(keys).zip(present) {
        if value.is_some() {
            kept.insert(d.public.doc_id);
            batch.put(Table::Documents, key, protocol::encode(d));
        }
    }
    let added = filter_postings(add, |_, _, id| kept.contains(id));
    let new_postings: HashSet<(&str, u64, DocId)> = added
        .iter()
        .flat_map(|p| p.postings.iter().flat_map(move |(t, ids)| ids.iter().map(move |id| (p.index.as_str(), *t, *id))))
        .collect();
    let removed = filter_postings(remove, |index, token, id| !new_postings.contains(&(index, token, id)));
    blind::merge_into(store, tenant, &added, &removed, &mut batch)?;
    if !batch.is_empty() {
        store.write(batch)?;
    }
    Ok(kept.iter().collect())
}

/// The postings whose (index, token, id) `keep` accepts.
fn filter_postings(postings: &[BlindPostings], keep: impl Fn(&str, u64, DocId) -> bool) -> Vec<BlindPostings> {
    postings
        .iter()
        .map(|p| BlindPostings {
            index: p.index.clone(),
            postings: p
                .postings
                .iter()
                .map(|(token, ids)| (*token, ids.iter().copied().filter(|id| keep(&p.index, *token, *id)).collect()))
                .collect(),
        })
        .collect()
}

fn check_tenant(tenant: &str, d: &EncryptedDocument) -> Result<()> {
    if d.public.tenant != tenant {
        return Err(Error::Protocol(format!("document {} is labelled for another tenant", d.public.doc_id)));
    }
    Ok(())
}
