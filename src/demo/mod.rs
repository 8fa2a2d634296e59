//! `sseek demo`: the main job. Encrypts a corpus, builds the blind indexes in
//! the embedded store, runs a query workload across the frequency range, and
//! checks every answer against the plaintext oracle.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::blind::planner::plan_for_corpus;
use crate::client::Client;
use crate::client::Endpoint;
use crate::client::rotation::RotationOptions;
use crate::datasets;
use crate::keys::MasterKey;
use crate::message::Terms;
use crate::message::{IndexSpec, default_index_specs};
use crate::oracle::PlainIndex;
use crate::protocol::transport::Transport;
use crate::protocol::unexpected;
use crate::protocol::{DocId, IndexSize, Request, Response};
use crate::query::Query;
use crate::server::InProcess;
use crate::server::Server;
use crate::sse::{self, MultiMap, SchemeClient, SchemeConfig, SseIndex, UpdateOp};
use crate::store::{RedbStore, Store};
use crate::text::Tokenizer;
use crate::{Error, Result};

mod report;
mod scan;
mod workload;

pub use report::{DemoReport, SchemeReport, WorkloadReport};
pub use scan::scan_for_plaintext;
pub use workload::build_workload;

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Dataset: `spamassassin`, a directory, a `.jsonl` or a `.tar.gz`.
    pub dataset: String,
    /// Keep the store in this directory (default: a temporary directory, removed at the end).
    pub store_dir: Option<PathBuf>,
    /// Tenant name.
    pub tenant: String,
    /// Seed of the query workload.
    pub seed: u64,
    /// Expected false positives per query the planner allows (F).
    pub max_false_positives: f64,
    /// Distinct values per token the planner aims for (k).
    pub min_values_per_token: f64,
    /// Single-keyword queries per index.
    pub queries_per_index: usize,
    /// Show progress bars.
    pub progress: bool,
    /// SSE variants to run next to the blind indexes (see [`SSE_VARIANTS`]).
    pub schemes: Vec<String>,
    /// Share of the messages (0 to 1, chosen at random with `seed`) deleted
    /// after every index is built and before any query: the blind index
    /// loses their postings, Mitra gets delete updates, every other scheme
    /// applies the tombstones; the oracle leaves them out.
    pub delete_fraction: f64,
    /// Rotate the keys after every index is built (and the deletes are
    /// done) and before any query: the messages and blind indexes move to
    /// key version 2 ([`Client::rotate`]), and each SSE instance is
    /// rebuilt under version 2 ([`SseIndex::rotate`]); the whole workload
    /// then runs against version 2 only.
    pub rotate: bool,
}

/// The SSE variants the demo knows: every variant of the scheme registry.
pub use crate::sse::registry::VARIANT_NAMES as SSE_VARIANTS;
/// The scheme configuration of a variant name (from the scheme registry).
pub use crate::sse::registry::variant_config;

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            dataset: datasets::SPAMASSASSIN.into(),
            store_dir: None,
            tenant: "demo".into(),
            seed: 1,
            max_false_positives: 25.0,
            min_values_per_token: 2.0,
            queries_per_index: 40,
            progress: true,
            schemes: ["pibas", "pack", "2lev", "2lev-rh", "mitra", "diana"].map(String::from).to_vec(),
            delete_fraction: 0.0,
            rotate: false,
        }
    }
}

fn bar(show: bool, len: u64, msg: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg);
    pb
}

/// Runs the demo.
///
/// # Errors
/// Dataset, store and protocol errors. Mismatches are not errors: they are
/// reported (and the CLI exits non-zero on any).
pub fn run(opts: &DemoOptions) -> Result<DemoReport> {
    let corpus = datasets::load(&opts.dataset)?;
    if corpus.messages.is_empty() {
        return Err(Error::Dataset { path: opts.dataset.clone(), reason: "no messages could be loaded".into() });
    }
    let tmp;
    let (dir, store_label) = match &opts.store_dir {
        Some(d) => (d.clone(), format!("redb:{}", d.join("server.redb").display())),
        None => {
            tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            (tmp.path().to_owned(), "redb (temporary, removed at exit)".to_owned())
        }
    };
    let db_path = dir.join("server.redb");
    if db_path.exists() {
        return Err(Error::Config(format!(
            "{} already exists: the demo needs an empty store directory",
            db_path.display()
        )));
    }
    let store = RedbStore::open(&db_path)?;
    run_with_store(opts, corpus, store, store_label)
}

