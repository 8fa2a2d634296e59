//! What each fuzz target checks, shared by the cargo-fuzz targets and the
//! corpus replay in `tests/suite/fuzz_corpus.rs`. Each takes arbitrary bytes and
//! drives a real entry point that reads untrusted input; the only failure
//! is a panic (or a sanitizer report), since every decoder must answer
//! bad input with an error.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use sseek::keys::MasterKey;
use sseek::protocol::{self, EncryptedEntry, Request, Response, SearchResult};
use sseek::server::Server;
use sseek::sse::{self, SchemeClient, Update, UpdateOp};
use sseek::store::MemoryStore;

const TENANT: &str = "fuzz";

/// A fixed key: the same input must take the same path on every run.
fn master() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

/// A scratch directory for targets whose entry point reads a file.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sseek-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A request as the server receives it (binary, and JSON when the bytes are
/// UTF-8), dispatched on an in-memory server: decoding, validation and
/// whatever the request does. The answer must decode as a response.
pub(crate) fn request(data: &[u8]) {
    let server = Server::new(MemoryStore::new());
    let answer = server.handle_bytes(TENANT, data);
    protocol::decode::<Response>(&answer).expect("the server's answer decodes");
    if let Ok(req) = protocol::decode::<Request>(data) {
        // What decodes survives a round trip (postcard also accepts
        // overlong varints, so the bytes themselves may differ).
        assert_eq!(protocol::decode::<Request>(&protocol::encode(&req)).unwrap(), req);
    }
    if let Some(req) = std::str::from_utf8(data).ok().and_then(|text| protocol::from_json::<Request>(text).ok()) {
        let _ = server.handle(TENANT, req);
    }
}

/// A response as a client receives it, binary and JSON.
pub(crate) fn response(data: &[u8]) {
    if let Ok(resp) = protocol::decode::<Response>(data) {
        assert_eq!(protocol::decode::<Response>(&protocol::encode(&resp)).unwrap(), resp);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = protocol::from_json::<Response>(text);
    }
}

/// A stored value the server reads back, damaged: the first byte picks what
/// it stands for (a document, the schema, a posting list, an SSE descriptor,
/// or an index entry of one SSE scheme), the rest is its value. The server
/// answers the request that reads it, and for SSE the client opens the
/// answer, as a client of a server with a damaged store would.
pub(crate) fn stored_value(data: &[u8]) {
    let Some((&selector, value)) = data.split_first() else { return };
    let server = Server::new(MemoryStore::new());
    let store_raw = |table, key: Vec<u8>, value: &[u8]| {
        let mut batch = sseek::store::WriteBatch::new();
        batch.put(table, key, value.to_vec());
        sseek::store::Store::write(server.store(), batch).unwrap();
    };
    use sseek::store::Table;
    use sseek::store::keyspace::{document_key, schema_key};
    match selector % 4 {
        0 => {
            store_raw(Table::Documents, document_key(TENANT, 5), value);
            let _ = server.handle(TENANT, Request::GetDocuments(vec![5]));
            let _ = server.handle(
                TENANT,
                Request::BlindSearch {
                    query: protocol::BlindQuery::Token(protocol::BlindToken { index: "body".into(), value: 1 }),
                    fetch_documents: true,
                },
            );
        }
        1 => {
            store_raw(Table::Meta, schema_key(TENANT), value);
            let _ = server.handle(TENANT, Request::GetSchema);
        }
        2 => {
            let postings = protocol::BlindPostings { index: "body".into(), postings: vec![(1, vec![5])] };
            assert_eq!(server.handle(TENANT, Request::InsertBlindPostings(postings)), Response::Ok);
            // Overwrite the one posting list just written with the fuzz bytes.
            let mut keys = Vec::new();
            sseek::store::Store::scan_prefix(server.store(), Table::Postings, &[], &mut |k, _| {
                keys.push(k.to_vec());
                Ok(true)
            })
            .unwrap();
            store_raw(Table::Postings, keys.pop().unwrap(), value);
            let token = protocol::BlindToken { index: "body".into(), value: 1 };
            let _ = server.handle(
                TENANT,
                Request::BlindSearch { query: protocol::BlindQuery::Token(token.clone()), fetch_documents: true },
            );
            let _ = server.handle(
                TENANT,
                Request::InsertBlindPostings(protocol::BlindPostings {
                    index: "body".into(),
                    postings: vec![(1, vec![6])],
                }),
            );
        }
        _ => sse_entry(&server, selector / 4, value),
    }
}

