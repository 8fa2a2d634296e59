//! The four known-data attacks of Blackstone, Kamara and Moataz, "Revisiting
//! Leakage Abuse Attacks", NDSS 2020 (doi:10.14722/ndss.2020.23103):
//!
//! | attack | leakage used | attacker knows |
//! |---|---|---|
//! | [`SubgraphId`] | access pattern (rid) | known documents: ids and keyword sets |
//! | [`SubgraphVl`] | per-document volumes (vol) | known documents: sizes and keyword sets |
//! | [`VolAn`] | total volume (tvol) | known documents: sizes and keyword sets |
//! | [`SelVolAn`] | total volume and result length (rlen) | known documents: sizes and keyword sets |
//!
//! All four read δ, the fraction of the database the known documents are,
//! from [`Knowledge::known_fraction`], and consider as candidates only the
//! keywords that occur in at least one known document (the paper's `W_K`).
//! None of them uses the search pattern or known queries. Notes with the
//! construction, parameters and measured results: `papers/subgraph-id.md`,
//! `papers/subgraph-vl.md`, `papers/vol-an.md`, `papers/sel-vol-an.md`.
//!
//! Queries with identical leakage are treated as one query (the paper's
//! experiments draw distinct queries; a repeated query must not eliminate
//! its own keyword) and get the same guess.
//!
//! `subgraph.rs` holds the Subgraph framework and its two instances,
//! `volan.rs` the two volume analyses; what all four read off an observation
//! is here.

mod subgraph;
pub mod synthetic;
#[cfg(test)]
mod tests;
mod volan;

pub use subgraph::{CrossFiltering, SUBGRAPH_ID_EPSILON, SUBGRAPH_VL_EPSILON, SubgraphId, SubgraphVl};
pub use volan::{SEL_VOL_AN_EPSILON, SelVolAn, VolAn};

use crate::leakage::attacks::Knowledge;
use crate::leakage::observe::{Observation, QueryObservation};

/// δ, clamped to [0, 1] (0 if not a number).
pub(super) fn known_fraction(knowledge: &Knowledge) -> f64 {
    let delta = knowledge.known_fraction;
    if delta.is_nan() { 0.0 } else { delta.clamp(0.0, 1.0) }
}

/// Ciphertext sizes the server saw returned for `q`: the fetched documents,
/// or failing a fetch the at-rest sizes of the returned ids; an empty
/// result has no documents; otherwise unknown.
pub(super) fn response_sizes(q: &QueryObservation, observation: &Observation) -> Option<Vec<u64>> {
    if !q.documents.is_empty() {
        return Some(q.documents.iter().map(|d| d.bytes).collect());
    }
    match &q.ids {
        Some(ids) => Some(ids.iter().filter_map(|id| observation.documents.get(id).copied()).collect()),
        None if q.result_len == 0 => Some(Vec::new()),
        None => None,
    }
}
