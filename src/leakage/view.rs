//! The server's view: everything the server receives and sends, recorded at
//! the client/server boundary ([`crate::server::Server::handle`]), never from
//! client state.
//!
//! A [`ServerView`] is a list of [`ViewEvent`]s, one per handled request:
//! tokens, labels and entries exactly as they crossed the boundary, document
//! ids and ciphertext *sizes* (the ciphertext bytes themselves are not kept:
//! no attack here reads them, and they are the bulk of the traffic). Labels
//! the server derives while searching (Pi_bas walks `F(K, 0), F(K, 1), ...`)
//! are a deterministic function of the view, so they are not recorded
//! separately; [`ServerView::replay_store`] rebuilds the server's state from
//! the view so an attacker can recompute them.
//!
//! Views are saved and loaded as JSON lines (one event per line), so attacks
//! run on views captured elsewhere, including by `sseek serve --record-view`.
//!
//! **Canonical form.** Pseudorandom strings (labels, tokens, encrypted
//! values) carry no information beyond which of them are equal and how long
//! they are. [`ServerView::canonical`] renames every such string by its
//! first appearance, and treats batches whose order the client randomizes
//! (entries of a setup or update request, postings of a blind insert) as
//! sorted multisets. Two views are equal up to renaming iff their canonical
//! forms are equal: the comparison behind the leakage laws.
//!
//! ```
//! use std::sync::Arc;
//! use sseek::leakage::view::Recorder;
//! use sseek::{keys::MasterKey, server::Server, store::MemoryStore, transport::InProcess};
//! use sseek::sse::{self, MultiMap, SchemeConfig, SseIndex};
//!
//! let recorder = Recorder::memory();
//! let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
//! let scheme = sse::open_client(&MasterKey::generate()?, "acme", &SchemeConfig::new("pibas", "i"))?;
//! let mut index = SseIndex::create(InProcess::new(server, "acme"), scheme)?;
//! let mut db = MultiMap::new();
//! db.insert(sse::keyword("body", &["noon"]), vec![1, 4, 9]);
//! index.setup(&db)?;
//! index.search_keyword(&sse::keyword("body", &["noon"]))?;
//! let view = recorder.view();
//! assert_eq!(view.searches().count(), 1);
//! # Ok::<(), sseek::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::protocol::observer::BoundaryObserver;
use crate::protocol::{
    BlindQuery, DocId, EncryptedDocument, EncryptedEntry, EntryLocation, Request, Response, SearchResult, SearchToken,
    SseDescriptor,
};
use crate::store::{MemoryStore, Store, Table, WriteBatch};
use crate::{Error, Result};

/// A document as the server sees it at rest or in a response: its id and
/// the size of its sealed ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentSize {
    /// Document id.
    pub id: DocId,
    /// Bytes of the sealed ciphertext (nonce excluded; it is fixed-size).
    pub bytes: u64,
}

impl DocumentSize {
    fn of(d: &EncryptedDocument) -> Self {
        DocumentSize { id: d.public.doc_id, bytes: d.sealed.len() as u64 }
    }
}

