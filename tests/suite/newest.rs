//! The newest-first query path: `Client::search_newest(q, k)` is exactly
//! the `k` highest ids of the plaintext oracle's answer (k = 1, 5, 20, all),
//! on random corpora with tiny token lengths (many false positives) and
//! after deletes, in process, over HTTP and in the middle of a key
//! rotation; it fetches far fewer documents than there are candidates;
//! `sseek search --limit` prints the newest matches.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use sseek::client::Client;
use sseek::datasets::Synthetic;
use sseek::keys::Keyring;
use sseek::message::{Field, Message, Terms};
use sseek::oracle::PlainIndex;
use sseek::protocol::{DocId, Request, Response};
use sseek::query::Query;
use sseek::server::Server;
use sseek::store::MemoryStore;
use sseek::text::Tokenizer;
use sseek::transport::{Http, InProcess, Traffic, Transport};
use sseek::{Error, Result};

use common::served::Served;
use common::{descriptors, message, query};

const PAGES: [usize; 4] = [1, 5, 20, usize::MAX];

/// The oracle's answer without `deleted`, highest first, at most `k`.
fn newest_expected(
    oracle: &PlainIndex,
    q: &Query,
    specs: &[sseek::message::IndexSpec],
    deleted: &[DocId],
    k: usize,
) -> Vec<DocId> {
    let mut all: Vec<DocId> =
        oracle.eval(q, specs).unwrap().iter().filter(|id| deleted.binary_search(id).is_err()).collect();
    all.reverse();
    all.truncate(k);
    all
}

/// Checks every page size of every query against the oracle; returns how many answers were compared.
fn check_pages<T: Transport>(client: &Client<T>, oracle: &PlainIndex, deleted: &[DocId], queries: &[Query]) -> usize {
    let mut compared = 0;
    for q in queries {
        for k in PAGES {
            let expected = newest_expected(oracle, q, client.specs(), deleted, k);
            let got = client.search_newest(q, k).unwrap();
            assert_eq!(got.ids, expected, "query {q}, k {k}");
            assert_eq!(got.messages.iter().map(|(id, _)| *id).collect::<Vec<_>>(), got.ids);
            assert!(got.fetched <= got.candidates && got.false_positives <= got.fetched, "{got:?}");
            compared += 1;
        }
        let mut all = client.search(q).unwrap().ids;
        all.reverse();
        assert_eq!(all, newest_expected(oracle, q, client.specs(), deleted, usize::MAX), "search, query {q}");
    }
    compared
}

fn oracle_of(terms: &[Terms], first: DocId) -> PlainIndex {
    let mut oracle = PlainIndex::new();
    for (i, t) in terms.iter().enumerate() {
        oracle.add(first + i as DocId, t);
    }
    oracle
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random corpora, queries and deletes: the newest k are the k highest ids of the exact answer.
    #[test]
    fn newest_k_equal_the_oracles_highest_ids(
        msgs in proptest::collection::vec(message(), 1..80),
        queries in proptest::collection::vec(query(), 1..8),
        desc in descriptors(1u8..=6),
        delete_mask in proptest::collection::vec(any::<bool>(), 80),
    ) {
        let (mut client, oracle) = common::client_with(MemoryStore::new(), &msgs, Some(desc));
        let deleted: Vec<DocId> =
            (0..msgs.len() as DocId).filter(|i| delete_mask[*i as usize] && i % 3 == 0).collect();
        check_pages(&client, &oracle, &[], &queries);
        prop_assert_eq!(client.delete_messages(&deleted).unwrap(), deleted.clone());
        check_pages(&client, &oracle, &deleted, &queries);
    }
}

/// A transport that counts the documents each `GetDocuments` asked for.
#[derive(Debug)]
struct Counting<T> {
    inner: T,
    asked: AtomicUsize,
}

impl<T: Transport> Transport for Counting<T> {
    fn call(&self, request: &Request) -> Result<Response> {
        if let Request::GetDocuments(ids) = request {
            self.asked.fetch_add(ids.len(), Ordering::Relaxed);
        }
        self.inner.call(request)
    }
    fn traffic(&self) -> Traffic {
        self.inner.traffic()
    }
}

