//! `sseek attack`: runs attacks over schemes, countermeasures, known
//! fractions and seeds, and reports recovery with its spread, run times and
//! the cost of each countermeasure; writes JSON, the markdown of
//! `LEAKAGE.md` and the cost-versus-recovery plots.
//!
//! One file per job: the command line ([`AttackArgs`], [`run_cli`]), the
//! assembly of the report from scenarios and attacks ([`run`]), recovery
//! over seeds as a distribution ([`Distribution`]), merging an earlier
//! report's rows in ([`AttackReport::merge`]), its markdown tables, its
//! plots, attacks on a view captured elsewhere ([`attack_saved_view`]), and
//! the sections of the experiments beyond the grid (the conjunctive
//! workload, one Redis Cluster shard's view).
//! The report's types are here.

// Rates, counts and pixel coordinates are small.

mod assemble;
mod cli;
mod distribution;
mod markdown;
mod merge;
mod plots;
mod saved_view;
mod sections;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use assemble::{query_attack, run};
pub use cli::{ATTACKS, AttackArgs, FRONTIER_BLIND, FRONTIER_SSE, GRID_KNOWN, KNOWN_QUERIES, SPREAD, run_cli};
pub use distribution::{Distribution, NEARLY_ALL, NOTHING, SUCCESS};
pub use markdown::profiles_table;
pub use merge::MergedFrom;
pub use saved_view::{QueryGuess, ViewGuesses, attack_saved_view, observation_of};
pub use sections::{
    CONJUNCTIVE_KEYWORDS, CONJUNCTIVE_PLOT, ConjunctiveSection, SHARD_SCHEME, ShardSection, conjunctive_section,
    shard_section,
};

use crate::bench::Environment;
use crate::leakage::experiment::{QueryDistribution, Selection};
use crate::{Error, Result};

/// Recovery of one (attack, scheme, countermeasure, known fraction) over the seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Attack name.
    pub attack: String,
    /// Scheme the view came from.
    pub scheme: String,
    /// Countermeasure.
    pub countermeasure: String,
    /// Known fraction of the messages (0 for attacks that use none).
    pub known: f64,
    /// What is recovered: `queries` or `keywords` (frequency attack).
    pub unit: String,
    /// Mean recovery rate over the seeds.
    pub mean: f64,
    /// Sample standard deviation over the seeds (0 for one seed).
    pub std: f64,
    /// Lowest rate.
    pub min: f64,
    /// Highest rate.
    pub max: f64,
    /// Runs (seeds).
    pub runs: usize,
    /// Mean attack run time, seconds.
    pub seconds: f64,
    /// Seeds of the runs, in the order of `rates` (empty in reports written
    /// before per-seed rates were kept).
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// Recovery rate of each run (empty in reports written before per-seed
    /// rates were kept).
    #[serde(default)]
    pub rates: Vec<f64>,
    /// The rates as a distribution (median, quartiles, successes), if
    /// per-seed rates were kept.
    #[serde(default)]
    pub distribution: Option<Distribution>,
}

/// Costs of one (scheme, countermeasure), averaged over the seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostRow {
    /// Scheme.
    pub scheme: String,
    /// Countermeasure.
    pub countermeasure: String,
    /// Plaintext pairs.
    pub pairs: u64,
    /// Extra indexed pairs, percent.
    pub extra_pairs_pct: f64,
    /// Extra document bytes at rest, percent.
    pub extra_document_bytes_pct: f64,
    /// Bytes returned per query.
    pub bytes_per_query: f64,
    /// Extra bytes returned per query over the same scheme without countermeasure, percent.
    pub extra_bytes_per_query_pct: f64,
    /// Documents fetched and dropped per query.
    pub discarded_per_query: f64,
    /// Time per query, ms.
    pub ms_per_query: f64,
    /// Setup time, s.
    pub setup_seconds: f64,
    /// Result mismatches against the plaintext (must be 0).
    pub mismatches: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    /// Machine and build.
    pub environment: Environment,
    /// Dataset.
    pub dataset: String,
    /// Messages.
    pub documents: usize,
    /// Keyword-document pairs of the body index.
    pub pairs: u64,
    /// Candidate keywords.
    pub keywords: usize,
    /// Queries per run.
    pub queries: usize,
    /// Candidate selection.
    pub selection: Selection,
    /// Query distribution.
    pub distribution: QueryDistribution,
    /// Seeds used.
    pub seeds: Vec<u64>,
    /// Recovery rows.
    pub rows: Vec<Row>,
    /// Cost rows.
    pub costs: Vec<CostRow>,
    /// Configurations that were skipped, and why.
    pub skipped: Vec<String>,
    /// Wall time of the whole run, seconds.
    pub total_seconds: f64,
    /// Attacks whose per-seed distribution gets its own table in the markdown.
    pub spread: Vec<String>,
    /// Earlier reports whose rows and costs this one kept for the
    /// configurations it did not measure itself (`--merge`), oldest first.
    pub merged: Vec<MergedFrom>,
    /// The conjunctive workload's section (`--conjunctive`), if run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conjunctive: Option<ConjunctiveSection>,
    /// One Redis Cluster shard's view (`--shards`), if run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardSection>,
}

impl AttackReport {
    /// Writes the report as pretty JSON.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        std::fs::write(path, json).map_err(|e| Error::io(path, e))
    }
    /// A recovery rate, if measured.
    pub fn rate(&self, attack: &str, scheme: &str, countermeasure: &str, known: f64) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.attack == attack && r.scheme == scheme && r.countermeasure == countermeasure && r.known == known
        })
    }

    /// The cost row of a configuration.
    pub fn cost(&self, scheme: &str, countermeasure: &str) -> Option<&CostRow> {
        self.costs.iter().find(|c| c.scheme == scheme && c.countermeasure == countermeasure)
    }
}