/// What one request showed the server, with what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observed {
    /// Sealed documents stored.
    PutDocuments {
        /// Ids and ciphertext sizes.
        documents: Vec<DocumentSize>,
    },
    /// Documents fetched.
    GetDocuments {
        /// Ids asked for.
        ids: Vec<DocId>,
        /// Ids and sizes returned.
        returned: Vec<DocumentSize>,
    },
    /// Documents deleted.
    DeleteDocuments {
        /// Ids asked for.
        ids: Vec<DocId>,
    },
    /// Blind-index postings added: tokens and the ids under them.
    InsertBlindPostings {
        /// Index name.
        index: String,
        /// Token value and ids, in the order sent.
        postings: Vec<(u64, Vec<DocId>)>,
    },
    /// A blind search and its answer.
    BlindSearch {
        /// The token tree.
        query: BlindQuery,
        /// Candidate ids returned.
        ids: Vec<DocId>,
        /// Documents returned with them (if asked).
        documents: Vec<DocumentSize>,
    },
    /// An SSE instance registered.
    SseCreate {
        /// Its public descriptor.
        descriptor: SseDescriptor,
    },
    /// SSE entries stored (a setup chunk or an update batch).
    SseInsert {
        /// Instance name.
        instance: String,
        /// The entries, as sent.
        entries: Vec<EncryptedEntry>,
    },
    /// An SSE search and its answer.
    SseSearch {
        /// Instance name.
        instance: String,
        /// The token.
        token: SearchToken,
        /// What the server returned.
        result: SearchResult,
    },
    /// A request that carries no index or document content (schema, stats,
    /// sync, listing, describe); only its kind is kept.
    Other {
        /// Request kind.
        request: String,
    },
}

/// One handled request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewEvent {
    /// Position in the transcript, from 0.
    pub seq: u64,
    /// Tenant the request came from (the server authenticates tenants).
    pub tenant: String,
    /// Status the server answered: 200, or the error code.
    pub status: u16,
    /// What the request and its answer showed.
    pub observed: Observed,
}

impl Observed {
    /// What `request` and its `response` show the server. `None` for
    /// requests the server's answer drops (errors are recorded with the
    /// request kind only).
    pub fn of(request: &Request, response: &Response) -> Observed {
        let other = |kind: &str| Observed::Other { request: kind.to_owned() };
        match request {
            Request::PutDocuments(docs) => {
                Observed::PutDocuments { documents: docs.iter().map(DocumentSize::of).collect() }
            }
            Request::GetDocuments(ids) => Observed::GetDocuments {
                ids: ids.clone(),
                returned: match response {
                    Response::Documents(d) => d.iter().map(DocumentSize::of).collect(),
                    _ => Vec::new(),
                },
            },
            Request::DeleteDocuments(ids) => Observed::DeleteDocuments { ids: ids.clone() },
            Request::InsertBlindPostings(p) => {
                Observed::InsertBlindPostings { index: p.index.clone(), postings: p.postings.clone() }
            }
            Request::BlindSearch { query, .. } => {
                let (ids, documents) = match response {
                    Response::BlindResult { ids, documents } => {
                        (ids.clone(), documents.iter().map(DocumentSize::of).collect())
                    }
                    _ => (Vec::new(), Vec::new()),
                };
                Observed::BlindSearch { query: query.clone(), ids, documents }
            }
            Request::SseCreate(descriptor) => Observed::SseCreate { descriptor: descriptor.clone() },
            Request::SseInsert { instance, entries } => {
                Observed::SseInsert { instance: instance.clone(), entries: entries.clone() }
            }
            Request::SseSearch { instance, token } => Observed::SseSearch {
                instance: instance.clone(),
                token: token.clone(),
                result: match response {
                    Response::SseResult(r) => r.clone(),
                    _ => SearchResult::Ids(Vec::new()),
                },
            },
            Request::PutSchema(_) => other("put_schema"),
            Request::GetSchema => other("get_schema"),
            Request::Sync => other("sync"),
            Request::Stats => other("stats"),
            Request::SseDescribe { .. } => other("sse_describe"),
            Request::ListDocumentIds { .. } => other("list_document_ids"),
            Request::IndexStats { .. } => other("index_stats"),
        }
    }
}

/// One SSE search as the server saw it.
#[derive(Debug, Clone, Copy)]
pub struct SseSearchEvent<'a> {
    /// Position in the transcript.
    pub seq: u64,
    /// Instance searched.
    pub instance: &'a str,
    /// The token.
    pub token: &'a SearchToken,
    /// The answer.
    pub result: &'a SearchResult,
}

/// A transcript of what the server saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    /// Events in the order the server handled them.
    pub events: Vec<ViewEvent>,
}

