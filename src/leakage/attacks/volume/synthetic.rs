//! Synthetic mail corpora for the volume attacks: Zipf-like keyword sets and
//! mail-like ciphertext sizes, observed as a response-revealing scheme's
//! server would see them. Used by the attacks' tests and by
//! `benches/attacks.rs`, which prints the figures of `papers/*.md`.

use std::collections::BTreeMap;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{SelVolAn, SubgraphId, SubgraphVl, VolAn};
use crate::leakage::attacks::{Attack, Knowledge, KnownDocument, Recovery};
use crate::leakage::countermeasure::SizeBuckets;
use crate::leakage::observe::{Observation, QueryObservation};
use crate::leakage::view::DocumentSize;
use crate::protocol::DocId;

/// A synthetic mail corpus: document `i` has id `i + 1`, keyword
/// indexes (ascending) and a ciphertext size.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Number of keywords.
    pub keywords: usize,
    /// Each document's keyword indexes (ascending) and ciphertext size.
    pub docs: Vec<(Vec<u32>, u64)>,
}

/// Keyword `k` is in a document with probability about `2/(k+1)^0.9`
/// (Zipf-like: the top keyword in 60% of documents, the 500th in under
/// 1%); sizes grow with the content plus a wide spread, as mails do.
#[allow(clippy::cast_possible_truncation)] // test corpora are far below u32 and usize limits
pub fn corpus(documents: usize, keywords: usize, seed: u64) -> Corpus {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let chance: Vec<f64> = (0..keywords).map(|k| (2.0 / (k as f64 + 1.0).powf(0.9)).min(0.6)).collect();
    let docs = (0..documents)
        .map(|_| {
            let kws: Vec<u32> = (0..keywords as u32).filter(|&k| rng.random::<f64>() < chance[k as usize]).collect();
            let bytes = 200 + 12 * kws.len() as u64 + rng.random_range(0..4000);
            (kws, bytes)
        })
        .collect();
    Corpus { keywords, docs }
}

#[allow(clippy::cast_possible_truncation)] // test corpora are far below u32 and usize limits
/// The id of document `i` (ids start at 1).
pub fn doc_id(i: usize) -> DocId {
    i as DocId + 1
}

impl Corpus {
    /// Each keyword's ascending document ids.
    pub fn postings(&self) -> Vec<Vec<DocId>> {
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
    pub fn padded(&self, buckets: SizeBuckets) -> Corpus {
        let docs = self.docs.iter().map(|(k, b)| (k.clone(), buckets.padded(*b))).collect();
        Corpus { keywords: self.keywords, docs }
    }

    /// What a response-revealing scheme shows for searches of `queries`,
    /// each followed by a fetch of its results.
    pub fn observe(&self, queries: &[u32]) -> Observation {
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
    #[allow(clippy::cast_possible_truncation)] // test corpora are far below u32 and usize limits
    pub fn knowledge(&self, fraction: f64, seed: u64) -> Knowledge {
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
    #[allow(clippy::cast_possible_truncation)] // test corpora are far below u32 and usize limits
    pub fn queries(&self, count: usize, seed: u64) -> Vec<u32> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let postings = self.postings();
        let mut present: Vec<u32> = (0..self.keywords as u32).filter(|&k| !postings[k as usize].is_empty()).collect();
        present.shuffle(&mut rng);
        present.truncate(count);
        present
    }
}

/// The four volume attacks with their default settings.
pub fn attacks() -> Vec<Box<dyn Attack>> {
    vec![Box::new(SubgraphId::new()), Box::new(SubgraphVl::new()), Box::new(VolAn::new()), Box::new(SelVolAn::new())]
}

/// The fraction of queries whose keyword `recovery` guesses right.
pub fn recovery_rate(recovery: &Recovery, truth: &[u32]) -> f64 {
    assert_eq!(recovery.guesses.len(), truth.len(), "one guess per query");
    let right = recovery.guesses.iter().zip(truth).filter(|(g, t)| **g == Some(**t)).count();
    right as f64 / truth.len() as f64
}

/// Recovery of `attack` on `corpus` for `queries` at known fraction `delta`.
pub fn rate(attack: &dyn Attack, corpus: &Corpus, queries: &[u32], delta: f64, seed: u64) -> f64 {
    let recovery = attack.recover(&corpus.observe(queries), &corpus.knowledge(delta, seed));
    recovery_rate(&recovery, queries)
}

/// Result-length padding to a multiple of `k`, as the server sees it:
/// with dummy fillers it sees dummy ids in the response (the client
/// fetches only real documents); with document fillers the client
/// fetches random other documents too, so ids and volumes are padded.
#[allow(clippy::cast_possible_truncation)] // test corpora are far below u32 and usize limits
pub fn observe_padded(
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
