//! The sweep: every selected scheme over every corpus in a fresh store,
//! each timed, metered and checked against the plaintext oracle.

use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::analysis::{crossovers, slopes};
use super::conjunctive;
use super::multimap::{self, MultimapPlan};
use super::primitives::median;
use super::{
    BLIND, BenchOptions, BenchReport, Environment, MIN_QUERIES, PointResult, Primitives, SchemeResult, StoreKind,
    peak_rss_bytes, scheme_names,
};
use super::{client_costs, targets};
use crate::baseline::{Baseline, BaselineMode, process_cpu_seconds};
use crate::blind::planner::plan_for_corpus;
use crate::client::{Client, INGEST_CHUNK};
use crate::datasets::{self, Synthetic};
use crate::demo;
use crate::keys::MasterKey;
use crate::message::{Field, Message, Terms};
use crate::message::{IndexSpec, default_index_specs};
use crate::oracle::PlainIndex;
use crate::protocol::DocId;
use crate::protocol::transport::{Traffic, Transport};
use crate::query::Query;
use crate::server::InProcess;
use crate::server::Server;
use crate::sse::{self, MultiMap, SchemeClient, SseIndex, UpdateOp};
use crate::store::{MemoryStore, RedbStore, Store, Table};
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Tenant of the server-assisted schemes.
const TENANT: &str = "bench";
/// Tenant of the baselines (sealed documents only).
const BASELINE_TENANT: &str = "baseline";

