//! Bad input to the SSE schemes: absent keywords, instances and tenants give
//! empty answers; malformed, truncated or mismatched requests and corrupted
//! stored values give clear errors, never a panic, and change nothing stored.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sseek::demo::{SSE_VARIANTS, variant_config};
use sseek::keys::MasterKey;
use sseek::protocol::{self, EncryptedEntry, EntryLocation, Request, Response, SearchToken};
use sseek::server::Server;
use sseek::sse::{self, MultiMap, SseIndex, Update, UpdateOp};
use sseek::store::{MemoryStore, Store, Table, WriteBatch};
use sseek::transport::InProcess;

fn db() -> MultiMap {
    let mut db = MultiMap::new();
    db.insert(sse::keyword("body", &["common"]), (0..500).collect());
    db.insert(sse::keyword("body", &["rare"]), vec![3, 77]);
    db
}

/// Every demo variant, built over `db()` on one shared server.
fn built(server: &Arc<Server<MemoryStore>>, tenant: &str) -> Vec<SseIndex<InProcess<MemoryStore>>> {
    SSE_VARIANTS
        .iter()
        .map(|name| {
            let scheme = sse::open_client(&MasterKey::generate().unwrap(), tenant, &variant_config(name).unwrap());
            let mut index = SseIndex::create(InProcess::new(Arc::clone(server), tenant), scheme.unwrap()).unwrap();
            index.setup(&db()).unwrap();
            index
        })
        .collect()
}

/// Every stored entry but the audit log's (each request, rejected or not,
/// is recorded there, with the tenant's pseudonym key).
fn snapshot(store: &MemoryStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    for t in Table::ALL {
        store
            .scan_prefix(t, &[], &mut |k, v| {
                let audit = t == Table::Meta && (k.starts_with(b"\0audit/") || k.ends_with(b"audit_key"));
                if !audit {
                    all.push((k.to_vec(), v.to_vec()));
                }
                Ok(true)
            })
            .unwrap();
    }
    all
}

#[test]
fn absent_keywords_instances_and_tenants_give_empty_answers() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let mut indexes = built(&server, "alice");
    for index in &mut indexes {
        let name = index.scheme().descriptor().instance.clone();
        assert!(index.search_keyword(&sse::keyword("body", &["absent"])).unwrap().is_empty(), "{name}");
        assert_eq!(index.search_keyword(&sse::keyword("body", &["rare"])).unwrap(), vec![3, 77], "{name}");
    }
    // The same tokens against another tenant or an unknown instance: empty, not an error.
    let token = SearchToken::Dictionary { label_key: [1; 16], value_key: Some([2; 16]) };
    for (tenant, instance) in [("mallory", "pack"), ("alice", "nosuch")] {
        let r = server.handle(tenant, Request::SseSearch { instance: instance.into(), token: token.clone() });
        assert!(matches!(r, Response::SseResult(ref res) if res.is_empty()), "{tenant}/{instance}: {r:?}");
    }
    // Random tokens of the right scheme for an existing instance: empty.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for instance in ["pibas", "pack", "2lev", "2lev-rh", "pack-rh"] {
        for _ in 0..20 {
            let token = if instance.starts_with("2lev") {
                SearchToken::TwoLevel {
                    label_key: rng.random(),
                    pointer_key: rng.random(),
                    leaf_key: Some(rng.random()),
                }
            } else {
                SearchToken::Dictionary { label_key: rng.random(), value_key: Some(rng.random()) }
            };
            let r = server.handle("alice", Request::SseSearch { instance: instance.into(), token });
            assert!(matches!(r, Response::SseResult(ref res) if res.is_empty()), "{instance}: {r:?}");
        }
    }
    let r = server.handle(
        "alice",
        Request::SseSearch { instance: "mitra".into(), token: SearchToken::Addresses(vec![[9; 16]; 3]) },
    );
    let Response::SseResult(protocol::SearchResult::Values(values)) = r else { panic!("{r:?}") };
    assert_eq!(values.len(), 3);
    assert!(values.iter().all(Vec::is_empty), "random addresses matched stored entries");
}

