//! Keyword extraction throughput on the shipped corpus, alone: what
//! `sseek bench` reports as `keyword_extraction` (subject and body of every
//! message, one thread, best of the rounds, in wall time and in the thread's
//! CPU time), without the rest of the run. `measures` names the call timed.
//!
//! ```sh
//! cargo run --release --example keyword_speed             # 5 rounds
//! cargo run --release --example keyword_speed -- 20       # 20 rounds
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

fn main() {
    let rounds = std::env::args().nth(1).map_or(5, |r| r.parse().expect("rounds: a number"));
    let k = sseek::bench::keyword_extraction(sseek::datasets::SPAMASSASSIN, rounds).expect("shipped corpus");
    println!("{}", serde_json::to_string_pretty(&k).expect("json"));
}
