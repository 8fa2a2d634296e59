//! Load run against `sseek serve` over loopback: N concurrent clients (64 by
//! default) for a fixed time (60 s), each a tenant of its own with a small
//! synthetic mailbox, mixing searches (70%), ingest of 10-message batches
//! (20%) and deletes of one message (10%), every write durable when
//! answered. Reports throughput, p50/p99 latency per operation and errors,
//! for redb and, when `SSEEK_PG_URL` is set, PostgreSQL (in a schema of its
//! own, dropped at the end).
//!
//! ```sh
//! cargo run --release --example load                  # 64 clients, 60 s, redb and PostgreSQL
//! cargo run --release --example load -- 8 5 redb      # 8 clients, 5 s, redb only
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod support;

use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sseek::blind::{default_index_specs, planner::plan_for_corpus};
use sseek::client::Client;
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::message::Field;
use sseek::query::Query;
use sseek::server::http::{self, ServeOptions};
use sseek::store::{PostgresStore, Store};
use sseek::text::Tokenizer;
use sseek::transport::Http;
use support::{percentile, start};

/// Messages each tenant starts with.
const INITIAL: u64 = 300;
/// Messages per ingest operation.
const BATCH: u64 = 10;
/// Share of operations that are searches.
const SEARCH_SHARE: f64 = 0.7;
/// Share of operations that are deletes (the rest are ingests).
const DELETE_SHARE: f64 = 0.1;

#[derive(Default)]
struct Outcome {
    search_us: Vec<f64>,
    ingest_us: Vec<f64>,
    delete_us: Vec<f64>,
    errors: u64,
}

fn run(label: &str, store: Box<dyn Store>, clients: usize, seconds: u64) {
    let tokens: Vec<String> =
        (0..clients).map(|i| http::auth::add_token(&*store, &format!("load-{i}")).unwrap()).collect();
    let (url, stop) = start(store, ServeOptions::default());
    println!("{label}: {clients} clients, {seconds} s, server {url}");
    let setup = Instant::now();
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let url = url.clone();
                s.spawn(move || client_loop(&url, token, i as u64, seconds))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wall = setup.elapsed().as_secs_f64();
    stop();
    let mut search: Vec<f64> = outcomes.iter().flat_map(|o| o.search_us.iter().copied()).collect();
    let mut ingest: Vec<f64> = outcomes.iter().flat_map(|o| o.ingest_us.iter().copied()).collect();
    let mut delete: Vec<f64> = outcomes.iter().flat_map(|o| o.delete_us.iter().copied()).collect();
    let errors: u64 = outcomes.iter().map(|o| o.errors).sum();
    search.sort_by(f64::total_cmp);
    ingest.sort_by(f64::total_cmp);
    delete.sort_by(f64::total_cmp);
    let ops = search.len() + ingest.len() + delete.len();
    println!(
        "| {label} | {clients} | {ops} | {:.0} | {} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {errors} |",
        ops as f64 / seconds as f64,
        search.len(),
        percentile(&search, 0.5) / 1e3,
        percentile(&search, 0.99) / 1e3,
        ingest.len(),
        percentile(&ingest, 0.5) / 1e3,
        percentile(&ingest, 0.99) / 1e3,
        delete.len(),
        percentile(&delete, 0.5) / 1e3,
        percentile(&delete, 0.99) / 1e3,
    );
    println!("(wall time including each client's setup of {INITIAL} messages: {wall:.1} s)");
}

/// One client: its tenant's mailbox, then searches and ingests until the time is up.
fn client_loop(url: &str, token: &str, seed: u64, seconds: u64) -> Outcome {
    let mut out = Outcome::default();
    let http = Http::new(url, token);
    let tenant = http.tenant().unwrap();
    let mut client = Client::connect(MasterKey::generate().unwrap(), &tenant, http, Tokenizer::default()).unwrap();
    let synth = Synthetic::new(seed);
    let msgs = synth.generate(INITIAL);
    let mut next = INITIAL;
    let terms = client.terms(&msgs);
    // Plan for growth: the mailbox grows during the run.
    let plans = plan_for_corpus(&terms, &default_index_specs(), 10.0, 2.0, 4.0);
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect()).unwrap();
    let mut live: Vec<u32> = client.add_messages_with_terms(&msgs, &terms, None).unwrap().collect();
    let words: Vec<String> =
        terms.iter().filter_map(|t| t.get(&Field::Body)).flat_map(|b| b.iter().map(str::to_owned)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let roll: f64 = rng.random();
        if (SEARCH_SHARE..SEARCH_SHARE + DELETE_SHARE).contains(&roll) && !live.is_empty() {
            let victim = live.swap_remove(rng.random_range(0..live.len()));
            let t = Instant::now();
            match client.delete_messages(&[victim]) {
                Ok(_) => out.delete_us.push(t.elapsed().as_secs_f64() * 1e6),
                Err(_) => out.errors += 1,
            }
        } else if roll < SEARCH_SHARE {
            let Some(w) = words.choose(&mut rng) else { continue };
            let q = Query::term("body", &[w]);
            let t = Instant::now();
            match client.search(&q) {
                Ok(_) => out.search_us.push(t.elapsed().as_secs_f64() * 1e6),
                Err(_) => out.errors += 1,
            }
        } else {
            let batch: Vec<_> = (next..next + BATCH).map(|i| synth.message(i)).collect();
            next += BATCH;
            let t = Instant::now();
            match client.add_messages(&batch, None) {
                Ok(ids) => {
                    out.ingest_us.push(t.elapsed().as_secs_f64() * 1e6);
                    live.extend(ids);
                }
                Err(_) => out.errors += 1,
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let clients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(60);
    let which = args.get(2).map_or("all", String::as_str);
    println!(
        "| store | clients | operations | ops/s | searches | search p50 ms | search p99 ms | ingests | ingest p50 ms | ingest p99 ms | deletes | delete p50 ms | delete p99 ms | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    if which == "all" || which == "redb" {
        let dir = tempfile::tempdir().unwrap();
        let store = sseek::store::RedbStore::open(&dir.path().join("load.redb")).unwrap();
        run("redb", Box::new(store), clients, seconds);
    }
    if which == "all" || which == "postgres" {
        match std::env::var("SSEEK_PG_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("sseek_load_{}", std::process::id());
                let store = PostgresStore::connect(&url, &schema).unwrap();
                run("postgres", Box::new(store), clients, seconds);
                PostgresStore::connect(&url, &schema).unwrap().drop_schema().unwrap();
            }
            _ => println!("postgres: skipped, SSEEK_PG_URL is not set"),
        }
    }
}
