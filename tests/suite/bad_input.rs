//! Bad input gives a clear error naming the problem, never a panic, and
//! nothing stored is lost.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use crate::common;

use sseek::Error;
use sseek::datasets::{self, Synthetic};
use sseek::keys::{MasterKey, WrapParams};
use sseek::protocol::{self, BlindQuery, BlindToken, Request, Response};
use sseek::query::Query;
use sseek::server::Server;
use sseek::store::{MemoryStore, RedbStore, Store, Table, WriteBatch};

#[test]
fn truncated_key_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k");
    MasterKey::generate().unwrap().save(&p).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
    let e = MasterKey::load(&p).unwrap_err();
    assert!(matches!(e, Error::KeyFile { .. }));
    let msg = e.to_string();
    assert!(msg.contains("truncated") && msg.contains(&p.display().to_string()), "{msg}");
}

#[test]
fn wrong_passphrase_is_named() {
    let k = MasterKey::generate().unwrap();
    let backup = k.export_wrapped("right", WrapParams::insecure_for_tests()).unwrap();
    let e = MasterKey::import_wrapped(&backup, "wrong").unwrap_err();
    assert!(e.to_string().contains("wrong passphrase"), "{e}");
    // A modified backup is caught too.
    let tampered = backup.replace("\"t_cost\": 1", "\"t_cost\": 2");
    assert_ne!(tampered, backup);
    assert!(MasterKey::import_wrapped(&tampered, "right").is_err());
}

#[test]
fn corrupt_store_values_are_data_corruption_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
    let msgs = Synthetic::new(1).generate(200);
    let (client, oracle) = common::client_with(store, &msgs, None);
    let word =
        oracle.frequencies(sseek::message::Field::Body).into_iter().max_by_key(|(_, n)| *n).unwrap().0.to_owned();
    let q = Query::term("body", &[&word]);
    let before = client.search(&q).unwrap();
    assert!(!before.ids.is_empty());

    // Corrupt every posting list of the server's store behind its back... on a copy:
    // here we corrupt one stored document and one posting list in place.
    let server = client.transport().server();
    let mut doc_key = None;
    server
        .store()
        .scan_prefix(Table::Documents, &[], &mut |k, _| {
            doc_key = Some(k.to_vec());
            Ok(false)
        })
        .unwrap();
    let mut posting_keys = Vec::new();
    server
        .store()
        .scan_prefix(Table::Postings, &[], &mut |k, _| {
            posting_keys.push(k.to_vec());
            Ok(true)
        })
        .unwrap();
    let mut b = WriteBatch::new();
    b.put(Table::Documents, doc_key.unwrap(), vec![0, 1, 0xff, 0xff, 0xff]);
    for k in &posting_keys {
        b.put(Table::Postings, k.clone(), b"not a bitmap".to_vec());
    }
    server.store().write(b).unwrap();
    let e = client.search(&q).unwrap_err();
    assert!(e.to_string().contains("data corruption") || e.to_string().contains("does not decode"), "{e}");

    // Inserting more postings onto a corrupt list fails whole and leaves the store as it was.
    let doc_count = server.store().stats(Table::Documents, &[]).unwrap().entries;
    let req =
        Request::InsertBlindPostings(protocol::BlindPostings { index: "body".into(), postings: vec![(1, vec![5])] });
    let _ = server.handle("t", req);
    assert_eq!(server.store().stats(Table::Documents, &[]).unwrap().entries, doc_count);
}

#[test]
fn malformed_mail_file_is_named_and_directory_loading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.eml"), "From: a@b.example\nSubject: hi\n\nbody text\n").unwrap();
    std::fs::write(dir.path().join("bad.eml"), "this is not a mail\n").unwrap();
    std::fs::write(dir.path().join("binary.eml"), [0u8, 159, 146, 150]).unwrap();
    let c = datasets::load_mail_dir(dir.path()).unwrap();
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.skipped.len(), 2);
    let reasons: Vec<String> = c.skipped.iter().map(ToString::to_string).collect();
    assert!(reasons.iter().any(|r| r.contains("bad.eml") && r.contains("header")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("binary.eml")), "{reasons:?}");
    let e = datasets::load("/no/such/path").unwrap_err();
    assert!(e.to_string().contains("/no/such/path"));
}

#[test]
fn malformed_protocol_messages_get_errors_not_panics() {
    let server = Server::new(MemoryStore::new());
    let good = protocol::encode(&Request::GetSchema);
    let mut wrong_version = good.clone();
    wrong_version[0] = 7;
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![], 400),
        (vec![0], 400),
        (wrong_version, 422),
        (vec![0, 1, 0xff, 0xff, 0xff, 0xff, 0xff], 400),
        (protocol::encode(&Request::GetDocuments(vec![1, 2]))[..4].to_vec(), 400),
        ([good.as_slice(), &[0]].concat(), 400),
    ];
    for (bytes, code) in cases {
        match protocol::decode::<Response>(&server.handle_bytes("t", &bytes)).unwrap() {
            Response::Error { code: c, message } => assert_eq!(c, code, "{message}"),
            other => panic!("expected an error for {bytes:?}, got {other:?}"),
        }
    }
    // Random bodies never panic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..400usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x & 0xff) as u8
            })
            .collect();
        let _ = protocol::decode::<Response>(&server.handle_bytes("t", &bytes)).unwrap();
    }
    // Over-deep queries are refused.
    let mut q = BlindQuery::Token(BlindToken { index: "body".into(), value: 1 });
    for _ in 0..40 {
        q = BlindQuery::And(vec![q]);
    }
    assert!(matches!(
        server.handle("t", Request::BlindSearch { query: q, fetch_documents: false }),
        Response::Error { code: 400, .. }
    ));
}

#[test]
fn unknown_keyword_and_tenant_give_empty_results() {
    let msgs = Synthetic::new(2).generate(100);
    let (client, _) = common::client_with(MemoryStore::new(), &msgs, None);
    assert!(client.search(&Query::term("body", &["neverseenword"])).unwrap().ids.is_empty());
    let server = client.transport().server();
    let q = BlindQuery::Token(BlindToken { index: "body".into(), value: 3 });
    match server.handle("other-tenant", Request::BlindSearch { query: q, fetch_documents: true }) {
        Response::BlindResult { ids, documents } => assert!(ids.is_empty() && documents.is_empty()),
        other => panic!("{other:?}"),
    }
}
