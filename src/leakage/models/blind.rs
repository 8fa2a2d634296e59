//! Declared leakage of blind indexes, at rest and queried.
//!
//! A workload's keywords must be `body` keywords (`sse::keyword("body",
//! &[word])`); document `i` is a message whose body is its words, for every
//! id from 0 to the largest id of the database (ids without keywords get an
//! empty body, because the client assigns dense ids).
//!
//! - At rest (`L_setup`, a database thief with no queries): the number of
//!   documents and their ciphertext sizes, and every token's posting list:
//!   the multiset of `DB(w)`, hence all frequencies and co-occurrences. This
//!   is exact for 64-bit tokens; with `t`-bit tokens the lists of colliding
//!   keywords are merged, which depends on the key, so it is a function of
//!   the plaintext only as a distribution (the laws use 64 bits, and the
//!   2-bit index is a negative control, `crate::leakage::controls`).
//! - Per query (`L_search`): the search pattern, the candidate set (`DB(w)`
//!   at 64 bits) and the volume (ids and ciphertext sizes returned).

pub use crate::blind::leakage::{AT_REST, QUERIED};
use std::collections::BTreeMap;
use std::sync::Arc;

use rand::RngCore;

use crate::client::Client;
use crate::keys::MasterKey;
use crate::leakage::profile::{
    Leak, LeakValue, LeakageModel, OperationKind, OperationLeakage, Profile, TENANT, Trace, ViewBuilder, Workload,
    first_occurrence,
};
use crate::leakage::view::{DocumentSize, Observed, Recorder, ServerView};
use crate::message::{Field, Message};
use crate::protocol::{BlindPostings, BlindQuery, BlindToken, DocId, IndexDescriptor};
use crate::query::Query;
use crate::server::InProcess;
use crate::server::Server;
use crate::store::MemoryStore;
use crate::text::Tokenizer;
use crate::{Error, Result};

/// The blind index the laws use: one `body` index.
pub const INDEX: &str = "body";

/// The word of a `body` keyword.
///
/// # Errors
/// [`Error::Config`] for a keyword of another index or arity.
pub fn body_word(keyword: &[u8]) -> Result<String> {
    let bad = || Error::Config("leakage workloads use keywords sse::keyword(\"body\", &[word])".into());
    let mut parts = Vec::new();
    let mut rest = keyword;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(bad());
        }
        parts.push(std::str::from_utf8(&tail[..len]).map_err(|_| bad())?.to_owned());
        rest = &tail[len..];
    }
    match parts.as_slice() {
        [index, word] if index == INDEX => Ok(word.clone()),
        _ => Err(bad()),
    }
}

/// The messages of a workload: document `i` (0 up to the largest id) has
/// its words as body, in keyword order.
///
/// # Errors
/// [`Error::Config`] for keywords that are not `body` keywords.
pub fn messages(workload: &Workload) -> Result<Vec<Message>> {
    let docs = workload.documents();
    let Some(&last) = docs.keys().next_back() else { return Ok(Vec::new()) };
    (0..=last)
        .map(|id| {
            let words = docs.get(&id).map(Vec::as_slice).unwrap_or_default();
            let body = words.iter().map(|k| body_word(k)).collect::<Result<Vec<_>>>()?.join(" ");
            Ok(Message { body, ..Default::default() })
        })
        .collect()
}

/// The sealed size of a message: its postcard encoding plus the 16-byte
/// tag (see [`crate::envelope::DocumentCipher::seal`]).
///
/// # Errors
/// [`Error::Crypto`] if the message does not encode.
pub fn sealed_size(message: &Message) -> Result<u64> {
    let encoded = postcard::to_stdvec(message).map_err(|e| Error::Crypto(format!("encode message: {e}")))?;
    Ok(encoded.len() as u64 + 16)
}

/// Ciphertext sizes of the workload's documents, by id.
///
/// # Errors
/// As [`messages`].
pub fn document_sizes(workload: &Workload) -> Result<BTreeMap<DocId, u64>> {
    messages(workload)?.iter().zip(0..).map(|(m, id)| Ok((id, sealed_size(m)?))).collect()
}

/// A term query on the `body` index.
///
/// # Errors
/// As [`body_word`].
pub fn body_query(keyword: &[u8]) -> Result<Query> {
    Ok(Query::Term { index: INDEX.to_owned(), values: vec![body_word(keyword)?] })
}

/// Sizes out of a trace value.
fn sizes_of(value: Option<&LeakValue>, what: &str) -> Result<BTreeMap<DocId, u64>> {
    match value {
        Some(LeakValue::Sizes(s)) => Ok(s.clone()),
        _ => Err(Error::Config(format!("trace: no {what}"))),
    }
}

fn documents(sizes: &BTreeMap<DocId, u64>) -> Vec<DocumentSize> {
    sizes.iter().map(|(&id, &bytes)| DocumentSize { id, bytes }).collect()
}

/// A blind index with one `body` index of `bits`-bit tokens, queried or at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlindModel {
    /// Token length in bits; the declared leakage is exact for 64 (see the module docs).
    pub bits: u8,
    /// Whether the owner's searches run (`false`: the at-rest view of a thief).
    pub queried: bool,
}

