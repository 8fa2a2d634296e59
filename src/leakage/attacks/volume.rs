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

use std::collections::HashMap;

use crate::leakage::attacks::{Attack, Knowledge, Recovery};
use crate::leakage::observe::{Observation, QueryObservation};
use crate::protocol::DocId;

/// SubgraphID's default ε, the slack of its size filter (LEAKER's evaluation setting).
pub const SUBGRAPH_ID_EPSILON: f64 = 13.0;
/// SubgraphVL's default ε (LEAKER's evaluation setting).
pub const SUBGRAPH_VL_EPSILON: f64 = 7.0;
/// SelVolAn's default ε, the divisor of its result-length tolerance (LEAKER's default).
pub const SEL_VOL_AN_EPSILON: f64 = 1.0;

/// When [`SubgraphId`] applies cross-filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossFiltering {
    /// When δ > 0.5, as the LEAKER reference implementation does.
    AboveHalf,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// SubgraphID: the Subgraph framework on the response-identity (rid)
/// pattern, i.e. the access pattern.
///
/// **Leakage used:** for each query, the ids of the documents in its
/// response ([`QueryObservation::ids`]); queries whose ids the server did not
/// see get no guess. **Knowledge used:** the known documents *with their
/// ids* (which ciphertext is which known document) and their keyword sets,
/// and δ. Sizes are not used.
///
/// Construction (known graph `G_K`: keyword `w` linked to the ids of the
/// known documents containing it, `N_K(w)`; observed neighbourhood of a
/// query: the set `R` of ids in its response):
/// 1. candidates: `w` with `N_K(w) ⊆ R` and `|N_K(w)| ≥ δ·|R| − ε`;
/// 2. cross-filtering (see [`CrossFiltering`]): keep only `w` contained in
///    every known document of `R`, i.e. `N_K(w) = R ∩ K`;
/// 3. iterative elimination: while some query has exactly one candidate,
///    remove that keyword from every other query's candidates;
/// 4. guess the candidate with the most known documents (none if empty).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubgraphId {
    /// Slack of the size filter in step 1, in documents.
    pub epsilon: f64,
    /// Whether step 2 runs.
    pub cross_filtering: CrossFiltering,
}

impl SubgraphId {
    /// ε = [`SUBGRAPH_ID_EPSILON`], cross-filtering when δ > 0.5.
    pub fn new() -> Self {
        SubgraphId { epsilon: SUBGRAPH_ID_EPSILON, cross_filtering: CrossFiltering::AboveHalf }
    }

    /// With another ε.
    pub fn with_epsilon(self, epsilon: f64) -> Self {
        SubgraphId { epsilon, ..self }
    }

    /// With another cross-filtering rule.
    pub fn with_cross_filtering(self, cross_filtering: CrossFiltering) -> Self {
        SubgraphId { cross_filtering, ..self }
    }
}

impl Default for SubgraphId {
    fn default() -> Self {
        Self::new()
    }
}

impl Attack for SubgraphId {
    fn name(&self) -> &'static str {
        "subgraph-id"
    }

    fn recover(&self, observation: &Observation, knowledge: &Knowledge) -> Recovery {
        let delta = known_fraction(knowledge);
        // Handles are the known documents, numbered densely in id order.
        let handle_of: HashMap<DocId, usize> =
            knowledge.known_documents.keys().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut graph = KnownGraph::new(knowledge.keywords.len(), handle_of.len());
        for (handle, doc) in knowledge.known_documents.values().enumerate() {
            for &w in &doc.keywords {
                graph.link(w, handle);
            }
        }
        let observed: Vec<Option<ObservedNeighbours>> = observation
            .queries
            .iter()
            .map(|q| {
                let mut ids: Vec<DocId> = q.ids.clone()?;
                ids.sort_unstable();
                ids.dedup();
                let mut known = Bits::new(graph.handles);
                for id in &ids {
                    if let Some(&h) = handle_of.get(id) {
                        known.set(h);
                    }
                }
                Some(ObservedNeighbours {
                    distinct: ids.len(),
                    known,
                    key: ids.iter().map(|&i| u64::from(i)).collect(),
                })
            })
            .collect();
        let cross = match self.cross_filtering {
            CrossFiltering::AboveHalf => delta > 0.5,
            CrossFiltering::Always => true,
            CrossFiltering::Never => false,
        };
        Recovery { guesses: subgraph(&graph, &observed, delta, self.epsilon, cross) }
    }
}

