//! The keyword-multimap corpora (`zipf-sparse`, `zipf-dense`, see
//! [`ZipfMultimap`]): the corpora on which scheme costs are compared with
//! other SSE libraries. They are multimaps, not messages, so each SSE
//! scheme runs directly through its public API ([`SseIndex`]): setup from
//! the multimap, single-keyword searches, and for dynamic schemes updates
//! one document at a time; in memory and on redb, each answer checked
//! against the multimap itself. Setup also runs in a 1-thread and a
//! 2-thread rayon pool, and a scaled corpus (more documents, same rule)
//! gives the growth of the per-result cost on redb.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use super::primitives::median;
use super::{Slope, StoreKind};
use crate::datasets::ZipfMultimap;
use crate::demo;
use crate::keys::MasterKey;
use crate::protocol::DocId;
use crate::server::{InProcess, Server};
use crate::sse::{self, MultiMap, SchemeClient, SseIndex, Update, UpdateOp};
use crate::store::{MemoryStore, RedbStore, Store};
use crate::{Error, Result};

/// Tenant of the multimap runs.
const TENANT: &str = "zipf";
/// Keywords searched per run (log-spaced over the keyword indexes, plus one absent).
const SEARCH_KEYWORDS: usize = 24;
/// Passes over the searched keywords (the per-result cost is over all of them).
const SEARCH_PASSES: usize = 3;
/// Keywords whose lists are searched again after the updates.
const CHECKED_AFTER_UPDATES: usize = 20;

/// One scheme on one multimap corpus in one store.
#[derive(Debug, Clone, Serialize)]
pub struct MultimapResult {
    /// SSE variant name.
    pub scheme: String,
    /// `sse-static` or `sse-dynamic`.
    pub kind: String,
    /// Corpus name (`zipf-sparse`, `zipf-dense`, or `zipf-sparse@N` when scaled).
    pub corpus: String,
    /// Documents.
    pub documents: u64,
    /// (keyword, document) pairs.
    pub pairs: u64,
    /// Distinct keywords.
    pub keywords: usize,
    /// Server store.
    pub store: StoreKind,
    /// Seconds to set up from the whole multimap (a dynamic scheme: bulk adds).
    pub setup_seconds: f64,
    /// Setup time per pair, microseconds.
    pub setup_us_per_pair: f64,
    /// Single-keyword searches run.
    pub searches: usize,
    /// Results over those searches.
    pub results: u64,
    /// Total search time over total results, microseconds.
    pub search_us_per_result: f64,
    /// Median time per search, microseconds.
    pub search_p50_us: f64,
    /// Entries added by the updates (0 for static schemes).
    pub update_entries: usize,
    /// Update time per entry, one document per update call, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_us_per_entry: Option<f64>,
    /// Answers that differed from the multimap (must be 0).
    pub mismatches: usize,
}

/// Runs of each setup in the scaling measure; the best is kept.
const SCALING_RUNS: usize = 3;

/// Setup of one scheme in a 1-thread and a 2-thread rayon pool (memory store).
#[derive(Debug, Clone, Serialize)]
pub struct SetupScaling {
    /// SSE variant name.
    pub scheme: String,
    /// Corpus name.
    pub corpus: String,
    /// Setup seconds with one thread.
    pub one_thread_seconds: f64,
    /// Setup seconds with two threads.
    pub two_thread_seconds: f64,
    /// One-thread over two-thread time.
    pub speedup: f64,
}

/// Everything measured on the multimap corpora.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MultimapReport {
    /// One entry per corpus, store and scheme.
    pub results: Vec<MultimapResult>,
    /// Setup on 1 and 2 threads, per scheme and corpus.
    pub scaling: Vec<SetupScaling>,
    /// Per scheme: log-log slope of the per-result search cost on redb
    /// between the first corpus and its scaled version.
    pub slopes: Vec<Slope>,
    /// Mismatches in total (must be 0).
    pub mismatches: usize,
}

/// What to run on the multimap corpora.
#[derive(Debug, Clone)]
pub(super) struct MultimapPlan<'a> {
    /// Named corpora.
    pub corpora: &'a [(String, ZipfMultimap)],
    /// SSE variants.
    pub schemes: &'a [String],
    /// Documents of the scaled first corpus (on redb), if any.
    pub scaled: Option<u64>,
}

