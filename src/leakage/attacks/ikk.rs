//! The IKK attack: Islam, Kuzu and Kantarcioglu, "Access Pattern disclosure
//! on Searchable Encryption: Ramification, Attack and Mitigation", NDSS 2012
//! (`papers/ikk.md`).
//!
//! **Leakage used.** The search pattern and the access pattern of the
//! queries, from which the observed co-occurrence matrix
//! `O[i][j] = |DB(q_i) ∩ DB(q_j)|` of the distinct query tokens follows
//! (diagonal: result lengths). Queries whose ids the server never saw get no
//! guess.
//!
//! **Knowledge used.** The candidate keywords' co-occurrence matrix, which
//! we estimate from the known documents' keyword sets
//! ([`Knowledge::known_documents`], ids unused) scaled by 1/δ
//! ([`Knowledge::known_fraction`]) to expected counts over the database,
//! and the known queries ([`Knowledge::known_queries`]), which stay fixed.
//!
//! **Algorithm.** Simulated annealing over injective maps σ from query
//! tokens to keywords, minimising `Σ_{i,j} (O[i][j] − K[σ(i)][σ(j)])²`. The
//! start maps every free token to the free keyword of closest expected
//! count (the paper starts at random); a move reassigns one free token to a
//! random keyword, swapping with the token holding it if that one is free
//! too; a worse state is accepted with probability `exp(−Δ/T)`. `T` starts
//! at the mean cost per token and falls geometrically to 10⁻⁴ of it over
//! [`IkkAttack::steps`] moves (the paper cools by a fixed factor until a
//! threshold of rejections). Each move costs `O(#tokens)`, so a run is
//! bounded: 100,000 moves over 150 tokens take tens of milliseconds.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use roaring::RoaringBitmap;

use super::count::{KnownCounts, known_fraction};
use super::{Attack, Knowledge, Recovery};
use crate::leakage::observe::Observation;

/// The keyword matrix is `K × K` floats: above this many candidates the
/// attack makes no guess rather than allocate gigabytes.
pub const MAX_KEYWORDS: usize = 4096;

/// IKK simulated annealing on co-occurrence, with known queries. Makes no
/// guess with more than [`MAX_KEYWORDS`] candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkkAttack {
    /// Annealing moves.
    pub steps: u64,
    /// Seed of the annealing's random choices.
    pub seed: u64,
}

impl Default for IkkAttack {
    fn default() -> Self {
        IkkAttack { steps: 100_000, seed: 0x1cc }
    }
}

