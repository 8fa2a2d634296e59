//! Online backup under load: a server holding N synthetic messages
//! (100,000 by default) answers blind searches from 4 client threads, first
//! idle (no backup) and then while backups stream from it; reports search
//! latency (p50/p99, client-observed, candidates only so that client-side
//! decryption does not compete for the cores) in both phases, backup
//! throughput (MB/s of backup file) and restore throughput (into a fresh
//! store of the same backend). redb, and PostgreSQL when `SSEEK_PG_URL` is
//! set (in schemas of its own, dropped at the end).
//!
//! ```sh
//! cargo run --release --example backup_load                 # 100,000 messages, redb and PostgreSQL
//! cargo run --release --example backup_load -- 20000 redb   # 20,000 messages, redb only
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sseek::client::{Client, Endpoint};
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::message::Message;
use sseek::query::Query;
use sseek::server::http::{self, ServeOptions};
use sseek::store::{PostgresStore, RedbStore, Store, lifecycle};
use sseek::text::Tokenizer;
use sseek::transport::Http;
use support::{percentile, start};

const ADMIN: &str = "backup-load-admin";
const SEARCHERS: usize = 4;
const PHASE: Duration = Duration::from_secs(15);

/// Search latencies (ms) from `SEARCHERS` threads until `stop`.
fn search_until(url: &str, token: &str, master: &MasterKey, queries: &[Query], stop: &AtomicBool) -> Vec<f64> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..SEARCHERS)
            .map(|i| {
                s.spawn(move || {
                    let client =
                        Client::connect(master.clone(), "load", Http::new(url, token), Tokenizer::default()).unwrap();
                    let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let q = queries.choose(&mut rng).unwrap();
                        let t = Instant::now();
                        client.candidates(q).unwrap();
                        out.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    out
                })
            })
            .collect();
        let mut all: Vec<f64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_by(f64::total_cmp);
        all
    })
}

fn run(label: &str, store: Box<dyn Store>, restore_into: Box<dyn Store>, messages: u64) {
    let token = http::auth::add_token(&*store, "load").unwrap();
    let (url, stop_server) = start(store, ServeOptions { admin_token: Some(ADMIN.into()), ..ServeOptions::default() });
    let master = MasterKey::generate().unwrap();
    let msgs: Vec<Message> = Synthetic::new(7).generate(messages);
    let mut client = Client::connect(master.clone(), "load", Http::new(&url, &token), Tokenizer::default()).unwrap();
    support::load(&mut client, &msgs, label);
    drop(client);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let queries: Vec<Query> = (0..200)
        .map(|_| {
            let m = msgs.choose(&mut rng).unwrap();
            if rng.random_bool(0.5) {
                Query::term("from", &[&m.from])
            } else {
                let word = m.body.split_whitespace().next().unwrap_or("x");
                Query::term("body", &[word])
            }
        })
        .collect();

    // Idle: searches only.
    let stop = AtomicBool::new(false);
    let idle = std::thread::scope(|s| {
        let h = s.spawn(|| search_until(&url, &token, &master, &queries, &stop));
        std::thread::sleep(PHASE);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap()
    });

    // Backups back to back while the same searches run.
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let admin = Endpoint { url: url.clone(), token: ADMIN.into(), ca: None }.connect().unwrap();
    let (during, backups) = std::thread::scope(|s| {
        let h = s.spawn(|| search_until(&url, &token, &master, &queries, &stop));
        let started = Instant::now();
        let mut backups = Vec::new();
        while started.elapsed() < PHASE || backups.is_empty() {
            let path = dir.path().join(format!("b{}.backup", backups.len()));
            let t = Instant::now();
            let summary = lifecycle::download_backup(&|w| admin.download_backup(w, None), &path).unwrap();
            backups.push((path, summary.file_bytes, t.elapsed().as_secs_f64()));
        }
        stop.store(true, Ordering::Relaxed);
        (h.join().unwrap(), backups)
    });
    stop_server();
    let (bytes, seconds): (u64, f64) = backups.iter().fold((0, 0.0), |(b, s), (_, fb, t)| (b + fb, s + t));
    let (first, file_bytes, _) = &backups[0];
    let t = Instant::now();
    lifecycle::restore(first, &*restore_into, None).unwrap();
    let restore_s = t.elapsed().as_secs_f64();
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "| {label} | {messages} | {:.0} | {} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {} | {:.0} | {:.0} |",
        mb(*file_bytes),
        idle.len(),
        percentile(&idle, 0.5),
        percentile(&idle, 0.99),
        during.len(),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        backups.len(),
        mb(bytes) / seconds,
        mb(*file_bytes) / restore_s,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let messages: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let which = args.get(1).map_or("all", String::as_str);
    println!(
        "| store | messages | backup MB | idle searches | idle p50 ms | idle p99 ms | searches during backup | p50 ms | p99 ms | backups | backup MB/s | restore MB/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    if which == "all" || which == "redb" {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("load.redb")).unwrap();
        let target = RedbStore::open(&dir.path().join("restored.redb")).unwrap();
        run("redb", Box::new(store), Box::new(target), messages);
    }
    if which == "all" || which == "postgres" {
        match std::env::var("SSEEK_PG_URL") {
            Ok(url) if !url.is_empty() => {
                let (a, b) =
                    (format!("sseek_bkload_{}", std::process::id()), format!("sseek_bkrestore_{}", std::process::id()));
                let store = PostgresStore::connect(&url, &a).unwrap();
                let target = PostgresStore::connect(&url, &b).unwrap();
                run("postgres", Box::new(store), Box::new(target), messages);
                for s in [a, b] {
                    PostgresStore::connect(&url, &s).unwrap().drop_schema().unwrap();
                }
            }
            _ => println!("postgres: skipped, SSEEK_PG_URL is not set"),
        }
    }
}
