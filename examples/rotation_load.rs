//! Key rotation under load: a server holding N synthetic messages (100,000
//! by default) answers exact searches (blind tokens, candidates, decryption,
//! false positives dropped) from one client, first at rest and then while a
//! second client rotates the account's keys from version 1 to 2 over HTTP.
//! Reports rotation throughput (messages re-sealed and re-indexed per
//! second) and search latency (p50/p95/p99, client-observed) in both
//! phases, next to the raw primitives measured in the same run. redb, and
//! PostgreSQL when `SSEEK_PG_URL` is set (in a schema of its own, dropped at
//! the end).
//!
//! ```sh
//! cargo run --release --example rotation_load                 # 100,000 messages, redb and PostgreSQL
//! cargo run --release --example rotation_load -- 20000 redb   # 20,000 messages, redb only
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sseek::client::Client;
use sseek::client::rotation::RotationOptions;
use sseek::datasets::Synthetic;
use sseek::keys::Keyring;
use sseek::message::Message;
use sseek::query::Query;
use sseek::server::http::{self, ServeOptions};
use sseek::store::{PostgresStore, RedbStore, Store};
use sseek::text::Tokenizer;
use sseek::transport::Http;
use support::{percentile, start};

const PHASE: Duration = Duration::from_secs(15);

/// Exact-search latencies (ms) and result counts from one client until `stop`.
/// The client reads the key file again when the rotation moves the tenant on.
fn search_until(url: &str, token: &str, key: &Path, queries: &[Query], stop: &AtomicBool) -> (Vec<f64>, u64) {
    let ring = Keyring::load(key).unwrap();
    let client =
        Client::connect_keyring(&ring, "load", Http::new(url, token), Tokenizer::default()).unwrap().with_key_file(key);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut out, mut results) = (Vec::new(), 0u64);
    while !stop.load(Ordering::Relaxed) {
        let q = queries.choose(&mut rng).unwrap();
        let t = Instant::now();
        results += client.search(q).unwrap().ids.len() as u64;
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out.sort_by(f64::total_cmp);
    (out, results)
}

fn row(label: &str, phase: &str, lat: &[f64], results: u64) -> String {
    format!(
        "| {label} | {phase} | {} | {:.1} | {:.2} | {:.2} | {:.2} |",
        lat.len(),
        results as f64 / lat.len().max(1) as f64,
        percentile(lat, 0.5),
        percentile(lat, 0.95),
        percentile(lat, 0.99)
    )
}

fn run(label: &str, store: Box<dyn Store>, messages: u64) -> Vec<String> {
    let token = http::auth::add_token(&*store, "load").unwrap();
    let (url, stop_server) = start(store, ServeOptions::default());
    let ring = Keyring::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("load.key");
    ring.save(&key).unwrap();
    let msgs: Vec<Message> = Synthetic::new(7).generate(messages);
    let mut rotator = Client::connect_keyring(&ring, "load", Http::new(&url, &token), Tokenizer::default()).unwrap();
    support::load(&mut rotator, &msgs, label);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let queries: Vec<Query> = (0..200)
        .map(|_| {
            let m = msgs.choose(&mut rng).unwrap();
            if rng.random_bool(0.5) {
                Query::term("from", &[&m.from])
            } else {
                Query::And(vec![Query::term("from", &[&m.from]), Query::term("day", &[&m.date[..10]])])
            }
        })
        .collect();

    let stop = AtomicBool::new(false);
    let (rest, rest_results) = std::thread::scope(|s| {
        let h = s.spawn(|| search_until(&url, &token, &key, &queries, &stop));
        std::thread::sleep(PHASE);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap()
    });

    let stop = AtomicBool::new(false);
    let ((during, during_results), report) = std::thread::scope(|s| {
        let h = s.spawn(|| search_until(&url, &token, &key, &queries, &stop));
        // The searcher connected under version 1; give it a moment before the rotation begins.
        std::thread::sleep(Duration::from_millis(200));
        let report = rotator.rotate(&mut |r: &Keyring| r.replace(&key), &RotationOptions::default()).unwrap();
        stop.store(true, Ordering::Relaxed);
        (h.join().unwrap(), report)
    });
    stop_server();
    eprintln!(
        "{label}: rotated {} messages from version {} to {} in {:.2} s ({} batches): {:.0} messages/s",
        report.moved,
        report.from,
        report.to,
        report.seconds,
        report.batches,
        report.moved as f64 / report.seconds
    );
    vec![
        format!(
            "| {label} | {messages} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
            report.moved,
            report.seconds,
            report.moved as f64 / report.seconds,
            percentile(&during, 0.5) / percentile(&rest, 0.5).max(1e-9),
            percentile(&during, 0.95) / percentile(&rest, 0.95).max(1e-9),
            percentile(&during, 0.99) / percentile(&rest, 0.99).max(1e-9),
        ),
        row(label, "at rest", &rest, rest_results),
        row(label, "during rotation", &during, during_results),
    ]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let messages: u64 = args.next().map_or(100_000, |a| a.replace('_', "").parse().unwrap());
    let backends = args.next().unwrap_or_else(|| "redb,postgres".into());
    let primitives = sseek::bench::Primitives::measure(15).unwrap();
    let mut rotations = Vec::new();
    let mut searches = Vec::new();
    for backend in backends.split(',') {
        let rows = match backend {
            "redb" => {
                let dir = tempfile::tempdir().unwrap();
                run("redb", Box::new(RedbStore::open(&dir.path().join("s.redb")).unwrap()), messages)
            }
            "postgres" => {
                let Ok(url) = std::env::var("SSEEK_PG_URL") else {
                    eprintln!("SSEEK_PG_URL not set: skipping PostgreSQL");
                    continue;
                };
                let schema = format!("rotation_load_{}", std::process::id());
                let rows = run("PostgreSQL", Box::new(PostgresStore::connect(&url, &schema).unwrap()), messages);
                PostgresStore::connect(&url, &schema).unwrap().drop_schema().unwrap();
                rows
            }
            other => panic!("unknown backend {other}"),
        };
        rotations.push(rows[0].clone());
        searches.extend_from_slice(&rows[1..]);
    }
    println!("{}", sseek::bench::Environment::current().line());
    println!(
        "raw primitives in this run: HMAC-SHA256 (32 B) {:.3} us, AES-256-SIV (1 KiB) {:.2} us, AES-256-GCM (1 KiB) {:.2} us\n",
        primitives.hmac_sha256_ns / 1e3,
        primitives.aes_siv_1kib_ns / 1e3,
        primitives.aes_gcm_1kib_ns / 1e3
    );
    println!("| store | messages | moved | seconds | messages/s | search p50 during/at rest | p95 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    rotations.iter().for_each(|r| println!("{r}"));
    println!("\n| store | phase | searches | results/search | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    searches.iter().for_each(|r| println!("{r}"));
}
