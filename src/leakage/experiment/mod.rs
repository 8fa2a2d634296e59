//! Attack experiments: run a real scheme on a corpus with the server's view
//! recorded, then run attacks on that view with a stated amount of
//! auxiliary knowledge, and score their guesses against the truth (which
//! only this module holds).
//!
//! Protocol (as in the literature, CGPR CCS'15 and BKM NDSS'20):
//! - keywords are the `body` words of each message (stop words removed);
//!   the index holds all of them;
//! - candidates are the `keywords` most frequent ones ([`Selection::Frequent`]),
//!   or the most frequent of those in at most 1% of the messages
//!   ([`Selection::Selective`], the high-selectivity variant);
//! - `queries` distinct candidates are queried, drawn uniformly or weighted
//!   by frequency; each query searches, then fetches the result documents
//!   (the client opens what it found, dropping padding fillers);
//! - the attacker knows a random `known` fraction of the messages (their
//!   keywords and ciphertext sizes, by id) and, for the known-query
//!   variants, the keyword of a few queries;
//! - the recovery rate is the fraction of queries (not given to the
//!   attacker as known) whose keyword it guesses right; for the frequency
//!   attack at rest, the fraction of candidate keywords whose token it maps right.
//!
//! One [`Scenario`] (scheme, countermeasure, seed) is built once and every
//! attack and known fraction runs on its view.

// Document ids and candidate indexes fit u32: corpora are refused at 2^28
// messages (below the dummy-id range), candidates are a few thousand.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::blind::planner::plan_for_corpus;
use crate::client::Client;
use crate::envelope::DocumentCipher;
use crate::keys::MasterKey;
use crate::leakage::countermeasure::{self, Countermeasure, Filler};
use crate::leakage::observe::Observation;
use crate::leakage::view::{Recorder, ServerView};
use crate::message::IndexSpec;
use crate::message::{Field, Message};
use crate::protocol::expect_ok;
use crate::protocol::transport::Transport;
use crate::protocol::{DocId, IndexDescriptor, Request, Response};
use crate::query::Query;
use crate::server::InProcess;
use crate::server::Server;
use crate::sse::registry::{SchemeKind, variant};
use crate::sse::{self, MultiMap, SseIndex, Update, UpdateOp};
use crate::store::MemoryStore;
use crate::text::Tokenizer;
use crate::{Error, Result, datasets};

pub mod conjunctive;
mod scoring;
pub mod shard;

pub use scoring::{keyword_recovery, knowledge, known_documents, query_recovery};

/// The tenant of every experiment.
pub const TENANT: &str = "victim";
/// The index (field) keywords come from.
pub const INDEX: &str = "body";
/// Pseudo-scheme name of the blind index in experiments.
pub const BLIND: &str = "blind";
/// Messages sealed and sent per request.
const PUT_CHUNK: usize = 2_000;

/// How candidate keywords are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The most frequent keywords.
    Frequent,
    /// The most frequent keywords among those in at most 1% of the messages.
    Selective,
}

/// How queries are drawn from the candidates (distinct keywords either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum QueryDistribution {
    /// Uniformly.
    Uniform,
    /// Weighted by document frequency.
    Frequency,
}

/// A corpus prepared for attacks: messages and each one's body keywords.
#[derive(Debug, Clone)]
pub struct AttackCorpus {
    /// Dataset name.
    pub name: String,
    /// Messages; message `i` gets document id `i`.
    pub messages: Vec<Message>,
    /// Body keywords of each message.
    pub keywords: Vec<BTreeSet<String>>,
}

impl AttackCorpus {
    /// Loads a dataset (as `sseek demo --dataset` takes it).
    ///
    /// # Errors
    /// Dataset errors; an empty corpus.
    pub fn load(spec: &str) -> Result<Self> {
        let corpus = datasets::load(spec)?;
        Self::from_messages(&corpus.name, corpus.messages)
    }

    /// Prepares messages.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty corpus or more than 2^28 messages.
    pub fn from_messages(name: &str, messages: Vec<Message>) -> Result<Self> {
        if messages.is_empty() || messages.len() >= countermeasure::DUMMY_BASE as usize {
            return Err(Error::Config(format!("attack corpus of {} messages", messages.len())));
        }
        let tokenizer = Tokenizer::default();
        let keywords = messages.par_iter().map(|m| tokenizer.keywords(&m.body)).collect();
        Ok(AttackCorpus { name: name.to_owned(), messages, keywords })
    }

