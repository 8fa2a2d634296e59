//! `sseek bench`: what each way of searching encrypted messages costs, by
//! corpus size, measured in one run on this machine.
//!
//! One *point* is one corpus (synthetic `N` messages or a real corpus) in a
//! fresh store (memory or redb). At each point every *scheme* runs over the
//! in-process transport (every message encoded and decoded, so byte counts
//! are those of a network):
//! - `blind`: all blind indexes of [`crate::blind::default_index_specs`] as
//!   one system, searched through [`Client::search`] (results are decrypted
//!   messages, false positives dropped);
//! - every SSE variant of [`demo::SSE_VARIANTS`] (a new variant is picked up
//!   by registering it there), searched through [`SseIndex::search`]
//!   (results are ids);
//! - both client-only baselines of [`crate::baseline`], under a tenant of
//!   their own holding only sealed documents.
//!
//! Per scheme and point: setup time per message and per (keyword, document)
//! pair, search latency per query and per result, bytes and round trips per
//! query, server index bytes per message, client storage, update cost on a
//! batch of new messages, the per-result search cost as a ratio to raw
//! HMAC-SHA256 measured in the same run ([`Primitives`]), and a correctness
//! pass: every answer is compared with the plaintext oracle
//! ([`PointResult::mismatches`] must be 0).
//!
//! ```
//! use sseek::bench::{self, BenchOptions, StoreKind};
//! let opts = BenchOptions { sizes: vec![200], datasets: vec![], store: StoreKind::Memory, progress: false, ..BenchOptions::quick() };
//! let report = bench::run(&opts)?;
//! assert_eq!(report.mismatches, 0);
//! assert!(report.points[0].schemes.iter().any(|s| s.name == "baseline-local"));
//! # Ok::<(), sseek::Error>(())
//! ```

// Float-to-integer casts here saturate and act on bounded statistics.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]

pub mod plot;

use std::hint::black_box;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::baseline::{Baseline, BaselineMode, process_cpu_seconds};
use crate::blind::planner::plan_for_corpus;
use crate::client::{Client, INGEST_CHUNK};
use crate::datasets::{self, Synthetic};
use crate::demo;
use crate::keys::MasterKey;
use crate::message::{Field, Message, Terms};
use crate::message::{IndexSpec, default_index_specs};
use crate::oracle::PlainIndex;
use crate::protocol::DocId;
use crate::protocol::transport::{Traffic, Transport};
use crate::query::Query;
use crate::server::InProcess;
use crate::server::Server;
use crate::sse::{self, MultiMap, SchemeClient, SseIndex, UpdateOp};
use crate::store::{MemoryStore, RedbStore, Store, Table};
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Tenant of the server-assisted schemes.
const TENANT: &str = "bench";
/// Tenant of the baselines (sealed documents only).
const BASELINE_TENANT: &str = "baseline";
/// Name of the blind-index entry.
pub const BLIND: &str = "blind";

/// Which store backs the server during a bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StoreKind {
    /// [`MemoryStore`].
    Memory,
    /// [`RedbStore`] in a temporary directory (the default: what a deployment uses).
    Redb,
}

impl FromStr for StoreKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "memory" => Ok(StoreKind::Memory),
            "redb" => Ok(StoreKind::Redb),
            other => Err(Error::Config(format!("unknown store {other:?} (memory or redb)"))),
        }
    }
}

/// What to sweep and how long to spend.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Synthetic corpus sizes, in messages.
    pub sizes: Vec<u64>,
    /// Further corpora ([`datasets::load`] specs), e.g. `spamassassin`.
    pub datasets: Vec<String>,
    /// Schemes to run (see [`scheme_names`]); empty for all.
    pub schemes: Vec<String>,
    /// Store backend.
    pub store: StoreKind,
    /// Queries per query class (each single-field index, `from+day`, AND, OR).
    pub queries_per_class: usize,
    /// Seconds of searching per scheme and point after which the remaining
    /// queries are skipped (at least [`MIN_QUERIES`] always run), so the
    /// scan baseline stays affordable at a million messages.
    pub query_budget_seconds: f64,
    /// New messages per update measurement, as a fraction of the corpus
    /// (at least 100, at most 10,000).
    pub update_fraction: f64,
    /// Seed of the synthetic corpora and the query workload.
    pub seed: u64,
    /// Show progress bars.
    pub progress: bool,
}

/// Queries every scheme runs at every point, whatever the time budget.
pub const MIN_QUERIES: usize = 3;

impl BenchOptions {
    /// `--quick`: 1,000 and 10,000 synthetic messages and the shipped corpus, few queries.
    pub fn quick() -> Self {
        BenchOptions {
            sizes: vec![1_000, 10_000],
            datasets: vec![datasets::SPAMASSASSIN.into()],
            schemes: Vec::new(),
            store: StoreKind::Redb,
            queries_per_class: 3,
            query_budget_seconds: 2.0,
            update_fraction: 0.01,
            seed: 1,
            progress: true,
        }
    }

    /// The full sweep: 10^3 to 10^6 synthetic messages and the shipped corpus.
    pub fn full() -> Self {
        BenchOptions {
            sizes: vec![1_000, 10_000, 100_000, 1_000_000],
            queries_per_class: 8,
            query_budget_seconds: 20.0,
            ..Self::quick()
        }
    }
}

/// Every scheme name the bench knows: `blind`, each SSE variant, each baseline.
pub fn scheme_names() -> Vec<String> {
    std::iter::once(BLIND)
        .chain(demo::SSE_VARIANTS.iter().copied())
        .chain(BaselineMode::ALL.iter().map(|m| m.name()))
        .map(str::to_owned)
        .collect()
}

