//! The Subgraph framework of BKM 2020 on a known bipartite graph (keywords
//! to handles) and its two instances: [`SubgraphId`] on the access pattern,
//! [`SubgraphVl`] on per-document volumes.

use std::collections::HashMap;

use fixedbitset::FixedBitSet;

use super::{known_fraction, response_sizes};
use crate::leakage::attacks::{Attack, Knowledge, Recovery};
use crate::leakage::observe::Observation;
use crate::protocol::DocId;

/// SubgraphID's default ε, the slack of its size filter (LEAKER's evaluation setting).
pub const SUBGRAPH_ID_EPSILON: f64 = 13.0;
/// SubgraphVL's default ε (LEAKER's evaluation setting).
pub const SUBGRAPH_VL_EPSILON: f64 = 7.0;

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
///
/// [`QueryObservation::ids`]: crate::leakage::observe::QueryObservation::ids
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
                let mut known = FixedBitSet::with_capacity(graph.handles);
                for id in &ids {
                    if let Some(&h) = handle_of.get(id) {
                        known.insert(h);
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
///
/// [`QueryObservation::documents`]: crate::leakage::observe::QueryObservation::documents
/// [`QueryObservation::ids`]: crate::leakage::observe::QueryObservation::ids
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
                let mut known = FixedBitSet::with_capacity(graph.handles);
                let mut distinct = 0;
                for (i, &v) in volumes.iter().enumerate() {
                    if i == 0 || volumes[i - 1] != v {
                        distinct += 1;
                        if let Some(h) = handle_of(v) {
                            known.insert(h);
                        }
                    }
                }
                Some(ObservedNeighbours { distinct, known, key: volumes })
            })
            .collect();
        Recovery { guesses: subgraph(&graph, &observed, delta, self.epsilon, false) }
    }
}

/// The known bipartite graph of the Subgraph framework: candidate keywords
/// linked to handles (known document ids or sizes).
struct KnownGraph {
    handles: usize,
    /// `N_K(w)` per candidate keyword index.
    neighbours: Vec<FixedBitSet>,
}

impl KnownGraph {
    fn new(keywords: usize, handles: usize) -> Self {
        KnownGraph { handles, neighbours: vec![FixedBitSet::with_capacity(handles); keywords] }
    }

    /// Links `w` to handle `h`; keyword indexes outside the candidates are ignored.
    fn link(&mut self, w: u32, h: usize) {
        if let Some(n) = self.neighbours.get_mut(w as usize) {
            n.insert(h);
        }
    }
}

/// A query's neighbourhood in the observed graph.
struct ObservedNeighbours {
    /// Distinct handles in the response, known or not: `|R|`.
    distinct: usize,
    /// `R ∩` known handles.
    known: FixedBitSet,
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
    let degree: Vec<usize> = graph.neighbours.iter().map(|n| n.count_ones(..)).collect();
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
    let mut candidates: Vec<FixedBitSet> = representatives
        .iter()
        .map(|o| {
            let floor = delta * o.distinct as f64 - epsilon;
            let mut set = FixedBitSet::with_capacity(graph.neighbours.len());
            for (w, n) in graph.neighbours.iter().enumerate() {
                if degree[w] == 0 || (degree[w] as f64) < floor || !n.is_subset(&o.known) {
                    continue;
                }
                if cross && !o.known.is_subset(n) {
                    continue;
                }
                set.insert(w);
            }
            set
        })
        .collect();
    // Iterative elimination, lowest group first among the resolved ones.
    let mut processed = vec![false; candidates.len()];
    while let Some(i) = (0..candidates.len()).find(|&i| !processed[i] && candidates[i].count_ones(..) == 1) {
        processed[i] = true;
        let Some(w) = candidates[i].ones().next() else { continue };
        for (j, c) in candidates.iter_mut().enumerate() {
            if j != i {
                c.set(w, false);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leakage::attacks::KnownDocument;
    use crate::leakage::observe::QueryObservation;

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
}