    /// Document frequency of every keyword.
    pub fn frequencies(&self) -> HashMap<&str, u32> {
        let mut f: HashMap<&str, u32> = HashMap::new();
        for ks in &self.keywords {
            for k in ks {
                *f.entry(k.as_str()).or_default() += 1;
            }
        }
        f
    }

    /// The candidate keywords: `n` of them by `selection`, most frequent
    /// first (ties by the word).
    pub fn candidates(&self, n: usize, selection: Selection) -> Vec<String> {
        let freq = self.frequencies();
        let cap = match selection {
            Selection::Frequent => u32::MAX,
            Selection::Selective => u32::try_from(self.messages.len() / 100).unwrap_or(u32::MAX).max(2),
        };
        let mut words: Vec<(&str, u32)> = freq.into_iter().filter(|&(_, f)| f <= cap).collect();
        words.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        words.into_iter().take(n).map(|(w, _)| w.to_owned()).collect()
    }

    /// The plaintext multimap of the body index (what a scheme indexes).
    #[allow(clippy::cast_possible_truncation)] // ids and candidate indexes are below the corpus size, which fits DocId (u32)
    pub fn multimap(&self) -> MultiMap {
        let mut db: HashMap<&str, Vec<DocId>> = HashMap::new();
        for (id, ks) in self.keywords.iter().enumerate() {
            for k in ks {
                db.entry(k.as_str()).or_default().push(id as DocId);
            }
        }
        db.into_iter().map(|(k, ids)| (sse::keyword(INDEX, &[k]), ids)).collect()
    }
}

/// What a countermeasure cost in one scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    /// Keyword-document pairs of the plaintext index.
    pub pairs: u64,
    /// Pairs actually indexed (with padding fillers).
    pub indexed_pairs: u64,
    /// Sealed document bytes at rest.
    pub document_bytes: u64,
    /// Sealed document bytes at rest without size padding.
    pub unpadded_document_bytes: u64,
    /// Mean bytes the server returned per query (search answer and documents).
    pub bytes_per_query: f64,
    /// Mean documents fetched per query that the client then discards
    /// (padding fillers, blind-index false positives).
    pub discarded_per_query: f64,
    /// Mean wall time per query (search, fetch, decrypt, filter), ms.
    pub ms_per_query: f64,
    /// Index setup wall time, s.
    pub setup_seconds: f64,
    /// Queries whose filtered result differed from the plaintext oracle (must be 0).
    pub mismatches: u64,
}

impl Cost {
    /// Extra indexed pairs over the plaintext index, in percent.
    pub fn extra_pairs_pct(&self) -> f64 {
        pct(self.indexed_pairs, self.pairs)
    }

    /// Extra document bytes at rest, in percent.
    pub fn extra_document_bytes_pct(&self) -> f64 {
        pct(self.document_bytes, self.unpadded_document_bytes)
    }
}

fn pct(with: u64, without: u64) -> f64 {
    if without == 0 { 0.0 } else { (with as f64 / without as f64 - 1.0) * 100.0 }
}

/// One scheme run on the corpus with recording on.
#[derive(Debug)]
pub struct Scenario {
    /// Scheme variant (`sseek demo` names) or [`BLIND`].
    pub scheme: String,
    /// Countermeasure applied.
    pub countermeasure: Countermeasure,
    /// Seed of the query draw and padding.
    pub seed: u64,
    /// Candidate keywords.
    pub candidates: Vec<String>,
    /// The keyword (candidate index) of each query, in order: the truth.
    pub truth: Vec<u32>,
    /// What the server saw.
    pub view: ServerView,
    /// Per-query leakage read off the view.
    pub observation: Observation,
    /// Costs.
    pub cost: Cost,
    /// Blind index only: the true token of each candidate (for scoring the frequency attack).
    pub candidate_tokens: Option<Vec<u64>>,
    /// Sealed size of every document (what a known plaintext seals to).
    pub document_sizes: Vec<u64>,
    /// Handle for active attacks (injection) on this scenario.
    pub active: Option<ActiveScenario>,
}

/// A scenario kept open so an active attacker can make the victim store
/// more messages (file injection) through the scheme's real update path.
pub struct ActiveScenario {
    master: MasterKey,
    recorder: Recorder,
    index: ActiveIndex,
    next_id: DocId,
    size_bucket: u64,
}

enum ActiveIndex {
    Blind(Box<Client<InProcess<MemoryStore>>>),
    Sse(Box<SseIndex<InProcess<MemoryStore>>>, Arc<Server<MemoryStore>>),
}