fn bar(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Runs the sweep.
///
/// # Errors
/// [`Error::Config`] for an unknown scheme or empty sweep; dataset, store
/// and protocol errors. Mismatches are not errors: they are reported.
pub fn run(opts: &BenchOptions) -> Result<BenchReport> {
    let all = scheme_names();
    for s in &opts.schemes {
        if !all.contains(s) {
            return Err(Error::Config(format!("unknown scheme {s:?} (known: {})", all.join(", "))));
        }
    }
    let mut corpora: Vec<String> = Vec::new();
    let mut sizes = opts.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    corpora.extend(sizes.iter().map(|n| format!("synthetic:{n}:{}", opts.seed)));
    corpora.extend(opts.datasets.iter().cloned());
    if corpora.is_empty() && opts.multimaps.is_empty() && opts.blind_latency.is_empty() && opts.conjunctive.is_empty() {
        return Err(Error::Config("nothing to run: give --sizes, a dataset, a --corpus or --conjunctive".into()));
    }
    let started = Instant::now();
    let environment = Environment::current().clone();
    let primitives = Primitives::measure(if opts.queries_per_class <= 3 { 5 } else { 11 })?;
    let selected: Vec<String> = if opts.schemes.is_empty() { all } else { opts.schemes.clone() };
    let sse_selected: Vec<String> =
        selected.iter().filter(|s| demo::SSE_VARIANTS.contains(&s.as_str())).cloned().collect();
    let steps = corpora.len() * selected.len()
        + opts.multimaps.len() * 3 * sse_selected.len()
        + sse_selected.len() * usize::from(opts.multimap_scaled.is_some())
        + opts.blind_latency.len()
        + opts.conjunctive.len();
    let pb = bar(opts.progress, steps as u64);
    let mut points = Vec::new();
    for spec in &corpora {
        pb.set_message(format!("{spec}: loading"));
        let corpus = datasets::load(spec)?;
        if corpus.messages.is_empty() {
            return Err(Error::Dataset { path: spec.clone(), reason: "no messages could be loaded".into() });
        }
        let synthetic = spec.starts_with("synthetic:");
        let point = match opts.store {
            StoreKind::Memory => run_point(opts, &selected, corpus, synthetic, MemoryStore::new(), &primitives, &pb)?,
            StoreKind::Redb => {
                let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
                let store = RedbStore::open(&dir.path().join("server.redb"))?;
                run_point(opts, &selected, corpus, synthetic, store, &primitives, &pb)?
            }
        };
        points.push(point);
    }
    let multimap = if opts.multimaps.is_empty() {
        None
    } else {
        let plan = MultimapPlan { corpora: &opts.multimaps, schemes: &sse_selected, scaled: opts.multimap_scaled };
        Some(multimap::run(&plan, &pb)?)
    };
    let conjunctive = if opts.conjunctive.is_empty() {
        None
    } else {
        Some(conjunctive::run(&opts.conjunctive, opts.seed, &primitives, &pb)?)
    };
    let mut blind_latency = Vec::new();
    for spec in &opts.blind_latency {
        pb.set_message(format!("{spec}: blind-index latency"));
        blind_latency.push(client_costs::blind_latency(spec, opts.seed)?);
        pb.inc(1);
    }
    let keyword_extraction = match &opts.keyword_corpus {
        Some(spec) => {
            pb.set_message(format!("{spec}: keyword extraction"));
            Some(client_costs::keyword_extraction(spec, 5)?)
        }
        None => None,
    };
    pb.finish_and_clear();
    let crossovers = crossovers(&points);
    let slopes = slopes(&points);
    let targets = targets::targets(&primitives, multimap.as_ref(), keyword_extraction.as_ref(), &blind_latency);
    let mismatches = points.iter().map(|p| p.mismatches).sum::<usize>()
        + multimap.as_ref().map_or(0, |m| m.mismatches)
        + blind_latency.iter().map(|l| l.mismatches).sum::<usize>()
        + keyword_extraction.as_ref().map_or(0, |k| k.mismatches)
        + conjunctive.as_ref().map_or(0, |c| c.mismatches);
    Ok(BenchReport {
        environment,
        primitives,
        command: String::new(),
        store: opts.store,
        mismatches,
        points,
        crossovers,
        slopes,
        multimap,
        blind_latency,
        keyword_extraction,
        conjunctive,
        targets,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Everything shared by the schemes of one point.
struct Point<'a, S: Store> {
    server: Arc<Server<S>>,
    specs: Vec<IndexSpec>,
    messages: &'a [Message],
    terms: &'a [Terms],
    queries: Vec<Query>,
    expected: Vec<Vec<DocId>>,
    extra: Vec<Message>,
    extra_terms: Vec<Terms>,
    pairs: u64,
    primitives: &'a Primitives,
    budget: f64,
    state_dir: tempfile::TempDir,
}

#[allow(clippy::too_many_arguments)]
#[allow(clippy::cast_possible_truncation)] // float counts and ranks bounded by the corpus size
fn run_point<S: Store + 'static>(
    opts: &BenchOptions,
    selected: &[String],
    corpus: datasets::Corpus,
    synthetic: bool,
    store: S,
    primitives: &Primitives,
    pb: &ProgressBar,
) -> Result<PointResult> {
    let started = Instant::now();
    let tokenizer = Tokenizer::default();
    let messages = corpus.messages;
    let n = messages.len();
    let t = Instant::now();
    let terms: Vec<Terms> = messages.par_iter().map(|m| m.terms(&tokenizer)).collect();
    let extract_seconds = t.elapsed().as_secs_f64();
    let specs = default_index_specs();
    let keyword_counts: Vec<usize> = terms.par_iter().map(|t| sse::keywords_of(t, &specs).len()).collect();
    let pairs: u64 = keyword_counts.iter().map(|c| *c as u64).sum();
    let mut oracle = PlainIndex::new();
    for (id, t) in terms.iter().enumerate() {
        oracle.add(doc_id(id)?, t);
    }
    let queries = workload(&oracle, &terms, &specs, opts.queries_per_class, opts.seed);
    let expected: Vec<Vec<DocId>> =
        queries.iter().map(|q| Ok(oracle.eval(q, &specs)?.iter().collect())).collect::<Result<_>>()?;
    drop(oracle);
    let updates = ((n as f64 * opts.update_fraction) as usize).clamp(100, 10_000);
    let extra = Synthetic::new(opts.seed ^ 0x5EED_0F0A).generate(updates as u64);
    let extra_terms: Vec<Terms> = extra.par_iter().map(|m| m.terms(&tokenizer)).collect();
    let p = Point {
        server: Arc::new(Server::new(store)),
        specs,
        messages: &messages,
        terms: &terms,
        queries,
        expected,
        extra,
        extra_terms,
        pairs,
        primitives,
        budget: opts.query_budget_seconds,
        state_dir: tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?,
    };
    let mut results = Vec::new();
    let mut db: Option<MultiMap> = None;
    let mut modes = Vec::new();
    for name in selected {
        pb.set_message(format!("{n} msgs: {name}"));
        if name == BLIND {
            results.push(run_blind(&p)?);
        } else if let Some(mode) = BaselineMode::ALL.iter().find(|m| m.name() == name) {
            // Run together at the end: they share one upload and one batch of new messages.
            modes.push(*mode);
            continue;
        } else {
            results.push(run_sse(&p, name, &mut db)?);
        }
        pb.inc(1);
    }
    if !modes.is_empty() {
        pb.set_message(format!("{n} msgs: baselines"));
        results.extend(run_baselines(&p, &modes)?);
        pb.inc(modes.len() as u64);
    }
    let document_bytes = p
        .server
        .store()
        .stats(Table::Documents, &crate::store::keyspace::keyspace(TENANT))?
        .bytes
        .max(p.server.store().stats(Table::Documents, &crate::store::keyspace::keyspace(BASELINE_TENANT))?.bytes);
    Ok(PointResult {
        dataset: corpus.name,
        synthetic,
        messages: n,
        pairs,
        keywords: db.as_ref().map_or_else(|| distinct_keywords(&terms, &p.specs), |d| d.len() as u64),
        store: opts.store,
        extract_seconds,
        document_bytes_per_message: document_bytes as f64 / n as f64,
        workload_queries: p.queries.len(),
        mismatches: results.iter().map(|r| r.mismatches).sum(),
        peak_rss_bytes: peak_rss_bytes(),
        seconds: started.elapsed().as_secs_f64(),
        schemes: results,
    })
}

/// A corpus position as a document id.
fn doc_id(i: usize) -> Result<DocId> {
    DocId::try_from(i).map_err(|_| Error::Config("too many documents".into()))
}

fn distinct_keywords(terms: &[Terms], specs: &[IndexSpec]) -> u64 {
    let mut set = std::collections::HashSet::new();
    for t in terms {
        set.extend(sse::keywords_of(t, specs));
    }
    set.len() as u64
}

/// Query timings and correctness of one scheme over the workload.
#[derive(Default)]
struct QueryRun {
    queries: usize,
    mismatches: usize,
    results: u64,
    times_us: Vec<f64>,
}

/// Runs the workload (within the time budget) through `search`, comparing each answer with the oracle.
fn run_queries(p: &Point<'_, impl Store>, mut search: impl FnMut(&Query) -> Result<Vec<DocId>>) -> Result<QueryRun> {
    let mut r = QueryRun::default();
    let started = Instant::now();
    for (q, want) in p.queries.iter().zip(&p.expected) {
        if r.queries >= MIN_QUERIES && started.elapsed().as_secs_f64() > p.budget {
            break;
        }
        let t = Instant::now();
        let got = search(q)?;
        r.times_us.push(t.elapsed().as_secs_f64() * 1e6);
        if &got != want {
            r.mismatches += 1;
        }
        r.results += got.len() as u64;
        r.queries += 1;
    }
    Ok(r)
}

fn fill_queries(r: &mut SchemeResult, q: QueryRun, traffic: Traffic, primitives: &Primitives) {
    let nq = q.queries.max(1) as f64;
    let total: f64 = q.times_us.iter().sum();
    let mut times = q.times_us;
    r.queries = q.queries;
    r.mismatches = q.mismatches;
    r.results = q.results;
    r.mean_query_us = total / nq;
    r.p50_query_us = median(&mut times);
    r.us_per_result = total / q.results.max(1) as f64;
    r.ratio_to_hmac = r.us_per_result * 1e3 / primitives.hmac_sha256_ns;
    r.ratio_to_aes_siv_1kib = r.us_per_result * 1e3 / primitives.aes_siv_1kib_ns;
    r.bytes_sent_per_query = traffic.bytes_sent as f64 / nq;
    r.bytes_received_per_query = traffic.bytes_received as f64 / nq;
    r.round_trips_per_query = traffic.round_trips as f64 / nq;
}

fn fill_setup(r: &mut SchemeResult, seconds: f64, messages: usize, pairs: u64) {
    r.setup_seconds = seconds;
    r.setup_us_per_message = seconds * 1e6 / messages.max(1) as f64;
    r.setup_us_per_pair = seconds * 1e6 / pairs.max(1) as f64;
}

fn run_blind<S: Store + 'static>(p: &Point<'_, S>) -> Result<SchemeResult> {
    let mut r =
        SchemeResult { name: BLIND.into(), kind: "blind".into(), returns: "messages".into(), ..Default::default() };
    let mut client = Client::connect(
        MasterKey::generate()?,
        TENANT,
        InProcess::new(Arc::clone(&p.server), TENANT),
        Tokenizer::default(),
    )?;
    // Planned for the corpus plus the coming updates, as `sseek index --growth` would.
    let plans = plan_for_corpus(p.terms, &p.specs, 25.0, 2.0, 1.0);
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect())?;
    let t = Instant::now();
    client.add_messages_with_terms(p.messages, p.terms, None)?;
    fill_setup(&mut r, t.elapsed().as_secs_f64(), p.messages.len(), p.pairs);
    let stats = client.server_stats()?;
    r.server_index_bytes = stats.posting_bytes;
    r.server_index_bytes_per_message = stats.posting_bytes as f64 / p.messages.len() as f64;
    let before = client.traffic();
    let q = run_queries(p, |q| Ok(client.search(q)?.ids))?;
    fill_cold_from_first(&mut r, &q, client.traffic() - before);
    fill_queries(&mut r, q, client.traffic() - before, p.primitives);
    let entries: usize = p.extra_terms.iter().map(|t| sse::keywords_of(t, &p.specs).len()).sum();
    let t = Instant::now();
    client.add_messages_with_terms(&p.extra, &p.extra_terms, None)?;
    fill_update(&mut r, t.elapsed().as_secs_f64(), p.extra.len(), entries);
    Ok(r)
}

