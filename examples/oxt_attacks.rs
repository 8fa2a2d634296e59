//! Leakage-abuse attacks on a conjunctive workload: per-term AND on 2Lev
//! against OXT, on the shipped corpus (see `sseek::leakage::experiment::conjunctive`
//! for the views and how each attack is adapted). Prints a markdown table
//! (median and range over seeds) and writes `docs/leakage/oxt-conjunctive.svg`.
//!
//! ```sh
//! cargo run --release --example oxt_attacks            # 20 seeds, 150 conjunctions, 500 keywords
//! cargo run --release --example oxt_attacks -- 5 100   # 5 seeds, 100 conjunctions
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use sseek::datasets::SPAMASSASSIN;
use sseek::leakage::experiment::AttackCorpus;
use sseek::leakage::experiment::conjunctive::{ConjunctiveConfig, markdown, run_conjunctive, summarize, write_plot};

fn main() -> sseek::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = args.first().map_or(20, |s| s.parse().expect("seeds"));
    let queries: usize = args.get(1).map_or(150, |s| s.parse().expect("conjunctions"));
    let start = Instant::now();
    let corpus = AttackCorpus::load(SPAMASSASSIN)?;
    let config = ConjunctiveConfig {
        keywords: 500,
        queries,
        fractions: vec![0.25, 0.5, 0.75, 1.0],
        seeds: (1..=seeds).collect(),
    };
    let rows = run_conjunctive(&corpus, &config)?;
    let summary = summarize(&rows);
    println!(
        "{}: {} messages, {} candidate keywords, {} conjunctions of 2-3 terms, {} seeds ({:.1} s)\n",
        corpus.name,
        corpus.messages.len(),
        config.keywords,
        queries,
        seeds,
        start.elapsed().as_secs_f64()
    );
    println!("{}", markdown(&summary));
    write_plot(&summary, Path::new("docs/leakage/oxt-conjunctive.svg"))?;
    println!("plot: docs/leakage/oxt-conjunctive.svg");
    Ok(())
}
