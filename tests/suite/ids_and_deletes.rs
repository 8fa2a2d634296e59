//! Document ids allocated by the server, atomic ingest, and deletes that
//! keep every search path exact: the blind index and every SSE scheme
//! after deleting 10% of a corpus (0 mismatches against an oracle without
//! those messages), four parallel ingests into one tenant over HTTP, and
//! the server's refusals (unreserved, reused and deleted ids, postings of
//! ids outside the batch, a second schema) that leave nothing half-written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use roaring::RoaringBitmap;
use sseek::blind::default_index_specs;
use sseek::client::Client;
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::message::{Field, IndexSpec, Message, Terms};
use sseek::oracle::PlainIndex;
use sseek::protocol::{
    BlindPostings, DocId, EncryptedDocument, IngestBatch, PublicMetadata, Request, Response, Schema,
};
use sseek::query::Query;
use sseek::server::Server;
use sseek::sse::{self, SchemeClient, SseIndex, Update, UpdateOp};
use sseek::store::{MemoryStore, RedbStore, Store, Table};
use sseek::text::Tokenizer;
use sseek::transport::{Http, InProcess, Transport};

/// Queries over the corpus: single values of every single-field index
/// across the frequency range, and ANDs and ORs of pairs of them.
fn workload(oracle: &PlainIndex, specs: &[IndexSpec], seed: u64) -> Vec<Query> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut terms = Vec::new();
    for spec in specs.iter().filter(|s| s.fields.len() == 1) {
        let mut values = oracle.frequencies(spec.fields[0]);
        values.sort_by_key(|(v, n)| (std::cmp::Reverse(*n), v.to_string()));
        let step = (values.len() / 12).max(1);
        for (v, _) in values.iter().step_by(step).take(12) {
            terms.push(Query::term(&spec.name, &[v]));
        }
    }
    let mut out = terms.clone();
    for _ in 0..20 {
        let pair: Vec<Query> = terms.choose_multiple(&mut rng, 2).cloned().collect();
        out.push(Query::And(pair.clone()));
        out.push(Query::Or(pair));
    }
    out
}

fn oracle_of(ids: &[DocId], terms: &[Terms], skip: &BTreeSet<DocId>) -> PlainIndex {
    let mut oracle = PlainIndex::new();
    for (id, t) in ids.iter().zip(terms) {
        if !skip.contains(id) {
            oracle.add(*id, t);
        }
    }
    oracle
}

