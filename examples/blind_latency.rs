//! Blind-index query latency, newest 20 against all results: the demo's
//! query workload (`sseek::demo::build_workload`, seed 1, 40 values per
//! index) on the shipped SpamAssassin corpus and on synthetic corpora, in
//! process on a redb store in a temporary directory (the server as `sseek
//! demo` runs it, audit log included). Per corpus: p50/p95 latency of
//! `Client::search_newest(q, 20)`, of `Client::search(q)` (all results,
//! fetched and decrypted in one answer) and of `Client::candidates(q)`
//! (ids only); µs per returned message of all results; documents fetched
//! against candidates; the cost of checking a returned message on all its
//! terms, on the terms of the query's fields only, and with
//! `Query::matches_message` (what the client does); and every answer
//! compared with the plaintext oracle. Raw HMAC-SHA256 and AES costs from
//! `sseek::bench::Primitives` in the same run.
//!
//! ```sh
//! cargo run --release --example blind_latency                       # shipped corpus and 100,000 synthetic messages
//! cargo run --release --example blind_latency -- synthetic:1000000  # shipped corpus and 10^6 synthetic messages
//! ```
//!
//! Each query runs `NEWEST_REPS` times newest-first and `ALL_REPS` times for
//! all results (once above 200,000 messages); the percentiles are over all
//! those runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation, clippy::cast_precision_loss)]

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use sseek::blind::planner::plan_for_corpus;
use sseek::client::Client;
use sseek::keys::MasterKey;
use sseek::message::{Terms, default_index_specs};
use sseek::oracle::PlainIndex;
use sseek::protocol::DocId;
use sseek::query::Query;
use sseek::server::Server;
use sseek::store::RedbStore;
use sseek::text::Tokenizer;
use sseek::transport::InProcess;
use support::percentile;

const PAGE: usize = 20;
const NEWEST_REPS: usize = 5;
const ALL_REPS: usize = 3;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn row(label: &str, mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{label} p50 {:.3} ms, p95 {:.3} ms, mean {:.3} ms",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        v.iter().sum::<f64>() / v.len().max(1) as f64
    )
}

