//! Synthetic corpora for the attack tests: documents whose keywords follow a
//! Zipf-like law, with a per-document length factor so that keywords
//! co-occur as in mail (long messages contain many of them).

use std::collections::BTreeMap;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::leakage::attacks::{Knowledge, KnownDocument};
use crate::leakage::observe::{Observation, QueryObservation};
use crate::protocol::DocId;

/// Document `i` has id `i` and the words `docs[i]` (ascending; word 0 is the most likely).
#[derive(Debug, Clone)]
pub(crate) struct Corpus {
    pub docs: Vec<Vec<u32>>,
    pub vocabulary: usize,
}

impl Corpus {
    /// Word → ids of the documents containing it.
    pub(crate) fn postings(&self) -> Vec<Vec<DocId>> {
        let mut p = vec![Vec::new(); self.vocabulary];
        for (id, words) in self.docs.iter().enumerate() {
            for &w in words {
                p[w as usize].push(DocId::try_from(id).unwrap());
            }
        }
        p
    }
}

/// Topics of the synthetic corpora: a word is much likelier in a
/// document on its topic, which gives keywords the topical
/// co-occurrence real mail has (without it co-occurrence would carry
/// nothing beyond the counts).
const TOPICS: usize = 30;

/// `n` documents over `vocabulary` words: a document has one or two of
/// [`TOPICS`] topics and a length factor `L` uniform in [0.2, 1.8]; word
/// `r` (with a random home topic) is in it with probability
/// `min(1, L · f · 0.25 / (r + 1)^0.75)`, `f` = 4 on topic and 0.6 off.
pub(crate) fn zipf_corpus(n: usize, vocabulary: usize, seed: u64) -> Corpus {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base: Vec<f64> = (0..vocabulary).map(|r| 0.25 / ((r + 1) as f64).powf(0.75)).collect();
    let topic: Vec<usize> = (0..vocabulary).map(|_| rng.random_range(0..TOPICS)).collect();
    let docs = (0..n)
        .map(|_| {
            let len = rng.random_range(0.2..1.8);
            let t1 = rng.random_range(0..TOPICS);
            let t2 = if rng.random_bool(0.5) { rng.random_range(0..TOPICS) } else { t1 };
            (0..vocabulary)
                .filter(|&r| {
                    let f = if topic[r] == t1 || topic[r] == t2 { 4.0 } else { 0.6 };
                    rng.random::<f64>() < (len * f * base[r]).min(1.0)
                })
                .map(|r| u32::try_from(r).unwrap())
                .collect()
        })
        .collect();
    Corpus { docs, vocabulary }
}

/// Candidates are words `0..candidates`; the attacker knows the keyword
/// sets of a random `fraction` of the documents.
pub(crate) fn knowledge(corpus: &Corpus, candidates: usize, fraction: f64, seed: u64) -> Knowledge {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6b6e_6f77);
    let n = corpus.docs.len();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let m = ((n as f64) * fraction).round() as usize;
    let known_documents: BTreeMap<DocId, KnownDocument> = sample(&mut rng, n, m.min(n))
        .into_iter()
        .map(|i| {
            let keywords = corpus.docs[i].iter().copied().filter(|&w| (w as usize) < candidates).collect();
            (DocId::try_from(i).unwrap(), KnownDocument { keywords, bytes: 0 })
        })
        .collect();
    Knowledge {
        keywords: (0..candidates).map(|w| format!("w{w}")).collect(),
        known_documents,
        known_fraction: fraction,
        known_queries: Vec::new(),
    }
}

/// `count` distinct random query keywords among the candidates.
pub(crate) fn queries(candidates: usize, count: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7175_6572);
    sample(&mut rng, candidates, count.min(candidates)).into_iter().map(|w| u32::try_from(w).unwrap()).collect()
}

/// What a response-revealing scheme shows for these queries over
/// `lists` (word → ids, possibly padded): one token per keyword, its ids.
pub(crate) fn observation(corpus: &Corpus, lists: &[Vec<DocId>], queries: &[u32]) -> Observation {
    Observation {
        documents: (0..corpus.docs.len()).map(|i| (DocId::try_from(i).unwrap(), 0)).collect(),
        queries: queries
            .iter()
            .enumerate()
            .map(|(pos, &w)| QueryObservation {
                seq: pos as u64,
                token: w,
                ids: Some(lists[w as usize].clone()),
                result_len: lists[w as usize].len(),
                documents: Vec::new(),
            })
            .collect(),
    }
}

/// Fraction of queries whose guess is their keyword.
pub(crate) fn accuracy(guesses: &[Option<u32>], truth: &[u32]) -> f64 {
    let right = guesses.iter().zip(truth).filter(|(g, t)| **g == Some(**t)).count();
    right as f64 / truth.len().max(1) as f64
}
