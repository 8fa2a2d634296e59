//! What one compromised shard of a Redis Cluster sees of the access
//! pattern, and what the attacks recover from it.
//!
//! The Redis Cluster store ([`crate::store::RedisClusterStore`]) puts every
//! store key in one of `N` buckets by SHA-256 of the table and key; a bucket
//! is one hash tag, so one slot, so one master. A master (a *shard*) serves
//! only the reads of the keys of its buckets. So of one query it sees:
//!
//! - the index keys the search read that live on it (for 2Lev, its share of
//!   the query's dictionary and array entries; the values are encrypted
//!   under the query's token, which the shard never sees: the token goes to
//!   `sseek serve`, which then reads the keys);
//! - the document records then fetched that live on it: their ids (a
//!   document key is the tenant's prefix and the id in clear) and their
//!   ciphertext sizes.
//!
//! This module derives that view exactly, without a running cluster:
//! [`StoreView::of`] replays the recorded server view into an in-memory
//! store, re-runs every recorded search on it through the server half of
//! the scheme (checking it gives the recorded answer) and logs the store
//! keys it reads; [`ShardLayout`] maps a store key to its bucket
//! ([`crate::store::redis_cluster_layout::bucket_of`], the store's own
//! function), the bucket's hash tag to its slot (CRC16, as Redis) and the
//! slot to the master that `redis-cli --cluster create` gives it.
//! [`StoreView::shard_observation`] then builds one shard's
//! [`Observation`]: per query it saw anything of, a search-pattern token
//! (the set of index keys it served: equal keywords read equal keys), the
//! ids and sizes of the documents it served.
//!
//! The shard is credited with telling queries apart by time (the workload is
//! sequential), which favours it. Keys every search reads whatever the
//! keyword (the instance's descriptor in the meta table) are not part of the
//! token: they tell the shard that holds them that a search happened, and
//! nothing else.
//!
//! Attacks run on a shard's observation two ways ([`ShardKnowledge`]):
//! unmodified (the attacker's known documents as for the whole server), and
//! with the knowledge restricted to the known documents stored on the shard
//! (which needs their ids: the attacker computes each known document's
//! bucket from its id, as the store does; SubgraphVL's own setting does not
//! assume ids, so that row is a stronger attacker than the paper's). A query
//! the shard saw nothing of gets no guess and counts as not recovered.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::scoring::spread;
use super::{AttackCorpus, QueryDistribution, ScenarioConfig, Selection, TENANT, build_scenario, knowledge};
use crate::leakage::attacks::{self, Knowledge, Recovery};
use crate::leakage::countermeasure::Countermeasure;
use crate::leakage::observe::{Observation, QueryObservation};
use crate::leakage::view::{DocumentSize, Observed, ServerView};
use crate::protocol::DocId;
use crate::store::keyspace::document_key;
use crate::store::redis_cluster_layout::{bucket_of, bucket_tag, slot, slot_ranges};
use crate::store::{ManyValues, SnapshotVisitor, Store, Table, Visitor, WriteBatch};
use crate::{Error, Result};

/// The namespace `sseek serve` uses on a Redis Cluster unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "sseek";
/// Buckets of a new Redis Cluster namespace.
pub const DEFAULT_BUCKETS: u32 = 256;
/// The attacks run on shard views.
pub const SHARD_ATTACKS: [&str; 3] = ["subgraph-vl", "count", "count-v2"];

/// Which master serves each bucket of a namespace.
#[derive(Debug, Clone)]
pub struct ShardLayout {
    namespace: String,
    buckets: u32,
    shards: u16,
    /// Master of each bucket.
    owner: Vec<u16>,
}

impl ShardLayout {
    /// `buckets` buckets of `namespace` over `shards` masters holding the
    /// slot ranges `redis-cli --cluster create` assigns (one master is the
    /// whole server).
    ///
    /// # Errors
    /// [`Error::Config`] for 0 buckets, more than 16384, or 0 shards.
    pub fn new(namespace: &str, buckets: u32, shards: u16) -> Result<Self> {
        if !(1..=16384).contains(&buckets) || shards == 0 {
            return Err(Error::Config(format!("shard layout of {buckets} buckets over {shards} masters")));
        }
        let ranges = slot_ranges(shards);
        let owner = (0..buckets)
            .map(|b| {
                let s = slot(bucket_tag(namespace, b).as_bytes());
                let i = ranges.iter().position(|r| r.contains(&s)).unwrap_or(0);
                u16::try_from(i).unwrap_or(0)
            })
            .collect();
        Ok(ShardLayout { namespace: namespace.to_owned(), buckets, shards, owner })
    }

