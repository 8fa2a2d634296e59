//! The leakage vocabulary: the types in which every scheme declares, in
//! code, what it lets the server learn, and the values those leakage
//! functions take on a concrete workload. The terms (search pattern, access
//! pattern, result length, volume, forward and backward privacy, ...) are
//! defined in `papers/leakage-terms.md`.
//!
//! - [`Profile`]: which [`Leak`] items make up a scheme's `L_setup`,
//!   `L_search` and `L_update` (each scheme's `leakage` module declares its
//!   profiles; reports print them).
//! - [`Workload`]: a plaintext database and the operations on it; a
//!   [`Trace`]: the value a leakage function takes on a workload.
//! - [`view`]: what the server saw ([`view::ServerView`]), and
//!   [`canonical`]: that view up to renaming of pseudorandom strings.
//!
//! The leakage analysis (`crate::leakage`) computes traces, simulates views
//! from them and checks both against recorded runs.

pub mod canonical;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;

use serde::Serialize;

use crate::multimap::{Keyword, MultiMap, Update};
use crate::protocol::DocId;

/// Backward-privacy level (Bost, Minaud, Ohrimenko, CCS 2017), from the
/// strongest (I) to the weakest (III).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum BackwardPrivacy {
    /// A search for `w` leaks the ids currently matching `w`, when they were
    /// inserted, and the total number of updates on `w`.
    TypeI,
    /// Type I plus the timestamps of every update on `w`.
    TypeII,
    /// Type II plus which deletion cancelled which insertion.
    TypeIII,
}

impl fmt::Display for BackwardPrivacy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackwardPrivacy::TypeI => "Type I",
            BackwardPrivacy::TypeII => "Type II",
            BackwardPrivacy::TypeIII => "Type III",
        })
    }
}

/// One item of a leakage function, in the standard vocabulary. A profile
/// lists which items each of `L_setup`, `L_search`, `L_update` contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Leak {
    /// `N`: the number of (keyword, document) pairs.
    TotalSize,
    /// The number of stored index entries (e.g. `sum_w ceil(n_w / B)` for Pi_pack).
    EntryCount,
    /// The storage layout beyond the entry count: sizes of entries,
    /// dictionaries, arrays and blocks (e.g. 2Lev's per-keyword list shape).
    LayoutSizes,
    /// The number of stored documents.
    DocumentCount,
    /// The ciphertext size of every stored document.
    DocumentSizes,
    /// At rest, every keyword's frequency (its posting-list length), up to
    /// collisions of truncated tokens: deterministic encryption.
    FrequenciesAtRest,
    /// At rest, which documents share which keyword (the posting lists
    /// themselves, not only their lengths).
    CoOccurrenceAtRest,
    /// That a search happened (and when), nothing about what it was for.
    SearchOccurred,
    /// Search pattern: which queries were for the same keyword.
    SearchPattern,
    /// Access pattern: `DB(w)`, the ids matching each query.
    AccessPattern,
    /// A superset of the access pattern: candidate ids including false
    /// positives (truncated blind-index tokens).
    CandidateSet,
    /// Result length `|DB(w)|`.
    ResultLength,
    /// Result length after padding or rounding (blocks, padding to multiples
    /// or powers): `pad(|DB(w)|)`.
    PaddedResultLength,
    /// Ciphertext sizes of the documents a query returns or fetches.
    Volume,
    /// `|DB(w_i) ∩ DB(w_j)|` between queried keywords (derivable from the access pattern).
    CoOccurrence,
    /// An update's type (add or delete).
    UpdateType,
    /// An update's size (pairs per batch).
    UpdateSize,
    /// The ids an update adds or deletes.
    UpdateIds,
    /// Whether an update touches a keyword searched before (absent for
    /// forward-private schemes).
    UpdateKeywordLinkage,
    /// What a search reveals about the updates of its keyword, at the given
    /// backward-privacy level.
    BackwardPrivacy(BackwardPrivacy),
    /// Result pattern of a conjunction with s-term `s` and x-terms `x_i`:
    /// which documents of `DB(s)` hold each `x_i` (`DB(s) ∩ DB(x_i)`, the
    /// keyword-pair result pattern), hence the conjunction's result; not
    /// the x-terms' lists outside `DB(s)` (OXT's RP).
    ResultPattern,
    /// Of a conjunction's s-term only: which queries share it (its search
    /// pattern) and its list length `|DB(s)|` (OXT's SP and size pattern).
    STermPattern,
    /// Conditional intersection pattern (OXT's IP): for two queries whose
    /// x-terms share a keyword, the ids in both s-terms' lists.
    ConditionalIntersection,
}

