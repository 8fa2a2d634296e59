//! Scheme costs measured by hand on large inputs, beyond what the criterion
//! groups of `benches/sse.rs` cover:
//!
//! - `twolev`: 2Lev's list-size classes on synthetic messages
//!   (`SSEEK_TWOLEV_N`, default 100,000) and its setup and search costs in
//!   both variants and at block 128, next to Pi_pack at block 64
//!   (`papers/2lev.md`);
//! - `mitra`: Mitra updates end to end and client alone, 500,000 entries a
//!   round, wall and CPU time per entry (`papers/mitra.md`);
//! - `diana`: Diana updates one at a time and in a batch, the GGM leaf walk,
//!   and the search of a keyword with 2^20 adds split into crypto and store
//!   lookups (`papers/diana.md`).
//!
//! - `zipf` (named only): every scheme on the seeded `zipf-sparse` and
//!   `zipf-dense` corpora in memory, next to raw HMAC-SHA256 and AES;
//!   `zipf-redb` (named only): Pi_bas, Mitra and Diana on redb at 10^5 and
//!   10^6 documents.
//!
//! Run: `cargo bench --bench scheme_costs` (the first three) or with `-- twolev`,
//! `-- mitra`, `-- diana`, `-- zipf`, `-- zipf-redb`. It prints the environment line first.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sseek::baseline::process_cpu_seconds;
use sseek::datasets::{Synthetic, ZipfMultimap};
use sseek::demo::variant_config;
use sseek::keys::MasterKey;
use sseek::primitives::ggm;
use sseek::protocol::{DocId, EntryLocation, GgmNode, SearchToken};
use sseek::server::{InProcess, Server};
use sseek::sse::diana::Diana;
use sseek::sse::entries::EntryReader;
use sseek::sse::mitra::Mitra;
use sseek::sse::twolev::server::DICT_SLOTS;
use sseek::sse::{self, DynamicScheme, Keyword, SchemeClient, SchemeConfig, SseIndex, Update, UpdateOp};
use sseek::store::{MemoryStore, RedbStore, Store, Table};
use sseek::text::Tokenizer;

fn kw(v: &str) -> Keyword {
    sse::keyword("body", &[v])
}

fn add(keyword: &str, id: DocId) -> Update {
    Update { op: UpdateOp::Add, keyword: kw(keyword), id }
}

fn memory_index(master: &MasterKey, scheme: &str) -> (Arc<Server<MemoryStore>>, SseIndex<InProcess<MemoryStore>>) {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let client = sse::open_client(master, "t", &SchemeConfig::new(scheme, "m")).expect("open client");
    let index = SseIndex::create(InProcess::new(Arc::clone(&server), "t"), client).expect("create instance");
    (server, index)
}

fn token_parts(t: SearchToken) -> (Vec<GgmNode>, u32, [u8; 16]) {
    match t {
        SearchToken::Ggm { nodes, count, hash_key } => (nodes, count, hash_key),
        other => panic!("not a Diana token: {other:?}"),
    }
}

fn twolev_config(block: Option<u16>, rr: bool) -> SchemeConfig {
    let mut cfg = SchemeConfig::new("2lev", "t2");
    cfg.block = block;
    cfg.response_revealing = rr;
    cfg
}

