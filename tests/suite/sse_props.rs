//! Property tests: every SSE scheme's answers equal the plaintext oracle, for
//! random corpora and boolean queries (static schemes) and for random
//! sequences of adds, deletes, re-adds and searches (dynamic schemes), in
//! memory and across closing and reopening the redb store and the client
//! state file.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use sseek::blind::default_index_specs;
use sseek::keys::MasterKey;
use sseek::message::{Message, Terms};
use sseek::oracle::PlainIndex;
use sseek::protocol::DocId;
use sseek::query::Query;
use sseek::server::Server;
use sseek::sse::{self, SchemeConfig, SseIndex, Update, UpdateOp};
use sseek::store::{MemoryStore, RedbStore, Store};
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

use common::{message, query};

/// Static variants with small blocks, so that multi-block, padded and
/// (for 2Lev) medium and large lists all occur on small corpora.
fn static_configs(block: u16) -> Vec<SchemeConfig> {
    let mut out = Vec::new();
    for (scheme, rr) in
        [("pibas", true), ("pack", true), ("pack", false), ("2lev", true), ("2lev", false), ("oxt", false)]
    {
        let mut c = SchemeConfig::new(scheme, &format!("{scheme}-{rr}"));
        c.response_revealing = rr;
        // 2Lev holds at most b' * b * b ids per keyword (b' = 16), so b = 1
        // would cap lists at 16: use b >= 2 there.
        match scheme {
            "pack" | "oxt" => c.block = Some(block),
            "2lev" => c.block = Some(block + 1),
            _ => {}
        }
        out.push(c);
    }
    out
}

fn corpus(msgs: &[Message]) -> (Vec<Terms>, PlainIndex) {
    let tokenizer = Tokenizer::default();
    let terms: Vec<Terms> = msgs.iter().map(|m| m.terms(&tokenizer)).collect();
    let mut oracle = PlainIndex::new();
    for (i, t) in terms.iter().enumerate() {
        oracle.add(i as u32, t);
    }
    (terms, oracle)
}

fn build_static<S: Store + 'static>(store: S, master: &MasterKey, config: &SchemeConfig, terms: &[Terms]) {
    let server = Arc::new(Server::new(store));
    let docs: Vec<(DocId, &Terms)> = terms.iter().enumerate().map(|(i, t)| (i as DocId, t)).collect();
    let db = sse::multimap(&docs, &default_index_specs());
    let scheme = sse::open_client(master, "t", config).unwrap();
    SseIndex::create(InProcess::new(server, "t"), scheme).unwrap().setup(&db).unwrap();
}

fn open_index<S: Store + 'static>(store: S, master: &MasterKey, config: &SchemeConfig) -> SseIndex<InProcess<S>> {
    let server = Arc::new(Server::new(store));
    SseIndex::open(InProcess::new(server, "t"), sse::open_client(master, "t", config).unwrap()).unwrap()
}

fn check_queries<S: Store + 'static>(
    index: &mut SseIndex<InProcess<S>>,
    oracle: &PlainIndex,
    queries: &[Query],
) -> Result<(), TestCaseError> {
    let specs = default_index_specs();
    for q in queries {
        let expected: Vec<DocId> = oracle.eval(q, &specs).unwrap().iter().collect();
        prop_assert_eq!(index.search(q).unwrap(), expected, "{} on {:?}", q, index.scheme().descriptor());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn static_schemes_equal_oracle(
        msgs in proptest::collection::vec(message(), 1..60),
        queries in proptest::collection::vec(query(), 1..10),
        block in 1u16..6,
    ) {
        let (terms, oracle) = corpus(&msgs);
        for config in static_configs(block) {
            let master = MasterKey::generate().unwrap();
            let store = Arc::new(MemoryStore::new());
            build_static(Arc::clone(&store), &master, &config, &terms);
            let mut index = open_index(store, &master, &config);
            check_queries(&mut index, &oracle, &queries)?;
        }
    }
}

#[test]
fn static_schemes_equal_oracle_after_redb_reopen() {
    let msgs: Vec<Message> = sseek::datasets::Synthetic::new(11).generate(400);
    let (terms, oracle) = corpus(&msgs);
    let mut queries = Vec::new();
    for (field, name) in [(sseek::message::Field::Body, "body"), (sseek::message::Field::From, "from")] {
        for (v, _) in oracle.frequencies(field).into_iter().take(40) {
            queries.push(Query::term(name, &[v]));
        }
    }
    queries.push(Query::And(vec![queries[0].clone(), queries[1].clone()]));
    queries.push(Query::Or(vec![queries[2].clone(), queries[41].clone()]));
    for config in static_configs(5) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let master = MasterKey::generate().unwrap();
        build_static(RedbStore::open(&path).unwrap(), &master, &config, &terms);
        let mut index = open_index(RedbStore::open(&path).unwrap(), &master, &config);
        check_queries(&mut index, &oracle, &queries).unwrap();
    }
}

