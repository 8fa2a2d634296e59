//! Volume attacks at the size of the real-corpus experiment (6,000
//! documents, 500 keywords, 150 queries), on synthetic mail corpora:
//!
//! - `timing`: each attack run's time and recovery at known fractions 0.25
//!   and 1.0;
//! - `grid`: the recovery grid quoted in `papers/subgraph-id.md`,
//!   `papers/subgraph-vl.md`, `papers/vol-an.md` and `papers/sel-vol-an.md`
//!   (uniform and high-selectivity queries, size buckets and result-length
//!   padding, 3 seeds; about a minute).
//!
//! Run: `cargo bench --bench attacks` (both), or `cargo bench --bench
//! attacks -- grid` / `-- timing`. It prints the environment line first.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use sseek::leakage::attacks::volume::synthetic::{attacks, corpus, observe_padded, recovery_rate};
use sseek::leakage::countermeasure::SizeBuckets;

/// Each attack run's time on a mail-sized input.
fn timing() {
    let c = corpus(6000, 500, 16);
    let q = c.queries(150, 17);
    let observation = c.observe(&q);
    for delta in [0.25, 1.0] {
        let knowledge = c.knowledge(delta, 18);
        for attack in attacks() {
            let start = Instant::now();
            let recovery = attack.recover(&observation, &knowledge);
            let took = start.elapsed();
            println!("{} δ={delta}: {took:?}, recovery {:.3}", attack.name(), recovery_rate(&recovery, &q));
        }
    }
}

/// The recovery grid of the paper notes, as a markdown table.
#[allow(clippy::cast_possible_truncation)] // keyword indexes are far below u32
fn grid() {
    let c = corpus(6000, 500, 100);
    let postings = c.postings();
    let mut by_frequency: Vec<u32> = (0..c.keywords as u32).collect();
    by_frequency.sort_by_key(|&k| std::cmp::Reverse(postings[k as usize].len()));
    let seeds = 3u64;
    println!("| queries | countermeasure | δ | subgraph-id | subgraph-vl | vol-an | sel-vol-an |");
    println!("|---|---|---|---|---|---|---|");
    for selection in ["uniform", "high"] {
        for cm in ["none", "size:512", "size:8192", "pad:16 dummies", "pad:16 documents"] {
            for delta in [0.05, 0.1, 0.25, 0.5, 0.75, 1.0] {
                if cm != "none" && ![0.25, 1.0].contains(&delta) {
                    continue;
                }
                let mut sums = [0.0; 4];
                for seed in 0..seeds {
                    let queries: Vec<u32> = match selection {
                        "uniform" => c.queries(150, seed),
                        _ => {
                            let mut top = by_frequency[..200].to_vec();
                            top.shuffle(&mut ChaCha20Rng::seed_from_u64(seed));
                            top.truncate(150);
                            top
                        }
                    };
                    let (corpus, observation) = match cm {
                        "size:512" => {
                            let p = c.padded(SizeBuckets(512));
                            let o = p.observe(&queries);
                            (p, o)
                        }
                        "size:8192" => {
                            let p = c.padded(SizeBuckets(8192));
                            let o = p.observe(&queries);
                            (p, o)
                        }
                        "pad:16 dummies" => (c.padded(SizeBuckets(1)), observe_padded(&c, &queries, 16, false, seed)),
                        "pad:16 documents" => (c.padded(SizeBuckets(1)), observe_padded(&c, &queries, 16, true, seed)),
                        _ => (c.padded(SizeBuckets(1)), c.observe(&queries)),
                    };
                    let knowledge = corpus.knowledge(delta, 1000 + seed);
                    for (sum, attack) in sums.iter_mut().zip(attacks()) {
                        *sum += recovery_rate(&attack.recover(&observation, &knowledge), &queries);
                    }
                }
                let cells: Vec<String> = sums.iter().map(|s| format!("{:.2}", s / seeds as f64)).collect();
                println!("| {selection} | {cm} | {delta} | {} |", cells.join(" | "));
            }
        }
    }
}

fn main() {
    common::print_environment();
    // `cargo bench` passes `--bench`; any other argument picks a measurement.
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| name.contains(w.as_str()));
    if run("timing") {
        timing();
    }
    if run("grid") {
        grid();
    }
}