/// SubgraphVL: the Subgraph framework on the volume (vol) pattern, the
/// ciphertext sizes of the documents in each response.
///
/// **Leakage used:** for each query, the sizes of the documents returned
/// for it ([`QueryObservation::documents`]; failing a fetch, the at-rest
/// sizes of its [`QueryObservation::ids`]). Ids are not compared with known
/// documents. **Knowledge used:** the ciphertext sizes and keyword sets of
/// the known documents, and δ; *not* which ciphertext is which known document.
///
/// Construction: as [`SubgraphId`] with handles replaced by sizes:
/// `N_K(w)` is the set of distinct sizes of the known documents containing
/// `w`, a query's neighbourhood `R` the set of distinct sizes in its
/// response; candidates `N_K(w) ⊆ R` and `|N_K(w)| ≥ δ·|R| − ε`, iterative
/// elimination, then the candidate with the most known sizes. There is no
/// cross-filtering: a size does not identify a document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubgraphVl {
    /// Slack of the size filter, in distinct sizes.
    pub epsilon: f64,
}

impl SubgraphVl {
    /// ε = [`SUBGRAPH_VL_EPSILON`].
    pub fn new() -> Self {
        SubgraphVl { epsilon: SUBGRAPH_VL_EPSILON }
    }

    /// With another ε.
    pub fn with_epsilon(self, epsilon: f64) -> Self {
        SubgraphVl { epsilon }
    }
}

impl Default for SubgraphVl {
    fn default() -> Self {
        Self::new()
    }
}

impl Attack for SubgraphVl {
    fn name(&self) -> &'static str {
        "subgraph-vl"
    }

    fn recover(&self, observation: &Observation, knowledge: &Knowledge) -> Recovery {
        let delta = known_fraction(knowledge);
        let mut sizes: Vec<u64> = knowledge.known_documents.values().map(|d| d.bytes).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let handle_of = |bytes: u64| sizes.binary_search(&bytes).ok();
        let mut graph = KnownGraph::new(knowledge.keywords.len(), sizes.len());
        for doc in knowledge.known_documents.values() {
            if let Some(h) = handle_of(doc.bytes) {
                for &w in &doc.keywords {
                    graph.link(w, h);
                }
            }
        }
        let observed: Vec<Option<ObservedNeighbours>> = observation
            .queries
            .iter()
            .map(|q| {
                let mut volumes = response_sizes(q, observation)?;
                volumes.sort_unstable();
                let mut known = Bits::new(graph.handles);
                let mut distinct = 0;
                for (i, &v) in volumes.iter().enumerate() {
                    if i == 0 || volumes[i - 1] != v {
                        distinct += 1;
                        if let Some(h) = handle_of(v) {
                            known.set(h);
                        }
                    }
                }
                Some(ObservedNeighbours { distinct, known, key: volumes })
            })
            .collect();
        Recovery { guesses: subgraph(&graph, &observed, delta, self.epsilon, false) }
    }
}

/// VolAn: volume analysis on the total response volume (tvol).
///
/// **Leakage used:** each query's total volume, the sum of the ciphertext
/// sizes returned for it ([`QueryObservation::volume`]; failing a fetch,
/// the at-rest sizes of its ids). **Knowledge used:** the sizes and keyword
/// sets of the known documents, from which it computes each keyword's
/// known volume `vol_K(w)`, the total size of the known documents
/// containing `w`. Neither ids nor δ are used.
///
/// Construction: since the known documents are a subset of the database,
/// `vol_K(w) ≤ tvol(w)`; guess the keyword with the largest known volume
/// at most the observed total volume (none if no keyword qualifies). Ties
/// go to the lowest keyword index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VolAn;

impl VolAn {
    /// The attack (it has no parameters).
    pub fn new() -> Self {
        VolAn
    }
}

impl Attack for VolAn {
    fn name(&self) -> &'static str {
        "vol-an"
    }

    fn recover(&self, observation: &Observation, knowledge: &Knowledge) -> Recovery {
        let known = KnownVolumes::new(knowledge);
        let guesses = observation
            .queries
            .iter()
            .map(|q| {
                let tvol = saturating_sum(&response_sizes(q, observation)?);
                known.largest_at_most(tvol)
            })
            .collect();
        Recovery { guesses }
    }
}

/// SelVolAn: volume analysis with selectivity filtering, for
/// high-selectivity keywords.
///
/// **Leakage used:** each query's total volume (as [`VolAn`]) and its result
/// length ([`QueryObservation::result_len`]). **Knowledge used:** the sizes
/// and keyword sets of the known documents, giving each keyword's known
/// volume `vol_K(w)` and known selectivity `sel_K(w)` (number of known
/// documents containing it), their mean size `θ`, and δ. Ids are not used.
///
/// Construction, for a query with total volume `tvol` and result length `r`:
/// 1. window: candidates with `⌊δ·tvol⌋ ≤ vol_K(w) ≤ tvol` (a δ-sample of
///    the query's documents has about δ of its volume). If the window is
///    empty, guess the keyword with the largest known volume at most
///    `⌊δ·tvol⌋`; if it holds one keyword, guess it;
/// 2. selectivity filter: the volume not covered by the known documents,
///    `tvol − vol_K(w)`, is about `(tvol − vol_K(w))/θ` unknown documents,
///    so keep `w` with `r − (tvol − vol_K(w))/θ − λ ≤ sel_K(w) ≤ r`, where
///    `λ = (1 − δ)·r/ε`;
/// 3. guess the remaining candidate with the largest known volume; if none
///    remains, fall back to [`VolAn`]'s guess.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelVolAn {
    /// Divisor of the result-length tolerance λ (at least 1; smaller values
    /// are treated as 1).
    pub epsilon: f64,
}