impl std::fmt::Debug for ActiveScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveScenario").field("next_id", &self.next_id).finish_non_exhaustive()
    }
}

impl ActiveScenario {
    /// Delivers messages to the victim (as anyone can in a messaging app):
    /// they are sealed, stored and indexed like the victim's own. Returns
    /// their ids, and the view recorded since the scenario was built
    /// (everything, including the experiment's own queries).
    ///
    /// # Errors
    /// [`Error::Config`] for a static scheme (it takes no updates); transport errors.
    #[allow(clippy::cast_possible_truncation)] // ids and candidate indexes are below the corpus size, which fits DocId (u32)
    pub fn inject(&mut self, messages: &[Message]) -> Result<Vec<DocId>> {
        let first = self.next_id;
        match &mut self.index {
            ActiveIndex::Blind(client) => {
                let range = client.add_messages(messages, None)?;
                self.next_id = range.end;
                Ok(range.collect())
            }
            ActiveIndex::Sse(index, server) => {
                let transport = InProcess::new(Arc::clone(server), TENANT);
                let cipher = DocumentCipher::new(&self.master, TENANT, 1)?;
                let tokenizer = Tokenizer::default();
                let mut updates = Vec::new();
                let mut docs = Vec::new();
                for (i, m) in messages.iter().enumerate() {
                    let id = first + i as DocId;
                    docs.push(cipher.seal_padded(id, m, self.size_bucket)?);
                    for k in tokenizer.keywords(&m.body) {
                        updates.push(Update { op: UpdateOp::Add, keyword: sse::keyword(INDEX, &[&k]), id });
                    }
                }
                expect_ok(transport.call(&Request::PutDocuments(docs))?)?;
                index.update(&updates)?;
                self.next_id = first + messages.len() as DocId;
                Ok((first..self.next_id).collect())
            }
        }
    }

    /// Everything the server saw so far.
    pub fn view(&self) -> ServerView {
        self.recorder.view()
    }
}

/// How to build a scenario.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    /// Scheme variant or [`BLIND`].
    pub scheme: String,
    /// Countermeasure.
    pub countermeasure: Countermeasure,
    /// Candidate keywords.
    pub keywords: usize,
    /// Candidate selection.
    pub selection: Selection,
    /// Queries issued.
    pub queries: usize,
    /// Query distribution.
    pub distribution: QueryDistribution,
    /// Seed.
    pub seed: u64,
    /// Keep the scenario open for an active attacker (dynamic schemes and blind only).
    pub active: bool,
}

/// Whether a scheme variant takes updates (so file injection applies).
pub fn is_dynamic(scheme: &str) -> bool {
    scheme == BLIND || variant(scheme).is_ok_and(|v| v.scheme.kind() == SchemeKind::Dynamic)
}