/// Runs the demo on an already-open store (any backend), in process.
///
/// # Errors
/// As [`run`].
pub fn run_with_store<S: Store + 'static>(
    opts: &DemoOptions,
    corpus: datasets::Corpus,
    store: S,
    store_label: String,
) -> Result<DemoReport> {
    let server = Arc::new(Server::new(store));
    let tenant = opts.tenant.clone();
    run_with_transport(opts, corpus, || Ok(InProcess::new(Arc::clone(&server), &tenant)), store_label)
}

/// Runs the demo against a running `sseek serve` with a tenant's
/// API token. The tenant is the token's (`opts.tenant` is ignored); it must
/// have no schema and no SSE instances yet.
///
/// # Errors
/// As [`run`]; [`Error::Server`] (401) for a bad token, [`Error::Http`] if
/// the server cannot be reached.
pub fn run_remote(opts: &DemoOptions, corpus: datasets::Corpus, server: &Endpoint) -> Result<DemoReport> {
    let tenant = server.connect()?.tenant()?;
    let opts = DemoOptions { tenant, ..opts.clone() };
    run_with_transport(&opts, corpus, || server.connect(), format!("remote server {}", server.url))
}

/// Runs the demo over any transport: `connect` opens one transport to the
/// server for `opts.tenant` (one for the blind-index client, one per SSE
/// variant). Index sizes come from the server's [`Request::IndexStats`].
///
/// # Errors
/// As [`run`].
pub fn run_with_transport<T: Transport, F: Fn() -> Result<T>>(
    opts: &DemoOptions,
    corpus: datasets::Corpus,
    connect: F,
    store_label: String,
) -> Result<DemoReport> {
    let tokenizer = Tokenizer::default();
    let master = MasterKey::generate()?;
    let mut client = Client::connect(master.clone(), &opts.tenant, connect()?, tokenizer)?;
    let n = corpus.messages.len();

    // Keywords are extracted once: they feed the planner, the index and the oracle.
    let extracting = Instant::now();
    let terms: Vec<Terms> = client.terms(&corpus.messages);
    let extract_seconds = extracting.elapsed().as_secs_f64();
    // Plan token lengths from the plaintext the client holds.
    let specs = default_index_specs();
    let plans = plan_for_corpus(&terms, &specs, opts.max_false_positives, opts.min_values_per_token, 1.0);
    client.create_schema(plans.iter().map(|(d, _)| d.clone()).collect())?;

    let started = Instant::now();
    let pb = bar(opts.progress, n as u64, "encrypt+index");
    let range = client.add_messages_with_terms(&corpus.messages, &terms, Some(&pb))?;
    pb.finish_and_clear();
    let setup_seconds = extract_seconds + started.elapsed().as_secs_f64();
    let ids: Vec<DocId> = range.collect();
    let docs: Vec<(DocId, &Terms)> = ids.iter().copied().zip(&terms).collect();

    // Deletes come after every index exists: SSE indexes are built over the
    // whole corpus below and then told (Mitra) or left to the tombstones.
    let deleted = pick_deletions(&ids, opts.delete_fraction, opts.seed)?;
    if !deleted.is_empty() {
        let pb = bar(opts.progress, deleted.len() as u64, "delete");
        let gone = client.delete_messages(&deleted)?;
        pb.finish_and_clear();
        if gone != deleted {
            return Err(Error::Server {
                code: 502,
                message: format!("{} of {} deletes applied", gone.len(), deleted.len()),
            });
        }
    }
    // The key the baselines open messages with: version 2 after a rotation.
    let (key, key_version, rotated) = if opts.rotate {
        let pb = bar(opts.progress, 0, "rotate keys");
        let report = client.rotate(&mut |_| Ok(()), &RotationOptions { batch: 0, progress: Some(pb.clone()) });
        pb.finish_and_clear();
        let report = report?;
        let ring = client.keyring();
        (ring.current().clone(), ring.current_version(), Some(report.moved))
    } else {
        (master.clone(), 1, None)
    };
    let mut oracle = PlainIndex::new();
    for (id, t) in &docs {
        if deleted.binary_search(id).is_err() {
            oracle.add(*id, t);
        }
    }

    let workload = build_workload(&oracle, &terms, &specs, opts.seed, opts.queries_per_index);
    let total_queries: usize = workload.iter().map(|(_, qs)| qs.len()).sum();
    let pb = bar(opts.progress, total_queries as u64, "queries");
    let mut indexes = Vec::new();
    let mut boolean = Vec::new();
    for (class, queries) in &workload {
        let mut r = run_class(&client, &oracle, &specs, class, queries, &pb)?;
        if let Some((d, p)) = plans.iter().find(|(d, _)| &d.name == class) {
            r.bits = Some(d.bits);
            r.plan = Some(*p);
            let (blind, _) = index_sizes(client.transport(), vec![d.name.clone()], Vec::new())?;
            let st = blind.first().copied().unwrap_or_default();
            r.index_bytes = Some(st.bytes);
            r.tokens = Some(st.entries);
            indexes.push(r);
        } else {
            boolean.push(r);
        }
    }
    pb.finish_and_clear();
    let stats = client.server_stats()?;

    let state_tmp;
    let state_dir = match &opts.store_dir {
        Some(d) => d.clone(),
        None => {
            state_tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            state_tmp.path().to_owned()
        }
    };
    let all_queries: Vec<&Query> = workload.iter().flat_map(|(_, qs)| qs).collect();
    let expected: Vec<Vec<DocId>> =
        all_queries.iter().map(|q| Ok(oracle.eval(q, &specs)?.iter().collect())).collect::<Result<_>>()?;
    let removed: Vec<(DocId, &Terms)> =
        docs.iter().filter(|(id, _)| deleted.binary_search(id).is_ok()).copied().collect();
    let mut sse_reports = Vec::new();
    let mut db: Option<MultiMap> = None;
    for name in &opts.schemes {
        let mut config = variant_config(name)?;
        config.state_path = Some(state_dir.join(format!("{name}.state")));
        let r = run_scheme(connect()?, opts, &config, (&docs, &removed), &specs, &mut db, &all_queries, &expected)?;
        sse_reports.push(r);
    }

    let baselines =
        crate::baseline::run_workload(&connect, (&key, key_version), &opts.tenant, &specs, &all_queries, &expected)?;
    let all = indexes.iter().chain(&boolean);
    let sse_mismatches: usize = sse_reports.iter().map(|r| r.mismatches).sum();
    let sse_queries: usize = sse_reports.iter().map(|r| r.queries).sum();
    Ok(DemoReport {
        dataset: corpus.name,
        documents: n,
        deleted: deleted.len(),
        rotated,
        skipped: corpus.skipped.len(),
        queries: all.clone().map(|r| r.queries).sum::<usize>()
            + sse_queries
            + baselines.iter().map(|r| r.queries).sum::<usize>(),
        mismatches: all.clone().map(|r| r.mismatches).sum::<usize>()
            + sse_mismatches
            + baselines.iter().map(|r| r.mismatches).sum::<usize>(),
        false_positives_filtered: all.map(|r| r.false_positives_filtered).sum(),
        store: store_label,
        setup_seconds,
        document_bytes: stats.document_bytes,
        index_bytes: stats.posting_bytes,
        indexes,
        boolean,
        sse: sse_reports,
        baselines,
    })
}

