//! SSE scheme costs next to the raw primitives, measured in one run.
//!
//! Measures, for every demo variant (`pibas`, `pack`, `pack-rh`, `2lev`,
//! `2lev-rh`, `mitra`, `diana`) over the in-memory store and the in-process
//! transport (every message encoded and decoded, as over a network):
//! - criterion groups on a 5,000-message synthetic corpus: setup per
//!   (keyword, document) pair, search of the heaviest keyword per result,
//!   and dynamic updates per entry;
//! - then a target pass on the 100,000-message synthetic corpus on one core
//!   (a one-thread rayon pool): setup per pair, search per result over the
//!   keywords with at least 1,000 results, update per entry, each printed
//!   next to raw HMAC-SHA256 and AES-128 costs measured in the same run and
//!   checked against the targets of `papers/pack.md` / `papers/2lev.md` /
//!   `papers/mitra.md`.
//!
//! Run: `cargo bench --bench sse` (`-- --quick` for short criterion runs;
//! `SSEEK_BENCH_MESSAGES=20000` for a smaller target pass).

#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sseek::blind::default_index_specs;
use sseek::datasets::Synthetic;
use sseek::demo::variant_config;
use sseek::keys::MasterKey;
use sseek::message::Terms;
use sseek::primitives::prf::{Domain, Prf};
use sseek::protocol::DocId;
use sseek::server::Server;
use sseek::sse::{self, MultiMap, SchemeClient, SseIndex, UpdateOp};
use sseek::store::MemoryStore;
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

const VARIANTS: &[&str] = &["pibas", "pack", "pack-rh", "2lev", "2lev-rh", "mitra", "diana"];

type Index = SseIndex<InProcess<MemoryStore>>;

fn terms_of(n: usize) -> Vec<Terms> {
    let t = Tokenizer::default();
    Synthetic::new(42).generate(n as u64).iter().map(|m| m.terms(&t)).collect()
}

fn docs(terms: &[Terms]) -> Vec<(DocId, &Terms)> {
    terms.iter().enumerate().map(|(i, t)| (i as DocId, t)).collect()
}

fn fresh(variant: &str) -> Index {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let scheme =
        sse::open_client(&MasterKey::generate().expect("key"), "bench", &variant_config(variant).expect("variant"))
            .expect("scheme");
    SseIndex::create(InProcess::new(server, "bench"), scheme).expect("create")
}

fn is_dynamic(index: &Index) -> bool {
    matches!(index.scheme(), SchemeClient::Dynamic(_))
}

/// Builds an index the way its scheme is meant to be built: one setup, or
/// updates in batches of 2,000 messages.
fn build(index: &mut Index, docs: &[(DocId, &Terms)], db: &MultiMap) {
    if is_dynamic(index) {
        for chunk in docs.chunks(2_000) {
            index.update(&sse::updates_of(chunk, &default_index_specs(), UpdateOp::Add)).expect("update");
        }
    } else {
        index.setup(db).expect("setup");
    }
}

fn criterion_benches(c: &mut Criterion) {
    let terms = terms_of(5_000);
    let docs = docs(&terms);
    let db = sse::multimap(&docs, &default_index_specs());
    let pairs = sse::pair_count(&db) as u64;
    let (heavy, heavy_ids) = db.iter().max_by_key(|(_, ids)| ids.len()).map(|(k, v)| (k.clone(), v.len())).expect("db");

    let mut g = c.benchmark_group("sse_setup_per_pair_5000_msgs");
    g.sample_size(10);
    g.throughput(Throughput::Elements(pairs));
    for v in VARIANTS {
        g.bench_function(*v, |b| {
            b.iter_batched(|| fresh(v), |mut i| build(&mut i, &docs, &db), BatchSize::PerIteration)
        });
    }
    g.finish();

    let mut g = c.benchmark_group("sse_search_heaviest_keyword_per_result");
    g.throughput(Throughput::Elements(heavy_ids as u64));
    for v in VARIANTS {
        let mut index = fresh(v);
        build(&mut index, &docs, &db);
        g.bench_function(*v, |b| b.iter(|| black_box(index.search_keyword(black_box(&heavy)).expect("search"))));
    }
    g.finish();

    let mut g = c.benchmark_group("sse_update_per_entry_1000");
    let updates = sse::updates_of(&docs[..40], &default_index_specs(), UpdateOp::Add);
    let updates = &updates[..updates.len().min(1000)];
    g.throughput(Throughput::Elements(updates.len() as u64));
    for v in ["mitra", "diana"] {
        let mut index = fresh(v);
        g.bench_function(v, |b| b.iter(|| index.update(black_box(updates)).expect("update")));
    }
    g.finish();
}

