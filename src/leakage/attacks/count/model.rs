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
        let full = Window { delta: 1.0, z: 3.0, slack: 0.0 };
        assert_eq!(full.known_range(40), (40, 40));
        let half = Window { delta: 0.5, z: 3.0, slack: 0.0 };
        let (lo, hi) = half.known_range(400);
        assert!(lo < 200 && 200 < hi && hi - lo < 80, "{lo}..{hi}");
        assert_eq!(half.known_range(0), (0, 0));
    }
}
