//! Attacks on recorded views of real schemes, on the shipped corpus and
//! through the `sseek attack` command line: the figures the leakage issue
//! must show, asserted so that a regression fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sseek::leakage::attacks::{self, Attack};
use sseek::leakage::countermeasure::Countermeasure;
use sseek::leakage::experiment::{self, AttackCorpus, QueryDistribution, ScenarioConfig, Selection};

fn config(scheme: &str, countermeasure: Countermeasure) -> ScenarioConfig {
    ScenarioConfig {
        scheme: scheme.into(),
        countermeasure,
        keywords: 500,
        selection: Selection::Frequent,
        queries: 150,
        distribution: QueryDistribution::Uniform,
        seed: 7,
        active: false,
    }
}

/// CGPR report near-complete recovery by the count attack with full
/// knowledge of the documents; on the real corpus an unpadded scheme must
/// give at least 90%, and padding result lengths must take most of it away.
#[test]
fn count_attack_recovers_unpadded_queries_on_real_mail_and_padding_cuts_it() {
    let corpus = AttackCorpus::load(sseek::datasets::SPAMASSASSIN).unwrap();
    let count = attacks::by_name("count").unwrap();
    let plain = experiment::build_scenario(&corpus, &config("2lev", Countermeasure::None)).unwrap();
    assert_eq!(plain.cost.mismatches, 0);
    assert_eq!(plain.observation.queries.len(), 150, "every query is in the view");
    let full = experiment::knowledge(&corpus, &plain, 1.0, 0, 7);
    let unpadded = experiment::query_recovery(&plain, &full, &count.recover(&plain.observation, &full));
    assert!(unpadded >= 0.9, "count attack recovered {unpadded} of the queries");

    let padded = experiment::build_scenario(&corpus, &config("2lev", Countermeasure::Pad(64))).unwrap();
    assert_eq!(padded.cost.mismatches, 0, "padding fillers are dropped by the client");
    assert!(padded.cost.indexed_pairs > padded.cost.pairs && padded.cost.discarded_per_query > 0.0);
    let full = experiment::knowledge(&corpus, &padded, 1.0, 0, 7);
    let with_padding = experiment::query_recovery(&padded, &full, &count.recover(&padded.observation, &full));
    assert!(with_padding < unpadded - 0.5, "padding left {with_padding} (unpadded {unpadded})");
}

/// The view the attacks read is the recorded one: the same attack on a view
/// saved and loaded back gives the same guesses.
#[test]
fn attacks_on_a_saved_view_match_attacks_on_the_live_one() {
    let corpus = AttackCorpus::from_messages("synthetic", sseek::datasets::Synthetic::new(3).generate(1500)).unwrap();
    let mut c = config("mitra", Countermeasure::None);
    c.keywords = 80;
    c.queries = 40;
    let scenario = experiment::build_scenario(&corpus, &c).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("view.jsonl");
    scenario.view.save(&path).unwrap();
    let loaded = sseek::leakage::report::observation_of(&path).unwrap();
    let knowledge = experiment::knowledge(&corpus, &scenario, 0.75, 0, 1);
    for name in ["count", "subgraph-id", "subgraph-vl", "vol-an", "sel-vol-an"] {
        let attack: Box<dyn Attack> = attacks::by_name(name).unwrap();
        assert_eq!(attack.recover(&scenario.observation, &knowledge), attack.recover(&loaded, &knowledge), "{name}");
    }
}