impl ServerView {
    /// Writes the view as JSON lines, one event per line.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |e| Error::io(path, e);
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        for e in &self.events {
            serde_json::to_writer(&mut out, e).map_err(|e| io(std::io::Error::other(e)))?;
            out.write_all(b"\n").map_err(io)?;
        }
        out.flush().map_err(io)
    }

    /// Reads a view written by [`ServerView::save`] or recorded by
    /// `sseek serve --record-view`. Blank lines are skipped.
    ///
    /// # Errors
    /// [`Error::ViewFile`] naming the line that does not parse; I/O errors.
    pub fn load(path: &Path) -> Result<ServerView> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut events = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line =
                line.map_err(|e| Error::ViewFile { path: path.to_path_buf(), line: n + 1, reason: e.to_string() })?;
            if line.trim().is_empty() {
                continue;
            }
            let event: ViewEvent = serde_json::from_str(&line).map_err(|e| Error::ViewFile {
                path: path.to_path_buf(),
                line: n + 1,
                reason: e.to_string(),
            })?;
            events.push(event);
        }
        Ok(ServerView { events })
    }

    /// The events of one tenant, in order.
    pub fn tenant(&self, tenant: &str) -> ServerView {
        ServerView { events: self.events.iter().filter(|e| e.tenant == tenant).cloned().collect() }
    }

    /// Successful SSE searches, in order.
    pub fn searches(&self) -> impl Iterator<Item = SseSearchEvent<'_>> {
        self.events.iter().filter(|e| e.status == 200).filter_map(|e| match &e.observed {
            Observed::SseSearch { instance, token, result } => {
                Some(SseSearchEvent { seq: e.seq, instance, token, result })
            }
            _ => None,
        })
    }

    /// Sealed document sizes at rest after the whole transcript (puts minus deletes).
    pub fn documents_at_rest(&self) -> BTreeMap<DocId, u64> {
        let mut docs = BTreeMap::new();
        for e in self.events.iter().filter(|e| e.status == 200) {
            match &e.observed {
                Observed::PutDocuments { documents } => {
                    for d in documents {
                        docs.insert(d.id, d.bytes);
                    }
                }
                Observed::DeleteDocuments { ids } => {
                    for id in ids {
                        docs.remove(id);
                    }
                }
                _ => {}
            }
        }
        docs
    }

    /// Blind-index postings at rest after the whole transcript: per index,
    /// token value → ids (the at-rest view a database thief gets).
    pub fn blind_index_at_rest(&self) -> BTreeMap<String, BTreeMap<u64, Vec<DocId>>> {
        let mut out: BTreeMap<String, BTreeMap<u64, Vec<DocId>>> = BTreeMap::new();
        for e in self.events.iter().filter(|e| e.status == 200) {
            if let Observed::InsertBlindPostings { index, postings } = &e.observed {
                let idx = out.entry(index.clone()).or_default();
                for (token, ids) in postings {
                    idx.entry(*token).or_default().extend_from_slice(ids);
                }
            }
        }
        for idx in out.values_mut() {
            for ids in idx.values_mut() {
                ids.sort_unstable();
                ids.dedup();
            }
        }
        out
    }

    /// Rebuilds, in memory, the SSE state the server held for `tenant` after
    /// the events before position `until` (all events if `None`): the
    /// attacker's copy of its own database, on which it can rerun
    /// [`crate::sse::server::search`] with tokens it saw earlier.
    ///
    /// # Errors
    /// Store and protocol errors replaying the inserts.
    pub fn replay_store(&self, tenant: &str, until: Option<u64>) -> Result<MemoryStore> {
        let store = MemoryStore::new();
        for e in self.events.iter().filter(|e| e.status == 200 && e.tenant == tenant) {
            if until.is_some_and(|u| e.seq >= u) {
                break;
            }
            match &e.observed {
                Observed::SseCreate { descriptor } => crate::sse::server::create(&store, tenant, descriptor)?,
                Observed::SseInsert { instance, entries } => {
                    // The server accepted these once; write them directly
                    // (no duplicate check needed, and faster).
                    let reader = crate::sse::server::EntryReader::new(&store, tenant, instance);
                    let mut batch = WriteBatch::new();
                    for entry in entries {
                        batch.put(Table::Entries, reader.key(&entry.location), entry.value.clone());
                    }
                    store.write(batch)?;
                }
                _ => {}
            }
        }
        Ok(store)
    }

    /// The canonical form: pseudorandom strings renamed by first appearance,
    /// randomized batches sorted. See the module docs.
    pub fn canonical(&self) -> CanonicalView {
        let shapes: Vec<Shape> = self.events.iter().map(ViewEvent::shape).collect();
        CanonicalView { events: canonicalize(shapes) }
    }
}