impl SelVolAn {
    /// ε = [`SEL_VOL_AN_EPSILON`].
    pub fn new() -> Self {
        SelVolAn { epsilon: SEL_VOL_AN_EPSILON }
    }

    /// With another ε (at least 1).
    pub fn with_epsilon(self, epsilon: f64) -> Self {
        SelVolAn { epsilon }
    }
}

impl Default for SelVolAn {
    fn default() -> Self {
        Self::new()
    }
}

impl Attack for SelVolAn {
    fn name(&self) -> &'static str {
        "sel-vol-an"
    }

    fn recover(&self, observation: &Observation, knowledge: &Knowledge) -> Recovery {
        let delta = known_fraction(knowledge);
        let epsilon = if self.epsilon.is_finite() { self.epsilon.max(1.0) } else { SEL_VOL_AN_EPSILON };
        let known = KnownVolumes::new(knowledge);
        let documents = knowledge.known_documents.len();
        let total = knowledge.known_documents.values().fold(0u64, |t, d| t.saturating_add(d.bytes));
        // θ: mean known ciphertext size (guarded: no known document means no candidate anyway).
        let theta = if documents == 0 { 1.0 } else { (total as f64 / documents as f64).max(1.0) };
        let guesses = observation
            .queries
            .iter()
            .map(|q| {
                let tvol = saturating_sum(&response_sizes(q, observation)?);
                let rlen = q.result_len as f64;
                // δ ∈ [0, 1], so δ·tvol lies in [0, tvol]: the cast cannot truncate.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let lower = (delta * tvol as f64).floor() as u64;
                let window = known.window(lower, tvol);
                match window {
                    [] => return known.largest_at_most(lower),
                    [(_, w)] => return Some(*w),
                    _ => {}
                }
                let lambda = (1.0 - delta) * rlen / epsilon;
                window
                    .iter()
                    .filter(|&&(vol, w)| {
                        let expected = rlen - (tvol - vol) as f64 / theta;
                        let selectivity = known.selectivity[w as usize] as f64;
                        expected - lambda <= selectivity && selectivity <= rlen
                    })
                    // Largest known volume, lowest index on ties (the window is ascending).
                    .fold(None, |best: Option<(u64, u32)>, &(vol, w)| match best {
                        Some((v, _)) if v >= vol => best,
                        _ => Some((vol, w)),
                    })
                    .map(|(_, w)| w)
                    .or_else(|| known.largest_at_most(tvol))
            })
            .collect();
        Recovery { guesses }
    }
}

/// δ, clamped to [0, 1] (0 if not a number).
fn known_fraction(knowledge: &Knowledge) -> f64 {
    let delta = knowledge.known_fraction;
    if delta.is_nan() { 0.0 } else { delta.clamp(0.0, 1.0) }
}

/// Sum of sizes; a view loaded from a file may hold absurd sizes, which must not overflow.
fn saturating_sum(sizes: &[u64]) -> u64 {
    sizes.iter().fold(0, |t, &b| t.saturating_add(b))
}

/// Ciphertext sizes the server saw returned for `q`: the fetched documents,
/// or failing a fetch the at-rest sizes of the returned ids; an empty
/// result has no documents; otherwise unknown.
fn response_sizes(q: &QueryObservation, observation: &Observation) -> Option<Vec<u64>> {
    if !q.documents.is_empty() {
        return Some(q.documents.iter().map(|d| d.bytes).collect());
    }
    match &q.ids {
        Some(ids) => Some(ids.iter().filter_map(|id| observation.documents.get(id).copied()).collect()),
        None if q.result_len == 0 => Some(Vec::new()),
        None => None,
    }
}

/// Fixed-size bitset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }

    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn is_subset_of(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & !b == 0)
    }

    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    i * 64 + bit
                })
            })
        })
    }
}

/// The known bipartite graph of the Subgraph framework: candidate keywords
/// linked to handles (known document ids or sizes).
struct KnownGraph {
    handles: usize,
    /// `N_K(w)` per candidate keyword index.
    neighbours: Vec<Bits>,
}

