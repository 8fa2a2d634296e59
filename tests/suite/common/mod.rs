//! Helpers shared by the integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::sync::{Arc, RwLock};

pub(crate) mod served;

/// The PostgreSQL tests of every module run in this one process. The test
/// that reads the server's global WAL positions, which writes of the others
/// would move, holds this exclusively; every other PostgreSQL test shared.
pub(crate) static PG_WAL_POSITIONS: RwLock<()> = RwLock::new(());

/// The Redis Cluster tests of every module run in this one process. The
/// test that changes the shared cluster's fsync setting for a moment (a
/// connect then fails) and the crash tests, which load both cores with
/// clusters of their own, hold this exclusively; every other Redis Cluster
/// test shared.
pub(crate) static REDIS_CLUSTER_TESTS: RwLock<()> = RwLock::new(());

use proptest::prelude::*;
use sseek::query::Query;

use sseek::blind::{default_index_specs, planner::plan_for_corpus};
use sseek::client::Client;
use sseek::keys::MasterKey;
use sseek::message::{Field, Message, Terms};
use sseek::oracle::PlainIndex;
use sseek::protocol::IndexDescriptor;
use sseek::server::Server;
use sseek::store::Store;
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

/// Creates the client's schema planned for `terms` (5 false positives per
/// query, 2 values per token, room for `growth` times the data).
pub(crate) fn create_planned_schema<T: sseek::transport::Transport>(
    client: &mut Client<T>,
    terms: &[Terms],
    growth: f64,
) {
    let plans = plan_for_corpus(terms, &default_index_specs(), 5.0, 2.0, growth);
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect()).unwrap();
}

/// A client over an in-process server on `store`, with the given index descriptors, holding `msgs`.
pub(crate) fn client_with<S: Store + 'static>(
    store: S,
    msgs: &[Message],
    descriptors: Option<Vec<IndexDescriptor>>,
) -> (Client<InProcess<S>>, PlainIndex) {
    let server = Arc::new(Server::new(store));
    let mut client =
        Client::connect(MasterKey::generate().unwrap(), "t", InProcess::new(server, "t"), Tokenizer::default())
            .unwrap();
    let terms: Vec<Terms> = client.terms(msgs);
    let descriptors = descriptors.unwrap_or_else(|| {
        plan_for_corpus(&terms, &default_index_specs(), 5.0, 2.0, 1.0).into_iter().map(|(d, _)| d).collect()
    });
    client.create_schema(descriptors).unwrap();
    client.add_messages_with_terms(msgs, &terms, None).unwrap();
    let mut oracle = PlainIndex::new();
    for (i, t) in terms.iter().enumerate() {
        oracle.add(i as u32, t);
    }
    (client, oracle)
}

pub(crate) const WORDS: &[&str] =
    &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"];
pub(crate) const USERS: &[&str] = &["ann@x.example", "bob@x.example", "cy@y.example", "dee@y.example"];
pub(crate) const DAYS: &[&str] = &["2026-01-01", "2026-01-02", "2026-02-01"];

pub(crate) fn message() -> impl Strategy<Value = Message> {
    (
        0..USERS.len(),
        proptest::collection::vec(0..USERS.len(), 0..3),
        proptest::collection::vec(0..WORDS.len(), 0..3),
        0..DAYS.len(),
        proptest::collection::vec(0..WORDS.len(), 0..8),
    )
        .prop_map(|(f, to, subj, d, body)| Message {
            from: USERS[f].to_uppercase(), // normalization must make this match lowercase queries
            to: to.into_iter().map(|i| USERS[i].to_owned()).collect(),
            subject: subj.into_iter().map(|i| WORDS[i]).collect::<Vec<_>>().join(" "),
            date: format!("{}T08:00:00Z", DAYS[d]),
            body: body.into_iter().map(|i| WORDS[i].to_uppercase()).collect::<Vec<_>>().join(", "),
        })
}

pub(crate) fn term() -> impl Strategy<Value = Query> {
    prop_oneof![
        (0..WORDS.len() + 1).prop_map(|i| Query::term("body", &[WORDS.get(i).copied().unwrap_or("absentword")])),
        (0..WORDS.len()).prop_map(|i| Query::term("subject", &[WORDS[i]])),
        (0..USERS.len()).prop_map(|i| Query::term("from", &[USERS[i]])),
        (0..USERS.len()).prop_map(|i| Query::term("to", &[USERS[i]])),
        (0..DAYS.len()).prop_map(|i| Query::term("day", &[DAYS[i]])),
        (0..USERS.len(), 0..DAYS.len()).prop_map(|(u, d)| Query::term("from+day", &[USERS[u], DAYS[d]])),
    ]
}

pub(crate) fn query() -> impl Strategy<Value = Query> {
    term().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Query::And),
            proptest::collection::vec(inner, 1..4).prop_map(Query::Or),
        ]
    })
}

/// Words planted by the canary tests; none may reach anything the server side writes.
pub(crate) const CANARIES: &[&str] =
    &["canaryxylophone", "zebracanarytoken", "canary-sender@plant.example", "Quetzalcanary"];

/// `n` synthetic messages (generator seed `seed`) with the canaries planted in
/// every seventh body and subject, plus one message from a canary sender.
pub(crate) fn canary_corpus(seed: u64, n: u64) -> sseek::datasets::Corpus {
    let mut messages = sseek::datasets::Synthetic::new(seed).generate(n);
    for (i, m) in messages.iter_mut().enumerate().step_by(7) {
        m.body = format!("{} canaryxylophone {i} zebracanarytoken", m.body);
        m.subject = "Quetzalcanary meeting".into();
    }
    messages.push(Message {
        from: "canary-sender@plant.example".into(),
        to: vec!["someone@else.example".into()],
        subject: "hello".into(),
        date: "2026-11-26T10:00:00Z".into(),
        body: "canaryxylophone alone".into(),
    });
    sseek::datasets::Corpus { name: "canary".into(), messages, skipped: Vec::new() }
}

/// Single-value queries of every single-field index over its whole
/// frequency range (`per_index` each), and ANDs of neighbouring pairs.
pub(crate) fn spread_queries(oracle: &PlainIndex, per_index: usize) -> Vec<Query> {
    let mut out = Vec::new();
    for spec in default_index_specs().iter().filter(|s| s.fields.len() == 1) {
        let mut values = oracle.frequencies(spec.fields[0]);
        values.sort_by_key(|(v, n)| (std::cmp::Reverse(*n), v.to_string()));
        let step = (values.len() / per_index).max(1);
        for (v, _) in values.iter().step_by(step).take(per_index) {
            out.push(Query::term(&spec.name, &[v]));
        }
    }
    let pairs: Vec<Query> = out.windows(2).step_by(3).map(|w| Query::And(w.to_vec())).collect();
    out.extend(pairs);
    out
}

/// The six default index descriptors, each with a token length drawn from
/// `bits`: short tokens make collisions (false positives) common.
pub(crate) fn descriptors(bits: impl Strategy<Value = u8>) -> impl Strategy<Value = Vec<IndexDescriptor>> {
    proptest::collection::vec(bits, 6).prop_map(|bits| {
        let names: [(&str, Vec<Field>); 6] = [
            ("from", vec![Field::From]),
            ("to", vec![Field::To]),
            ("subject", vec![Field::Subject]),
            ("day", vec![Field::Day]),
            ("body", vec![Field::Body]),
            ("from+day", vec![Field::From, Field::Day]),
        ];
        names.into_iter().zip(bits).map(|((n, f), b)| IndexDescriptor { name: n.into(), fields: f, bits: b }).collect()
    })
}
