//! OXT against the oracle: random multimaps and random conjunctions of 2
//! to 5 terms, in memory and after closing and reopening the redb store
//! (a fresh client handle reads the sealed statistics back), over HTTP, and
//! on PostgreSQL (ignored without `SSEEK_PG_URL`; run with
//! `cargo test --test suite oxt:: -- --ignored`); and the law test of the
//! declared leakage with its negative control.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use sseek::keys::MasterKey;
use sseek::protocol::{self, DocId, Request, Response};
use sseek::server::Server;
use sseek::sse::entries::EntryReader;
use sseek::sse::{self, MultiMap, SchemeConfig, SseIndex, oxt};
use sseek::store::{MemoryStore, RedbStore, Store};
use sseek::transport::{Http, InProcess, Transport};

use common::served::{PgSchema, Served, add_tenant, pg_url};

/// A random multimap over `vocab` keywords and `docs` documents: each
/// keyword's list is a random subset (some empty, so absent keywords occur).
fn multimap(vocab: usize, docs: u32) -> impl Strategy<Value = MultiMap> {
    proptest::collection::vec(proptest::collection::btree_set(0..docs, 0..docs as usize), vocab).prop_map(|lists| {
        lists
            .into_iter()
            .enumerate()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(k, ids)| (format!("w{k}").into_bytes(), ids.into_iter().collect()))
            .collect()
    })
}

/// Random conjunctions of 2 to 5 terms over keywords `w0..w{vocab}` (and one absent `w99`).
fn conjunctions(vocab: usize) -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let term = prop_oneof![9 => (0..vocab).prop_map(|k| format!("w{k}").into_bytes()), 1 => Just(b"w99".to_vec())];
    proptest::collection::vec(proptest::collection::vec(term, 2..=5), 1..8)
}

fn build<S: Store + 'static>(store: S, master: &MasterKey, config: &SchemeConfig, db: &MultiMap) {
    let server = Arc::new(Server::new(store));
    let scheme = sse::open_client(master, "t", config).unwrap();
    SseIndex::create(InProcess::new(server, "t"), scheme).unwrap().setup(db).unwrap();
}

fn check<T: Transport>(index: &mut SseIndex<T>, db: &MultiMap, queries: &[Vec<Vec<u8>>]) -> Result<(), TestCaseError> {
    for terms in queries {
        prop_assert_eq!(index.search_conjunction(terms).unwrap(), sse::conjunction(db, terms), "{:?}", terms);
    }
    for (k, ids) in db {
        prop_assert_eq!(&index.search_keyword(k).unwrap(), ids);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn conjunctions_equal_the_oracle(db in multimap(8, 60), queries in conjunctions(8), block in 1u16..5) {
        let master = MasterKey::generate().unwrap();
        let config = SchemeConfig { block: Some(block), ..SchemeConfig::new("oxt", "x") };
        let store = Arc::new(MemoryStore::new());
        build(Arc::clone(&store), &master, &config, &db);
        // A fresh handle: no statistics until it reads them from the server.
        let scheme = sse::open_client(&master, "t", &config).unwrap();
        let mut index = SseIndex::open(InProcess::new(Arc::new(Server::new(store)), "t"), scheme).unwrap();
        check(&mut index, &db, &queries)?;
    }
}

/// A fixed multimap with lists of very different lengths.
fn skewed() -> MultiMap {
    let mut db = MultiMap::new();
    for (k, step) in [1u32, 2, 3, 5, 7, 11, 50].into_iter().enumerate() {
        db.insert(format!("w{k}").into_bytes(), (0..500).filter(|i| i % step == 0).collect());
    }
    db
}

fn skewed_queries() -> Vec<Vec<Vec<u8>>> {
    let w = |k: usize| format!("w{k}").into_bytes();
    vec![
        vec![w(0), w(1)],
        vec![w(1), w(2)],
        vec![w(2), w(3), w(4)],
        vec![w(0), w(6)],
        vec![w(1), w(2), w(3), w(4), w(5)],
    ]
}

#[test]
fn conjunctions_equal_the_oracle_after_redb_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let master = MasterKey::generate().unwrap();
    let config = SchemeConfig::new("oxt", "x");
    let db = skewed();
    build(RedbStore::open(&path).unwrap(), &master, &config, &db);
    let server = Arc::new(Server::new(RedbStore::open(&path).unwrap()));
    let mut index =
        SseIndex::open(InProcess::new(server, "t"), sse::open_client(&master, "t", &config).unwrap()).unwrap();
    check(&mut index, &db, &skewed_queries()).unwrap();
}