impl KnownGraph {
    fn new(keywords: usize, handles: usize) -> Self {
        KnownGraph { handles, neighbours: vec![Bits::new(handles); keywords] }
    }

    /// Links `w` to handle `h`; keyword indexes outside the candidates are ignored.
    fn link(&mut self, w: u32, h: usize) {
        if let Some(n) = self.neighbours.get_mut(w as usize) {
            n.set(h);
        }
    }
}

/// A query's neighbourhood in the observed graph.
struct ObservedNeighbours {
    /// Distinct handles in the response, known or not: `|R|`.
    distinct: usize,
    /// `R ∩` known handles.
    known: Bits,
    /// The leakage itself, to merge identical queries.
    key: Vec<u64>,
}

/// Steps 1 to 4 of the Subgraph framework (see [`SubgraphId`]).
fn subgraph(
    graph: &KnownGraph,
    observed: &[Option<ObservedNeighbours>],
    delta: f64,
    epsilon: f64,
    cross: bool,
) -> Vec<Option<u32>> {
    let degree: Vec<usize> = graph.neighbours.iter().map(Bits::count).collect();
    // One group per distinct leakage.
    let mut group_of_key: HashMap<&[u64], usize> = HashMap::new();
    let mut group_of_query: Vec<Option<usize>> = Vec::with_capacity(observed.len());
    let mut representatives: Vec<&ObservedNeighbours> = Vec::new();
    for obs in observed {
        group_of_query.push(obs.as_ref().map(|o| {
            *group_of_key.entry(o.key.as_slice()).or_insert_with(|| {
                representatives.push(o);
                representatives.len() - 1
            })
        }));
    }
    let mut candidates: Vec<Bits> = representatives
        .iter()
        .map(|o| {
            let floor = delta * o.distinct as f64 - epsilon;
            let mut set = Bits::new(graph.neighbours.len());
            for (w, n) in graph.neighbours.iter().enumerate() {
                if degree[w] == 0 || (degree[w] as f64) < floor || !n.is_subset_of(&o.known) {
                    continue;
                }
                if cross && !o.known.is_subset_of(n) {
                    continue;
                }
                set.set(w);
            }
            set
        })
        .collect();
    // Iterative elimination, lowest group first among the resolved ones.
    let mut processed = vec![false; candidates.len()];
    while let Some(i) = (0..candidates.len()).find(|&i| !processed[i] && candidates[i].count() == 1) {
        processed[i] = true;
        let Some(w) = candidates[i].ones().next() else { continue };
        for (j, c) in candidates.iter_mut().enumerate() {
            if j != i {
                c.clear(w);
            }
        }
    }
    let guesses: Vec<Option<u32>> = candidates
        .iter()
        .map(|c| {
            // Most known neighbours, lowest index on ties.
            let w = c.ones().fold(None, |best: Option<usize>, w| match best {
                Some(b) if degree[b] >= degree[w] => best,
                _ => Some(w),
            })?;
            u32::try_from(w).ok()
        })
        .collect();
    group_of_query.iter().map(|g| g.and_then(|g| guesses[g])).collect()
}

/// Known volumes and selectivities of the candidate keywords, for VolAn and SelVolAn.
struct KnownVolumes {
    /// `(vol_K(w), w)` for keywords in at least one known document, ascending.
    sorted: Vec<(u64, u32)>,
    /// `sel_K(w)` per candidate keyword index.
    selectivity: Vec<u64>,
}

impl KnownVolumes {
    fn new(knowledge: &Knowledge) -> Self {
        let n = knowledge.keywords.len();
        let mut volume = vec![0u64; n];
        let mut selectivity = vec![0u64; n];
        for doc in knowledge.known_documents.values() {
            for &w in &doc.keywords {
                if let Some(v) = volume.get_mut(w as usize) {
                    *v = v.saturating_add(doc.bytes);
                    selectivity[w as usize] += 1;
                }
            }
        }
        let mut sorted: Vec<(u64, u32)> =
            (0..n).filter(|&w| selectivity[w] > 0).filter_map(|w| Some((volume[w], u32::try_from(w).ok()?))).collect();
        sorted.sort_unstable();
        KnownVolumes { sorted, selectivity }
    }

    /// The keyword with the largest known volume ≤ `bound`, lowest index on ties.
    fn largest_at_most(&self, bound: u64) -> Option<u32> {
        let end = self.sorted.partition_point(|&(v, _)| v <= bound);
        let volume = self.sorted.get(end.checked_sub(1)?)?.0;
        let first = self.sorted.partition_point(|&(v, _)| v < volume);
        Some(self.sorted[first].1)
    }

    /// Keywords with known volume in `[lower, upper]`, ascending.
    fn window(&self, lower: u64, upper: u64) -> &[(u64, u32)] {
        let start = self.sorted.partition_point(|&(v, _)| v < lower);
        let end = self.sorted.partition_point(|&(v, _)| v <= upper);
        &self.sorted[start..end.max(start)]
    }
}