/// Keyword indexes searched on a corpus of vocabulary `v`: log-spaced from
/// the most frequent (1) to the rarest (`v - 1`), and 0, which no document has.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
fn searched(v: u32) -> Vec<u32> {
    let top = f64::from(v.saturating_sub(1).max(1));
    let mut ks: Vec<u32> =
        (0..SEARCH_KEYWORDS).map(|j| top.powf(j as f64 / (SEARCH_KEYWORDS - 1) as f64).round() as u32).collect();
    ks.push(0);
    ks.sort_unstable();
    ks.dedup();
    ks
}

/// Runs the plan.
pub(super) fn run(plan: &MultimapPlan<'_>, pb: &ProgressBar) -> Result<MultimapReport> {
    let mut report = MultimapReport::default();
    for (i, (name, zm)) in plan.corpora.iter().enumerate() {
        pb.set_message(format!("{name}: building the multimap"));
        let db = zm.multimap();
        for store in [StoreKind::Memory, StoreKind::Redb] {
            for scheme in plan.schemes {
                pb.set_message(format!("{name} ({store:?}): {scheme}"));
                report.results.push(run_in(store, scheme, name, zm, &db)?);
                pb.inc(1);
            }
        }
        for scheme in plan.schemes {
            pb.set_message(format!("{name}: {scheme} setup on 1 and 2 threads"));
            report.scaling.push(scaling(scheme, name, &db)?);
            pb.inc(1);
        }
        if i == 0
            && let Some(n) = plan.scaled
        {
            let big = ZipfMultimap { messages: n, ..*zm };
            let big_name = format!("{name}@{n}");
            pb.set_message(format!("{big_name}: building the multimap"));
            let big_db = big.multimap();
            for scheme in plan.schemes {
                pb.set_message(format!("{big_name} (Redb): {scheme}"));
                let r = run_in(StoreKind::Redb, scheme, &big_name, &big, &big_db)?;
                let small = report
                    .results
                    .iter()
                    .find(|s| s.corpus == *name && s.store == StoreKind::Redb && s.scheme == *scheme);
                if let Some(s) = small {
                    report.slopes.push(Slope {
                        scheme: scheme.clone(),
                        log_log_slope: slope(s.documents, s.search_us_per_result, r.documents, r.search_us_per_result),
                    });
                }
                report.results.push(r);
                pb.inc(1);
            }
        }
    }
    report.mismatches = report.results.iter().map(|r| r.mismatches).sum();
    Ok(report)
}

/// Slope of log(cost) over log(size) between two points.
#[allow(clippy::cast_precision_loss)]
fn slope(n1: u64, c1: f64, n2: u64, c2: f64) -> f64 {
    if n1 == n2 || c1 <= 0.0 || c2 <= 0.0 {
        return 0.0;
    }
    (c2 / c1).ln() / (n2 as f64 / n1 as f64).ln()
}

fn run_in(store: StoreKind, scheme: &str, name: &str, zm: &ZipfMultimap, db: &MultiMap) -> Result<MultimapResult> {
    match store {
        StoreKind::Memory => run_one(MemoryStore::new(), store, scheme, name, zm, db),
        StoreKind::Redb => {
            let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            run_one(RedbStore::open(&dir.path().join("zipf.redb"))?, store, scheme, name, zm, db)
        }
    }
}

/// A fresh index of `scheme` on `store`, its state in memory only.
fn index<S: Store + 'static>(store: S, scheme: &str) -> Result<(SseIndex<InProcess<S>>, bool)> {
    let server = Arc::new(Server::new(store));
    let client = sse::open_client(&MasterKey::generate()?, TENANT, &demo::variant_config(scheme)?)?;
    let dynamic = matches!(client, SchemeClient::Dynamic(_));
    Ok((SseIndex::create(InProcess::new(server, TENANT), client)?, dynamic))
}

#[allow(clippy::cast_precision_loss)]
fn run_one<S: Store + 'static>(
    store: S,
    kind: StoreKind,
    scheme: &str,
    name: &str,
    zm: &ZipfMultimap,
    db: &MultiMap,
) -> Result<MultimapResult> {
    let pairs = sse::pair_count(db) as u64;
    let (mut index, dynamic) = index(store, scheme)?;
    let t = Instant::now();
    index.setup(db)?;
    let setup_seconds = t.elapsed().as_secs_f64();
    let mut r = MultimapResult {
        scheme: scheme.to_owned(),
        kind: if dynamic { "sse-dynamic" } else { "sse-static" }.into(),
        corpus: name.to_owned(),
        documents: zm.messages,
        pairs,
        keywords: db.len(),
        store: kind,
        setup_seconds,
        setup_us_per_pair: setup_seconds * 1e6 / pairs.max(1) as f64,
        searches: 0,
        results: 0,
        search_us_per_result: 0.0,
        search_p50_us: 0.0,
        update_entries: 0,
        update_us_per_entry: None,
        mismatches: 0,
    };
    let keywords: Vec<sse::Keyword> = searched(zm.vocabulary).into_iter().map(ZipfMultimap::keyword).collect();
    let mut times = Vec::new();
    for _ in 0..SEARCH_PASSES {
        for kw in &keywords {
            let t = Instant::now();
            let got = index.search_keyword(kw)?;
            times.push(t.elapsed().as_secs_f64() * 1e6);
            r.mismatches += usize::from(got.as_slice() != db.get(kw).map_or(&[][..], Vec::as_slice));
            r.results += got.len() as u64;
        }
    }
    r.searches = times.len();
    r.search_us_per_result = times.iter().sum::<f64>() / r.results.max(1) as f64;
    r.search_p50_us = median(&mut times);
    if dynamic {
        update(&mut index, &mut r, zm, db)?;
    }
    Ok(r)
}