/// The newest 20 of a frequent word fetch a few dozen documents, not the
/// thousands of candidates; all results fetch every candidate.
#[test]
fn newest_twenty_fetch_far_fewer_documents_than_candidates() {
    let msgs: Vec<Message> = Synthetic::new(11).generate(5_000);
    let server = Arc::new(Server::new(MemoryStore::new()));
    let transport = Counting { inner: InProcess::new(server, "t"), asked: AtomicUsize::new(0) };
    let mut client =
        Client::connect(sseek::keys::MasterKey::generate().unwrap(), "t", transport, Tokenizer::default()).unwrap();
    let terms = client.terms(&msgs);
    common::create_planned_schema(&mut client, &terms, 1.0);
    client.add_messages_with_terms(&msgs, &terms, None).unwrap();
    let oracle = oracle_of(&terms, 0);
    let (word, count) = oracle.frequencies(Field::Body).into_iter().max_by_key(|(_, n)| *n).unwrap();
    assert!(count > 1_000, "a frequent word ({count})");
    let q = Query::term("body", &[word]);

    let (before, asked) = (client.traffic(), client.transport().asked.load(Ordering::Relaxed));
    let newest = client.search_newest(&q, 20).unwrap();
    let (traffic, asked) = (client.traffic() - before, client.transport().asked.load(Ordering::Relaxed) - asked);
    assert_eq!(newest.ids, newest_expected(&oracle, &q, client.specs(), &[], 20));
    assert!(newest.candidates >= count as usize);
    assert_eq!(asked, newest.fetched, "every document asked for was there");
    assert!(asked <= 80 && asked * 20 < newest.candidates, "fetched {asked} of {} candidates", newest.candidates);
    // One search, one or two fetches; epoch reads only when the epoch moves.
    assert!(traffic.round_trips <= 3, "{traffic:?}");

    let before = client.traffic();
    let all = client.search(&q).unwrap();
    let all_traffic = client.traffic() - before;
    assert_eq!(all.fetched, all.candidates);
    assert!(traffic.bytes_received * 20 < all_traffic.bytes_received, "{traffic:?} vs {all_traffic:?}");
}

/// Over a real `sseek serve`, after deletes with tokens and without
/// (tombstones only): the same exact pages.
#[test]
fn newest_over_http_after_deletes() {
    let (_dir, _served, tokens) = Served::on_redb(&["acme"], &[]);
    let url = _served.url.clone();
    let http = Http::new(&url, &tokens[0]);
    let tenant = http.tenant().unwrap();
    let mut client =
        Client::connect(sseek::keys::MasterKey::generate().unwrap(), &tenant, http, Tokenizer::default()).unwrap();
    let msgs: Vec<Message> = Synthetic::new(5).generate(1_500);
    let terms = client.terms(&msgs);
    common::create_planned_schema(&mut client, &terms, 1.0);
    client.add_messages_with_terms(&msgs, &terms, None).unwrap();
    let oracle = oracle_of(&terms, 0);
    let deleted: Vec<DocId> = (0..1_500).rev().step_by(7).collect::<Vec<_>>().into_iter().rev().collect();
    assert_eq!(client.delete_messages(&deleted).unwrap(), deleted);
    // Deletes that carry no tokens (as the REST DELETE): postings stay, tombstones mask them.
    let untokened: Vec<DocId> = (1..1_500).rev().step_by(11).filter(|id| deleted.binary_search(id).is_err()).collect();
    match client.transport().call(&Request::DeleteDocuments(untokened.clone())).unwrap() {
        Response::DocumentIds(gone) => assert_eq!(gone.len(), untokened.len()),
        other => panic!("{other:?}"),
    }
    let mut deleted = deleted;
    deleted.extend(untokened);
    deleted.sort_unstable();
    let queries = common::spread_queries(&oracle, 4);
    assert!(check_pages(&client, &oracle, &deleted, &queries) >= 60);
}

/// A transport failing the `fail_at`-th request of one kind with a 503.
#[derive(Debug)]
struct FailingAt<T> {
    inner: T,
    kind: &'static str,
    fail_at: usize,
    seen: AtomicUsize,
}

