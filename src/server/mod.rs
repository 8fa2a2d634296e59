//! The server: takes protocol messages for a tenant, answers from a [`Store`].
//!
//! This module and the server halves it calls import no key type and see no
//! plaintext: only [`crate::protocol`] messages and stored bytes.
//! Every request is validated; a bad one gets a [`Response::Error`] and
//! changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use roaring::RoaringBitmap;

pub mod audit;
pub mod client_state;
pub mod documents;
pub mod http;
mod in_process;
pub mod key_epoch;
pub mod quota;
pub mod tenants;

pub use in_process::InProcess;

use crate::blind::server as blind;
use crate::protocol::observer::BoundaryObserver;
use crate::protocol::{
    self, BlindQuery, DocId, EncryptedDocument, FixedIds, IndexSize, IngestBatch, Request, Response, Schema,
    SearchResult, ServerStats, TaggedSchema,
};
use crate::sse::server as sse;
use crate::store::keyspace::{MAX_TENANT, document_id, document_key, keyspace, schema_key, schema_tag_key};
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// Most documents one request may put or get.
pub const MAX_BATCH: usize = 100_000;
/// Server state: the store and per-tenant locks serializing read-modify-write merges.
#[derive(Debug)]
pub struct Server<S: Store> {
    store: S,
    /// One lock per tenant: merges of different tenants touch disjoint
    /// keyspaces, so they need not wait for each other (many tenants ingest at once).
    merge_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Sees every request and response when the boundary is observed
    /// (the leakage analysis records the server's view through it).
    observer: Option<Arc<dyn BoundaryObserver>>,
    /// Stored bytes each tenant may hold; `None`: unlimited.
    quota: Option<quota::StorageQuota>,
    /// The audit log, opened (its head read from the store) on first use.
    audit: Mutex<Option<Arc<audit::AuditLog>>>,
    /// Whether operations are audited (see [`Server::without_audit`]).
    audited: bool,
}

/// What the transport knows of a request that the server records in the
/// audit log (the server itself never sees HTTP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The transport's request id (`x-request-id` over HTTP).
    pub request_id: Option<u64>,
    /// The request's size in bytes as received; 0: measure the decoded request.
    pub bytes_in: u64,
}

impl<S: Store> Server<S> {
    /// A server over `store`.
    pub fn new(store: S) -> Self {
        Server {
            store,
            merge_locks: Mutex::new(HashMap::new()),
            observer: None,
            quota: None,
            audit: Mutex::new(None),
            audited: true,
        }
    }

    /// Shows every handled request and its response to `observer` (the
    /// leakage analysis records the server's view this way).
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn BoundaryObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Records nothing in the audit log. For a tool working on a store that
    /// a running server also writes (PostgreSQL): the log has one writer, and
    /// a second one would fork its chain. Operations go through the running
    /// server instead to be audited.
    #[must_use]
    pub fn without_audit(mut self) -> Self {
        self.audited = false;
        self
    }

    /// Refuses writes (429) that would take a tenant past `bytes` stored
    /// bytes (keys and values in all tables; see [`quota`]).
    #[must_use]
    pub fn with_storage_quota(mut self, bytes: u64) -> Self {
        self.quota = Some(quota::StorageQuota::new(bytes));
        self
    }

    /// Runs a write of about `incoming` bytes under the tenant's lock, if
    /// the tenant's quota admits it.
    fn locked_write<T>(&self, tenant: &str, incoming: u64, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.locked(tenant, || {
            if let Some(q) = &self.quota {
                q.admit(&self.store, tenant, incoming)?;
            }
            let out = f()?;
            if let Some(q) = &self.quota {
                q.record(tenant, incoming);
            }
            Ok(out)
        })
    }

    /// The merge lock of a tenant, created on first use.
    fn merge_lock(&self, tenant: &str) -> Result<Arc<Mutex<()>>> {
        let mut locks = self.merge_locks.lock().map_err(|_| Error::Store("merge lock table poisoned".into()))?;
        // Looked up first: the tenant's name is copied only on its first write.
        if let Some(lock) = locks.get(tenant) {
            return Ok(Arc::clone(lock));
        }
        Ok(Arc::clone(locks.entry(tenant.to_owned()).or_default()))
    }