#[test]
fn deleting_a_tenth_of_the_corpus_keeps_the_blind_index_and_every_sse_scheme_exact() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::new(RedbStore::open(&dir.path().join("s.redb")).unwrap()));
    let master = MasterKey::generate().unwrap();
    let transport = || InProcess::new(Arc::clone(&server), "t");
    let mut client = Client::connect(master.clone(), "t", transport(), Tokenizer::default()).unwrap();
    let msgs = Synthetic::new(11).generate(1_500);
    let terms = client.terms(&msgs);
    common::create_planned_schema(&mut client, &terms, 1.0);
    let range = client.add_messages_with_terms(&msgs, &terms, None).unwrap();
    let ids: Vec<DocId> = range.collect();
    let specs = default_index_specs();
    let pairs: Vec<(DocId, &Terms)> = ids.iter().copied().zip(&terms).collect();
    let db = sse::multimap(&pairs, &specs);
    let mut indexes: Vec<(&str, SseIndex<InProcess<RedbStore>>)> = sse::registry::VARIANT_NAMES
        .iter()
        .map(|name| {
            let scheme = sse::open_client(&master, "t", &sse::registry::variant_config(name).unwrap()).unwrap();
            let mut index = SseIndex::create(transport(), scheme).unwrap();
            index.setup(&db).unwrap();
            (*name, index)
        })
        .collect();

    // Delete 10%, at random.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut shuffled = ids.clone();
    shuffled.shuffle(&mut rng);
    let gone: BTreeSet<DocId> = shuffled[..ids.len() / 10].iter().copied().collect();
    let gone_list: Vec<DocId> = gone.iter().copied().collect();
    assert_eq!(client.delete_messages(&gone_list).unwrap(), gone_list);
    assert_eq!(client.delete_messages(&gone_list).unwrap(), Vec::<DocId>::new(), "a second delete finds nothing");
    // Mitra deletes natively: one delete update per pair of each gone message.
    let removals: Vec<Update> = pairs
        .iter()
        .filter(|(id, _)| gone.contains(id))
        .flat_map(|(id, t)| {
            sse::keywords_of(t, &specs).into_iter().map(|keyword| Update { op: UpdateOp::Delete, keyword, id: *id })
        })
        .collect();
    for (_, index) in
        indexes.iter_mut().filter(|(_, i)| matches!(i.scheme(), SchemeClient::Dynamic(d) if d.supports_delete()))
    {
        index.update(&removals).unwrap();
    }

    // The postings at rest name no deleted message: the delete removed them.
    let mut stale = 0u64;
    server
        .store()
        .scan_prefix(Table::Postings, &[], &mut |_, v| {
            let bitmap = RoaringBitmap::deserialize_from(v).unwrap();
            stale += gone.iter().filter(|id| bitmap.contains(**id)).count() as u64;
            Ok(true)
        })
        .unwrap();
    assert_eq!(stale, 0, "postings of deleted messages left at rest");

    let oracle = oracle_of(&ids, &terms, &gone);
    let queries = workload(&oracle, &specs, 5);
    let mut mismatches = Vec::new();
    for q in &queries {
        let expected: Vec<DocId> = oracle.eval(q, &specs).unwrap().iter().collect();
        let blind = client.search(q).unwrap().ids;
        if blind != expected {
            mismatches.push(format!("blind {q}: {} vs {}", blind.len(), expected.len()));
        }
        for (name, index) in &mut indexes {
            let got = index.search(q).unwrap();
            if got != expected {
                mismatches.push(format!("{name} {q}: {} vs {}", got.len(), expected.len()));
            }
        }
    }
    eprintln!(
        "{} queries x {} search paths after deleting {} of {} messages",
        queries.len(),
        indexes.len() + 1,
        gone.len(),
        ids.len()
    );
    assert!(mismatches.is_empty(), "{} mismatches: {:?}", mismatches.len(), &mismatches[..mismatches.len().min(10)]);

    // Mitra's own answer drops deleted ids even before tombstones apply.
    let (_, mitra) = indexes.iter_mut().find(|(n, _)| *n == "mitra").unwrap();
    let (id, t) = pairs.iter().find(|(id, _)| gone.contains(id)).unwrap();
    let keyword = sse::keywords_of(t, &specs).remove(0);
    assert!(!mitra.search_keyword(&keyword).unwrap().contains(id));

    // A REST-style delete (no tokens) leaves postings, yet no search fails or names the message.
    let victim = *ids.iter().find(|id| !gone.contains(id)).unwrap();
    let r = transport().call(&Request::DeleteDocuments(vec![victim])).unwrap();
    assert_eq!(r, Response::DocumentIds(vec![victim]));
    for q in &queries {
        assert!(!client.search(q).unwrap().ids.contains(&victim));
        assert!(!client.candidates(q).unwrap().contains(&victim));
        for (_, index) in &mut indexes {
            assert!(!index.search(q).unwrap().contains(&victim));
        }
    }
}

