//! Replays every input of the fuzz corpora (`fuzz/corpus/TARGET/`) through
//! the same checks the cargo-fuzz targets run, without libFuzzer: each
//! `cargo test` re-checks every input the fuzzers kept (the coverage-
//! increasing ones and any that once crashed).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} has no inputs", dir.display());
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: input {} fails the check", path.display());
    }
    eprintln!("{target}: {} inputs replayed", inputs.len());
}

#[test]
fn request_corpus() {
    replay("request", checks::request);
}

#[test]
fn response_corpus() {
    replay("response", checks::response);
}

#[test]
fn stored_value_corpus() {
    replay("stored_value", checks::stored_value);
}

#[test]
fn key_file_corpus() {
    replay("key_file", checks::key_file);
}

#[test]
fn backup_file_corpus() {
    replay("backup_file", checks::backup_file);
}

#[test]
fn audit_log_corpus() {
    replay("audit_log", checks::audit_log);
}

#[test]
fn state_file_corpus() {
    replay("state_file", checks::state_file);
}

/// Writes the seed inputs the fuzzers start from: one valid encoding of
/// each request and response kind, stored values of every kind, a key file.
/// Run by hand after a format change (`cargo test --test suite
/// fuzz_corpus::seeds -- --ignored`); the fuzzers then grow the corpora from these.
#[test]
#[ignore = "writes fuzz/corpus seeds; run by hand after a format change"]
fn seeds() {
    use sseek::protocol::*;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        std::fs::create_dir_all(root.join(target)).unwrap();
        std::fs::write(root.join(target).join(format!("seed-{name}")), bytes).unwrap();
    };
    let doc = EncryptedDocument {
        public: PublicMetadata { tenant: "fuzz".into(), doc_id: 5, envelope_version: 1 },
        nonce: [1; 16],
        sealed: vec![9; 40],
    };
    let token = BlindToken { index: "body".into(), value: 77 };
    let query = BlindQuery::And(vec![BlindQuery::Token(token.clone()), BlindQuery::Or(vec![BlindQuery::Token(token)])]);
    let descriptor = SseDescriptor {
        instance: "pibas".into(),
        scheme: "pibas".into(),
        block: 1,
        response_revealing: true,
        key_version: 1,
    };
    let schema = Schema {
        indexes: vec![IndexDescriptor { name: "body".into(), fields: vec![sseek::message::Field::Body], bits: 20 }],
        next_doc_id: 9,
    };
    let requests = [
        ("put", Request::PutDocuments(vec![doc.clone()])),
        ("get", Request::GetDocuments(vec![1, 5])),
        (
            "postings",
            Request::InsertBlindPostings(BlindPostings { index: "body".into(), postings: vec![(77, vec![5])] }),
        ),
        ("search", Request::BlindSearch { query, fetch_documents: true }),
        ("schema", Request::PutSchema(schema.clone())),
        ("sse-create", Request::SseCreate(descriptor.clone())),
        (
            "sse-insert",
            Request::SseInsert {
                instance: "pibas".into(),
                entries: vec![EncryptedEntry { location: EntryLocation::Dictionary([3; 16]), value: vec![1; 20] }],
            },
        ),
        (
            "sse-search-mitra",
            Request::SseSearch { instance: "pibas".into(), token: SearchToken::Addresses(vec![[3; 16]]) },
        ),
        (
            "sse-search-diana",
            Request::SseSearch {
                instance: "d".into(),
                token: SearchToken::Ggm {
                    nodes: vec![GgmNode { depth: 0, index: 0, seed: [4; 16] }],
                    count: 3,
                    hash_key: [5; 16],
                },
            },
        ),
        ("delete", Request::DeleteDocuments(vec![5])),
        ("list", Request::ListDocumentIds { after: Some(1), limit: 10 }),
    ];
    for (name, r) in &requests {
        write("request", name, &encode(r));
    }
    write("request", "json", to_json(&requests[3].1).unwrap().as_bytes());
    let responses = [
        ("documents", Response::Documents(vec![doc.clone()])),
        ("blind", Response::BlindResult { ids: vec![5], documents: vec![doc.clone()] }),
        ("schema", Response::Schema(Some(schema.clone()))),
        ("sse", Response::SseResult(SearchResult::Values(vec![vec![1; 24]]))),
        ("error", Response::Error { code: 400, message: "bad".into() }),
    ];
    for (name, r) in &responses {
        write("response", name, &encode(r));
    }
    let mut bitmap = Vec::new();
    roaring::RoaringBitmap::from_iter([1u32, 5, 70_000]).serialize_into(&mut bitmap).unwrap();
    let stored: [(&str, u8, Vec<u8>); 5] = [
        ("document", 0, encode(&doc)),
        ("schema", 1, encode(&schema)),
        ("postings", 2, bitmap),
        ("descriptor", 3, encode(&descriptor)),
        ("entry", 7, vec![0; 48]),
    ];
    for (name, selector, value) in stored {
        write("stored_value", name, &[&[selector][..], &value].concat());
    }
    for pick in 0..sseek::sse::registry::VARIANT_NAMES.len() as u8 {
        write("stored_value", &format!("entry-{pick}"), &[&[3 + 4 * pick][..], &[0x55; 33][..]].concat());
    }
    let dir = tempfile::tempdir().unwrap();
    let key = sseek::keys::MasterKey::from_bytes([7; 32]);
    key.save(&dir.path().join("k")).unwrap();
    write("key_file", "key", &std::fs::read(dir.path().join("k")).unwrap());
    let backup = key.export_wrapped("passphrase", sseek::keys::WrapParams { m_cost_kib: 8, t_cost: 1, p_cost: 1 });
    if let Ok(text) = backup {
        write("key_file", "backup", text.as_bytes());
    }
    let store = sseek::store::MemoryStore::new();
    let mut batch = sseek::store::WriteBatch::new();
    batch.put(sseek::store::Table::Documents, b"\x04fuzz\x00\x00\x00\x01".to_vec(), vec![5; 40]);
    batch.put(sseek::store::Table::Meta, b"\x04fuzzschema".to_vec(), vec![1, 2, 3]);
    sseek::store::Store::write(&store, batch).unwrap();
    let mut file = Vec::new();
    sseek::store::lifecycle::backup(&store, "seed", &mut file, None).unwrap();
    write("backup_file", "two-entries", &file);
    let mut empty = Vec::new();
    sseek::store::lifecycle::backup(&sseek::store::MemoryStore::new(), "seed", &mut empty, None).unwrap();
    write("backup_file", "empty", &empty);
    let audited = sseek::server::Server::new(sseek::store::MemoryStore::new());
    audited.handle("fuzz", Request::Stats);
    audited.handle("fuzz", Request::GetSchema);
    audited.flush_audit().unwrap();
    let mut pieces = Vec::new();
    sseek::store::Store::scan_prefix(audited.store(), sseek::store::Table::Meta, b"\0audit/", &mut |k, v| {
        pieces.push((k.to_vec(), v.to_vec()));
        Ok(true)
    })
    .unwrap();
    // Records in order, then the head ("head" sorts before "r/").
    pieces.rotate_left(1);
    let mut audit = vec![pieces.len() as u8 - 1];
    let size = pieces.iter().map(|(_, v)| v.len()).max().unwrap();
    for (_, v) in &pieces {
        let mut padded = v.clone();
        padded.resize(size, 0);
        audit.extend_from_slice(&padded);
    }
    write("audit_log", "two-records", &audit);
    write("state_file", "empty", b"");
    write("state_file", "counters", &[1, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 3]);
}