impl Attack for IkkAttack {
    fn name(&self) -> &'static str {
        "ikk"
    }

    fn recover(&self, observation: &Observation, knowledge: &Knowledge) -> Recovery {
        // Distinct tokens with an access pattern.
        let mut slot_of_token: BTreeMap<u32, usize> = BTreeMap::new();
        let mut sets: Vec<RoaringBitmap> = Vec::new();
        for q in &observation.queries {
            if let Some(ids) = &q.ids
                && !slot_of_token.contains_key(&q.token)
            {
                slot_of_token.insert(q.token, sets.len());
                sets.push(ids.iter().copied().collect());
            }
        }
        let nq = sets.len();
        let mut known = KnownCounts::new(knowledge);
        let nk = known.keywords();
        if nq == 0 || nk == 0 || nk > MAX_KEYWORDS {
            return Recovery { guesses: vec![None; observation.queries.len()] };
        }
        let delta = known_fraction(knowledge, observation.documents.len()).max(f64::MIN_POSITIVE);

        let mut observed = vec![0f64; nq * nq];
        for i in 0..nq {
            for j in i..nq {
                let c = sets[i].intersection_len(&sets[j]) as f64;
                observed[i * nq + j] = c;
                observed[j * nq + i] = c;
            }
        }
        let kw: Vec<u32> = (0..nk).filter_map(|k| u32::try_from(k).ok()).collect();
        let mut expected = vec![0f64; nk * nk];
        for &k in &kw {
            let row = known.row(k);
            for (e, &c) in expected[k as usize * nk..(k as usize + 1) * nk].iter_mut().zip(row) {
                *e = f64::from(c) / delta;
            }
        }

        // Fixed known queries, then the closest free keyword by expected count.
        let mut sigma: Vec<u32> = vec![u32::MAX; nq];
        let mut fixed = vec![false; nq];
        let mut owner: Vec<Option<usize>> = vec![None; nk];
        for &(pos, k) in &knowledge.known_queries {
            let Some(q) = observation.queries.get(pos) else { continue };
            let Some(&slot) = slot_of_token.get(&q.token) else { continue };
            if (k as usize) < nk && owner[k as usize].is_none() && !fixed[slot] {
                sigma[slot] = k;
                fixed[slot] = true;
                owner[k as usize] = Some(slot);
            }
        }
        let mut by_count: Vec<(f64, u32)> = kw.iter().map(|&k| (expected[k as usize * nk + k as usize], k)).collect();
        by_count.sort_by(|a, b| a.0.total_cmp(&b.0));
        for i in 0..nq {
            if fixed[i] {
                continue;
            }
            let target = observed[i * nq + i];
            let best = by_count
                .iter()
                .filter(|(_, k)| owner[*k as usize].is_none())
                .min_by(|a, b| (a.0 - target).abs().total_cmp(&(b.0 - target).abs()));
            if let Some(&(_, k)) = best {
                sigma[i] = k;
                owner[k as usize] = Some(i);
            }
        }
        // More tokens than keywords: the extra tokens stay unmapped and out of the cost.
        let active: Vec<usize> = (0..nq).filter(|&i| sigma[i] != u32::MAX).collect();
        let free: Vec<usize> = active.iter().copied().filter(|&i| !fixed[i]).collect();

        let term = |i: usize, j: usize, si: u32, sj: u32| {
            let d = observed[i * nq + j] - expected[si as usize * nk + sj as usize];
            d * d
        };
        // Cost of the terms touching tokens `a` and `b` (a may equal b) under `s`.
        let touching = |a: usize, b: usize, s: &[u32]| {
            let mut c = 0.0;
            for &l in &active {
                if l != a && l != b {
                    c += 2.0 * (term(a, l, s[a], s[l]) + if a != b { term(b, l, s[b], s[l]) } else { 0.0 });
                }
            }
            c += term(a, a, s[a], s[a]);
            if a != b {
                c += term(b, b, s[b], s[b]) + 2.0 * term(a, b, s[a], s[b]);
            }
            c
        };
        let total: f64 =
            active.iter().map(|&i| active.iter().map(|&j| term(i, j, sigma[i], sigma[j])).sum::<f64>()).sum();
        let t0 = (total / active.len().max(1) as f64).max(1e-9);
        let alpha = (1e-4f64).ln() / self.steps.max(1) as f64;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        if !free.is_empty() {
            for step in 0..self.steps {
                let temperature = t0 * (alpha * step as f64).exp();
                let i = free[rng.random_range(0..free.len())];
                let k = kw[rng.random_range(0..nk)];
                if k == sigma[i] {
                    continue;
                }
                let other = owner[k as usize];
                if other.is_some_and(|j| fixed[j]) {
                    continue;
                }
                let j = other.unwrap_or(i);
                let before = touching(i, j, &sigma);
                let old = sigma[i];
                sigma[i] = k;
                if j != i {
                    sigma[j] = old;
                }
                let diff = touching(i, j, &sigma) - before;
                if diff <= 0.0 || rng.random::<f64>() < (-diff / temperature).exp() {
                    owner[old as usize] = if j != i { Some(j) } else { None };
                    owner[k as usize] = Some(i);
                } else {
                    sigma[i] = old;
                    if j != i {
                        sigma[j] = k;
                    }
                }
            }
        }
        let guesses = observation
            .queries
            .iter()
            .map(|q| slot_of_token.get(&q.token).and_then(|&slot| Some(sigma[slot]).filter(|&k| k != u32::MAX)))
            .collect();
        Recovery { guesses }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::leakage::attacks::count::synthetic::{accuracy, knowledge, observation, queries, zipf_corpus};

    #[test]
    fn ikk_with_full_knowledge_and_known_queries() {
        let corpus = zipf_corpus(6000, 500, 21);
        let lists = corpus.postings();
        let truth = queries(500, 150, 21);
        let obs = observation(&corpus, &lists, &truth);
        for (fraction, seeds) in [(1.0, 0), (1.0, 15), (0.75, 15), (0.5, 15)] {
            let mut know = knowledge(&corpus, 500, fraction, 21);
            know.known_queries = (0..seeds).map(|pos| (pos, truth[pos])).collect();
            let start = Instant::now();
            let rec = IkkAttack::default().recover(&obs, &know);
            let elapsed = start.elapsed();
            let acc = accuracy(&rec.guesses, &truth);
            println!("ikk, known fraction {fraction}, {seeds} known queries: {acc:.3} in {elapsed:?}");
            // Known queries are kept.
            for (guess, keyword) in rec.guesses.iter().zip(&truth).take(seeds) {
                assert_eq!(*guess, Some(*keyword));
            }
            // An injective map: no keyword for two tokens.
            let mut g: Vec<u32> = rec.guesses.iter().flatten().copied().collect();
            let n = g.len();
            g.sort_unstable();
            g.dedup();
            assert_eq!(g.len(), n);
            if fraction == 1.0 && seeds > 0 {
                assert!(acc >= 0.5, "recovered {acc}");
            }
        }
    }

    #[test]
    fn queries_without_ids_get_no_guess() {
        let corpus = zipf_corpus(300, 40, 22);
        let lists = corpus.postings();
        let truth = queries(40, 10, 22);
        let mut obs = observation(&corpus, &lists, &truth);
        obs.queries[0].ids = None;
        let know = knowledge(&corpus, 40, 1.0, 22);
        let rec = IkkAttack { steps: 2_000, ..IkkAttack::default() }.recover(&obs, &know);
        assert_eq!(rec.guesses.len(), truth.len());
        assert_eq!(rec.guesses[0], None);
    }
}
