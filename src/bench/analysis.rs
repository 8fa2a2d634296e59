//! Analysis of the sweep's points: per-scheme series over the synthetic
//! sizes, where server-assisted schemes overtake the baselines, and how the
//! per-result cost grows.

use super::{Crossover, PointResult, SchemeResult, Slope};
use crate::baseline::BaselineMode;

/// Whether `name` is a client-only baseline.
fn is_baseline(name: &str) -> bool {
    BaselineMode::ALL.iter().any(|m| m.name() == name)
}

/// The synthetic points, ascending by size, with one scheme's value per point.
pub(crate) fn series(points: &[PointResult], scheme: &str, f: impl Fn(&SchemeResult) -> f64) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.synthetic)
        .filter_map(|p| p.schemes.iter().find(|s| s.name == scheme).map(|s| (p.messages as f64, f(s))))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Scheme names present in the report, in run order.
pub(crate) fn names(points: &[PointResult]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in points {
        for s in &p.schemes {
            if !out.contains(&s.name) {
                out.push(s.name.clone());
            }
        }
    }
    out
}

/// Per baseline, server-assisted scheme and metric (`cold`, `warm`): where the
/// scheme starts to beat the baseline over the synthetic sizes.
pub(super) fn crossovers(points: &[PointResult]) -> Vec<Crossover> {
    let names = names(points);
    let mut out = Vec::new();
    for base in names.iter().filter(|n| is_baseline(n)) {
        for scheme in names.iter().filter(|n| !is_baseline(n)) {
            for metric in ["cold", "warm"] {
                let cost = |s: &SchemeResult| {
                    if metric == "cold" { s.cold_first_result_seconds } else { s.mean_query_us / 1e6 }
                };
                let a = series(points, scheme, cost);
                let b = series(points, base, cost);
                // Positive where the server-assisted scheme is faster.
                let d: Vec<(f64, f64)> = a
                    .iter()
                    .filter_map(|(n, x)| {
                        b.iter().find(|(m, _)| m == n).map(|(_, y)| (*n, y.max(1e-9).ln() - x.max(1e-9).ln()))
                    })
                    .collect();
                let (messages, note) = crossing(&d);
                out.push(Crossover {
                    scheme: scheme.clone(),
                    baseline: base.clone(),
                    metric: metric.into(),
                    messages,
                    note,
                });
            }
        }
    }
    out
}

/// Where `d` turns positive for good: after the last measured size where it
/// is not, interpolated in log size between that size and the next.
fn crossing(d: &[(f64, f64)]) -> (Option<f64>, String) {
    let Some(&(first_n, _)) = d.first() else { return (None, "no common sizes".into()) };
    match d.iter().rposition(|(_, x)| *x <= 0.0) {
        None => (Some(first_n), format!("faster at every measured size (from {first_n:.0} messages)")),
        Some(i) if i + 1 == d.len() => {
            let last = d[i].0;
            let note = if d.iter().all(|(_, x)| *x <= 0.0) {
                format!("slower at every measured size (up to {last:.0} messages)")
            } else {
                format!("slower again at the largest size ({last:.0} messages)")
            };
            (None, note)
        }
        Some(i) => {
            let ((n0, d0), (n1, d1)) = (d[i], d[i + 1]);
            let f = -d0 / (d1 - d0);
            let n = (n0.ln() + f * (n1.ln() - n0.ln())).exp();
            (Some(n), format!("faster from about {n:.0} messages"))
        }
    }
}

/// Per scheme, the log-log slope of µs per result over the synthetic sizes.
pub(super) fn slopes(points: &[PointResult]) -> Vec<Slope> {
    names(points)
        .into_iter()
        .filter_map(|name| {
            let s = series(points, &name, |s| s.us_per_result);
            let pts: Vec<(f64, f64)> =
                s.iter().filter(|(n, y)| *n > 0.0 && *y > 0.0).map(|(n, y)| (n.ln(), y.ln())).collect();
            if pts.len() < 2 {
                return None;
            }
            let k = pts.len() as f64;
            let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / k, pts.iter().map(|p| p.1).sum::<f64>() / k);
            let sxy: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
            let sxx: f64 = pts.iter().map(|(x, _)| (x - mx).powi(2)).sum();
            (sxx > 0.0).then(|| Slope { scheme: name, log_log_slope: sxy / sxx })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_cases() {
        assert_eq!(crossing(&[(10.0, 1.0), (100.0, 2.0)]).0, Some(10.0));
        assert_eq!(crossing(&[(10.0, -1.0), (100.0, -2.0)]).0, None);
        let (n, _) = crossing(&[(10.0, -1.0), (100.0, 1.0)]);
        assert!((n.unwrap() - 31.62).abs() < 0.1, "{n:?}");
    }
}