/// 2Lev list classes and costs on synthetic messages.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // counts far below 2^52
fn twolev() {
    let n: u64 = std::env::var("SSEEK_TWOLEV_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let tokenizer = Tokenizer::default();
    let docs: Vec<(DocId, _)> = Synthetic::new(7)
        .generate(n)
        .iter()
        .enumerate()
        .map(|(i, m)| (u32::try_from(i).expect("measurement run"), m.terms(&tokenizer)))
        .collect();
    let specs = sseek::message::default_index_specs();
    let db = sse::multimap(&docs, &specs);
    let pairs = sse::pair_count(&db) as f64;
    let big: Vec<&Vec<u8>> = db.iter().filter(|(_, ids)| ids.len() > 1000).map(|(k, _)| k).collect();
    println!("{n} messages: {} keywords, {pairs} pairs, {} keywords with over 1000 ids", db.len(), big.len());
    for b in [128, 256] {
        let small = db.values().filter(|ids| ids.len() <= DICT_SLOTS).count();
        let medium = db.values().filter(|ids| ids.len() > DICT_SLOTS && ids.len() <= DICT_SLOTS * b).count();
        println!("b {b}: {small} small, {medium} medium, {} large lists", db.len() - small - medium);
    }
    for (scheme, block, rr) in
        [("2lev", None, true), ("2lev", None, false), ("2lev", Some(128), true), ("pack", Some(64), true)]
    {
        let mut cfg = twolev_config(block, rr);
        cfg.scheme = scheme.into();
        let master = MasterKey::generate().expect("measurement run");
        let (t, c) = (Instant::now(), process_cpu_seconds());
        let SchemeClient::Static(s) = sse::open_client(&master, "t", &cfg).expect("measurement run") else {
            unreachable!()
        };
        s.setup(&db, &mut |_| Ok(())).expect("measurement run");
        let (client_wall, client_cpu) = (t.elapsed().as_secs_f64(), process_cpu_seconds() - c);

        let server = Arc::new(Server::new(MemoryStore::new()));
        let scheme_client = sse::open_client(&master, "t", &cfg).expect("measurement run");
        let b = scheme_client.descriptor().block;
        let mut index =
            SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme_client).expect("measurement run");
        let (t, c) = (Instant::now(), process_cpu_seconds());
        index.setup(&db).expect("measurement run");
        let (setup_wall, setup_cpu) = (t.elapsed().as_secs_f64(), process_cpu_seconds() - c);
        let st =
            server.store().stats(Table::Entries, &sse::server::instance_prefix("t", "t2")).expect("measurement run");
        let (mut results, t, c) = (0usize, Instant::now(), process_cpu_seconds());
        for k in &big {
            results += index.search_keyword(k).expect("measurement run").len();
        }
        let (search_wall, search_cpu) = (t.elapsed().as_secs_f64(), process_cpu_seconds() - c);
        let r = results.max(1) as f64;
        println!(
            "{scheme} b {b} rr {rr}: client setup {:.3} us/pair ({:.3} cpu); end-to-end setup {:.3} us/pair \
             ({:.3} cpu); {} entries, {:.1} MB ({:.2} B/pair); search {:.4} us/result ({:.4} cpu) over {results}",
            client_wall * 1e6 / pairs,
            client_cpu * 1e6 / pairs,
            setup_wall * 1e6 / pairs,
            setup_cpu * 1e6 / pairs,
            st.entries,
            st.bytes as f64 / 1e6,
            st.bytes as f64 / pairs,
            search_wall * 1e6 / r,
            search_cpu * 1e6 / r,
        );
    }
}

/// Mitra update throughput.
fn mitra() {
    let master = MasterKey::generate().expect("measurement run");
    let (_server, mut index) = memory_index(&master, "mitra");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let words: Vec<Keyword> = (0..20_000).map(|i| kw(&format!("word{i}"))).collect();
    let n = 500_000;
    let mut batch = |round: u32| -> Vec<Update> {
        (0..n)
            .map(|i| {
                let w = rng.random_range(0..words.len()).min(rng.random_range(0..words.len()));
                Update { op: UpdateOp::Add, keyword: words[w].clone(), id: round * n + i / 40 }
            })
            .collect()
    };
    let cpu = process_cpu_seconds;
    let report = |what: &str, wall: Instant, cpu0: f64| {
        let us = |secs: f64| secs * 1e6 / f64::from(n);
        println!(
            "mitra update, {what}: {:.3} us per entry wall, {:.3} us CPU",
            us(wall.elapsed().as_secs_f64()),
            us(cpu() - cpu0)
        );
    };
    for round in 0..2 {
        let updates = batch(round);
        let (wall, cpu0) = (Instant::now(), cpu());
        index.update(&updates).expect("measurement run");
        report(&format!("end to end, round {round}"), wall, cpu0);
    }
    let updates = batch(2);
    let mut alone = Mitra::open(&master, "t", &SchemeConfig::new("mitra", "m")).expect("measurement run");
    let (wall, cpu0) = (Instant::now(), cpu());
    let sent: usize = updates.chunks(sse::ENTRY_CHUNK).map(|c| alone.update(c).expect("measurement run").len()).sum();
    report("client alone", wall, cpu0);
    assert_eq!(sent, updates.len());

    let start = Instant::now();
    let found: usize = words[..100].iter().map(|w| index.search_keyword(w).expect("measurement run").len()).sum();
    println!("mitra search: 100 keywords, {found} updates, {:?}", start.elapsed());
}

