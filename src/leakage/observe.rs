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
use crate::protocol::{BlindQuery, DocId, EntryLocation, Label, SearchResult, SearchToken};

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
    ///
    /// Searches that name a stored entry named by an earlier search (Mitra's
    /// growing address lists), or the blocks a rewrite stored right after
    /// an earlier search (Mitra's consolidation: the server sees the blocks
    /// arrive and the searched entries go), get that search's number: the
    /// server links them even though the tokens differ.
    pub fn from_view(view: &ServerView) -> Observation {
        let mut tokens: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut classes = 0u32;
        // Entry labels a search named or a rewrite after it stored, by query number.
        let mut label_class: HashMap<Label, u32> = HashMap::new();
        // Labels stored since the last search, and that search's number.
        let (mut stored_since, mut last): (Vec<Label>, Option<u32>) = (Vec::new(), None);
        let mut queries: Vec<QueryObservation> = Vec::new();
        // Whether the last query already has its fetch.
        let mut fetched = true;
        for e in view.events.iter().filter(|e| e.status == 200) {
            let mut token_number = |bytes: Vec<u8>| {
                *tokens.entry(bytes).or_insert_with(|| {
                    classes += 1;
                    classes - 1
                })
            };
            match &e.observed {
                Observed::SseSearch { token, result, .. } => {
                    let (ids, result_len) = match result {
                        SearchResult::Ids(ids) => (Some(ids.clone()), ids.len()),
                        SearchResult::Values(v) => (None, v.len()),
                    };
                    let labels = entry_labels(token);
                    let linked = labels.iter().find_map(|l| label_class.get(l).copied());
                    let token = match linked {
                        Some(class) => {
                            tokens.entry(crate::protocol::encode(token)).or_insert(class);
                            class
                        }
                        None => token_number(crate::protocol::encode(token)),
                    };
                    for l in labels {
                        label_class.insert(l, token);
                    }
                    (stored_since, last) = (Vec::new(), Some(token));
                    queries.push(QueryObservation { seq: e.seq, token, ids, result_len, documents: Vec::new() });
                    fetched = false;
                }
                Observed::SseInsert { entries, .. } => {
                    stored_since.extend(entries.iter().filter_map(|e| match e.location {
                        EntryLocation::Dictionary(l) => Some(l),
                        EntryLocation::Array(_) => None,
                    }));
                }
                // A rewrite: what was stored since the search takes its number.
                Observed::SseRemove { .. } => {
                    if let Some(class) = last {
                        for l in stored_since.drain(..) {
                            label_class.insert(l, class);
                        }
                    }
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

/// The dictionary labels a Mitra token names (the server derives a packed
/// token's block labels as it does to answer); none for other tokens.
fn entry_labels(token: &SearchToken) -> Vec<Label> {
    match token {
        SearchToken::Addresses(a) => a.clone(),
        SearchToken::PackedAddresses { label_key, blocks, addresses } => {
            let mut labels = crate::primitives::prf::Prf::new(label_key).labels(0, (*blocks).min(1 << 20) as usize);
            labels.extend_from_slice(addresses);
            labels
        }
        _ => Vec::new(),
    }
}

fn blind_query_bytes(q: &BlindQuery) -> Vec<u8> {
    crate::protocol::encode(q)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::keys::MasterKey;
    use crate::leakage::view::Recorder;
    use crate::server::{InProcess, Server};
    use crate::sse::{self, SchemeConfig, SseIndex, Update, UpdateOp};
    use crate::store::MemoryStore;

    /// The query numbers of searches for `a`, `a`, `b`, `a` with adds to `a`
    /// in between, on Mitra with consolidation `consolidate_after`.
    fn numbers(consolidate_after: Option<u32>) -> (Vec<u32>, usize) {
        let recorder = Recorder::memory();
        let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
        let config = SchemeConfig { consolidate_after, ..SchemeConfig::new("mitra", "m") };
        let scheme = sse::open_client(&MasterKey::generate().unwrap(), "t", &config).unwrap();
        let mut index = SseIndex::create(InProcess::new(server, "t"), scheme).unwrap();
        let add = |w: &str, id| Update { op: UpdateOp::Add, keyword: w.as_bytes().to_vec(), id };
        index.update(&[add("a", 1), add("a", 2), add("b", 3)]).unwrap();
        index.search_keyword(b"a").unwrap();
        index.update(&[add("a", 4)]).unwrap();
        index.search_keyword(b"a").unwrap();
        index.search_keyword(b"b").unwrap();
        index.update(&[add("a", 5)]).unwrap();
        assert_eq!(index.search_keyword(b"a").unwrap(), vec![1, 2, 4, 5]);
        let view = recorder.view();
        let rewrites = view.events.iter().filter(|e| matches!(e.observed, Observed::SseRemove { .. })).count();
        (Observation::from_view(&view).queries.iter().map(|q| q.token).collect(), rewrites)
    }

    /// The server links a keyword's searches across growing address lists
    /// and across rewrites into blocks, as it can from what it sees.
    #[test]
    fn searches_of_one_keyword_share_a_number_across_updates_and_rewrites() {
        assert_eq!(numbers(Some(1)), (vec![0, 0, 1, 0], 4));
        assert_eq!(numbers(None), (vec![0, 0, 1, 0], 0));
    }
}