/// Server-assisted schemes need only the key on a new device: the first
/// result comes after one query, so a new device's time to first result is
/// a query's (the mean: any query of the workload may be the first).
fn fill_cold_from_first(r: &mut SchemeResult, q: &QueryRun, traffic: Traffic) {
    r.cold_first_result_seconds = q.times_us.iter().sum::<f64>() / q.queries.max(1) as f64 / 1e6;
    r.cold_bytes_received = traffic.bytes_received / q.queries.max(1) as u64;
}

fn fill_update(r: &mut SchemeResult, seconds: f64, messages: usize, entries: usize) {
    r.update_messages = messages;
    r.update_entries = entries;
    r.update_us_per_message = Some(seconds * 1e6 / messages.max(1) as f64);
    r.update_us_per_entry = Some(seconds * 1e6 / entries.max(1) as f64);
}

fn run_sse<S: Store + 'static>(p: &Point<'_, S>, name: &str, db: &mut Option<MultiMap>) -> Result<SchemeResult> {
    let mut config = demo::variant_config(name)?;
    let state_path = p.state_dir.path().join(format!("{name}.state"));
    config.state_path = Some(state_path.clone());
    let scheme = sse::open_client(&MasterKey::generate()?, TENANT, &config)?;
    let dynamic = matches!(scheme, SchemeClient::Dynamic(_));
    let mut r = SchemeResult {
        name: name.to_owned(),
        kind: if dynamic { "sse-dynamic" } else { "sse-static" }.into(),
        returns: "ids".into(),
        ..Default::default()
    };
    let mut index = SseIndex::create(InProcess::new(Arc::clone(&p.server), TENANT), scheme)?;
    let docs: Vec<(DocId, &Terms)> =
        p.terms.iter().enumerate().map(|(i, t)| Ok((doc_id(i)?, t))).collect::<Result<_>>()?;
    let seconds = if dynamic {
        // Built as a messenger would: updates in ingest-sized batches.
        let t = Instant::now();
        for chunk in docs.chunks(INGEST_CHUNK) {
            index.update(&sse::updates_of(chunk, &p.specs, UpdateOp::Add))?;
        }
        index.transport().call(&crate::protocol::Request::Sync)?;
        t.elapsed().as_secs_f64()
    } else {
        let db = db.get_or_insert_with(|| sse::multimap(&docs, &p.specs));
        let t = Instant::now();
        index.setup(db)?;
        t.elapsed().as_secs_f64()
    };
    fill_setup(&mut r, seconds, p.messages.len(), p.pairs);
    let st = p.server.store().stats(Table::Entries, &sse::server::instance_prefix(TENANT, &config.instance))?;
    r.server_index_bytes = st.bytes;
    r.server_index_bytes_per_message = st.bytes as f64 / p.messages.len() as f64;
    let before = index.traffic();
    let q = run_queries(p, |q| index.search(q))?;
    let traffic = index.traffic() - before;
    fill_cold_from_first(&mut r, &q, traffic);
    fill_queries(&mut r, q, traffic, p.primitives);
    if dynamic {
        let first = doc_id(p.messages.len())?;
        let extra: Vec<(DocId, &Terms)> =
            p.extra_terms.iter().enumerate().map(|(i, t)| Ok((first + doc_id(i)?, t))).collect::<Result<_>>()?;
        let updates = sse::updates_of(&extra, &p.specs, UpdateOp::Add);
        let t = Instant::now();
        index.update(&updates)?;
        fill_update(&mut r, t.elapsed().as_secs_f64(), extra.len(), updates.len());
    }
    r.client_bytes = std::fs::metadata(&state_path).map_or(0, |m| m.len());
    Ok(r)
}

