//! The demo on the shipped real corpus and on a synthetic corpus: every query
//! agrees with the plaintext oracle, and the demo does not fail on any mail.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use sseek::datasets::{self, Corpus, Synthetic};
use sseek::demo::{self, DemoOptions};
use std::sync::Arc;

use sseek::store::{MemoryStore, Store, Table};

/// Also: the audit log of the run verifies, and holds no subject line of the corpus.
#[test]
fn shipped_spamassassin_corpus_has_zero_mismatches() {
    let corpus = datasets::load(datasets::SPAMASSASSIN).unwrap();
    assert!(corpus.messages.len() > 6000, "expected about 6,046 mails, got {}", corpus.messages.len());
    let canaries: Vec<Vec<u8>> =
        corpus.messages.iter().map(|m| m.subject.as_bytes().to_vec()).filter(|s| s.len() >= 16).take(500).collect();
    let opts = DemoOptions { progress: false, queries_per_index: 15, ..Default::default() };
    let store = Arc::new(MemoryStore::new());
    let r = demo::run_with_store(&opts, corpus, Arc::clone(&store), "memory".into()).unwrap();
    let audit = sseek::server::audit::verify(&*store).unwrap();
    assert!(audit.records as usize > r.queries, "{} audit records for {} queries", audit.records, r.queries);
    let mut leaked = 0;
    store
        .scan_prefix(Table::Meta, b"\0audit/", &mut |_, v| {
            leaked += canaries.iter().filter(|c| memchr::memmem::find(v, c).is_some()).count();
            Ok(true)
        })
        .unwrap();
    assert_eq!(leaked, 0, "subject lines in the audit log");
    assert_eq!(r.mismatches, 0, "{}", r.to_markdown());
    assert!(r.queries >= 100);
    assert!(r.false_positives_filtered > 0, "truncated tokens must produce some false positives to filter");
    for name in ["from", "to", "subject", "day", "body", "from+day"] {
        let idx = r.indexes.iter().find(|i| i.name == name).unwrap();
        assert!(idx.queries > 0 && idx.results > 0, "{name} ran no useful queries");
    }
}

#[test]
fn synthetic_corpus_has_zero_mismatches() {
    let corpus = Corpus { name: "synthetic".into(), messages: Synthetic::new(9).generate(5_000), skipped: Vec::new() };
    let opts = DemoOptions { progress: false, queries_per_index: 20, seed: 3, ..Default::default() };
    let r = demo::run_with_store(&opts, corpus, MemoryStore::new(), "memory".into()).unwrap();
    assert_eq!(r.mismatches, 0, "{}", r.to_markdown());
}

/// A tenth of the shipped corpus deleted after every index is built: the
/// whole workload, for the blind indexes, every SSE scheme and both
/// baselines, agrees with an oracle without those messages.
#[test]
fn shipped_corpus_with_a_tenth_deleted_has_zero_mismatches() {
    let corpus = datasets::load(datasets::SPAMASSASSIN).unwrap();
    let n = corpus.messages.len();
    let opts = DemoOptions { progress: false, queries_per_index: 10, delete_fraction: 0.1, ..Default::default() };
    let r = demo::run_with_store(&opts, corpus, MemoryStore::new(), "memory".into()).unwrap();
    assert_eq!(r.deleted, n / 10);
    assert_eq!(r.mismatches, 0, "{}", r.to_markdown());
    assert!(r.sse.iter().all(|s| s.results > 0 && s.mismatches == 0));
    assert!(
        demo::run_with_store(
            &DemoOptions { delete_fraction: 1.5, ..opts },
            Corpus { name: "x".into(), messages: Synthetic::new(1).generate(10), skipped: Vec::new() },
            MemoryStore::new(),
            "memory".into()
        )
        .is_err()
    );
}

/// The keys rotated after every index is built, with a tenth of the
/// messages deleted first: messages and blind indexes under version 2, every
/// SSE variant rebuilt under it, and the whole workload (blind, every
/// scheme, both baselines) agrees with the oracle.
#[test]
fn shipped_corpus_rotated_before_the_queries_has_zero_mismatches() {
    let corpus = datasets::load(datasets::SPAMASSASSIN).unwrap();
    let n = corpus.messages.len();
    let opts = DemoOptions {
        progress: false,
        queries_per_index: 10,
        delete_fraction: 0.1,
        rotate: true,
        ..Default::default()
    };
    let r = demo::run_with_store(&opts, corpus, MemoryStore::new(), "memory".into()).unwrap();
    assert_eq!(r.rotated, Some((n - n / 10) as u64), "every live message moves to version 2");
    assert_eq!(r.mismatches, 0, "{}", r.to_markdown());
    assert!(r.sse.len() >= 6 && r.sse.iter().all(|s| s.results > 0 && s.mismatches == 0));
    assert!(r.baselines.iter().all(|b| b.queries > 0 && b.mismatches == 0));
}
