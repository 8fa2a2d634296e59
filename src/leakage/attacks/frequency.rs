//! Frequency and co-occurrence attack on a blind index at rest, in the
//! spirit of Naveed, Kamara and Wright, "Inference Attacks on
//! Property-Preserving Encrypted Databases", ACM CCS 2015
//! (`papers/frequency-attack.md`).
//!
//! **Attacker.** A database thief: a copy of the blind index at rest
//! (token → ids, [`crate::leakage::ServerView::blind_index_at_rest`]) and no
//! query at all. A blind-index token is a deterministic function of the
//! keyword, so the postings reveal every keyword's frequency (up to
//! truncation collisions) and every pair's co-occurrence.
//!
//! **Knowledge used.** Auxiliary data: the keyword sets of the known
//! documents ([`Knowledge::known_documents`], a sample of the same
//! distribution; their ids are never used) and the known fraction δ
//! ([`Knowledge::known_fraction`]). Known queries are not used.
//!
//! **Algorithm.** Tokens are ranked by count; the `3K + 100` most frequent
//! (`K` candidate keywords) compete for the candidates, the rest cannot be
//! a candidate's token unless the candidates are not the most frequent words.
//! Every (token, keyword) pair whose counts are consistent (the keyword's
//! known count within `z` standard deviations of `δ ·` the token's count,
//! binomial model; the window extends down by
//! [`FrequencyAttack::collision_slack`] because a truncated token's count
//! includes the keywords it merges) is a candidate pair.
//! 1. *Frequency analysis*: a pair's first score is the chi-square deviation
//!    of the counts. Rounds assign the tokens whose best candidate beats the
//!    second best by the widest margin (one per round for the first
//!    `4 · per_round`, then [`FrequencyAttack::per_round`]); each becomes an
//!    anchor. With `max_anchors = 0` ([`FrequencyAttack::frequency_only`])
//!    all pairs are taken greedily, lowest score first: a greedy
//!    approximation of NKW's lp-optimisation (a min-cost assignment on
//!    frequencies), not the Hungarian algorithm.
//! 2. *Co-occurrence*: from then on a pair's score is the mean chi-square
//!    deviation of the count and of the token's co-occurrence with every
//!    anchor from the keyword's known co-occurrence with the anchor's
//!    keyword. After [`FrequencyAttack::max_anchors`] anchors the remaining
//!    tokens are assigned greedily by score. Each keyword goes to one token.
//!
//! A truncated token that merges several candidates is mapped to one of
//! them (the result maps a token to one keyword), so at most one of the
//! merged keywords counts as recovered.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use super::Knowledge;
use super::count::{KnownCounts, ObservedItem, Scoring, Window, assign_by_score, known_fraction};
use crate::protocol::DocId;

/// Candidates per token kept for scoring: the closest in count (bounds the
/// cost with little knowledge, where count windows are wide).
const MAX_CANDIDATES: usize = usize::MAX;

/// The frequency and co-occurrence attack, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct FrequencyAttack {
    /// Half-width of the count and co-occurrence windows, in standard
    /// deviations (with partial knowledge).
    pub z: f64,
    /// How far below the expected count a keyword's known count may be:
    /// the share of a token's count that truncation collisions may add.
    pub collision_slack: f64,
    /// Anchors: assigned tokens whose co-occurrences enter the scores (0: frequency only).
    pub max_anchors: usize,
    /// Tokens assigned per round while anchors are being added.
    pub per_round: usize,
}

impl Default for FrequencyAttack {
    fn default() -> Self {
        FrequencyAttack { z: 3.0, collision_slack: 0.3, max_anchors: 100, per_round: 5 }
    }
}

/// [`FrequencyAttack::run`] with the default parameters.
pub fn frequency_attack(postings: &BTreeMap<u64, Vec<DocId>>, knowledge: &Knowledge) -> BTreeMap<u64, u32> {
    FrequencyAttack::default().run(postings, knowledge)
}

impl FrequencyAttack {
    /// Frequency analysis only (no co-occurrence refinement).
    pub fn frequency_only() -> Self {
        FrequencyAttack { max_anchors: 0, ..FrequencyAttack::default() }
    }