/// Both baselines under a tenant of their own holding only sealed documents:
/// one upload (the setup), then per variant a cold device's first search and
/// the warm workload, then one batch of new messages every device fetches.
fn run_baselines<S: Store + 'static>(p: &Point<'_, S>, modes: &[BaselineMode]) -> Result<Vec<SchemeResult>> {
    let key = MasterKey::generate()?;
    let device = |mode| {
        Baseline::new(
            &key,
            BASELINE_TENANT,
            InProcess::new(Arc::clone(&p.server), BASELINE_TENANT),
            Tokenizer::default(),
            p.specs.clone(),
            mode,
        )
    };
    let t = Instant::now();
    device(BaselineMode::DownloadAll)?.upload(p.messages)?;
    let setup = t.elapsed().as_secs_f64();
    let (first, want) = match (p.queries.first(), p.expected.first()) {
        (Some(q), Some(w)) => (q, w),
        _ => return Err(Error::Config("empty workload".into())),
    };
    let mut out = Vec::new();
    let mut devices = Vec::new();
    for &mode in modes {
        let mut r = SchemeResult {
            name: mode.name().into(),
            kind: "baseline".into(),
            returns: "ids".into(),
            ..Default::default()
        };
        fill_setup(&mut r, setup, p.messages.len(), p.pairs);
        let mut dev = device(mode)?;
        // Cold device: the first search downloads (and, for the local index, indexes) everything.
        let cpu = process_cpu_seconds();
        let t = Instant::now();
        let got = dev.search(first)?;
        r.cold_first_result_seconds = t.elapsed().as_secs_f64();
        r.cold_cpu_seconds = Some(process_cpu_seconds() - cpu);
        r.cold_bytes_received = dev.stats().bytes_downloaded;
        let cold_mismatch = usize::from(&got != want);
        // Warm device: every search first checks for new messages (one small round trip).
        let before = dev.transport().traffic();
        let q = run_queries(p, |q| dev.search(q))?;
        let traffic = dev.transport().traffic() - before;
        fill_queries(&mut r, q, traffic, p.primitives);
        r.mismatches += cold_mismatch;
        r.client_bytes = dev.stats().storage_bytes();
        out.push(r);
        devices.push(dev);
    }
    // New messages arrive from another device; each device fetches (and indexes) them.
    device(BaselineMode::DownloadAll)?.upload(&p.extra)?;
    let entries: usize = p.extra_terms.iter().map(|t| sse::keywords_of(t, &p.specs).len()).sum();
    for (r, dev) in out.iter_mut().zip(&mut devices) {
        let t = Instant::now();
        dev.sync()?;
        fill_update(r, t.elapsed().as_secs_f64(), p.extra.len(), entries);
        if dev.mode() == BaselineMode::DownloadAll {
            // A scan stores nothing per keyword: entries are not its cost.
            r.update_us_per_entry = None;
        }
    }
    Ok(out)
}