/// Builds and queries an OXT instance over HTTP.
fn over_http(url: &str, token: &str) {
    let master = MasterKey::generate().unwrap();
    let config = SchemeConfig::new("oxt", "x");
    let db = skewed();
    let scheme = sse::open_client(&master, "unused", &config).unwrap();
    let mut index = SseIndex::create(Http::new(url, token), scheme).unwrap();
    index.setup(&db).unwrap();
    check(&mut index, &db, &skewed_queries()).unwrap();
    let mut other =
        SseIndex::open(Http::new(url, token), sse::open_client(&master, "unused", &config).unwrap()).unwrap();
    check(&mut other, &db, &skewed_queries()).unwrap();
}

#[test]
fn conjunctions_equal_the_oracle_over_http() {
    let (_dir, served, tokens) = Served::on_redb(&["oxt"], &[]);
    over_http(&served.url, &tokens[0]);
}

#[test]
#[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
fn conjunctions_equal_the_oracle_over_http_on_postgres() {
    // No WAL reading test meanwhile (see `common`).
    let _shared = common::PG_WAL_POSITIONS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let url = pg_url();
    let schema = PgSchema::new(&url, "oxt");
    let spec = format!("postgres:{url}");
    let token = add_tenant(&spec, &schema.name, "oxt");
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&spec, &schema.name, &dir.path().join("server.log"), &[]);
    over_http(&served.url, &token);
}

// ---------------------------------------------------------------------------
// Declared leakage: the server's view of a workload is a function of the
// declared leakage (law), and per-term AND, which reveals each term's list,
// is not (negative control).

/// Records every request and answer, as the server sees them.
#[derive(Debug)]
struct Recorder<T: Transport> {
    inner: T,
    log: Mutex<Vec<(Request, Response)>>,
}

impl<T: Transport> Transport for Recorder<T> {
    fn call(&self, request: &Request) -> sseek::Result<Response> {
        let r = self.inner.call(request)?;
        self.log.lock().unwrap().push((request.clone(), r.clone()));
        Ok(r)
    }

    fn traffic(&self) -> sseek::transport::Traffic {
        self.inner.traffic()
    }
}

/// What the server learns from a run, without the pseudorandom strings
/// themselves: sizes at setup, then per search the s-term's equality
/// pattern, list length, x-term count and per entry which x-terms pass,
/// and across searches how many entry pairs share an xtag. A per-term
/// search shows its result length and ids (as a pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observation {
    /// Empty-valued (XSet) entries, other entries' value lengths, sealed state lengths.
    setup: (usize, Vec<usize>, Vec<usize>),
    /// Per OXT search: (s-term pattern, |DB(s)|, x-terms, sorted pass vectors).
    searches: Vec<(usize, usize, u8, Vec<Vec<bool>>)>,
    /// Per pair of (search, x-term) slots: entry pairs with equal xtags.
    cross: BTreeMap<(usize, usize, usize, usize), usize>,
    /// Per single-keyword search: its token pattern and result length.
    singles: Vec<(usize, usize)>,
}

fn pattern(seen: &mut Vec<Vec<u8>>, key: &[u8]) -> usize {
    seen.iter().position(|k| k == key).unwrap_or_else(|| {
        seen.push(key.to_vec());
        seen.len() - 1
    })
}