/// The machine and build a report came from.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// `RUSTFLAGS` of the environment at run time (empty if unset).
    pub rustflags: String,
    /// `release` or `debug` (debug assertions on).
    pub profile: &'static str,
    /// sseek version.
    pub version: &'static str,
    /// Git commit of the source tree (`+dirty` with uncommitted changes), or `unknown`.
    pub commit: String,
}

impl Environment {
    /// Reads the environment: what `benches/common` prints, as data.
    pub fn detect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(env!("CARGO_MANIFEST_DIR"))
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let commit = match git(&["rev-parse", "--short", "HEAD"]) {
            Some(c) => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
                if dirty { format!("{c}+dirty") } else { c }
            }
            None => "unknown".into(),
        };
        Environment {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            rustflags: std::env::var("RUSTFLAGS").unwrap_or_default(),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" },
            version: env!("CARGO_PKG_VERSION"),
            commit,
        }
    }

    /// One line, as the criterion benches print it.
    pub fn line(&self) -> String {
        format!(
            "cpu=\"{}\" cores={} RUSTFLAGS=\"{}\" profile={} sseek={} commit={}",
            self.cpu, self.cores, self.rustflags, self.profile, self.version, self.commit
        )
    }
}

/// Raw primitive costs on this CPU, measured in the same run: the floor
/// each scheme is compared with.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Primitives {
    /// HMAC-SHA256 of a 32-byte input with a keyed instance cloned per call, nanoseconds.
    pub hmac_sha256_ns: f64,
    /// AES-256-SIV encryption of 1 KiB, nanoseconds.
    pub aes_siv_1kib_ns: f64,
    /// AES-256-GCM encryption of 1 KiB, nanoseconds.
    pub aes_gcm_1kib_ns: f64,
}

impl Primitives {
    /// Median over interleaved rounds (robust to the other core being busy).
    ///
    /// # Errors
    /// [`Error::Crypto`] if a primitive refuses its key (it cannot).
    pub fn measure(rounds: usize) -> Result<Self> {
        use aes_gcm::Aes256Gcm;
        use aes_siv::Aes256SivAead;
        use aes_siv::aead::{Aead, KeyInit};
        use hmac::{Hmac, Mac};
        use sha2::Sha256;
        let crypto = |e: &dyn std::fmt::Display| Error::Crypto(e.to_string());
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1; 32]).map_err(|e| crypto(&e))?;
        let siv = Aes256SivAead::new_from_slice(&[3; 64]).map_err(|e| crypto(&e))?;
        let gcm = Aes256Gcm::new_from_slice(&[3; 32]).map_err(|e| crypto(&e))?;
        let kib = vec![0x5au8; 1024];
        let (mut h, mut s, mut g) = (Vec::new(), Vec::new(), Vec::new());
        let (nh, ne) = (20_000u32, 1_000u32);
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            for i in 0..nh {
                let mut m = keyed.clone();
                m.update(black_box(&[i as u8; 32]));
                black_box(m.finalize().into_bytes());
            }
            h.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(nh));
            let t = Instant::now();
            for _ in 0..ne {
                black_box(siv.encrypt(&[9u8; 16].into(), black_box(kib.as_slice())).map_err(|e| crypto(&e))?);
            }
            s.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(ne));
            let t = Instant::now();
            for _ in 0..ne {
                black_box(gcm.encrypt(&[9u8; 12].into(), black_box(kib.as_slice())).map_err(|e| crypto(&e))?);
            }
            g.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(ne));
        }
        Ok(Primitives {
            hmac_sha256_ns: median(&mut h),
            aes_siv_1kib_ns: median(&mut s),
            aes_gcm_1kib_ns: median(&mut g),
        })
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// One scheme at one point.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SchemeResult {
    /// `blind`, an SSE variant name, `baseline-download` or `baseline-local`.
    pub name: String,
    /// `blind`, `sse-static`, `sse-dynamic` or `baseline`.
    pub kind: String,
    /// What a search returns: `messages` (decrypted) or `ids`.
    pub returns: String,
    /// Seconds to build: seal, tokens or entries, upload, index, sync
    /// (keyword extraction excluded: see [`PointResult::extract_seconds`]).
    /// Baselines: seal and upload the documents only.
    pub setup_seconds: f64,
    /// Setup time per message, microseconds.
    pub setup_us_per_message: f64,
    /// Setup time per (keyword, document) pair, microseconds.
    pub setup_us_per_pair: f64,
    /// Queries run (all, or those within the time budget; at least [`MIN_QUERIES`]).
    pub queries: usize,
    /// Answers that differed from the oracle (must be 0).
    pub mismatches: usize,
    /// Results over the queries run.
    pub results: u64,
    /// Mean time per query, microseconds (baselines: warm device).
    pub mean_query_us: f64,
    /// Median time per query, microseconds.
    pub p50_query_us: f64,
    /// Total query time over total results, microseconds.
    pub us_per_result: f64,
    /// [`SchemeResult::us_per_result`] over raw HMAC-SHA256 ([`Primitives::hmac_sha256_ns`]).
    pub ratio_to_hmac: f64,
    /// [`SchemeResult::us_per_result`] over AES-256-SIV of 1 KiB.
    pub ratio_to_aes_siv_1kib: f64,
    /// Mean request bytes per query.
    pub bytes_sent_per_query: f64,
    /// Mean response bytes per query.
    pub bytes_received_per_query: f64,
    /// Mean round trips per query.
    pub round_trips_per_query: f64,
    /// Server bytes of the scheme's index (keys and values; 0 for the baselines).
    pub server_index_bytes: u64,
    /// [`SchemeResult::server_index_bytes`] per message. The sealed documents
    /// every approach stores come on top: [`PointResult::document_bytes_per_message`].
    pub server_index_bytes_per_message: f64,
    /// Bytes the client keeps for search besides its key: the state file of a
    /// dynamic SSE scheme, ciphertexts plus index of a baseline.
    pub client_bytes: u64,
    /// Time to the first result on a cold device (nothing downloaded, no
    /// local index), seconds. Server-assisted schemes need nothing but the
    /// key, so this is their mean query latency.
    pub cold_first_result_seconds: f64,
    /// Bytes received until that first result (server-assisted: mean per query).
    pub cold_bytes_received: u64,
    /// Client CPU seconds until that first result (baselines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_cpu_seconds: Option<f64>,
    /// Messages in the update batch (0 for static schemes: they are rebuilt).
    pub update_messages: usize,
    /// (keyword, document) entries in the update batch.
    pub update_entries: usize,
    /// Update time per new message, microseconds (baselines: time for a warm
    /// device to fetch, and for `baseline-local` index, each new message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_us_per_message: Option<f64>,
    /// Update time per new (keyword, document) entry, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_us_per_entry: Option<f64>,
}