/// The query workload: for each single-field index, values spread over the
/// frequency range (log-spaced ranks) and one absent value; compound
/// `from+day` tuples of random messages; AND of two words of one message;
/// OR of two random words.
#[allow(clippy::cast_possible_truncation)] // float counts and ranks bounded by the corpus size
pub fn workload(oracle: &PlainIndex, terms: &[Terms], specs: &[IndexSpec], k: usize, seed: u64) -> Vec<Query> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut qs = Vec::new();
    for spec in specs {
        if let [field] = spec.fields.as_slice() {
            let mut values = oracle.frequencies(*field);
            values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let n = values.len();
            let mut picked: Vec<&str> = Vec::new();
            for i in 0..k.min(n) {
                let rank = ((n as f64).powf(i as f64 / (k.max(2) - 1) as f64) as usize).saturating_sub(1).min(n - 1);
                if !picked.contains(&values[rank].0) {
                    picked.push(values[rank].0);
                }
            }
            qs.extend(picked.into_iter().map(|v| Query::term(&spec.name, &[v])));
            let absent = match field {
                Field::Day => "1970-01-01",
                Field::From | Field::To => "nobody@absent.invalid",
                _ => "zqxjkvwabsent",
            };
            qs.push(Query::term(&spec.name, &[absent]));
        } else {
            for _ in 0..k {
                let Some(t) = terms.choose(&mut rng) else { break };
                if let Some(tuple) = spec.values(t).choose(&mut rng) {
                    qs.push(Query::term(&spec.name, tuple));
                }
            }
        }
    }
    let body: Vec<&Terms> = terms.iter().filter(|t| t.get(&Field::Body).is_some_and(|b| b.len() >= 2)).collect();
    for _ in 0..k {
        if let Some(t) = body.choose(&mut rng) {
            let words: Vec<&str> = t[&Field::Body].iter().collect();
            let a = words[rng.random_range(0..words.len())];
            let b = words[rng.random_range(0..words.len())];
            qs.push(Query::And(vec![Query::term("body", &[a]), Query::term("body", &[b])]));
        }
        if let (Some(t1), Some(t2)) = (body.choose(&mut rng), body.choose(&mut rng))
            && let (Some(a), Some(b)) = (t1[&Field::Body].iter().next(), t2[&Field::Body].iter().next_back())
        {
            qs.push(Query::Or(vec![Query::term("body", &[a]), Query::term("body", &[b])]));
        }
    }
    // Shuffled so a time budget cuts a sample of every class, not the last classes.
    let mut order: Vec<(u64, Query)> = qs.into_iter().map(|q| (rng.random::<u64>(), q)).collect();
    order.sort_by_key(|(r, _)| *r);
    order.into_iter().map(|(_, q)| q).collect()
}