#[test]
fn malformed_requests_are_4xx_and_change_nothing() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let _indexes = built(&server, "alice");
    let before = snapshot(server.store());
    let good = [
        Request::SseInsert {
            instance: "mitra".into(),
            entries: vec![EncryptedEntry { location: EntryLocation::Dictionary([4; 16]), value: vec![1, 2, 3, 4, 5] }],
        },
        Request::SseSearch {
            instance: "pack".into(),
            token: SearchToken::Dictionary { label_key: [1; 16], value_key: None },
        },
        Request::SseCreate(protocol::SseDescriptor {
            instance: "x".into(),
            scheme: "pack".into(),
            block: 4,
            response_revealing: true,
            key_version: 1,
        }),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for req in &good {
        let bytes = protocol::encode(req);
        // Every truncation, and random single-byte corruptions.
        let mut bodies: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for _ in 0..200 {
            let mut b = bytes.clone();
            let i = rng.random_range(2..b.len());
            b[i] = rng.random();
            bodies.push(b);
        }
        for body in bodies {
            let before = snapshot(server.store());
            let answer = server.handle_bytes("alice", &body);
            let r: Response = protocol::decode(&answer).expect("the server always answers with a valid response");
            // A corrupted body may still decode to some other valid request
            // (which may then store something); a rejected one is 4xx and
            // changes nothing.
            if let Response::Error { code, .. } = r {
                assert!((400..500).contains(&code), "code {code}");
                assert!(snapshot(server.store()) == before, "a rejected request changed the store");
            }
        }
    }
    // Truncations of an insert never decode, so nothing of it can have been stored;
    // restore-check on a fresh server with only truncations:
    let server2 = Arc::new(Server::new(MemoryStore::new()));
    let _i2 = built(&server2, "alice");
    let snap2 = snapshot(server2.store());
    let bytes = protocol::encode(&good[0]);
    for n in 0..bytes.len() {
        let r: Response = protocol::decode(&server2.handle_bytes("alice", &bytes[..n])).unwrap();
        assert!(matches!(r, Response::Error { code: 400 | 422, .. }), "{r:?}");
    }
    assert_eq!(snapshot(server2.store()), snap2, "a rejected request changed the store");
    assert!(!before.is_empty());

    // A token of the wrong scheme, an insert into an unknown instance, an oversized value.
    let r = server
        .handle("alice", Request::SseSearch { instance: "pack".into(), token: SearchToken::Addresses(vec![[0; 16]]) });
    assert!(matches!(r, Response::Error { code: 400, .. }), "{r:?}");
    let r = server.handle("alice", Request::SseInsert { instance: "nosuch".into(), entries: vec![] });
    assert!(matches!(r, Response::Error { code: 404, .. }), "{r:?}");
    let snap = snapshot(server.store());
    let r = server.handle(
        "alice",
        Request::SseInsert {
            instance: "mitra".into(),
            entries: vec![
                EncryptedEntry { location: EntryLocation::Dictionary([7; 16]), value: vec![0; 5] },
                EncryptedEntry { location: EntryLocation::Dictionary([8; 16]), value: vec![0; 1 << 20] },
            ],
        },
    );
    assert!(matches!(r, Response::Error { code: 400, .. }), "{r:?}");
    assert_eq!(snapshot(server.store()), snap, "a rejected insert stored part of its batch");
}

#[test]
fn corrupted_stored_values_are_clear_errors_never_panics() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let mut indexes = built(&server, "alice");
    // Truncate every stored SSE value by one byte: every scheme must notice
    // a value of the wrong length, and no search may panic. (OXT's XSet
    // entries have empty values, which only their presence matters for.)
    let mut batch = WriteBatch::new();
    server
        .store()
        .scan_prefix(Table::Entries, &[], &mut |k, v| {
            batch.put(Table::Entries, k.to_vec(), v[..v.len().saturating_sub(1)].to_vec());
            Ok(true)
        })
        .unwrap();
    server.store().write(batch).unwrap();
    for index in &mut indexes {
        let name = index.scheme().descriptor().instance.clone();
        let r = index.search_keyword(&sse::keyword("body", &["common"]));
        let e = r.expect_err(&format!("{name}: truncated values went unnoticed"));
        let msg = e.to_string();
        assert!(msg.contains("corrupt") || msg.contains("bytes") || msg.contains("length"), "{name}: {msg}");
    }
    // Random garbage of random lengths: an error or some answer, never a panic.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut batch = WriteBatch::new();
    server
        .store()
        .scan_prefix(Table::Entries, &[], &mut |k, _| {
            let n = rng.random_range(0..600);
            batch.put(Table::Entries, k.to_vec(), (0..n).map(|_| rng.random()).collect());
            Ok(true)
        })
        .unwrap();
    server.store().write(batch).unwrap();
    for index in &mut indexes {
        let _ = index.search_keyword(&sse::keyword("body", &["common"]));
        let _ = index.search_keyword(&sse::keyword("body", &["rare"]));
    }
}

