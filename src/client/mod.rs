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
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use indicatif::ProgressBar;
use rayon::prelude::*;

pub mod devices;
mod export;
mod http;
pub mod rotation;

pub use http::{Endpoint, Http};

use crate::blind::BlindIndexer;
use crate::blind::client::schema_tag;
use crate::envelope::DocumentCipher;
use crate::keys::{Keyring, MasterKey};
use crate::message::IndexSpec;
use crate::message::{Message, Terms};
use crate::protocol::transport::{Traffic, Transport};
use crate::protocol::{
    BlindQuery, DocId, EncryptedDocument, IndexDescriptor, IngestBatch, KeyEpoch, Request, Response, Schema,
    TaggedSchema,
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

/// Sealed documents fetched per request by [`Client::search_newest`], at
/// most: its chunks grow geometrically up to this size.
pub const NEWEST_CHUNK_MAX: usize = 4_096;
/// The first chunk [`Client::search_newest`] fetches is twice the page,
/// and at least this many documents.
const NEWEST_CHUNK_MIN: usize = 8;

/// The outcome of one search.
#[derive(Debug, Clone, Default)]
pub struct SearchOutcome {
    /// Exact matching ids: ascending from [`Client::search`], newest
    /// (highest) first from [`Client::search_newest`].
    pub ids: Vec<DocId>,
    /// The matching messages, decrypted, in the order of `ids`.
    pub messages: Vec<(DocId, Message)>,
    /// Candidates the server returned.
    pub candidates: usize,
    /// Sealed documents fetched and opened: every candidate for
    /// [`Client::search`], only as many as the page needed for
    /// [`Client::search_newest`].
    pub fetched: usize,
    /// Fetched candidates dropped as false positives of truncated tokens.
    pub false_positives: usize,
}

/// A client for one tenant over some transport.
#[derive(Debug)]
pub struct Client<T: Transport> {
    transport: T,
    tenant: String,
    /// A key file to read again when the tenant moves to a key version the
    /// keyring does not hold (another process is rotating).
    key_file: Option<PathBuf>,
    /// The keyring and the keys of the epoch last read from the server;
    /// replaced whole when the epoch changes, so a search in flight keeps
    /// the keys it started with.
    keys: RwLock<Arc<KeyState>>,
    tokenizer: Tokenizer,
    schema: Option<Schema>,
    specs: Vec<IndexSpec>,
    /// End of the last id range the server reserved for this client: a
    /// later range must start at or after it, or the server is handing
    /// out ids twice.
    reserved_until: DocId,
}

/// The keyring, the tenant's key epoch as last read, and the keys of its
/// live versions.
#[derive(Debug)]
struct KeyState {
    keyring: Keyring,
    epoch: KeyEpoch,
    /// One per live version of `epoch`, current first.
    versions: Vec<VersionKeys>,
}

/// The keys of one live key version: its document cipher and, once the
/// tenant has a schema, its blind indexer.
#[derive(Debug)]
struct VersionKeys {
    version: u32,
    cipher: DocumentCipher,
    indexer: Option<BlindIndexer>,
}

impl KeyState {
    /// The keys of the current version.
    fn current(&self) -> &VersionKeys {
        // Built with every live version, the current one first.
        &self.versions[0]
    }

    /// The master key of a version.
    fn master(&self, version: u32) -> Result<&MasterKey> {
        self.keyring.get(version).ok_or_else(|| Error::Config(format!("this keyring lacks key version {version}")))
    }

    /// The current version's blind indexer.
    fn indexer(&self) -> Result<&BlindIndexer> {
        self.current().indexer.as_ref().ok_or_else(|| Error::Config("no schema: nothing is indexed yet".into()))
    }

    /// Opens a sealed document under whichever live version sealed it
    /// (during a rotation a document moves from the old to the new one);
    /// returns the message and that version's position in `versions`.
    fn open_document(&self, d: &EncryptedDocument, id: DocId) -> Result<(Message, usize)> {
        let mut last = Error::Decrypt { doc_id: id };
        for (i, v) in self.versions.iter().enumerate() {
            match v.cipher.open(d, id) {
                Ok(m) => return Ok((m, i)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// As [`KeyState::open_document`] for a document the caller gives up:
    /// under a single live version it is decrypted in its own buffer.
    fn open_owned(&self, d: EncryptedDocument, id: DocId) -> Result<Message> {
        match &self.versions[..] {
            [only] => only.cipher.open_owned(d, id),
            // During a rotation a failed try must leave the bytes for the next version.
            _ => self.open_document(&d, id).map(|(m, _)| m),
        }
    }
}

/// A document opened by the client: its id, message, and the position of
/// the key version that opened it among the live ones.
type OpenedDocument = (DocId, Message, usize);

/// Attempts of one request against key epochs that change under it (a
/// rotation starting or ending); each change is rare, so a few suffice.
const EPOCH_ATTEMPTS: usize = 4;

impl<T: Transport> Client<T> {
    /// Connects with one master key as version 1: derives the tenant's keys
    /// and reads its public schema from the server, if any.
    ///
    /// # Errors
    /// Transport or server errors; key label errors for an over-long
    /// tenant; [`Error::Config`] if the tenant's data is under another key version.
    pub fn connect(master: MasterKey, tenant: &str, transport: T, tokenizer: Tokenizer) -> Result<Self> {
        Self::connect_keyring(&Keyring::from_master(master), tenant, transport, tokenizer)
    }

    /// Connects with a keyring: the server's key epoch says which versions
    /// hold the tenant's data (one, or two while a rotation runs), and the
    /// keyring must hold them. New messages are sealed and indexed under
    /// the epoch's current version; searches ask every live version.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn connect_keyring(keyring: &Keyring, tenant: &str, transport: T, tokenizer: Tokenizer) -> Result<Self> {
        let empty = KeyState { keyring: keyring.clone(), epoch: KeyEpoch::INITIAL, versions: Vec::new() };
        let mut c = Client {
            transport,
            tenant: tenant.to_owned(),
            key_file: None,
            keys: RwLock::new(Arc::new(empty)),
            tokenizer,
            schema: None,
            specs: Vec::new(),
            reserved_until: 0,
        };
        c.refresh_epoch()?;
        if let Some(schema) = c.fetch_schema(&c.keys())? {
            c.install_schema(schema)?;
        }
        Ok(c)
    }

    /// Reads the keyring again from `path` whenever the tenant moves to a
    /// key version this client's keyring lacks, so a long-lived client
    /// keeps working while another process (`sseek rotate`) rotates the
    /// keys in that file.
    pub fn with_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// The tenant's key epoch as this client last read it.
    pub fn key_epoch(&self) -> KeyEpoch {
        self.keys().epoch
    }

    /// The keyring this client holds.
    pub fn keyring(&self) -> Keyring {
        self.keys().keyring.clone()
    }

    /// The keys in use now.
    fn keys(&self) -> Arc<KeyState> {
        // A poisoned lock still holds a whole state: states are swapped, never edited.
        Arc::clone(&self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn set_keys(&self, state: KeyState) {
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(state);
    }

    /// Reads the tenant's key epoch and, if it changed, derives the keys
    /// of its live versions and checks the schema's tag under the current
    /// one. Returns whether the epoch changed.
    ///
    /// # Errors
    /// [`Error::Config`] if the keyring (also read again from the key file,
    /// if one is set) lacks a live version; transport and server errors.
    pub fn refresh_epoch(&self) -> Result<bool> {
        let epoch = match self.transport.call(&Request::GetKeyEpoch)? {
            Response::KeyEpoch(e) => e,
            other => return Err(unexpected(&other)),
        };
        let old = self.keys();
        if !old.versions.is_empty() && epoch == old.epoch {
            return Ok(false);
        }
        self.set_keys(self.derive_keys(old.keyring.clone(), epoch)?);
        Ok(true)
    }

    /// Replaces the keyring (one another device sealed, or a rotated key
    /// file) and derives the keys of the tenant's epoch from it.
    ///
    /// # Errors
    /// As [`Client::refresh_epoch`].
    pub fn set_keyring(&self, keyring: Keyring) -> Result<()> {
        let epoch = self.keys().epoch;
        self.set_keys(self.derive_keys(keyring, epoch)?);
        self.refresh_epoch().map(drop)
    }

    /// The keys of `epoch`'s live versions from `keyring` (or from the key
    /// file, read again, if `keyring` lacks one), with the schema's tag
    /// checked under the current version.
    fn derive_keys(&self, mut keyring: Keyring, epoch: KeyEpoch) -> Result<KeyState> {
        let live = epoch.live_versions();
        if live.iter().any(|v| keyring.get(*v).is_none())
            && let Some(path) = &self.key_file
        {
            keyring = Keyring::load(path)?;
        }
        if let Some(missing) = live.iter().find(|v| keyring.get(**v).is_none()) {
            let held = keyring.versions();
            return Err(Error::Config(format!(
                "tenant {}'s data is under key version {}, and this keyring holds {held:?}, not {missing}: \
                 open the keyring the rotating device sealed to this one (sseek device open) or use the rotated key file",
                self.tenant,
                live.iter().map(u32::to_string).collect::<Vec<_>>().join(" and "),
            )));
        }
        let versions = live
            .iter()
            .map(|v| {
                let master = keyring.get(*v).ok_or_else(|| Error::Config(format!("no key version {v}")))?;
                let indexer = match &self.schema {
                    Some(schema) => Some(BlindIndexer::new(master, &self.tenant, *v, &schema.indexes)?),
                    None => None,
                };
                Ok(VersionKeys { version: *v, cipher: DocumentCipher::new(master, &self.tenant, *v)?, indexer })
            })
            .collect::<Result<_>>()?;
        let state = KeyState { keyring, epoch, versions };
        // Checked only once this client has a schema (at connect it reads it next).
        if let Some(mine) = &self.schema
            && let Some(theirs) = self.fetch_schema(&state)?
            && mine.indexes != theirs.indexes
        {
            return Err(Error::Server {
                code: 502,
                message: format!("the server's schema for tenant {} changed under this client", self.tenant),
            });
        }
        Ok(state)
    }

    /// The tenant's schema from the server, checked against its tag under
    /// the current key version: a schema without a tag, or whose tag this
    /// key did not make, is refused (the server, or whoever changed its
    /// store, altered the index list or token lengths).
    fn fetch_schema(&self, keys: &KeyState) -> Result<Option<Schema>> {
        let tagged = match self.transport.call(&Request::GetTaggedSchema)? {
            Response::TaggedSchema(t) => t,
            other => return Err(unexpected(&other)),
        };
        let Some(TaggedSchema { schema, tag }) = tagged else { return Ok(None) };
        let version = keys.epoch.current;
        let expected = schema_tag(keys.master(version)?, &self.tenant, version, &schema.indexes)?;
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

    /// Adopts `schema`: builds every live version's indexer for it.
    fn install_schema(&mut self, schema: Schema) -> Result<()> {
        let old = self.keys();
        let versions = old
            .versions
            .iter()
            .map(|v| {
                let master = old.master(v.version)?;
                Ok(VersionKeys {
                    version: v.version,
                    cipher: DocumentCipher::new(master, &self.tenant, v.version)?,
                    indexer: Some(BlindIndexer::new(master, &self.tenant, v.version, &schema.indexes)?),
                })
            })
            .collect::<Result<_>>()?;
        self.set_keys(KeyState { keyring: old.keyring.clone(), epoch: old.epoch, versions });
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
        let keys = self.keys();
        let version = keys.epoch.current;
        // Built first: an invalid descriptor fails before anything is sent.
        BlindIndexer::new(keys.master(version)?, &self.tenant, version, &schema.indexes)?;
        let tag = schema_tag(keys.master(version)?, &self.tenant, version, &schema.indexes)?;
        match self.transport.call(&Request::CreateSchema { schema: schema.clone(), tag }) {
            Ok(r) => {
                expect_ok(r)?;
                self.install_schema(schema)
            }
            Err(Error::Server { code: 409, .. }) => match self.fetch_schema(&keys)? {
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
        if self.schema.is_none() {
            return Err(Error::Config("create the schema before adding messages".into()));
        }
        let count = DocId::try_from(messages.len()).map_err(|_| Error::Config("too many messages".into()))?;
        let range = self.reserve_ids(count)?;
        let mut next = range.start;
        for (chunk, chunk_terms) in messages.chunks(INGEST_CHUNK).zip(terms.chunks(INGEST_CHUNK)) {
            // chunk.len() <= INGEST_CHUNK, and the range holds them all.
            let ids: Vec<DocId> = (next..).take(chunk.len()).collect();
            next += DocId::try_from(chunk.len()).unwrap_or(DocId::MAX);
            self.ingest_chunk(chunk, chunk_terms, &ids)?;
            if let Some(pb) = progress {
                pb.inc(chunk.len() as u64);
            }
        }
        Ok(range)
    }

    /// Seals and indexes one batch under the current key version and stores
    /// it. If a rotation moved the tenant to a new version meanwhile, the
    /// server refuses the batch; it is then sealed again under the new one.
    fn ingest_chunk(&self, chunk: &[Message], terms: &[Terms], ids: &[DocId]) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let keys = self.keys();
            let (current, indexer) = (keys.current(), keys.indexer()?);
            let documents = chunk
                .par_iter()
                .zip(ids.par_iter())
                .map(|(m, id)| current.cipher.seal(*id, m))
                .collect::<Result<Vec<_>>>()?;
            let indexed: Vec<(DocId, &Terms)> = ids.iter().copied().zip(terms).collect();
            let batch = IngestBatch { documents, postings: indexer.postings(&indexed) };
            match self.transport.call(&Request::IngestAt { key_version: current.version, batch }) {
                Ok(r) => return expect_ok(r),
                Err(e @ Error::Server { code: 409, .. }) if attempt < EPOCH_ATTEMPTS => {
                    if !self.refresh_epoch()? {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Fetches documents with `fetch` and opens each under the live key
    /// versions. If one does not open and the key epoch changed meanwhile
    /// (a rotation began or ended between reading the keys and the
    /// documents), fetches and opens them again under the new keys.
    /// Returns each document's id, message and version position, and the
    /// keys that opened them.
    fn opened_documents(
        &self,
        fetch: impl Fn() -> Result<Vec<EncryptedDocument>>,
    ) -> Result<(Vec<OpenedDocument>, Arc<KeyState>)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let keys = self.keys();
            let documents = fetch()?;
            let opened = documents
                .par_iter()
                .map(|d| keys.open_document(d, d.public.doc_id).map(|(m, version)| (d.public.doc_id, m, version)))
                .collect::<Result<Vec<_>>>();
            match opened {
                Ok(opened) => return Ok((opened, keys)),
                Err(e @ Error::Decrypt { .. }) if attempt < EPOCH_ATTEMPTS => {
                    if !self.refresh_epoch()? {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
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
        self.keys().indexer()?;
        let mut deleted = Vec::new();
        for chunk in ids.chunks(DELETE_CHUNK) {
            let (opened, keys) = self.opened_documents(|| {
                let documents = match self.transport.call(&Request::GetDocuments(chunk.to_vec()))? {
                    Response::Documents(d) => d,
                    other => return Err(unexpected(&other)),
                };
                if let Some(d) = documents.iter().find(|d| !chunk.contains(&d.public.doc_id)) {
                    return Err(Error::Server {
                        code: 502,
                        message: format!("server returned document {}, not asked for", d.public.doc_id),
                    });
                }
                Ok(documents)
            })?;
            let opened: Vec<(DocId, Terms, usize)> =
                opened.into_par_iter().map(|(id, m, version)| (id, m.terms(&self.tokenizer), version)).collect();
            // Each message's postings under the version that sealed it (two during a rotation).
            let mut postings = Vec::new();
            for (i, version) in keys.versions.iter().enumerate() {
                let indexed: Vec<(DocId, &Terms)> =
                    opened.iter().filter(|o| o.2 == i).map(|(id, t, _)| (*id, t)).collect();
                if let (false, Some(indexer)) = (indexed.is_empty(), &version.indexer) {
                    postings.extend(indexer.postings(&indexed));
                }
            }
            match self.transport.call(&Request::DeleteMessages { ids: chunk.to_vec(), postings })? {
                Response::DocumentIds(d) => deleted.extend(d),
                other => return Err(unexpected(&other)),
            }
        }
        deleted.sort_unstable();
        Ok(deleted)
    }

    /// Runs a query: blind tokens to the server, candidates back, decrypt,
    /// drop false positives. The result is exact and complete; each
    /// candidate is checked with [`Query::matches_message`], which reads
    /// only the fields the query names and tokenizes them only when their
    /// text cannot tell. For the newest few results of a
    /// large answer, [`Client::search_newest`] fetches far less.
    ///
    /// # Errors
    /// [`Error::Config`] without a schema; [`Error::Decrypt`] if the server
    /// returns a modified or misplaced ciphertext; [`Error::Server`] if it
    /// withholds a candidate.
    pub fn search(&self, query: &Query) -> Result<SearchOutcome> {
        let (ids, documents, keys) = self.blind_search(query, true)?;
        let candidates: HashSet<DocId> = ids.iter().copied().collect();
        if documents.len() != candidates.len() || documents.iter().any(|d| !candidates.contains(&d.public.doc_id)) {
            return Err(Error::Server {
                code: 502,
                message: format!("server returned {} documents for {} candidates", documents.len(), candidates.len()),
            });
        }
        let fetched = documents.len();
        let opened: Vec<(DocId, Message, bool)> = documents
            .into_par_iter()
            .map(|d| {
                let id = d.public.doc_id;
                let m = keys.open_owned(d, id)?;
                let hit = query.matches_message(&m, &self.specs, &self.tokenizer)?;
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
            fetched,
            messages,
        })
    }

    /// The `limit` newest exact matches of a query, newest (highest id:
    /// ids are handed out in arrival order) first: exactly the `limit`
    /// highest ids of [`Client::search`]'s answer (all of them if it has
    /// fewer), with their messages.
    ///
    /// Asks the server for the candidate ids only, then fetches and opens
    /// candidates from the highest id down, in chunks (twice `limit` at
    /// first, doubling, at most [`NEWEST_CHUNK_MAX`]), until `limit` true
    /// matches are found or the candidates run out; each is checked with
    /// [`Query::matches_message`]. A candidate whose
    /// document is gone by the time it is fetched (deleted meanwhile) is
    /// skipped. `false_positives` counts the fetched candidates dropped.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sseek::{client::Client, keys::MasterKey, message::Message, query::Query};
    /// use sseek::{server::Server, store::MemoryStore, transport::InProcess, text::Tokenizer};
    /// use sseek::blind::{default_index_specs, planner::plan_for_corpus};
    ///
    /// let server = Arc::new(Server::new(MemoryStore::new()));
    /// let mut client = Client::connect(MasterKey::generate()?, "acme", InProcess::new(server, "acme"), Tokenizer::default())?;
    /// let msgs: Vec<Message> = (0..10)
    ///     .map(|i| Message { from: "ann@example.com".into(), body: format!("lunch number {i}"), ..Default::default() })
    ///     .collect();
    /// let plan = plan_for_corpus(&client.terms(&msgs), &default_index_specs(), 10.0, 2.0, 1.0);
    /// client.create_schema(plan.into_iter().map(|(d, _)| d).collect())?;
    /// client.add_messages(&msgs, None)?;
    /// let lunch = Query::parse("body:lunch", client.specs(), client.tokenizer())?;
    /// let newest = client.search_newest(&lunch, 3)?;
    /// assert_eq!(newest.ids, vec![9, 8, 7]);
    /// assert_eq!(newest.messages[0].1.body, "lunch number 9");
    /// assert_eq!(newest.candidates, 10);
    /// assert!(newest.fetched < 10);
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] without a schema; [`Error::Query`] for an unknown
    /// index; [`Error::Decrypt`] if the server returns a modified or
    /// misplaced ciphertext; [`Error::Server`] if it returns a document
    /// not asked for; transport and server errors.
    pub fn search_newest(&self, query: &Query, limit: usize) -> Result<SearchOutcome> {
        let (mut ids, _, _) = self.blind_search(query, false)?;
        // The server's list is untrusted: in order and without repeats before it is walked.
        ids.sort_unstable();
        ids.dedup();
        let mut outcome = SearchOutcome { candidates: ids.len(), ..SearchOutcome::default() };
        let mut chunk = limit.saturating_mul(2).clamp(NEWEST_CHUNK_MIN, NEWEST_CHUNK_MAX);
        let mut end = ids.len();
        while end > 0 && outcome.messages.len() < limit {
            let start = end.saturating_sub(chunk);
            let wanted = &ids[start..end];
            let (opened, _) = self.opened_documents(|| self.fetch_documents(wanted))?;
            outcome.fetched += opened.len();
            let mut checked: Vec<(DocId, Message, bool)> = opened
                .into_par_iter()
                .map(|(id, m, _)| {
                    let hit = query.matches_message(&m, &self.specs, &self.tokenizer)?;
                    Ok((id, m, hit))
                })
                .collect::<Result<_>>()?;
            checked.sort_unstable_by_key(|(id, _, _)| std::cmp::Reverse(*id));
            for (id, m, hit) in checked {
                if !hit {
                    outcome.false_positives += 1;
                } else if outcome.messages.len() < limit {
                    outcome.messages.push((id, m));
                }
            }
            end = start;
            chunk = chunk.saturating_mul(2).min(NEWEST_CHUNK_MAX);
        }
        outcome.ids = outcome.messages.iter().map(|(id, _)| *id).collect();
        Ok(outcome)
    }

    /// The sealed documents of `ids` (ascending), each at most once and
    /// none not asked for; ids without a document are left out.
    fn fetch_documents(&self, ids: &[DocId]) -> Result<Vec<EncryptedDocument>> {
        let documents = match self.transport.call(&Request::GetDocuments(ids.to_vec()))? {
            Response::Documents(d) => d,
            other => return Err(unexpected(&other)),
        };
        let mut seen = HashSet::with_capacity(documents.len());
        if let Some(d) =
            documents.iter().find(|d| ids.binary_search(&d.public.doc_id).is_err() || !seen.insert(d.public.doc_id))
        {
            return Err(Error::Server {
                code: 502,
                message: format!("server returned document {} not asked for, or twice", d.public.doc_id),
            });
        }
        Ok(documents)
    }

    /// The candidate ids the server returns for a query, before any filtering:
    /// a superset of the exact answer (truncation adds, never removes).
    ///
    /// # Errors
    /// [`Error::Config`] without a schema; transport and server errors.
    pub fn candidates(&self, query: &Query) -> Result<Vec<DocId>> {
        Ok(self.blind_search(query, false)?.0)
    }

    /// Sends the blind form of `query` under every live key version (one,
    /// or the old and the new one during a rotation: each message is under
    /// exactly one, so the union is complete) and returns the candidate ids
    /// and, if `fetch_documents`, their sealed documents. If the key epoch
    /// changed meanwhile, the server refuses the search and it is sent again
    /// for the new epoch.
    fn blind_search(
        &self,
        query: &Query,
        fetch_documents: bool,
    ) -> Result<(Vec<DocId>, Vec<EncryptedDocument>, Arc<KeyState>)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let keys = self.keys();
            keys.indexer()?;
            let mut forms = keys
                .versions
                .iter()
                .filter_map(|v| v.indexer.as_ref())
                .map(|indexer| indexer.blind_query(query))
                .collect::<Result<Vec<_>>>()?;
            let blind = if forms.len() == 1 { forms.remove(0) } else { BlindQuery::Or(forms) };
            match self.transport.call(&Request::BlindSearchAt { epoch: keys.epoch, query: blind, fetch_documents }) {
                Ok(Response::BlindResult { ids, documents }) => return Ok((ids, documents, keys)),
                Ok(other) => return Err(unexpected(&other)),
                Err(e @ Error::Server { code: 409, .. }) if attempt < EPOCH_ATTEMPTS => {
                    if !self.refresh_epoch()? {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
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