/// A view up to renaming of pseudorandom strings; compare with `==`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalView {
    /// One canonical shape per event.
    pub events: Vec<Shape>,
}

impl CanonicalView {
    /// Index and both sides of the first event where two canonical views
    /// differ (`None` if they are equal), for readable test failures.
    pub fn first_difference<'a>(
        &'a self,
        other: &'a CanonicalView,
    ) -> Option<(usize, Option<&'a Shape>, Option<&'a Shape>)> {
        if self == other {
            return None;
        }
        let n = self.events.len().max(other.events.len());
        (0..n)
            .find(|&i| self.events.get(i) != other.events.get(i))
            .map(|i| (i, self.events.get(i), other.events.get(i)))
    }

    /// The shape without names: every pseudorandom string reduced to its
    /// length. Equal shapes mean equal sizes and structure, not equal
    /// equality patterns.
    pub fn erase_names(&self) -> Vec<Shape> {
        self.events.iter().map(Shape::erase_names).collect()
    }
}

/// The structure of an event with pseudorandom strings abstracted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// A pseudorandom string: its canonical name (order of first appearance) and length.
    Name {
        /// Canonical name.
        name: u32,
        /// Length in bytes.
        len: usize,
    },
    /// A pseudorandom string before renaming (only inside canonicalization).
    Raw(Vec<u8>),
    /// A value the server sees in the clear (ids, sizes, names, counts).
    Public(String),
    /// An ordered list.
    List(Vec<Shape>),
    /// A multiset: order carries no information (sorted in canonical form).
    Bag(Vec<Shape>),
    /// A tagged tuple.
    Node(&'static str, Vec<Shape>),
}

impl Shape {
    fn public(v: impl ToString) -> Shape {
        Shape::Public(v.to_string())
    }

    fn raw(bytes: &[u8]) -> Shape {
        Shape::Raw(bytes.to_vec())
    }

    fn ids(ids: &[DocId]) -> Shape {
        Shape::List(ids.iter().map(Shape::public).collect())
    }

    fn documents(docs: &[DocumentSize]) -> Shape {
        Shape::List(
            docs.iter().map(|d| Shape::Node("doc", vec![Shape::public(d.id), Shape::public(d.bytes)])).collect(),
        )
    }

    fn erase_names(&self) -> Shape {
        match self {
            Shape::Name { len, .. } => Shape::Name { name: 0, len: *len },
            Shape::Raw(b) => Shape::Name { name: 0, len: b.len() },
            Shape::Public(p) => Shape::Public(p.clone()),
            Shape::List(v) => Shape::List(v.iter().map(Shape::erase_names).collect()),
            Shape::Bag(v) => {
                let mut v: Vec<Shape> = v.iter().map(Shape::erase_names).collect();
                v.sort();
                Shape::Bag(v)
            }
            Shape::Node(t, v) => Shape::Node(t, v.iter().map(Shape::erase_names).collect()),
        }
    }
}

fn location_shape(l: &EntryLocation) -> Shape {
    // Array positions are chosen by a random permutation, so like labels
    // they are pseudorandom: only their equality matters.
    match l {
        EntryLocation::Dictionary(label) => Shape::Node("dict", vec![Shape::raw(label)]),
        EntryLocation::Array(pos) => Shape::Node("array", vec![Shape::raw(&pos.to_be_bytes())]),
    }
}

