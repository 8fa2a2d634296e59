//! The report as markdown: recovery and cost tables, the declared leakage
//! profiles, and the whole of `LEAKAGE.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{ATTACKS, AttackReport, NEARLY_ALL, NOTHING, Row, SUCCESS};

impl AttackReport {
    /// The recovery table as markdown: one row per (attack, scheme,
    /// countermeasure), its seeds, one column per known fraction, `mean ± std`.
    pub fn recovery_table(&self) -> String {
        let mut knowns: Vec<f64> = self.rows.iter().map(|r| r.known).collect();
        knowns.sort_by(f64::total_cmp);
        knowns.dedup();
        let mut out = String::from("| attack | scheme | countermeasure | seeds |");
        for k in &knowns {
            let _ = write!(out, " known {} |", if *k == 0.0 { "–".to_owned() } else { format!("{k}") });
        }
        out.push_str(" attack time |\n|---|---|---|---|");
        out.push_str(&"---:|".repeat(knowns.len() + 1));
        out.push('\n');
        let mut groups: BTreeMap<(String, String, String), Vec<&Row>> = BTreeMap::new();
        for r in &self.rows {
            groups.entry((order(&r.attack), r.scheme.clone(), r.countermeasure.clone())).or_default().push(r);
        }
        for ((_, scheme, cm), rows) in groups {
            let _ = write!(out, "| {} | {scheme} | {cm} | {} |", rows[0].attack, seed_list(&rows[0].seeds));
            for k in &knowns {
                match rows.iter().find(|r| r.known == *k) {
                    Some(r) if r.runs > 1 => {
                        let _ = write!(out, " {:.1}% ± {:.1} |", r.mean * 100.0, r.std * 100.0);
                    }
                    Some(r) => {
                        let _ = write!(out, " {:.1}% |", r.mean * 100.0);
                    }
                    None => out.push_str(" |"),
                }
            }
            let secs = rows.iter().map(|r| r.seconds).sum::<f64>() / rows.len() as f64;
            let _ = writeln!(out, " {:.0} ms |", secs * 1e3);
        }
        out
    }

    /// The spread table as markdown: for the attacks of
    /// [`AttackReport::spread`], one row per (attack, scheme,
    /// countermeasure) whose rates were kept per seed, one column per known
    /// fraction: `median [Q1–Q3] min–max · s/n`, with `s` of the `n` runs
    /// succeeding (recovering at least [`SUCCESS`]). Empty when no row
    /// qualifies.
    pub fn spread_table(&self) -> String {
        let rows: Vec<&Row> =
            self.rows.iter().filter(|r| self.spread.contains(&r.attack) && r.distribution.is_some()).collect();
        if rows.is_empty() {
            return String::new();
        }
        let mut knowns: Vec<f64> = rows.iter().map(|r| r.known).collect();
        knowns.sort_by(f64::total_cmp);
        knowns.dedup();
        let mut out = String::from("| attack | scheme | countermeasure | seeds |");
        for k in &knowns {
            let _ = write!(out, " known {} |", if *k == 0.0 { "–".to_owned() } else { format!("{k}") });
        }
        out.push_str("\n|---|---|---|---|");
        out.push_str(&"---:|".repeat(knowns.len()));
        out.push('\n');
        let mut groups: BTreeMap<(String, String, String), Vec<&Row>> = BTreeMap::new();
        for r in rows {
            groups.entry((order(&r.attack), r.scheme.clone(), r.countermeasure.clone())).or_default().push(r);
        }
        for ((_, scheme, cm), rows) in groups {
            let _ = write!(out, "| {} | {scheme} | {cm} | {} |", rows[0].attack, seed_list(&rows[0].seeds));
            for k in &knowns {
                match rows.iter().find(|r| r.known == *k).and_then(|r| r.distribution.as_ref()) {
                    Some(d) => {
                        let _ = write!(
                            out,
                            " {:.1} [{:.1}–{:.1}] {:.1}–{:.1} · {}/{} |",
                            d.median * 100.0,
                            d.q1 * 100.0,
                            d.q3 * 100.0,
                            d.min * 100.0,
                            d.max * 100.0,
                            d.succeeded,
                            d.runs
                        );
                    }
                    None => out.push_str(" |"),
                }
            }
            out.push('\n');
        }
        out
    }