/// `sseek attack --grid` end to end on a small synthetic corpus: every
/// attack and known fraction has a row, costs are reported, and a bad
/// argument is a clear error.
#[test]
fn attack_cli_grid_writes_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("grid.json");
    let report = dir.path().join("LEAKAGE.md");
    let plots = dir.path().join("plots");
    let out = Command::new(env!("CARGO_BIN_EXE_sseek"))
        .args(["attack", "--grid", "--dataset", "synthetic:1200:5", "--keywords", "60", "--queries", "25"])
        // bits:32 applies to the blind index only: with long tokens no two
        // keywords share one, so injection's result does not hang on the key.
        .args(["--scheme", "mitra", "--countermeasure", "none,pad:8,bits:32", "--json"])
        .arg(&json)
        .arg("--report")
        .arg(&report)
        .arg("--plots")
        .arg(&plots)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    for attack in sseek::leakage::report::ATTACKS {
        // Every attack, IKK included, runs in the grid: a missing row is a failure.
        let n = rows.iter().filter(|r| r["attack"] == *attack).count();
        assert!(n > 0, "no row for {attack}");
    }
    for known in [0.25, 0.5, 0.75, 1.0] {
        assert!(rows.iter().any(|r| r["attack"] == "count" && r["known"] == known && r["countermeasure"] == "pad:8"));
    }
    let inj = rows.iter().find(|r| r["attack"] == "injection" && r["scheme"] == "mitra").unwrap();
    assert_eq!(inj["mean"], 0.0, "Mitra is forward private: injection recovers nothing");
    let blind_inj = rows
        .iter()
        .find(|r| r["attack"] == "injection" && r["scheme"] == "blind" && r["countermeasure"] == "bits:32")
        .unwrap();
    assert!(blind_inj["mean"].as_f64().unwrap() >= 0.9, "blind tokens are linkable: {blind_inj}");
    assert!(v["costs"].as_array().unwrap().iter().all(|c| c["mismatches"] == 0));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| count | mitra | pad:8 |") && md.contains("frontier-mitra.svg"), "{md}");
    assert!(plots.join("frontier-mitra.png").exists());

    assert!(md.contains("## Spread over seeds") && md.contains("| count-v2 | mitra | none | 1 |"), "{md}");

    // Count attacks again with two seeds, merged into the grid's report:
    // their rows are replaced, every other row is kept, and both say so.
    let merged = dir.path().join("merged.json");
    let merged_md = dir.path().join("MERGED.md");
    let out = Command::new(env!("CARGO_BIN_EXE_sseek"))
        .args(["attack", "--attack", "count,count-v2", "--known", "0.5,1", "--seeds", "2"])
        .args(["--dataset", "synthetic:1200:5", "--keywords", "60", "--queries", "25", "--scheme", "mitra"])
        .arg("--merge")
        .arg(&json)
        .arg("--json")
        .arg(&merged)
        .arg("--report")
        .arg(&merged_md)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    let mrows = m["rows"].as_array().unwrap();
    let find = |attack: &str, cm: &str, known: f64| {
        mrows.iter().find(|r| {
            r["attack"] == attack && r["scheme"] == "mitra" && r["countermeasure"] == cm && r["known"] == known
        })
    };
    let v2 = find("count-v2", "none", 0.5).unwrap();
    assert_eq!(v2["seeds"], serde_json::json!([1, 2]));
    assert_eq!(v2["rates"].as_array().unwrap().len(), 2);
    assert_eq!(v2["distribution"]["runs"], 2);
    assert_eq!(find("count-v2", "none", 0.25).unwrap()["seeds"], serde_json::json!([1]), "kept from the grid");
    assert_eq!(find("ikk", "pad:8", 0.5).unwrap()["seeds"], serde_json::json!([1]));
    assert_eq!(mrows.len(), rows.len(), "every row of the grid is still there, once");
    assert_eq!(m["merged"][0]["seeds"], serde_json::json!([1]));
    let mmd = std::fs::read_to_string(&merged_md).unwrap();
    assert!(mmd.contains("merged in with `--merge`") && mmd.contains("| count-v2 | mitra | none | 1, 2 |"), "{mmd}");
    assert!(mmd.contains("| ikk | mitra | pad:8 | 1 |"), "kept rows name their seeds: {mmd}");

    let bad = Command::new(env!("CARGO_BIN_EXE_sseek"))
        .args(["attack", "--attack", "nosuch", "--dataset", "synthetic:100"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown attack"));
}