fn run(spec: &str) {
    let corpus = sseek::datasets::load(spec).unwrap();
    let n = corpus.messages.len();
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::new(RedbStore::open(&dir.path().join("server.redb")).unwrap()));
    let mut client = Client::connect(
        MasterKey::generate().unwrap(),
        "bench",
        InProcess::new(Arc::clone(&server), "bench"),
        Tokenizer::default(),
    )
    .unwrap();
    let loaded = Instant::now();
    let terms: Vec<Terms> = client.terms(&corpus.messages);
    let specs = default_index_specs();
    // The demo's planner settings (sseek demo's defaults).
    let plans = plan_for_corpus(&terms, &specs, 25.0, 2.0, 1.0);
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect()).unwrap();
    let ids = client.add_messages_with_terms(&corpus.messages, &terms, None).unwrap();
    let ingest_s = loaded.elapsed().as_secs_f64();
    let mut oracle = PlainIndex::new();
    for (id, t) in ids.clone().zip(&terms) {
        oracle.add(id, t);
    }
    drop(corpus);
    let workload = sseek::demo::build_workload(&oracle, &terms, &specs, 1, 40);
    let queries: Vec<(&str, &Query)> =
        workload.iter().flat_map(|(class, qs)| qs.iter().map(move |q| (class.as_str(), q))).collect();
    let all_reps = if n > 200_000 { 1 } else { ALL_REPS };

    let (mut newest, mut all, mut idonly) = (Vec::new(), Vec::new(), Vec::new());
    let (mut mismatches, mut results, mut all_ms, mut fetched, mut candidates) =
        (0usize, 0usize, 0.0f64, 0usize, 0usize);
    let (mut full_ns, mut fields_ns, mut lazy_ns, mut checked) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    let tokenizer = Tokenizer::default();
    let mut by_class: Vec<(&str, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut returned_bytes = 0usize;
    for &(class, q) in &queries {
        if by_class.last().is_none_or(|c| c.0 != class) {
            by_class.push((class, Vec::new(), Vec::new()));
        }
        let expected: Vec<DocId> = oracle.eval(q, client.specs()).unwrap().iter().collect();
        let top: Vec<DocId> = expected.iter().rev().take(PAGE).copied().collect();
        for _ in 0..NEWEST_REPS {
            let t = Instant::now();
            let out = client.search_newest(q, PAGE).unwrap();
            let took = ms(t);
            newest.push(took);
            by_class.last_mut().unwrap().1.push(took);
            mismatches += usize::from(out.ids != top);
            fetched += out.fetched;
            candidates += out.candidates;
        }
        for _ in 0..NEWEST_REPS {
            let t = Instant::now();
            black_box(client.candidates(q).unwrap());
            idonly.push(ms(t));
        }
        let mut last = None;
        for _ in 0..all_reps {
            let t = Instant::now();
            let out = client.search(q).unwrap();
            let took = ms(t);
            all.push(took);
            by_class.last_mut().unwrap().2.push(took);
            returned_bytes += out.messages.iter().map(|(_, m)| m.text_len()).sum::<usize>();
            all_ms += took;
            results += out.ids.len();
            mismatches += usize::from(out.ids != expected);
            last = Some(out);
        }
        // What checking a returned message costs on all its terms against the query's fields only (one core).
        let fields = q.fields(client.specs()).unwrap();
        if let Some(out) = last {
            let t = Instant::now();
            for (_, m) in &out.messages {
                black_box(m.terms(&tokenizer));
            }
            full_ns += t.elapsed().as_secs_f64() * 1e9;
            let t = Instant::now();
            for (_, m) in &out.messages {
                black_box(m.terms_for(&fields, &tokenizer));
            }
            fields_ns += t.elapsed().as_secs_f64() * 1e9;
            let t = Instant::now();
            for (_, m) in &out.messages {
                assert!(q.matches_message(m, client.specs(), &tokenizer).unwrap());
            }
            lazy_ns += t.elapsed().as_secs_f64() * 1e9;
            checked += out.messages.len();
        }
    }
    let runs = (queries.len() * NEWEST_REPS) as f64;
    println!("## {spec}: {n} messages, ingest {ingest_s:.1} s, {} queries", queries.len());
    println!("{}", row(&format!("newest {PAGE} ({NEWEST_REPS} runs/query):"), newest));
    println!("{}", row(&format!("all results ({all_reps} runs/query):"), all));
    println!("{}", row("ids only (candidates):", idonly));
    println!(
        "all results: {:.2} µs per returned message ({} messages returned over all runs)",
        all_ms * 1e3 / results.max(1) as f64,
        results
    );
    println!(
        "newest {PAGE}: {:.1} documents fetched per query of {:.1} candidates",
        fetched as f64 / runs,
        candidates as f64 / runs
    );
    println!(
        "check of a returned message (one core, {checked} messages): all terms {:.2} µs, terms of the query's fields {:.2} µs, Query::matches_message {:.2} µs",
        full_ns / 1e3 / checked.max(1) as f64,
        fields_ns / 1e3 / checked.max(1) as f64,
        lazy_ns / 1e3 / checked.max(1) as f64
    );
    println!(
        "returned messages: {:.0} bytes of text each on average (all results)",
        returned_bytes as f64 / results.max(1) as f64
    );
    println!("| class | queries | newest {PAGE} p50 / p95 ms | all results p50 / p95 ms |");
    println!("|---|---:|---:|---:|");
    for (class, mut a, mut b) in by_class {
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        println!(
            "| {class} | {} | {:.3} / {:.3} | {:.3} / {:.3} |",
            a.len() / NEWEST_REPS,
            percentile(&a, 0.5),
            percentile(&a, 0.95),
            percentile(&b, 0.5),
            percentile(&b, 0.95)
        );
    }
    println!("mismatches against the oracle: {mismatches}\n");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let p = sseek::bench::Primitives::measure(15).unwrap();
    println!(
        "primitives: HMAC-SHA256 (32 B) {:.0} ns, AES-256-SIV 1 KiB {:.0} ns, AES-256-GCM 1 KiB {:.0} ns\n",
        p.hmac_sha256_ns, p.aes_siv_1kib_ns, p.aes_gcm_1kib_ns
    );
    run(sseek::datasets::SPAMASSASSIN);
    let sizes = if args.is_empty() { vec!["synthetic:100000".to_owned()] } else { args };
    for s in &sizes {
        run(s);
    }
    let p = sseek::bench::Primitives::measure(15).unwrap();
    println!(
        "primitives again: HMAC-SHA256 (32 B) {:.0} ns, AES-256-SIV 1 KiB {:.0} ns, AES-256-GCM 1 KiB {:.0} ns",
        p.hmac_sha256_ns, p.aes_siv_1kib_ns, p.aes_gcm_1kib_ns
    );
}