    /// One line per row of the spread table whose runs were all or nothing
    /// ([`super::Distribution::all_or_nothing`]): how many recovered nearly
    /// everything, how many next to nothing, and the mean that lies between.
    pub fn all_or_nothing_lines(&self) -> Vec<String> {
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| self.spread.contains(&r.attack) && r.distribution.as_ref().is_some_and(|d| d.all_or_nothing()))
            .collect();
        rows.sort_by(|a, b| {
            (order(&a.attack), &a.scheme, &a.countermeasure)
                .cmp(&(order(&b.attack), &b.scheme, &b.countermeasure))
                .then(a.known.total_cmp(&b.known))
        });
        rows.iter()
            .filter_map(|r| {
                let d = r.distribution.as_ref()?;
                Some(format!(
                    "`{}` on {} ({}) at known {}: {} of {} runs recovered at least {:.0}% (up to {:.1}%), {} under {:.0}%; mean {:.1}%, median {:.1}%",
                    r.attack,
                    r.scheme,
                    r.countermeasure,
                    r.known,
                    d.nearly_all,
                    d.runs,
                    NEARLY_ALL * 100.0,
                    d.max * 100.0,
                    d.failed,
                    NOTHING * 100.0,
                    r.mean * 100.0,
                    d.median * 100.0
                ))
            })
            .collect()
    }

    /// The cost table as markdown.
    pub fn cost_table(&self) -> String {
        let mut out = String::from(
            "| scheme | countermeasure | extra pairs | extra bytes at rest | bytes per query | extra bytes per query | dropped docs per query | ms per query | mismatches |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for c in &self.costs {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1}% | {:.1}% | {:.0} | {:.1}% | {:.1} | {:.2} | {} |",
                c.scheme,
                c.countermeasure,
                c.extra_pairs_pct,
                c.extra_document_bytes_pct,
                c.bytes_per_query,
                c.extra_bytes_per_query_pct,
                c.discarded_per_query,
                c.ms_per_query,
                c.mismatches
            );
        }
        out
    }
    /// The markdown report (`LEAKAGE.md`): setup, recovery table, cost
    /// table, plots (relative to `plots_rel`, if given).
    pub fn markdown(&self, command: &str, plots: &[PathBuf], plots_rel: Option<&Path>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Leakage report\n");
        let _ = writeln!(
            out,
            "Generated by `{command}` (do not edit by hand; rerun it). {} on `{}`: {} messages, {} keyword-document pairs in the body index; {} candidate keywords ({:?}), {} queries per run ({:?}), seeds {:?}. Total run time {:.1} s.\n",
            self.environment.line(),
            self.dataset,
            self.documents,
            self.pairs,
            self.keywords,
            self.selection,
            self.queries,
            self.distribution,
            self.seeds,
            self.total_seconds
        );
        if !self.merged.is_empty() {
            out.push_str("Rows and costs this command did not measure come from earlier reports, merged in with `--merge` (oldest first; each merge kept the rows the run merging it did not measure). The `seeds` column says which run a row comes from.\n\n");
            for m in &self.merged {
                let _ = writeln!(
                    out,
                    "- `{}`: {} recovery rows and {} cost rows kept when merged; seeds {}, {}, run time {:.1} s.",
                    m.path,
                    m.rows,
                    m.costs,
                    seed_list(&m.seeds),
                    m.environment,
                    m.total_seconds
                );
            }
            out.push('\n');
        }
        out.push_str("Recovery is the fraction of queries whose keyword the attack guesses right (for `frequency`, the fraction of candidate keywords whose blind token it maps right), mean ± standard deviation over the seeds. `known` is the fraction of messages the attacker knows; `count-kq` is also given 10 queries, not counted. `count-v2` is `count` with the paper's window for partial knowledge instead of ours (`papers/count-attack.md`). `injection` uses no known messages. Every query's filtered result was checked against the plaintext (mismatches column). A mean can describe no run at all: where an attack recovers nearly everything on some seeds and nothing on others, read the spread table below.\n\n");
        out.push_str("## Declared leakage\n\n");
        out.push_str(&profiles_table());
        out.push_str("\nEach profile is code (`sseek::leakage::declared::profiles()`), checked by proptest laws: equal declared leakage gives equal server views up to renaming (`tests/suite/leakage_laws.rs`, `tests/suite/leakage_laws_dynamic.rs`), a simulator given only the leakage produces the same view, and forward-private schemes' updates never link to earlier searches (`tests/suite/forward_privacy.rs`). Each law has a deliberately leaky variant that a test shows fails it.\n\n");
        out.push_str("## Recovery\n\n");
        out.push_str(&self.recovery_table());
        let spread = self.spread_table();
        if !spread.is_empty() {
            out.push_str("\n## Spread over seeds\n\n");
            let _ = writeln!(
                out,
                "Recovery of each run, per known fraction, in percent: `median [first quartile–third quartile] lowest–highest · s/n`, where `s` of the `n` runs succeeded, that is recovered at least {:.0}% of the queries (quartiles interpolate linearly between runs, as R's and numpy's defaults). Attacks: {}.\n",
                SUCCESS * 100.0,
                self.spread.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
            );
            out.push_str(&spread);
            let lines = self.all_or_nothing_lines();
            if !lines.is_empty() {
                let _ = writeln!(
                    out,
                    "\nAll or nothing (every run recovered under {:.0}% or at least {:.0}%, and both happened):\n",
                    NOTHING * 100.0,
                    NEARLY_ALL * 100.0
                );
                for l in lines {
                    let _ = writeln!(out, "- {l}");
                }
            }
        }
        out.push_str("\n## Cost of the countermeasures\n\n");
        out.push_str("Extra bytes per query are relative to the same scheme without a countermeasure: padding fillers are real other messages the client fetches and drops, size buckets make every message bigger, shorter blind tokens add false positives.\n\n");
        out.push_str(&self.cost_table());
        out.push_str("\nSchemes with identical rows leak the same per query in this workload: the client fetches what it found, so the access pattern and volumes reach the server whether the scheme is response-revealing or not. They differ in what updates reveal (the `injection` rows).\n");
        if !self.skipped.is_empty() {
            out.push_str("\nNot run:\n");
            for s in &self.skipped {
                let _ = writeln!(out, "- {s}");
            }
        }
        let svgs: Vec<&PathBuf> = plots.iter().filter(|p| p.extension().is_some_and(|e| e == "svg")).collect();
        if !svgs.is_empty() {
            out.push_str("\n## Cost versus recovery\n\n");
            for p in svgs {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let rel = plots_rel.map_or_else(|| p.clone(), |d| d.join(&name));
                let _ = writeln!(out, "![{name}]({})\n", rel.display());
            }
        }
        if let Some(c) = &self.conjunctive {
            out.push('\n');
            out.push_str(&c.markdown(plots_rel));
        }
        if let Some(s) = &self.shards {
            out.push('\n');
            out.push_str(&s.markdown());
        }
        out
    }
}

