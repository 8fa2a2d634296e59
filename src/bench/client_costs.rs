//! Client-side costs of the blind-index path: keyword extraction throughput,
//! and the latency of a query for its newest 20 results and for all of them
//! (the demo's query workload, every answer checked against the oracle).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::primitives::median;
use crate::blind::planner::plan_for_corpus;
use crate::client::Client;
use crate::datasets;
use crate::keys::MasterKey;
use crate::message::{Terms, default_index_specs};
use crate::oracle::PlainIndex;
use crate::protocol::DocId;
use crate::server::{InProcess, Server};
use crate::store::RedbStore;
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Results of a newest-first page.
pub const PAGE: usize = 20;
/// Runs of each query newest-first.
const NEWEST_REPS: usize = 3;
/// Tenant of the latency runs.
const TENANT: &str = "latency";

/// Keyword extraction on one corpus (subject and body of every message, one thread).
#[derive(Debug, Clone, Serialize)]
pub struct KeywordExtraction {
    /// Corpus.
    pub corpus: String,
    /// What the fast figures time: the call the indexing path makes.
    pub measures: String,
    /// Bytes of subject and body text.
    pub bytes: u64,
    /// [`Tokenizer::keyword_set`] (what [`crate::message::Message::terms`]
    /// calls for the indexes), MB (10^6 bytes) per second of wall time.
    pub mb_per_s: f64,
    /// The same per second of the thread's CPU time (less disturbed by other load), if known.
    pub cpu_mb_per_s: Option<f64>,
    /// [`Tokenizer::keywords_reference`] (every word through the Unicode segmenter), MB per second.
    pub reference_mb_per_s: f64,
    /// The reference per second of the thread's CPU time, if known.
    pub reference_cpu_mb_per_s: Option<f64>,
    /// Texts whose keywords differ between the two (must be 0).
    pub mismatches: usize,
}

/// Wall and thread CPU seconds of one pass of `f`.
fn timed(f: impl FnOnce()) -> (f64, Option<f64>) {
    let (wall, cpu) = (Instant::now(), crate::baseline::thread_cpu_seconds());
    f();
    let cpu = cpu.zip(crate::baseline::thread_cpu_seconds()).map(|(a, b)| b - a);
    (wall.elapsed().as_secs_f64(), cpu)
}

/// Measures [`KeywordExtraction`] on a corpus: the best of `rounds`
/// interleaved passes of each way (the least disturbed by other load),
/// in wall time and in thread CPU time.
///
/// # Errors
/// Dataset errors.
#[allow(clippy::cast_precision_loss)]
pub fn keyword_extraction(spec: &str, rounds: usize) -> Result<KeywordExtraction> {
    let corpus = datasets::load(spec)?;
    let t = Tokenizer::default();
    let texts: Vec<&str> = corpus.messages.iter().flat_map(|m| [m.subject.as_str(), m.body.as_str()]).collect();
    let bytes: u64 = texts.iter().map(|s| s.len() as u64).sum();
    let mismatches = texts.iter().filter(|s| !t.keyword_set(s).iter().eq(&t.keywords_reference(s))).count();
    let best = |best: &mut (f64, Option<f64>), (wall, cpu): (f64, Option<f64>)| {
        best.0 = best.0.min(wall);
        best.1 = cpu.map(|c| best.1.map_or(c, |b: f64| b.min(c)));
    };
    let (mut fast, mut reference) = ((f64::INFINITY, None), (f64::INFINITY, None));
    for _ in 0..rounds.max(1) {
        best(
            &mut fast,
            timed(|| {
                for text in &texts {
                    std::hint::black_box(t.keyword_set(text));
                }
            }),
        );
        best(
            &mut reference,
            timed(|| {
                for text in &texts {
                    std::hint::black_box(t.keywords_reference(text));
                }
            }),
        );
    }
    let mb = bytes as f64 / 1e6;
    Ok(KeywordExtraction {
        corpus: corpus.name,
        measures: "Tokenizer::keyword_set, one KeywordSet per text as Message::terms builds them".into(),
        bytes,
        mb_per_s: mb / fast.0,
        cpu_mb_per_s: fast.1.map(|c| mb / c),
        reference_mb_per_s: mb / reference.0,
        reference_cpu_mb_per_s: reference.1.map(|c| mb / c),
        mismatches,
    })
}