/// The observation of a recorded run on `store`.
fn observe(store: &dyn Store, log: &[(Request, Response)]) -> Observation {
    let (mut xset, mut values, mut states) = (0, Vec::new(), Vec::new());
    let (mut searches, mut singles, mut stags, mut tokens) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut xtags: BTreeMap<[u8; 16], Vec<(usize, usize)>> = BTreeMap::new();
    for (request, response) in log {
        match request {
            Request::SseInsert { entries, .. } => {
                for e in entries {
                    if e.value.is_empty() { xset += 1 } else { values.push(e.value.len()) }
                }
            }
            Request::PutClientState { sealed, .. } => states.push(sealed.len()),
            Request::OxtSearch { instance, token, .. } => {
                let reader = EntryReader::new(store, "t", instance);
                let tests = oxt::server::test_entries(&reader, 1, token).unwrap();
                let i = searches.len();
                for t in &tests {
                    for (a, l) in t.xtags.iter().enumerate() {
                        xtags.entry(*l).or_default().push((i, a));
                    }
                }
                let mut passes: Vec<Vec<bool>> = tests.iter().map(|t| t.present.clone()).collect();
                passes.sort();
                searches.push((pattern(&mut stags, &token.label_key), tests.len(), token.xterms, passes));
            }
            Request::SseSearchAt { token, .. } | Request::SseSearchFixedIds { token, .. } => {
                let key = protocol::encode(token);
                let len = match response {
                    Response::SseResult(r) => r.len(),
                    Response::SseFixedIds(ids) => ids.len(),
                    _ => panic!("{response:?}"),
                };
                singles.push((pattern(&mut tokens, &key), len));
            }
            _ => {}
        }
    }
    values.sort_unstable();
    let mut cross = BTreeMap::new();
    for slots in xtags.values() {
        for (x, a) in slots.iter().enumerate() {
            for b in &slots[x + 1..] {
                let key = if a <= b { (a.0, a.1, b.0, b.1) } else { (b.0, b.1, a.0, a.1) };
                *cross.entry(key).or_insert(0) += 1;
            }
        }
    }
    Observation { setup: (xset, values, states), searches, cross, singles }
}

/// A workload: a multimap and conjunctions (each sorted, distinct terms).
type Workload = (MultiMap, Vec<Vec<Vec<u8>>>);

/// The s-term the client picks: the shortest list, ties to the first in order.
fn s_term<'a>(db: &MultiMap, terms: &'a [Vec<u8>]) -> &'a Vec<u8> {
    terms.iter().min_by_key(|t| db.get(*t).map_or(0, Vec::len)).unwrap()
}

/// OXT's declared leakage of a workload, in the form of [`Observation`]
/// (block 1): N, the TSet and statistics sizes (from N and the keyword
/// count), per conjunction the s-term pattern and size, the x-term count,
/// per s-term document which x-terms it holds (the result pattern), and
/// across conjunctions the conditional intersection pattern.
fn declared(w: &Workload, stats_len: &[usize]) -> Observation {
    let (db, queries) = w;
    let n: usize = db.values().map(Vec::len).sum();
    let value_len = 2 + 36;
    let (mut searches, mut stags) = (Vec::new(), Vec::new());
    let mut cross = BTreeMap::new();
    let plan: Vec<(&Vec<u8>, Vec<&Vec<u8>>)> = queries
        .iter()
        .map(|q| {
            let s = s_term(db, q);
            (s, q.iter().filter(|t| *t != s).collect())
        })
        .collect();
    let list = |k: &Vec<u8>| db.get(k).cloned().unwrap_or_default();
    for (s, xs) in &plan {
        let mut passes: Vec<Vec<bool>> =
            list(s).iter().map(|d| xs.iter().map(|x| list(x).contains(d)).collect()).collect();
        passes.sort();
        searches.push((pattern(&mut stags, s), list(s).len(), xs.len() as u8, passes));
    }
    for (i, (si, xi)) in plan.iter().enumerate() {
        for (j, (sj, xj)) in plan.iter().enumerate().skip(i) {
            for (a, x) in xi.iter().enumerate() {
                for (b, y) in xj.iter().enumerate() {
                    if x == y && (i, a) < (j, b) {
                        let common = list(si).iter().filter(|d| list(sj).contains(d)).count();
                        if common > 0 {
                            cross.insert((i, a, j, b), common);
                        }
                    }
                }
            }
        }
    }
    Observation { setup: (n, vec![value_len; n], stats_len.to_vec()), searches, cross, singles: Vec::new() }
}

