//! OXT next to per-term AND on 2Lev, with one Ristretto255 scalar
//! multiplication measured in the same run.
//!
//! On a synthetic corpus (`SSEEK_OXT_MESSAGES`, default 10,000) over the
//! in-memory store and the in-process transport:
//! - one setup of each scheme, timed once (setup per pair, index bytes);
//! - criterion groups: each conjunction of a fixed set (2 and 3 terms of
//!   rare, medium and common body words) answered by OXT and by per-term
//!   AND on 2Lev, and fixed-base and variable-base scalar multiplications;
//! - a printed table: per conjunction, the s-term's list length, the
//!   result length, bytes sent and received per query, and time per query
//!   and per s-term entry.
//!
//! Run: `cargo bench --bench oxt` (`-- --quick` for short criterion runs;
//! `SSEEK_OXT_MESSAGES=100000` for the larger corpus).

#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use sseek::blind::default_index_specs;
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::message::Terms;
use sseek::protocol::{DocId, Request, Response};
use sseek::query::Query;
use sseek::server::Server;
use sseek::sse::{self, MultiMap, SchemeConfig, SseIndex};
use sseek::store::MemoryStore;
use sseek::text::Tokenizer;
use sseek::transport::{InProcess, Transport};

type Index = SseIndex<InProcess<MemoryStore>>;

fn messages() -> u64 {
    std::env::var("SSEEK_OXT_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Builds `scheme` over `db`: the index, setup seconds, and the index's bytes on the server.
fn build(scheme: &str, db: &MultiMap) -> (Index, f64, u64) {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let master = MasterKey::generate().expect("key");
    let client = sse::open_client(&master, "bench", &SchemeConfig::new(scheme, scheme)).expect("scheme");
    let mut index = SseIndex::create(InProcess::new(server, "bench"), client).expect("create");
    let start = Instant::now();
    index.setup(db).expect("setup");
    let secs = start.elapsed().as_secs_f64();
    let bytes = match index
        .transport()
        .call(&Request::IndexStats { blind_indexes: vec![], sse_instances: vec![scheme.to_owned()] })
        .expect("stats")
    {
        Response::IndexStats { sse, .. } => sse[0].bytes,
        other => panic!("{other:?}"),
    };
    (index, secs, bytes)
}

/// Conjunctions of body words: rare, medium and common words by list
/// length, paired and in threes.
fn conjunctions(db: &MultiMap) -> Vec<(String, Query, Vec<Vec<u8>>)> {
    // A body keyword is the index name and the value, each after its u32 length.
    let prefix = sse::keyword("body", &[]);
    let mut body: Vec<(&Vec<u8>, usize)> =
        db.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(k, ids)| (k, ids.len())).collect();
    body.sort_by_key(|(_, n)| *n);
    let pick = |frac: f64| body[((body.len() - 1) as f64 * frac) as usize].0.clone();
    let (rare, medium, common, top) = (pick(0.90), pick(0.98), pick(0.995), pick(1.0));
    let sets: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("rare+common", vec![rare.clone(), common.clone()]),
        ("medium+common", vec![medium.clone(), common.clone()]),
        ("common+top", vec![common.clone(), top.clone()]),
        ("rare+medium+top", vec![rare, medium, top]),
    ];
    sets.into_iter()
        .map(|(name, keys)| {
            let terms = keys
                .iter()
                .map(|k| Query::term("body", &[std::str::from_utf8(&k[prefix.len() + 4..]).expect("utf-8")]))
                .collect();
            (name.to_owned(), Query::And(terms), keys)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = messages();
    let t = Tokenizer::default();
    let terms: Vec<Terms> = Synthetic::new(42).generate(n).iter().map(|m| m.terms(&t)).collect();
    let docs: Vec<(DocId, &Terms)> = terms.iter().enumerate().map(|(i, t)| (i as DocId, t)).collect();
    let db = sse::multimap(&docs, &default_index_specs());
    let pairs = sse::pair_count(&db);
    println!("corpus: {n} synthetic messages, {} keywords, {pairs} pairs", db.len());

    let (mut oxt, oxt_secs, oxt_bytes) = build("oxt", &db);
    let (mut twolev, twolev_secs, twolev_bytes) = build("2lev", &db);
    for (name, secs, bytes) in [("oxt", oxt_secs, oxt_bytes), ("2lev", twolev_secs, twolev_bytes)] {
        println!(
            "setup {name}: {secs:.2} s, {:.2} us/pair, index {:.1} MB ({:.1} B/pair)",
            secs * 1e6 / pairs as f64,
            bytes as f64 / 1e6,
            bytes as f64 / pairs as f64
        );
    }

    let queries = conjunctions(&db);
    let mut g = c.benchmark_group(format!("conjunction_{n}_msgs"));
    g.sample_size(10);
    for (name, q, keys) in &queries {
        let expected = oxt.search(q).expect("oxt");
        assert_eq!(twolev.search(q).expect("2lev"), expected, "{name}");
        let sizes: Vec<usize> = keys.iter().map(|k| db[k].len()).collect();
        let s = *sizes.iter().min().expect("terms");
        let before = oxt.traffic();
        oxt.search(q).expect("oxt");
        let o = oxt.traffic() - before;
        let before = twolev.traffic();
        twolev.search(q).expect("2lev");
        let l = twolev.traffic() - before;
        println!(
            "{name}: lists {sizes:?}, s-term {s}, result {}; bytes sent/received per query: oxt {}/{}, 2lev AND {}/{}",
            expected.len(),
            o.bytes_sent,
            o.bytes_received,
            l.bytes_sent,
            l.bytes_received
        );
        let start = Instant::now();
        let reps = 5;
        for _ in 0..reps {
            black_box(oxt.search(q).expect("oxt"));
        }
        let per = start.elapsed().as_secs_f64() / f64::from(reps);
        println!("{name}: oxt {:.2} ms/query, {:.2} us per s-term entry", per * 1e3, per * 1e6 / s as f64);
        g.bench_function(format!("oxt/{name}"), |b| b.iter(|| black_box(oxt.search(q).expect("oxt"))));
        g.bench_function(format!("2lev-and/{name}"), |b| b.iter(|| black_box(twolev.search(q).expect("2lev"))));
    }
    g.finish();

    let mut g = c.benchmark_group("ristretto255");
    let x = Scalar::from_bytes_mod_order_wide(&[7u8; 64]);
    let p = RistrettoPoint::mul_base(&Scalar::from_bytes_mod_order_wide(&[9u8; 64]));
    g.bench_function("fixed_base_mul", |b| b.iter(|| black_box(RistrettoPoint::mul_base(black_box(&x)))));
    g.bench_function("variable_base_mul", |b| b.iter(|| black_box(black_box(p) * black_box(x))));
    g.bench_function("compress_decompress", |b| {
        b.iter(|| black_box(black_box(p).compress().decompress()));
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