/// One corpus in one fresh store.
#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    /// Dataset name (`synthetic:N:SEED` or the real corpus).
    pub dataset: String,
    /// Whether the corpus is synthetic (the size sweep) or real.
    pub synthetic: bool,
    /// Messages.
    pub messages: usize,
    /// (keyword, document) pairs over all index specs.
    pub pairs: u64,
    /// Distinct keywords.
    pub keywords: u64,
    /// Store backend.
    pub store: StoreKind,
    /// Seconds to extract keywords of all messages (shared by every scheme).
    pub extract_seconds: f64,
    /// Sealed document bytes on the server, per message.
    pub document_bytes_per_message: f64,
    /// Queries in the workload.
    pub workload_queries: usize,
    /// Mismatches against the oracle over all schemes (must be 0).
    pub mismatches: usize,
    /// Peak resident memory of the process so far (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Seconds for the whole point.
    pub seconds: f64,
    /// One entry per scheme.
    pub schemes: Vec<SchemeResult>,
}

/// Where a server-assisted scheme starts to beat a client-only baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Crossover {
    /// Server-assisted scheme.
    pub scheme: String,
    /// Baseline.
    pub baseline: String,
    /// `cold` (time to first result on a new device) or `warm` (per query).
    pub metric: String,
    /// Corpus size (messages) from which the scheme is faster, interpolated
    /// in log scale between measured sizes; `None` if it never is within
    /// the sweep.
    pub messages: Option<f64>,
    /// Plain-language reading.
    pub note: String,
}

/// Growth of the per-result search cost with corpus size.
#[derive(Debug, Clone, Serialize)]
pub struct Slope {
    /// Scheme.
    pub scheme: String,
    /// Least-squares slope of log(µs per result) over log(messages) across the
    /// synthetic sizes: 0 is flat, 1 grows linearly with the corpus.
    pub log_log_slope: f64,
}

/// The whole report (written by `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Machine and build.
    pub environment: Environment,
    /// Raw primitive costs measured in this run.
    pub primitives: Primitives,
    /// The command line or options used.
    pub command: String,
    /// Store backend.
    pub store: StoreKind,
    /// One entry per corpus, synthetic sizes ascending, then real corpora.
    pub points: Vec<PointResult>,
    /// Crossovers of every server-assisted scheme against each baseline.
    pub crossovers: Vec<Crossover>,
    /// Per-result search cost growth per scheme.
    pub slopes: Vec<Slope>,
    /// Mismatches against the oracle in total (must be 0).
    pub mismatches: usize,
    /// Seconds for the whole run.
    pub seconds: f64,
}