/// Runs a workload: OXT conjunctions, or the leaky control (per-term AND
/// on Pi_pack: one search per term, intersected on the client).
fn run(w: &Workload, leaky: bool) -> Observation {
    let (db, queries) = w;
    let store = Arc::new(MemoryStore::new());
    let server = Arc::new(Server::new(Arc::clone(&store)));
    let master = MasterKey::generate().unwrap();
    let config = SchemeConfig { block: Some(1), ..SchemeConfig::new(if leaky { "pack" } else { "oxt" }, "x") };
    let transport = Recorder { inner: InProcess::new(server, "t"), log: Mutex::new(Vec::new()) };
    let mut index = SseIndex::create(transport, sse::open_client(&master, "t", &config).unwrap()).unwrap();
    index.setup(db).unwrap();
    for q in queries {
        let got = if leaky {
            let mut ids: Option<Vec<DocId>> = None;
            for t in q {
                let r = index.search_keyword(t).unwrap();
                ids = Some(ids.map_or(r.clone(), |i| i.into_iter().filter(|d| r.contains(d)).collect()));
            }
            ids.unwrap()
        } else {
            index.search_conjunction(q).unwrap()
        };
        assert_eq!(got, sse::conjunction(db, q));
    }
    let log = index.transport().log.lock().unwrap().clone();
    observe(store.as_ref(), &log)
}

/// A workload over 6 keywords and 24 documents, conjunctions of 2 or 3 terms.
fn workload() -> impl Strategy<Value = Workload> {
    let term = (0..6usize).prop_map(|k| format!("w{k}").into_bytes());
    let query = proptest::collection::btree_set(term, 2..=3).prop_map(|s| s.into_iter().collect::<Vec<_>>());
    (multimap(6, 24), proptest::collection::vec(query, 1..5))
}

/// Moves one document out of a queried term's list and another into a
/// queried term's list, both outside every s-term's list: N, the keyword
/// count and (when the s-terms stay the same) the declared leakage are
/// unchanged, but two terms' list lengths and contents change.
fn hide(w: &Workload, pick: (usize, usize, u32)) -> Option<Workload> {
    let (db, queries) = w;
    let s_docs: BTreeSet<DocId> =
        queries.iter().flat_map(|q| db.get(s_term(db, q)).cloned().unwrap_or_default()).collect();
    let terms: Vec<&Vec<u8>> = queries.iter().flatten().filter(|t| db.contains_key(*t)).collect();
    // No queried term is stored (the generator can draw an empty multimap): nothing to move.
    if terms.is_empty() {
        return None;
    }
    let from = terms[pick.0 % terms.len()].clone();
    let to = terms[pick.1 % terms.len()].clone();
    let out = db[&from].iter().copied().find(|d| !s_docs.contains(d))?;
    let into = (pick.2..pick.2 + 40).find(|d| !s_docs.contains(d) && !db[&to].contains(d) && *d != out)?;
    let mut db2 = db.clone();
    db2.get_mut(&from).unwrap().retain(|d| *d != out);
    let list = db2.get_mut(&to).unwrap();
    list.push(into);
    list.sort_unstable();
    db2.retain(|_, ids| !ids.is_empty());
    (db2.len() == db.len() && from != to).then(|| (db2, queries.clone()))
}

/// The law on one workload and its hidden variant: equal declared leakage
/// must give equal observations. `Err` names the first difference.
fn law(w: &Workload, pick: (usize, usize, u32), leaky: bool) -> Result<(), TestCaseError> {
    let Some(w2) = hide(w, pick) else { return Err(TestCaseError::reject("no document to move")) };
    // The statistics' sealed size is a function of the keyword count, equal in both.
    let (a, b) = (run(w, leaky), run(&w2, leaky));
    if declared(w, &a.setup.2) != declared(&w2, &a.setup.2) {
        return Err(TestCaseError::reject("the move changed the declared leakage"));
    }
    if !leaky {
        // The observation is exactly the declared leakage.
        prop_assert_eq!(&a, &declared(w, &a.setup.2));
    }
    prop_assert_eq!(a, b);
    Ok(())
}

fn check_law(leaky: bool, cases: u32) -> Result<(), String> {
    let config = ProptestConfig { cases, max_global_rejects: 10_000, failure_persistence: None, ..Default::default() };
    proptest::test_runner::TestRunner::new(config)
        .run(&(workload(), (0..16usize, 0..16usize, 0..24u32)), |(w, pick)| law(&w, pick, leaky))
        .map_err(|e| e.to_string())
}

#[test]
fn law_oxt_view_is_a_function_of_the_declared_leakage() {
    check_law(false, 24).unwrap();
}

#[test]
fn control_law_catches_per_term_and() {
    let r = check_law(true, 24);
    assert!(r.is_err(), "per-term AND reveals each term's list, yet passed the law");
    eprintln!("per-term AND fails the law as it must: {}", r.unwrap_err().lines().next().unwrap_or(""));
}