fn token_shape(t: &SearchToken) -> Shape {
    let opt = |k: &Option<[u8; 16]>| k.as_ref().map_or(Shape::public("none"), |k| Shape::raw(k));
    match t {
        SearchToken::Dictionary { label_key, value_key } => {
            Shape::Node("dictionary", vec![Shape::raw(label_key), opt(value_key)])
        }
        SearchToken::TwoLevel { label_key, pointer_key, leaf_key } => {
            Shape::Node("two_level", vec![Shape::raw(label_key), Shape::raw(pointer_key), opt(leaf_key)])
        }
        SearchToken::Addresses(a) => {
            Shape::Node("addresses", vec![Shape::List(a.iter().map(|l| Shape::raw(l)).collect())])
        }
        SearchToken::Ggm { nodes, count, hash_key } => Shape::Node(
            "ggm",
            vec![
                Shape::List(
                    nodes
                        .iter()
                        .map(|n| {
                            Shape::Node(
                                "node",
                                vec![Shape::public(n.depth), Shape::public(n.index), Shape::raw(&n.seed)],
                            )
                        })
                        .collect(),
                ),
                Shape::public(count),
                Shape::raw(hash_key),
            ],
        ),
    }
}

fn blind_query_shape(q: &BlindQuery) -> Shape {
    match q {
        BlindQuery::Token(t) => Shape::Node("token", vec![Shape::public(&t.index), Shape::raw(&t.value.to_be_bytes())]),
        BlindQuery::And(v) => Shape::Node("and", v.iter().map(blind_query_shape).collect()),
        BlindQuery::Or(v) => Shape::Node("or", v.iter().map(blind_query_shape).collect()),
    }
}

impl ViewEvent {
    /// The event's structure with pseudorandom strings still raw.
    pub fn shape(&self) -> Shape {
        let body = match &self.observed {
            Observed::PutDocuments { documents } => Shape::Node("put_documents", vec![Shape::documents(documents)]),
            Observed::GetDocuments { ids, returned } => {
                Shape::Node("get_documents", vec![Shape::ids(ids), Shape::documents(returned)])
            }
            Observed::DeleteDocuments { ids } => Shape::Node("delete_documents", vec![Shape::ids(ids)]),
            Observed::InsertBlindPostings { index, postings } => Shape::Node(
                "insert_blind",
                vec![
                    Shape::public(index),
                    Shape::Bag(
                        postings
                            .iter()
                            .map(|(t, ids)| Shape::Node("posting", vec![Shape::raw(&t.to_be_bytes()), Shape::ids(ids)]))
                            .collect(),
                    ),
                ],
            ),
            Observed::BlindSearch { query, ids, documents } => Shape::Node(
                "blind_search",
                vec![blind_query_shape(query), Shape::ids(ids), Shape::documents(documents)],
            ),
            Observed::SseCreate { descriptor } => Shape::Node(
                "sse_create",
                vec![
                    Shape::public(&descriptor.instance),
                    Shape::public(&descriptor.scheme),
                    Shape::public(descriptor.block),
                    Shape::public(descriptor.response_revealing),
                ],
            ),
            Observed::SseInsert { instance, entries } => Shape::Node(
                "sse_insert",
                vec![
                    Shape::public(instance),
                    Shape::Bag(
                        entries
                            .iter()
                            .map(|e| Shape::Node("entry", vec![location_shape(&e.location), Shape::raw(&e.value)]))
                            .collect(),
                    ),
                ],
            ),
            Observed::SseSearch { instance, token, result } => Shape::Node(
                "sse_search",
                vec![
                    Shape::public(instance),
                    token_shape(token),
                    match result {
                        SearchResult::Ids(ids) => Shape::Node("ids", vec![Shape::ids(ids)]),
                        SearchResult::Values(v) => {
                            Shape::Node("values", vec![Shape::List(v.iter().map(|b| Shape::raw(b)).collect())])
                        }
                    },
                ],
            ),
            Observed::Other { request } => Shape::Node("other", vec![Shape::public(request)]),
        };
        Shape::Node("event", vec![Shape::public(&self.tenant), Shape::public(self.status), body])
    }
}

