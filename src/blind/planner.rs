//! Choosing the token length of a blind index.
//!
//! Inputs: `P` postings ((value, document) pairs), `D` distinct values, `R`
//! rows (documents), a false-positive budget `F` (expected extra candidates a
//! query returns) and a hiding target `k` (distinct values per token).
//!
//! With `L`-bit tokens, each of the other `P - n_v` postings collides with the
//! queried token with probability `2^-L`, so a query expects at most `P / 2^L`
//! false positives (and never more than `R`). Each token is shared by about
//! `D / 2^L` distinct values. Hence
//!
//! - bounded false positives: `L >= L_fp = ceil(log2(P / F))`;
//! - hidden frequencies: `L <= L_hide = floor(log2(D / k))`.
//!
//! The planner takes `L = max(1, L_fp)`, the shortest token that keeps the
//! false-positive budget, which maximizes collisions. If `L > L_hide`, the
//! budget cannot be met while hiding frequencies; the plan says so
//! (`hides_frequencies == false`) rather than silently weakening either side.
//!
//! CipherSweet's planner, for comparison, keeps the coincidence count
//! `C = R / 2^(sum of min(L_i, K_i))` over the indexes of one field within
//! `2 <= C < sqrt(R)`, where `K_i` is log2 of the input domain of index `i`.
//! It counts rows, not postings, and ignores the cost in false positives, so
//! for keyword indexes (many postings per row) it cannot bound that cost.
//!
//! ```
//! use sseek::blind::{plan, PlanInput};
//! let p = plan(&PlanInput { rows: 6_000, distinct_values: 80_000, postings: 900_000,
//!                           max_false_positives: 60.0, min_values_per_token: 2.0 });
//! assert_eq!(p.bits, 14);
//! assert!(p.expected_false_positives <= 60.0 && p.hides_frequencies);
//! ```

// Float-to-integer casts here saturate and act on bounded statistics.

use serde::Serialize;

/// What the planner needs to know about an index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlanInput {
    /// Documents (rows) expected.
    pub rows: u64,
    /// Distinct values expected in the index.
    pub distinct_values: u64,
    /// (value, document) pairs expected.
    pub postings: u64,
    /// Expected false positives per query the client accepts (F).
    pub max_false_positives: f64,
    /// Distinct values per token wanted to hide frequencies (k).
    pub min_values_per_token: f64,
}

/// The planner's choice and its consequences.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Plan {
    /// Token length in bits.
    pub bits: u8,
    /// Expected false positives per query: `min(R, P / 2^L)`.
    pub expected_false_positives: f64,
    /// Expected distinct values sharing a token: `D / 2^L` (below 1 means most tokens are unique).
    pub values_per_token: f64,
    /// CipherSweet's coincidence count `R / 2^L`.
    pub coincidence_count: f64,
    /// Whether `values_per_token >= k` holds at this length.
    pub hides_frequencies: bool,
}

#[allow(clippy::cast_possible_truncation)] // float estimates of counts: finite, non-negative and far below 2^63
fn log2_ceil(x: f64) -> i64 {
    if x <= 1.0 { 0 } else { x.log2().ceil() as i64 }
}

/// Plans the token length for an index.
pub fn plan(input: &PlanInput) -> Plan {
    let budget = input.max_false_positives.max(1e-9);
    let l_fp = log2_ceil(input.postings as f64 / budget);
    let bits = l_fp.clamp(1, 64) as u8;
    evaluate(input, bits)
}

/// The consequences of a given token length (for reports and what-if tables).
pub fn evaluate(input: &PlanInput, bits: u8) -> Plan {
    let space = 2f64.powi(i32::from(bits));
    let values_per_token = input.distinct_values as f64 / space;
    Plan {
        bits,
        expected_false_positives: (input.postings as f64 / space).min(input.rows as f64),
        values_per_token,
        coincidence_count: input.rows as f64 / space,
        hides_frequencies: values_per_token >= input.min_values_per_token,
    }
}

/// Plans every index of `specs` from the terms of a corpus (the client knows
/// its plaintext, so it can count exactly). `growth` scales the counts for
/// expected growth (1.0 = plan for today's size).
#[allow(clippy::cast_possible_truncation)] // float estimates of counts: finite, non-negative and far below 2^63
pub fn plan_for_corpus(
    terms: &[crate::message::Terms],
    specs: &[super::IndexSpec],
    max_false_positives: f64,
    min_values_per_token: f64,
    growth: f64,
) -> Vec<(crate::protocol::IndexDescriptor, Plan)> {
    use rayon::prelude::*;
    specs
        .par_iter()
        .map(|spec| {
            let mut distinct = std::collections::HashSet::new();
            let mut pairs = 0u64;
            for t in terms {
                let vals = spec.values(t);
                pairs += vals.len() as u64;
                for v in vals {
                    distinct.insert(v.join("\u{1f}"));
                }
            }
            let g = growth.max(1.0);
            let input = PlanInput {
                rows: ((terms.len() as f64) * g) as u64,
                distinct_values: ((distinct.len() as f64) * g) as u64,
                postings: ((pairs as f64) * g) as u64,
                max_false_positives,
                min_values_per_token,
            };
            let p = plan(&input);
            (crate::protocol::IndexDescriptor { name: spec.name.clone(), fields: spec.fields.clone(), bits: p.bits }, p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_postings_need_more_bits() {
        let base = PlanInput {
            rows: 1000,
            distinct_values: 5000,
            postings: 50_000,
            max_false_positives: 10.0,
            min_values_per_token: 2.0,
        };
        let a = plan(&base);
        let b = plan(&PlanInput { postings: 500_000, ..base });
        assert!(b.bits > a.bits);
        assert!(a.expected_false_positives <= 10.0);
        assert!(b.expected_false_positives <= 10.0);
        // one bit fewer would break the budget: the plan is the shortest that fits
        assert!(evaluate(&base, a.bits - 1).expected_false_positives > 10.0);
    }

    #[test]
    fn reports_when_hiding_is_impossible() {
        let p = plan(&PlanInput {
            rows: 1000,
            distinct_values: 100,
            postings: 100_000,
            max_false_positives: 1.0,
            min_values_per_token: 2.0,
        });
        assert!(!p.hides_frequencies);
    }
}
