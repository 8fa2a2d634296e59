//! Merging an earlier report in (`sseek attack --merge`): a run that
//! measures a few attacks again, with more seeds, keeps the earlier
//! report's rows for everything it did not measure, and says where each
//! came from, so the markdown stays generated rather than edited by hand.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AttackReport, CostRow, Distribution, Row};
use crate::leakage::experiment::{QueryDistribution, Selection};
use crate::{Error, Result};

/// Where the rows a report kept from an earlier one came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    /// The earlier report's JSON, as the path was given.
    pub path: String,
    /// Its seeds.
    pub seeds: Vec<u64>,
    /// Its machine and build, as the report header prints them.
    pub environment: String,
    /// Its run time, seconds.
    pub total_seconds: f64,
    /// Recovery rows kept from it.
    pub rows: usize,
    /// Cost rows kept from it.
    pub costs: usize,
}

/// What a merge reads of an earlier report's JSON.
#[derive(Debug, Deserialize)]
pub(super) struct Earlier {
    environment: EarlierEnvironment,
    dataset: String,
    documents: usize,
    keywords: usize,
    queries: usize,
    selection: Selection,
    distribution: QueryDistribution,
    seeds: Vec<u64>,
    rows: Vec<Row>,
    costs: Vec<CostRow>,
    #[serde(default)]
    skipped: Vec<String>,
    total_seconds: f64,
    #[serde(default)]
    merged: Vec<MergedFrom>,
}

/// The machine and build of an earlier report.
#[derive(Debug, Deserialize)]
struct EarlierEnvironment {
    cpu: String,
    cores: usize,
    rustflags: String,
    profile: String,
    version: String,
    commit: String,
}

impl EarlierEnvironment {
    /// As `Environment::line` prints it.
    fn line(&self) -> String {
        format!(
            "cpu=\"{}\" cores={} RUSTFLAGS=\"{}\" profile={} sseek={} commit={}",
            self.cpu, self.cores, self.rustflags, self.profile, self.version, self.commit
        )
    }
}

impl AttackReport {
    /// Keeps the recovery rows and cost rows of the earlier report at
    /// `path` (the JSON `--json` writes) for every configuration this
    /// report did not measure: a recovery row is replaced when this report
    /// has one for the same (attack, scheme, countermeasure, known
    /// fraction), a cost row when it has one for the same (scheme,
    /// countermeasure). Kept rows without their seeds get the earlier
    /// report's. Records the earlier report in [`AttackReport::merged`].
    ///
    /// # Errors
    /// I/O errors; [`Error::Config`] for a file that is not a report, or a
    /// report of another dataset, candidate or query setup.
    pub fn merge(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let earlier: Earlier = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Config(format!("{}: not an attack report: {e}", path.display())))?;
        self.merge_earlier(earlier, &path.display().to_string())
    }

    /// [`AttackReport::merge`] on a parsed report.
    pub(super) fn merge_earlier(&mut self, earlier: Earlier, path: &str) -> Result<()> {
        let same = earlier.dataset == self.dataset
            && earlier.documents == self.documents
            && earlier.keywords == self.keywords
            && earlier.queries == self.queries
            && earlier.selection == self.selection
            && earlier.distribution == self.distribution;
        if !same {
            return Err(Error::Config(format!(
                "{path}: cannot merge a report of {} ({} messages, {} candidates, {} queries, {:?}, {:?}) into one of {} ({} messages, {} candidates, {} queries, {:?}, {:?})",
                earlier.dataset,
                earlier.documents,
                earlier.keywords,
                earlier.queries,
                earlier.selection,
                earlier.distribution,
                self.dataset,
                self.documents,
                self.keywords,
                self.queries,
                self.selection,
                self.distribution
            )));
        }
        let measured: BTreeSet<(String, String, String, u64)> = self
            .rows
            .iter()
            .map(|r| (r.attack.clone(), r.scheme.clone(), r.countermeasure.clone(), r.known.to_bits()))
            .collect();
        let costed: BTreeSet<(String, String)> =
            self.costs.iter().map(|c| (c.scheme.clone(), c.countermeasure.clone())).collect();
        let mut kept_rows: Vec<Row> = earlier
            .rows
            .into_iter()
            .filter(|r| {
                !measured.contains(&(r.attack.clone(), r.scheme.clone(), r.countermeasure.clone(), r.known.to_bits()))
            })
            .map(|mut r| {
                if r.seeds.is_empty() {
                    r.seeds.clone_from(&earlier.seeds);
                }
                if r.distribution.is_none() {
                    r.distribution = Distribution::of(&r.rates);
                }
                r
            })
            .collect();
        let kept_costs: Vec<CostRow> = earlier
            .costs
            .into_iter()
            .filter(|c| !costed.contains(&(c.scheme.clone(), c.countermeasure.clone())))
            .collect();
        let from = MergedFrom {
            path: path.to_owned(),
            seeds: earlier.seeds,
            environment: earlier.environment.line(),
            total_seconds: earlier.total_seconds,
            rows: kept_rows.len(),
            costs: kept_costs.len(),
        };
        self.rows.append(&mut kept_rows);
        self.costs.extend(kept_costs);
        self.costs.sort_by(|a, b| (&a.scheme, &a.countermeasure).cmp(&(&b.scheme, &b.countermeasure)));
        relative_bytes(&mut self.costs);
        for s in earlier.skipped {
            if !self.skipped.contains(&s) {
                self.skipped.push(s);
            }
        }
        let mut merged = earlier.merged;
        merged.push(from);
        merged.append(&mut self.merged);
        self.merged = merged;
        Ok(())
    }
}