/// One step of a dynamic workload.
#[derive(Debug, Clone)]
enum Step {
    Add(DocId, usize),
    Delete(DocId, usize),
    Search(usize),
    /// Close the store and the client, reopen both from disk.
    Reopen,
}

const VOCAB: usize = 6;

fn step(deletes: bool) -> impl Strategy<Value = Step> {
    let del_weight = if deletes { 3 } else { 0 };
    prop_oneof![
        5 => (0u32..12, 0..VOCAB).prop_map(|(d, w)| Step::Add(d, w)),
        del_weight => (0u32..12, 0..VOCAB).prop_map(|(d, w)| Step::Delete(d, w)),
        3 => (0..VOCAB + 1).prop_map(Step::Search),
        1 => Just(Step::Reopen),
    ]
}

fn kw(w: usize) -> Vec<u8> {
    sse::keyword("body", &[&format!("word{w}")])
}

struct Dynamic {
    master: MasterKey,
    config: SchemeConfig,
    db: std::path::PathBuf,
}

impl Dynamic {
    fn open(&self, create: bool) -> SseIndex<InProcess<RedbStore>> {
        let server = Arc::new(Server::new(RedbStore::open(&self.db).unwrap()));
        let scheme = sse::open_client(&self.master, "t", &self.config).unwrap();
        let transport = InProcess::new(server, "t");
        if create { SseIndex::create(transport, scheme).unwrap() } else { SseIndex::open(transport, scheme).unwrap() }
    }
}

fn run_dynamic(scheme: &str, dir: &Path, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut config = SchemeConfig::new(scheme, scheme);
    config.state_path = Some(dir.join("client.state"));
    let d = Dynamic { master: MasterKey::generate().unwrap(), config, db: dir.join("server.redb") };
    let mut index = d.open(true);
    // The plaintext oracle: an inverted index under the same adds and deletes.
    let mut oracle: BTreeMap<usize, BTreeSet<DocId>> = BTreeMap::new();
    // Updates go in small batches, as a client would send them.
    let mut pending: Vec<Update> = Vec::new();
    for s in steps {
        match s {
            Step::Add(id, w) => {
                oracle.entry(*w).or_default().insert(*id);
                pending.push(Update { op: UpdateOp::Add, keyword: kw(*w), id: *id });
            }
            Step::Delete(id, w) => {
                oracle.entry(*w).or_default().remove(id);
                pending.push(Update { op: UpdateOp::Delete, keyword: kw(*w), id: *id });
            }
            Step::Search(w) => {
                index.update(&std::mem::take(&mut pending)).unwrap();
                let expected: Vec<DocId> = oracle.get(w).map(|s| s.iter().copied().collect()).unwrap_or_default();
                prop_assert_eq!(index.search_keyword(&kw(*w)).unwrap(), expected, "{} word{}", scheme, w);
            }
            Step::Reopen => {
                index.update(&std::mem::take(&mut pending)).unwrap();
                drop(index);
                index = d.open(false);
            }
        }
    }
    index.update(&pending).unwrap();
    drop(index);
    let mut index = d.open(false);
    for w in 0..=VOCAB {
        let expected: Vec<DocId> = oracle.get(&w).map(|s| s.iter().copied().collect()).unwrap_or_default();
        prop_assert_eq!(index.search_keyword(&kw(w)).unwrap(), expected, "{} final word{}", scheme, w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn mitra_equals_oracle_under_adds_deletes_and_reopen(steps in proptest::collection::vec(step(true), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        run_dynamic("mitra", dir.path(), &steps)?;
    }

    #[test]
    fn diana_equals_oracle_under_adds_and_reopen(steps in proptest::collection::vec(step(false), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        run_dynamic("diana", dir.path(), &steps)?;
    }
}

#[test]
fn diana_rejects_deletes_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SchemeConfig::new("diana", "diana");
    config.state_path = Some(dir.path().join("s"));
    let d = Dynamic { master: MasterKey::generate().unwrap(), config, db: dir.path().join("db.redb") };
    let mut index = d.open(true);
    let err = index.update(&[Update { op: UpdateOp::Delete, keyword: kw(1), id: 1 }]).unwrap_err();
    assert!(err.to_string().contains("add-only"), "{err}");
}
