//! Declared leakage of OXT, in the project's vocabulary (the paper's names
//! in parentheses).
//!
//! - `L_setup`: `N`, the number of keyword-document pairs (one XSet element
//!   per pair; TSet values number `sum_w ceil(n_w / B)`, all of one size),
//!   hence also the entry count; and, through the sealed keyword
//!   statistics kept beside the index, the number of keywords (its size).
//! - `L_search` of a conjunction `s AND x_1 AND ... AND x_m`, `s` the
//!   s-term: the s-term's search pattern and list length `|DB(s)|` (SP,
//!   size pattern); the number of x-terms; the result pattern: for each
//!   x-term `x_i`, which entries of `DB(s)` hold it, `DB(s) ∩ DB(x_i)`
//!   (the server tests every xtag on its own, so it learns this keyword-pair
//!   result pattern, not only the conjunction's result); and the conditional
//!   intersection pattern: across queries whose x-terms share a keyword,
//!   which entries of their s-terms' lists hold the same document (IP),
//!   because equal `(xterm, document)` pairs give equal xtags.
//!   Not leaked: an x-term's list outside `DB(s)`, and whether two queries share an
//!   x-term beyond what IP shows.
//! - A single-term query is a conjunction without x-terms: search pattern
//!   and access pattern of that term.
//!
//! The law tests of this declaration are in `tests/suite/oxt.rs`: two
//! workloads with the same declared leakage give views of the same shape,
//! and a negative control (per-term AND, which reveals each term's list)
//! fails it.

use crate::leakage_terms::{Leak, Profile};

/// OXT.
pub const PROFILE: Profile = Profile {
    scheme: "oxt",
    setup: &[Leak::TotalSize, Leak::EntryCount],
    search: &[Leak::STermPattern, Leak::ResultPattern, Leak::ConditionalIntersection],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "per conjunction: s-term search pattern and |DB(s)|, DB(s) ∩ DB(x) for each x-term, and the \
            conditional intersection pattern; no x-term's list outside DB(s)",
};