#[test]
fn four_parallel_ingests_into_one_tenant_over_http_lose_nothing() {
    let (_dir, served, tokens) = common::served::Served::on_redb(&["shared"], &[]);
    let token = &tokens[0];
    let master = MasterKey::generate().unwrap();
    let corpora: Vec<Vec<Message>> = (0..4).map(|i| Synthetic::new(100 + i).generate(500)).collect();
    let ranges: Vec<Vec<DocId>> = std::thread::scope(|s| {
        let handles: Vec<_> = corpora
            .iter()
            .map(|msgs| {
                let (url, token, master) = (served.url.clone(), token.clone(), master.clone());
                s.spawn(move || {
                    let mut client =
                        Client::connect(master, "shared", Http::new(&url, &token), Tokenizer::default()).unwrap();
                    let terms = client.terms(msgs);
                    if client.schema().is_none() {
                        // Each plans from its own corpus; the server keeps the first schema, the others adopt it.
                        common::create_planned_schema(&mut client, &terms, 4.0);
                    }
                    let mut ids = Vec::new();
                    // In several calls, so the ingests interleave.
                    for (chunk, chunk_terms) in msgs.chunks(100).zip(terms.chunks(100)) {
                        ids.extend(client.add_messages_with_terms(chunk, chunk_terms, None).unwrap());
                    }
                    ids
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: BTreeSet<DocId> = ranges.iter().flatten().copied().collect();
    assert_eq!(all.len(), 2_000, "the four ingests got overlapping ids");

    let client = Client::connect(master, "shared", Http::new(&served.url, token), Tokenizer::default()).unwrap();
    let stored = match client.transport().call(&Request::ListDocumentIds { after: None, limit: 100_000 }).unwrap() {
        Response::DocumentIds(ids) => ids,
        other => panic!("{other:?}"),
    };
    assert_eq!(stored.len(), 2_000);
    let mut oracle = PlainIndex::new();
    let tokenizer = Tokenizer::default();
    for (msgs, ids) in corpora.iter().zip(&ranges) {
        for (m, id) in msgs.iter().zip(ids) {
            oracle.add(*id, &m.terms(&tokenizer));
        }
    }
    let specs = client.specs().to_vec();
    let queries = workload(&oracle, &specs, 9);
    let mismatches = queries
        .iter()
        .filter(|q| client.search(q).unwrap().ids != oracle.eval(q, &specs).unwrap().iter().collect::<Vec<_>>())
        .count();
    eprintln!("four parallel ingests of 500 messages: {} queries, {mismatches} mismatches", queries.len());
    assert_eq!(mismatches, 0);
    // Every message is findable: each one's sender finds it.
    for (msgs, ids) in corpora.iter().zip(&ranges) {
        for (m, id) in msgs.iter().zip(ids).step_by(25) {
            let q = Query::parse(&format!("from:{}", m.from), &specs, &tokenizer).unwrap();
            assert!(client.search(&q).unwrap().ids.contains(id), "message {id} not found by its sender");
        }
    }
}

fn document(tenant: &str, id: DocId) -> EncryptedDocument {
    EncryptedDocument {
        public: PublicMetadata { tenant: tenant.into(), doc_id: id, envelope_version: 1 },
        nonce: [1; 16],
        sealed: vec![2; 8],
    }
}

fn batch(tenant: &str, ids: &[DocId], posted: &[DocId]) -> Request {
    Request::Ingest(IngestBatch {
        documents: ids.iter().map(|id| document(tenant, *id)).collect(),
        postings: vec![BlindPostings { index: "body".into(), postings: vec![(9, posted.to_vec())] }],
    })
}

fn code(r: &Response) -> u16 {
    match r {
        Response::Error { code, .. } => *code,
        _ => 200,
    }
}

#[test]
fn the_server_refuses_ids_it_did_not_hand_out_and_writes_nothing_then() {
    let s = Server::new(MemoryStore::new());
    let call = |r: Request| s.handle("t", r);
    let count = |s: &Server<MemoryStore>| s.store().stats(Table::Documents, &[]).unwrap().entries;
    // Nothing reserved yet: id 0 is not this client's to use.
    assert_eq!(code(&call(batch("t", &[0], &[0]))), 409);
    assert_eq!(call(Request::ReserveDocumentIds { count: 3 }), Response::DocumentIdRange { first: 0, end: 3 });
    assert_eq!(call(Request::ReserveDocumentIds { count: 2 }), Response::DocumentIdRange { first: 3, end: 5 });
    assert_eq!(code(&call(batch("t", &[4, 5], &[4]))), 409, "5 is not reserved");
    assert_eq!(code(&call(batch("t", &[1, 1], &[1]))), 409, "an id twice");
    assert_eq!(code(&call(batch("t", &[1, 2], &[3]))), 400, "a posting of an id outside the batch");
    assert_eq!(code(&call(batch("u", &[1], &[1]))), 400, "a document of another tenant");
    assert_eq!(count(&s), 0, "a refused batch writes nothing");
    assert_eq!(call(batch("t", &[0, 1, 2], &[0, 2])), Response::Ok);
    assert_eq!(count(&s), 3);
    assert_eq!(code(&call(batch("t", &[2, 3], &[3]))), 409, "2 holds a document");
    assert_eq!(count(&s), 3, "the refused batch wrote nothing: 3 is still free");
    assert_eq!(call(batch("t", &[3], &[3])), Response::Ok);
    // A delete with a posting of an id it does not delete is refused whole.
    let bad = Request::DeleteMessages {
        ids: vec![0],
        postings: vec![BlindPostings { index: "body".into(), postings: vec![(9, vec![2])] }],
    };
    assert_eq!(code(&call(bad)), 400);
    assert_eq!(count(&s), 4);
    let good = Request::DeleteMessages {
        ids: vec![0, 77],
        postings: vec![BlindPostings { index: "body".into(), postings: vec![(9, vec![0])] }],
    };
    assert_eq!(call(good), Response::DocumentIds(vec![0]));
    // A deleted id is never used again, by ingest or by a REST put.
    assert_eq!(code(&call(batch("t", &[0], &[0]))), 409);
    assert_eq!(code(&call(Request::PutDocuments(vec![document("t", 0)]))), 409);
    let Response::Tombstones(bytes) = call(Request::Tombstones) else { panic!() };
    assert_eq!(RoaringBitmap::deserialize_from(&bytes[..]).unwrap().iter().collect::<Vec<_>>(), vec![0]);
    // A REST put above the counter moves it; the next reservation starts past it.
    assert_eq!(call(Request::PutDocuments(vec![document("t", 40)])), Response::Ok);
    assert_eq!(call(Request::ReserveDocumentIds { count: 1 }), Response::DocumentIdRange { first: 41, end: 42 });
    // Other tenants count from zero.
    assert_eq!(s.handle("u", Request::ReserveDocumentIds { count: 1 }), Response::DocumentIdRange { first: 0, end: 1 });
    // The first schema stays; the same one again is fine, another is a conflict.
    let schema = |bits| Schema {
        indexes: vec![sseek::protocol::IndexDescriptor { name: "body".into(), fields: vec![Field::Body], bits }],
        next_doc_id: 0,
    };
    assert_eq!(call(Request::PutSchema(schema(20))), Response::Ok);
    assert_eq!(call(Request::PutSchema(schema(20))), Response::Ok);
    assert_eq!(code(&call(Request::PutSchema(schema(12)))), 409);
}

#[test]
fn a_store_written_before_reservations_continues_after_its_ids() {
    // An old client wrote documents 0..5 and a schema saying 5 was next; the
    // first reservation starts after both.
    let s = Server::new(MemoryStore::new());
    let old = Schema { indexes: Vec::new(), next_doc_id: 5 };
    assert_eq!(s.handle("t", Request::PutSchema(old)), Response::Ok);
    let mut b = sseek::store::WriteBatch::new();
    for id in [0u32, 1, 7] {
        b.put(
            Table::Documents,
            sseek::store::keyspace::document_key("t", id),
            sseek::protocol::encode(&document("t", id)),
        );
    }
    s.store().write(b).unwrap();
    assert_eq!(
        s.handle("t", Request::ReserveDocumentIds { count: 2 }),
        Response::DocumentIdRange { first: 8, end: 10 }
    );
}

/// A server that hands out a range twice is caught by the client.
#[test]
fn the_client_refuses_a_range_it_was_given_before() {
    /// Forwards everything, but answers every reservation with the first one.
    #[derive(Debug)]
    struct Replaying(InProcess<MemoryStore>, std::sync::Mutex<Option<Response>>);
    impl Transport for Replaying {
        fn call(&self, request: &Request) -> sseek::Result<Response> {
            if matches!(request, Request::ReserveDocumentIds { .. }) {
                let mut first = self.1.lock().unwrap();
                if first.is_none() {
                    *first = Some(self.0.call(request)?);
                }
                return Ok(first.clone().unwrap());
            }
            self.0.call(request)
        }
        fn traffic(&self) -> sseek::transport::Traffic {
            self.0.traffic()
        }
    }
    let server = Arc::new(Server::new(MemoryStore::new()));
    let mut client = Client::connect(
        MasterKey::generate().unwrap(),
        "t",
        Replaying(InProcess::new(server, "t"), std::sync::Mutex::new(None)),
        Tokenizer::default(),
    )
    .unwrap();
    let msgs = Synthetic::new(1).generate(10);
    let terms = client.terms(&msgs);
    common::create_planned_schema(&mut client, &terms, 1.0);
    client.add_messages_with_terms(&msgs, &terms, None).unwrap();
    let err = client.add_messages_with_terms(&msgs, &terms, None).unwrap_err().to_string();
    assert!(err.contains("already holds ids"), "{err}");
}

/// A client refuses a schema whose index list or token lengths changed on
/// the server, or whose tag is gone; an untouched one opens.
#[test]
fn the_client_refuses_a_schema_changed_on_the_server() {
    use sseek::store::keyspace::{schema_key, schema_tag_key};
    let server = Arc::new(Server::new(MemoryStore::new()));
    let master = MasterKey::generate().unwrap();
    let connect =
        || Client::connect(master.clone(), "t", InProcess::new(Arc::clone(&server), "t"), Tokenizer::default());
    let mut client = connect().unwrap();
    let msgs = Synthetic::new(2).generate(50);
    let terms = client.terms(&msgs);
    common::create_planned_schema(&mut client, &terms, 1.0);
    let genuine = client.schema().unwrap().clone();
    assert_eq!(connect().unwrap().schema(), Some(&genuine));
    // Another key's client is refused too: the tag is under the tenant's key.
    let other = Client::connect(
        MasterKey::generate().unwrap(),
        "t",
        InProcess::new(Arc::clone(&server), "t"),
        Tokenizer::default(),
    );
    assert!(other.unwrap_err().to_string().contains("does not match its tag"));

    let put = |table, key: Vec<u8>, value: Option<Vec<u8>>| {
        let mut b = sseek::store::WriteBatch::new();
        match value {
            Some(v) => b.put(table, key, v),
            None => b.delete(table, key),
        };
        server.store().write(b).unwrap();
    };
    // Strip truncation from one index (64-bit tokens): refused.
    let mut stripped = genuine.clone();
    stripped.indexes[0].bits = 64;
    put(Table::Meta, schema_key("t"), Some(sseek::protocol::encode(&stripped)));
    let err = connect().unwrap_err().to_string();
    assert!(err.contains("does not match its tag"), "{err}");
    // Drop an index: refused.
    let mut fewer = genuine.clone();
    fewer.indexes.pop();
    put(Table::Meta, schema_key("t"), Some(sseek::protocol::encode(&fewer)));
    assert!(connect().unwrap_err().to_string().contains("does not match its tag"));
    // Restore the schema, remove the tag: refused.
    put(Table::Meta, schema_key("t"), Some(sseek::protocol::encode(&genuine)));
    assert!(connect().is_ok());
    put(Table::Meta, schema_tag_key("t"), None);
    let err = connect().unwrap_err().to_string();
    assert!(err.contains("carries no tag"), "{err}");
}