    /// The store's layout ([`DEFAULT_NAMESPACE`], [`DEFAULT_BUCKETS`]) over `shards` masters.
    ///
    /// # Errors
    /// As [`ShardLayout::new`].
    pub fn redis_cluster(shards: u16) -> Result<Self> {
        Self::new(DEFAULT_NAMESPACE, DEFAULT_BUCKETS, shards)
    }

    /// Masters.
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// Buckets.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The master serving store key `(table, key)`.
    pub fn shard_of(&self, table: Table, key: &[u8]) -> u16 {
        self.owner.get(bucket_of(self.buckets, table, key) as usize).copied().unwrap_or(0)
    }

    /// Buckets per master.
    pub fn buckets_per_shard(&self) -> Vec<usize> {
        let mut n = vec![0usize; usize::from(self.shards)];
        for &o in &self.owner {
            n[usize::from(o)] += 1;
        }
        n
    }
}

/// One query as the store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreQuery {
    /// Position of the search in the server view.
    pub seq: u64,
    /// Store keys the search read whose key depends on the query (every
    /// table but the meta table), in read order.
    pub index_keys: Vec<(Table, Vec<u8>)>,
    /// Documents fetched right after the search, with their sizes.
    pub documents: Vec<DocumentSize>,
}

/// The server view of one tenant as store reads.
#[derive(Debug, Clone)]
pub struct StoreView {
    /// The tenant.
    pub tenant: String,
    /// Every search, in order.
    pub queries: Vec<StoreQuery>,
    /// Ciphertext size of every document at rest.
    pub at_rest: BTreeMap<DocId, u64>,
}

/// A [`Store`] that logs the keys read through it.
#[derive(Debug)]
struct ReadLog<'a> {
    store: &'a dyn Store,
    reads: Mutex<Vec<(Table, Vec<u8>)>>,
}

impl ReadLog<'_> {
    fn log(&self, table: Table, key: &[u8]) {
        if let Ok(mut r) = self.reads.lock() {
            r.push((table, key.to_vec()));
        }
    }

    fn take(&self) -> Vec<(Table, Vec<u8>)> {
        self.reads.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default()
    }
}

impl Store for ReadLog<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.log(table, key);
        self.store.get(table, key)
    }

    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> ManyValues {
        for k in keys {
            self.log(table, k);
        }
        self.store.get_many(table, keys)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        self.store.write(batch)
    }

    fn sync(&self) -> Result<()> {
        self.store.sync()
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        // A scan reads every key it visits.
        self.store.scan_prefix(table, prefix, &mut |k, v| {
            self.log(table, k);
            visit(k, v)
        })
    }

    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<()> {
        self.store.snapshot(visit)
    }

    fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64> {
        self.store.delete_prefixes(prefixes, batch)
    }
}

impl StoreView {
    /// The store reads behind `view`'s searches by `tenant`: replays the
    /// recorded inserts into a memory store and runs every recorded search
    /// token on it again through the scheme's server half, logging the
    /// keys read; a fetch right after a search is that search's documents.
    ///
    /// # Errors
    /// [`Error::Config`] if the view holds blind-index searches (not
    /// derived here) or a search answers differently on the replay; store
    /// and protocol errors.
    pub fn of(view: &ServerView, tenant: &str) -> Result<Self> {
        let store = view.replay_store(tenant, None)?;
        let log = ReadLog { store: &store, reads: Mutex::new(Vec::new()) };
        let mut queries: Vec<StoreQuery> = Vec::new();
        let mut fetched = true;
        for e in view.events.iter().filter(|e| e.status == 200 && e.tenant == tenant) {
            match &e.observed {
                Observed::SseSearch { instance, token, result } => {
                    log.take();
                    let again = crate::sse::server::search(&log, tenant, instance, token)?;
                    if &again != result {
                        return Err(Error::Config(format!("search at {} answers differently on the replay", e.seq)));
                    }
                    let index_keys = log.take().into_iter().filter(|(t, _)| *t != Table::Meta).collect();
                    queries.push(StoreQuery { seq: e.seq, index_keys, documents: Vec::new() });
                    fetched = false;
                }
                Observed::BlindSearch { .. } => {
                    return Err(Error::Config("shard views of blind-index searches are not derived".into()));
                }
                Observed::GetDocuments { returned, .. } if !fetched => {
                    if let Some(q) = queries.last_mut() {
                        q.documents.clone_from(returned);
                    }
                    fetched = true;
                }
                _ => {}
            }
        }
        Ok(StoreView { tenant: tenant.to_owned(), queries, at_rest: view.documents_at_rest() })
    }