/// New documents after the corpus, one update call each (as a messenger
/// adds one message at a time), then the lists of some touched keywords
/// searched again and compared with the multimap plus the new documents.
#[allow(clippy::cast_precision_loss)]
fn update<S: Store + 'static>(
    index: &mut SseIndex<InProcess<S>>,
    r: &mut MultimapResult,
    zm: &ZipfMultimap,
    db: &MultiMap,
) -> Result<()> {
    let new_docs = (zm.messages / 100).clamp(20, 1_000);
    let mut added: BTreeMap<u32, Vec<DocId>> = BTreeMap::new();
    let mut seconds = 0.0;
    for i in zm.messages..zm.messages + new_docs {
        let id = DocId::try_from(i).map_err(|_| Error::Config("too many documents".into()))?;
        let ks = zm.document(i);
        let updates: Vec<Update> =
            ks.iter().map(|&k| Update { op: UpdateOp::Add, keyword: ZipfMultimap::keyword(k), id }).collect();
        let t = Instant::now();
        index.update(&updates)?;
        seconds += t.elapsed().as_secs_f64();
        r.update_entries += updates.len();
        for k in ks {
            added.entry(k).or_default().push(id);
        }
    }
    r.update_us_per_entry = Some(seconds * 1e6 / r.update_entries.max(1) as f64);
    // The most frequent keywords touched and the rarest: long and short lists.
    let touched: Vec<(&u32, &Vec<DocId>)> = added.iter().collect();
    let half = CHECKED_AFTER_UPDATES / 2;
    let checked =
        touched.iter().take(half).chain(touched.iter().rev().take(half.min(touched.len().saturating_sub(half))));
    for (k, ids) in checked {
        let kw = ZipfMultimap::keyword(**k);
        let mut want = db.get(&kw).cloned().unwrap_or_default();
        want.extend(ids.iter());
        let got = index.search_keyword(&kw)?;
        r.mismatches += usize::from(got != want);
    }
    Ok(())
}

/// Setup of `scheme` on `db` in a 1-thread and a 2-thread rayon pool, each
/// on a fresh memory store, alternating, best of [`SCALING_RUNS`] each: a
/// setup of a few hundredths of a second is otherwise at the mercy of one
/// scheduler hiccup.
fn scaling(scheme: &str, name: &str, db: &MultiMap) -> Result<SetupScaling> {
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Config(format!("thread pool: {e}")))
    };
    let pools = [pool(1)?, pool(2)?];
    let mut seconds = [f64::INFINITY; 2];
    for _ in 0..SCALING_RUNS {
        for (pool, s) in pools.iter().zip(&mut seconds) {
            let (mut index, _) = index(MemoryStore::new(), scheme)?;
            let t = Instant::now();
            pool.install(|| index.setup(db))?;
            *s = s.min(t.elapsed().as_secs_f64());
        }
    }
    Ok(SetupScaling {
        scheme: scheme.to_owned(),
        corpus: name.to_owned(),
        one_thread_seconds: seconds[0],
        two_thread_seconds: seconds[1],
        speedup: if seconds[1] > 0.0 { seconds[0] / seconds[1] } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searched_keywords_span_the_vocabulary() {
        let ks = searched(10_000);
        assert_eq!(ks.first(), Some(&0));
        assert_eq!(ks.get(1), Some(&1));
        assert_eq!(ks.last(), Some(&9_999));
        assert!(ks.len() > 15);
        assert!((slope(100, 1.0, 1_000, 10.0) - 1.0).abs() < 1e-9);
        assert!(slope(100, 1.0, 1_000, 1.0).abs() < 1e-9);
    }
}
