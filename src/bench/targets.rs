//! The report's summary table: each measure next to its target (the
//! performance goals of the multimap comparison and the blind-index path),
//! with the raw primitives of the same run on top.

use serde::Serialize;

use super::client_costs::{BlindLatency, KeywordExtraction};
use super::multimap::{MultimapReport, MultimapResult};
use super::{Primitives, StoreKind};
use crate::datasets::{ZIPF_DENSE, ZIPF_SPARSE};

/// One row: a measure, its value in this run and its target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    /// What is measured.
    pub measure: String,
    /// The value this run.
    pub value: String,
    /// The target (`-` where none is set).
    pub target: String,
    /// Whether the value meets the target; `None` without a target or a value.
    pub met: Option<bool>,
}

fn row(measure: String, value: String, target: &str, met: Option<bool>) -> TargetRow {
    TargetRow { measure, value, target: target.to_owned(), met }
}

/// Per-result and per-pair targets of a scheme: (search sparse, search
/// dense, setup sparse, setup dense, update, redb per result).
type SchemeTargets = (Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>);

fn scheme_targets(scheme: &str) -> SchemeTargets {
    match scheme {
        "mitra" => (Some(0.10), Some(0.04), Some(0.25), Some(0.25), Some(1.0), Some(0.5)),
        "diana" => (Some(0.10), Some(0.04), Some(0.25), Some(0.25), None, Some(0.5)),
        "pack" | "pack-rh" | "2lev" | "2lev-rh" => (Some(0.03), Some(0.01), Some(0.05), Some(0.02), None, None),
        "pibas" => (None, None, None, None, None, Some(0.5)),
        _ => (None, None, None, None, None, None),
    }
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3} µs"))
}

fn le(t: Option<f64>) -> String {
    t.map_or("-".into(), |x| format!("≤ {x} µs"))
}

/// `Some(all met)` over the pairs that have both a value and a target.
fn all_met(pairs: &[(Option<f64>, Option<f64>)]) -> Option<bool> {
    let judged: Vec<bool> = pairs.iter().filter_map(|(v, t)| v.zip(*t).map(|(v, t)| v <= t)).collect();
    (!judged.is_empty()).then(|| judged.iter().all(|m| *m))
}