/// An SSE instance of the variant `pick` selects, built over a small
/// multimap, with one stored entry (or the descriptor) replaced by `value`.
fn sse_entry(server: &Server<MemoryStore>, pick: u8, value: &[u8]) {
    let names = sse::registry::VARIANT_NAMES;
    let name = names[usize::from(pick) % names.len()];
    let config = sse::registry::variant_config(name).unwrap();
    let mut scheme = sse::open_client(&master(), TENANT, &config).unwrap();
    let descriptor = scheme.descriptor().clone();
    assert_eq!(server.handle(TENANT, Request::SseCreate(descriptor.clone())), Response::Ok);
    let keyword = sse::keyword("body", &["word"]);
    let ids: Vec<u32> = (0..40).collect();
    let mut entries: Vec<EncryptedEntry> = Vec::new();
    match &mut scheme {
        SchemeClient::Static(s) => {
            let db =
                [(keyword.clone(), ids.clone()), (sse::keyword("body", &["other"]), vec![3, 9])].into_iter().collect();
            s.setup(&db, &mut |chunk| {
                entries.extend(chunk);
                Ok(())
            })
            .unwrap();
        }
        SchemeClient::Dynamic(d) => {
            let updates: Vec<Update> =
                ids.iter().map(|id| Update { op: UpdateOp::Add, keyword: keyword.clone(), id: *id }).collect();
            entries = d.update(&updates).unwrap();
        }
    }
    // The fuzz bytes replace one entry's value (which one: their length),
    // or the descriptor when they are short.
    if value.len() < 2 {
        let mut batch = sseek::store::WriteBatch::new();
        let mut key = None;
        sseek::store::Store::scan_prefix(server.store(), sseek::store::Table::Meta, &[], &mut |k, _| {
            key = Some(k.to_vec());
            Ok(true)
        })
        .unwrap();
        batch.put(sseek::store::Table::Meta, key.unwrap(), value.to_vec());
        sseek::store::Store::write(server.store(), batch).unwrap();
    } else if !entries.is_empty() {
        let at = value.len() % entries.len();
        entries[at].value = value.to_vec();
    }
    let insert = Request::SseInsert { instance: descriptor.instance.clone(), entries };
    let inserted = server.handle(TENANT, insert);
    let token = match &scheme {
        SchemeClient::Static(s) => s.token(&keyword),
        SchemeClient::Dynamic(d) => d.token(&keyword).unwrap(),
    };
    let answer = server.handle(TENANT, Request::SseSearch { instance: descriptor.instance.clone(), token });
    if inserted != Response::Ok {
        return;
    }
    if let Response::SseResult(result) = answer {
        let result: SearchResult = result;
        let _ = match &mut scheme {
            SchemeClient::Static(s) => s.resolve(&keyword, result),
            SchemeClient::Dynamic(d) => d.resolve(&keyword, result),
        };
    }
}

/// A key file and a passphrase backup, as `sseek` opens them.
pub(crate) fn key_file(data: &[u8]) {
    let path = scratch().join("key");
    std::fs::write(&path, data).unwrap();
    let _ = MasterKey::load(&path);
    if let Ok(ring) = sseek::keys::Keyring::load(&path) {
        // What opens writes back as a keyring of the same versions.
        let again = scratch().join("key-again");
        std::fs::write(&again, &*ring.to_file_bytes()).unwrap();
        let back = sseek::keys::Keyring::load(&again).unwrap();
        assert_eq!((back.versions(), back.current_version()), (ring.versions(), ring.current_version()));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = MasterKey::import_wrapped(text, "passphrase");
    }
    // A device key file: what opens writes back byte for byte.
    if let Ok(pair) = sseek::keys::device::DeviceKeyPair::load(&path) {
        assert_eq!(&pair.to_file_bytes()[..], data);
    }
    sealed_device_keyring(data);
}

