//! Volume analysis of BKM 2020: [`VolAn`] on the total response volume,
//! [`SelVolAn`] adding the result length.

use super::{known_fraction, response_sizes};
use crate::leakage::attacks::{Attack, Knowledge, Recovery};
use crate::leakage::observe::Observation;

/// SelVolAn's default ε, the divisor of its result-length tolerance (LEAKER's default).
pub const SEL_VOL_AN_EPSILON: f64 = 1.0;

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
///
/// [`QueryObservation::volume`]: crate::leakage::observe::QueryObservation::volume
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
///
/// [`QueryObservation::result_len`]: crate::leakage::observe::QueryObservation::result_len
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

/// Sum of sizes; a view loaded from a file may hold absurd sizes, which must not overflow.
fn saturating_sum(sizes: &[u64]) -> u64 {
    sizes.iter().fold(0, |t, &b| t.saturating_add(b))
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