/// Builds the table from what this run measured.
#[allow(clippy::too_many_lines)]
pub(super) fn targets(
    primitives: &Primitives,
    multimap: Option<&MultimapReport>,
    extraction: Option<&KeywordExtraction>,
    latency: &[BlindLatency],
) -> Vec<TargetRow> {
    let mut rows = vec![
        row(
            "raw HMAC-SHA256, 32 B (reference)".into(),
            format!("{:.3} µs", primitives.hmac_sha256_ns / 1e3),
            "-",
            None,
        ),
        row("raw AES-256, one block (reference)".into(), format!("{:.4} µs", primitives.aes_block_ns / 1e3), "-", None),
        row(
            "raw AES-256-SIV, 1 KiB (reference)".into(),
            format!("{:.3} µs", primitives.aes_siv_1kib_ns / 1e3),
            "-",
            None,
        ),
        row(
            "raw AES-256-GCM-SIV, 1 KiB (reference; envelope version 2)".into(),
            format!("{:.3} µs", primitives.aes_gcm_siv_1kib_ns / 1e3),
            "-",
            None,
        ),
    ];
    if let Some(m) = multimap {
        let find = |scheme: &str, corpus: &str, store: StoreKind| -> Option<&MultimapResult> {
            m.results.iter().find(|r| r.scheme == scheme && r.corpus == corpus && r.store == store)
        };
        let mut schemes: Vec<&str> = Vec::new();
        for r in &m.results {
            if !schemes.contains(&r.scheme.as_str()) {
                schemes.push(&r.scheme);
            }
        }
        for s in schemes {
            let (ts, td, ps, pd, tu, tr) = scheme_targets(s);
            let sparse = find(s, ZIPF_SPARSE, StoreKind::Memory);
            let dense = find(s, ZIPF_DENSE, StoreKind::Memory);
            let (vs, vd) = (sparse.map(|r| r.search_us_per_result), dense.map(|r| r.search_us_per_result));
            if sparse.is_some() || dense.is_some() {
                rows.push(row(
                    format!("{s} search, per result, sparse / dense (memory)"),
                    format!("{} / {}", us(vs), us(vd)),
                    &format!("{} / {}", le(ts), le(td)),
                    all_met(&[(vs, ts), (vd, td)]),
                ));
                let (us_s, us_d) = (sparse.map(|r| r.setup_us_per_pair), dense.map(|r| r.setup_us_per_pair));
                rows.push(row(
                    format!("{s} setup, per pair, sparse / dense (memory)"),
                    format!("{} / {}", us(us_s), us(us_d)),
                    &format!("{} / {}", le(ps), le(pd)),
                    all_met(&[(us_s, ps), (us_d, pd)]),
                ));
                let (ups, upd) =
                    (sparse.and_then(|r| r.update_us_per_entry), dense.and_then(|r| r.update_us_per_entry));
                if ups.is_some() || upd.is_some() {
                    rows.push(row(
                        format!("{s} update, per entry, one document at a time, sparse / dense (memory)"),
                        format!("{} / {}", us(ups), us(upd)),
                        &le(tu),
                        all_met(&[(ups, tu), (upd, tu)]),
                    ));
                }
            }
            let redb: Vec<&MultimapResult> = m
                .results
                .iter()
                .filter(|r| r.scheme == s && r.store == StoreKind::Redb && r.corpus.starts_with(ZIPF_SPARSE))
                .collect();
            if !redb.is_empty() {
                let slope = m.slopes.iter().find(|x| x.scheme == s).map(|x| x.log_log_slope);
                let values: Vec<String> =
                    redb.iter().map(|r| format!("{:.3} µs at {}", r.search_us_per_result, r.documents)).collect();
                let mut judged: Vec<(Option<f64>, Option<f64>)> =
                    redb.iter().map(|r| (Some(r.search_us_per_result), tr)).collect();
                judged.push((slope, tr.map(|_| 0.05)));
                rows.push(row(
                    format!("{s} on redb, search per result, sparse (log-log slope)"),
                    format!("{} (slope {})", values.join(", "), slope.map_or("-".into(), |x| format!("{x:.3}"))),
                    &tr.map_or("-".into(), |t| format!("≤ {t} µs, slope ≤ 0.05")),
                    all_met(&judged),
                ));
            }
        }
        for sc in &m.scaling {
            rows.push(row(
                format!("{} setup on 2 threads vs 1, {}", sc.scheme, sc.corpus),
                format!("{:.2}x ({:.2} s / {:.2} s)", sc.speedup, sc.one_thread_seconds, sc.two_thread_seconds),
                "≥ 1.8x",
                Some(sc.speedup >= 1.8),
            ));
        }
    }
    for l in latency {
        let target = if l.messages >= 1_000_000 { 5.0 } else { 2.0 };
        let target =
            if l.corpus == crate::datasets::SPAMASSASSIN || l.messages >= 1_000_000 { Some(target) } else { None };
        rows.push(row(
            format!("blind index, newest {} p50, {} ({} messages)", super::client_costs::PAGE, l.corpus, l.messages),
            format!("{:.2} ms (p95 {:.1} ms)", l.newest_p50_ms, l.newest_p95_ms),
            &target.map_or("-".into(), |t| format!("≤ {t} ms")),
            target.map(|t| l.newest_p50_ms <= t),
        ));
        rows.push(row(
            format!("blind index, all results, per returned message, {}", l.corpus),
            format!("{:.2} µs ({} returned)", l.us_per_returned_message, l.returned),
            "≤ 8 µs",
            Some(l.us_per_returned_message <= 8.0),
        ));
    }
    if let Some(k) = extraction {
        rows.push(row(
            format!("keyword extraction, {} (one thread)", k.corpus),
            format!(
                "{:.0} MB/s, {} of CPU time (Unicode-segmenter reference {:.0} MB/s)",
                k.mb_per_s,
                k.cpu_mb_per_s.map_or_else(|| "unknown".to_owned(), |c| format!("{c:.0} MB/s")),
                k.reference_mb_per_s
            ),
            "≥ 150 MB/s",
            Some(k.mb_per_s >= 150.0),
        ));
    }
    rows
}