impl Leak {
    /// A short human-readable name in the standard vocabulary.
    pub fn describe(self) -> String {
        match self {
            Leak::TotalSize => "N (keyword-document pairs)".into(),
            Leak::EntryCount => "entry count".into(),
            Leak::LayoutSizes => "layout sizes".into(),
            Leak::DocumentCount => "document count".into(),
            Leak::DocumentSizes => "document sizes".into(),
            Leak::FrequenciesAtRest => "keyword frequencies at rest".into(),
            Leak::CoOccurrenceAtRest => "co-occurrence at rest".into(),
            Leak::SearchOccurred => "that a search happened".into(),
            Leak::SearchPattern => "search pattern".into(),
            Leak::AccessPattern => "access pattern".into(),
            Leak::CandidateSet => "candidate set (access pattern with false positives)".into(),
            Leak::ResultLength => "result length".into(),
            Leak::PaddedResultLength => "padded result length".into(),
            Leak::Volume => "volume".into(),
            Leak::CoOccurrence => "co-occurrence of queried keywords".into(),
            Leak::UpdateType => "update type".into(),
            Leak::UpdateSize => "update size".into(),
            Leak::UpdateIds => "updated ids".into(),
            Leak::UpdateKeywordLinkage => "update-to-past-search linkage".into(),
            Leak::BackwardPrivacy(t) => format!("backward privacy {t} leakage"),
            Leak::ResultPattern => "result pattern (s-term's documents per x-term)".into(),
            Leak::STermPattern => "s-term search pattern and list length".into(),
            Leak::ConditionalIntersection => "conditional intersection pattern".into(),
        }
    }
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A scheme's declared leakage profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// Scheme variant name as in reports (e.g. `pibas`, `pack-rh`, `blind`).
    pub scheme: &'static str,
    /// Items of `L_setup` (what the server learns from setup / data at rest).
    pub setup: &'static [Leak],
    /// Items of `L_search` (per query).
    pub search: &'static [Leak],
    /// Items of `L_update` (per update batch); empty for static schemes.
    pub update: &'static [Leak],
    /// Forward private: updates are unlinkable to past searches.
    pub forward_private: bool,
    /// Backward-privacy level; `None` for static schemes or schemes without deletions.
    pub backward: Option<BackwardPrivacy>,
    /// One sentence on what the items mean for this scheme (parameters, caveats).
    pub notes: &'static str,
}

impl Profile {
    /// Whether `leak` is declared in any of the three functions.
    pub fn declares(&self, leak: Leak) -> bool {
        self.setup.contains(&leak) || self.search.contains(&leak) || self.update.contains(&leak)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[Leak]| {
            if items.is_empty() {
                "nothing".to_owned()
            } else {
                items.iter().map(|l| l.describe()).collect::<Vec<_>>().join(", ")
            }
        };
        write!(f, "{}: L_setup = {}; L_search = {}", self.scheme, list(self.setup), list(self.search))?;
        if !self.update.is_empty() {
            write!(f, "; L_update = {}", list(self.update))?;
        }
        write!(f, "; forward private: {}", if self.forward_private { "yes" } else { "no" })?;
        if let Some(b) = self.backward {
            write!(f, "; backward private: {b}")?;
        }
        Ok(())
    }
}

/// The value one leakage item takes. Values are compared with `==`, so
/// anything whose order carries no information must be built with
/// [`LeakValue::bag`] (sorted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum LeakValue {
    /// A number (N, a result length, a count).
    Count(u64),
    /// Numbers in a meaningful order (e.g. sizes per counter).
    Counts(Vec<u64>),
    /// Document ids (an access pattern, a posting list), in the order the server sees them.
    Ids(Vec<DocId>),
    /// A document id → size map (document sizes at rest, a volume).
    Sizes(BTreeMap<DocId, u64>),
    /// A search-pattern class: equal numbers for the same keyword, numbered
    /// 0, 1, ... by first appearance (see [`first_occurrence`]).
    Pattern(u32),
    /// A flag (e.g. an update type: `true` for add).
    Flag(bool),
    /// An ordered tuple of values.
    Tuple(Vec<LeakValue>),
    /// A multiset of values, sorted: build it with [`LeakValue::bag`].
    Bag(Vec<LeakValue>),
}

