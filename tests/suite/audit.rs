//! The audit log on a real store, through `sseek audit`: a run of two
//! tenants (ingest, searches, SSE, a delete, an erasure) verifies; removing,
//! editing or swapping any one record, or cutting the end (head rewritten
//! to match), is detected; `audit show --tenant` prints only that tenant's
//! records; and a canary scan of every audit byte finds no plaintext, no
//! tenant name, no blind token, no SSE label and no API token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use sseek::blind::default_index_specs;
use sseek::client::Client;
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::protocol::DocId;
use sseek::server::Server;
use sseek::server::http::auth;
use sseek::sse::{self, SseIndex};
use sseek::store::keyspace::keyspace;
use sseek::store::{RedbStore, Store, Table, WriteBatch};
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

use common::served::BIN;

const RECORD_PREFIX: &[u8] = b"\0audit/r/";

fn record_key(seq: u64) -> Vec<u8> {
    let mut k = RECORD_PREFIX.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Two tenants' work on a redb store; returns the API tokens and canaries
/// (plaintext, names, blind-token keys, SSE labels) that must never be in the log.
fn run(path: &Path) -> Vec<Vec<u8>> {
    let server = Arc::new(Server::new(RedbStore::open(path).unwrap()));
    let mut canaries = Vec::new();
    for (i, tenant) in ["audit-alpha", "audit-bravo"].iter().enumerate() {
        canaries.push(auth::add_token(server.store(), tenant).unwrap().into_bytes());
        canaries.push(tenant.as_bytes().to_vec());
        let master = MasterKey::generate().unwrap();
        let transport = || InProcess::new(Arc::clone(&server), tenant);
        let mut client = Client::connect(master.clone(), tenant, transport(), Tokenizer::default()).unwrap();
        let msgs = Synthetic::new(70 + i as u64).generate(300);
        canaries.extend(msgs.iter().take(20).map(|m| m.body.as_bytes().to_vec()).filter(|b| b.len() >= 12));
        let terms = client.terms(&msgs);
        common::create_planned_schema(&mut client, &terms, 1.0);
        let ids: Vec<DocId> = client.add_messages_with_terms(&msgs, &terms, None).unwrap().collect();
        let pairs: Vec<(DocId, &sseek::message::Terms)> = ids.iter().copied().zip(&terms).collect();
        let scheme = sse::open_client(&master, tenant, &sse::registry::variant_config("mitra").unwrap()).unwrap();
        let mut index = SseIndex::create(transport(), scheme).unwrap();
        index.setup(&sse::multimap(&pairs, &default_index_specs())).unwrap();
        let q = sseek::query::Query::term("from", &[&msgs[0].from]);
        assert!(!client.search(&q).unwrap().ids.is_empty());
        assert!(!index.search(&q).unwrap().is_empty());
        client.delete_messages(&ids[..3]).unwrap();
    }
    let prefix = keyspace("audit-alpha");
    for table in [Table::Postings, Table::Entries] {
        let mut n = 0;
        server
            .store()
            .scan_prefix(table, &prefix, &mut |k, _| {
                n += 1;
                if n % 50 == 0 {
                    // The token or label: the key after the tenant and index name.
                    canaries.push(k[k.len().saturating_sub(16)..].to_vec());
                }
                Ok(true)
            })
            .unwrap();
    }
    server.erase_tenant("audit-bravo").unwrap();
    canaries
}

fn sseek(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn verify(path: &Path, extra: &[&str]) -> (bool, String) {
    let spec = format!("redb:{}", path.display());
    let mut args = vec!["audit", "verify", "--store", spec.as_str()];
    args.extend_from_slice(extra);
    sseek(&args)
}

/// One change to a store.
type Tamper<'a> = Box<dyn FnOnce(&RedbStore) + 'a>;

/// A copy of the store with one change made by `tamper`.
fn tampered(original: &Path, name: &str, tamper: impl FnOnce(&RedbStore)) -> std::path::PathBuf {
    let path = original.with_file_name(format!("{name}.redb"));
    std::fs::copy(original, &path).unwrap();
    tamper(&RedbStore::open(&path).unwrap());
    path
}

#[test]
fn the_audit_log_verifies_detects_every_kind_of_tampering_and_holds_no_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.redb");
    let canaries = run(&path);

    let (ok, said) = verify(&path, &[]);
    assert!(ok, "{said}");
    let records: u64 = said.split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let head = said.trim().rsplit(' ').next().unwrap().to_owned();
    eprintln!("{}", said.trim());
    assert!(records > 20, "{said}");

    // Canary scan of every audit byte.
    let store = RedbStore::open(&path).unwrap();
    let mut audit_bytes = Vec::new();
    store
        .scan_prefix(Table::Meta, b"\0audit/", &mut |k, v| {
            audit_bytes.extend_from_slice(k);
            audit_bytes.extend_from_slice(v);
            Ok(true)
        })
        .unwrap();
    let leaked: Vec<String> = canaries
        .iter()
        .filter(|c| memchr::memmem::find(&audit_bytes, c).is_some())
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    eprintln!("{} canaries against {} bytes of audit log: {} found", canaries.len(), audit_bytes.len(), leaked.len());
    assert!(leaked.is_empty(), "audit log holds {leaked:?}");
    let middle = records / 2;
    let value_of = |seq| store.get(Table::Meta, &record_key(seq)).unwrap().unwrap();
    let (v_mid, v_next, v_last) = (value_of(middle), value_of(middle + 1), value_of(records - 1));
    drop(store);

    // `audit show`: one tenant's records only, and a pseudonym, never the name.
    let spec = format!("redb:{}", path.display());
    let (ok, shown) = sseek(&["audit", "show", "--store", &spec, "--tenant", "audit-alpha"]);
    assert!(ok, "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.len() > 10 && lines.len() < records as usize, "{} of {records} records", lines.len());
    let pseudonym = lines[0].split("tenant=").nth(1).unwrap().split(' ').next().unwrap();
    assert!(lines.iter().all(|l| l.contains(&format!("tenant={pseudonym}")) && !l.contains("audit-alpha")));
    let (ok, erased) = sseek(&["audit", "show", "--store", &spec, "--tenant", "audit-bravo"]);
    assert!(!ok && erased.contains("erased"), "an erased tenant's records are still linked: {erased}");

    let cases: Vec<(&str, Tamper<'_>, String)> = vec![
        (
            "removed",
            Box::new(|s: &RedbStore| {
                let mut b = WriteBatch::new();
                b.delete(Table::Meta, record_key(middle));
                s.write(b).unwrap();
            }),
            format!("record {middle}"),
        ),
        (
            "altered",
            Box::new(|s: &RedbStore| {
                let mut v = v_mid.clone();
                let at = v.len() / 2;
                v[at] ^= 1;
                let mut b = WriteBatch::new();
                b.put(Table::Meta, record_key(middle), v);
                s.write(b).unwrap();
            }),
            format!("record {middle}"),
        ),
        (
            "swapped",
            Box::new(|s: &RedbStore| {
                let mut b = WriteBatch::new();
                b.put(Table::Meta, record_key(middle), v_next.clone());
                b.put(Table::Meta, record_key(middle + 1), v_mid.clone());
                s.write(b).unwrap();
            }),
            format!("record {middle}"),
        ),
        (
            "last removed",
            Box::new(|s: &RedbStore| {
                let mut b = WriteBatch::new();
                b.delete(Table::Meta, record_key(records - 1));
                s.write(b).unwrap();
            }),
            format!("{}", records - 1),
        ),
    ];
    for (name, tamper, expected) in cases {
        let copy = tampered(&path, &name.replace(' ', "-"), tamper);
        let (ok, said) = verify(&copy, &[]);
        eprintln!("{name}: {}", said.trim());
        assert!(!ok, "{name}: not detected");
        assert!(said.contains(&expected), "{name}: the error does not name {expected}: {said}");
    }
    // Cutting the end and rewriting the head to match passes the chain,
    // but not a head recorded earlier.
    let cut = tampered(&path, "cut", |s| {
        let mut b = WriteBatch::new();
        b.delete(Table::Meta, record_key(records - 1));
        s.write(b).unwrap();
        // The head of a log one record shorter: what the previous record's successor would name.
        let prev: [u8; 32] = {
            let last: sseek::server::audit::AuditRecord = postcard::from_bytes(&v_last).unwrap();
            last.prev
        };
        let mut head = postcard::to_stdvec(&(records - 1)).unwrap();
        head.extend_from_slice(&postcard::to_stdvec(&prev).unwrap());
        let mut b = WriteBatch::new();
        b.put(Table::Meta, b"\0audit/head".to_vec(), head);
        s.write(b).unwrap();
    });
    let (ok, said) = verify(&cut, &[]);
    assert!(ok, "a consistently cut log should pass the chain alone: {said}");
    let (ok, said) = verify(&cut, &["--expect-head", &head]);
    eprintln!("cut with a rewritten head: {}", said.trim());
    assert!(!ok && said.contains("cut from the end"), "{said}");
}
