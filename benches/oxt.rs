//! OXT next to per-term AND on 2Lev, with one Ristretto255 scalar
//! multiplication measured in the same run.
//!
//! The measuring is the library's (`sseek bench --conjunctive`, see
//! `sseek::bench::ConjunctiveBench`): on a synthetic corpus
//! (`SSEEK_OXT_MESSAGES`, default 10,000; seed 42) over the in-memory store
//! and the in-process transport, one setup of each scheme, then every
//! conjunction of a fixed set (2 and 3 terms of rare, medium, common and the
//! most frequent body words), printed as the report's markdown table (setup
//! per pair, index bytes, bytes per query, median time per query and per
//! s-term entry, each OXT cost in fixed-base multiplications, mismatches
//! against the intersection of the lists). Then criterion groups time each
//! conjunction on both schemes and the Ristretto255 operations.
//!
//! Run: `cargo bench --bench oxt` (`-- --quick` for short criterion runs;
//! `SSEEK_OXT_MESSAGES=100000` for the larger corpus).

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use indicatif::ProgressBar;
use sseek::bench::{ConjunctiveBench, ConjunctiveReport, Primitives, REPETITIONS};

fn messages() -> u64 {
    std::env::var("SSEEK_OXT_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn bench(c: &mut Criterion) {
    let n = messages();
    let primitives = Primitives::measure(5).expect("primitives");
    let mut run = ConjunctiveBench::build(n, 42, &ProgressBar::hidden()).expect("setup");
    let point = run.measure(&primitives, REPETITIONS).expect("queries");
    let report = ConjunctiveReport { repetitions: REPETITIONS, mismatches: point.mismatches, points: vec![point] };
    println!("{}", report.to_markdown(&primitives));
    assert_eq!(report.mismatches, 0, "answers differ from the intersection of the lists");

    let mut g = c.benchmark_group(format!("conjunction_{n}_msgs"));
    g.sample_size(10);
    let ConjunctiveBench { oxt, twolev, conjunctions, .. } = &mut run;
    for q in conjunctions.iter() {
        g.bench_function(format!("oxt/{}", q.name), |b| b.iter(|| black_box(oxt.search(&q.query).expect("oxt"))));
        g.bench_function(format!("2lev-and/{}", q.name), |b| {
            b.iter(|| black_box(twolev.search(&q.query).expect("2lev")));
        });
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
