//! SSE instances rebuilt under a new key version (`SseIndex::rotate`), for
//! every registered variant, on the shipped corpus: the old instance
//! answers exactly until the replacement, the new one answers exactly
//! after it (0 mismatches against the plaintext oracle), no entry, label
//! or value of the old version is left in the store, a handle of the old
//! version gets a clear error instead of an empty answer, and with a
//! shared client state an update another device makes during the rebuild
//! makes the replacement fail rather than be lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use sseek::blind::default_index_specs;
use sseek::keys::Keyring;
use sseek::message::{IndexSpec, Terms};
use sseek::oracle::PlainIndex;
use sseek::protocol::{DocId, Request, Response};
use sseek::query::Query;
use sseek::server::Server;
use sseek::sse::{self, MultiMap, SchemeConfig, SseIndex, Update, UpdateOp, registry::VARIANTS};
use sseek::store::{MemoryStore, Store, Table};
use sseek::text::Tokenizer;
use sseek::transport::{InProcess, Traffic, Transport};
use sseek::{Error, Result};

const TENANT: &str = "acct";

struct Corpus {
    db: MultiMap,
    oracle: PlainIndex,
    queries: Vec<Query>,
    specs: Vec<IndexSpec>,
}

fn corpus(n: usize) -> Corpus {
    let msgs = &sseek::datasets::load(sseek::datasets::SPAMASSASSIN).unwrap().messages[..n];
    let tokenizer = Tokenizer::default();
    let terms: Vec<Terms> = msgs.iter().map(|m| m.terms(&tokenizer)).collect();
    let mut oracle = PlainIndex::new();
    for (id, t) in terms.iter().enumerate() {
        oracle.add(id as DocId, t);
    }
    let pairs: Vec<(DocId, &Terms)> = terms.iter().enumerate().map(|(i, t)| (i as DocId, t)).collect();
    let specs = default_index_specs();
    let db = sse::multimap(&pairs, &specs);
    let queries = common::spread_queries(&oracle, 8);
    Corpus { db, oracle, queries, specs }
}

fn mismatches<T: Transport>(index: &mut SseIndex<T>, c: &Corpus) -> usize {
    c.queries
        .iter()
        .filter(|q| index.search(q).unwrap() != c.oracle.eval(q, &c.specs).unwrap().iter().collect::<Vec<_>>())
        .count()
}

/// Every entry of the tenant: key and value.
fn entries(store: &dyn Store) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    let mut out = BTreeSet::new();
    store
        .scan_prefix(Table::Entries, b"", &mut |k, v| {
            out.insert((k.to_vec(), v.to_vec()));
            Ok(true)
        })
        .unwrap();
    out
}

#[test]
fn every_variant_is_rebuilt_under_the_new_version() {
    let c = corpus(1_000);
    for variant in VARIANTS {
        let server = Arc::new(Server::new(MemoryStore::new()));
        let transport = || InProcess::new(Arc::clone(&server), TENANT);
        let mut ring = Keyring::generate().unwrap();
        let config = sse::registry::variant_config(variant.name).unwrap();
        let mut index =
            SseIndex::create(transport(), sse::open_client(ring.current(), TENANT, &config).unwrap()).unwrap();
        index.setup(&c.db).unwrap();
        assert_eq!(mismatches(&mut index, &c), 0, "{}: before", variant.name);
        let old_entries = entries(server.store());
        let mut old_handle = second_handle(&index, &ring, &config, transport());
        assert_eq!(mismatches(&mut old_handle, &c), 0, "{}: a second handle", variant.name);

        let version = ring.add_version().unwrap();
        let config2 = SchemeConfig { key_version: version, ..config.clone() };
        index.rotate(sse::open_client(ring.current(), TENANT, &config2).unwrap(), &c.db).unwrap();
        assert_eq!(mismatches(&mut index, &c), 0, "{}: after", variant.name);
        let now = entries(server.store());
        let kept = old_entries.intersection(&now).count();
        let old_keys: BTreeSet<&Vec<u8>> = old_entries.iter().map(|(k, _)| k).collect();
        let reused_keys = now.iter().filter(|(k, _)| old_keys.contains(k)).count();
        assert_eq!(kept, 0, "{}: {kept} entries of version 1 left", variant.name);
        if variant.scheme != sse::Scheme::TwoLev {
            // Labels are PRF outputs: none of version 1's may remain. (2Lev's
            // array positions are reused by the new version, with new values.)
            assert_eq!(reused_keys, 0, "{}: labels of version 1 left", variant.name);
        }
        assert!(!now.iter().any(|(k, _)| k.windows(4).any(|w| w == b"~v2")), "{}: staged entries left", variant.name);
        let descriptor = match transport().call(&Request::SseDescribe { instance: config.instance.clone() }).unwrap() {
            Response::SseDescriptor(d) => d.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(descriptor.key_version, 2);
        let err = old_handle.search(&c.queries[0]).unwrap_err().to_string();
        assert!(err.contains("under key version 2 now"), "{}: {err}", variant.name);
        eprintln!(
            "{}: {} entries rebuilt under version 2, 0 of version 1's {} left, {} queries 0 mismatches",
            variant.name,
            now.len(),
            old_entries.len(),
            c.queries.len()
        );
    }
}

/// Another handle of `index`'s instance, of the same key version; for a
/// dynamic scheme with `index`'s counters (its state, sealed and opened).
fn second_handle(
    index: &SseIndex<InProcess<MemoryStore>>,
    ring: &Keyring,
    config: &SchemeConfig,
    transport: InProcess<MemoryStore>,
) -> SseIndex<InProcess<MemoryStore>> {
    let mut scheme = sse::open_client(ring.current(), TENANT, config).unwrap();
    if let (sse::SchemeClient::Dynamic(d), sse::SchemeClient::Dynamic(w)) = (&mut scheme, index.scheme()) {
        d.open_state(1, &w.seal_state(1).unwrap()).unwrap();
    }
    SseIndex::open(transport, scheme).unwrap()
}

/// Runs `hook` once, just before the first request of kind `kind` goes out.
struct Before<F: Fn() + Send + Sync> {
    inner: InProcess<MemoryStore>,
    kind: &'static str,
    hook: Mutex<Option<F>>,
}

impl<F: Fn() + Send + Sync> std::fmt::Debug for Before<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Before({})", self.kind)
    }
}