/// Sets every cost row's extra bytes per query against the `none` row of
/// its scheme, as the report defines them (0 without such a row): after a
/// merge the `none` row may come from the other report.
fn relative_bytes(costs: &mut [CostRow]) {
    let base: Vec<(String, f64)> =
        costs.iter().filter(|c| c.countermeasure == "none").map(|c| (c.scheme.clone(), c.bytes_per_query)).collect();
    for c in costs.iter_mut() {
        let b = base.iter().find(|(s, _)| *s == c.scheme).map_or(0.0, |&(_, b)| b);
        c.extra_bytes_per_query_pct = if b > 0.0 { (c.bytes_per_query / b - 1.0) * 100.0 } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Environment;

    fn row(attack: &str, known: f64, rates: &[f64]) -> Row {
        Row {
            attack: attack.into(),
            scheme: "2lev".into(),
            countermeasure: "none".into(),
            known,
            unit: "queries".into(),
            mean: rates.iter().sum::<f64>() / rates.len() as f64,
            std: 0.0,
            min: 0.0,
            max: 0.0,
            runs: rates.len(),
            seconds: 0.001,
            seeds: (1..=rates.len() as u64).collect(),
            rates: rates.to_vec(),
            distribution: Distribution::of(rates),
        }
    }

    fn report(rows: Vec<Row>, seeds: Vec<u64>) -> AttackReport {
        AttackReport {
            environment: Environment::current().clone(),
            dataset: "spamassassin".into(),
            documents: 100,
            pairs: 1000,
            keywords: 50,
            queries: 20,
            selection: Selection::Frequent,
            distribution: QueryDistribution::Uniform,
            seeds,
            rows,
            costs: Vec::new(),
            skipped: vec!["injection on 2lev: a static index takes no new messages".into()],
            total_seconds: 1.0,
            spread: vec!["count".into()],
            merged: Vec::new(),
            conjunctive: None,
            shards: None,
        }
    }

    /// The JSON of an earlier report as `--json` wrote it before rows kept their per-seed rates.
    fn earlier_json(rows: &[Row]) -> serde_json::Value {
        let mut v = serde_json::to_value(report(rows.to_vec(), vec![1, 2, 3])).unwrap();
        for r in v["rows"].as_array_mut().unwrap() {
            let r = r.as_object_mut().unwrap();
            for field in ["seeds", "rates", "distribution"] {
                r.remove(field);
            }
        }
        let v = v.as_object_mut().unwrap();
        v.remove("spread");
        v.remove("merged");
        serde_json::Value::Object(v.clone())
    }

    #[test]
    fn merge_keeps_what_was_not_measured_again() {
        let old = earlier_json(&[row("count", 0.5, &[0.0, 0.0, 0.0]), row("ikk", 0.5, &[0.3, 0.2, 0.1])]);
        let earlier: Earlier = serde_json::from_value(old).unwrap();
        let mut new = report(vec![row("count", 0.5, &[0.0, 0.9, 0.0, 0.95])], vec![1, 2, 3, 4]);
        new.merge_earlier(earlier, "docs/leakage/report.json").unwrap();
        assert_eq!(new.rows.len(), 2);
        let count = new.rate("count", "2lev", "none", 0.5).unwrap();
        assert_eq!(count.rates, vec![0.0, 0.9, 0.0, 0.95], "the new measurement replaces the old");
        let ikk = new.rate("ikk", "2lev", "none", 0.5).unwrap();
        assert_eq!(ikk.seeds, vec![1, 2, 3], "kept rows get the earlier seeds");
        assert!(ikk.rates.is_empty() && ikk.distribution.is_none());
        assert_eq!(new.skipped.len(), 1, "skipped lines are not repeated");
        assert_eq!(new.merged.len(), 1);
        assert_eq!((new.merged[0].rows, new.merged[0].seeds.clone()), (1, vec![1, 2, 3]));
        assert!(new.merged[0].environment.starts_with("cpu="));
        // Merging the merged report again chains the provenance.
        let again: Earlier = serde_json::from_value(serde_json::to_value(&new).unwrap()).unwrap();
        let mut third = report(Vec::new(), vec![9]);
        third.merge_earlier(again, "b.json").unwrap();
        assert_eq!(
            third.merged.iter().map(|m| m.path.as_str()).collect::<Vec<_>>(),
            ["docs/leakage/report.json", "b.json"]
        );
        assert_eq!(third.rows.len(), 2);
    }

    fn cost(countermeasure: &str, bytes_per_query: f64) -> CostRow {
        CostRow {
            scheme: "2lev".into(),
            countermeasure: countermeasure.into(),
            pairs: 1000,
            extra_pairs_pct: 0.0,
            extra_document_bytes_pct: 0.0,
            bytes_per_query,
            extra_bytes_per_query_pct: 0.0,
            discarded_per_query: 0.0,
            ms_per_query: 1.0,
            setup_seconds: 0.1,
            mismatches: 0,
        }
    }

    /// A run without the `none` configuration measured its extra bytes
    /// against nothing; merged with a report that has it, they are relative
    /// to that row.
    #[test]
    fn merge_recomputes_extra_bytes_against_the_merged_baseline() {
        let mut old = report(Vec::new(), vec![1, 2, 3]);
        old.costs = vec![cost("none", 1000.0), cost("pad:4", 1010.0)];
        let earlier: Earlier = serde_json::from_value(serde_json::to_value(&old).unwrap()).unwrap();
        let mut new = report(Vec::new(), vec![1]);
        new.costs = vec![cost("pad:16", 1100.0)];
        new.merge_earlier(earlier, "old.json").unwrap();
        let pct = |cm: &str| new.cost("2lev", cm).unwrap().extra_bytes_per_query_pct;
        assert!(pct("none").abs() < 1e-9 && (pct("pad:4") - 1.0).abs() < 1e-9 && (pct("pad:16") - 10.0).abs() < 1e-9);
        assert_eq!(new.costs.len(), 3);
    }

    #[test]
    fn merge_refuses_another_setup_and_other_files() {
        let mut old = earlier_json(&[row("count", 0.5, &[0.0])]);
        old["queries"] = serde_json::json!(150);
        let earlier: Earlier = serde_json::from_value(old).unwrap();
        let err = report(Vec::new(), vec![1]).merge_earlier(earlier, "old.json").unwrap_err();
        assert!(err.to_string().contains("cannot merge"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("view.json");
        std::fs::write(&path, b"{\"queries\": []}").unwrap();
        let err = report(Vec::new(), vec![1]).merge(&path).unwrap_err();
        assert!(err.to_string().contains("not an attack report"), "{err}");
    }
}