/// Peak resident memory of this process so far (`VmHWM`), bytes; 0 where
/// `/proc` is unavailable.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn bar(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Runs the sweep.
///
/// # Errors
/// [`Error::Config`] for an unknown scheme or empty sweep; dataset, store
/// and protocol errors. Mismatches are not errors: they are reported.
pub fn run(opts: &BenchOptions) -> Result<BenchReport> {
    let all = scheme_names();
    for s in &opts.schemes {
        if !all.contains(s) {
            return Err(Error::Config(format!("unknown scheme {s:?} (known: {})", all.join(", "))));
        }
    }
    let mut corpora: Vec<String> = Vec::new();
    let mut sizes = opts.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    corpora.extend(sizes.iter().map(|n| format!("synthetic:{n}:{}", opts.seed)));
    corpora.extend(opts.datasets.iter().cloned());
    if corpora.is_empty() {
        return Err(Error::Config("nothing to run: give --sizes or a dataset".into()));
    }
    let started = Instant::now();
    let environment = Environment::detect();
    let primitives = Primitives::measure(if opts.queries_per_class <= 3 { 5 } else { 11 })?;
    let selected: Vec<String> = if opts.schemes.is_empty() { all } else { opts.schemes.clone() };
    let pb = bar(opts.progress, (corpora.len() * selected.len()) as u64);
    let mut points = Vec::new();
    for spec in &corpora {
        pb.set_message(format!("{spec}: loading"));
        let corpus = datasets::load(spec)?;
        if corpus.messages.is_empty() {
            return Err(Error::Dataset { path: spec.clone(), reason: "no messages could be loaded".into() });
        }
        let synthetic = spec.starts_with("synthetic:");
        let point = match opts.store {
            StoreKind::Memory => run_point(opts, &selected, corpus, synthetic, MemoryStore::new(), &primitives, &pb)?,
            StoreKind::Redb => {
                let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
                let store = RedbStore::open(&dir.path().join("server.redb"))?;
                run_point(opts, &selected, corpus, synthetic, store, &primitives, &pb)?
            }
        };
        points.push(point);
    }
    pb.finish_and_clear();
    let crossovers = crossovers(&points);
    let slopes = slopes(&points);
    Ok(BenchReport {
        environment,
        primitives,
        command: String::new(),
        store: opts.store,
        mismatches: points.iter().map(|p| p.mismatches).sum(),
        points,
        crossovers,
        slopes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Everything shared by the schemes of one point.
struct Point<'a, S: Store> {
    server: Arc<Server<S>>,
    specs: Vec<IndexSpec>,
    messages: &'a [Message],
    terms: &'a [Terms],
    queries: Vec<Query>,
    expected: Vec<Vec<DocId>>,
    extra: Vec<Message>,
    extra_terms: Vec<Terms>,
    pairs: u64,
    primitives: &'a Primitives,
    budget: f64,
    state_dir: tempfile::TempDir,
}

#[allow(clippy::too_many_arguments)]
fn run_point<S: Store + 'static>(
    opts: &BenchOptions,
    selected: &[String],
    corpus: datasets::Corpus,
    synthetic: bool,
    store: S,
    primitives: &Primitives,
    pb: &ProgressBar,
) -> Result<PointResult> {
    let started = Instant::now();
    let tokenizer = Tokenizer::default();
    let messages = corpus.messages;
    let n = messages.len();
    let t = Instant::now();
    let terms: Vec<Terms> = messages.par_iter().map(|m| m.terms(&tokenizer)).collect();
    let extract_seconds = t.elapsed().as_secs_f64();
    let specs = default_index_specs();
    let keyword_counts: Vec<usize> = terms.par_iter().map(|t| sse::keywords_of(t, &specs).len()).collect();
    let pairs: u64 = keyword_counts.iter().map(|c| *c as u64).sum();
    let mut oracle = PlainIndex::new();
    for (id, t) in terms.iter().enumerate() {
        oracle.add(doc_id(id)?, t);
    }
    let queries = workload(&oracle, &terms, &specs, opts.queries_per_class, opts.seed);
    let expected: Vec<Vec<DocId>> =
        queries.iter().map(|q| Ok(oracle.eval(q, &specs)?.iter().collect())).collect::<Result<_>>()?;
    drop(oracle);
    let updates = ((n as f64 * opts.update_fraction) as usize).clamp(100, 10_000);
    let extra = Synthetic::new(opts.seed ^ 0x5EED_0F0A).generate(updates as u64);
    let extra_terms: Vec<Terms> = extra.par_iter().map(|m| m.terms(&tokenizer)).collect();
    let p = Point {
        server: Arc::new(Server::new(store)),
        specs,
        messages: &messages,
        terms: &terms,
        queries,
        expected,
        extra,
        extra_terms,
        pairs,
        primitives,
        budget: opts.query_budget_seconds,
        state_dir: tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?,
    };
    let mut results = Vec::new();
    let mut db: Option<MultiMap> = None;
    let mut modes = Vec::new();
    for name in selected {
        pb.set_message(format!("{n} msgs: {name}"));
        if name == BLIND {
            results.push(run_blind(&p)?);
        } else if let Some(mode) = BaselineMode::ALL.iter().find(|m| m.name() == name) {
            // Run together at the end: they share one upload and one batch of new messages.
            modes.push(*mode);
            continue;
        } else {
            results.push(run_sse(&p, name, &mut db)?);
        }
        pb.inc(1);
    }
    if !modes.is_empty() {
        pb.set_message(format!("{n} msgs: baselines"));
        results.extend(run_baselines(&p, &modes)?);
        pb.inc(modes.len() as u64);
    }
    let document_bytes = p
        .server
        .store()
        .stats(Table::Documents, &crate::store::keyspace::keyspace(TENANT))?
        .bytes
        .max(p.server.store().stats(Table::Documents, &crate::store::keyspace::keyspace(BASELINE_TENANT))?.bytes);
    Ok(PointResult {
        dataset: corpus.name,
        synthetic,
        messages: n,
        pairs,
        keywords: db.as_ref().map_or_else(|| distinct_keywords(&terms, &p.specs), |d| d.len() as u64),
        store: opts.store,
        extract_seconds,
        document_bytes_per_message: document_bytes as f64 / n as f64,
        workload_queries: p.queries.len(),
        mismatches: results.iter().map(|r| r.mismatches).sum(),
        peak_rss_bytes: peak_rss_bytes(),
        seconds: started.elapsed().as_secs_f64(),
        schemes: results,
    })
}

fn doc_id(i: usize) -> Result<DocId> {
    DocId::try_from(i).map_err(|_| Error::Config("too many documents".into()))
}

fn distinct_keywords(terms: &[Terms], specs: &[IndexSpec]) -> u64 {
    let mut set = std::collections::HashSet::new();
    for t in terms {
        set.extend(sse::keywords_of(t, specs));
    }
    set.len() as u64
}

/// Query timings and correctness of one scheme over the workload.
#[derive(Default)]
struct QueryRun {
    queries: usize,
    mismatches: usize,
    results: u64,
    times_us: Vec<f64>,
}

/// Runs the workload (within the time budget) through `search`, comparing each answer with the oracle.
fn run_queries(p: &Point<'_, impl Store>, mut search: impl FnMut(&Query) -> Result<Vec<DocId>>) -> Result<QueryRun> {
    let mut r = QueryRun::default();
    let started = Instant::now();
    for (q, want) in p.queries.iter().zip(&p.expected) {
        if r.queries >= MIN_QUERIES && started.elapsed().as_secs_f64() > p.budget {
            break;
        }
        let t = Instant::now();
        let got = search(q)?;
        r.times_us.push(t.elapsed().as_secs_f64() * 1e6);
        if &got != want {
            r.mismatches += 1;
        }
        r.results += got.len() as u64;
        r.queries += 1;
    }
    Ok(r)
}

fn fill_queries(r: &mut SchemeResult, q: QueryRun, traffic: Traffic, primitives: &Primitives) {
    let nq = q.queries.max(1) as f64;
    let total: f64 = q.times_us.iter().sum();
    let mut times = q.times_us;
    r.queries = q.queries;
    r.mismatches = q.mismatches;
    r.results = q.results;
    r.mean_query_us = total / nq;
    r.p50_query_us = median(&mut times);
    r.us_per_result = total / q.results.max(1) as f64;
    r.ratio_to_hmac = r.us_per_result * 1e3 / primitives.hmac_sha256_ns;
    r.ratio_to_aes_siv_1kib = r.us_per_result * 1e3 / primitives.aes_siv_1kib_ns;
    r.bytes_sent_per_query = traffic.bytes_sent as f64 / nq;
    r.bytes_received_per_query = traffic.bytes_received as f64 / nq;
    r.round_trips_per_query = traffic.round_trips as f64 / nq;
}

fn fill_setup(r: &mut SchemeResult, seconds: f64, messages: usize, pairs: u64) {
    r.setup_seconds = seconds;
    r.setup_us_per_message = seconds * 1e6 / messages.max(1) as f64;
    r.setup_us_per_pair = seconds * 1e6 / pairs.max(1) as f64;
}

fn run_blind<S: Store + 'static>(p: &Point<'_, S>) -> Result<SchemeResult> {
    let mut r =
        SchemeResult { name: BLIND.into(), kind: "blind".into(), returns: "messages".into(), ..Default::default() };
    let mut client = Client::connect(
        MasterKey::generate()?,
        TENANT,
        InProcess::new(Arc::clone(&p.server), TENANT),
        Tokenizer::default(),
    )?;
    // Planned for the corpus plus the coming updates, as `sseek index --growth` would.
    let plans = plan_for_corpus(p.terms, &p.specs, 25.0, 2.0, 1.0);
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect())?;
    let t = Instant::now();
    client.add_messages_with_terms(p.messages, p.terms, None)?;
    fill_setup(&mut r, t.elapsed().as_secs_f64(), p.messages.len(), p.pairs);
    let stats = client.server_stats()?;
    r.server_index_bytes = stats.posting_bytes;
    r.server_index_bytes_per_message = stats.posting_bytes as f64 / p.messages.len() as f64;
    let before = client.traffic();
    let q = run_queries(p, |q| Ok(client.search(q)?.ids))?;
    fill_cold_from_first(&mut r, &q, client.traffic() - before);
    fill_queries(&mut r, q, client.traffic() - before, p.primitives);
    let entries: usize = p.extra_terms.iter().map(|t| sse::keywords_of(t, &p.specs).len()).sum();
    let t = Instant::now();
    client.add_messages_with_terms(&p.extra, &p.extra_terms, None)?;
    fill_update(&mut r, t.elapsed().as_secs_f64(), p.extra.len(), entries);
    Ok(r)
}

