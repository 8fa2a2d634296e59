//! Blind-index and envelope costs next to the raw primitives, in one run.
//!
//! Measures: raw HMAC-SHA256 (keyed instance cloned, as the indexer does, and
//! re-keyed per call for reference), a blind token (same input bytes), AES-SIV
//! and AES-256-GCM on a 1 KiB message, sealing and opening a message envelope,
//! building postings per (keyword, document) pair, and keyword extraction
//! on the shipped corpus (fast path against the Unicode-segmenter reference;
//! `cargo bench --bench blind -- keywords` runs that group alone).
//!
//! Run: `cargo bench --bench blind` (add `-- --quick` for a short run).
//! Before criterion starts it prints CPU model, core count and RUSTFLAGS; after
//! it, a direct interleaved measurement of token cost / raw HMAC cost (target <= 1.2).

#![allow(clippy::cast_possible_truncation)]

use std::hint::black_box;
use std::time::Instant;

use aes_gcm::Aes256Gcm;
use aes_siv::Aes256SivAead;
use aes_siv::aead::{Aead, KeyInit};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sseek::blind::BlindIndexer;
use sseek::datasets::Synthetic;
use sseek::envelope::DocumentCipher;
use sseek::keys::MasterKey;
use sseek::message::{Field, Message};
use sseek::protocol::IndexDescriptor;
use sseek::text::Tokenizer;

const VALUE: &str = "encryption";

fn indexer() -> BlindIndexer {
    let d = IndexDescriptor { name: "body".into(), fields: vec![Field::Body], bits: 20 };
    BlindIndexer::new(&MasterKey::from_bytes([7; 32]), "bench", 1, &[d]).expect("indexer")
}

/// The exact bytes a token hashes: 4-byte length prefix, then the value.
fn token_input() -> Vec<u8> {
    let mut v = (VALUE.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(VALUE.as_bytes());
    v
}

fn message() -> Message {
    let body: String = Synthetic::new(1).generate(40).iter().map(|m| m.body.as_str()).collect::<Vec<_>>().join(" ");
    Message {
        from: "ann@example.com".into(),
        to: vec!["bob@example.com".into()],
        subject: "Quarterly numbers".into(),
        date: "2026-11-26T10:00:00Z".into(),
        body: body.chars().take(1000).collect(),
    }
}

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives");
    let input = token_input();
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1; 32]).expect("hmac key");
    g.bench_function("hmac_sha256_raw_cloned", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(&input));
            black_box(m.finalize().into_bytes())
        })
    });
    g.bench_function("hmac_sha256_rekeyed", |b| {
        b.iter(|| {
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&[1; 32])).expect("hmac key");
            m.update(black_box(&input));
            black_box(m.finalize().into_bytes())
        })
    });
    let kib = vec![0x5au8; 1024];
    g.throughput(Throughput::Bytes(1024));
    let siv = Aes256SivAead::new_from_slice(&[3; 64]).expect("siv key");
    g.bench_function("aes_siv_encrypt_1kib", |b| {
        b.iter(|| black_box(siv.encrypt(&[9u8; 16].into(), black_box(kib.as_slice())).expect("encrypt")))
    });
    let gcm = Aes256Gcm::new_from_slice(&[3; 32]).expect("gcm key");
    g.bench_function("aes_256_gcm_encrypt_1kib", |b| {
        b.iter(|| black_box(gcm.encrypt(&[9u8; 12].into(), black_box(kib.as_slice())).expect("encrypt")))
    });
    g.finish();
}

fn blind_tokens(c: &mut Criterion) {
    let ix = indexer();
    let mut g = c.benchmark_group("blind");
    g.bench_function("token", |b| b.iter(|| black_box(ix.token_at(0, black_box(&[VALUE])))));
    let docs: Vec<_> = Synthetic::new(2)
        .generate(2_000)
        .iter()
        .enumerate()
        .map(|(i, m)| (i as u32, m.terms(&Tokenizer::default())))
        .collect();
    let pairs: u64 = docs.iter().map(|(_, t)| t.get(&Field::Body).map_or(0, |b| b.len() as u64)).sum();
    g.throughput(Throughput::Elements(pairs));
    g.bench_function("postings_per_pair_2000_msgs", |b| b.iter(|| black_box(ix.postings(black_box(&docs)))));
    g.finish();
}

