//! The client: holds the keys, seals messages, computes blind tokens, and
//! turns candidate answers into exact results by decrypting and filtering.
//!
//! ```
//! use std::sync::Arc;
//! use sseek::{client::Client, keys::MasterKey, message::Message, query::Query};
//! use sseek::{server::Server, store::MemoryStore, transport::InProcess, text::Tokenizer};
//! use sseek::blind::{default_index_specs, planner::plan_for_corpus};
//!
//! let server = Arc::new(Server::new(MemoryStore::new()));
//! let mut client = Client::connect(MasterKey::generate()?, "acme", InProcess::new(server, "acme"), Tokenizer::default())?;
//! let msgs = vec![
//!     Message { from: "ann@example.com".into(), body: "lunch at noon?".into(), ..Default::default() },
//!     Message { from: "bob@example.com".into(), body: "noon works, see you".into(), ..Default::default() },
//! ];
//! let terms: Vec<_> = msgs.iter().map(|m| m.terms(client.tokenizer())).collect();
//! let plan = plan_for_corpus(&terms, &default_index_specs(), 10.0, 2.0, 1.0);
//! client.create_schema(plan.into_iter().map(|(d, _)| d).collect())?;
//! // The server reserves the ids: 0..2 for this first batch, 2..4 for the same messages again.
//! assert_eq!(client.add_messages(&msgs, None)?, 0..2);
//! assert_eq!(client.add_messages(&msgs, None)?, 2..4);
//! let hits = client.search(&Query::parse("body:noon AND from:bob@example.com", client.specs(), client.tokenizer())?)?;
//! assert_eq!(hits.ids, vec![1, 3]);
//! // Deleting removes a message and its index entries in one transaction.
//! assert_eq!(client.delete_messages(&[1])?, vec![1]);
//! let noon = Query::parse("body:noon", client.specs(), client.tokenizer())?;
//! assert_eq!(client.search(&noon)?.ids, vec![0, 2, 3]);
//! # Ok::<(), sseek::Error>(())
//! ```

use std::collections::HashSet;
use std::ops::Range;

use indicatif::ProgressBar;
use rayon::prelude::*;

pub mod devices;
mod export;
mod http;

pub use http::{Endpoint, Http};

use crate::blind::BlindIndexer;
use crate::blind::client::schema_tag;
use crate::envelope::DocumentCipher;
use crate::keys::{Keyring, MasterKey};
use crate::message::IndexSpec;
use crate::message::{Message, Terms};
use crate::protocol::transport::{Traffic, Transport};
use crate::protocol::{
    DocId, EncryptedDocument, IndexDescriptor, IngestBatch, Request, Response, Schema, TaggedSchema,
};
use crate::protocol::{expect_ok, unexpected};
use crate::query::Query;
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Messages sealed and sent per request during ingest: each such batch,
/// with its postings, is stored all or nothing.
pub const INGEST_CHUNK: usize = 2_000;
/// Messages fetched and deleted per request.
const DELETE_CHUNK: usize = 2_000;

/// The outcome of one search.
#[derive(Debug, Clone, Default)]
pub struct SearchOutcome {
    /// Exact matching ids, ascending.
    pub ids: Vec<DocId>,
    /// The matching messages, decrypted, in id order.
    pub messages: Vec<(DocId, Message)>,
    /// Candidates the server returned.
    pub candidates: usize,
    /// Candidates dropped as false positives of truncated tokens.
    pub false_positives: usize,
}

/// A client for one tenant over some transport.
#[derive(Debug)]
pub struct Client<T: Transport> {
    transport: T,
    tenant: String,
    key_version: u32,
    master: MasterKey,
    cipher: DocumentCipher,
    tokenizer: Tokenizer,
    schema: Option<Schema>,
    specs: Vec<IndexSpec>,
    indexer: Option<BlindIndexer>,
    /// End of the last id range the server reserved for this client: a
    /// later range must start at or after it, or the server is handing
    /// out ids twice.
    reserved_until: DocId,
}

impl<T: Transport> Client<T> {
    /// Connects: derives the tenant's keys and reads its public schema from the server, if any.
    ///
    /// # Errors
    /// Transport or server errors; key label errors for an over-long tenant.
    pub fn connect(master: MasterKey, tenant: &str, transport: T, tokenizer: Tokenizer) -> Result<Self> {
        Self::connect_at(master, 1, tenant, transport, tokenizer)
    }