/// Server-assisted schemes need only the key on a new device: the first
/// result comes after one query, so a new device's time to first result is
/// a query's (the mean: any query of the workload may be the first).
fn fill_cold_from_first(r: &mut SchemeResult, q: &QueryRun, traffic: Traffic) {
    r.cold_first_result_seconds = q.times_us.iter().sum::<f64>() / q.queries.max(1) as f64 / 1e6;
    r.cold_bytes_received = traffic.bytes_received / q.queries.max(1) as u64;
}

fn fill_update(r: &mut SchemeResult, seconds: f64, messages: usize, entries: usize) {
    r.update_messages = messages;
    r.update_entries = entries;
    r.update_us_per_message = Some(seconds * 1e6 / messages.max(1) as f64);
    r.update_us_per_entry = Some(seconds * 1e6 / entries.max(1) as f64);
}

fn run_sse<S: Store + 'static>(p: &Point<'_, S>, name: &str, db: &mut Option<MultiMap>) -> Result<SchemeResult> {
    let mut config = demo::variant_config(name)?;
    let state_path = p.state_dir.path().join(format!("{name}.state"));
    config.state_path = Some(state_path.clone());
    let scheme = sse::open_client(&MasterKey::generate()?, TENANT, &config)?;
    let dynamic = matches!(scheme, SchemeClient::Dynamic(_));
    let mut r = SchemeResult {
        name: name.to_owned(),
        kind: if dynamic { "sse-dynamic" } else { "sse-static" }.into(),
        returns: "ids".into(),
        ..Default::default()
    };
    let mut index = SseIndex::create(InProcess::new(Arc::clone(&p.server), TENANT), scheme)?;
    let docs: Vec<(DocId, &Terms)> =
        p.terms.iter().enumerate().map(|(i, t)| Ok((doc_id(i)?, t))).collect::<Result<_>>()?;
    let seconds = if dynamic {
        // Built as a messenger would: updates in ingest-sized batches.
        let t = Instant::now();
        for chunk in docs.chunks(INGEST_CHUNK) {
            index.update(&sse::updates_of(chunk, &p.specs, UpdateOp::Add))?;
        }
        index.transport().call(&crate::protocol::Request::Sync)?;
        t.elapsed().as_secs_f64()
    } else {
        let db = db.get_or_insert_with(|| sse::multimap(&docs, &p.specs));
        let t = Instant::now();
        index.setup(db)?;
        t.elapsed().as_secs_f64()
    };
    fill_setup(&mut r, seconds, p.messages.len(), p.pairs);
    let st = p.server.store().stats(Table::Entries, &sse::server::instance_prefix(TENANT, &config.instance))?;
    r.server_index_bytes = st.bytes;
    r.server_index_bytes_per_message = st.bytes as f64 / p.messages.len() as f64;
    let before = index.traffic();
    let q = run_queries(p, |q| index.search(q))?;
    let traffic = index.traffic() - before;
    fill_cold_from_first(&mut r, &q, traffic);
    fill_queries(&mut r, q, traffic, p.primitives);
    if dynamic {
        let first = doc_id(p.messages.len())?;
        let extra: Vec<(DocId, &Terms)> =
            p.extra_terms.iter().enumerate().map(|(i, t)| Ok((first + doc_id(i)?, t))).collect::<Result<_>>()?;
        let updates = sse::updates_of(&extra, &p.specs, UpdateOp::Add);
        let t = Instant::now();
        index.update(&updates)?;
        fill_update(&mut r, t.elapsed().as_secs_f64(), extra.len(), updates.len());
    }
    r.client_bytes = std::fs::metadata(&state_path).map_or(0, |m| m.len());
    Ok(r)
}