    /// Maps tokens of one blind index at rest (`postings`: token → ids) to
    /// candidate keywords (indexes into [`Knowledge::keywords`]). Tokens it
    /// cannot place are absent; no two tokens get the same keyword.
    pub fn run(&self, postings: &BTreeMap<u64, Vec<DocId>>, knowledge: &Knowledge) -> BTreeMap<u64, u32> {
        let mut known = KnownCounts::new(knowledge);
        let nk = known.keywords();
        if nk == 0 || postings.is_empty() {
            return BTreeMap::new();
        }
        let documents: RoaringBitmap = postings.values().flatten().copied().collect();
        let delta = known_fraction(knowledge, usize::try_from(documents.len()).unwrap_or(usize::MAX));
        let window = Window { delta, z: self.z, slack: self.collision_slack.clamp(0.0, 1.0), epsilon: None };

        let mut ranked: Vec<(&u64, &Vec<DocId>)> = postings.iter().collect();
        ranked.sort_by_key(|&(token, ids)| (std::cmp::Reverse(ids.len()), *token));
        ranked.truncate(nk.saturating_mul(3).saturating_add(100));
        let items: Vec<ObservedItem> = ranked
            .iter()
            .map(|(_, ids)| ObservedItem {
                count: u32::try_from(ids.len()).unwrap_or(u32::MAX),
                ids: Some(ids.iter().copied().collect()),
            })
            .collect();

        let mut assigned: Vec<Option<u32>> = vec![None; items.len()];
        let open = vec![true; items.len()];
        let scoring =
            Scoring { max_anchors: self.max_anchors, per_round: self.per_round, max_candidates: MAX_CANDIDATES };
        assign_by_score(&mut known, &items, &mut assigned, &open, window, scoring);
        ranked.iter().zip(assigned).filter_map(|((token, _), k)| k.map(|k| (**token, k))).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::leakage::attacks::count::synthetic::{Corpus, knowledge, zipf_corpus};

    const DOCS: usize = 6000;
    const KEYWORDS: usize = 500;
    const VOCABULARY: usize = 2000;

    /// A keyed-hash stand-in for the blind-index token of word `w`, truncated to `bits`.
    fn token(w: u32, bits: u32) -> u64 {
        let mut x = u64::from(w).wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        if bits >= 64 { x } else { x & ((1u64 << bits) - 1) }
    }

    /// The blind index at rest of the whole vocabulary.
    fn index(corpus: &Corpus, bits: u32) -> BTreeMap<u64, Vec<DocId>> {
        let mut idx: BTreeMap<u64, Vec<DocId>> = BTreeMap::new();
        for (w, ids) in corpus.postings().into_iter().enumerate() {
            idx.entry(token(u32::try_from(w).unwrap(), bits)).or_default().extend(ids);
        }
        for ids in idx.values_mut() {
            ids.sort_unstable();
            ids.dedup();
        }
        idx
    }

    /// Fraction of candidate keywords whose token is mapped to them.
    fn recovered(map: &BTreeMap<u64, u32>, bits: u32) -> f64 {
        let right = (0..u32::try_from(KEYWORDS).unwrap()).filter(|&w| map.get(&token(w, bits)) == Some(&w)).count();
        right as f64 / KEYWORDS as f64
    }

    fn assert_injective(map: &BTreeMap<u64, u32>) {
        let mut keywords: Vec<u32> = map.values().copied().collect();
        let n = keywords.len();
        keywords.sort_unstable();
        keywords.dedup();
        assert_eq!(keywords.len(), n, "a keyword was given to two tokens");
    }

    #[test]
    fn full_knowledge_recovers_most_keywords() {
        let corpus = zipf_corpus(DOCS, VOCABULARY, 11);
        let idx = index(&corpus, 64);
        let know = knowledge(&corpus, KEYWORDS, 1.0, 11);
        let start = Instant::now();
        let map = frequency_attack(&idx, &know);
        let elapsed = start.elapsed();
        let acc = recovered(&map, 64);
        println!(
            "frequency, full knowledge, {DOCS} docs, {} tokens, {KEYWORDS} keywords: {acc:.3} in {elapsed:?}",
            idx.len()
        );
        assert_injective(&map);
        assert!(acc >= 0.9, "recovered {acc}");
    }

    #[test]
    fn cooccurrence_refines_frequency_with_partial_knowledge() {
        let corpus = zipf_corpus(DOCS, VOCABULARY, 12);
        let idx = index(&corpus, 64);
        for fraction in [0.25, 0.5, 0.75] {
            let know = knowledge(&corpus, KEYWORDS, fraction, 12);
            let start = Instant::now();
            let freq = recovered(&FrequencyAttack::frequency_only().run(&idx, &know), 64);
            let freq_time = start.elapsed();
            let start = Instant::now();
            let map = frequency_attack(&idx, &know);
            let both_time = start.elapsed();
            let both = recovered(&map, 64);
            println!(
                "frequency, known fraction {fraction}: frequency only {freq:.3} ({freq_time:?}), with co-occurrence {both:.3} ({both_time:?})"
            );
            assert_injective(&map);
            assert!(both > freq, "fraction {fraction}: {both} <= {freq}");
        }
    }

    #[test]
    fn truncated_tokens_degrade_gracefully() {
        let corpus = zipf_corpus(DOCS, VOCABULARY, 13);
        let know = knowledge(&corpus, KEYWORDS, 1.0, 13);
        let mut last = f64::INFINITY;
        for bits in [64, 12, 10] {
            let idx = index(&corpus, bits);
            let map = frequency_attack(&idx, &know);
            let acc = recovered(&map, bits);
            println!("frequency, full knowledge, tokens truncated to {bits} bits ({} tokens): {acc:.3}", idx.len());
            assert_injective(&map);
            assert!(acc <= last + 0.02, "{bits} bits: {acc} > {last}");
            last = acc;
        }
    }

    #[test]
    fn empty_inputs_give_an_empty_map() {
        let corpus = zipf_corpus(50, 20, 14);
        let know = knowledge(&corpus, 10, 1.0, 14);
        assert!(frequency_attack(&BTreeMap::new(), &know).is_empty());
        assert!(frequency_attack(&index(&corpus, 64), &Knowledge::default()).is_empty());
    }
}
