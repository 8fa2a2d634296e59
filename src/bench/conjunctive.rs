//! Conjunctions: OXT next to per-term AND on 2Lev, on synthetic corpora
//! (`sseek bench --conjunctive 10000,100000`).
//!
//! Per corpus size, both schemes are set up once from the same multimap in
//! a fresh in-memory store over the in-process transport (every request
//! encoded and decoded, so byte counts are those of a network): setup time
//! per pair and index bytes per pair. Then the same conjunctions of body
//! words for both, picked by list length (rare, medium, common and the
//! most frequent word; pairs and a triple): list lengths, the s-term's
//! length, the result, bytes per query, the median time over
//! [`REPETITIONS`] interleaved runs, and for OXT the time per s-term entry.
//! Every answer is checked against the intersection of the lists of the
//! multimap itself ([`sse::conjunction`], [`mismatches`]). Each OXT cost is
//! also given in Ristretto255 fixed-base multiplications measured in the
//! same run ([`Primitives::ristretto_fixed_base_ns`]): one per pair at
//! setup and one per s-term entry and x-term at search is the scheme's floor.
//!
//! `benches/oxt.rs` builds the same [`ConjunctiveBench`] and times its
//! queries with criterion.

use std::sync::Arc;
use std::time::Instant;

use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;

use super::Primitives;
use super::environment::peak_rss_bytes;
use super::primitives::median;
use crate::datasets::Synthetic;
use crate::keys::MasterKey;
use crate::message::{Terms, default_index_specs};
use crate::protocol::transport::{Traffic, Transport};
use crate::protocol::{DocId, Request, Response};
use crate::query::Query;
use crate::server::{InProcess, Server};
use crate::sse::{self, Keyword, MultiMap, SchemeConfig, SseIndex};
use crate::store::MemoryStore;
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Tenant of the conjunctive runs.
const TENANT: &str = "conjunctive";
/// The conjunctive scheme.
const OXT: &str = "oxt";
/// The scheme answering the same conjunctions term by term.
const TWOLEV: &str = "2lev";
/// Timed runs of each query per scheme (interleaved; the median is reported).
pub const REPETITIONS: usize = 5;

/// An SSE index on the in-memory store over the in-process transport.
pub type MemoryIndex = SseIndex<InProcess<MemoryStore>>;

/// Setup of one scheme at one corpus size.
#[derive(Debug, Clone, Serialize)]
pub struct ConjunctiveSetup {
    /// `oxt` or `2lev`.
    pub scheme: String,
    /// Seconds to set up from the whole multimap.
    pub setup_seconds: f64,
    /// Setup time per (keyword, document) pair, microseconds.
    pub setup_us_per_pair: f64,
    /// [`ConjunctiveSetup::setup_us_per_pair`] in Ristretto255 fixed-base
    /// multiplications of the same run.
    pub setup_pair_in_fixed_base_mults: f64,
    /// Server bytes of the index (keys and values).
    pub index_bytes: u64,
    /// Index bytes per pair.
    pub index_bytes_per_pair: f64,
}

/// One scheme's cost for one conjunction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueryCost {
    /// Median time per query over the repetitions, milliseconds.
    pub median_ms: f64,
    /// Request bytes per query.
    pub bytes_sent: u64,
    /// Response bytes per query.
    pub bytes_received: u64,
    /// Round trips per query.
    pub round_trips: u64,
}

/// One conjunction answered by OXT and by per-term AND on 2Lev.
#[derive(Debug, Clone, Serialize)]
pub struct ConjunctionResult {
    /// Which words, by list length: `rare+common`, `rare+medium+top`, ...
    pub name: String,
    /// List length of each term, in query order.
    pub lists: Vec<usize>,
    /// Length of the s-term's list (the shortest): the entries OXT walks.
    pub s_term: usize,
    /// Ids in the answer.
    pub result: usize,
    /// OXT (one `OxtSearch`; statistics already loaded).
    pub oxt: QueryCost,
    /// Per-term AND on 2Lev (one search per term, intersected on the client).
    pub and_2lev: QueryCost,
    /// OXT time per s-term entry, microseconds.
    pub oxt_us_per_s_term_entry: f64,
    /// [`ConjunctionResult::oxt_us_per_s_term_entry`] in Ristretto255
    /// fixed-base multiplications of the same run.
    pub oxt_entry_in_fixed_base_mults: f64,
    /// Answers of either scheme that differed from the intersection of
    /// the lists (must be 0).
    pub mismatches: usize,
}

