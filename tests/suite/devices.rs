//! Two devices of one account share a dynamic SSE instance through the
//! server: the client state (counters) is kept there sealed, replaced by
//! compare-and-swap. Over HTTP, for Mitra and Diana, the devices add
//! messages in turns and at the same time, and every search from either
//! agrees with the oracle (0 mismatches), with no counter used twice (the
//! server refuses an entry written twice, so a reuse would fail the
//! insert). A tampered, relabelled, rolled-back or moved state is refused
//! with a clear error and overwrites nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sseek::blind::default_index_specs;
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::message::Message;
use sseek::protocol::{DocId, Request, Response};
use sseek::server::Server;
use sseek::sse::{self, SchemeConfig, SseIndex, Update, UpdateOp};
use sseek::store::keyspace::client_state_key;
use sseek::store::{MemoryStore, Store, Table, WriteBatch};
use sseek::text::Tokenizer;
use sseek::transport::{Http, InProcess, Transport};
use sseek::{Error, Result};

const TENANT: &str = "acct";

fn device<T: Transport>(master: &MasterKey, scheme: &str, transport: T) -> SseIndex<T> {
    let config = SchemeConfig::new(scheme, scheme);
    SseIndex::create(transport, sse::open_client(master, TENANT, &config).unwrap()).unwrap().share_state().unwrap()
}

/// The add updates of messages `first..` and the oracle's view of them.
fn adds(msgs: &[Message], first: DocId, oracle: &mut BTreeMap<Vec<u8>, BTreeSet<DocId>>) -> Vec<Update> {
    let tokenizer = Tokenizer::default();
    let mut out = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let id = first + i as DocId;
        for keyword in sse::keywords_of(&m.terms(&tokenizer), &default_index_specs()) {
            oracle.entry(keyword.clone()).or_default().insert(id);
            out.push(Update { op: UpdateOp::Add, keyword, id });
        }
    }
    out
}

/// Searches a sample of keywords (and one never added) from `index`; returns the mismatches.
fn check<T: Transport>(index: &mut SseIndex<T>, oracle: &BTreeMap<Vec<u8>, BTreeSet<DocId>>) -> usize {
    let mut mismatches = 0;
    let step = (oracle.len() / 40).max(1);
    for (keyword, ids) in oracle.iter().step_by(step) {
        let got: BTreeSet<DocId> = index.search_keyword(keyword).unwrap().into_iter().collect();
        mismatches += usize::from(&got != ids);
    }
    mismatches + usize::from(!index.search_keyword(b"never-added-keyword").unwrap().is_empty())
}

#[test]
fn two_devices_add_in_turns_and_at_once_over_http_and_agree_with_the_oracle() {
    let (_dir, served, tokens) = common::served::Served::on_redb(&[TENANT], &[]);
    let master = MasterKey::generate().unwrap();
    for scheme in ["mitra", "diana"] {
        let http = || Http::new(&served.url, &tokens[0]);
        let mut devices = [device(&master, scheme, http()), device(&master, scheme, http())];
        let msgs = Synthetic::new(21).generate(800);
        let mut oracle = BTreeMap::new();
        let (mut mismatches, mut searches) = (0, 0);
        // In turns: 10 batches of 40, each device searching after every batch.
        for (turn, batch) in msgs[..400].chunks(40).enumerate() {
            let updates = adds(batch, (turn * 40) as DocId, &mut oracle);
            devices[turn % 2].update(&updates).unwrap();
            for d in &mut devices {
                mismatches += check(d, &oracle);
                searches += 41;
            }
        }
        // At once: both devices add 200 messages each, in batches of 20, from two threads.
        let halves: Vec<Vec<Update>> = [(400, &msgs[400..600]), (600, &msgs[600..800])]
            .iter()
            .map(|(first, m)| adds(m, *first, &mut oracle))
            .collect();
        std::thread::scope(|s| {
            for (d, updates) in devices.iter_mut().zip(&halves) {
                s.spawn(move || {
                    for chunk in updates.chunks(updates.len() / 10 + 1) {
                        d.update(chunk).unwrap();
                    }
                });
            }
        });
        for d in &mut devices {
            mismatches += check(d, &oracle);
            searches += 41;
        }
        // Mitra deletes: one device removes messages, the other sees it.
        if scheme == "mitra" {
            let gone: Vec<Update> = adds(&msgs[..50], 0, &mut BTreeMap::new())
                .into_iter()
                .map(|u| Update { op: UpdateOp::Delete, ..u })
                .collect();
            for u in &gone {
                oracle.get_mut(&u.keyword).unwrap().remove(&u.id);
            }
            oracle.retain(|_, ids| !ids.is_empty());
            devices[1].update(&gone).unwrap();
            mismatches += check(&mut devices[0], &oracle);
            searches += 41;
        }
        let version = match http().call(&Request::GetClientState { instance: scheme.into() }).unwrap() {
            Response::ClientState(Some(s)) => s.version,
            other => panic!("{other:?}"),
        };
        eprintln!(
            "{scheme}: {searches} searches from two devices, {mismatches} mismatches, shared state at version {version}"
        );
        assert_eq!(mismatches, 0, "{scheme}");
        assert!(version >= 20, "{scheme}: every batch should have reserved its counters ({version})");
    }
}