    /// Connects with a keyring's current key and version: documents are
    /// sealed and indexed under that version. (Searching data of an older
    /// version comes with key rotation; a keyring made by `sseek keygen`
    /// holds version 1, the version [`Client::connect`] uses.)
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn connect_keyring(keyring: &Keyring, tenant: &str, transport: T, tokenizer: Tokenizer) -> Result<Self> {
        Self::connect_at(keyring.current().clone(), keyring.current_version(), tenant, transport, tokenizer)
    }

    fn connect_at(
        master: MasterKey,
        key_version: u32,
        tenant: &str,
        transport: T,
        tokenizer: Tokenizer,
    ) -> Result<Self> {
        let cipher = DocumentCipher::new(&master, tenant, key_version)?;
        let mut c = Client {
            transport,
            tenant: tenant.to_owned(),
            key_version,
            master,
            cipher,
            tokenizer,
            schema: None,
            specs: Vec::new(),
            indexer: None,
            reserved_until: 0,
        };
        if let Some(schema) = c.fetch_schema()? {
            c.install_schema(schema)?;
        }
        Ok(c)
    }

    /// The tenant's schema from the server, checked against its tag: a
    /// schema without a tag, or whose tag this key did not make, is refused
    /// (the server, or whoever changed its store, altered the index list or
    /// token lengths).
    fn fetch_schema(&self) -> Result<Option<Schema>> {
        let tagged = match self.transport.call(&Request::GetTaggedSchema)? {
            Response::TaggedSchema(t) => t,
            other => return Err(unexpected(&other)),
        };
        let Some(TaggedSchema { schema, tag }) = tagged else { return Ok(None) };
        let expected = schema_tag(&self.master, &self.tenant, self.key_version, &schema.indexes)?;
        let genuine = tag.is_some_and(|t| bool::from(subtle::ConstantTimeEq::ct_eq(&t[..], &expected[..])));
        if !genuine {
            return Err(Error::Server {
                code: 502,
                message: format!(
                    "the server's blind-index schema for tenant {} {}: refusing its index list and token lengths",
                    self.tenant,
                    if tag.is_some() { "does not match its tag under this key" } else { "carries no tag" }
                ),
            });
        }
        Ok(Some(schema))
    }

    fn install_schema(&mut self, schema: Schema) -> Result<()> {
        self.indexer = Some(BlindIndexer::new(&self.master, &self.tenant, self.key_version, &schema.indexes)?);
        self.specs = schema.indexes.iter().map(IndexSpec::from).collect();
        self.schema = Some(schema);
        Ok(())
    }

    /// The tenant's public schema, if created.
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    /// The index specs of the schema (empty before [`Client::create_schema`]).
    pub fn specs(&self) -> &[IndexSpec] {
        &self.specs
    }