/// Both baselines under a tenant of their own holding only sealed documents:
/// one upload (the setup), then per variant a cold device's first search and
/// the warm workload, then one batch of new messages every device fetches.
fn run_baselines<S: Store + 'static>(p: &Point<'_, S>, modes: &[BaselineMode]) -> Result<Vec<SchemeResult>> {
    let key = MasterKey::generate()?;
    let device = |mode| {
        Baseline::new(
            &key,
            BASELINE_TENANT,
            InProcess::new(Arc::clone(&p.server), BASELINE_TENANT),
            Tokenizer::default(),
            p.specs.clone(),
            mode,
        )
    };
    let t = Instant::now();
    device(BaselineMode::DownloadAll)?.upload(p.messages)?;
    let setup = t.elapsed().as_secs_f64();
    let (first, want) = match (p.queries.first(), p.expected.first()) {
        (Some(q), Some(w)) => (q, w),
        _ => return Err(Error::Config("empty workload".into())),
    };
    let mut out = Vec::new();
    let mut devices = Vec::new();
    for &mode in modes {
        let mut r = SchemeResult {
            name: mode.name().into(),
            kind: "baseline".into(),
            returns: "ids".into(),
            ..Default::default()
        };
        fill_setup(&mut r, setup, p.messages.len(), p.pairs);
        let mut dev = device(mode)?;
        // Cold device: the first search downloads (and, for the local index, indexes) everything.
        let cpu = process_cpu_seconds();
        let t = Instant::now();
        let got = dev.search(first)?;
        r.cold_first_result_seconds = t.elapsed().as_secs_f64();
        r.cold_cpu_seconds = Some(process_cpu_seconds() - cpu);
        r.cold_bytes_received = dev.stats().bytes_downloaded;
        let cold_mismatch = usize::from(&got != want);
        // Warm device: every search first checks for new messages (one small round trip).
        let before = dev.transport().traffic();
        let q = run_queries(p, |q| dev.search(q))?;
        let traffic = dev.transport().traffic() - before;
        fill_queries(&mut r, q, traffic, p.primitives);
        r.mismatches += cold_mismatch;
        r.client_bytes = dev.stats().storage_bytes();
        out.push(r);
        devices.push(dev);
    }
    // New messages arrive from another device; each device fetches (and indexes) them.
    device(BaselineMode::DownloadAll)?.upload(&p.extra)?;
    let entries: usize = p.extra_terms.iter().map(|t| sse::keywords_of(t, &p.specs).len()).sum();
    for (r, dev) in out.iter_mut().zip(&mut devices) {
        let t = Instant::now();
        dev.sync()?;
        fill_update(r, t.elapsed().as_secs_f64(), p.extra.len(), entries);
        if dev.mode() == BaselineMode::DownloadAll {
            // A scan stores nothing per keyword: entries are not its cost.
            r.update_us_per_entry = None;
        }
    }
    Ok(out)
}

/// The query workload: for each single-field index, values spread over the
/// frequency range (log-spaced ranks) and one absent value; compound
/// `from+day` tuples of random messages; AND of two words of one message;
/// OR of two random words.
pub fn workload(oracle: &PlainIndex, terms: &[Terms], specs: &[IndexSpec], k: usize, seed: u64) -> Vec<Query> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut qs = Vec::new();
    for spec in specs {
        if let [field] = spec.fields.as_slice() {
            let mut values = oracle.frequencies(*field);
            values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let n = values.len();
            let mut picked: Vec<&str> = Vec::new();
            for i in 0..k.min(n) {
                let rank = ((n as f64).powf(i as f64 / (k.max(2) - 1) as f64) as usize).saturating_sub(1).min(n - 1);
                if !picked.contains(&values[rank].0) {
                    picked.push(values[rank].0);
                }
            }
            qs.extend(picked.into_iter().map(|v| Query::term(&spec.name, &[v])));
            let absent = match field {
                Field::Day => "1970-01-01",
                Field::From | Field::To => "nobody@absent.invalid",
                _ => "zqxjkvwabsent",
            };
            qs.push(Query::term(&spec.name, &[absent]));
        } else {
            for _ in 0..k {
                let Some(t) = terms.choose(&mut rng) else { break };
                if let Some(tuple) = spec.values(t).choose(&mut rng) {
                    qs.push(Query::term(&spec.name, tuple));
                }
            }
        }
    }
    let body: Vec<&Terms> = terms.iter().filter(|t| t.get(&Field::Body).is_some_and(|b| b.len() >= 2)).collect();
    for _ in 0..k {
        if let Some(t) = body.choose(&mut rng) {
            let words: Vec<&String> = t[&Field::Body].iter().collect();
            let a = words[rng.random_range(0..words.len())];
            let b = words[rng.random_range(0..words.len())];
            qs.push(Query::And(vec![Query::term("body", &[a]), Query::term("body", &[b])]));
        }
        if let (Some(t1), Some(t2)) = (body.choose(&mut rng), body.choose(&mut rng))
            && let (Some(a), Some(b)) = (t1[&Field::Body].iter().next(), t2[&Field::Body].iter().last())
        {
            qs.push(Query::Or(vec![Query::term("body", &[a]), Query::term("body", &[b])]));
        }
    }
    // Shuffled so a time budget cuts a sample of every class, not the last classes.
    let mut order: Vec<(u64, Query)> = qs.into_iter().map(|q| (rng.random::<u64>(), q)).collect();
    order.sort_by_key(|(r, _)| *r);
    order.into_iter().map(|(_, q)| q).collect()
}