/// Builds one SSE variant over the corpus (one setup, or updates in ingest
/// chunks for a dynamic scheme) and runs the whole workload against it.
#[allow(clippy::too_many_arguments)]
fn run_scheme<T: Transport>(
    transport: T,
    opts: &DemoOptions,
    config: &SchemeConfig,
    (docs, removed): (&[IdTerms<'_>], &[IdTerms<'_>]),
    specs: &[IndexSpec],
    db: &mut Option<MultiMap>,
    queries: &[&Query],
    expected: &[Vec<DocId>],
) -> Result<SchemeReport> {
    let master = MasterKey::generate()?;
    let scheme = sse::open_client(&master, &opts.tenant, config)?;
    let dynamic = matches!(scheme, SchemeClient::Dynamic(_));
    let descriptor = scheme.descriptor().clone();
    let mut index = SseIndex::create(transport, scheme)?;
    let label: &'static str = if dynamic { "sse updates" } else { "sse setup" };
    let started;
    let pairs;
    if dynamic {
        let pb = bar(opts.progress, docs.len() as u64, label);
        started = Instant::now();
        let mut n = 0;
        for chunk in docs.chunks(crate::client::INGEST_CHUNK) {
            let updates = sse::updates_of(chunk, specs, UpdateOp::Add);
            n += updates.len();
            index.update(&updates)?;
            pb.inc(chunk.len() as u64);
        }
        pb.finish_and_clear();
        pairs = n;
    } else {
        let db = db.get_or_insert_with(|| sse::multimap(docs, specs));
        pairs = sse::pair_count(db);
        started = Instant::now();
        index.setup(db)?;
    }
    let setup_seconds = started.elapsed().as_secs_f64();
    let deletes_natively = matches!(index.scheme(), SchemeClient::Dynamic(d) if d.supports_delete());
    if deletes_natively && !removed.is_empty() {
        index.update(&sse::updates_of(removed, specs, UpdateOp::Delete))?;
    }
    if opts.rotate {
        // Rebuilt from what the index holds now: without the deleted
        // messages where the scheme deleted them, with them (masked by the
        // tombstones) where it did not.
        let holds = if deletes_natively && !removed.is_empty() {
            let live: Vec<IdTerms<'_>> = docs.iter().filter(|d| !removed.contains(d)).copied().collect();
            sse::multimap(&live, specs)
        } else {
            db.get_or_insert_with(|| sse::multimap(docs, specs)).clone()
        };
        let mut ring = crate::keys::Keyring::from_master(master.clone());
        let version = ring.add_version()?;
        let mut rotated = SchemeConfig { key_version: version, ..config.clone() };
        rotated.state_path = config.state_path.as_ref().map(|p| p.with_extension(format!("v{version}.state")));
        index.rotate(sse::open_client(ring.current(), &opts.tenant, &rotated)?, &holds)?;
    }
    let (_, sse_sizes) = index_sizes(index.transport(), Vec::new(), vec![config.instance.clone()])?;
    let st = sse_sizes.first().copied().unwrap_or_default();

    let pb = bar(opts.progress, queries.len() as u64, "sse queries");
    let before = index.traffic();
    let mut r = SchemeReport {
        name: config.instance.clone(),
        scheme: descriptor.scheme.clone(),
        dynamic,
        response_revealing: descriptor.response_revealing,
        block: descriptor.block,
        pairs: pairs as u64,
        setup_seconds,
        setup_us_per_pair: setup_seconds * 1e6 / pairs.max(1) as f64,
        entries: st.entries,
        index_bytes: st.bytes,
        queries: queries.len(),
        ..Default::default()
    };
    let mut total_us = 0.0;
    for (q, want) in queries.iter().zip(expected) {
        let t = Instant::now();
        let got = index.search(q)?;
        total_us += t.elapsed().as_secs_f64() * 1e6;
        if &got != want {
            r.mismatches += 1;
        }
        r.results += got.len() as u64;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let traffic = index.traffic() - before;
    let nq = queries.len().max(1) as f64;
    r.mean_query_us = total_us / nq;
    r.us_per_result = total_us / r.results.max(1) as f64;
    r.round_trips_per_query = traffic.round_trips as f64 / nq;
    r.bytes_sent_per_query = traffic.bytes_sent as f64 / nq;
    r.bytes_received_per_query = traffic.bytes_received as f64 / nq;
    Ok(r)
}

/// A document id with the terms of its message.
type IdTerms<'a> = (DocId, &'a Terms);

