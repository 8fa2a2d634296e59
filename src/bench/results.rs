//! What the sweep measures: one [`SchemeResult`] per scheme and point, one
//! [`PointResult`] per corpus, and the whole [`BenchReport`].

use serde::Serialize;

use super::{
    BlindLatency, ConjunctiveReport, Environment, KeywordExtraction, MultimapReport, Primitives, StoreKind, TargetRow,
};

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
    /// Queries run (all, or those within the time budget; at least [`MIN_QUERIES`](super::MIN_QUERIES)).
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
    /// Every SSE scheme on the keyword-multimap corpora, if any ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multimap: Option<MultimapReport>,
    /// Blind-index query latency (newest 20, all results), per corpus.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blind_latency: Vec<BlindLatency>,
    /// Keyword extraction throughput, if measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_extraction: Option<KeywordExtraction>,
    /// OXT conjunctions next to per-term AND on 2Lev, if any ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conjunctive: Option<ConjunctiveReport>,
    /// Each measure of this run next to its target.
    pub targets: Vec<TargetRow>,
    /// Mismatches against the oracle in total (must be 0): the message
    /// sweep, the multimap runs, the latency runs, keyword extraction and
    /// the conjunctions.
    pub mismatches: usize,
    /// Seconds for the whole run.
    pub seconds: f64,
}