/// The bytes as a keyring sealed to a device, stored in its slot on the
/// server: opening them is an error, never a panic.
fn sealed_device_keyring(data: &[u8]) {
    use sseek::client::devices;
    use sseek::keys::device::DeviceKeyPair;
    let server = std::sync::Arc::new(Server::new(MemoryStore::new()));
    let transport = sseek::transport::InProcess::new(server, TENANT);
    let device = DeviceKeyPair::from_secret(&[9; 32]).unwrap();
    let instance = devices::slot_instance(&device.fingerprint());
    let put = Request::PutClientState { instance, version: 1, sealed: data.to_vec() };
    sseek::transport::Transport::call(&transport, &put).unwrap();
    assert!(devices::open_keyring(&device, TENANT, &transport).is_err());
}

/// A dynamic scheme's sealed state file: the raw file as found on disk, and
/// the bytes sealed under the right key, so the state decoder behind the
/// seal is reached too.
pub(crate) fn state_file(data: &[u8]) {
    let path = scratch().join("state");
    for scheme in ["mitra", "diana"] {
        let mut config = sse::SchemeConfig::new(scheme, "fuzz");
        config.state_path = Some(path.clone());
        std::fs::write(&path, data).unwrap();
        let _ = sse::open_client(&master(), TENANT, &config);
        let sealer = sseek::state::StateFile::new(&master(), TENANT, scheme, "fuzz", 1).unwrap();
        sealer.save(&path, &RawBytes(data)).unwrap();
        let _ = sse::open_client(&master(), TENANT, &config);
    }
}

/// Serializes as its bytes with no length prefix (a tuple of bytes is
/// written as is by postcard), so the sealed plaintext is exactly the input.
struct RawBytes<'a>(&'a [u8]);

impl serde::Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for b in self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

/// A backup file as `sseek backup verify` and `sseek restore` read it: the
/// check and the restore agree (a file that fails the check restores
/// nothing; one that passes restores exactly the entries read).
pub(crate) fn backup_file(data: &[u8]) {
    use sseek::store::{Store, lifecycle};
    let checked = sseek::store::backup::verify(data);
    let target = MemoryStore::new();
    let restored = lifecycle::restore_from_bytes(data, &target, None);
    let mut entries = 0u64;
    target
        .snapshot(&mut |_, _, _| {
            entries += 1;
            Ok(true)
        })
        .unwrap();
    match (checked, restored) {
        (Ok(summary), Ok(_)) => assert_eq!(entries, summary.total_entries() - dropped_markers(data)),
        (Err(_), Err(_)) => assert_eq!(entries, 0, "a refused backup wrote entries"),
        (c, r) => panic!("verify and restore disagree: {:?} vs {:?}", c.map(|_| ()), r.map(|_| ())),
    }
}

/// Entries a restore leaves out although the file holds them: a restore
/// marker (it is removed at the end) and later duplicates of a key.
fn dropped_markers(data: &[u8]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut dropped = 0;
    let reader = sseek::store::backup::BackupReader::new(data).unwrap();
    reader
        .read_entries(&mut |t, k, _| {
            if !seen.insert((t, k.to_vec())) || (t == sseek::store::Table::Meta && k == sseek::store::RESTORE_MARKER) {
                dropped += 1;
            }
            Ok(())
        })
        .unwrap();
    dropped
}

/// Stored audit records and head as `sseek audit verify` and the server
/// read them: the first byte says how many records the rest is cut into
/// (the last piece is the head).
pub(crate) fn audit_log(data: &[u8]) {
    use sseek::server::audit;
    use sseek::store::{Store, Table, WriteBatch};
    let Some((&n, rest)) = data.split_first() else { return };
    let pieces = usize::from(n % 8) + 1;
    let size = rest.len().div_ceil(pieces).max(1);
    let store = MemoryStore::new();
    let mut batch = WriteBatch::new();
    let chunks: Vec<&[u8]> = rest.chunks(size).collect();
    for (seq, chunk) in chunks.iter().enumerate() {
        let key = if seq + 1 == chunks.len() {
            b"\0audit/head".to_vec()
        } else {
            [&b"\0audit/r/"[..], &(seq as u64).to_be_bytes()].concat()
        };
        batch.put(Table::Meta, key, chunk.to_vec());
    }
    store.write(batch).unwrap();
    let _ = audit::verify(&store);
    let _ = audit::visit(&store, None, None, &mut |r| Ok(!r.to_line().is_empty()));
    if let Ok(log) = audit::AuditLog::open(&store) {
        let _ = log.record(&store, audit::AuditEvent { operation: "Fuzz".into(), ..Default::default() });
        let _ = log.flush(&store);
    }
}