#[cfg(test)]
mod tests {
    // Synthetic corpora of at most a few thousand documents and keywords.
    #![allow(clippy::cast_possible_truncation)]

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Instant;

    use rand::seq::{IndexedRandom, SliceRandom};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::envelope::DocumentCipher;
    use crate::keys::MasterKey;
    use crate::leakage::attacks::KnownDocument;
    use crate::leakage::countermeasure::SizeBuckets;
    use crate::leakage::view::{DocumentSize, Recorder};
    use crate::message::Message;
    use crate::protocol::transport::Transport;
    use crate::protocol::{Request, Response};
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::sse::{self, MultiMap, SchemeConfig, SseIndex};
    use crate::store::MemoryStore;

    /// A synthetic mail corpus: document `i` has id `i + 1`, keyword
    /// indexes (ascending) and a ciphertext size.
    struct Corpus {
        keywords: usize,
        docs: Vec<(Vec<u32>, u64)>,
    }

    /// Keyword `k` is in a document with probability about `2/(k+1)^0.9`
    /// (Zipf-like: the top keyword in 60% of documents, the 500th in under
    /// 1%); sizes grow with the content plus a wide spread, as mails do.
    fn corpus(documents: usize, keywords: usize, seed: u64) -> Corpus {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let chance: Vec<f64> = (0..keywords).map(|k| (2.0 / (k as f64 + 1.0).powf(0.9)).min(0.6)).collect();
        let docs = (0..documents)
            .map(|_| {
                let kws: Vec<u32> =
                    (0..keywords as u32).filter(|&k| rng.random::<f64>() < chance[k as usize]).collect();
                let bytes = 200 + 12 * kws.len() as u64 + rng.random_range(0..4000);
                (kws, bytes)
            })
            .collect();
        Corpus { keywords, docs }
    }

    fn doc_id(i: usize) -> DocId {
        i as DocId + 1
    }

    impl Corpus {
        fn postings(&self) -> Vec<Vec<DocId>> {
            let mut postings = vec![Vec::new(); self.keywords];
            for (i, (kws, _)) in self.docs.iter().enumerate() {
                for &k in kws {
                    postings[k as usize].push(doc_id(i));
                }
            }
            postings
        }

        /// The same corpus with sizes padded to buckets (on the server and
        /// in the attacker's knowledge alike).
        fn padded(&self, buckets: SizeBuckets) -> Corpus {
            let docs = self.docs.iter().map(|(k, b)| (k.clone(), buckets.padded(*b))).collect();
            Corpus { keywords: self.keywords, docs }
        }

        /// What a response-revealing scheme shows for searches of `queries`,
        /// each followed by a fetch of its results.
        fn observe(&self, queries: &[u32]) -> Observation {
            let postings = self.postings();
            let documents: BTreeMap<DocId, u64> =
                self.docs.iter().enumerate().map(|(i, (_, bytes))| (doc_id(i), *bytes)).collect();
            let queries = queries
                .iter()
                .enumerate()
                .map(|(seq, &w)| {
                    let ids = postings[w as usize].clone();
                    QueryObservation {
                        seq: seq as u64,
                        token: w,
                        result_len: ids.len(),
                        documents: ids.iter().map(|&id| DocumentSize { id, bytes: documents[&id] }).collect(),
                        ids: Some(ids),
                    }
                })
                .collect();
            Observation { documents, queries }
        }

        /// Knowledge of a random `fraction` of the documents.
        fn knowledge(&self, fraction: f64, seed: u64) -> Knowledge {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut order: Vec<usize> = (0..self.docs.len()).collect();
            order.shuffle(&mut rng);
            let known = (fraction * self.docs.len() as f64).round() as usize;
            let known_documents = order[..known]
                .iter()
                .map(|&i| {
                    let (keywords, bytes) = self.docs[i].clone();
                    (doc_id(i), KnownDocument { keywords, bytes })
                })
                .collect();
            Knowledge {
                keywords: (0..self.keywords).map(|k| format!("w{k}")).collect(),
                known_documents,
                known_fraction: fraction,
                known_queries: Vec::new(),
            }
        }

        /// `count` distinct keywords occurring in the corpus, uniformly.
        fn queries(&self, count: usize, seed: u64) -> Vec<u32> {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let postings = self.postings();
            let mut present: Vec<u32> =
                (0..self.keywords as u32).filter(|&k| !postings[k as usize].is_empty()).collect();
            present.shuffle(&mut rng);
            present.truncate(count);
            present
        }
    }

