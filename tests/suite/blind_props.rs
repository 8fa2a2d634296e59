//! Property tests: blind-index search after client filtering equals the
//! plaintext oracle; truncation never drops a true match; distinct key labels
//! give distinct keys.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use crate::common;

use proptest::prelude::*;
use sseek::keys::{KeyLabel, MasterKey, Purpose};
use sseek::message::{Field, Message};
use sseek::query::Query;
use sseek::store::{MemoryStore, RedbStore};

use common::{descriptors, message, query};

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn filtered_results_equal_oracle(msgs in proptest::collection::vec(message(), 1..40), queries in proptest::collection::vec(query(), 1..12), desc in descriptors((1u8..=64).prop_map(|b| b.min(if b % 2 == 0 { 3 } else { 64 })))) {
        let (client, oracle) = common::client_with(MemoryStore::new(), &msgs, Some(desc));
        for q in &queries {
            let expected: Vec<u32> = oracle.eval(q, client.specs()).unwrap().iter().collect();
            let candidates = client.candidates(q).unwrap();
            for id in &expected {
                prop_assert!(candidates.binary_search(id).is_ok(), "truncation dropped true match {} for {}", id, q);
            }
            let got = client.search(q).unwrap();
            prop_assert_eq!(&got.ids, &expected, "query {}", q);
            prop_assert_eq!(got.false_positives, candidates.len() - expected.len());
        }
    }

    #[test]
    fn distinct_labels_give_distinct_keys(
        a in ("[a-c]{0,3}", "[a-c]{0,3}", "[a-c]{0,3}", 0u8..3, 0u32..3),
        b in ("[a-c]{0,3}", "[a-c]{0,3}", "[a-c]{0,3}", 0u8..3, 0u32..3),
    ) {
        let purpose = |p: u8| match p { 0 => Purpose::BlindIndex, 1 => Purpose::DocumentEncryption, _ => Purpose::Sse };
        let la = KeyLabel::new(&a.0, &a.1, &a.2, purpose(a.3), a.4).unwrap();
        let lb = KeyLabel::new(&b.0, &b.1, &b.2, purpose(b.3), b.4).unwrap();
        let k = MasterKey::from_bytes([42; 32]);
        prop_assert_eq!(la == lb, k.derive_32(&la).expose() == k.derive_32(&lb).expose());
    }
}

#[test]
fn redb_results_equal_oracle_after_reopen() {
    // The same check on the embedded store, across a close and reopen.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let msgs: Vec<Message> = sseek::datasets::Synthetic::new(3).generate(300);
    let master = MasterKey::generate().unwrap();
    let tokenizer = sseek::text::Tokenizer::default();
    let terms: Vec<_> = msgs.iter().map(|m| m.terms(&tokenizer)).collect();
    {
        let server = std::sync::Arc::new(sseek::server::Server::new(RedbStore::open(&path).unwrap()));
        let mut c = sseek::client::Client::connect(
            master.clone(),
            "t",
            sseek::transport::InProcess::new(server, "t"),
            sseek::text::Tokenizer::default(),
        )
        .unwrap();
        let plan = sseek::blind::planner::plan_for_corpus(&terms, &sseek::blind::default_index_specs(), 3.0, 2.0, 1.0);
        c.create_schema(plan.into_iter().map(|(d, _)| d).collect()).unwrap();
        c.add_messages(&msgs, None).unwrap();
    }
    let server = std::sync::Arc::new(sseek::server::Server::new(RedbStore::open(&path).unwrap()));
    let c = sseek::client::Client::connect(
        master,
        "t",
        sseek::transport::InProcess::new(server, "t"),
        sseek::text::Tokenizer::default(),
    )
    .unwrap();
    let mut oracle = sseek::oracle::PlainIndex::new();
    for (i, t) in terms.iter().enumerate() {
        oracle.add(i as u32, t);
    }
    let mut checked = 0;
    for (field, name) in [(Field::Body, "body"), (Field::From, "from"), (Field::Day, "day")] {
        for (v, _) in oracle.frequencies(field).into_iter().take(30) {
            let q = Query::term(name, &[v]);
            assert_eq!(
                c.search(&q).unwrap().ids,
                oracle.eval(&q, c.specs()).unwrap().iter().collect::<Vec<_>>(),
                "{q}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 60);
}