fn is_baseline(name: &str) -> bool {
    BaselineMode::ALL.iter().any(|m| m.name() == name)
}

/// The synthetic points, ascending by size, with one scheme's value per point.
pub(crate) fn series(points: &[PointResult], scheme: &str, f: impl Fn(&SchemeResult) -> f64) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.synthetic)
        .filter_map(|p| p.schemes.iter().find(|s| s.name == scheme).map(|s| (p.messages as f64, f(s))))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Scheme names present in the report, in run order.
pub(crate) fn names(points: &[PointResult]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in points {
        for s in &p.schemes {
            if !out.contains(&s.name) {
                out.push(s.name.clone());
            }
        }
    }
    out
}

fn crossovers(points: &[PointResult]) -> Vec<Crossover> {
    let names = names(points);
    let mut out = Vec::new();
    for base in names.iter().filter(|n| is_baseline(n)) {
        for scheme in names.iter().filter(|n| !is_baseline(n)) {
            for metric in ["cold", "warm"] {
                let cost = |s: &SchemeResult| {
                    if metric == "cold" { s.cold_first_result_seconds } else { s.mean_query_us / 1e6 }
                };
                let a = series(points, scheme, cost);
                let b = series(points, base, cost);
                // Positive where the server-assisted scheme is faster.
                let d: Vec<(f64, f64)> = a
                    .iter()
                    .filter_map(|(n, x)| {
                        b.iter().find(|(m, _)| m == n).map(|(_, y)| (*n, y.max(1e-9).ln() - x.max(1e-9).ln()))
                    })
                    .collect();
                let (messages, note) = crossing(&d);
                out.push(Crossover {
                    scheme: scheme.clone(),
                    baseline: base.clone(),
                    metric: metric.into(),
                    messages,
                    note,
                });
            }
        }
    }
    out
}

/// Where `d` turns positive for good: after the last measured size where it
/// is not, interpolated in log size between that size and the next.
fn crossing(d: &[(f64, f64)]) -> (Option<f64>, String) {
    let Some(&(first_n, _)) = d.first() else { return (None, "no common sizes".into()) };
    match d.iter().rposition(|(_, x)| *x <= 0.0) {
        None => (Some(first_n), format!("faster at every measured size (from {first_n:.0} messages)")),
        Some(i) if i + 1 == d.len() => {
            let last = d[i].0;
            let note = if d.iter().all(|(_, x)| *x <= 0.0) {
                format!("slower at every measured size (up to {last:.0} messages)")
            } else {
                format!("slower again at the largest size ({last:.0} messages)")
            };
            (None, note)
        }
        Some(i) => {
            let ((n0, d0), (n1, d1)) = (d[i], d[i + 1]);
            let f = -d0 / (d1 - d0);
            let n = (n0.ln() + f * (n1.ln() - n0.ln())).exp();
            (Some(n), format!("faster from about {n:.0} messages"))
        }
    }
}

fn slopes(points: &[PointResult]) -> Vec<Slope> {
    names(points)
        .into_iter()
        .filter_map(|name| {
            let s = series(points, &name, |s| s.us_per_result);
            let pts: Vec<(f64, f64)> =
                s.iter().filter(|(n, y)| *n > 0.0 && *y > 0.0).map(|(n, y)| (n.ln(), y.ln())).collect();
            if pts.len() < 2 {
                return None;
            }
            let k = pts.len() as f64;
            let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / k, pts.iter().map(|p| p.1).sum::<f64>() / k);
            let sxy: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
            let sxx: f64 = pts.iter().map(|(x, _)| (x - mx).powi(2)).sum();
            (sxx > 0.0).then(|| Slope { scheme: name, log_log_slope: sxy / sxx })
        })
        .collect()
}