#[derive(Default)]
struct Names {
    names: HashMap<Vec<u8>, u32>,
}

impl Names {
    fn name(&mut self, raw: &[u8]) -> u32 {
        let next = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        *self.names.entry(raw.to_vec()).or_insert(next)
    }
}

/// Pass 1: name raw strings outside bags, in order.
fn name_ordered(shape: &Shape, names: &mut Names) {
    match shape {
        Shape::Raw(b) => {
            names.name(b);
        }
        Shape::List(v) | Shape::Node(_, v) => v.iter().for_each(|s| name_ordered(s, names)),
        Shape::Bag(_) | Shape::Name { .. } | Shape::Public(_) => {}
    }
}

/// Replaces raw strings by their names; `None` where a raw string has no
/// name yet (`fresh` says whether to assign one).
fn rename(shape: &Shape, names: &mut Names, fresh: bool) -> Shape {
    match shape {
        Shape::Raw(b) => match names.names.get(b.as_slice()) {
            Some(&n) => Shape::Name { name: n, len: b.len() },
            None if fresh => Shape::Name { name: names.name(b), len: b.len() },
            // Not named yet: a placeholder that keeps the length.
            None => Shape::Name { name: u32::MAX, len: b.len() },
        },
        Shape::List(v) => Shape::List(v.iter().map(|s| rename(s, names, fresh)).collect()),
        Shape::Node(t, v) => Shape::Node(t, v.iter().map(|s| rename(s, names, fresh)).collect()),
        Shape::Bag(v) => {
            // Sort elements by their partly-named form, then name what is
            // left in that order: the result does not depend on the order
            // the client sent the batch in.
            let mut keyed: Vec<(Shape, &Shape)> = v.iter().map(|s| (rename(s, names, false), s)).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            Shape::Bag(keyed.into_iter().map(|(_, s)| rename(s, names, true)).collect())
        }
        other => other.clone(),
    }
}

fn canonicalize(shapes: Vec<Shape>) -> Vec<Shape> {
    let mut names = Names::default();
    for s in &shapes {
        name_ordered(s, &mut names);
    }
    shapes.iter().map(|s| rename(s, &mut names, true)).collect()
}

/// Where recorded events go.
#[derive(Debug)]
struct Sink {
    events: Vec<ViewEvent>,
    keep_in_memory: bool,
    file: Option<(PathBuf, BufWriter<File>)>,
    next_seq: u64,
}

/// Records a [`ServerView`]; attach it with
/// [`crate::server::Server::with_observer`] (through [`Recorder::observer`]). Cloning shares the recording.
#[derive(Debug, Clone)]
pub struct Recorder {
    sink: Arc<Mutex<Sink>>,
}

impl Recorder {
    /// Records into memory; read it with [`Recorder::view`].
    pub fn memory() -> Self {
        Recorder {
            sink: Arc::new(Mutex::new(Sink { events: Vec::new(), keep_in_memory: true, file: None, next_seq: 0 })),
        }
    }

    /// Appends every event to a JSON-lines file (created or truncated) and
    /// keeps nothing in memory, for a long-running `sseek serve`.
    ///
    /// # Errors
    /// I/O errors creating the file.
    pub fn to_file(path: &Path) -> Result<Self> {
        let file = BufWriter::new(File::create(path).map_err(|e| Error::io(path, e))?);
        Ok(Recorder {
            sink: Arc::new(Mutex::new(Sink {
                events: Vec::new(),
                keep_in_memory: false,
                file: Some((path.to_path_buf(), file)),
                next_seq: 0,
            })),
        })
    }