/// Builds a scenario: seals and stores the corpus, sets up the scheme (with
/// the countermeasure), runs the query workload, checks every filtered
/// result against the plaintext, and captures the view.
///
/// # Errors
/// Configuration, scheme and transport errors.
#[allow(clippy::cast_possible_truncation)] // ids and candidate indexes are below the corpus size, which fits DocId (u32)
pub fn build_scenario(corpus: &AttackCorpus, config: &ScenarioConfig) -> Result<Scenario> {
    let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
    let candidates = corpus.candidates(config.keywords, config.selection);
    if candidates.is_empty() {
        return Err(Error::Config("no candidate keywords in the corpus".into()));
    }
    let truth = draw_queries(corpus, &candidates, config.queries, config.distribution, &mut rng);
    let recorder = Recorder::memory();
    let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
    let master = MasterKey::generate()?;
    let size_bucket = match config.countermeasure {
        Countermeasure::Size(b) => b,
        _ => 1,
    };
    let plain_db = corpus.multimap();
    let padding = config.countermeasure.padding();
    let pairs = sse::pair_count(&plain_db) as u64;
    let started = Instant::now();

    // Document sizes the attacker could compute for known plaintexts.
    let cipher = DocumentCipher::new(&master, TENANT, 1)?;
    // Unpadded document bytes: `None` when documents are not padded (the
    // sizes at rest, read off the view below, are then the unpadded ones).
    let (active_index, candidate_tokens, indexed_pairs, unpadded_bytes) = if config.scheme == BLIND {
        if size_bucket > 1 {
            return Err(Error::Config("size buckets are not implemented for the blind-index client".into()));
        }
        let mut client =
            Client::connect(master.clone(), TENANT, InProcess::new(Arc::clone(&server), TENANT), Tokenizer::default())?;
        let terms = client.terms(&corpus.messages);
        let spec = IndexSpec::single(Field::Body);
        let bits = match config.countermeasure {
            Countermeasure::Bits(b) => b,
            Countermeasure::None => {
                plan_for_corpus(&terms, std::slice::from_ref(&spec), 25.0, 2.0, 1.0).first().map_or(24, |(d, _)| d.bits)
            }
            other => return Err(Error::Config(format!("countermeasure {other} does not apply to the blind index"))),
        };
        let descriptor = IndexDescriptor { name: INDEX.into(), fields: vec![Field::Body], bits };
        client.create_schema(vec![descriptor.clone()])?;
        client.add_messages_with_terms(&corpus.messages, &terms, None)?;
        let indexer = crate::blind::client::BlindIndexer::new(&master, TENANT, 1, &[descriptor])?;
        let tokens = candidates.iter().map(|w| indexer.token_at(0, &[w.as_str()])).collect();
        (ActiveIndex::Blind(Box::new(client)), Some(tokens), pairs, None)
    } else {
        let transport = InProcess::new(Arc::clone(&server), TENANT);
        let unpadded = put_documents(&transport, &cipher, &corpus.messages, size_bucket)?;
        let db = if padding == countermeasure::Padding::None {
            plain_db.clone()
        } else {
            // Fillers are real other messages: the client fetches and drops
            // them, so the access pattern is padded too, not only the length.
            let all: Vec<DocId> = (0..corpus.messages.len() as DocId).collect();
            countermeasure::pad(&plain_db, padding, &Filler::Documents(all), &mut rng)
        };
        let mut sconfig = crate::demo::variant_config(&config.scheme)?;
        sconfig.instance = config.scheme.clone();
        let scheme = sse::open_client(&master, TENANT, &sconfig)?;
        let mut index = SseIndex::create(InProcess::new(Arc::clone(&server), TENANT), scheme)?;
        index.setup(&db)?;
        (ActiveIndex::Sse(Box::new(index), Arc::clone(&server)), None, sse::pair_count(&db) as u64, Some(unpadded))
    };
    let setup_seconds = started.elapsed().as_secs_f64();

    // The query workload, checked against the plaintext.
    let mut active = ActiveScenario {
        master: master.clone(),
        recorder: recorder.clone(),
        index: active_index,
        next_id: corpus.messages.len() as DocId,
        size_bucket,
    };
    let db_of = |w: &str| plain_db.get(&sse::keyword(INDEX, &[w])).cloned().unwrap_or_default();
    let (mut mismatches, mut discarded, mut bytes, mut elapsed) = (0u64, 0u64, 0u64, 0f64);
    let transport = InProcess::new(Arc::clone(&server), TENANT);
    for &q in &truth {
        let word = candidates[q as usize].as_str();
        let before = transport.traffic();
        let t = Instant::now();
        let (found, dropped, traffic) = match &mut active.index {
            ActiveIndex::Blind(client) => {
                // Candidates first, then the same fetch-open-filter path as
                // SSE (Client::search does both in one request and
                // re-tokenizes every candidate, which only costs time here).
                let before = client.traffic();
                let query = Query::parse(&format!("{INDEX}:{word}"), client.specs(), client.tokenizer())?;
                let ids = client.candidates(&query)?;
                let (kept, dropped) = fetch_and_filter(&transport, &cipher, &ids, word, corpus)?;
                (kept, dropped, client.traffic() - before)
            }
            ActiveIndex::Sse(index, _) => {
                let before_index = index.traffic();
                let ids = index.search_keyword(&sse::keyword(INDEX, &[word]))?;
                let ids: Vec<DocId> = ids.into_iter().filter(|&id| !countermeasure::is_dummy(id)).collect();
                if padding == countermeasure::Padding::None && ids != db_of(word) {
                    // Without fillers the scheme's own answer must be exact.
                    mismatches += 1;
                }
                let (kept, dropped) = fetch_and_filter(&transport, &cipher, &ids, word, corpus)?;
                (kept, dropped, index.traffic() - before_index)
            }
        };
        elapsed += t.elapsed().as_secs_f64();
        bytes += traffic.bytes_received + (transport.traffic() - before).bytes_received;
        discarded += dropped;
        if found != db_of(word) {
            mismatches += 1;
        }
    }
    let view = recorder.view();
    let observation = Observation::from_view(&view);
    let n = truth.len().max(1) as f64;
    // Message i is document i: the sizes at rest, in id order, are what
    // sealing each known plaintext gives the attacker.
    let document_sizes: Vec<u64> = view.documents_at_rest().into_values().collect();
    let document_bytes = document_sizes.iter().sum();
    let cost = Cost {
        pairs,
        indexed_pairs,
        document_bytes,
        unpadded_document_bytes: unpadded_bytes.unwrap_or(document_bytes),
        bytes_per_query: bytes as f64 / n,
        discarded_per_query: discarded as f64 / n,
        ms_per_query: elapsed * 1e3 / n,
        setup_seconds,
        mismatches,
    };
    Ok(Scenario {
        scheme: config.scheme.clone(),
        countermeasure: config.countermeasure,
        seed: config.seed,
        candidates,
        truth,
        view,
        observation,
        cost,
        candidate_tokens,
        document_sizes,
        active: config.active.then_some(active),
    })
}