/// `fraction` of `ids`, drawn at random with `seed`, ascending.
fn pick_deletions(ids: &[DocId], fraction: f64, seed: u64) -> Result<Vec<DocId>> {
    use rand::SeedableRng;
    use rand::seq::IndexedRandom;
    if !(0.0..=1.0).contains(&fraction) {
        return Err(Error::Config(format!("delete fraction {fraction} outside 0..=1")));
    }
    // Rounded down; ids.len() fits an f64 exactly for any corpus we load.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let n = (ids.len() as f64 * fraction) as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x00de_1e7e);
    let mut picked: Vec<DocId> = ids.choose_multiple(&mut rng, n).copied().collect();
    picked.sort_unstable();
    Ok(picked)
}

/// Sizes of named blind indexes and SSE instances, from the server.
fn index_sizes<T: Transport>(
    transport: &T,
    blind_indexes: Vec<String>,
    sse_instances: Vec<String>,
) -> Result<(Vec<IndexSize>, Vec<IndexSize>)> {
    match transport.call(&Request::IndexStats { blind_indexes, sse_instances })? {
        Response::IndexStats { blind, sse } => Ok((blind, sse)),
        other => Err(unexpected(&other)),
    }
}

fn run_class<T: Transport>(
    client: &Client<T>,
    oracle: &PlainIndex,
    specs: &[IndexSpec],
    class: &str,
    queries: &[Query],
    pb: &ProgressBar,
) -> Result<WorkloadReport> {
    let mut r = WorkloadReport { name: class.to_owned(), queries: queries.len(), ..Default::default() };
    let before = client.traffic();
    let mut times = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        let out = client.search(q)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        let expected: Vec<u32> = oracle.eval(q, specs)?.iter().collect();
        if out.ids != expected {
            r.mismatches += 1;
        }
        r.results += out.ids.len() as u64;
        r.candidates += out.candidates as u64;
        r.false_positives_filtered += out.false_positives as u64;
        pb.inc(1);
    }
    let traffic = client.traffic() - before;
    let nq = queries.len().max(1) as f64;
    times.sort_by(f64::total_cmp);
    r.mean_query_us = times.iter().sum::<f64>() / nq;
    r.p50_query_us = times.get(times.len() / 2).copied().unwrap_or(0.0);
    r.bytes_sent_per_query = traffic.bytes_sent as f64 / nq;
    r.bytes_received_per_query = traffic.bytes_received as f64 / nq;
    Ok(r)
}