impl<T: Transport> Transport for FailingAt<T> {
    fn call(&self, request: &Request) -> Result<Response> {
        let kind = format!("{request:?}");
        if kind.starts_with(self.kind) && self.seen.fetch_add(1, Ordering::Relaxed) + 1 == self.fail_at {
            return Err(Error::Server { code: 503, message: "injected".into() });
        }
        self.inner.call(request)
    }
    fn traffic(&self) -> Traffic {
        self.inner.traffic()
    }
}

/// In the middle of a key rotation (two live key versions, documents under
/// both), newest-first pages are still exact.
#[test]
fn newest_during_a_rotation() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let ring = Keyring::generate().unwrap();
    let msgs: Vec<Message> = Synthetic::new(9).generate(600);
    let mut c =
        Client::connect_keyring(&ring, "t", InProcess::new(Arc::clone(&server), "t"), Tokenizer::default()).unwrap();
    let terms = c.terms(&msgs);
    common::create_planned_schema(&mut c, &terms, 1.0);
    c.add_messages_with_terms(&msgs, &terms, None).unwrap();
    let oracle = oracle_of(&terms, 0);

    let transport = FailingAt {
        inner: InProcess::new(Arc::clone(&server), "t"),
        kind: "RotateDocuments",
        fail_at: 3,
        seen: 0.into(),
    };
    let mut rotating = Client::connect_keyring(&ring, "t", transport, Tokenizer::default()).unwrap();
    let mut saved = None;
    let save = &mut |r: &Keyring| {
        saved = Some(r.clone());
        Ok(())
    };
    let options = sseek::client::rotation::RotationOptions { batch: 100, progress: None };
    assert!(matches!(rotating.rotate(save, &options), Err(Error::Server { code: 503, .. })));
    let both = saved.unwrap();
    assert_eq!(both.versions().len(), 2, "the rotation stopped with two live versions");

    let c = Client::connect_keyring(&both, "t", InProcess::new(server, "t"), Tokenizer::default()).unwrap();
    assert!(c.key_epoch().previous.is_some(), "mid-rotation");
    let queries = common::spread_queries(&oracle, 4);
    assert!(check_pages(&c, &oracle, &[], &queries) >= 60);
}

fn sseek(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sseek")).args(args).env_remove("SSEEK_PASSPHRASE").output().unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `sseek search --limit 3` prints the three newest matches, newest first.
#[test]
fn cli_search_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let lines: String = (0..6)
        .map(|i| {
            let word = if i == 4 { "other" } else { "budget" };
            format!("{{\"id\":{i},\"text\":\"{word} note number{i}\",\"from\":\"ann@example.com\"}}\n")
        })
        .collect();
    std::fs::write(dir.path().join("m.jsonl"), lines).unwrap();
    assert!(sseek(&["keygen", "--key", &d("k.key")]).status.success());
    let o = sseek(&["index", "--key", &d("k.key"), "--store", &d("store"), "--dataset", &d("m.jsonl")]);
    assert!(o.status.success(), "{}", text(&o));

    let o =
        sseek(&["search", "--key", &d("k.key"), "--store", &d("store"), "--limit", "3", "--show", "0", "body:budget"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).starts_with("3 newest results ("), "{}", text(&o));
    assert!(text(&o).contains("[5, 3, 2]"), "{}", text(&o));
    let o = sseek(&["search", "--key", &d("k.key"), "--store", &d("store"), "--limit", "3", "body:budget"]);
    let out = text(&o);
    let shown: Vec<&str> = out.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(shown.len(), 3, "{out}");
    assert!(shown[0].starts_with("#5 ") && shown[0].contains("number5"), "{out}");
    assert!(shown[2].starts_with("#2 "), "{out}");
    // Without --limit: every match, oldest first, as before.
    let o = sseek(&["search", "--key", &d("k.key"), "--store", &d("store"), "--show", "0", "body:budget"]);
    assert!(text(&o).starts_with("5 results") && text(&o).contains("[0, 1, 2, 3, 5]"), "{}", text(&o));
}