/// One corpus size.
#[derive(Debug, Clone, Serialize)]
pub struct ConjunctivePoint {
    /// Synthetic messages.
    pub messages: u64,
    /// Seed of the synthetic corpus.
    pub seed: u64,
    /// (keyword, document) pairs over all index specs.
    pub pairs: u64,
    /// Distinct keywords.
    pub keywords: usize,
    /// OXT's and 2Lev's setup.
    pub setups: Vec<ConjunctiveSetup>,
    /// The conjunctions.
    pub conjunctions: Vec<ConjunctionResult>,
    /// Mismatches over all conjunctions (must be 0).
    pub mismatches: usize,
    /// Peak resident memory of the process so far (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Seconds for the whole point (corpus, both setups, all queries).
    pub seconds: f64,
}

/// Everything measured on conjunctions.
#[derive(Debug, Clone, Serialize)]
pub struct ConjunctiveReport {
    /// Timed runs per query and scheme.
    pub repetitions: usize,
    /// One entry per corpus size, ascending.
    pub points: Vec<ConjunctivePoint>,
    /// Mismatches in total (must be 0).
    pub mismatches: usize,
}

/// A conjunction of body words and its plaintext answer.
#[derive(Debug, Clone)]
pub struct ConjunctionQuery {
    /// Which words, by list length.
    pub name: String,
    /// `Query::And` of one body term per word.
    pub query: Query,
    /// The terms' keywords, in query order.
    pub keywords: Vec<Keyword>,
    /// The intersection of their lists in the multimap.
    pub expected: Vec<DocId>,
}

/// Both schemes set up over one synthetic corpus, and the conjunctions to
/// ask them.
#[derive(Debug)]
pub struct ConjunctiveBench {
    /// Synthetic messages.
    pub messages: u64,
    /// Seed of the corpus.
    pub seed: u64,
    /// The corpus's multimap under [`default_index_specs`].
    pub db: MultiMap,
    /// OXT over `db`.
    pub oxt: MemoryIndex,
    /// 2Lev over `db`.
    pub twolev: MemoryIndex,
    /// OXT's and 2Lev's setup (without the multiplication ratio: see [`ConjunctiveBench::measure`]).
    pub setups: Vec<ConjunctiveSetup>,
    /// The conjunctions ([`conjunctions`]).
    pub conjunctions: Vec<ConjunctionQuery>,
}

/// 1 if `got` is not exactly `expected` (same ids, same order), else 0.
pub fn mismatches(got: &[DocId], expected: &[DocId]) -> usize {
    usize::from(got != expected)
}

/// The multimap of `messages` synthetic messages of `seed` under [`default_index_specs`].
///
/// # Errors
/// [`Error::Config`] for more messages than document ids.
pub fn synthetic_multimap(messages: u64, seed: u64) -> Result<MultiMap> {
    let tokenizer = Tokenizer::default();
    let terms: Vec<Terms> = Synthetic::new(seed).generate(messages).par_iter().map(|m| m.terms(&tokenizer)).collect();
    let docs: Vec<(DocId, &Terms)> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| Ok((DocId::try_from(i).map_err(|_| Error::Config("too many documents".into()))?, t)))
        .collect::<Result<_>>()?;
    Ok(sse::multimap(&docs, &default_index_specs()))
}