    /// This recorder as the server's boundary observer; the observer and
    /// `self` share one recording.
    pub fn observer(&self) -> Arc<dyn BoundaryObserver> {
        Arc::new(self.clone())
    }

    /// Records one handled request.
    ///
    /// # Errors
    /// I/O errors writing the file; a poisoned recorder.
    pub fn record(&self, tenant: &str, request: &Request, response: &Response) -> Result<()> {
        let status = match response {
            Response::Error { code, .. } => *code,
            _ => 200,
        };
        let observed = Observed::of(request, response);
        let mut sink = self.sink.lock().map_err(|_| Error::Store("view recorder poisoned".into()))?;
        let event = ViewEvent { seq: sink.next_seq, tenant: tenant.to_owned(), status, observed };
        sink.next_seq += 1;
        if let Some((path, file)) = sink.file.as_mut() {
            let io = |e| Error::io(path.as_path(), e);
            serde_json::to_writer(&mut *file, &event).map_err(|e| io(std::io::Error::other(e)))?;
            file.write_all(b"\n").map_err(io)?;
            // One line per request: flush so a view read while serving is whole.
            file.flush().map_err(io)?;
        }
        if sink.keep_in_memory {
            sink.events.push(event);
        }
        Ok(())
    }

    /// A copy of the events recorded in memory so far.
    pub fn view(&self) -> ServerView {
        self.sink.lock().map(|s| ServerView { events: s.events.clone() }).unwrap_or_default()
    }

    /// Takes the events recorded in memory so far, leaving the recorder empty
    /// (sequence numbers keep counting).
    pub fn take(&self) -> ServerView {
        self.sink.lock().map(|mut s| ServerView { events: std::mem::take(&mut s.events) }).unwrap_or_default()
    }

    /// Number of events recorded so far.
    pub fn len(&self) -> u64 {
        self.sink.lock().map(|s| s.next_seq).unwrap_or(0)
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file events are appended to, if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.sink.lock().ok().and_then(|s| s.file.as_ref().map(|(p, _)| p.clone()))
    }
}

