//! `sseek bench`: what each way of searching encrypted messages costs, by
//! corpus size, measured in one run on this machine.
//!
//! One *point* is one corpus (synthetic `N` messages or a real corpus) in a
//! fresh store (memory or redb). At each point every *scheme* runs over the
//! in-process transport (every message encoded and decoded, so byte counts
//! are those of a network):
//! - `blind`: all blind indexes of [`crate::blind::default_index_specs`] as
//!   one system, searched through [`Client::search`](crate::client::Client::search) (results are decrypted
//!   messages, false positives dropped);
//! - every SSE variant of [`demo::SSE_VARIANTS`](crate::demo::SSE_VARIANTS) (a new variant is picked up
//!   by registering it there), searched through [`SseIndex::search`](crate::sse::SseIndex::search)
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
//!
//! On the keyword-multimap corpora (`zipf-sparse`, `zipf-dense`:
//! [`BenchOptions::multimaps`]) every SSE scheme runs directly on the
//! multimap ([`MultimapReport`]); the blind index's newest-20 latency
//! ([`blind_latency`]) and keyword extraction ([`keyword_extraction`]) are
//! measured on the message corpora named; the report ends with each measure
//! next to its target ([`TargetRow`]). On synthetic corpora of the sizes in
//! [`BenchOptions::conjunctive`], OXT answers conjunctions next to per-term
//! AND on 2Lev ([`ConjunctiveReport`]), each cost also in Ristretto255
//! fixed-base multiplications of the same run.
//!
//! One file per job: what to run ([`BenchOptions`]) and the command line
//! ([`BenchArgs`]), the [`Environment`] of a run, the raw [`Primitives`],
//! the sweep ([`run`]), the analysis of its points (crossovers, slopes), the
//! report types ([`BenchReport`]) and their rendering (markdown, JSON), and
//! the [`plot`]s.

// Float-to-integer casts here saturate and act on bounded statistics.

mod analysis;
mod cli;
mod client_costs;
mod conjunctive;
mod environment;
mod multimap;
mod options;
pub mod plot;
mod primitives;
mod render;
mod results;
mod sweep;
mod targets;

pub(crate) use analysis::{names, series};
pub use cli::{BenchArgs, run_cli};
pub use client_costs::{BlindLatency, KeywordExtraction, PAGE, blind_latency, keyword_extraction};
pub use conjunctive::{
    ConjunctionQuery, ConjunctionResult, ConjunctiveBench, ConjunctivePoint, ConjunctiveReport, ConjunctiveSetup,
    MemoryIndex, QueryCost, REPETITIONS, build_index, conjunctions, mismatches, synthetic_multimap,
};
pub use environment::Environment;
pub use environment::peak_rss_bytes;
pub use multimap::{MultimapReport, MultimapResult, SetupScaling};
pub use options::{BLIND, BenchOptions, MIN_QUERIES, StoreKind, scheme_names};
pub use primitives::Primitives;
pub use results::{BenchReport, Crossover, PointResult, SchemeResult, Slope};
pub use sweep::{run, workload};
pub use targets::TargetRow;
