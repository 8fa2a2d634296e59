//! Per-query leakage read off a [`ServerView`]: the search pattern, the
//! access pattern, result lengths and volumes, as an attacker holding the
//! view reconstructs them. Attacks take an [`Observation`], never client state.
//!
//! A document fetch that follows a search (before the next search, same
//! tenant) is attributed to that search: in a messaging app the client opens
//! what it found, and the server sees both in sequence.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::leakage::view::{DocumentSize, Observed, ServerView};
use crate::protocol::{BlindQuery, DocId, SearchResult};

/// One query as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryObservation {
    /// Position of the search in the view.
    pub seq: u64,
    /// Search pattern: queries with equal tokens get equal numbers (0, 1, ... by first appearance).
    pub token: u32,
    /// Access pattern: ids the server returned (response-revealing schemes,
    /// blind candidates) or, failing that, the ids the client fetched right
    /// after; `None` if the server saw neither.
    pub ids: Option<Vec<DocId>>,
    /// Entries or ids the search returned: the result length the server sees
    /// (padded, for padded or response-hiding schemes).
    pub result_len: usize,
    /// Documents fetched for this query with their ciphertext sizes.
    pub documents: Vec<DocumentSize>,
}

impl QueryObservation {
    /// Total ciphertext bytes fetched for this query (the response volume).
    pub fn volume(&self) -> u64 {
        // Saturating: sizes in a loaded view are untrusted.
        self.documents.iter().fold(0u64, |a, d| a.saturating_add(d.bytes))
    }
}

/// Everything the attacks read off one tenant's view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observation {
    /// Ciphertext size of every document at rest, by id.
    pub documents: BTreeMap<DocId, u64>,
    /// The searches, in order.
    pub queries: Vec<QueryObservation>,
}

impl Observation {
    /// Reads the per-query leakage off `view` (all tenants in it; filter
    /// with [`ServerView::tenant`] first for one).
    pub fn from_view(view: &ServerView) -> Observation {
        let mut tokens: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut queries: Vec<QueryObservation> = Vec::new();
        // Whether the last query already has its fetch.
        let mut fetched = true;
        for e in view.events.iter().filter(|e| e.status == 200) {
            let mut token_number = |bytes: Vec<u8>| {
                let next = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
                *tokens.entry(bytes).or_insert(next)
            };
            match &e.observed {
                Observed::SseSearch { token, result, .. } => {
                    let (ids, result_len) = match result {
                        SearchResult::Ids(ids) => (Some(ids.clone()), ids.len()),
                        SearchResult::Values(v) => (None, v.len()),
                    };
                    let token = token_number(crate::protocol::encode(token));
                    queries.push(QueryObservation { seq: e.seq, token, ids, result_len, documents: Vec::new() });
                    fetched = false;
                }
                Observed::BlindSearch { query, ids, documents } => {
                    let token = token_number(blind_query_bytes(query));
                    queries.push(QueryObservation {
                        seq: e.seq,
                        token,
                        ids: Some(ids.clone()),
                        result_len: ids.len(),
                        documents: documents.clone(),
                    });
                    fetched = !documents.is_empty();
                }
                Observed::GetDocuments { ids, returned } if !fetched => {
                    if let Some(q) = queries.last_mut() {
                        if q.ids.is_none() {
                            q.ids = Some(ids.clone());
                        }
                        q.documents = returned.clone();
                    }
                    fetched = true;
                }
                _ => {}
            }
        }
        Observation { documents: view.documents_at_rest(), queries }
    }
}

fn blind_query_bytes(q: &BlindQuery) -> Vec<u8> {
    crate::protocol::encode(q)
}