    /// What master `shard` of `layout` sees: the queries it saw any key of,
    /// with their positions among [`StoreView::queries`].
    pub fn shard_observation(&self, layout: &ShardLayout, shard: u16) -> ShardObservation {
        let on_shard = |id: DocId| layout.shard_of(Table::Documents, &document_key(&self.tenant, id)) == shard;
        let mut tokens: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut observation = Observation {
            documents: self.at_rest.iter().filter(|(id, _)| on_shard(**id)).map(|(&id, &b)| (id, b)).collect(),
            queries: Vec::new(),
        };
        let mut positions = Vec::new();
        let (mut ids_seen, mut ids_all) = (0usize, 0usize);
        for (pos, q) in self.queries.iter().enumerate() {
            let mut keys: Vec<&(Table, Vec<u8>)> =
                q.index_keys.iter().filter(|(t, k)| layout.shard_of(*t, k) == shard).collect();
            let documents: Vec<DocumentSize> = q.documents.iter().filter(|d| on_shard(d.id)).cloned().collect();
            ids_all += q.documents.len();
            ids_seen += documents.len();
            if keys.is_empty() && documents.is_empty() {
                continue;
            }
            // The search pattern: the set of index keys served. A query the
            // shard served no index key of is a token of its own.
            keys.sort();
            keys.dedup();
            let canonical = if keys.is_empty() {
                [b"q".as_slice(), &q.seq.to_be_bytes()].concat()
            } else {
                keys.iter()
                    .flat_map(|(t, k)| [t.name().as_bytes(), &(k.len() as u64).to_be_bytes(), k].concat())
                    .collect()
            };
            let next = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
            let token = *tokens.entry(canonical).or_insert(next);
            let ids: Vec<DocId> = documents.iter().map(|d| d.id).collect();
            observation.queries.push(QueryObservation {
                seq: q.seq,
                token,
                result_len: ids.len(),
                ids: Some(ids),
                documents,
            });
            positions.push(pos);
        }
        ShardObservation {
            observation,
            positions,
            ids_fraction: if ids_all == 0 { 0.0 } else { ids_seen as f64 / ids_all as f64 },
        }
    }
}

/// One shard's view of a workload.
#[derive(Debug, Clone)]
pub struct ShardObservation {
    /// The queries the shard saw any key of, as the attacks read them.
    pub observation: Observation,
    /// For each of those queries, its position in the workload.
    pub positions: Vec<usize>,
    /// Fraction of all fetched result documents that the shard served.
    pub ids_fraction: f64,
}

impl ShardObservation {
    /// Runs `attack` and spreads its guesses over the whole workload of
    /// `queries` queries (a query the shard did not see gets no guess).
    pub fn recover(&self, attack: &dyn attacks::Attack, knowledge: &Knowledge, queries: usize) -> Recovery {
        let guesses = attack.recover(&self.observation, knowledge).guesses;
        let mut all = vec![None; queries];
        for (&pos, g) in self.positions.iter().zip(guesses) {
            if let Some(slot) = all.get_mut(pos) {
                *slot = g;
            }
        }
        Recovery { guesses: all }
    }
}

/// The attacker's knowledge on a shard view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShardKnowledge {
    /// The known documents as for the whole server; the attack unmodified.
    Unmodified,
    /// Only the known documents stored on the shard (the attack unmodified).
    OnShard,
}

impl ShardKnowledge {
    /// Name in tables.
    pub fn name(self) -> &'static str {
        match self {
            ShardKnowledge::Unmodified => "unmodified",
            ShardKnowledge::OnShard => "known docs on the shard",
        }
    }
}

/// Knowledge restricted to the known documents `layout` puts on `shard`.
pub fn knowledge_on_shard(knowledge: &Knowledge, layout: &ShardLayout, tenant: &str, shard: u16) -> Knowledge {
    let mut k = knowledge.clone();
    k.known_documents.retain(|&id, _| layout.shard_of(Table::Documents, &document_key(tenant, id)) == shard);
    k
}

/// The shard experiment's parameters.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// Scheme variant (an SSE scheme; the blind index is not derived).
    pub scheme: String,
    /// Candidate keywords (most frequent).
    pub keywords: usize,
    /// Queries per workload (distinct candidates, uniform).
    pub queries: usize,
    /// Known fractions.
    pub fractions: Vec<f64>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Masters per cluster, e.g. `[3, 6]`; the whole server (1) is always run.
    pub shard_counts: Vec<u16>,
    /// Buckets of the namespace.
    pub buckets: u32,
}