/// Diana update, leaf walk and large-list search costs.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // counts far below 2^52
fn diana() {
    let master = MasterKey::generate().expect("measurement run");
    let mut d = Diana::open(&master, "t", &SchemeConfig::new("diana", "d")).expect("measurement run");
    let n = 200_000u32;
    let updates: Vec<Update> = (0..n).map(|i| add(&format!("w{}", i % 1000), i)).collect();
    let t = Instant::now();
    let mut entries = Vec::new();
    for chunk in updates.chunks(1).take(20_000) {
        entries.extend(d.update(chunk).expect("measurement run"));
    }
    let single = t.elapsed().as_secs_f64() * 1e6 / 20_000.0;
    let t = Instant::now();
    entries.extend(d.update(&updates[20_000..]).expect("measurement run"));
    let batch = t.elapsed().as_secs_f64() * 1e6 / f64::from(n - 20_000);
    let t = Instant::now();
    let leaves = 50_000u32;
    for i in 0..leaves {
        std::hint::black_box(ggm::leaf(&[7; 16], i));
    }
    let walk = t.elapsed().as_secs_f64() * 1e9 / f64::from(leaves);
    println!(
        "update: {single:.2} us one at a time, {batch:.2} us per update in a batch ({} threads); leaf walk {walk:.0} ns",
        rayon::current_num_threads()
    );

    let store = MemoryStore::new();
    sse::server::create(&store, "t", d.descriptor()).expect("measurement run");
    let big: Vec<Update> = (0..1u32 << 20).map(|i| add("big", i)).collect();
    for chunk in big.chunks(sse::ENTRY_CHUNK) {
        sse::server::insert(&store, "t", "d", d.update(chunk).expect("measurement run")).expect("measurement run");
    }
    let token = d.token(&kw("big")).expect("measurement run");
    let size = sseek::protocol::encode(&token).len();
    let t = Instant::now();
    let r = sse::server::search(&store, "t", "d", &token).expect("measurement run");
    let s = t.elapsed().as_secs_f64();
    let (nodes, count, hash_key) = token_parts(token);
    let t = Instant::now();
    let seeds = sse::diana::server::leaf_seeds(&nodes, count).expect("measurement run");
    let labels: Vec<_> = seeds.iter().map(|s| ggm::leaf_outputs(s, &hash_key)).collect();
    let crypto = t.elapsed().as_secs_f64();
    let reader = EntryReader::new(&store, "t", "d");
    let t = Instant::now();
    for chunk in labels.chunks(1 << 16) {
        reader.get_many(chunk.iter().map(|(l, _)| EntryLocation::Dictionary(*l))).expect("measurement run");
    }
    let lookups = t.elapsed().as_secs_f64();
    println!(
        "search of {} adds: {:.1} ms total ({:.0} ns per add), token {size} bytes; single-threaded: crypto {:.0} ns per leaf, store lookups {:.0} ns per leaf",
        r.len(),
        s * 1e3,
        s * 1e9 / r.len() as f64,
        crypto * 1e9 / labels.len() as f64,
        lookups * 1e9 / labels.len() as f64,
    );
}

/// The variants of the zipf measurements, static then dynamic.
const ZIPF_VARIANTS: &[&str] = &["pibas", "pack", "pack-rh", "2lev", "2lev-rh", "mitra", "diana"];