/// Seals and stores every message (ciphertexts padded to `bucket` bytes);
/// returns the total sealed size without padding.
#[allow(clippy::cast_possible_truncation)] // ids and candidate indexes are below the corpus size, which fits DocId (u32)
fn put_documents(
    transport: &InProcess<MemoryStore>,
    cipher: &DocumentCipher,
    messages: &[Message],
    bucket: u64,
) -> Result<u64> {
    let mut unpadded = 0u64;
    for (c, chunk) in messages.chunks(PUT_CHUNK).enumerate() {
        let base = (c * PUT_CHUNK) as DocId;
        let docs = chunk
            .par_iter()
            .enumerate()
            .map(|(i, m)| {
                let doc = cipher.seal_padded(base + i as DocId, m, bucket)?;
                // Without buckets the sealed size is the unpadded one; with
                // them, the encoded message plus the 16-byte tag.
                let plain = if bucket > 1 {
                    postcard::to_stdvec(m).map_err(|e| Error::Crypto(format!("encode message: {e}")))?.len() as u64 + 16
                } else {
                    doc.sealed.len() as u64
                };
                Ok((doc, plain))
            })
            .collect::<Result<Vec<_>>>()?;
        unpadded += docs.iter().map(|(_, p)| p).sum::<u64>();
        expect_ok(transport.call(&Request::PutDocuments(docs.into_iter().map(|(d, _)| d).collect()))?)?;
    }
    Ok(unpadded)
}

/// Fetches result documents, opens them, keeps those holding `word`:
/// padding fillers are real other messages and are dropped here. Returns
/// the kept ids and how many were dropped.
fn fetch_and_filter(
    transport: &InProcess<MemoryStore>,
    cipher: &DocumentCipher,
    ids: &[DocId],
    word: &str,
    corpus: &AttackCorpus,
) -> Result<(Vec<DocId>, u64)> {
    if ids.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let docs = match transport.call(&Request::GetDocuments(ids.to_vec()))? {
        Response::Documents(d) => d,
        other => return Err(crate::protocol::unexpected(&other)),
    };
    let mut kept: Vec<DocId> = docs
        .par_iter()
        .map(|d| {
            let id = d.public.doc_id;
            // Every document is opened (that is the client's cost); whether
            // it holds the word is looked up in the corpus' keyword sets,
            // which is what tokenizing the opened body gives, without
            // paying for tokenizing again in every experiment.
            cipher.open(d, id)?;
            let holds = corpus.keywords.get(id as usize).is_some_and(|ks| ks.contains(word));
            Ok(holds.then_some(id))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    kept.sort_unstable();
    let dropped = (ids.len() - kept.len()) as u64;
    Ok((kept, dropped))
}

/// Draws `n` distinct candidates (all of them if fewer).
#[allow(clippy::cast_possible_truncation)] // ids and candidate indexes are below the corpus size, which fits DocId (u32)
fn draw_queries(
    corpus: &AttackCorpus,
    candidates: &[String],
    n: usize,
    distribution: QueryDistribution,
    rng: &mut impl Rng,
) -> Vec<u32> {
    let all: Vec<u32> = (0..candidates.len() as u32).collect();
    let n = n.min(all.len());
    match distribution {
        QueryDistribution::Uniform => all.choose_multiple(rng, n).copied().collect(),
        QueryDistribution::Frequency => {
            let freq = corpus.frequencies();
            all.choose_multiple_weighted(rng, n, |&i| {
                f64::from(freq.get(candidates[i as usize].as_str()).copied().unwrap_or(1))
            })
            .map(|it| it.copied().collect())
            .unwrap_or_else(|_| all.choose_multiple(rng, n).copied().collect())
        }
    }
}