/// Blind-index query latency on one corpus.
#[derive(Debug, Clone, Serialize)]
pub struct BlindLatency {
    /// Corpus.
    pub corpus: String,
    /// Messages.
    pub messages: usize,
    /// Queries of the workload.
    pub queries: usize,
    /// Median latency of [`Client::search_newest`] for [`PAGE`] results, milliseconds.
    pub newest_p50_ms: f64,
    /// 95th percentile of the same, milliseconds.
    pub newest_p95_ms: f64,
    /// Median latency of [`Client::search`] (all results), milliseconds.
    pub all_p50_ms: f64,
    /// Mean latency of all results, milliseconds.
    pub all_mean_ms: f64,
    /// All-results time over messages returned, microseconds.
    pub us_per_returned_message: f64,
    /// Messages returned by the all-results runs.
    pub returned: u64,
    /// Answers that differed from the oracle (must be 0).
    pub mismatches: usize,
}

/// Measures [`BlindLatency`]: the corpus on a redb store in a temporary
/// directory, planned with the demo's settings, the demo's query workload
/// ([`crate::demo::build_workload`], 40 values per index); each query
/// 3 times newest-first and once for all results.
///
/// # Errors
/// Dataset, store and protocol errors.
#[allow(clippy::cast_precision_loss)]
pub fn blind_latency(spec: &str, seed: u64) -> Result<BlindLatency> {
    let corpus = datasets::load(spec)?;
    let n = corpus.messages.len();
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let server = Arc::new(Server::new(RedbStore::open(&dir.path().join("server.redb"))?));
    let mut client =
        Client::connect(MasterKey::generate()?, TENANT, InProcess::new(server, TENANT), Tokenizer::default())?;
    let terms: Vec<Terms> = client.terms(&corpus.messages);
    let specs = default_index_specs();
    let plans = plan_for_corpus(&terms, &specs, 25.0, 2.0, 1.0);
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect())?;
    let ids = client.add_messages_with_terms(&corpus.messages, &terms, None)?;
    let mut oracle = PlainIndex::new();
    for (id, t) in ids.zip(&terms) {
        oracle.add(id, t);
    }
    drop(corpus);
    let workload = crate::demo::build_workload(&oracle, &terms, &specs, seed, 40);
    let (mut newest, mut all) = (Vec::new(), Vec::new());
    let (mut mismatches, mut returned) = (0, 0u64);
    for q in workload.iter().flat_map(|(_, qs)| qs) {
        let expected: Vec<DocId> = oracle.eval(q, client.specs())?.iter().collect();
        let top: Vec<DocId> = expected.iter().rev().take(PAGE).copied().collect();
        for _ in 0..NEWEST_REPS {
            let t = Instant::now();
            let out = client.search_newest(q, PAGE)?;
            newest.push(t.elapsed().as_secs_f64() * 1e3);
            mismatches += usize::from(out.ids != top);
        }
        let t = Instant::now();
        let out = client.search(q)?;
        all.push(t.elapsed().as_secs_f64() * 1e3);
        mismatches += usize::from(out.ids != expected);
        returned += out.ids.len() as u64;
    }
    let all_ms: f64 = all.iter().sum();
    let queries = all.len();
    newest.sort_by(f64::total_cmp);
    let p95 = newest.get((newest.len() * 95 / 100).min(newest.len().saturating_sub(1))).copied().unwrap_or(0.0);
    Ok(BlindLatency {
        corpus: spec.to_owned(),
        messages: n,
        queries,
        newest_p50_ms: median(&mut newest),
        newest_p95_ms: p95,
        all_p50_ms: median(&mut all),
        all_mean_ms: all_ms / queries.max(1) as f64,
        us_per_returned_message: all_ms * 1e3 / returned.max(1) as f64,
        returned,
        mismatches,
    })
}