/// Median over interleaved rounds of raw HMAC-SHA256 on 32 bytes (keyed
/// instance cloned), one AES-128 block and one AES-256 block, in ns.
#[allow(clippy::cast_possible_truncation)] // the loop counter is only input bytes
fn raw_primitives_ns() -> (f64, f64, f64) {
    use aes::cipher::{BlockEncrypt, KeyInit as _, generic_array::GenericArray};
    use hmac::{Hmac, KeyInit, Mac};
    let keyed = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[1; 32]).expect("hmac key");
    let aes128 = aes::Aes128::new(&GenericArray::from([2u8; 16]));
    let aes256 = aes::Aes256::new(&GenericArray::from([3u8; 32]));
    let n = 200_000u32;
    let (mut h, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..9 {
        let t = Instant::now();
        for i in 0..n {
            let mut m = keyed.clone();
            m.update(std::hint::black_box(&[i as u8; 32]));
            std::hint::black_box(m.finalize().into_bytes());
        }
        h.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        let t = Instant::now();
        for i in 0..n {
            let mut blk = GenericArray::from([i as u8; 16]);
            aes128.encrypt_block(std::hint::black_box(&mut blk));
            std::hint::black_box(blk);
        }
        a.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        let t = Instant::now();
        for i in 0..n {
            let mut blk = GenericArray::from([i as u8; 16]);
            aes256.encrypt_block(std::hint::black_box(&mut blk));
            std::hint::black_box(blk);
        }
        b.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (med(&mut h), med(&mut a), med(&mut b))
}

/// The updates that add every document of `db`, document by document.
fn updates_by_document(db: &sse::MultiMap) -> Vec<(DocId, Vec<Keyword>)> {
    let mut docs: std::collections::BTreeMap<DocId, Vec<Keyword>> = std::collections::BTreeMap::new();
    for (k, ids) in db {
        for &id in ids {
            docs.entry(id).or_default().push(k.clone());
        }
    }
    docs.into_iter().collect()
}

fn adds(docs: &[(DocId, Vec<Keyword>)]) -> Vec<Update> {
    docs.iter()
        .flat_map(|(id, ks)| ks.iter().map(|k| Update { op: UpdateOp::Add, keyword: k.clone(), id: *id }))
        .collect()
}

/// Builds `index` from `db`: one setup for a static scheme, bulk adds in
/// batches of 10,000 documents for a dynamic one (for Mitra, one entry per
/// pair: no packing until a search rewrites the keyword).
fn zipf_build<T: sseek::protocol::transport::Transport>(
    index: &mut SseIndex<T>,
    db: &sse::MultiMap,
    docs: &[(DocId, Vec<Keyword>)],
) {
    if matches!(index.scheme(), SchemeClient::Dynamic(_)) {
        for chunk in docs.chunks(10_000) {
            index.update(&adds(chunk)).expect("measurement run");
        }
    } else {
        index.setup(db).expect("measurement run");
    }
}

/// Searches every keyword of `keywords` once; returns µs per result.
#[allow(clippy::cast_precision_loss)]
fn zipf_search<T: sseek::protocol::transport::Transport>(
    index: &mut SseIndex<T>,
    keywords: &[&Keyword],
) -> (f64, usize) {
    let t = Instant::now();
    let results: usize = keywords.iter().map(|k| index.search_keyword(k).expect("measurement run").len()).sum();
    (t.elapsed().as_secs_f64() * 1e6 / results.max(1) as f64, results)
}

/// Costs on the two seeded Zipf corpora (`zipf-sparse`, `zipf-dense`) for
/// every scheme over the memory store: setup per pair (`SseIndex::setup`:
/// for Mitra, packed blocks), search per result (every keyword searched
/// once, so results = pairs), and for the dynamic schemes one update call
/// per new document, per entry; then, on a second index built by bulk adds
/// (10,000 documents per call), the adds per pair, the first search pass
/// per result (for Mitra it rewrites every keyword into blocks) and a second
/// pass. Uses rayon's global
/// pool, so `RAYON_NUM_THREADS=1` and `=2` give the one- and two-core figures.
/// `SSEEK_ZIPF_VARIANTS=mitra,diana` picks variants.
#[allow(clippy::cast_precision_loss)]
fn zipf() {
    let (hmac, aes128, aes256) = raw_primitives_ns();
    println!(
        "zipf: {} rayon threads; raw primitives this run: HMAC-SHA256 (32 B) {hmac:.1} ns, AES-128 block {aes128:.2} ns, AES-256 block {aes256:.2} ns",
        rayon::current_num_threads()
    );
    let wanted = std::env::var("SSEEK_ZIPF_VARIANTS").unwrap_or_default();
    let variants: Vec<&str> =
        ZIPF_VARIANTS.iter().copied().filter(|v| wanted.is_empty() || wanted.split(',').any(|w| w == *v)).collect();
    println!(
        "| corpus | variant | setup µs/pair | search µs/result | search ÷ HMAC | search ÷ AES-128 | update µs/entry (1 doc per call) | bulk adds µs/pair | 1st search after adds µs/result | 2nd µs/result |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, corpus) in [("zipf-sparse", ZipfMultimap::sparse(1)), ("zipf-dense", ZipfMultimap::dense(1))] {
        let db = corpus.multimap();
        let pairs = sse::pair_count(&db);
        let docs = updates_by_document(&db);
        let keywords: Vec<&Keyword> = db.keys().collect();
        // Fresh documents (ids past the corpus) for the one-at-a-time updates.
        let extra: Vec<(DocId, Vec<Keyword>)> = docs[..2_000]
            .iter()
            .map(|(id, ks)| (id + u32::try_from(corpus.messages).expect("small corpus"), ks.clone()))
            .collect();
        for v in &variants {
            let master = MasterKey::generate().expect("measurement run");
            let server = Arc::new(Server::new(MemoryStore::new()));
            let client = sse::open_client(&master, "t", &variant_config(v).expect("variant")).expect("measurement run");
            let mut index =
                SseIndex::create(InProcess::new(Arc::clone(&server), "t"), client).expect("measurement run");
            let t = Instant::now();
            index.setup(&db).expect("measurement run");
            let setup = t.elapsed().as_secs_f64() * 1e6 / pairs as f64;
            // Twice; the second (warm) pass counts.
            zipf_search(&mut index, &keywords);
            let (search, results) = zipf_search(&mut index, &keywords);
            assert_eq!(results, pairs, "{v}: every pair found once");
            let (mut update, mut bulk, mut first, mut second) = ("-".into(), "-".into(), "-".into(), "-".into());
            if matches!(index.scheme(), SchemeClient::Dynamic(_)) {
                let n: usize = extra.iter().map(|(_, ks)| ks.len()).sum();
                let t = Instant::now();
                for d in &extra {
                    index.update(&adds(std::slice::from_ref(d))).expect("measurement run");
                }
                update = format!("{:.3}", t.elapsed().as_secs_f64() * 1e6 / n as f64);
                drop(index);
                let client =
                    sse::open_client(&master, "t", &variant_config(v).expect("variant")).expect("measurement run");
                let server = Arc::new(Server::new(MemoryStore::new()));
                let mut added = SseIndex::create(InProcess::new(server, "t"), client).expect("measurement run");
                let t = Instant::now();
                zipf_build(&mut added, &db, &docs);
                bulk = format!("{:.3}", t.elapsed().as_secs_f64() * 1e6 / pairs as f64);
                let (cold, results) = zipf_search(&mut added, &keywords);
                assert_eq!(results, pairs, "{v}: every pair found once after adds");
                let (warm, results) = zipf_search(&mut added, &keywords);
                assert_eq!(results, pairs, "{v}: every pair found once after the first pass");
                (first, second) = (format!("{cold:.4}"), format!("{warm:.4}"));
            }
            println!(
                "| {name} ({pairs} pairs) | {v} | {setup:.3} | {search:.4} | {:.3} | {:.2} | {update} | {bulk} | {first} | {second} |",
                search * 1e3 / hmac,
                search * 1e3 / aes128
            );
        }
    }
}

/// Pi_bas, Mitra and Diana on a redb store at 10^5 and 10^6 documents of the
/// sparse Zipf rule: search per result over the same 1,000 keywords (every
/// tenth keyword index), after a build. The database lives in a temporary
/// directory. `SSEEK_ZIPF_VARIANTS` picks variants.
#[allow(clippy::cast_precision_loss)]
fn zipf_redb() {
    let (hmac, aes128, _) = raw_primitives_ns();
    println!("zipf-redb: raw primitives this run: HMAC-SHA256 (32 B) {hmac:.1} ns, AES-128 block {aes128:.2} ns");
    let wanted = std::env::var("SSEEK_ZIPF_VARIANTS").unwrap_or_default();
    println!("| documents | variant | pairs | build µs/pair | search µs/result | results |");
    println!("|---:|---|---:|---:|---:|---:|");
    for messages in [100_000u64, 1_000_000] {
        let corpus = ZipfMultimap { messages, ..ZipfMultimap::sparse(1) };
        let db = corpus.multimap();
        let pairs = sse::pair_count(&db);
        let docs = updates_by_document(&db);
        let keywords: Vec<Keyword> = (1..10_000u32).step_by(10).map(ZipfMultimap::keyword).collect();
        let keywords: Vec<&Keyword> = keywords.iter().collect();
        for v in ["pibas", "mitra", "diana"] {
            if !(wanted.is_empty() || wanted.split(',').any(|w| w == v)) {
                continue;
            }
            let dir = tempfile::tempdir().expect("measurement run");
            let master = MasterKey::generate().expect("measurement run");
            let server = Arc::new(Server::new(RedbStore::open(&dir.path().join("s.redb")).expect("measurement run")));
            let client = sse::open_client(&master, "t", &variant_config(v).expect("variant")).expect("measurement run");
            let mut index =
                SseIndex::create(InProcess::new(Arc::clone(&server), "t"), client).expect("measurement run");
            let t = Instant::now();
            zipf_build(&mut index, &db, &docs);
            let build = t.elapsed().as_secs_f64() * 1e6 / pairs as f64;
            zipf_search(&mut index, &keywords);
            let (search, results) = zipf_search(&mut index, &keywords);
            println!("| {messages} | {v} | {pairs} | {build:.3} | {search:.4} | {results} |");
        }
    }
}

fn main() {
    common::print_environment();
    // `cargo bench` passes `--bench`; any other argument picks a measurement.
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| name.contains(w.as_str()));
    if run("twolev") {
        twolev();
    }
    if run("mitra") {
        mitra();
    }
    if run("diana") {
        diana();
    }
    // Named only: the zipf passes take minutes.
    if wanted.iter().any(|w| w == "zipf") {
        zipf();
    }
    if wanted.iter().any(|w| w == "zipf-redb") {
        zipf_redb();
    }
}