/// A device's state as stored: (version, sealed bytes).
fn stored(server: &Server<MemoryStore>, instance: &str) -> Vec<u8> {
    server.store().get(Table::Meta, &client_state_key(TENANT, instance)).unwrap().unwrap()
}

fn put_raw(server: &Server<MemoryStore>, instance: &str, value: Vec<u8>) {
    let mut b = WriteBatch::new();
    b.put(Table::Meta, client_state_key(TENANT, instance), value);
    server.store().write(b).unwrap();
}

fn assert_state_error(outcome: Result<()>, what: &str, needle: &str) {
    match outcome {
        Err(Error::StateFile { reason, .. }) => assert!(reason.contains(needle), "{what}: {reason}"),
        other => panic!("{what}: expected a state error, got {other:?}"),
    }
}

#[test]
fn a_tampered_relabelled_rolled_back_or_moved_state_is_refused_and_overwrites_nothing() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let master = MasterKey::generate().unwrap();
    let local = || InProcess::new(Arc::clone(&server), TENANT);
    let mut a = device(&master, "mitra", local());
    let add = |id: DocId| vec![Update { op: UpdateOp::Add, keyword: b"kw".to_vec(), id }];
    for id in 0..3 {
        a.update(&add(id)).unwrap();
    }
    let v3 = stored(&server, "mitra");
    assert_eq!(u64::from_be_bytes(v3[..8].try_into().unwrap()), 3);

    // A flipped byte: refused; the stored state is as it was.
    let mut flipped = v3.clone();
    *flipped.last_mut().unwrap() ^= 1;
    put_raw(&server, "mitra", flipped.clone());
    assert_state_error(second_device(&master, local()), "tampered", "does not open");
    assert_eq!(stored(&server, "mitra"), flipped, "a refused state was overwritten");

    // An older state relabelled as a newer version. (Device a holds version 3
    // itself, so it does not read the damaged copy; put the good one back.)
    put_raw(&server, "mitra", v3.clone());
    a.update(&add(3)).unwrap();
    let v4 = stored(&server, "mitra");
    let relabelled = [&5u64.to_be_bytes()[..], &v4[8..]].concat();
    put_raw(&server, "mitra", relabelled.clone());
    assert_state_error(a.refresh_state(), "relabelled", "does not open as version 5");
    assert!(a.update(&add(4)).is_err());
    assert_eq!(stored(&server, "mitra"), relabelled);

    // Rolled back to version 3 after the device saw version 4.
    put_raw(&server, "mitra", v3.clone());
    assert_state_error(a.refresh_state(), "rolled back", "rolled it back");
    assert_eq!(stored(&server, "mitra"), v3);

    // Another instance's state (same key, same version).
    put_raw(&server, "mitra", v4.clone());
    put_raw(&server, "other", v4);
    let config = SchemeConfig::new("mitra", "other");
    let other = SseIndex::create(local(), sse::open_client(&master, TENANT, &config).unwrap()).unwrap().share_state();
    assert_state_error(other.map(drop), "moved", "does not open");

    // A second device's PutClientState with a stale version is a 409 and changes nothing.
    let before = stored(&server, "mitra");
    let r = local().call(&Request::PutClientState { instance: "mitra".into(), version: 2, sealed: vec![1, 2, 3] });
    assert!(matches!(r, Err(Error::Server { code: 409, .. })), "{r:?}");
    assert_eq!(stored(&server, "mitra"), before);
}

/// A second device joining: its first read of the shared state.
fn second_device(master: &MasterKey, transport: InProcess<MemoryStore>) -> Result<()> {
    let config = SchemeConfig::new("mitra", "mitra");
    let index = SseIndex::create(transport, sse::open_client(master, TENANT, &config).unwrap()).unwrap();
    index.share_state().map(drop)
}

/// The negative control: two devices that keep their counters locally (no
/// shared state) both use counter 1 for the same keyword; the server
/// refuses the second entry at that address, so the second device's update
/// fails. This is what the shared state prevents.
#[test]
fn without_a_shared_state_two_devices_reuse_a_counter() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let master = MasterKey::generate().unwrap();
    let config = SchemeConfig::new("mitra", "mitra");
    let local = |_| {
        let scheme = sse::open_client(&master, TENANT, &config).unwrap();
        SseIndex::create(InProcess::new(Arc::clone(&server), TENANT), scheme).unwrap()
    };
    let (mut a, mut b) = (local(0), local(1));
    a.update(&[Update { op: UpdateOp::Add, keyword: b"kw".to_vec(), id: 1 }]).unwrap();
    let second = b.update(&[Update { op: UpdateOp::Add, keyword: b"kw".to_vec(), id: 2 }]);
    assert!(matches!(second, Err(Error::Server { code: 409, .. })), "{second:?}");
    assert_eq!(a.search_keyword(b"kw").unwrap(), vec![1], "device b's message is lost");
}
