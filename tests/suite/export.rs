//! Right of access: `sseek export` writes every message of the shipped
//! corpus as JSONL; `sseek index` takes the file into a fresh account
//! (another key, another store), and every query gives the same messages
//! there as in the original account and as the plaintext oracle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use sseek::blind::default_index_specs;
use sseek::client::Client;
use sseek::datasets;
use sseek::keys::Keyring;
use sseek::oracle::PlainIndex;
use sseek::protocol::DocId;
use sseek::server::Server;
use sseek::store::RedbStore;
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

use common::served::BIN;

fn sseek(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "sseek {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn client(key: &Path, store_dir: &Path) -> Client<InProcess<RedbStore>> {
    let server = Arc::new(Server::new(RedbStore::open(&store_dir.join("server.redb")).unwrap()));
    let ring = Keyring::load(key).unwrap();
    Client::connect_keyring(&ring, "default", InProcess::new(server, "default"), Tokenizer::default()).unwrap()
}

#[test]
fn an_export_of_the_shipped_corpus_reimported_into_a_fresh_account_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let (key1, key2, store1, store2, out) = (p("one.key"), p("two.key"), p("one"), p("two"), p("export.jsonl"));
    sseek(&["keygen", "--key", &key1]);
    sseek(&["keygen", "--key", &key2]);
    sseek(&["index", "--key", &key1, "--store", &store1, "--dataset", datasets::SPAMASSASSIN]);
    let said = sseek(&["export", "--key", &key1, "--store", &store1, "--out", &out]);
    let corpus = datasets::load(datasets::SPAMASSASSIN).unwrap();
    assert!(said.contains(&format!("exported {} messages", corpus.messages.len())), "{said}");
    // Refuses to overwrite; a wrong key opens nothing.
    assert!(
        !Command::new(BIN)
            .args(["export", "--key", &key1, "--store", &store1, "--out", &out])
            .status()
            .unwrap()
            .success()
    );
    let wrong = Command::new(BIN)
        .args(["export", "--key", &key2, "--store", &store1, "--out", &p("x.jsonl")])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(!dir.path().join("x.jsonl").exists(), "a failed export left a file");

    let exported = datasets::load(&out).unwrap();
    assert!(exported.skipped.is_empty());
    assert_eq!(exported.messages, corpus.messages, "the export is not the corpus, in order");
    sseek(&["index", "--key", &key2, "--store", &store2, "--dataset", &out]);

    let (one, two) = (client(Path::new(&key1), Path::new(&store1)), client(Path::new(&key2), Path::new(&store2)));
    let mut oracle = PlainIndex::new();
    for (id, m) in corpus.messages.iter().enumerate() {
        oracle.add(id as DocId, &m.terms(one.tokenizer()));
    }
    let queries = common::spread_queries(&oracle, 12);
    let mut mismatches = 0;
    for q in &queries {
        let expected: Vec<DocId> = oracle.eval(q, &default_index_specs()).unwrap().iter().collect();
        let (a, b) = (one.search(q).unwrap(), two.search(q).unwrap());
        if a.ids != expected || b.ids != expected || a.messages != b.messages {
            mismatches += 1;
        }
    }
    eprintln!(
        "{} messages exported and re-imported, {} queries, {mismatches} mismatches",
        corpus.messages.len(),
        queries.len()
    );
    assert_eq!(mismatches, 0);
}
