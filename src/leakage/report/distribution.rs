//! Recovery over seeds as a distribution, not only a mean: median,
//! quartiles, range, and how many runs succeeded. An attack that either
//! recovers almost everything or almost nothing has a mean between the two
//! that no run came close to; the median and the success share show it.

use serde::{Deserialize, Serialize};

/// A run succeeds when it recovers at least this fraction (50% of the
/// queries, or of the keywords for the frequency attack).
pub const SUCCESS: f64 = 0.5;

/// Below this a run recovered next to nothing, for [`Distribution::all_or_nothing`].
pub const NOTHING: f64 = 0.1;

/// At or above this a run recovered nearly everything, for [`Distribution::all_or_nothing`].
pub const NEARLY_ALL: f64 = 0.8;

/// The recovery rates of one configuration over its seeds, summed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Runs (seeds).
    pub runs: usize,
    /// Median rate.
    pub median: f64,
    /// First quartile (linear interpolation between order statistics, as
    /// R's default `quantile` type 7 and numpy's default).
    pub q1: f64,
    /// Third quartile (same interpolation).
    pub q3: f64,
    /// Lowest rate.
    pub min: f64,
    /// Highest rate.
    pub max: f64,
    /// Runs that recovered at least [`SUCCESS`].
    pub succeeded: usize,
    /// Runs that recovered less than [`NOTHING`].
    pub failed: usize,
    /// Runs that recovered at least [`NEARLY_ALL`].
    pub nearly_all: usize,
}

impl Distribution {
    /// The distribution of `rates`; `None` when there are none (or one is NaN).
    pub fn of(rates: &[f64]) -> Option<Distribution> {
        if rates.is_empty() || rates.iter().any(|r| r.is_nan()) {
            return None;
        }
        let mut sorted = rates.to_vec();
        sorted.sort_by(f64::total_cmp);
        let count = |f: &dyn Fn(f64) -> bool| sorted.iter().filter(|&&r| f(r)).count();
        Some(Distribution {
            runs: sorted.len(),
            median: quantile(&sorted, 0.5),
            q1: quantile(&sorted, 0.25),
            q3: quantile(&sorted, 0.75),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            succeeded: count(&|r| r >= SUCCESS),
            failed: count(&|r| r < NOTHING),
            nearly_all: count(&|r| r >= NEARLY_ALL),
        })
    }

    /// Share of runs that succeeded (recovered at least [`SUCCESS`]).
    pub fn success_share(&self) -> f64 {
        if self.runs == 0 { 0.0 } else { self.succeeded as f64 / self.runs as f64 }
    }

    /// Whether every run recovered either next to nothing (below
    /// [`NOTHING`]) or nearly everything (at least [`NEARLY_ALL`]), and
    /// both happened.
    pub fn all_or_nothing(&self) -> bool {
        self.failed > 0 && self.nearly_all > 0 && self.failed + self.nearly_all == self.runs
    }
}

/// Quantile `p` of ascending `sorted` (non-empty), interpolating linearly
/// between the order statistics at `(n − 1)·p`.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= h < len
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_like_r_and_numpy() {
        // numpy.quantile([0, 0, 0, 0.1, 0.9, 0.95], [0.25, 0.5, 0.75]) = [0, 0.05, 0.7]
        let d = Distribution::of(&[0.9, 0.0, 0.95, 0.0, 0.1, 0.0]).unwrap();
        assert_eq!((d.runs, d.min, d.max), (6, 0.0, 0.95));
        assert!((d.q1 - 0.0).abs() < 1e-12 && (d.median - 0.05).abs() < 1e-12 && (d.q3 - 0.7).abs() < 1e-12, "{d:?}");
        assert_eq!(Distribution::of(&[0.3]).unwrap().median, 0.3);
        assert!((Distribution::of(&[0.2, 0.4]).unwrap().median - 0.3).abs() < 1e-12);
        assert!(Distribution::of(&[]).is_none());
        assert!(Distribution::of(&[0.1, f64::NAN]).is_none());
    }

    #[test]
    fn success_share_and_all_or_nothing() {
        // Seeds of an all-or-nothing attack: mean 0.33, yet no run is near it.
        let d = Distribution::of(&[0.0, 0.0, 0.93, 0.0, 0.91, 0.01, 0.0, 0.0, 0.96, 0.0]).unwrap();
        assert_eq!((d.succeeded, d.failed, d.nearly_all), (3, 7, 3));
        assert!((d.success_share() - 0.3).abs() < 1e-12);
        assert_eq!(d.median, 0.0);
        assert!(d.all_or_nothing());
        // A middling run breaks the pattern; all failures or all successes are not "all or nothing".
        assert!(!Distribution::of(&[0.0, 0.5, 0.95]).unwrap().all_or_nothing());
        assert!(!Distribution::of(&[0.0, 0.0]).unwrap().all_or_nothing());
        assert!(!Distribution::of(&[0.9, 0.99]).unwrap().all_or_nothing());
        // Success is inclusive at the threshold.
        assert_eq!(Distribution::of(&[SUCCESS]).unwrap().succeeded, 1);
    }
}