    /// Runs `f` under the tenant's merge lock: its read-modify-writes
    /// (postings, the id counter, tombstones, SSE no-overwrite checks) do
    /// not interleave. A store shared by several server processes (Redis
    /// Cluster) also gives a lock across processes, taken after this
    /// process's own.
    fn locked<T>(&self, tenant: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let lock = self.merge_lock(tenant)?;
        let _guard = lock.lock().map_err(|_| Error::Store("merge lock poisoned".into()))?;
        let mut name = b"tenant/".to_vec();
        name.extend_from_slice(tenant.as_bytes());
        let _shared = self.store.shared_lock(&name)?;
        f()
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles an encoded request and returns an encoded response. Never
    /// panics on input: decoding errors become a 400/422 [`Response::Error`].
    pub fn handle_bytes(&self, tenant: &str, request: &[u8]) -> Vec<u8> {
        let context = CallContext { request_id: None, bytes_in: request.len() as u64 };
        match protocol::decode::<Request>(request) {
            Ok(req) => {
                let (response, mut event) = self.handle_unaudited(tenant, req, context);
                let bytes = protocol::encode(&response);
                // The encoding's own length: measuring it again would be a
                // second pass over a large answer.
                event.bytes_out = bytes.len() as u64;
                self.audit(event);
                bytes
            }
            Err(e) => protocol::encode(&error_response(&e)),
        }
    }

    /// Handles a decoded request.
    pub fn handle(&self, tenant: &str, request: Request) -> Response {
        self.handle_in(tenant, request, CallContext::default())
    }

    /// Handles a decoded request, and records it in the audit log with what
    /// the transport knows of it.
    pub fn handle_in(&self, tenant: &str, request: Request, context: CallContext) -> Response {
        let (response, mut event) = self.handle_unaudited(tenant, request, context);
        event.bytes_out = protocol::encoded_len(&response);
        self.audit(event);
        response
    }

    /// Handles a decoded request and returns its audit event, without
    /// `bytes_out` (the caller knows it best) and not yet recorded.
    fn handle_unaudited(&self, tenant: &str, request: Request, context: CallContext) -> (Response, audit::AuditEvent) {
        let started = std::time::Instant::now();
        let (operation, items_in) = (request.operation(), request.items());
        let bytes_in = if context.bytes_in > 0 { context.bytes_in } else { protocol::encoded_len(&request) };
        let response = match &self.observer {
            None => self.dispatch(tenant, request).unwrap_or_else(|e| error_response(&e)),
            Some(observer) => {
                let copy = request.clone();
                let response = self.dispatch(tenant, request).unwrap_or_else(|e| error_response(&e));
                match observer.observe(tenant, &copy, &response) {
                    Ok(()) => response,
                    // A view that silently misses events would make every
                    // leakage figure wrong: refuse to answer instead.
                    Err(e) => error_response(&e),
                }
            }
        };
        let event = audit::AuditEvent {
            tenant: Some(tenant.to_owned()),
            operation: operation.to_owned(),
            items_in,
            items_out: response.items(),
            bytes_in,
            bytes_out: 0,
            status: response.status(),
            request_id: context.request_id,
            micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        };
        (response, event)
    }

    /// The audit log, opened on first use.
    fn audit_log(&self) -> Result<Arc<audit::AuditLog>> {
        let mut slot = self.audit.lock().map_err(|_| Error::Store("audit log lock poisoned".into()))?;
        if let Some(log) = &*slot {
            return Ok(Arc::clone(log));
        }
        let log = Arc::new(audit::AuditLog::open(&self.store)?);
        *slot = Some(Arc::clone(&log));
        Ok(log)
    }

    /// Appends an event to the audit log. A failure is logged, not
    /// answered: the operation has happened, and its record stays queued
    /// for the next flush.
    pub fn audit(&self, event: audit::AuditEvent) {
        if !self.audited {
            return;
        }
        if let Err(e) = self.audit_log().and_then(|log| log.record(&self.store, event)) {
            tracing::warn!(error = %e, "audit record not written yet");
        }
    }

    /// Writes the audit records still queued (the HTTP server calls it
    /// every 50 ms and at shutdown; dropping the server does it too).
    ///
    /// # Errors
    /// Store errors; the records stay queued.
    pub fn flush_audit(&self) -> Result<()> {
        if !self.audited {
            return Ok(());
        }
        self.audit_log()?.flush(&self.store)
    }

    /// Erases a tenant (see [`tenants::erase`]) under its lock, forgets what
    /// the server holds of it in memory (quota usage, audit pseudonym), and
    /// records the erasure in the audit log without the tenant's pseudonym
    /// (which is gone with it).
    ///
    /// # Errors
    /// As [`tenants::erase`].
    pub fn erase_tenant(&self, tenant: &str) -> Result<tenants::ErasureReport> {
        let started = std::time::Instant::now();
        // Queued records of the tenant go out first, with the key they use.
        self.flush_audit()?;
        let outcome = self.locked(tenant, || tenants::erase(&self.store, tenant));
        if self.audited {
            self.audit_log()?.forget_tenant(tenant)?;
        }
        if let Some(q) = &self.quota {
            q.forget(tenant);
        }
        let (status, items_out) = match &outcome {
            Ok(r) => (200, r.rows + r.tokens),
            Err(e) => (e.status_code(), 0),
        };
        self.audit(audit::AuditEvent {
            tenant: None,
            operation: "EraseTenant".into(),
            items_out,
            status,
            micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            ..Default::default()
        });
        self.flush_audit()?;
        outcome
    }

    fn dispatch(&self, tenant: &str, request: Request) -> Result<Response> {
        if tenant.is_empty() || tenant.len() > MAX_TENANT {
            return Err(Error::Protocol(format!("tenant name of {} bytes (1 to {MAX_TENANT} allowed)", tenant.len())));
        }
        match request {
            Request::PutDocuments(docs) => {
                check_batch(docs.len())?;
                let size = documents_size(&docs);
                self.locked_write(tenant, size, || documents::put(&self.store, tenant, &docs))?;
                Ok(Response::Ok)
            }
            Request::ReserveDocumentIds { count } => {
                let (first, end) = self.locked(tenant, || documents::reserve(&self.store, tenant, count))?;
                Ok(Response::DocumentIdRange { first, end })
            }
            // A batch without a version is one of version 1: refused once a
            // rotation moved the tenant on, so it is never left behind.
            Request::Ingest(batch) => self.ingest_at(tenant, 1, &batch),
            Request::IngestAt { key_version, batch } => self.ingest_at(tenant, key_version, &batch),
            Request::GetKeyEpoch => Ok(Response::KeyEpoch(key_epoch::get(&self.store, tenant)?)),
            Request::BeginRotation { epoch, schema_tag } => {
                self.locked(tenant, || key_epoch::begin(&self.store, tenant, &epoch, schema_tag))?;
                Ok(Response::Ok)
            }
            Request::FinishRotation { epoch } => {
                self.locked(tenant, || key_epoch::finish(&self.store, tenant, &epoch))?;
                Ok(Response::Ok)
            }
            Request::RotateDocuments { epoch, documents, remove, add } => {
                check_batch(documents.len())?;
                check_postings(&remove)?;
                check_postings(&add)?;
                // Outside the quota: the batch replaces documents and postings
                // with ones of the same size, and a tenant at its quota must
                // still be able to rotate.
                let rewritten =
                    self.locked(tenant, || documents::rotate(&self.store, tenant, &epoch, &documents, &remove, &add))?;
                Ok(Response::DocumentIds(rewritten))
            }
            Request::BlindSearchAt { epoch, query, fetch_documents } => {
                let answer = self.blind_search(tenant, &query, fetch_documents)?;
                // Read after the search: if the epoch is still the one the
                // client named, no rotation started or ended in between, so
                // every message was under a version the query asked.
                key_epoch::require(&self.store, tenant, &epoch)?;
                Ok(answer)
            }
            Request::DeleteMessages { ids, postings } => {
                check_batch(ids.len())?;
                check_postings(&postings)?;
                let deleted = self.locked(tenant, || documents::delete(&self.store, tenant, &ids, &postings))?;
                Ok(Response::DocumentIds(deleted))
            }
            Request::Tombstones => {
                Ok(Response::Tombstones(blind::encode_ids(documents::tombstones(&self.store, tenant)?)?))
            }
            Request::GetDocuments(ids) => {
                check_batch(ids.len())?;
                Ok(Response::Documents(self.get_documents(tenant, ids.iter().copied())?))
            }
            Request::InsertBlindPostings(p) => {
                check_batch(p.postings.len())?;
                let size = postings_size(std::slice::from_ref(&p));
                self.locked_write(tenant, size, || blind::insert(&self.store, tenant, &p))?;
                Ok(Response::Ok)
            }
            Request::BlindSearch { query, fetch_documents } => self.blind_search(tenant, &query, fetch_documents),
            Request::PutSchema(schema) => {
                self.locked(tenant, || self.create_schema(tenant, &schema, None))?;
                Ok(Response::Ok)
            }
            Request::CreateSchema { schema, tag } => {
                self.locked(tenant, || self.create_schema(tenant, &schema, Some(tag)))?;
                Ok(Response::Ok)
            }
            Request::GetTaggedSchema => {
                let schema = self.schema(tenant)?;
                let tag = match (&schema, self.store.get(Table::Meta, &schema_tag_key(tenant))?) {
                    (Some(_), Some(bytes)) => {
                        Some(<[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Error::DataCorruption {
                            table: Table::Meta.name(),
                            reason: format!("schema tag of {} bytes", bytes.len()),
                        })?)
                    }
                    _ => None,
                };
                Ok(Response::TaggedSchema(schema.map(|schema| TaggedSchema { schema, tag })))
            }
            Request::GetSchema => Ok(Response::Schema(self.schema(tenant)?)),
            Request::GetClientState { instance } => {
                Ok(Response::ClientState(client_state::get(&self.store, tenant, &instance)?))
            }
            Request::PutClientState { instance, version, sealed } => {
                let size = sealed.len() as u64 + 40;
                self.locked_write(tenant, size, || {
                    client_state::put(&self.store, tenant, &instance, version, &sealed)
                })?;
                Ok(Response::Ok)
            }
            // Every write is durable when answered, so there is nothing to
            // flush: a tenant cannot make the server fsync at will.
            Request::Sync => Ok(Response::Ok),
            Request::SseCreate(descriptor) => {
                sse::create(&self.store, tenant, &descriptor)?;
                Ok(Response::Ok)
            }
            Request::SseDescribe { instance } => {
                Ok(Response::SseDescriptor(sse::describe(&self.store, tenant, &instance)?))
            }
            Request::SseInsert { instance, entries } => {
                check_batch(entries.len())?;
                // The no-overwrite check and the write must not interleave with another insert.
                let size = entries.iter().map(|e| e.value.len() as u64 + 40).sum();
                self.locked_write(tenant, size, || sse::insert(&self.store, tenant, &instance, entries))?;
                Ok(Response::Ok)
            }
            Request::SseSearchAt { instance, key_version, token } => {
                Ok(Response::SseResult(sse::search_at(&self.store, tenant, &instance, key_version, &token)?))
            }
            Request::SseSearchFixedIds { instance, key_version, token } => {
                Ok(match sse::search_at(&self.store, tenant, &instance, key_version, &token)? {
                    SearchResult::Ids(ids) => Response::SseFixedIds(FixedIds::from_ids(&ids)),
                    values => Response::SseResult(values),
                })
            }
            Request::OxtSearch { instance, key_version, token } => {
                Ok(Response::SseResult(sse::oxt_search_at(&self.store, tenant, &instance, key_version, &token)?))
            }
            Request::SseSwap { instance, staged, expect_state } => {
                self.locked(tenant, || sse::swap(&self.store, tenant, &instance, &staged, expect_state))?;
                Ok(Response::Ok)
            }
            Request::SseRemove { instance, key_version, locations } => {
                check_batch(locations.len())?;
                self.locked(tenant, || sse::remove(&self.store, tenant, &instance, key_version, &locations))?;
                Ok(Response::Ok)
            }
            Request::SseDrop { instance } => {
                self.locked(tenant, || sse::drop_instance(&self.store, tenant, &instance))?;
                Ok(Response::Ok)
            }
            Request::SseSearch { instance, token } => {
                Ok(Response::SseResult(sse::search(&self.store, tenant, &instance, &token)?))
            }
            Request::DeleteDocuments(ids) => {
                check_batch(ids.len())?;
                // The answer names only ids that existed: a REST delete of
                // an absent (or another tenant's) id is a 404.
                let deleted = self.locked(tenant, || documents::delete(&self.store, tenant, &ids, &[]))?;
                Ok(Response::DocumentIds(deleted))
            }
            Request::ListDocumentIds { after, limit } => {
                let limit = usize::try_from(limit).unwrap_or(MAX_BATCH).min(MAX_BATCH);
                let prefix = keyspace(tenant);
                let mut ids = Vec::new();
                // The page starts at the key after `after`, not at the tenant's first document.
                let start = match after {
                    Some(a) if a == DocId::MAX => return Ok(Response::DocumentIds(ids)),
                    Some(a) => document_key(tenant, a + 1),
                    None => prefix.clone(),
                };
                if limit == 0 {
                    return Ok(Response::DocumentIds(ids));
                }
                self.store.scan_from(Table::Documents, &prefix, &start, &mut |k, _| {
                    let id = document_id(k, &prefix).ok_or_else(|| Error::DataCorruption {
                        table: Table::Documents.name(),
                        reason: format!("document key of {} bytes", k.len()),
                    })?;
                    ids.push(id);
                    Ok(ids.len() < limit)
                })?;
                Ok(Response::DocumentIds(ids))
            }
            Request::IndexStats { blind_indexes, sse_instances } => {
                check_batch(blind_indexes.len() + sse_instances.len())?;
                let sizes = |table: Table, names: &[String], prefix: fn(&str, &str) -> Vec<u8>| {
                    names
                        .iter()
                        .map(|name| {
                            if name.is_empty() || name.len() > usize::from(u8::MAX) {
                                return Err(Error::Protocol(format!("index name of {} bytes", name.len())));
                            }
                            let st = self.store.stats(table, &prefix(tenant, name))?;
                            Ok(IndexSize { entries: st.entries, bytes: st.bytes })
                        })
                        .collect::<Result<Vec<_>>>()
                };
                let blind = sizes(Table::Postings, &blind_indexes, blind::index_prefix)?;
                let sse = sizes(Table::Entries, &sse_instances, sse::instance_prefix)?;
                Ok(Response::IndexStats { blind, sse })
            }
            Request::Stats => {
                let prefix = keyspace(tenant);
                let d = self.store.stats(Table::Documents, &prefix)?;
                let p = self.store.stats(Table::Postings, &prefix)?;
                let e = self.store.stats(Table::Entries, &prefix)?;
                Ok(Response::Stats(ServerStats {
                    documents: d.entries,
                    document_bytes: d.bytes,
                    posting_lists: p.entries,
                    posting_bytes: p.bytes,
                    sse_entries: e.entries,
                    sse_bytes: e.bytes,
                }))
            }
        }
    }

    /// Stores a tenant's first schema (with its tag, in the same batch). The
    /// first stays: a second with other indexes or token lengths would make
    /// earlier postings unreachable, so it is a conflict; the same indexes
    /// again are accepted (and gain the tag if they had none).
    /// Stores an ingest batch made under `key_version`, refused unless that
    /// is the tenant's current version (checked under the lock, so no
    /// rotation starts between the check and the write).
    fn ingest_at(&self, tenant: &str, key_version: u32, batch: &IngestBatch) -> Result<Response> {
        check_batch(batch.documents.len())?;
        check_postings(&batch.postings)?;
        let size = documents_size(&batch.documents) + postings_size(&batch.postings);
        self.locked_write(tenant, size, || {
            key_epoch::require_current(&self.store, tenant, key_version)?;
            documents::ingest(&self.store, tenant, batch)
        })?;
        Ok(Response::Ok)
    }

    fn blind_search(&self, tenant: &str, query: &BlindQuery, fetch_documents: bool) -> Result<Response> {
        let mut ids: RoaringBitmap = blind::search(&self.store, tenant, query)?;
        // Postings a REST delete could not remove must not name a deleted message.
        ids -= documents::tombstones(&self.store, tenant)?;
        if !fetch_documents {
            return Ok(Response::BlindResult { ids: ids.iter().collect(), documents: Vec::new() });
        }
        let documents = self.get_documents(tenant, ids.iter())?;
        // Only ids whose document is there: a search never fails on a gone message.
        let ids = documents.iter().map(|d| d.public.doc_id).collect();
        Ok(Response::BlindResult { ids, documents })
    }

    fn create_schema(&self, tenant: &str, schema: &Schema, tag: Option<[u8; 32]>) -> Result<()> {
        let mut batch = WriteBatch::new();
        match self.schema(tenant)? {
            Some(existing) if existing.indexes != schema.indexes => {
                return Err(Error::Conflict(format!(
                    "tenant {tenant} already has a schema with other indexes or token lengths"
                )));
            }
            Some(_) => {
                if tag.is_none() || self.store.get(Table::Meta, &schema_tag_key(tenant))?.is_some() {
                    return Ok(());
                }
            }
            None => {
                batch.put(Table::Meta, schema_key(tenant), protocol::encode(schema));
            }
        }
        if let Some(tag) = tag {
            batch.put(Table::Meta, schema_tag_key(tenant), tag.to_vec());
        }
        self.store.write(batch)
    }

    fn schema(&self, tenant: &str) -> Result<Option<Schema>> {
        match self.store.get(Table::Meta, &schema_key(tenant))? {
            Some(bytes) => Ok(Some(protocol::decode::<Schema>(&bytes).map_err(|e| Error::DataCorruption {
                table: Table::Meta.name(),
                reason: format!("schema does not decode: {e}"),
            })?)),
            None => Ok(None),
        }
    }

    fn get_documents(&self, tenant: &str, ids: impl Iterator<Item = DocId>) -> Result<Vec<EncryptedDocument>> {
        let keys: Vec<Vec<u8>> = ids.map(|id| document_key(tenant, id)).collect();
        let values = self.store.get_many(Table::Documents, &keys)?;
        let mut out = Vec::with_capacity(values.len());
        for v in values.into_iter().flatten() {
            out.push(protocol::decode::<EncryptedDocument>(&v).map_err(|e| Error::DataCorruption {
                table: Table::Documents.name(),
                reason: format!("stored document does not decode: {e}"),
            })?);
        }
        Ok(out)
    }
}

impl<S: Store> Drop for Server<S> {
    fn drop(&mut self) {
        // Queued audit records reach the store before it closes.
        let log = self.audit.get_mut().ok().and_then(|slot| slot.clone());
        if let Some(log) = log
            && let Err(e) = log.flush(&self.store)
        {
            tracing::warn!(error = %e, "audit records lost at shutdown");
        }
    }
}

/// The rejection for an error, with the status of [`Error::status_code`].
fn error_response(e: &Error) -> Response {
    Response::Error { code: e.status_code(), message: e.to_string() }
}

/// Stored bytes of documents, about: key, sealed value and metadata.
fn documents_size(docs: &[EncryptedDocument]) -> u64 {
    docs.iter().map(|d| d.sealed.len() as u64 + d.public.tenant.len() as u64 + 40).sum()
}

/// Stored bytes of posting additions, about: a key per token, 4 bytes per id.
fn postings_size(postings: &[protocol::BlindPostings]) -> u64 {
    postings.iter().flat_map(|p| &p.postings).map(|(_, ids)| 24 + 4 * ids.len() as u64).sum()
}

/// Most posting entries (token and ids) one request may carry.
pub const MAX_POSTINGS: usize = 4_000_000;

fn check_postings(postings: &[protocol::BlindPostings]) -> Result<()> {
    let entries: usize =
        postings.iter().map(|p| p.postings.iter().map(|(_, ids)| ids.len().max(1)).sum::<usize>()).sum();
    if entries > MAX_POSTINGS {
        return Err(Error::Protocol(format!("{entries} posting entries exceed the limit of {MAX_POSTINGS}")));
    }
    Ok(())
}

fn check_batch(n: usize) -> Result<()> {
    if n > MAX_BATCH {
        return Err(Error::Protocol(format!("batch of {n} items exceeds the limit of {MAX_BATCH}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::protocol::PublicMetadata;
    use crate::store::MemoryStore;

    fn doc(tenant: &str, id: DocId) -> EncryptedDocument {
        EncryptedDocument {
            public: PublicMetadata { tenant: tenant.into(), doc_id: id, envelope_version: 1 },
            nonce: [7; 16],
            sealed: vec![1, 2, 3],
        }
    }

    #[test]
    fn delete_and_list_stay_in_the_tenant() {
        let s = Server::new(MemoryStore::new());
        let put = |t: &str, ids: &[DocId]| s.handle(t, Request::PutDocuments(ids.iter().map(|i| doc(t, *i)).collect()));
        assert_eq!(put("a", &[1, 2, 3, 300]), Response::Ok);
        assert_eq!(put("b", &[2, 9]), Response::Ok);
        let list = |t: &str, after, limit| s.handle(t, Request::ListDocumentIds { after, limit });
        assert_eq!(list("a", None, 10), Response::DocumentIds(vec![1, 2, 3, 300]));
        assert_eq!(list("a", Some(2), 1), Response::DocumentIds(vec![3]));
        assert_eq!(list("c", None, 10), Response::DocumentIds(vec![]));
        // Deleting b's id 9 as a removes nothing; deleting 2 as a leaves b's 2.
        assert_eq!(s.handle("a", Request::DeleteDocuments(vec![9, 2, 2])), Response::DocumentIds(vec![2]));
        assert_eq!(list("a", None, 10), Response::DocumentIds(vec![1, 3, 300]));
        assert_eq!(list("b", None, 10), Response::DocumentIds(vec![2, 9]));
    }

    #[test]
    fn index_stats_are_aligned_and_validated() {
        let s = Server::new(MemoryStore::new());
        let p = protocol::BlindPostings { index: "body".into(), postings: vec![(5, vec![1, 2]), (6, vec![3])] };
        assert_eq!(s.handle("a", Request::InsertBlindPostings(p)), Response::Ok);
        let r = s.handle(
            "a",
            Request::IndexStats { blind_indexes: vec!["body".into(), "from".into()], sse_instances: vec!["x".into()] },
        );
        let Response::IndexStats { blind, sse } = r else { panic!("{r:?}") };
        assert_eq!(blind[0].entries, 2);
        assert_eq!(blind[1], IndexSize::default());
        assert_eq!(sse, vec![IndexSize::default()]);
        let r = s.handle("b", Request::IndexStats { blind_indexes: vec!["body".into()], sse_instances: vec![] });
        assert_eq!(r, Response::IndexStats { blind: vec![IndexSize::default()], sse: vec![] });
        let r = s.handle("a", Request::IndexStats { blind_indexes: vec![String::new()], sse_instances: vec![] });
        assert!(matches!(r, Response::Error { code: 400, .. }));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Any request of any variant (rotation, swaps and drops with
        /// random epochs, names and contents among them), sent twice to a
        /// server that holds a tenant mid-rotation, is answered: no panic,
        /// and an error is a 4xx, never a 5xx.
        #[test]
        fn any_request_is_answered(request in protocol::strategies::request()) {
            let s = Server::new(MemoryStore::new());
            let doc = |id| EncryptedDocument {
                public: PublicMetadata { tenant: "a".into(), doc_id: id, envelope_version: 1 },
                nonce: [0; 16],
                sealed: vec![1, 2, 3],
            };
            assert_eq!(s.handle("a", Request::ReserveDocumentIds { count: 4 }), Response::DocumentIdRange { first: 0, end: 4 });
            let batch = IngestBatch { documents: vec![doc(0), doc(1)], postings: Vec::new() };
            assert_eq!(s.handle("a", Request::Ingest(batch)), Response::Ok);
            let epoch = protocol::KeyEpoch { current: 2, previous: Some(1), rotation: [3; 16] };
            assert_eq!(s.handle("a", Request::BeginRotation { epoch, schema_tag: None }), Response::Ok);
            for _ in 0..2 {
                if let Response::Error { code, message } = s.handle("a", request.clone()) {
                    proptest::prop_assert!((400..500).contains(&code), "{code}: {message}");
                }
            }
        }
    }
}
