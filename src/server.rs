//! The server: takes protocol messages for a tenant, answers from a [`Store`].
//!
//! This module and the server halves it calls import no key type and see no
//! plaintext: only [`crate::protocol`] messages and stored bytes.
//! Every request is validated; a bad one gets a [`Response::Error`] and
//! changes nothing.

use std::sync::Mutex;

use roaring::RoaringBitmap;

use crate::blind::server as blind;
use crate::protocol::{self, DocId, EncryptedDocument, Request, Response, Schema, ServerStats};
use crate::sse::server as sse;
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// Most documents one request may put or get.
pub const MAX_BATCH: usize = 100_000;
/// Longest accepted tenant name in bytes.
pub const MAX_TENANT: usize = 255;

/// The key prefix of a tenant's data: its name, length-prefixed, so no tenant's
/// keys are a prefix of another's.
pub fn keyspace(tenant: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 16);
    k.push(u8::try_from(tenant.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(tenant.as_bytes());
    k
}

fn document_key(tenant: &str, id: DocId) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn schema_key(tenant: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"schema");
    k
}

/// Server state: the store and a lock serializing read-modify-write merges.
#[derive(Debug)]
pub struct Server<S: Store> {
    store: S,
    merge_lock: Mutex<()>,
}

impl<S: Store> Server<S> {
    /// A server over `store`.
    pub fn new(store: S) -> Self {
        Server { store, merge_lock: Mutex::new(()) }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles an encoded request and returns an encoded response. Never
    /// panics on input: decoding errors become a 400/422 [`Response::Error`].
    pub fn handle_bytes(&self, tenant: &str, request: &[u8]) -> Vec<u8> {
        let response = match protocol::decode::<Request>(request) {
            Ok(req) => self.handle(tenant, req),
            Err(e) => error_response(&e),
        };
        protocol::encode(&response)
    }

    /// Handles a decoded request.
    pub fn handle(&self, tenant: &str, request: Request) -> Response {
        self.dispatch(tenant, request).unwrap_or_else(|e| error_response(&e))
    }

    fn dispatch(&self, tenant: &str, request: Request) -> Result<Response> {
        if tenant.is_empty() || tenant.len() > MAX_TENANT {
            return Err(Error::Protocol(format!("tenant name of {} bytes (1 to {MAX_TENANT} allowed)", tenant.len())));
        }
        match request {
            Request::PutDocuments(docs) => {
                check_batch(docs.len())?;
                let mut batch = WriteBatch::new();
                for d in docs {
                    if d.public.tenant != tenant {
                        return Err(Error::Protocol(format!(
                            "document {} is labelled for another tenant",
                            d.public.doc_id
                        )));
                    }
                    batch.put(Table::Documents, document_key(tenant, d.public.doc_id), protocol::encode(&d));
                }
                self.store.write(batch)?;
                Ok(Response::Ok)
            }
            Request::GetDocuments(ids) => {
                check_batch(ids.len())?;
                Ok(Response::Documents(self.get_documents(tenant, ids.iter().copied())?))
            }
            Request::InsertBlindPostings(p) => {
                check_batch(p.postings.len())?;
                let _guard = self.merge_lock.lock().map_err(|_| Error::Store("merge lock poisoned".into()))?;
                blind::insert(&self.store, tenant, &p)?;
                Ok(Response::Ok)
            }
            Request::BlindSearch { query, fetch_documents } => {
                let ids: RoaringBitmap = blind::search(&self.store, tenant, &query)?;
                let documents = if fetch_documents { self.get_documents(tenant, ids.iter())? } else { Vec::new() };
                Ok(Response::BlindResult { ids: ids.iter().collect(), documents })
            }
            Request::PutSchema(schema) => {
                let mut batch = WriteBatch::new();
                batch.put(Table::Meta, schema_key(tenant), protocol::encode(&schema));
                self.store.write(batch)?;
                Ok(Response::Ok)
            }
            Request::GetSchema => Ok(Response::Schema(match self.store.get(Table::Meta, &schema_key(tenant))? {
                Some(bytes) => Some(protocol::decode::<Schema>(&bytes).map_err(|e| Error::DataCorruption {
                    table: Table::Meta.name(),
                    reason: format!("schema does not decode: {e}"),
                })?),
                None => None,
            })),
            Request::Sync => {
                self.store.sync()?;
                Ok(Response::Ok)
            }
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
                let _guard = self.merge_lock.lock().map_err(|_| Error::Store("merge lock poisoned".into()))?;
                sse::insert(&self.store, tenant, &instance, entries)?;
                Ok(Response::Ok)
            }
            Request::SseSearch { instance, token } => {
                Ok(Response::SseResult(sse::search(&self.store, tenant, &instance, &token)?))
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

/// The rejection for an error: 422 for a protocol version this build does
/// not speak, 500 for the server's own storage failures, 400 for any other bad request.
fn error_response(e: &Error) -> Response {
    let code = match e {
        Error::ProtocolVersion { .. } => 422,
        Error::NotFound(_) => 404,
        Error::Conflict(_) => 409,
        Error::DataCorruption { .. } | Error::Store(_) | Error::Io { .. } => 500,
        _ => 400,
    };
    Response::Error { code, message: e.to_string() }
}

fn check_batch(n: usize) -> Result<()> {
    if n > MAX_BATCH {
        return Err(Error::Protocol(format!("batch of {n} items exceeds the limit of {MAX_BATCH}")));
    }
    Ok(())
}