#[test]
fn static_instances_are_built_once_and_dynamic_updates_need_a_dynamic_scheme() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let mut indexes = built(&server, "alice");
    // Opening an existing static instance and running setup again is refused
    // on the client, and a raw re-insert of a stored label on the server:
    // overwriting would reuse keystreams and return stale ids.
    let config = variant_config("pibas").unwrap();
    let other = sse::open_client(&MasterKey::generate().unwrap(), "alice", &config).unwrap();
    let mut reopened = SseIndex::open(InProcess::new(Arc::clone(&server), "alice"), other).unwrap();
    let e = reopened.setup(&db()).unwrap_err();
    assert!(e.to_string().contains("built once"), "{e}");
    let mut stored = None;
    server
        .store()
        .scan_prefix(Table::Entries, &sse::server::instance_prefix("alice", "pibas"), &mut |k, v| {
            stored = Some((k.to_vec(), v.to_vec()));
            Ok(false)
        })
        .unwrap();
    let (key, value) = stored.unwrap();
    let label: [u8; 16] = key[key.len() - 16..].try_into().unwrap();
    let before = snapshot(server.store());
    let r = server.handle(
        "alice",
        Request::SseInsert {
            instance: "pibas".into(),
            entries: vec![EncryptedEntry { location: EntryLocation::Dictionary(label), value: vec![0; value.len()] }],
        },
    );
    assert!(matches!(r, Response::Error { code: 409, .. }), "{r:?}");
    assert!(snapshot(server.store()) == before);
    let again = sse::open_client(&MasterKey::generate().unwrap(), "alice", &variant_config("pack").unwrap()).unwrap();
    let e = SseIndex::create(InProcess::new(Arc::clone(&server), "alice"), again).unwrap_err();
    assert!(e.to_string().contains("built once"), "{e}");
    let pack = indexes.iter_mut().find(|i| i.scheme().descriptor().instance == "pack").unwrap();
    let e = pack.update(&[Update { op: UpdateOp::Add, keyword: b"k".to_vec(), id: 1 }]).unwrap_err();
    assert!(e.to_string().contains("static"), "{e}");
}

#[test]
fn a_lost_state_file_cannot_overwrite_earlier_updates() {
    // Mitra and Diana derive entry labels from per-keyword counters. A client
    // whose state file was lost restarts them; its first update would land on
    // an address already used, under the same pad. The server refuses it.
    for scheme in ["mitra", "diana"] {
        let dir = tempfile::tempdir().unwrap();
        let server = Arc::new(Server::new(MemoryStore::new()));
        let master = MasterKey::generate().unwrap();
        let mut config = variant_config(scheme).unwrap();
        config.state_path = Some(dir.path().join("state"));
        let k = sse::keyword("body", &["lost"]);
        let add = |id| Update { op: UpdateOp::Add, keyword: k.clone(), id };
        let scheme_client = sse::open_client(&master, "t", &config).unwrap();
        let mut index = SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme_client).unwrap();
        index.update(&[add(7), add(8)]).unwrap();
        drop(index);
        std::fs::remove_file(dir.path().join("state")).unwrap();
        let before = snapshot(server.store());
        let scheme_client = sse::open_client(&master, "t", &config).unwrap();
        let mut index = SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme_client).unwrap();
        let e = index.update(&[add(9)]).unwrap_err();
        assert!(matches!(e, sseek::Error::Server { code: 409, .. }), "{scheme}: {e}");
        assert!(snapshot(server.store()) == before, "{scheme}: the refused update changed the store");
    }
}