impl BoundaryObserver for Recorder {
    fn observe(&self, tenant: &str, request: &Request, response: &Response) -> Result<()> {
        self.record(tenant, request, response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::sse::{self, MultiMap, SchemeConfig, SseIndex};

    fn entry(label: u8, value: &[u8]) -> EncryptedEntry {
        EncryptedEntry { location: EntryLocation::Dictionary([label; 16]), value: value.to_vec() }
    }

    fn insert(entries: Vec<EncryptedEntry>) -> ViewEvent {
        ViewEvent {
            seq: 0,
            tenant: "t".into(),
            status: 200,
            observed: Observed::SseInsert { instance: "i".into(), entries },
        }
    }

    fn search(addresses: &[u8], values: &[&[u8]]) -> ViewEvent {
        ViewEvent {
            seq: 1,
            tenant: "t".into(),
            status: 200,
            observed: Observed::SseSearch {
                instance: "i".into(),
                token: SearchToken::Addresses(addresses.iter().map(|&a| [a; 16]).collect()),
                result: SearchResult::Values(values.iter().map(|v| v.to_vec()).collect()),
            },
        }
    }

    fn view(events: Vec<ViewEvent>) -> ServerView {
        ServerView { events }
    }

    #[test]
    fn canonical_form_ignores_names_and_batch_order_but_not_equalities() {
        let a = view(vec![insert(vec![entry(1, b"xx"), entry(2, b"yy"), entry(3, b"zz")]), search(&[2], &[b"yy"])]);
        // Other pseudorandom strings, batch in another order: same canonical form.
        let b = view(vec![insert(vec![entry(9, b"qq"), entry(7, b"pp"), entry(8, b"rr")]), search(&[9], &[b"qq"])]);
        assert_eq!(a.canonical(), b.canonical());
        // The search now returns a value that was never stored: an equality is gone.
        let c = view(vec![insert(vec![entry(9, b"qq"), entry(7, b"pp"), entry(8, b"rr")]), search(&[9], &[b"ss"])]);
        assert_ne!(a.canonical(), c.canonical());
        assert!(a.canonical().first_difference(&c.canonical()).is_some());
        // Two stored values are equal: an equality appears.
        let d = view(vec![insert(vec![entry(9, b"qq"), entry(7, b"qq"), entry(8, b"rr")]), search(&[9], &[b"qq"])]);
        assert_ne!(a.canonical(), d.canonical());
        // A longer value changes the shape, and erase_names still sees it.
        let e = view(vec![insert(vec![entry(9, b"qqq"), entry(7, b"pp"), entry(8, b"rr")]), search(&[9], &[b"qqq"])]);
        assert_ne!(a.canonical().erase_names(), e.canonical().erase_names());
        assert_eq!(a.canonical().erase_names(), c.canonical().erase_names());
    }

    #[test]
    fn recorded_view_round_trips_through_json_lines_and_replays() {
        let recorder = Recorder::memory();
        let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
        let scheme = sse::open_client(&MasterKey::generate().unwrap(), "t", &SchemeConfig::new("pibas", "i")).unwrap();
        let mut index = SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme).unwrap();
        let mut db = MultiMap::new();
        db.insert(sse::keyword("body", &["a"]), vec![1, 2, 3]);
        db.insert(sse::keyword("body", &["b"]), vec![2]);
        index.setup(&db).unwrap();
        assert_eq!(index.search_keyword(&sse::keyword("body", &["a"])).unwrap(), vec![1, 2, 3]);
        let view = recorder.view();
        // create, insert, sync, search (describe/sync are "other").
        assert!(
            view.events
                .iter()
                .any(|e| matches!(e.observed, Observed::SseInsert { ref entries, .. } if entries.len() == 4))
        );
        let s = view.searches().next().unwrap();
        assert_eq!(s.result, &SearchResult::Ids(vec![1, 2, 3]));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("view.jsonl");
        view.save(&path).unwrap();
        let back = ServerView::load(&path).unwrap();
        assert_eq!(back, view);

        // The attacker's rebuilt store answers the recorded token the same way.
        let store = back.replay_store("t", None).unwrap();
        let again = crate::sse::server::search(&store, "t", s.instance, s.token).unwrap();
        assert_eq!(&again, s.result);
    }

    #[test]
    fn damaged_view_files_are_refused_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        let good = serde_json::to_string(&search(&[1], &[b"v"])).unwrap();
        std::fs::write(&path, format!("{good}\n\n{{\"seq\": 3, \"tenant\": 5}}\n")).unwrap();
        match ServerView::load(&path) {
            Err(Error::ViewFile { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a ViewFile error, got {other:?}"),
        }
        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        assert!(matches!(ServerView::load(&path), Err(Error::ViewFile { line: 1, .. })));
        std::fs::write(&path, "").unwrap();
        assert!(ServerView::load(&path).unwrap().events.is_empty());
        assert!(matches!(ServerView::load(&dir.path().join("missing")), Err(Error::Io { .. })));
    }

    #[test]
    fn file_recorder_appends_lines_a_reader_can_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.jsonl");
        let recorder = Recorder::to_file(&path).unwrap();
        let server = Server::new(MemoryStore::new()).with_observer(recorder.observer());
        server.handle("t", Request::GetDocuments(vec![4, 5]));
        server.handle("t", Request::Stats);
        let view = ServerView::load(&path).unwrap();
        assert_eq!(view.events.len(), 2);
        assert_eq!(view.events[0].observed, Observed::GetDocuments { ids: vec![4, 5], returned: vec![] });
        assert!(recorder.view().events.is_empty(), "a file recorder keeps nothing in memory");
        assert_eq!(recorder.len(), 2);
    }
}
