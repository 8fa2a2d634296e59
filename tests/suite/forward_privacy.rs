//! Law 3, forward privacy: on random histories of adds (and, for Mitra,
//! deletes) interleaved with searches, the server cannot link any update to
//! an earlier search by replaying the old tokens on its own state
//! (`sseek::leakage::forward::links`). Mitra and Diana must pass on every
//! history; the negative controls (blind indexes, whose tokens are
//! deterministic, and the leaky dynamic Pi_bas) must be caught.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use sseek::client::Client;
use sseek::keys::MasterKey;
use sseek::leakage::forward::{LeakyDynamicPibas, forward_private_on, links};
use sseek::leakage::view::Recorder;
use sseek::message::{Field, Message};
use sseek::protocol::{DocId, IndexDescriptor};
use sseek::query::Query;
use sseek::server::Server;
use sseek::sse::{self, SchemeClient, SchemeConfig, SseIndex, Update, UpdateOp};
use sseek::store::MemoryStore;
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

/// Keywords of the histories (all survive the default tokenizer).
const WORDS: &[&str] = &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add(usize, DocId),
    Delete(usize, DocId),
    Search(usize),
}

fn op(with_deletes: bool) -> BoxedStrategy<Op> {
    let k = 0..WORDS.len();
    let id = 0..64 as DocId;
    let add = (k.clone(), id.clone()).prop_map(|(k, id)| Op::Add(k, id));
    let search = k.clone().prop_map(Op::Search);
    if with_deletes {
        // Deletes last: shrinking moves towards earlier arms.
        prop_oneof![3 => add, 2 => search, 1 => (k, id).prop_map(|(k, id)| Op::Delete(k, id))].boxed()
    } else {
        prop_oneof![3 => add, 2 => search].boxed()
    }
}

fn history(with_deletes: bool) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(with_deletes), 1..30)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Mitra,
    Diana,
    LeakyPibas,
    Blind,
}

fn kw(k: usize) -> Vec<u8> {
    sse::keyword("body", &[WORDS[k]])
}

/// Runs `ops` on `scheme` with the server recording, checks every search
/// against a plaintext model (so the histories are real), and returns the view.
fn run(scheme: Scheme, ops: &[Op]) -> Result<sseek::leakage::ServerView, TestCaseError> {
    let recorder = Recorder::memory();
    let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
    let master = MasterKey::generate().unwrap();
    let mut model: BTreeMap<usize, BTreeSet<DocId>> = BTreeMap::new();
    if scheme == Scheme::Blind {
        let mut client = Client::connect(master, "t", InProcess::new(server, "t"), Tokenizer::default()).unwrap();
        client
            .create_schema(vec![IndexDescriptor { name: "body".into(), fields: vec![Field::Body], bits: 64 }])
            .unwrap();
        for o in ops {
            match *o {
                // Blind indexes take whole messages with server-assigned ids.
                Op::Add(k, _) | Op::Delete(k, _) => {
                    let m = Message { body: WORDS[k].into(), ..Default::default() };
                    let ids = client.add_messages(&[m], None).unwrap();
                    model.entry(k).or_default().extend(ids);
                }
                Op::Search(k) => {
                    let got = client.search(&Query::term("body", &[WORDS[k]])).unwrap().ids;
                    let want: Vec<DocId> = model.get(&k).into_iter().flatten().copied().collect();
                    prop_assert_eq!(got, want);
                }
            }
        }
        return Ok(recorder.view());
    }
    let client = match scheme {
        Scheme::Mitra => sse::open_client(&master, "t", &SchemeConfig::new("mitra", "fp")).unwrap(),
        Scheme::Diana => sse::open_client(&master, "t", &SchemeConfig::new("diana", "fp")).unwrap(),
        _ => SchemeClient::Dynamic(Box::new(
            LeakyDynamicPibas::open(&master, "t", &SchemeConfig::new("pibas", "fp")).unwrap(),
        )),
    };
    let mut index = SseIndex::create(InProcess::new(server, "t"), client).unwrap();
    for o in ops {
        match *o {
            Op::Add(k, id) => {
                index.update(&[Update { op: UpdateOp::Add, keyword: kw(k), id }]).unwrap();
                model.entry(k).or_default().insert(id);
            }
            Op::Delete(k, id) => {
                index.update(&[Update { op: UpdateOp::Delete, keyword: kw(k), id }]).unwrap();
                model.entry(k).or_default().remove(&id);
            }
            Op::Search(k) => {
                let mut got = index.search_keyword(&kw(k)).unwrap();
                got.dedup();
                let want: Vec<DocId> = model.get(&k).into_iter().flatten().copied().collect();
                prop_assert_eq!(got, want);
            }
        }
    }
    Ok(recorder.view())
}