    /// The tokenizer used for indexing and queries.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Traffic over the transport so far.
    pub fn traffic(&self) -> Traffic {
        self.transport.traffic()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Creates the tenant's blind indexes. The server keeps the first
    /// schema of a tenant: if another client created one in the meantime,
    /// this client adopts it (its token lengths) instead.
    ///
    /// # Errors
    /// [`Error::Config`] if this client already has a schema or a descriptor
    /// is invalid; transport and server errors.
    pub fn create_schema(&mut self, indexes: Vec<IndexDescriptor>) -> Result<()> {
        if self.schema.is_some() {
            return Err(Error::Config(format!("tenant {} already has a schema", self.tenant)));
        }
        let schema = Schema { indexes, next_doc_id: 0 };
        // Built first: an invalid descriptor fails before anything is sent.
        BlindIndexer::new(&self.master, &self.tenant, self.key_version, &schema.indexes)?;
        let tag = schema_tag(&self.master, &self.tenant, self.key_version, &schema.indexes)?;
        match self.transport.call(&Request::CreateSchema { schema: schema.clone(), tag }) {
            Ok(r) => {
                expect_ok(r)?;
                self.install_schema(schema)
            }
            Err(Error::Server { code: 409, .. }) => match self.fetch_schema()? {
                Some(existing) => self.install_schema(existing),
                None => Err(Error::Server { code: 502, message: "schema conflict, yet no schema stored".into() }),
            },
            Err(e) => Err(e),
        }
    }

    /// Reserves `count` fresh ids on the server and checks the answer: a
    /// range of that size, starting at or after every range this client
    /// was given before.
    fn reserve_ids(&mut self, count: u32) -> Result<Range<DocId>> {
        let (first, end) = match self.transport.call(&Request::ReserveDocumentIds { count })? {
            Response::DocumentIdRange { first, end } => (first, end),
            other => return Err(unexpected(&other)),
        };
        if end.checked_sub(first) != Some(count) || first < self.reserved_until {
            return Err(Error::Server {
                code: 502,
                message: format!(
                    "server reserved ids {first}..{end} for {count} messages; this client already holds ids up to {}",
                    self.reserved_until
                ),
            });
        }
        self.reserved_until = end;
        Ok(first..end)
    }

    /// The normalized per-field terms of each message, extracted in parallel
    /// with this client's tokenizer: what planning and indexing both need.
    pub fn terms(&self, messages: &[Message]) -> Vec<Terms> {
        messages.par_iter().map(|m| m.terms(&self.tokenizer)).collect()
    }

    /// Seals, uploads and indexes messages under ids the server reserves
    /// for them (so concurrent clients of a tenant never collide), in
    /// batches of [`INGEST_CHUNK`] that are each stored with their postings
    /// all or nothing, and durable once answered.
    ///
    /// # Errors
    /// [`Error::Config`] without a schema; transport and server errors.
    pub fn add_messages(&mut self, messages: &[Message], progress: Option<&ProgressBar>) -> Result<Range<DocId>> {
        let terms = self.terms(messages);
        self.add_messages_with_terms(messages, &terms, progress)
    }

    /// [`Client::add_messages`] with the terms already extracted by
    /// [`Client::terms`] (as planning needs them first), so no message is
    /// tokenized twice.
    ///
    /// # Errors
    /// [`Error::Config`] without a schema or if `terms` does not match
    /// `messages`; transport and server errors.
    pub fn add_messages_with_terms(
        &mut self,
        messages: &[Message],
        terms: &[Terms],
        progress: Option<&ProgressBar>,
    ) -> Result<Range<DocId>> {
        if terms.len() != messages.len() {
            return Err(Error::Config(format!("{} term sets for {} messages", terms.len(), messages.len())));
        }
        if self.indexer.is_none() {
            return Err(Error::Config("create the schema before adding messages".into()));
        }
        let count = DocId::try_from(messages.len()).map_err(|_| Error::Config("too many messages".into()))?;
        let range = self.reserve_ids(count)?;
        let indexer = self.indexer.as_ref().ok_or_else(|| Error::Config("no schema".into()))?;
        let mut next = range.start;
        for (chunk, chunk_terms) in messages.chunks(INGEST_CHUNK).zip(terms.chunks(INGEST_CHUNK)) {
            // chunk.len() <= INGEST_CHUNK, and the range holds them all.
            let ids: Vec<DocId> = (next..).take(chunk.len()).collect();
            next += DocId::try_from(chunk.len()).unwrap_or(DocId::MAX);
            let documents = chunk
                .par_iter()
                .zip(ids.par_iter())
                .map(|(m, id)| self.cipher.seal(*id, m))
                .collect::<Result<Vec<_>>>()?;
            let indexed: Vec<(DocId, &Terms)> = ids.iter().copied().zip(chunk_terms).collect();
            let postings = indexer.postings(&indexed);
            expect_ok(self.transport.call(&Request::Ingest(IngestBatch { documents, postings }))?)?;
            if let Some(pb) = progress {
                pb.inc(chunk.len() as u64);
            }
        }
        Ok(range)
    }

    /// Deletes messages: each is fetched and opened to compute its blind
    /// tokens, then deleted with its postings in one transaction per batch,
    /// and its id joins the tenant's tombstones (which SSE searches apply).
    /// Ids that hold no message are skipped. Returns the deleted ids, ascending.
    ///
    /// # Errors
    /// [`Error::Config`] without a schema; [`Error::Decrypt`] if the server
    /// returns a modified or misplaced ciphertext; transport and server errors.
    pub fn delete_messages(&mut self, ids: &[DocId]) -> Result<Vec<DocId>> {
        let indexer = self.indexer.as_ref().ok_or_else(|| Error::Config("no schema: nothing is indexed yet".into()))?;
        let mut deleted = Vec::new();
        for chunk in ids.chunks(DELETE_CHUNK) {
            let documents = match self.transport.call(&Request::GetDocuments(chunk.to_vec()))? {
                Response::Documents(d) => d,
                other => return Err(unexpected(&other)),
            };
            let opened: Vec<(DocId, Terms)> = documents
                .par_iter()
                .map(|d| {
                    let id = d.public.doc_id;
                    if !chunk.contains(&id) {
                        return Err(Error::Server {
                            code: 502,
                            message: format!("server returned document {id}, not asked for"),
                        });
                    }
                    Ok((id, self.cipher.open(d, id)?.terms(&self.tokenizer)))
                })
                .collect::<Result<_>>()?;
            let indexed: Vec<(DocId, &Terms)> = opened.iter().map(|(id, t)| (*id, t)).collect();
            let postings = indexer.postings(&indexed);
            match self.transport.call(&Request::DeleteMessages { ids: chunk.to_vec(), postings })? {
                Response::DocumentIds(d) => deleted.extend(d),
                other => return Err(unexpected(&other)),
            }
        }
        deleted.sort_unstable();
        Ok(deleted)
    }

    /// Runs a query: blind tokens to the server, candidates back, decrypt,
    /// drop false positives. The result is exact.
    ///
    /// # Errors
    /// [`Error::Config`] without a schema; [`Error::Decrypt`] if the server
    /// returns a modified or misplaced ciphertext; [`Error::Server`] if it
    /// withholds a candidate.
    pub fn search(&self, query: &Query) -> Result<SearchOutcome> {
        let (ids, documents) = self.blind_search(query, true)?;
        let candidates: HashSet<DocId> = ids.iter().copied().collect();
        if documents.len() != candidates.len() || documents.iter().any(|d| !candidates.contains(&d.public.doc_id)) {
            return Err(Error::Server {
                code: 502,
                message: format!("server returned {} documents for {} candidates", documents.len(), candidates.len()),
            });
        }
        let opened: Vec<(DocId, Message, bool)> = documents
            .par_iter()
            .map(|d| {
                let id = d.public.doc_id;
                let m = self.cipher.open(d, id)?;
                let hit = query.matches(&m.terms(&self.tokenizer), &self.specs)?;
                Ok((id, m, hit))
            })
            .collect::<Result<_>>()?;
        let mut messages: Vec<(DocId, Message)> =
            opened.into_iter().filter(|(_, _, hit)| *hit).map(|(id, m, _)| (id, m)).collect();
        messages.sort_unstable_by_key(|(id, _)| *id);
        Ok(SearchOutcome {
            ids: messages.iter().map(|(id, _)| *id).collect(),
            false_positives: candidates.len() - messages.len(),
            candidates: candidates.len(),
            messages,
        })
    }

    /// The candidate ids the server returns for a query, before any filtering:
    /// a superset of the exact answer (truncation adds, never removes).
    ///
    /// # Errors
    /// [`Error::Config`] without a schema; transport and server errors.
    pub fn candidates(&self, query: &Query) -> Result<Vec<DocId>> {
        Ok(self.blind_search(query, false)?.0)
    }

    /// Sends the blind form of `query` and returns the candidate ids and,
    /// if `fetch_documents`, their sealed documents.
    fn blind_search(&self, query: &Query, fetch_documents: bool) -> Result<(Vec<DocId>, Vec<EncryptedDocument>)> {
        let indexer = self.indexer.as_ref().ok_or_else(|| Error::Config("no schema: nothing is indexed yet".into()))?;
        match self.transport.call(&Request::BlindSearch { query: indexer.blind_query(query)?, fetch_documents })? {
            Response::BlindResult { ids, documents } => Ok((ids, documents)),
            other => Err(unexpected(&other)),
        }
    }

    /// Server storage statistics for this tenant.
    ///
    /// # Errors
    /// Transport and server errors.
    pub fn server_stats(&self) -> Result<crate::protocol::ServerStats> {
        match self.transport.call(&Request::Stats)? {
            Response::Stats(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }
}