impl BlindModel {
    /// 64-bit tokens, queried.
    pub fn queried() -> Self {
        BlindModel { bits: 64, queried: true }
    }

    /// 64-bit tokens, at rest.
    pub fn at_rest() -> Self {
        BlindModel { bits: 64, queried: false }
    }
}

impl LeakageModel for BlindModel {
    fn profile(&self) -> Profile {
        if self.queried { QUERIED } else { AT_REST }
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        if workload.has_updates() {
            return Err(Error::Config("blind-index workloads add documents at setup only".into()));
        }
        let sizes = document_sizes(workload)?;
        let lists: Vec<&Vec<DocId>> = workload.db.values().filter(|ids| !ids.is_empty()).collect();
        let mut trace = Trace::new(self.profile().scheme);
        trace.setup = vec![
            (Leak::DocumentCount, LeakValue::Count(sizes.len() as u64)),
            (Leak::DocumentSizes, LeakValue::Sizes(sizes.clone())),
            (Leak::FrequenciesAtRest, LeakValue::bag(lists.iter().map(|l| LeakValue::Count(l.len() as u64)).collect())),
            (Leak::CoOccurrenceAtRest, LeakValue::bag(lists.iter().map(|l| LeakValue::Ids(l.to_vec())).collect())),
        ];
        if self.queried {
            let searches: Vec<&Vec<u8>> = workload.searches().collect();
            for (class, keyword) in first_occurrence(searches.iter().copied()).into_iter().zip(searches) {
                let ids = workload.db.get(keyword).cloned().unwrap_or_default();
                let volume = ids.iter().filter_map(|id| sizes.get(id).map(|s| (*id, *s))).collect();
                trace.operations.push(OperationLeakage {
                    kind: OperationKind::Search,
                    values: vec![
                        (Leak::SearchPattern, LeakValue::Pattern(class)),
                        (Leak::CandidateSet, LeakValue::Ids(ids)),
                        (Leak::Volume, LeakValue::Sizes(volume)),
                    ],
                });
            }
        }
        Ok(trace)
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        let sizes = sizes_of(trace.setup_value(Leak::DocumentSizes), "document sizes")?;
        let Some(LeakValue::Bag(lists)) = trace.setup_value(Leak::CoOccurrenceAtRest) else {
            return Err(Error::Config("trace: no posting lists".into()));
        };
        let mut view = ViewBuilder::new();
        view.other("get_key_epoch");
        view.other("get_tagged_schema");
        view.other("create_schema");
        view.other("reserve_document_ids");
        let postings: Vec<(u64, Vec<DocId>)> = lists
            .iter()
            .map(|l| match l {
                LeakValue::Ids(ids) => Ok((rng.next_u64(), ids.clone())),
                _ => Err(Error::Config("trace: a posting list that is not ids".into())),
            })
            .collect::<Result<_>>()?;
        // A search's token is the token of its posting list at rest: each
        // class takes an unclaimed posting with its candidate ids (lists
        // that are equal are interchangeable), or a fresh token if none.
        let mut unclaimed: Vec<(u64, Vec<DocId>)> = postings.clone();
        if !sizes.is_empty() {
            // One ingest batch: the documents with their postings.
            let postings = if postings.is_empty() {
                Vec::new()
            } else {
                vec![BlindPostings { index: INDEX.to_owned(), postings }]
            };
            view.push(Observed::Ingest { documents: documents(&sizes), postings });
        }
        let mut tokens: BTreeMap<u32, u64> = BTreeMap::new();
        for op in &trace.operations {
            let class = match op.get(Leak::SearchPattern) {
                Some(LeakValue::Pattern(c)) => *c,
                _ => return Err(Error::Config("trace: a search without its search pattern".into())),
            };
            let Some(LeakValue::Ids(ids)) = op.get(Leak::CandidateSet) else {
                return Err(Error::Config("trace: a search without its candidates".into()));
            };
            let volume = sizes_of(op.get(Leak::Volume), "volume")?;
            let value = match tokens.get(&class) {
                Some(&v) => v,
                None => {
                    let v = match unclaimed.iter().position(|(_, l)| l == ids) {
                        Some(i) => unclaimed.swap_remove(i).0,
                        None => rng.next_u64(),
                    };
                    tokens.insert(class, v);
                    v
                }
            };
            view.push(Observed::BlindSearch {
                query: BlindQuery::Token(BlindToken { index: INDEX.to_owned(), value }),
                ids: ids.clone(),
                documents: documents(&volume),
            });
        }
        Ok(view.finish())
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        let recorder = Recorder::memory();
        let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
        let mut client =
            Client::connect(MasterKey::generate()?, TENANT, InProcess::new(server, TENANT), Tokenizer::default())?;
        client.create_schema(vec![IndexDescriptor {
            name: INDEX.to_owned(),
            fields: vec![Field::Body],
            bits: self.bits,
        }])?;
        client.add_messages(&messages(workload)?, None)?;
        if self.queried {
            for k in workload.searches() {
                client.search(&body_query(k)?)?;
            }
        }
        Ok(recorder.view())
    }
}