/// The law: no update links to an earlier search.
fn unlinkable(scheme: Scheme, ops: &[Op]) -> Result<(), TestCaseError> {
    let view = run(scheme, ops)?;
    let found = links(&view, "t").unwrap();
    prop_assert!(found.is_empty(), "{scheme:?} links updates to earlier searches: {found:?}");
    prop_assert!(forward_private_on(&view).unwrap());
    Ok(())
}

/// Whether some search of a keyword comes before an add of it: the only
/// histories on which a scheme can fail the law.
fn searched_then_added(ops: &[Op]) -> bool {
    ops.iter().enumerate().any(|(i, o)| {
        let Op::Search(k) = *o else { return false };
        ops[i + 1..].iter().any(|o| matches!(*o, Op::Add(j, _) | Op::Delete(j, _) if j == k))
    })
}

/// Runs the law on `scheme` with a fresh runner and returns the minimal
/// failing history, if the law fails.
fn counterexample(scheme: Scheme) -> Option<Vec<Op>> {
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    match runner.run(&history(false), |ops| unlinkable(scheme, &ops)) {
        Ok(()) => None,
        Err(TestError::Fail(_, ops)) => Some(ops),
        Err(e) => panic!("{scheme:?}: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn mitra_updates_never_link_to_earlier_searches(ops in history(true)) {
        unlinkable(Scheme::Mitra, &ops)?;
    }

    #[test]
    fn diana_updates_never_link_to_earlier_searches(ops in history(false)) {
        unlinkable(Scheme::Diana, &ops)?;
    }
}

#[test]
fn blind_index_fails_the_law_on_a_search_then_add() {
    let ops = counterexample(Scheme::Blind).expect("blind tokens are deterministic: the check must catch them");
    println!("minimal failing history: {ops:?}");
    assert!(searched_then_added(&ops), "minimal failing history {ops:?}");
}

#[test]
fn leaky_dynamic_pibas_fails_the_law_on_a_search_then_add() {
    let ops = counterexample(Scheme::LeakyPibas).expect("replayed Pi_bas tokens find later adds: must be caught");
    println!("minimal failing history: {ops:?}");
    assert!(searched_then_added(&ops), "minimal failing history {ops:?}");
}

/// One fixed history on which the controls link and the forward-private
/// schemes do not: the passing property tests are not vacuous.
#[test]
fn the_same_history_links_only_without_forward_privacy() {
    let ops = [Op::Add(0, 1), Op::Add(1, 2), Op::Search(0), Op::Add(0, 3), Op::Add(1, 4), Op::Search(0)];
    for (scheme, leaks) in
        [(Scheme::Mitra, false), (Scheme::Diana, false), (Scheme::LeakyPibas, true), (Scheme::Blind, true)]
    {
        let view = run(scheme, &ops).unwrap();
        let found = links(&view, "t").unwrap();
        assert_eq!(!found.is_empty(), leaks, "{scheme:?}: {found:?}");
        if leaks {
            // Exactly one link: the add of keyword 0 after its first search.
            assert_eq!(found.len(), 1, "{scheme:?}: {found:?}");
        }
    }
}