    fn attacks() -> Vec<Box<dyn Attack>> {
        vec![
            Box::new(SubgraphId::new()),
            Box::new(SubgraphVl::new()),
            Box::new(VolAn::new()),
            Box::new(SelVolAn::new()),
        ]
    }

    fn recovery_rate(recovery: &Recovery, truth: &[u32]) -> f64 {
        assert_eq!(recovery.guesses.len(), truth.len(), "one guess per query");
        let right = recovery.guesses.iter().zip(truth).filter(|(g, t)| **g == Some(**t)).count();
        right as f64 / truth.len() as f64
    }

    /// Recovery of `attack` on `corpus` for `queries` at known fraction `delta`.
    fn rate(attack: &dyn Attack, corpus: &Corpus, queries: &[u32], delta: f64, seed: u64) -> f64 {
        let recovery = attack.recover(&corpus.observe(queries), &corpus.knowledge(delta, seed));
        recovery_rate(&recovery, queries)
    }

    #[test]
    fn full_knowledge_recovers_almost_every_query() {
        let c = corpus(2000, 300, 1);
        let q = c.queries(150, 2);
        for attack in attacks() {
            let r = rate(attack.as_ref(), &c, &q, 1.0, 3);
            assert!(r >= 0.9, "{} recovers {r} with full knowledge", attack.name());
        }
    }

    #[test]
    fn recovery_drops_with_less_knowledge() {
        let c = corpus(2000, 300, 4);
        let q = c.queries(150, 5);
        for attack in attacks() {
            let full = rate(attack.as_ref(), &c, &q, 1.0, 6);
            let tenth = rate(attack.as_ref(), &c, &q, 0.1, 6);
            assert!(tenth < full, "{}: {tenth} at δ = 0.1, {full} at δ = 1", attack.name());
        }
    }

    #[test]
    fn size_buckets_hurt_volume_attacks() {
        let c = corpus(2000, 300, 7);
        let q = c.queries(150, 8);
        // Every size here is below 8 KiB: one bucket hides all sizes.
        let padded = c.padded(SizeBuckets(8192));
        for attack in [&SubgraphVl::new() as &dyn Attack, &VolAn::new(), &SelVolAn::new()] {
            let plain = rate(attack, &c, &q, 1.0, 9);
            let hidden = rate(attack, &padded, &q, 1.0, 9);
            assert!(hidden < plain - 0.3, "{}: {hidden} padded, {plain} plain", attack.name());
        }
        // The access pattern is untouched by size padding.
        let id = SubgraphId::new();
        assert_eq!(rate(&id, &padded, &q, 1.0, 9), rate(&id, &c, &q, 1.0, 9));
    }

    #[test]
    fn repeated_queries_get_the_same_right_guess() {
        let c = corpus(1000, 100, 10);
        let mut q = c.queries(30, 11);
        let again = q[..10].to_vec();
        q.extend(again);
        for attack in attacks() {
            let recovery = attack.recover(&c.observe(&q), &c.knowledge(1.0, 12));
            assert_eq!(recovery.guesses[..10], recovery.guesses[30..], "{}", attack.name());
            assert!(recovery_rate(&recovery, &q) >= 0.9, "{}", attack.name());
        }
    }

    #[test]
    fn no_knowledge_or_no_leakage_gives_no_guess() {
        let c = corpus(300, 50, 13);
        let q = c.queries(20, 14);
        let mut hidden = c.observe(&q);
        for query in &mut hidden.queries {
            query.ids = None;
            query.documents.clear();
        }
        for attack in attacks() {
            let none = attack.recover(&c.observe(&q), &c.knowledge(0.0, 15));
            assert!(none.guesses.iter().all(Option::is_none), "{} guesses with no known document", attack.name());
            let blind = attack.recover(&hidden, &c.knowledge(1.0, 15));
            assert!(blind.guesses.iter().all(Option::is_none), "{} guesses with no leakage", attack.name());
        }
    }

    #[test]
    fn absurd_sizes_in_a_loaded_view_do_not_panic() {
        let c = corpus(200, 30, 22);
        let q = c.queries(10, 23);
        let mut observation = c.observe(&q);
        for d in observation.queries.iter_mut().flat_map(|q| q.documents.iter_mut()) {
            d.bytes = u64::MAX;
        }
        let mut knowledge = c.knowledge(0.5, 24);
        for d in knowledge.known_documents.values_mut() {
            d.bytes = u64::MAX;
        }
        knowledge.known_fraction = f64::NAN;
        for attack in attacks() {
            assert_eq!(attack.recover(&observation, &knowledge).guesses.len(), q.len(), "{}", attack.name());
        }
    }

