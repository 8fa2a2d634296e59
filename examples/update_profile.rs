//! One-document-at-a-time updates of a dynamic SSE scheme on a Zipf
//! multimap corpus, in memory, alone: what `sseek bench` reports as
//! "update µs/entry" (set up the corpus, then one `SseIndex::update` per new
//! document), without the rest of the run, and with more documents so that
//! a profiler gets enough samples. Prints the wall and thread CPU time per
//! entry of each window of 1,000 documents (the bench measures the first
//! one); with several rounds, each on a fresh server and index, the median
//! CPU time of the first window.
//!
//! ```sh
//! cargo run --release --example update_profile                            # mitra, zipf-sparse, 1,000 documents, 1 round
//! cargo run --release --example update_profile -- diana zipf-dense 20000
//! cargo run --release --example update_profile -- mitra zipf-sparse 1000 9
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::time::Instant;

use sseek::baseline::thread_cpu_seconds;
use sseek::datasets::ZipfMultimap;
use sseek::keys::MasterKey;
use sseek::protocol::DocId;
use sseek::server::{InProcess, Server};
use sseek::sse::{self, SseIndex, Update, UpdateOp};
use sseek::store::MemoryStore;

/// Documents per reported window (the bench adds this many to a corpus of 100,000).
const WINDOW: usize = 1_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let scheme = args.next().unwrap_or_else(|| "mitra".into());
    let corpus = args.next().unwrap_or_else(|| sseek::datasets::ZIPF_SPARSE.into());
    let documents: u64 = args.next().map_or(WINDOW as u64, |n| n.parse().expect("documents: a number"));
    let rounds: usize = args.next().map_or(1, |n| n.parse().expect("rounds: a number"));
    let zm = ZipfMultimap::named(&corpus, 1).expect("corpus: zipf-sparse or zipf-dense");
    let db = zm.multimap();
    let mut per_round: Vec<f64> = (0..rounds).map(|_| round(&scheme, &corpus, &zm, &db, documents)).collect();
    if rounds > 1 {
        per_round.sort_by(f64::total_cmp);
        let listed: Vec<String> = per_round.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{scheme} {corpus}: median of {rounds} rounds {:.3} CPU µs/entry ({})",
            per_round[rounds / 2],
            listed.join(" ")
        );
    }
}

/// One round: a fresh server and index, the corpus set up, then `documents`
/// updates of one document each. Returns the thread's CPU µs per entry over
/// the first window (other load on the machine moves it far less than the
/// wall clock).
fn round(scheme: &str, corpus: &str, zm: &ZipfMultimap, db: &sse::MultiMap, documents: u64) -> f64 {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let config = sse::registry::variant_config(scheme).expect("scheme: a dynamic SSE variant");
    let client = sse::open_client(&MasterKey::generate().unwrap(), "zipf", &config).unwrap();
    let mut index = SseIndex::create(InProcess::new(server, "zipf"), client).unwrap();
    let t = Instant::now();
    index.setup(db).unwrap();
    eprintln!("{scheme} on {corpus}: setup of {} keywords in {:.2} s", db.len(), t.elapsed().as_secs_f64());

    // Built first, so that the window times the updates alone.
    let documents: Vec<Vec<Update>> = (zm.messages..zm.messages + documents)
        .map(|i| {
            let id = DocId::try_from(i).unwrap();
            zm.document(i)
                .into_iter()
                .map(|k| Update { op: UpdateOp::Add, keyword: ZipfMultimap::keyword(k), id })
                .collect()
        })
        .collect();
    let mut us = 0.0;
    for (w, window) in documents.chunks(WINDOW).enumerate() {
        let entries: usize = window.iter().map(Vec::len).sum();
        let (t, cpu) = (Instant::now(), thread_cpu_seconds());
        for updates in window {
            index.update(updates).unwrap();
        }
        let wall = t.elapsed().as_secs_f64() * 1e6 / entries as f64;
        let cpu = thread_cpu_seconds().zip(cpu).map_or(f64::NAN, |(b, a)| (b - a) * 1e6 / entries as f64);
        println!("documents {:>7}: {wall:.3} µs/entry wall, {cpu:.3} CPU", w * WINDOW + window.len());
        // The first window is what the bench measures.
        if w == 0 {
            us = cpu;
        }
    }
    // The updates are there: the last document's first keyword finds it.
    let last = zm.messages + documents.len() as u64 - 1;
    let kw = ZipfMultimap::keyword(zm.document(last)[0]);
    assert!(index.search_keyword(&kw).unwrap().contains(&DocId::try_from(last).unwrap()));
    us
}