impl<F: Fn() + Send + Sync> Transport for Before<F> {
    fn call(&self, request: &Request) -> Result<Response> {
        if request.operation() == self.kind
            && let Some(hook) = self.hook.lock().unwrap().take()
        {
            hook();
        }
        self.inner.call(request)
    }

    fn traffic(&self) -> Traffic {
        self.inner.traffic()
    }
}

/// Two devices share a Mitra instance's state on the server. One rebuilds it
/// under version 2; the other adds a message just before the replacement:
/// the replacement is refused, the add is kept (the old instance answers
/// with it), and a second rebuild that includes it succeeds.
#[test]
fn an_update_during_the_rebuild_is_not_lost() {
    let mut c = corpus(300);
    let server = Arc::new(Server::new(MemoryStore::new()));
    let mut ring = Keyring::generate().unwrap();
    let config = SchemeConfig::new("mitra", "shared");
    let device = |ring: &Keyring, config: &SchemeConfig| {
        let scheme = sse::open_client(ring.current(), TENANT, config).unwrap();
        SseIndex::create(InProcess::new(Arc::clone(&server), TENANT), scheme).unwrap().share_state().unwrap()
    };
    let mut phone = device(&ring, &config);
    phone.setup(&c.db).unwrap();
    let laptop = Arc::new(Mutex::new(device(&ring, &config)));
    let keyword = b"body:rotationcanary".to_vec();
    let laptop_adds = {
        let laptop = Arc::clone(&laptop);
        let keyword = keyword.clone();
        move || {
            let update = Update { op: UpdateOp::Add, keyword: keyword.clone(), id: 9_999 };
            laptop.lock().unwrap().update(&[update]).unwrap();
        }
    };
    let version = ring.add_version().unwrap();
    let config2 = SchemeConfig { key_version: version, ..config.clone() };
    let transport = Before {
        inner: InProcess::new(Arc::clone(&server), TENANT),
        kind: "SseSwap",
        hook: Mutex::new(Some(laptop_adds)),
    };
    let v1 = sse::open_client(&ring.get(1).unwrap().clone(), TENANT, &config).unwrap();
    let mut rebuilding = SseIndex::create(transport, v1).unwrap().share_state().unwrap();
    let err = rebuilding.rotate(sse::open_client(ring.current(), TENANT, &config2).unwrap(), &c.db).unwrap_err();
    assert!(matches!(err, Error::Server { code: 409, .. }) && err.to_string().contains("another device"), "{err}");
    // Nothing was replaced: the old instance holds the laptop's add, and the handle is still of version 1.
    assert_eq!(phone.search_keyword(&keyword).unwrap(), vec![9_999]);
    assert_eq!(rebuilding.scheme().descriptor().key_version, 1);
    // Rebuilt again with the add in the data: replaced, and exact.
    c.db.insert(keyword.clone(), vec![9_999]);
    rebuilding.rotate(sse::open_client(ring.current(), TENANT, &config2).unwrap(), &c.db).unwrap();
    assert_eq!(rebuilding.search_keyword(&keyword).unwrap(), vec![9_999]);
    assert_eq!(mismatches(&mut rebuilding, &c), 0);
    // The laptop, still of version 1, is told to reopen.
    let err = laptop.lock().unwrap().search_keyword(&keyword).unwrap_err().to_string();
    assert!(err.contains("under key version 2 now"), "{err}");
}