fn envelopes(c: &mut Criterion) {
    let cipher = DocumentCipher::new(&MasterKey::from_bytes([5; 32]), "bench", 1).expect("cipher");
    let m = message();
    let sealed = cipher.seal(1, &m).expect("seal");
    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Bytes(m.text_len() as u64));
    g.bench_function("seal_message", |b| b.iter(|| black_box(cipher.seal(1, black_box(&m)).expect("seal"))));
    g.bench_function("open_message", |b| b.iter(|| black_box(cipher.open(black_box(&sealed), 1).expect("open"))));
    g.bench_function("terms_of_message", |b| {
        let t = Tokenizer::default();
        b.iter_batched(|| m.clone(), |m| black_box(m.terms(&t)), BatchSize::SmallInput)
    });
    g.finish();
}

/// Keyword extraction on the shipped corpus (subject and body of its first
/// 1,000 messages): the fast path as the indexes take it (a `KeywordSet`),
/// as a `BTreeSet<String>`, against the reference (every word through
/// the Unicode segmenter), and all terms of a message.
fn keywords(c: &mut Criterion) {
    let corpus = sseek::datasets::load(sseek::datasets::SPAMASSASSIN).expect("shipped corpus");
    let messages = &corpus.messages[..corpus.messages.len().min(1_000)];
    let bytes: usize = messages.iter().map(|m| m.subject.len() + m.body.len()).sum();
    let t = Tokenizer::default();
    let mut g = c.benchmark_group("keywords");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("fast", |b| {
        b.iter(|| {
            for m in messages {
                black_box(t.keyword_set(&m.subject));
                black_box(t.keyword_set(&m.body));
            }
        });
    });
    g.bench_function("fast_btreeset", |b| {
        b.iter(|| {
            for m in messages {
                black_box(t.keywords(&m.subject));
                black_box(t.keywords(&m.body));
            }
        });
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            for m in messages {
                black_box(t.keywords_reference(&m.subject));
                black_box(t.keywords_reference(&m.body));
            }
        });
    });
    let stem = Tokenizer::default().with_stemming(true);
    g.bench_function("fast_stemmed", |b| {
        b.iter(|| {
            for m in messages {
                black_box(stem.keyword_set(&m.body));
            }
        });
    });
    g.bench_function("reference_stemmed", |b| {
        b.iter(|| {
            for m in messages {
                black_box(stem.keywords_reference(&m.body));
            }
        });
    });
    g.finish();
}

/// Interleaved rounds of raw HMAC and token derivation on the same input;
/// the median ratio is robust to the other core being busy.
fn token_to_hmac_ratio() {
    let ix = indexer();
    let input = token_input();
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1; 32]).expect("hmac key");
    let n = 200_000;
    let mut ratios = Vec::new();
    let mut raw_ns = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..n {
            let mut m = keyed.clone();
            m.update(black_box(&input));
            black_box(m.finalize().into_bytes());
        }
        let raw = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..n {
            black_box(ix.token_at(0, black_box(&[VALUE])));
        }
        let tok = t.elapsed().as_secs_f64();
        ratios.push(tok / raw);
        raw_ns.push(raw * 1e9 / f64::from(n));
    }
    ratios.sort_by(f64::total_cmp);
    raw_ns.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    eprintln!(
        "blind token / raw HMAC-SHA256 (same {}-byte input): median ratio {ratio:.3} (raw HMAC {:.1} ns, token {:.1} ns); target <= 1.2",
        input.len(),
        raw_ns[raw_ns.len() / 2],
        raw_ns[raw_ns.len() / 2] * ratio
    );
}

criterion_group!(benches, primitives, blind_tokens, envelopes, keywords);

#[path = "common/mod.rs"]
mod common;
use common::print_environment;

fn main() {
    print_environment();
    benches();
    Criterion::default().configure_from_args().final_summary();
    token_to_hmac_ratio();
}
