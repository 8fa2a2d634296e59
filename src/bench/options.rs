//! What `sseek bench` sweeps: the store, the corpora, the schemes, the
//! query workload's size and time budget.

use std::str::FromStr;

use serde::Serialize;

use crate::baseline::BaselineMode;
use crate::datasets;
use crate::demo;
use crate::{Error, Result};

/// Name of the blind-index entry.
pub const BLIND: &str = "blind";

/// Which store backs the server during a bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StoreKind {
    /// [`MemoryStore`](crate::store::MemoryStore).
    Memory,
    /// [`RedbStore`](crate::store::RedbStore) in a temporary directory (the default: what a deployment uses).
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
    /// Keyword-multimap corpora (see [`datasets::ZipfMultimap`]) on which
    /// every selected SSE scheme runs directly, named.
    pub multimaps: Vec<(String, datasets::ZipfMultimap)>,
    /// Documents of a scaled copy of the first multimap corpus, run on redb
    /// for the growth of the per-result cost (e.g. 1,000,000).
    pub multimap_scaled: Option<u64>,
    /// Corpora ([`datasets::load`] specs) on which the blind index's
    /// newest-20 and all-results latency is measured with the demo's workload.
    pub blind_latency: Vec<String>,
    /// Corpus on which keyword extraction throughput is measured, if any.
    pub keyword_corpus: Option<String>,
    /// Synthetic corpus sizes (messages) on which OXT conjunctions run next
    /// to per-term AND on 2Lev (see [`ConjunctiveReport`](super::ConjunctiveReport)).
    pub conjunctive: Vec<u64>,
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
            multimaps: Vec::new(),
            multimap_scaled: None,
            blind_latency: Vec::new(),
            keyword_corpus: None,
            conjunctive: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