/// Conjunctions of body words picked by list length among the body
/// keywords: rare (90th percentile), medium (98th), common (99.5th) and the
/// most frequent; `rare+common`, `medium+common`, `common+top` and
/// `rare+medium+top`.
///
/// # Errors
/// [`Error::Config`] for a corpus without body words.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
pub fn conjunctions(db: &MultiMap) -> Result<Vec<ConjunctionQuery>> {
    // A body keyword is the index name and the value, each after its u32 length.
    let prefix = sse::keyword("body", &[]);
    let mut body: Vec<(&Keyword, usize)> =
        db.iter().filter(|(k, ids)| k.starts_with(&prefix) && !ids.is_empty()).map(|(k, ids)| (k, ids.len())).collect();
    if body.is_empty() {
        return Err(Error::Config("the corpus has no body words".into()));
    }
    body.sort_by_key(|(_, n)| *n);
    let pick = |frac: f64| body[((body.len() - 1) as f64 * frac) as usize].0.clone();
    let (rare, medium, common, top) = (pick(0.90), pick(0.98), pick(0.995), pick(1.0));
    let sets = [
        ("rare+common", vec![rare.clone(), common.clone()]),
        ("medium+common", vec![medium.clone(), common.clone()]),
        ("common+top", vec![common, top.clone()]),
        ("rare+medium+top", vec![rare, medium, top]),
    ];
    sets.into_iter()
        .map(|(name, keywords)| {
            let terms = keywords
                .iter()
                .map(|k| {
                    let word = k.get(prefix.len() + 4..).and_then(|w| std::str::from_utf8(w).ok());
                    let word = word.ok_or_else(|| Error::Config("a body keyword is not UTF-8".into()))?;
                    Ok(Query::term("body", &[word]))
                })
                .collect::<Result<_>>()?;
            let expected = sse::conjunction(db, &keywords);
            Ok(ConjunctionQuery { name: name.to_owned(), query: Query::And(terms), keywords, expected })
        })
        .collect()
}

/// Sets up `scheme` over `db` in a fresh in-memory store: the index and its setup cost.
///
/// # Errors
/// [`Error::Config`] for an unknown scheme; setup, store and protocol errors.
#[allow(clippy::cast_precision_loss)]
pub fn build_index(scheme: &str, db: &MultiMap) -> Result<(MemoryIndex, ConjunctiveSetup)> {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let client = sse::open_client(&MasterKey::generate()?, TENANT, &SchemeConfig::new(scheme, scheme))?;
    let mut index = SseIndex::create(InProcess::new(server, TENANT), client)?;
    let pairs = sse::pair_count(db).max(1) as f64;
    let t = Instant::now();
    index.setup(db)?;
    let setup_seconds = t.elapsed().as_secs_f64();
    let request = Request::IndexStats { blind_indexes: vec![], sse_instances: vec![scheme.to_owned()] };
    let index_bytes = match index.transport().call(&request)? {
        Response::IndexStats { sse, .. } => sse.first().map_or(0, |s| s.bytes),
        other => return Err(Error::Protocol(format!("IndexStats answered {other:?}"))),
    };
    let setup = ConjunctiveSetup {
        scheme: scheme.to_owned(),
        setup_seconds,
        setup_us_per_pair: setup_seconds * 1e6 / pairs,
        setup_pair_in_fixed_base_mults: 0.0,
        index_bytes,
        index_bytes_per_pair: index_bytes as f64 / pairs,
    };
    Ok((index, setup))
}

impl ConjunctiveBench {
    /// Builds the corpus, sets up OXT, then 2Lev, and picks the conjunctions.
    ///
    /// # Errors
    /// Setup and store errors; [`Error::Config`] for a corpus without body words.
    pub fn build(messages: u64, seed: u64, pb: &ProgressBar) -> Result<Self> {
        pb.set_message(format!("conjunctive {messages} msgs: corpus"));
        let db = synthetic_multimap(messages, seed)?;
        pb.set_message(format!("conjunctive {messages} msgs: oxt setup"));
        let (oxt, oxt_setup) = build_index(OXT, &db)?;
        pb.set_message(format!("conjunctive {messages} msgs: 2lev setup"));
        let (twolev, twolev_setup) = build_index(TWOLEV, &db)?;
        let conjunctions = conjunctions(&db)?;
        Ok(ConjunctiveBench { messages, seed, db, oxt, twolev, setups: vec![oxt_setup, twolev_setup], conjunctions })
    }