/// One (masters, shard, attack, knowledge, known fraction, seed) result.
#[derive(Debug, Clone, Serialize)]
pub struct ShardRow {
    /// Masters of the cluster (1: the whole server).
    pub shards: u16,
    /// The master attacked.
    pub shard: u16,
    /// Attack name.
    pub attack: &'static str,
    /// The attacker's knowledge.
    pub knowledge: ShardKnowledge,
    /// Known fraction of the documents.
    pub known: f64,
    /// Seed.
    pub seed: u64,
    /// Fraction of the queries recovered.
    pub recovery: f64,
    /// Fraction of the queries the shard saw any key of.
    pub visible: f64,
    /// Fraction of the fetched result documents the shard served.
    pub ids_fraction: f64,
}

/// Runs the experiment: per seed one scenario of `config.scheme` on
/// `corpus` (the grid's: same candidates, queries and known documents),
/// its store view, and every attack of [`SHARD_ATTACKS`] on the whole
/// server and on every master of every cluster size. `progress` gets a
/// line per seed.
///
/// # Errors
/// Configuration, scheme and replay errors.
pub fn run_shards(
    corpus: &AttackCorpus,
    config: &ShardConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<ShardRow>> {
    use rayon::prelude::*;
    let mut counts = vec![1u16];
    counts.extend(config.shard_counts.iter().copied().filter(|&c| c > 1));
    counts.sort_unstable();
    counts.dedup();
    let layouts: Vec<ShardLayout> =
        counts.iter().map(|&c| ShardLayout::new(DEFAULT_NAMESPACE, config.buckets, c)).collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for &seed in &config.seeds {
        let t = Instant::now();
        let scenario = build_scenario(
            corpus,
            &ScenarioConfig {
                scheme: config.scheme.clone(),
                countermeasure: Countermeasure::None,
                keywords: config.keywords,
                selection: Selection::Frequent,
                queries: config.queries,
                distribution: QueryDistribution::Uniform,
                seed,
                active: false,
            },
        )?;
        if scenario.cost.mismatches > 0 {
            return Err(Error::Config(format!("{}: {} mismatched queries", config.scheme, scenario.cost.mismatches)));
        }
        let store_view = StoreView::of(&scenario.view, TENANT)?;
        if store_view.queries.len() != scenario.truth.len() {
            return Err(Error::Config(format!(
                "{} searches in the view for {} queries",
                store_view.queries.len(),
                scenario.truth.len()
            )));
        }
        let views: Vec<(&ShardLayout, u16, ShardObservation)> = layouts
            .iter()
            .flat_map(|l| (0..l.shards()).map(move |s| (l, s)))
            .map(|(l, s)| (l, s, store_view.shard_observation(l, s)))
            .collect();
        let knowledges: Vec<Knowledge> =
            config.fractions.iter().map(|&k| knowledge(corpus, &scenario, k, 0, seed)).collect();
        let jobs: Vec<(usize, usize, &'static str, ShardKnowledge)> = (0..views.len())
            .flat_map(|v| (0..knowledges.len()).map(move |k| (v, k)))
            .flat_map(|(v, k)| SHARD_ATTACKS.iter().map(move |&a| (v, k, a)))
            .flat_map(|(v, k, a)| [ShardKnowledge::Unmodified, ShardKnowledge::OnShard].map(move |m| (v, k, a, m)))
            .filter(|&(v, _, _, m)| views[v].0.shards() > 1 || m == ShardKnowledge::Unmodified)
            .collect();
        let n = scenario.truth.len();
        let mut results: Vec<ShardRow> = jobs
            .par_iter()
            .map(|&(v, k, name, mode)| {
                let (layout, shard, view) = &views[v];
                let attack = attacks::by_name(name).ok_or_else(|| Error::Config(format!("unknown attack {name}")))?;
                let knowledge = match mode {
                    ShardKnowledge::Unmodified => knowledges[k].clone(),
                    ShardKnowledge::OnShard => knowledge_on_shard(&knowledges[k], layout, TENANT, *shard),
                };
                let recovery = view.recover(attack.as_ref(), &knowledge, n);
                Ok(ShardRow {
                    shards: layout.shards(),
                    shard: *shard,
                    attack: name,
                    knowledge: mode,
                    known: config.fractions[k],
                    seed,
                    recovery: super::query_recovery(&scenario, &knowledge, &recovery),
                    visible: view.positions.len() as f64 / n.max(1) as f64,
                    ids_fraction: view.ids_fraction,
                })
            })
            .collect::<Result<_>>()?;
        rows.append(&mut results);
        progress(&format!("shards: {} seed {seed}: {:.1} s", config.scheme, t.elapsed().as_secs_f64()));
    }
    Ok(rows)
}

/// Median and range over seeds and shards of one (masters, attack,
/// knowledge, known fraction).
#[derive(Debug, Clone, Serialize)]
pub struct ShardSummary {
    /// Masters of the cluster (1: the whole server).
    pub shards: u16,
    /// Attack name.
    pub attack: &'static str,
    /// The attacker's knowledge.
    pub knowledge: ShardKnowledge,
    /// Known fraction.
    pub known: f64,
    /// Runs summarised (seeds times masters).
    pub runs: usize,
    /// Recovery: median, minimum, maximum.
    pub recovery: (f64, f64, f64),
    /// Fraction of queries the shard saw: median.
    pub visible: f64,
    /// Fraction of result documents the shard served: median, minimum, maximum.
    pub ids_fraction: (f64, f64, f64),
}

/// Summarises rows over seeds and shards, in attack, knowledge, masters,
/// known-fraction order.
pub fn summarize(rows: &[ShardRow]) -> Vec<ShardSummary> {
    let mut groups: BTreeMap<(usize, ShardKnowledge, u16, u64), Vec<&ShardRow>> = BTreeMap::new();
    for r in rows {
        let a = SHARD_ATTACKS.iter().position(|x| *x == r.attack).unwrap_or(usize::MAX);
        groups.entry((a, r.knowledge, r.shards, r.known.to_bits())).or_default().push(r);
    }
    let mut out: Vec<ShardSummary> = groups
        .into_values()
        .map(|rs| ShardSummary {
            shards: rs[0].shards,
            attack: rs[0].attack,
            knowledge: rs[0].knowledge,
            known: rs[0].known,
            runs: rs.len(),
            recovery: spread(rs.iter().map(|r| r.recovery).collect()),
            visible: spread(rs.iter().map(|r| r.visible).collect()).0,
            ids_fraction: spread(rs.iter().map(|r| r.ids_fraction).collect()),
        })
        .collect();
    out.sort_by(|a, b| {
        let pos = |s: &ShardSummary| SHARD_ATTACKS.iter().position(|x| *x == s.attack).unwrap_or(usize::MAX);
        (pos(a), a.shards, a.knowledge).cmp(&(pos(b), b.shards, b.knowledge)).then(a.known.total_cmp(&b.known))
    });
    out
}

/// The summary as a markdown table: one row per (attack, view), one column
/// per known fraction, `median [min–max]` recovery in percent over seeds and
/// shards.
pub fn markdown(summary: &[ShardSummary]) -> String {
    use std::fmt::Write as _;
    let mut knowns: Vec<f64> = summary.iter().map(|s| s.known).collect();
    knowns.sort_by(f64::total_cmp);
    knowns.dedup();
    let mut out = String::from("| attack | view | knowledge | runs |");
    for k in &knowns {
        let _ = write!(out, " known {k} |");
    }
    out.push_str(" result documents seen | queries seen |\n|---|---|---|---:|");
    out.push_str(&"---:|".repeat(knowns.len() + 2));
    out.push('\n');
    let mut groups: Vec<Vec<&ShardSummary>> = Vec::new();
    for s in summary {
        match groups.last_mut() {
            Some(g) if g[0].attack == s.attack && g[0].shards == s.shards && g[0].knowledge == s.knowledge => g.push(s),
            _ => groups.push(vec![s]),
        }
    }
    for g in groups {
        let first = g[0];
        let view = if first.shards == 1 { "whole server".to_owned() } else { format!("one shard of {}", first.shards) };
        let knowledge = if first.shards == 1 { "all known docs" } else { first.knowledge.name() };
        let _ = write!(out, "| {} | {view} | {knowledge} | {} |", first.attack, first.runs);
        for k in &knowns {
            match g.iter().find(|s| s.known == *k) {
                Some(s) => {
                    let (m, lo, hi) = s.recovery;
                    let _ = write!(out, " {:.1} [{:.1}–{:.1}] |", m * 100.0, lo * 100.0, hi * 100.0);
                }
                None => out.push_str(" |"),
            }
        }
        let (m, lo, hi) = first.ids_fraction;
        let _ =
            writeln!(out, " {:.1}% [{:.1}–{:.1}] | {:.1}% |", m * 100.0, lo * 100.0, hi * 100.0, first.visible * 100.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(corpus: &AttackCorpus) -> super::super::Scenario {
        build_scenario(
            corpus,
            &ScenarioConfig {
                scheme: "2lev".into(),
                countermeasure: Countermeasure::None,
                keywords: 100,
                selection: Selection::Frequent,
                queries: 40,
                distribution: QueryDistribution::Uniform,
                seed: 3,
                active: false,
            },
        )
        .unwrap()
    }

    fn corpus() -> AttackCorpus {
        AttackCorpus::from_messages("synthetic", crate::datasets::Synthetic::new(5).generate(1200)).unwrap()
    }

    fn sorted(o: &Observation) -> Vec<(u32, Vec<DocId>, Vec<DocumentSize>)> {
        o.queries
            .iter()
            .map(|q| {
                let mut ids = q.ids.clone().unwrap_or_default();
                ids.sort_unstable();
                let mut d = q.documents.clone();
                d.sort_by_key(|d| d.id);
                (q.token, ids, d)
            })
            .collect()
    }

    #[test]
    fn one_bucket_puts_the_whole_view_on_one_shard() {
        let corpus = corpus();
        let scenario = scenario(&corpus);
        let store_view = StoreView::of(&scenario.view, TENANT).unwrap();
        let whole = ShardLayout::new(DEFAULT_NAMESPACE, DEFAULT_BUCKETS, 1).unwrap();
        let server = store_view.shard_observation(&whole, 0);
        // The store-level view of the whole server is the server's view.
        assert_eq!(sorted(&server.observation), sorted(&scenario.observation));
        assert_eq!(server.observation.documents, scenario.observation.documents);
        // Negative control: one bucket, so every key of the tenant on one master of 3.
        let bad = ShardLayout::new(DEFAULT_NAMESPACE, 1, 3).unwrap();
        let views: Vec<ShardObservation> = (0..3).map(|s| store_view.shard_observation(&bad, s)).collect();
        let full: Vec<&ShardObservation> = views.iter().filter(|v| !v.positions.is_empty()).collect();
        assert_eq!(full.len(), 1, "one master holds everything");
        assert_eq!(sorted(&full[0].observation), sorted(&server.observation));
        assert_eq!(full[0].ids_fraction, 1.0);
        let known = knowledge(&corpus, &scenario, 1.0, 0, 3);
        let n = scenario.truth.len();
        for name in SHARD_ATTACKS {
            let attack = attacks::by_name(name).unwrap();
            let on_server =
                super::super::query_recovery(&scenario, &known, &server.recover(attack.as_ref(), &known, n));
            let on_shard =
                super::super::query_recovery(&scenario, &known, &full[0].recover(attack.as_ref(), &known, n));
            assert_eq!(on_shard, on_server, "{name}");
            if name == "count" {
                assert!(on_server > 0.5, "count recovers the whole server's view: {on_server}");
            }
        }
    }

    #[test]
    fn spread_buckets_show_each_shard_part_of_every_long_result() {
        let corpus = corpus();
        let scenario = scenario(&corpus);
        let store_view = StoreView::of(&scenario.view, TENANT).unwrap();
        let layout = ShardLayout::redis_cluster(3).unwrap();
        assert!(layout.buckets_per_shard().iter().all(|&b| b > 40), "{:?}", layout.buckets_per_shard());
        let long: Vec<usize> =
            store_view.queries.iter().enumerate().filter(|(_, q)| q.documents.len() >= 40).map(|(i, _)| i).collect();
        assert!(long.len() >= 5, "{} long results", long.len());
        let mut served = vec![0usize; store_view.queries.len()];
        for shard in 0..3 {
            let view = store_view.shard_observation(&layout, shard);
            assert!(view.ids_fraction > 0.0 && view.ids_fraction < 1.0, "{}", view.ids_fraction);
            for &i in &long {
                let all = store_view.queries[i].documents.len();
                let seen = view
                    .positions
                    .iter()
                    .position(|&p| p == i)
                    .map_or(0, |j| view.observation.queries[j].documents.len());
                assert!(seen > 0 && seen < all, "shard {shard} saw {seen} of {all} documents of query {i}");
                served[i] += seen;
            }
        }
        // The shards partition the fetches.
        for &i in &long {
            assert_eq!(served[i], store_view.queries[i].documents.len());
        }
    }
}