    #[test]
    fn subgraph_id_elimination_resolves_a_superset() {
        // Keyword 0 is in documents 1 and 2, keyword 1 only in document 1:
        // the query for keyword 0 has both as candidates until the query for
        // keyword 1 resolves and eliminates keyword 1.
        let knowledge = Knowledge {
            keywords: vec!["a".into(), "b".into()],
            known_documents: [
                (1, KnownDocument { keywords: vec![0, 1], bytes: 10 }),
                (2, KnownDocument { keywords: vec![0], bytes: 20 }),
            ]
            .into_iter()
            .collect(),
            known_fraction: 1.0,
            known_queries: Vec::new(),
        };
        let query = |ids: Vec<DocId>| QueryObservation {
            seq: 0,
            token: 0,
            result_len: ids.len(),
            documents: Vec::new(),
            ids: Some(ids),
        };
        let observation = Observation {
            documents: [(1, 10), (2, 20)].into_iter().collect(),
            queries: vec![query(vec![1, 2]), query(vec![1])],
        };
        let attack = SubgraphId::new().with_cross_filtering(CrossFiltering::Never);
        assert_eq!(attack.recover(&observation, &knowledge).guesses, vec![Some(0), Some(1)]);
    }

    /// 6,000 documents × 500 keywords × 150 queries, the size of the real
    /// corpus experiment: prints each attack run's time (a measurement, not
    /// a timed test: `sseek attack` reports run times with its results).
    #[test]
    #[ignore = "a measurement: run with --ignored --nocapture"]
    fn each_run_is_fast_on_a_mail_sized_input() {
        let c = corpus(6000, 500, 16);
        let q = c.queries(150, 17);
        let observation = c.observe(&q);
        for delta in [0.25, 1.0] {
            let knowledge = c.knowledge(delta, 18);
            for attack in attacks() {
                let start = Instant::now();
                let recovery = attack.recover(&observation, &knowledge);
                let took = start.elapsed();
                println!("{} δ={delta}: {took:?}, recovery {:.3}", attack.name(), recovery_rate(&recovery, &q));
            }
        }
    }

    /// Result-length padding to a multiple of `k`, as the server sees it:
    /// with dummy fillers it sees dummy ids in the response (the client
    /// fetches only real documents); with document fillers the client
    /// fetches random other documents too, so ids and volumes are padded.
    fn observe_padded(
        corpus: &Corpus,
        queries: &[u32],
        k: usize,
        documents_as_fillers: bool,
        seed: u64,
    ) -> Observation {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut observation = corpus.observe(queries);
        let all: Vec<DocId> = (0..corpus.docs.len()).map(doc_id).collect();
        for q in &mut observation.queries {
            // `observe` is response-revealing: a query without ids is a broken corpus, not one to skip.
            let ids = q.ids.as_mut().expect("every observed query has its result ids");
            let target = ids.len().div_ceil(k) * k;
            let missing = target - ids.len();
            if documents_as_fillers {
                let have: std::collections::BTreeSet<DocId> = ids.iter().copied().collect();
                let fillers: Vec<DocId> = all
                    .choose_multiple(&mut rng, missing + have.len())
                    .copied()
                    .filter(|i| !have.contains(i))
                    .take(missing)
                    .collect();
                for id in fillers {
                    ids.push(id);
                    q.documents.push(DocumentSize { id, bytes: observation.documents[&id] });
                }
            } else {
                ids.extend((0..missing).map(|j| crate::leakage::countermeasure::DUMMY_BASE + j as DocId));
            }
            q.result_len = ids.len();
        }
        observation
    }

    /// The figures in `papers/*.md`: `cargo test --lib
    /// leakage::attacks::volume::tests::recovery_grid -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints the recovery grid for the paper notes (about a minute)"]
    fn recovery_grid() {
        let c = corpus(6000, 500, 100);
        let postings = c.postings();
        let mut by_frequency: Vec<u32> = (0..c.keywords as u32).collect();
        by_frequency.sort_by_key(|&k| std::cmp::Reverse(postings[k as usize].len()));
        let seeds = 3u64;
        println!("| queries | countermeasure | δ | subgraph-id | subgraph-vl | vol-an | sel-vol-an |");
        println!("|---|---|---|---|---|---|---|");
        for selection in ["uniform", "high"] {
            for cm in ["none", "size:512", "size:8192", "pad:16 dummies", "pad:16 documents"] {
                for delta in [0.05, 0.1, 0.25, 0.5, 0.75, 1.0] {
                    if cm != "none" && ![0.25, 1.0].contains(&delta) {
                        continue;
                    }
                    let mut sums = [0.0; 4];
                    for seed in 0..seeds {
                        let queries: Vec<u32> = match selection {
                            "uniform" => c.queries(150, seed),
                            _ => {
                                let mut top = by_frequency[..200].to_vec();
                                top.shuffle(&mut ChaCha20Rng::seed_from_u64(seed));
                                top.truncate(150);
                                top
                            }
                        };
                        let (corpus, observation) = match cm {
                            "size:512" => {
                                let p = c.padded(SizeBuckets(512));
                                let o = p.observe(&queries);
                                (p, o)
                            }
                            "size:8192" => {
                                let p = c.padded(SizeBuckets(8192));
                                let o = p.observe(&queries);
                                (p, o)
                            }
                            "pad:16 dummies" => {
                                (c.padded(SizeBuckets(1)), observe_padded(&c, &queries, 16, false, seed))
                            }
                            "pad:16 documents" => {
                                (c.padded(SizeBuckets(1)), observe_padded(&c, &queries, 16, true, seed))
                            }
                            _ => (c.padded(SizeBuckets(1)), c.observe(&queries)),
                        };
                        let knowledge = corpus.knowledge(delta, 1000 + seed);
                        for (sum, attack) in sums.iter_mut().zip(attacks()) {
                            *sum += recovery_rate(&attack.recover(&observation, &knowledge), &queries);
                        }
                    }
                    let cells: Vec<String> = sums.iter().map(|s| format!("{:.2}", s / seeds as f64)).collect();
                    println!("| {selection} | {cm} | {delta} | {} |", cells.join(" | "));
                }
            }
        }
    }

