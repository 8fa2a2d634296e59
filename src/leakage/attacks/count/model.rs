//! The counting model: what the server observed with a count, keyword
//! counts and co-occurrences in the known documents, and when an observed
//! count is consistent with a known one.

use roaring::RoaringBitmap;

use crate::leakage::attacks::Knowledge;

/// The fraction of the database the attacker knows: as stated in the
/// knowledge, or else the known documents over the documents at rest.
pub(crate) fn known_fraction(knowledge: &Knowledge, documents: usize) -> f64 {
    if knowledge.known_fraction > 0.0 && knowledge.known_fraction <= 1.0 {
        knowledge.known_fraction
    } else if documents > 0 {
        (knowledge.known_documents.len() as f64 / documents as f64).min(1.0)
    } else {
        1.0
    }
}

/// Something the server observed with a count: a query's token (result
/// length, access pattern) or a blind-index token at rest (its postings).
#[derive(Debug, Clone, Default)]
pub(crate) struct ObservedItem {
    /// Result length.
    pub count: u32,
    /// The ids, if the server saw them.
    pub ids: Option<RoaringBitmap>,
}

/// When a count observed on the whole database is consistent with a count
/// in the known documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Known fraction.
    pub delta: f64,
    /// Half-width in standard deviations.
    pub z: f64,
    /// Fraction by which an observed count may exceed the truth, below the
    /// window (truncated blind-index tokens merge keywords); 0 for queries.
    pub slack: f64,
    /// The window of the paper's count attack with partial knowledge
    /// (`count-v2`) instead of ours: observed `o` is consistent with known
    /// `k` when `|k/δ − o| ≤ ε`, this `ε` whatever the count
    /// ([`hoeffding_epsilon`]). `None`: our binomial window, `z` standard
    /// deviations of the known count. `z` and `slack` are ignored when set.
    pub epsilon: Option<f64>,
}

/// Confidence of the paper's window: a count falls outside it with
/// probability at most 5% (the `40` of `ln 40` is `2 / 0.05`).
pub(crate) const HOEFFDING_CONFIDENCE: f64 = 0.95;

/// Half-width of the paper's window, in the observed-count domain, for
/// `documents` documents of which a fraction `delta` is known: Hoeffding's
/// bound on the `(1 − δ)·n` unknown documents, each adding 0 or 1 to a
/// count, `P(|X − E X| ≥ ε) ≤ 2·exp(−2ε² / ((1 − δ)·n))`, set to
/// `1 − HOEFFDING_CONFIDENCE`: `ε = sqrt(½·(1 − δ)·n·ln 40)`. It does not
/// depend on the count: about ±74 for 6,000 documents at δ = 0.5.
pub(crate) fn hoeffding_epsilon(documents: usize, delta: f64) -> f64 {
    let unknown = (1.0 - delta).max(0.0) * documents as f64;
    (0.5 * unknown * (2.0 / (1.0 - HOEFFDING_CONFIDENCE)).ln()).sqrt()
}

impl Window {
    fn exact(self) -> bool {
        self.delta >= 1.0 - 1e-9
    }

    /// The known counts consistent with `observed`, as an inclusive range.
    pub(crate) fn known_range(self, observed: u32) -> (u32, u32) {
        if self.exact() {
            let lo = (f64::from(observed) * (1.0 - self.slack)).ceil();
            return (to_u32(lo), observed);
        }
        let o = f64::from(observed);
        if let Some(eps) = self.epsilon {
            // |k/δ − o| ≤ ε, as published: not clipped to k ≤ o.
            let lo = (self.delta * (o - eps)).ceil().max(0.0);
            let hi = (self.delta * (o + eps)).floor();
            if hi < lo {
                return (1, 0);
            }
            return (to_u32(lo), to_u32(hi));
        }
        let mean = self.delta * o;
        let half = self.z * (self.delta * (1.0 - self.delta) * o).sqrt() + 0.5;
        let lo = (mean * (1.0 - self.slack) - half).ceil().max(0.0);
        let hi = (mean + half).floor().min(o);
        if hi < lo {
            return (1, 0);
        }
        (to_u32(lo), to_u32(hi))
    }

    /// How far `known` is from what `observed` predicts, in standard
    /// deviations squared (a chi-square term); 0 or infinity when δ = 1.
    pub(crate) fn deviation(self, known: u32, observed: u32) -> f64 {
        let (mean, inv_var) = self.expectation(observed);
        let diff = f64::from(known) - mean;
        diff * diff * inv_var
    }