impl BenchReport {
    /// The report as markdown: environment, primitives, one table per point,
    /// crossovers and slopes.
    pub fn to_markdown(&self) -> String {
        let e = &self.environment;
        let pr = &self.primitives;
        let mut s = format!(
            "# sseek bench\n\n`{}`\n\nenvironment: {}\n\nstore: {:?}; raw primitives this run: HMAC-SHA256 (32 B) {:.0} ns, AES-256-SIV 1 KiB {:.0} ns, AES-256-GCM 1 KiB {:.0} ns; {} mismatches against the oracle; {:.0} s in total.\n",
            self.command,
            e.line(),
            self.store,
            pr.hmac_sha256_ns,
            pr.aes_siv_1kib_ns,
            pr.aes_gcm_1kib_ns,
            self.mismatches,
            self.seconds
        );
        for p in &self.points {
            s.push_str(&format!(
                "\n## {} ({} messages, {} pairs, {} keywords)\n\nkeyword extraction {:.2} s; sealed documents {:.0} B/message; peak RSS so far {:.0} MiB; point took {:.1} s.\n\n",
                p.dataset,
                p.messages,
                p.pairs,
                p.keywords,
                p.extract_seconds,
                p.document_bytes_per_message,
                p.peak_rss_bytes as f64 / 1048576.0,
                p.seconds
            ));
            s.push_str("| scheme | setup µs/msg | setup µs/pair | queries | mismatches | mean query µs | µs/result | ÷ HMAC | bytes out/in per query | round trips | server index B/msg | client bytes | cold first result s | cold bytes in | update µs/msg | update µs/entry |\n");
            s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for r in &p.schemes {
                let opt = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.2}"));
                s.push_str(&format!(
                    "| {} | {:.2} | {:.3} | {} | {} | {:.0} | {:.3} | {:.1} | {:.0} / {:.0} | {:.1} | {:.1} | {} | {:.4} | {} | {} | {} |\n",
                    r.name,
                    r.setup_us_per_message,
                    r.setup_us_per_pair,
                    r.queries,
                    r.mismatches,
                    r.mean_query_us,
                    r.us_per_result,
                    r.ratio_to_hmac,
                    r.bytes_sent_per_query,
                    r.bytes_received_per_query,
                    r.round_trips_per_query,
                    r.server_index_bytes_per_message,
                    r.client_bytes,
                    r.cold_first_result_seconds,
                    r.cold_bytes_received,
                    opt(r.update_us_per_message),
                    opt(r.update_us_per_entry),
                ));
            }
        }
        if !self.crossovers.is_empty() {
            s.push_str("\n## Where server-assisted search beats client-only (synthetic sweep)\n\n| scheme | baseline | metric | from messages | reading |\n|---|---|---|---:|---|\n");
            for c in &self.crossovers {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    c.scheme,
                    c.baseline,
                    c.metric,
                    c.messages.map_or("-".into(), |m| format!("{m:.0}")),
                    c.note
                ));
            }
        }
        if !self.slopes.is_empty() {
            s.push_str("\n## Growth of search cost per result (log-log slope over the synthetic sizes; 0 = flat)\n\n| scheme | slope |\n|---|---:|\n");
            for sl in &self.slopes {
                s.push_str(&format!("| {} | {:.3} |\n", sl.scheme, sl.log_log_slope));
            }
        }
        s
    }

    /// Writes `report.json`, `report.md` and the plots (SVG and PNG) into `dir`,
    /// creating it. Returns the files written.
    ///
    /// # Errors
    /// [`Error::Io`] and [`Error::Plot`].
    pub fn write_all(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut files = Vec::new();
        let json = dir.join("report.json");
        self.write_json(&json)?;
        files.push(json);
        let md = dir.join("report.md");
        std::fs::write(&md, self.to_markdown()).map_err(|e| Error::io(&md, e))?;
        files.push(md);
        files.extend(plot::write_plots(self, dir)?);
        Ok(files)
    }

    /// Writes the report as pretty JSON.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }
}

/// Arguments of `sseek bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Synthetic corpus sizes in messages, comma-separated (default 1000,10000,100000,1000000; with --quick 1000,10000).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<u64>>,
    /// Real corpora to add, comma-separated (`spamassassin`, a mail directory, .jsonl, .tar.gz); `none` for none.
    #[arg(long, default_value = datasets::SPAMASSASSIN)]
    pub datasets: String,
    /// Schemes to run, comma-separated (default: all; see the JSON for names).
    #[arg(long, value_delimiter = ',')]
    pub schemes: Option<Vec<String>>,
    /// Server store: memory or redb (in a temporary directory).
    #[arg(long, default_value = "redb")]
    pub store: String,
    /// A small run: two sizes, few queries, short time budgets (under 2 minutes on 2 cores).
    #[arg(long)]
    pub quick: bool,
    /// Queries per query class (default 8; 3 with --quick).
    #[arg(long)]
    pub queries: Option<usize>,
    /// Seconds of searching per scheme and point before the rest of the workload is skipped (default 20; 2 with --quick).
    #[arg(long)]
    pub query_budget: Option<f64>,
    /// Seed of the synthetic corpora and workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Directory for report.json, report.md and the plots (SVG and PNG).
    #[arg(long, default_value = "bench-out")]
    pub out: std::path::PathBuf,
}

impl BenchArgs {
    /// The options these arguments select.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown store.
    pub fn options(&self) -> Result<BenchOptions> {
        let mut o = if self.quick { BenchOptions::quick() } else { BenchOptions::full() };
        if let Some(s) = &self.sizes {
            o.sizes.clone_from(s);
        }
        o.datasets = if self.datasets == "none" {
            Vec::new()
        } else {
            self.datasets.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
        };
        if let Some(s) = &self.schemes {
            o.schemes.clone_from(s);
        }
        o.store = self.store.parse()?;
        if let Some(q) = self.queries {
            o.queries_per_class = q.max(1);
        }
        if let Some(b) = self.query_budget {
            o.query_budget_seconds = b;
        }
        o.seed = self.seed;
        Ok(o)
    }
}

/// Runs `sseek bench`: prints the markdown report, writes the files, and
/// returns whether every answer equalled the oracle.
///
/// # Errors
/// As [`run`]; I/O and plot errors writing the outputs.
pub fn run_cli(args: &BenchArgs) -> Result<bool> {
    let opts = args.options()?;
    eprintln!("environment: {}", Environment::detect().line());
    let mut report = run(&opts)?;
    report.command = std::iter::once("sseek".to_owned()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
    println!("{}", report.to_markdown());
    for f in report.write_all(&args.out)? {
        eprintln!("wrote {}", f.display());
    }
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("wrote {}", path.display());
    }
    if report.mismatches > 0 {
        eprintln!("error: {} answers disagree with the plaintext oracle", report.mismatches);
    }
    Ok(report.mismatches == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_cases() {
        assert_eq!(crossing(&[(10.0, 1.0), (100.0, 2.0)]).0, Some(10.0));
        assert_eq!(crossing(&[(10.0, -1.0), (100.0, -2.0)]).0, None);
        let (n, _) = crossing(&[(10.0, -1.0), (100.0, 1.0)]);
        assert!((n.unwrap() - 31.62).abs() < 0.1, "{n:?}");
    }

    #[test]
    fn every_variant_is_a_scheme() {
        let names = scheme_names();
        for v in demo::SSE_VARIANTS {
            assert!(names.iter().any(|n| n == v));
        }
        assert!(names.contains(&"baseline-download".to_owned()) && names.contains(&"blind".to_owned()));
        assert!("disk".parse::<StoreKind>().is_err());
    }
}