    /// One run through a real scheme: sealed documents, a 2Lev index,
    /// searches each followed by a fetch, the recorded view.
    fn through_2lev(bucket: u64) -> crate::Result<Vec<(&'static str, f64)>> {
        let master = MasterKey::generate()?;
        let recorder = Recorder::memory();
        let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
        let cipher = DocumentCipher::new(&master, "acme", 1)?;
        let c = corpus(300, 40, 19);
        let mut rng = ChaCha20Rng::seed_from_u64(20);
        let mut sealed = Vec::new();
        let mut known_documents = BTreeMap::new();
        for (i, (kws, _)) in c.docs.iter().enumerate() {
            let words: Vec<String> = kws.iter().map(|k| format!("w{k}")).collect();
            let filler = "x".repeat(rng.random_range(0..2000));
            let message = Message { body: format!("{} {filler}", words.join(" ")), ..Message::default() };
            let doc = cipher.seal_padded(doc_id(i), &message, bucket)?;
            // The attacker knows the plaintext, so it knows the sealed size.
            known_documents.insert(doc_id(i), KnownDocument { keywords: kws.clone(), bytes: doc.sealed.len() as u64 });
            sealed.push(doc);
        }
        let transport = InProcess::new(server.clone(), "acme");
        assert_eq!(transport.call(&Request::PutDocuments(sealed))?, Response::Ok);
        let postings = c.postings();
        let mut db = MultiMap::new();
        for (k, ids) in postings.iter().enumerate() {
            if !ids.is_empty() {
                db.insert(sse::keyword("body", &[&format!("w{k}")]), ids.clone());
            }
        }
        let scheme = sse::open_client(&master, "acme", &SchemeConfig::new("2lev", "mail"))?;
        let mut index = SseIndex::create(InProcess::new(server, "acme"), scheme)?;
        index.setup(&db)?;
        let queries = c.queries(30, 21);
        for &w in &queries {
            let ids = index.search_keyword(&sse::keyword("body", &[&format!("w{w}")]))?;
            assert_eq!(ids, postings[w as usize]);
            transport.call(&Request::GetDocuments(ids))?;
        }
        let observation = Observation::from_view(&recorder.view());
        assert_eq!(observation.queries.len(), queries.len());
        let knowledge = Knowledge {
            keywords: (0..c.keywords).map(|k| format!("w{k}")).collect(),
            known_documents,
            known_fraction: 1.0,
            known_queries: Vec::new(),
        };
        Ok(attacks()
            .iter()
            .map(|a| (a.name(), recovery_rate(&a.recover(&observation, &knowledge), &queries)))
            .collect())
    }

    #[test]
    fn end_to_end_through_2lev_and_size_buckets() -> crate::Result<()> {
        let plain = through_2lev(1)?;
        let padded = through_2lev(4096)?;
        println!("plain {plain:?}\npadded {padded:?}");
        for ((name, p), (_, b)) in plain.iter().zip(&padded) {
            assert!(*p >= 0.9, "{name} recovers {p} through 2lev with full knowledge");
            match *name {
                "subgraph-id" => assert!(*b >= 0.9, "{name} does not read sizes: {b}"),
                // Every document is one bucket: per-document sizes say nothing.
                "subgraph-vl" => assert!(*b < p - 0.5, "{name}: {b} with 4 KiB buckets, {p} without"),
                // The total volume is then the result length times the
                // bucket: a result-length match, which still tells apart
                // keywords with unique result lengths.
                _ => assert!(b < p, "{name}: {b} with 4 KiB buckets, {p} without"),
            }
        }
        Ok(())
    }
}
