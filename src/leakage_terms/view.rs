//! The server's view: everything the server receives and sends, as the
//! boundary observer sees it (`crate::protocol::observer`), never client
//! state. These are the types; recording them is the leakage analysis' job
//! (`crate::leakage::view::Recorder`).
//!
//! A [`ServerView`] is a list of [`ViewEvent`]s, one per handled request:
//! tokens, labels and entries exactly as they crossed the boundary, document
//! ids and ciphertext *sizes* (the ciphertext bytes themselves are not kept:
//! no attack here reads them, and they are the bulk of the traffic). Views
//! are saved and loaded as JSON lines (one event per line), so attacks run
//! on views captured elsewhere, including by `sseek serve --record-view`.
//! Their canonical form is in [`super::canonical`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::protocol::{
    BlindPostings, BlindQuery, DocId, EncryptedDocument, EncryptedEntry, EntryLocation, OxtToken, Request, Response,
    SearchResult, SearchToken, SseDescriptor,
};
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
    /// SSE entries deleted by location (after a dynamic client packed a
    /// searched keyword's entries).
    SseRemove {
        /// Instance name.
        instance: String,
        /// The locations, as sent.
        locations: Vec<EntryLocation>,
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
    /// An OXT conjunction and its answer.
    OxtSearch {
        /// Instance name.
        instance: String,
        /// The token: the s-term's TSet keys and the xtokens.
        token: OxtToken,
        /// What the server returned.
        result: SearchResult,
    },
    /// Documents stored with their blind-index postings in one transaction.
    Ingest {
        /// Ids and ciphertext sizes.
        documents: Vec<DocumentSize>,
        /// Per index: token value and ids, in the order sent.
        postings: Vec<BlindPostings>,
    },
    /// Messages deleted with their blind-index postings.
    DeleteMessages {
        /// Ids asked to delete.
        ids: Vec<DocId>,
        /// Per index: token value and the ids removed under it.
        postings: Vec<BlindPostings>,
    },
    /// One batch of a key rotation: documents re-sealed under the new key
    /// version, the old version's postings removed and the new one's added.
    Rotate {
        /// Ids and sizes of the re-sealed documents.
        documents: Vec<DocumentSize>,
        /// Postings removed, per index.
        removed: Vec<BlindPostings>,
        /// Postings added, per index.
        added: Vec<BlindPostings>,
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
            Request::BlindSearch { query, .. } | Request::BlindSearchAt { query, .. } => {
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
            Request::SseRemove { instance, locations, .. } => {
                Observed::SseRemove { instance: instance.clone(), locations: locations.clone() }
            }
            Request::SseSearch { instance, token }
            | Request::SseSearchAt { instance, token, .. }
            | Request::SseSearchFixedIds { instance, token, .. } => {
                Observed::SseSearch {
                    instance: instance.clone(),
                    token: token.clone(),
                    result: match response {
                        Response::SseResult(r) => r.clone(),
                        // The same ids as an `SseResult` would hold: the encoding is no part of the view.
                        Response::SseFixedIds(ids) => SearchResult::Ids(ids.whole_ids().collect()),
                        _ => SearchResult::Ids(Vec::new()),
                    },
                }
            }
            Request::OxtSearch { instance, token, .. } => Observed::OxtSearch {
                instance: instance.clone(),
                token: token.clone(),
                result: match response {
                    Response::SseResult(r) => r.clone(),
                    _ => SearchResult::Values(Vec::new()),
                },
            },
            Request::PutSchema(_) => other("put_schema"),
            Request::GetSchema => other("get_schema"),
            Request::Sync => other("sync"),
            Request::Stats => other("stats"),
            Request::SseDescribe { .. } => other("sse_describe"),
            Request::ListDocumentIds { .. } => other("list_document_ids"),
            Request::IndexStats { .. } => other("index_stats"),
            Request::ReserveDocumentIds { .. } => other("reserve_document_ids"),
            Request::Tombstones => other("tombstones"),
            Request::CreateSchema { .. } => other("create_schema"),
            Request::GetTaggedSchema => other("get_tagged_schema"),
            Request::GetClientState { .. } => other("get_client_state"),
            Request::PutClientState { .. } => other("put_client_state"),
            Request::GetKeyEpoch => other("get_key_epoch"),
            Request::SseSwap { .. } => other("sse_swap"),
            Request::SseDrop { .. } => other("sse_drop"),
            Request::BeginRotation { .. } => other("begin_rotation"),
            Request::FinishRotation { .. } => other("finish_rotation"),
            Request::RotateDocuments { documents, remove, add, .. } => Observed::Rotate {
                documents: documents.iter().map(DocumentSize::of).collect(),
                removed: remove.clone(),
                added: add.clone(),
            },
            Request::Ingest(batch) | Request::IngestAt { batch, .. } => Observed::Ingest {
                documents: batch.documents.iter().map(DocumentSize::of).collect(),
                postings: batch.postings.clone(),
            },
            Request::DeleteMessages { ids, postings } => {
                Observed::DeleteMessages { ids: ids.clone(), postings: postings.clone() }
            }
        }
    }
}

impl Observed {
    /// The blind-index postings this event added, per index (an insert of
    /// postings, or an ingest batch); empty for any other event.
    pub fn postings_added(&self) -> Vec<(&str, &Postings)> {
        match self {
            Observed::InsertBlindPostings { index, postings } => vec![(index.as_str(), postings)],
            Observed::Ingest { postings, .. } | Observed::Rotate { added: postings, .. } => {
                postings.iter().map(|p| (p.index.as_str(), &p.postings)).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Postings of one index as they cross the boundary: token value and ids.
pub type Postings = Vec<(u64, Vec<DocId>)>;

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
    /// [`crate::Error::ViewFile`] naming the line that does not parse; I/O errors.
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
                Observed::PutDocuments { documents } | Observed::Ingest { documents, .. } => {
                    for d in documents {
                        docs.insert(d.id, d.bytes);
                    }
                }
                Observed::DeleteDocuments { ids } | Observed::DeleteMessages { ids, .. } => {
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
        let mut at_rest: BTreeMap<String, BTreeMap<u64, BTreeSet<DocId>>> = BTreeMap::new();
        for e in self.events.iter().filter(|e| e.status == 200) {
            for (index, postings) in e.observed.postings_added() {
                let idx = at_rest.entry(index.to_owned()).or_default();
                for (token, ids) in postings {
                    idx.entry(*token).or_default().extend(ids);
                }
            }
            let Observed::DeleteMessages { postings, .. } = &e.observed else { continue };
            for p in postings {
                let Some(idx) = at_rest.get_mut(&p.index) else { continue };
                for (token, ids) in &p.postings {
                    if let Some(list) = idx.get_mut(token) {
                        for id in ids {
                            list.remove(id);
                        }
                        if list.is_empty() {
                            idx.remove(token);
                        }
                    }
                }
            }
        }
        at_rest
            .into_iter()
            .map(|(index, lists)| (index, lists.into_iter().map(|(t, ids)| (t, ids.into_iter().collect())).collect()))
            .collect()
    }
}