/// The declared leakage profiles as a markdown table.
pub fn profiles_table() -> String {
    let items = |l: &[crate::leakage::profile::Leak]| {
        if l.is_empty() { "–".to_owned() } else { l.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ") }
    };
    let mut out = String::from(
        "| scheme | L_setup | L_search | L_update | forward private | backward privacy |\n|---|---|---|---|---|---|\n",
    );
    for p in crate::leakage::declared::profiles() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            p.scheme,
            items(p.setup),
            items(p.search),
            items(p.update),
            if p.forward_private { "yes" } else { "no" },
            p.backward.map_or_else(|| "–".to_owned(), |b| b.to_string())
        );
    }
    out
}

/// Seeds as a short list: `1–10` for a run of consecutive seeds.
pub(super) fn seed_list(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if seeds.len() > 2 && seeds.windows(2).all(|w| w[1] == w[0] + 1) => format!("{a}–{b}"),
        _ => seeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
    }
}

/// Sort key putting attacks in the order of [`ATTACKS`].
fn order(attack: &str) -> String {
    format!("{:02}{attack}", ATTACKS.iter().position(|a| *a == attack).unwrap_or(99))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Environment;
    use crate::leakage::experiment::{QueryDistribution, Selection};
    use crate::leakage::report::{AttackArgs, Distribution, SPREAD};

    fn row(attack: &str, known: f64, rates: &[f64]) -> Row {
        let n = rates.len() as f64;
        Row {
            attack: attack.into(),
            scheme: "2lev".into(),
            countermeasure: "none".into(),
            known,
            unit: "queries".into(),
            mean: rates.iter().sum::<f64>() / n,
            std: 0.0,
            min: rates.iter().copied().fold(f64::INFINITY, f64::min),
            max: rates.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            runs: rates.len(),
            seconds: 0.002,
            seeds: (1..=rates.len() as u64).collect(),
            rates: rates.to_vec(),
            distribution: Distribution::of(rates),
        }
    }

    fn report(rows: Vec<Row>) -> AttackReport {
        AttackReport {
            environment: Environment::current().clone(),
            dataset: "spamassassin".into(),
            documents: 100,
            pairs: 1000,
            keywords: 50,
            queries: 20,
            selection: Selection::Frequent,
            distribution: QueryDistribution::Uniform,
            seeds: (1..=10).collect(),
            rows,
            costs: Vec::new(),
            skipped: Vec::new(),
            total_seconds: 1.0,
            spread: vec!["count".into(), "count-v2".into()],
            merged: Vec::new(),
            conjunctive: None,
            shards: None,
        }
    }

    #[test]
    fn spread_table_shows_what_the_mean_hides() {
        let bimodal = [0.0, 0.0, 0.93, 0.0, 0.91, 0.01, 0.0, 0.0, 0.96, 0.0];
        let r = report(vec![
            row("count", 0.5, &bimodal),
            row("count", 1.0, &[0.99; 10]),
            row("count-v2", 0.5, &[0.0; 10]),
            row("ikk", 0.5, &[0.3; 10]),
        ]);
        let table = r.spread_table();
        assert!(
            table.contains(
                "| count | 2lev | none | 1–10 | 0.0 [0.0–68.5] 0.0–96.0 · 3/10 | 99.0 [99.0–99.0] 99.0–99.0 · 10/10 |"
            ),
            "{table}"
        );
        assert!(table.contains("| count-v2 | 2lev | none | 1–10 | 0.0 [0.0–0.0] 0.0–0.0 · 0/10 | |"), "{table}");
        assert!(!table.contains("ikk"), "only the attacks asked for: {table}");
        let lines = r.all_or_nothing_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("`count` on 2lev (none) at known 0.5: 3 of 10 runs recovered at least 80% (up to 96.0%), 7 under 10%; mean 28.1%"), "{}", lines[0]);
        assert!(
            r.recovery_table().contains("| count | 2lev | none | 1–10 | 28.1% ± 0.0 | 99.0% ± 0.0 |"),
            "{}",
            r.recovery_table()
        );
        let md = r.markdown("sseek attack --seeds 10", &[], None);
        assert!(md.contains("## Spread over seeds") && md.contains("All or nothing") && md.contains(&lines[0]), "{md}");
        // Rows kept from a report without per-seed rates are in the recovery table only.
        let mut old = row("count", 0.25, &[0.0, 0.0, 0.0]);
        old.rates.clear();
        old.distribution = None;
        assert!(report(vec![old]).spread_table().is_empty());
    }

    #[test]
    fn seed_lists_and_spread_defaults() {
        assert_eq!(seed_list(&[1, 2, 3, 4]), "1–4");
        assert_eq!(seed_list(&[1, 2]), "1, 2");
        assert_eq!(seed_list(&[1, 3, 4]), "1, 3, 4");
        assert_eq!(AttackArgs::defaults().spread, SPREAD);
        assert!(SPREAD.iter().all(|a| ATTACKS.contains(a)));
    }
}