impl LeakValue {
    /// A multiset: sorts `items` so the order they came in does not matter.
    pub fn bag(mut items: Vec<LeakValue>) -> LeakValue {
        items.sort();
        LeakValue::Bag(items)
    }
}

/// What kind of workload operation a trace entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum OperationKind {
    /// A keyword search.
    Search,
    /// An update batch.
    Update,
}

/// The leakage of one operation: which function applied and the values of its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationLeakage {
    /// Search or update.
    pub kind: OperationKind,
    /// Each declared item with its value, in the profile's order.
    pub values: Vec<(Leak, LeakValue)>,
}

impl OperationLeakage {
    /// The value of `leak`, if present.
    pub fn get(&self, leak: Leak) -> Option<&LeakValue> {
        self.values.iter().find(|(l, _)| *l == leak).map(|(_, v)| v)
    }
}

/// The value of a scheme's leakage functions on a whole workload:
/// `L_setup(DB)` followed by one entry per operation. Two workloads "have
/// equal declared leakage" iff their traces are `==`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// Scheme variant the trace was computed for.
    pub scheme: &'static str,
    /// `L_setup` items with their values.
    pub setup: Vec<(Leak, LeakValue)>,
    /// One entry per workload operation, in order.
    pub operations: Vec<OperationLeakage>,
}

impl Trace {
    /// An empty trace for `scheme`.
    pub fn new(scheme: &'static str) -> Self {
        Trace { scheme, setup: Vec::new(), operations: Vec::new() }
    }

    /// The value of a setup item, if present.
    pub fn setup_value(&self, leak: Leak) -> Option<&LeakValue> {
        self.setup.iter().find(|(l, _)| *l == leak).map(|(_, v)| v)
    }
}

/// One operation of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Search one keyword.
    Search(Keyword),
    /// Apply an update batch (dynamic schemes; static schemes reject workloads with updates).
    Update(Vec<Update>),
}

/// A plaintext workload: the database at setup and the operations that follow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Workload {
    /// The database at setup: keyword → ascending distinct ids.
    pub db: MultiMap,
    /// Searches and updates after setup, in order.
    pub operations: Vec<Operation>,
}

impl Workload {
    /// The searched keywords, in order.
    pub fn searches(&self) -> impl Iterator<Item = &Keyword> {
        self.operations.iter().filter_map(|o| match o {
            Operation::Search(k) => Some(k),
            Operation::Update(_) => None,
        })
    }

    /// The keywords of each document of the setup database (the inverse
    /// multimap), for schemes that store documents: a document's content is
    /// its keywords, so its size is a function of them.
    pub fn documents(&self) -> BTreeMap<DocId, Vec<Keyword>> {
        let mut docs: BTreeMap<DocId, Vec<Keyword>> = BTreeMap::new();
        for (k, ids) in &self.db {
            for id in ids {
                docs.entry(*id).or_default().push(k.clone());
            }
        }
        docs
    }

    /// Whether the workload has any update.
    pub fn has_updates(&self) -> bool {
        self.operations.iter().any(|o| matches!(o, Operation::Update(_)))
    }
}

/// Search-pattern classes: each item gets the index of the first distinct
/// item equal to it (0, 1, ... by first appearance).
pub fn first_occurrence<T: Eq + Hash>(items: impl IntoIterator<Item = T>) -> Vec<u32> {
    let mut seen: HashMap<T, u32> = HashMap::new();
    items
        .into_iter()
        .map(|x| {
            let next = u32::try_from(seen.len()).unwrap_or(u32::MAX);
            *seen.entry(x).or_insert(next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_numbers_classes_in_order() {
        assert_eq!(first_occurrence(["b", "a", "b", "c", "a"]), vec![0, 1, 0, 2, 1]);
    }

    #[test]
    fn bags_ignore_order() {
        let a = LeakValue::bag(vec![LeakValue::Count(2), LeakValue::Count(1)]);
        let b = LeakValue::bag(vec![LeakValue::Count(1), LeakValue::Count(2)]);
        assert_eq!(a, b);
        assert_ne!(a, LeakValue::Counts(vec![2, 1]));
    }
}