    /// The expected known count for `observed` and the inverse of its
    /// variance (plus ¼, so that δ = 1 and zero counts stay finite).
    pub(crate) fn expectation(self, observed: u32) -> (f64, f64) {
        let o = f64::from(observed);
        (self.delta * o, 1.0 / (self.delta * (1.0 - self.delta) * o + 0.25))
    }
}

/// Saturating float-to-count conversion for window bounds (already clamped).
fn to_u32(x: f64) -> u32 {
    if x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In range and integral after ceil/floor.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = x as u32;
        v
    }
}

/// Keyword counts and co-occurrences in the known documents.
#[derive(Debug)]
pub(crate) struct KnownCounts {
    /// Per keyword, the positions of the known documents containing it.
    postings: Vec<Vec<u32>>,
    /// Per known document (by position), its keywords.
    documents: Vec<Vec<u32>>,
    /// Co-occurrence rows computed so far, by keyword.
    rows: Vec<Option<Vec<u32>>>,
}

impl KnownCounts {
    /// Indexes the known documents' keyword sets (their ids are not used).
    pub(crate) fn new(knowledge: &Knowledge) -> Self {
        let k = knowledge.keywords.len();
        let mut postings = vec![Vec::new(); k];
        let mut documents = Vec::with_capacity(knowledge.known_documents.len());
        for doc in knowledge.known_documents.values() {
            let pos = u32::try_from(documents.len()).unwrap_or(u32::MAX);
            let mut kws: Vec<u32> = doc.keywords.iter().copied().filter(|&w| (w as usize) < k).collect();
            kws.sort_unstable();
            kws.dedup();
            for &w in &kws {
                postings[w as usize].push(pos);
            }
            documents.push(kws);
        }
        KnownCounts { postings, documents, rows: vec![None; k] }
    }

    /// Number of candidate keywords.
    pub(crate) fn keywords(&self) -> usize {
        self.postings.len()
    }

    /// Known documents containing keyword `k`.
    pub(crate) fn count(&self, k: u32) -> u32 {
        self.postings.get(k as usize).map_or(0, |p| u32::try_from(p.len()).unwrap_or(u32::MAX))
    }

    /// Known documents containing both `k` and each keyword: row `k` of the
    /// known co-occurrence matrix, computed on first use.
    pub(crate) fn row(&mut self, k: u32) -> &[u32] {
        let n = self.postings.len();
        let (postings, documents) = (&self.postings, &self.documents);
        self.rows[k as usize].get_or_insert_with(|| {
            let mut row = vec![0u32; n];
            for &d in &postings[k as usize] {
                for &w in &documents[d as usize] {
                    row[w as usize] += 1;
                }
            }
            row
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_exact_with_full_knowledge_and_widens_with_less() {
        let full = Window { delta: 1.0, z: 3.0, slack: 0.0, epsilon: None };
        assert_eq!(full.known_range(40), (40, 40));
        let half = Window { delta: 0.5, z: 3.0, slack: 0.0, epsilon: None };
        let (lo, hi) = half.known_range(400);
        assert!(lo < 200 && 200 < hi && hi - lo < 80, "{lo}..{hi}");
        assert_eq!(half.known_range(0), (0, 0));
    }

    #[test]
    fn hoeffding_window_has_one_width_for_every_count() {
        // ε = sqrt(½ · 3000 · ln 40) ≈ 74.4 for 6,000 documents at δ = 0.5.
        let eps = hoeffding_epsilon(6000, 0.5);
        assert!((eps - (1500.0 * 40f64.ln()).sqrt()).abs() < 1e-9 && (74.0..75.0).contains(&eps), "{eps}");
        assert_eq!(hoeffding_epsilon(6000, 1.0), 0.0);
        let paper = Window { delta: 0.5, z: 3.0, slack: 0.0, epsilon: Some(eps) };
        // Known k is accepted for observed o when |k/δ − o| ≤ ε: k in δ(o ± ε).
        assert_eq!(paper.known_range(400), (163, 237));
        assert_eq!(paper.known_range(10), (0, 42));
        // The width is the same for a rare and a frequent count; ours widens with the count.
        let ours = Window { epsilon: None, ..paper };
        let width = |w: Window, o| {
            let (lo, hi) = w.known_range(o);
            hi - lo
        };
        assert_eq!(width(paper, 400), width(paper, 200));
        assert!(width(ours, 10) < width(ours, 400));
        // With full knowledge both are exact.
        let full = Window { delta: 1.0, ..paper };
        assert_eq!(full.known_range(40), (40, 40));
    }
}