/// Median over interleaved rounds of raw HMAC-SHA256 (32-byte input, keyed
/// instance cloned), one AES-128 block, and AES-128 keystream per byte.
fn primitives_ns() -> (f64, f64, f64) {
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1; 32]).expect("hmac key");
    let prf = Prf::new(&[2; 16]);
    let n = 100_000u32;
    let (mut h, mut a, mut s) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = vec![0u8; 256];
    for _ in 0..11 {
        let t = Instant::now();
        for i in 0..n {
            let mut m = keyed.clone();
            m.update(black_box(&[i as u8; 32]));
            black_box(m.finalize().into_bytes());
        }
        h.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        let t = Instant::now();
        for i in 0..n {
            black_box(prf.label(black_box(u64::from(i))));
        }
        a.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        let t = Instant::now();
        for i in 0..n / 16 {
            prf.apply_keystream(Domain::Value, u64::from(i), black_box(&mut buf));
        }
        s.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(n / 16) / 256.0);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (med(&mut h), med(&mut a), med(&mut s))
}

fn target_pass() {
    let n: usize = std::env::var("SSEEK_BENCH_MESSAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    pool.install(|| {
        let terms = terms_of(n);
        let docs = docs(&terms);
        let t = Instant::now();
        let db = sse::multimap(&docs, &default_index_specs());
        let pairs = sse::pair_count(&db);
        eprintln!(
            "\ntarget pass: {n} synthetic messages, {} keywords, {pairs} pairs (multimap built in {:.2} s), memory store, one core",
            db.len(),
            t.elapsed().as_secs_f64()
        );
        let heavy: Vec<&Vec<u8>> = db.iter().filter(|(_, ids)| ids.len() >= 1_000).map(|(k, _)| k).take(200).collect();
        let (hmac, aes, stream) = primitives_ns();
        eprintln!("raw primitives this run: HMAC-SHA256 {hmac:.1} ns, AES-128 block {aes:.1} ns, AES-128 keystream {stream:.2} ns/byte");
        eprintln!(
            "| variant | setup or update µs/pair | search µs/result ({} keywords >= 1000 results) | search ns/result ÷ HMAC | ÷ AES block |",
            heavy.len()
        );
        eprintln!("|---|---:|---:|---:|---:|");
        for v in VARIANTS {
            // Best of two builds: the first build after a large free pays
            // for page faults and allocator growth that are not the scheme's.
            let mut per_pair = f64::INFINITY;
            let mut index = fresh(v);
            for round in 0..2 {
                if round > 0 {
                    index = fresh(v);
                }
                let t = Instant::now();
                build(&mut index, &docs, &db);
                per_pair = per_pair.min(t.elapsed().as_secs_f64() * 1e6 / pairs as f64);
            }
            let mut results = 0usize;
            let t = Instant::now();
            for _ in 0..3 {
                for k in &heavy {
                    results += index.search_keyword(k).expect("search").len();
                }
            }
            let per_result = t.elapsed().as_secs_f64() * 1e6 / results.max(1) as f64;
            eprintln!(
                "| {v} | {per_pair:.3} | {per_result:.4} | {:.3} | {:.2} |",
                per_result * 1e3 / hmac,
                per_result * 1e3 / aes
            );
            let target = |what: &str, got: f64, limit: f64| {
                eprintln!("  {v} {what}: {got:.4} µs (target <= {limit} µs): {}", if got <= limit { "met" } else { "MISSED" });
            };
            match *v {
                "pack" | "2lev" | "2lev-rh" => {
                    target("search per result", per_result, 0.05);
                    target("setup per pair", per_pair, 0.2);
                }
                "mitra" => target("update per entry", per_pair, 2.5),
                _ => {}
            }
        }
    });
}

criterion_group!(benches, criterion_benches);

fn main() {
    common::print_environment();
    benches();
    Criterion::default().configure_from_args().final_summary();
    target_pass();
}