    /// Asks every conjunction of both schemes `repetitions` times
    /// (interleaved), each answer checked against the plaintext one.
    ///
    /// # Errors
    /// Search errors. Mismatches are counted, not errors.
    #[allow(clippy::cast_precision_loss)]
    pub fn measure(&mut self, primitives: &Primitives, repetitions: usize) -> Result<ConjunctivePoint> {
        let started = Instant::now();
        let reps = repetitions.max(1);
        let fixed_us = primitives.ristretto_fixed_base_ns / 1e3;
        let mut results = Vec::new();
        for c in &self.conjunctions {
            let lists: Vec<usize> = c.keywords.iter().map(|k| self.db.get(k).map_or(0, Vec::len)).collect();
            let s_term = lists.iter().copied().min().unwrap_or(0);
            let mut wrong = 0;
            let (mut oxt_ms, mut and_ms) = (Vec::new(), Vec::new());
            let (mut oxt_traffic, mut and_traffic) = (Traffic::default(), Traffic::default());
            for _ in 0..reps {
                for (index, times, traffic) in
                    [(&mut self.oxt, &mut oxt_ms, &mut oxt_traffic), (&mut self.twolev, &mut and_ms, &mut and_traffic)]
                {
                    let before = index.traffic();
                    let t = Instant::now();
                    let got = index.search(&c.query)?;
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                    *traffic = index.traffic() - before;
                    wrong += mismatches(&got, &c.expected);
                }
            }
            let oxt = cost(&mut oxt_ms, oxt_traffic);
            let per_entry = oxt.median_ms * 1e3 / s_term.max(1) as f64;
            results.push(ConjunctionResult {
                name: c.name.clone(),
                lists,
                s_term,
                result: c.expected.len(),
                oxt,
                and_2lev: cost(&mut and_ms, and_traffic),
                oxt_us_per_s_term_entry: per_entry,
                oxt_entry_in_fixed_base_mults: ratio(per_entry, fixed_us),
                mismatches: wrong,
            });
        }
        let setups = self
            .setups
            .iter()
            .map(|s| ConjunctiveSetup {
                setup_pair_in_fixed_base_mults: ratio(s.setup_us_per_pair, fixed_us),
                ..s.clone()
            })
            .collect();
        Ok(ConjunctivePoint {
            messages: self.messages,
            seed: self.seed,
            pairs: sse::pair_count(&self.db) as u64,
            keywords: self.db.len(),
            setups,
            mismatches: results.iter().map(|r| r.mismatches).sum(),
            conjunctions: results,
            peak_rss_bytes: peak_rss_bytes(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

fn cost(times_ms: &mut [f64], traffic: Traffic) -> QueryCost {
    QueryCost {
        median_ms: median(times_ms),
        bytes_sent: traffic.bytes_sent,
        bytes_received: traffic.bytes_received,
        round_trips: traffic.round_trips,
    }
}

fn ratio(us: f64, floor_us: f64) -> f64 {
    if floor_us > 0.0 { us / floor_us } else { 0.0 }
}

/// Runs every size in turn (each corpus dropped before the next is built).
///
/// # Errors
/// As [`ConjunctiveBench::build`] and [`ConjunctiveBench::measure`].
pub(super) fn run(sizes: &[u64], seed: u64, primitives: &Primitives, pb: &ProgressBar) -> Result<ConjunctiveReport> {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    let mut points = Vec::new();
    for n in sizes {
        let started = Instant::now();
        let mut bench = ConjunctiveBench::build(n, seed, pb)?;
        pb.set_message(format!("conjunctive {n} msgs: queries"));
        let mut point = bench.measure(primitives, REPETITIONS)?;
        point.seconds = started.elapsed().as_secs_f64();
        points.push(point);
        pb.inc(1);
    }
    let mismatches = points.iter().map(|p| p.mismatches).sum();
    Ok(ConjunctiveReport { repetitions: REPETITIONS, points, mismatches })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plaintext_answer_is_the_intersection_and_a_wrong_answer_counts() {
        let mut db = MultiMap::new();
        db.insert(b"a".to_vec(), vec![1, 2, 3, 5, 8]);
        db.insert(b"b".to_vec(), vec![2, 3, 4, 8]);
        db.insert(b"c".to_vec(), vec![3, 8, 9]);
        let and = |ks: &[&[u8]]| sse::conjunction(&db, ks);
        assert_eq!(and(&[b"a", b"b"]), [2, 3, 8]);
        assert_eq!(and(&[b"a", b"b", b"c"]), [3, 8]);
        assert!(and(&[b"a", b"zz"]).is_empty());
        assert_eq!(mismatches(&[3, 8], &and(&[b"c", b"a"])), 0);
        // Negative controls: a missing, an extra and a reordered id all count.
        for wrong in [&[3][..], &[3, 8, 9], &[8, 3]] {
            assert_eq!(mismatches(wrong, &and(&[b"a", b"c"])), 1, "{wrong:?}");
        }
    }
}
