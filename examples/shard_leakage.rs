//! What one compromised Redis Cluster master sees of the access pattern:
//! SubgraphVL, count and count-v2 on the whole server's view of 2Lev and on
//! each master's share of it (see `sseek::leakage::experiment::shard` for
//! how the view is derived from the store's key layout; no Redis needed).
//! Prints the markdown table (median and range over seeds and masters).
//!
//! ```sh
//! cargo run --release --example shard_leakage              # seeds 1-5, clusters of 3 and 6 masters
//! cargo run --release --example shard_leakage -- 10 3      # seeds 1-10, 3 masters
//! ```
//!
//! `sseek attack --shards 3,6 --shard-seeds 5 --report ...` runs the same
//! experiment and writes its section of `LEAKAGE.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use sseek::datasets::SPAMASSASSIN;
use sseek::leakage::experiment::AttackCorpus;
use sseek::leakage::experiment::shard::{DEFAULT_BUCKETS, ShardConfig, ShardLayout, markdown, run_shards, summarize};

fn main() -> sseek::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = args.first().map_or(5, |s| s.parse().expect("seeds"));
    let counts: Vec<u16> =
        args.get(1).map_or_else(|| vec![3, 6], |s| s.split(',').map(|c| c.parse().expect("masters")).collect());
    let start = Instant::now();
    let corpus = AttackCorpus::load(SPAMASSASSIN)?;
    let config = ShardConfig {
        scheme: "2lev".into(),
        keywords: 500,
        queries: 150,
        fractions: vec![0.25, 0.5, 0.75, 1.0],
        seeds: (1..=seeds).collect(),
        shard_counts: counts.clone(),
        buckets: DEFAULT_BUCKETS,
    };
    let rows = run_shards(&corpus, &config, &mut |line| eprintln!("{line}"))?;
    println!(
        "{}: {} messages, scheme {}, 500 candidate keywords, 150 queries, seeds 1-{seeds}, {} buckets ({:.1} s)\n",
        corpus.name,
        corpus.messages.len(),
        config.scheme,
        config.buckets,
        start.elapsed().as_secs_f64()
    );
    for &c in &counts {
        println!("{c} masters: buckets per master {:?}", ShardLayout::redis_cluster(c)?.buckets_per_shard());
    }
    println!("\n{}", markdown(&summarize(&rows)));
    let list = counts.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    println!("command: cargo run --release --example shard_leakage -- {seeds} {list}");
    Ok(())
}
