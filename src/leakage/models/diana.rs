//! Diana's declared leakage ([`PROFILE`]), its value on a plaintext
//! [`Workload`] ([`leakage`]), a simulator that builds a server view from
//! that value alone ([`simulate`]) and a recorded run of the real scheme
//! ([`DianaModel`]). The laws are in `tests/suite/leakage_laws_dynamic.rs`; the
//! note is `papers/diana.md`.
//!
//! **What the view shows** (see `src/sse/diana/`): an add batch is one
//! insert of fresh pseudorandom 16-byte labels with 4-byte values; a search
//! for `w` with `c_w > 0` adds sends the GGM nodes covering leaves `0..c_w`
//! (their depths and indexes are a function of `c_w`), `c_w` itself in the
//! clear, and the per-keyword hash key; the server answers with the ids of
//! all adds of `w` in counter order. A keyword with no add sends nothing.
//! Hence:
//!
//! - `L_setup` = `N`; `L_update` = the batch size;
//! - `L_search(w)` = the search pattern (the hash key and shared node seeds
//!   repeat), the access pattern as the server sees it (every add's id in
//!   counter order, repeats included) and the batch of every add of `w`:
//!   the server expands the token, recomputes each add's label and finds it
//!   among the stored entries ([`update_times`]). On an add-only scheme this
//!   is exactly `TimeDB(w)`, the Type-I item, which is how the trace names it.
//!
//! The setup sends its adds in a random order, so the ids of the setup's adds
//! of `w` reach the server in random order: the trace lists them ascending
//! and [`normalize_setup_order`] sorts them in a recorded view the same way
//! (the attacker can do this: it finds which leaves are setup entries).
//!
//! The canonical view records the token, not the labels the server derives
//! from it, so the simulator's random node seeds need not expand to the
//! labels it inserted (a proof would program a random oracle there); the
//! derived times are checked separately, on real views, by law 1.
//!
//! With consolidation (the default; [`DianaModel::consolidate_after`]) the
//! setup is packed blocks (its leakage is their number, [`Leak::EntryCount`],
//! and their ids reach the server ascending, so nothing needs sorting), a
//! token also names the keyword's blocks, and a search that rewrites the
//! keyword shows the new block count ([`Leak::PaddedResultLength`]); see
//! [`crate::sse::diana::leakage`].
//!
//! Timestamps are batch ordinals as for Mitra
//! ([`crate::sse::mitra::leakage`]), with the same caveat for batches larger
//! than [`crate::sse::ENTRY_CHUNK`].

pub use crate::sse::diana::leakage::{PAPER_PROFILE, PROFILE};
use std::collections::{BTreeMap, HashMap};

use rand::{Rng, RngCore};

use crate::keys::MasterKey;
use crate::leakage::models::mitra::{
    BatchClock, PendingOperation, TENANT, ViewBuilder, count_of, random_bytes, random_label, record_dynamic,
    search_items, with_search_pattern,
};
use crate::leakage::profile::{
    BackwardPrivacy, Leak, LeakValue, LeakageModel, Operation, OperationKind, Profile, Trace, Workload,
};
use crate::leakage::view::{Observed, ServerView};
use crate::primitives::ggm::{self, HEIGHT};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, GgmNode, Label, SearchResult, SearchToken, SseDescriptor};
use crate::sse::diana::server::MAX_COUNT;
use crate::sse::entries::MAX_TOKEN_ITEMS;
use crate::sse::packed::BLOCK_LEN;
use crate::sse::registry::Scheme;
use crate::sse::{self, Keyword, PACKED_BLOCK, SchemeConfig, UpdateOp};
use crate::{Error, Result};

/// Instance name of Diana's recorded runs and simulations.
pub const INSTANCE: &str = "diana";

/// Bytes of an entry value (an id XOR a mask).
const VALUE_LEN: usize = 4;

/// The Type-I item as this module uses it: `TimeDB(w)`'s batch ordinals.
const TIMES: Leak = Leak::BackwardPrivacy(BackwardPrivacy::TypeI);

/// Diana's [`LeakageModel`]: [`PROFILE`] (or [`PAPER_PROFILE`]),
/// [`leakage`], [`simulate`] and a recorded run of the real client and
/// server, all with the same consolidation setting.
#[derive(Debug, Clone, Copy)]
pub struct DianaModel {
    /// [`SchemeConfig::consolidate_after`] of the client modelled.
    pub consolidate_after: Option<u32>,
}

impl Default for DianaModel {
    /// As built by default ([`sse::CONSOLIDATE_AFTER`]).
    fn default() -> Self {
        DianaModel { consolidate_after: Some(sse::CONSOLIDATE_AFTER) }
    }
}

impl LeakageModel for DianaModel {
    fn profile(&self) -> Profile {
        if self.consolidate_after.is_some() { PROFILE } else { PAPER_PROFILE }
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        leakage(workload, self.consolidate_after)
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        simulate(trace, self.consolidate_after, rng)
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        let master = MasterKey::generate()?;
        let config = SchemeConfig { consolidate_after: self.consolidate_after, ..SchemeConfig::new("diana", INSTANCE) };
        let scheme = sse::open_client(&master, TENANT, &config)?;
        record_dynamic(scheme, workload)
    }
}

/// Diana's declared leakage of `workload`, computed from the plaintext,
/// for a client with `consolidate_after` ([`SchemeConfig::consolidate_after`]).
///
/// Setup: [`Leak::TotalSize`] without consolidation; with it, every keyword
/// is packed and the item is [`Leak::EntryCount`], the number of blocks.
/// Each update batch: [`Leak::UpdateSize`]. Each search: nothing if its
/// keyword has neither a block nor an add yet; otherwise
/// [`Leak::SearchPattern`], [`Leak::AccessPattern`] (the ids of its blocks,
/// ascending, then of its adds since: the setup's ascending, then the later
/// ones in order) and the Type-I item as the batch ordinals of those blocks
/// and adds. A search after which the client consolidates adds
/// [`Leak::PaddedResultLength`], the number of new blocks; their insert
/// takes the next ordinal.
///
/// # Errors
/// [`Error::Config`] for a workload with a delete (Diana is add-only).
pub fn leakage(workload: &Workload, consolidate_after: Option<u32>) -> Result<Trace> {
    #[derive(Default)]
    struct Tracked {
        /// Batch ordinal and id of each block's ids (ascending), then of each add since.
        named: Vec<(u64, DocId)>,
        /// Ordinals of the blocks alone (one per block).
        block_times: Vec<u64>,
        adds: usize,
        live: std::collections::BTreeSet<DocId>,
    }
    let mut trace = Trace::new(if consolidate_after.is_some() { PROFILE.scheme } else { PAPER_PROFILE.scheme });
    let mut clock = BatchClock::new();
    let mut keywords: HashMap<&Keyword, Tracked> = HashMap::new();
    if consolidate_after.is_some() {
        let blocks: usize = workload.db.values().map(|ids| distinct(ids).len().div_ceil(PACKED_BLOCK)).sum();
        trace.setup.push((Leak::EntryCount, LeakValue::Count(blocks as u64)));
        if let Some(t) = clock.tick(blocks) {
            for (k, ids) in &workload.db {
                let w = keywords.entry(k).or_default();
                w.live = distinct(ids);
                w.block_times = vec![t; w.live.len().div_ceil(PACKED_BLOCK)];
                w.named = w.live.iter().map(|&id| (t, id)).collect();
            }
        }
    } else {
        let n = sse::pair_count(&workload.db);
        trace.setup.push((Leak::TotalSize, LeakValue::Count(n as u64)));
        if let Some(t) = clock.tick(n) {
            for (k, ids) in &workload.db {
                let w = keywords.entry(k).or_default();
                w.named.extend(ids.iter().map(|&id| (t, id)));
                w.adds += ids.len();
                w.live.extend(ids.iter().copied());
            }
        }
    }
    let mut sent: Vec<&Keyword> = Vec::new();
    let mut ops: Vec<PendingOperation> = Vec::new();
    for op in &workload.operations {
        match op {
            Operation::Update(batch) => {
                if batch.iter().any(|u| u.op == UpdateOp::Delete) {
                    return Err(Error::Config("Diana is add-only: a workload with deletes has no Diana trace".into()));
                }
                if let Some(t) = clock.tick(batch.len()) {
                    for u in batch {
                        let w = keywords.entry(&u.keyword).or_default();
                        w.named.push((t, u.id));
                        w.adds += 1;
                        w.live.insert(u.id);
                    }
                }
                ops.push((OperationKind::Update, vec![(Leak::UpdateSize, LeakValue::Count(batch.len() as u64))], None));
            }
            Operation::Search(k) => match keywords.get_mut(k).filter(|w| !w.named.is_empty()) {
                Some(w) => {
                    sent.push(k);
                    let ids = LeakValue::Ids(w.named.iter().map(|&(_, id)| id).collect());
                    // A block holds many ids but is one entry: its ordinal once.
                    let packed = w.named.len() - w.adds;
                    let mut times = w.block_times.clone();
                    times.extend(w.named[packed..].iter().map(|&(t, _)| t));
                    let mut values = vec![(Leak::AccessPattern, ids), (TIMES, LeakValue::Counts(times))];
                    if sse::consolidation_due(consolidate_after, w.adds, w.block_times.len()) {
                        let n = w.live.len().div_ceil(PACKED_BLOCK);
                        values.push((Leak::PaddedResultLength, LeakValue::Count(n as u64)));
                        let t = clock.tick(n);
                        w.block_times = t.map(|t| vec![t; n]).unwrap_or_default();
                        w.named = t.map(|t| w.live.iter().map(|&id| (t, id)).collect()).unwrap_or_default();
                        w.adds = 0;
                    }
                    ops.push((OperationKind::Search, values, Some(sent.len() - 1)));
                }
                None => ops.push((OperationKind::Search, Vec::new(), None)),
            },
        }
    }
    trace.operations = with_search_pattern(ops, &sent);
    Ok(trace)
}

/// The distinct ids of a setup list, ascending (what a packed setup writes).
fn distinct(ids: &[DocId]) -> std::collections::BTreeSet<DocId> {
    ids.iter().copied().collect()
}

/// Diana's public descriptor for instance [`INSTANCE`].
fn descriptor() -> SseDescriptor {
    SseDescriptor {
        instance: INSTANCE.to_owned(),
        scheme: Scheme::Diana.name().to_owned(),
        block: 1,
        response_revealing: true,
        key_version: 1,
    }
}

/// A simulated batch: its entries, the indexes not yet bound to a class,
/// and whether they are packed blocks.
type Batch = (Vec<EncryptedEntry>, Vec<usize>, bool);

/// A simulated batch of `n` random entries (blocks or adds), inserted into
/// `view` and kept (all unbound) in `batches`; nothing for an empty batch.
fn new_batch(n: usize, blocks: bool, batches: &mut Vec<Batch>, view: &mut ViewBuilder, rng: &mut dyn RngCore) {
    if n == 0 {
        return;
    }
    let len = if blocks { BLOCK_LEN } else { VALUE_LEN };
    let entries: Vec<EncryptedEntry> = (0..n)
        .map(|_| EncryptedEntry {
            location: EntryLocation::Dictionary(random_label(rng)),
            value: random_bytes(rng, len),
        })
        .collect();
    view.insert(&entries);
    batches.push((entries, (0..n).collect(), blocks));
}

/// A search-pattern class in the simulator: the entries bound to it since
/// its last rewrite (blocks first) and its keys in the current generation.
struct Class {
    seen: Vec<u64>,
    entries: Vec<EncryptedEntry>,
    blocks: u32,
    count: u32,
    /// Label and value keys of its blocks, once it has any.
    block_keys: Option<(Label, Label)>,
    hash_key: Label,
    /// Node seeds by (depth, index), kept across searches of one generation.
    seeds: BTreeMap<(u8, u32), [u8; 16]>,
}

impl Class {
    fn new(rng: &mut dyn RngCore) -> Self {
        Class {
            seen: Vec::new(),
            entries: Vec::new(),
            blocks: 0,
            count: 0,
            block_keys: None,
            hash_key: random_label(rng),
            seeds: BTreeMap::new(),
        }
    }
}

/// A view of Diana built from `trace` alone, for a client with `consolidate_after`.
///
/// Each batch becomes that many random labels with random values: 4 bytes
/// for adds, 257 for packed blocks (the setup with consolidation, and each
/// rewrite). A search of class `s` whose trace lists batch ordinals
/// `t_1..t_a` binds, for each new `t_i`, an entry of batch `t_i` not yet
/// bound to any class, picked at random: a block if the batch is one of
/// blocks, else an add. It sends the cover of the class's add count (node
/// positions are public: they follow from the count) with one random seed
/// per `(depth, index)`, kept across the class's searches until it is
/// rewritten, the count, and a random hash key per class and generation; a
/// class holding blocks sends a packed token (random label and value keys,
/// its block count, then the same). The answer is the trace's access
/// pattern. A search with a new block count is followed by the insert of
/// that many blocks, now the class's, under fresh keys, and the removal of
/// every entry the search named.
///
/// # Errors
/// [`Error::Config`] for a trace that is not Diana's or is inconsistent (a
/// search whose ordinals do not extend its class's earlier ones, or name
/// more entries of a batch than it has).
pub fn simulate(trace: &Trace, consolidate_after: Option<u32>, rng: &mut dyn RngCore) -> Result<ServerView> {
    let mut view = ViewBuilder::open(descriptor());
    let mut batches: Vec<Batch> = Vec::new();
    match consolidate_after {
        Some(_) => {
            let n = count_of(trace.setup_value(Leak::EntryCount), "block count")?;
            new_batch(n, true, &mut batches, &mut view, rng);
        }
        None => new_batch(count_of(trace.setup_value(Leak::TotalSize), "N")?, false, &mut batches, &mut view, rng),
    }
    view.sync();
    let mut classes: BTreeMap<u32, Class> = BTreeMap::new();
    for op in &trace.operations {
        match op.kind {
            OperationKind::Update => {
                new_batch(count_of(op.get(Leak::UpdateSize), "update size")?, false, &mut batches, &mut view, rng)
            }
            OperationKind::Search if op.values.is_empty() => {}
            OperationKind::Search => {
                let (class, times) = search_items(op, TIMES)?;
                let Some(LeakValue::Ids(ids)) = op.get(Leak::AccessPattern) else {
                    return Err(Error::Config("trace: a Diana search without its access pattern".into()));
                };
                let c = match classes.entry(class) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => e.insert(Class::new(rng)),
                };
                if times.get(..c.seen.len()) != Some(c.seen.as_slice()) {
                    return Err(Error::Config(format!(
                        "trace: search of class {class} does not extend its earlier ones"
                    )));
                }
                for &t in &times[c.seen.len()..] {
                    let (batch, free, blocks) = usize::try_from(t)
                        .ok()
                        .and_then(|t| batches.get_mut(t))
                        .filter(|(_, free, _)| !free.is_empty())
                        .ok_or_else(|| Error::Config(format!("trace: no unbound entry left in batch {t}")))?;
                    let pick = free.swap_remove(rng.random_range(0..free.len()));
                    if *blocks {
                        c.blocks += 1;
                        if c.block_keys.is_none() {
                            c.block_keys = Some((random_label(rng), random_label(rng)));
                        }
                    } else {
                        c.count += 1;
                    }
                    c.entries.push(batch[pick].clone());
                    c.seen.push(t);
                }
                if c.count > MAX_COUNT {
                    return Err(Error::Config(format!("trace: {} adds exceed Diana's limit", c.count)));
                }
                // Node positions from the public count; the root seed is irrelevant.
                let nodes = ggm::cover(&[0; 16], c.count)
                    .into_iter()
                    .map(|n| GgmNode {
                        depth: n.depth,
                        index: n.index,
                        seed: *c.seeds.entry((n.depth, n.index)).or_insert_with(|| random_label(rng)),
                    })
                    .collect();
                let (count, hash_key) = (c.count, c.hash_key);
                let token = match c.block_keys {
                    Some((label_key, value_key)) => {
                        SearchToken::PackedGgm { label_key, value_key, blocks: c.blocks, nodes, count, hash_key }
                    }
                    None => SearchToken::Ggm { nodes, count, hash_key },
                };
                view.search(token, SearchResult::Ids(ids.clone()));
                if let Some(value) = op.get(Leak::PaddedResultLength) {
                    let n = count_of(Some(value), "new block count")?;
                    new_batch(n, true, &mut batches, &mut view, rng);
                    // The removal of everything the search named, in the form
                    // `normalize_setup_order` gives a real view (no labels).
                    view.push(Observed::SseRemove { instance: INSTANCE.to_owned(), locations: Vec::new() });
                    let mut fresh = Class::new(rng);
                    if let Some((batch, free, _)) = batches.last_mut().filter(|_| n > 0) {
                        free.clear();
                        fresh.entries.clone_from(batch);
                        fresh.seen = vec![batches.len() as u64 - 1; n];
                        fresh.blocks = u32::try_from(n).unwrap_or(u32::MAX);
                        fresh.block_keys = Some((random_label(rng), random_label(rng)));
                    }
                    *c = fresh;
                }
            }
        }
    }
    Ok(view.finish())
}

/// The labels of the leaves a Diana token covers, in leaf order; `None` for
/// a token that is malformed or covers more than [`MAX_COUNT`] leaves (the
/// server refuses those).
fn leaf_labels(nodes: &[GgmNode], count: u32, hash_key: &[u8; 16]) -> Option<Vec<Label>> {
    if count > MAX_COUNT {
        return None;
    }
    let mut ranged: Vec<(u64, &GgmNode)> =
        nodes.iter().map(|n| ggm::range(n.depth, n.index).map(|(start, _)| (start, n))).collect::<Option<_>>()?;
    ranged.sort_unstable_by_key(|r| r.0);
    let labels: Vec<Label> = ranged
        .iter()
        .flat_map(|(_, n)| ggm::expand(&n.seed, HEIGHT - n.depth))
        .map(|leaf| ggm::leaf_outputs(&leaf, hash_key).0)
        .collect();
    (labels.len() == count as usize).then_some(labels)
}

/// What the server derives from a Diana view about update times: for each
/// successful search with a GGM token, in order, the ordinal (among the
/// view's successful inserts) of the insert holding each covered leaf's
/// label, `None` where no insert holds it (or the token is malformed). The
/// attacker's own computation: expand the nodes, recompute the labels, look
/// them up. On real views this equals the Type-I item of [`leakage`]'s trace.
pub fn update_times(view: &ServerView) -> Vec<Vec<Option<u64>>> {
    crate::leakage::profile::update_times_by(view, token_labels)
}

/// The labels a Diana token covers, as the server derives them (blocks
/// first); `Some(Err(n))` for a malformed token covering `n` leaves, `None`
/// for a token of another scheme.
fn token_labels(token: &SearchToken) -> Option<std::result::Result<Vec<Label>, usize>> {
    match token {
        SearchToken::Ggm { nodes, count, hash_key } => {
            Some(leaf_labels(nodes, *count, hash_key).ok_or((*count).min(MAX_COUNT) as usize))
        }
        // The server derives the block labels from the key, as it does to answer.
        SearchToken::PackedGgm { label_key, blocks, nodes, count, hash_key, .. } => {
            let named = (*blocks as usize).min(MAX_TOKEN_ITEMS) + (*count).min(MAX_COUNT) as usize;
            if *blocks as usize > MAX_TOKEN_ITEMS {
                return Some(Err(named));
            }
            let mut labels = crate::primitives::prf::Prf::new(label_key).labels(0, *blocks as usize);
            match leaf_labels(nodes, *count, hash_key) {
                Some(leaves) => labels.extend(leaves),
                None => return Some(Err(named)),
            }
            Some(Ok(labels))
        }
        _ => None,
    }
}

/// `view` with, in each Diana search answer, the ids of the setup's adds
/// sorted ascending: the client shuffles the setup, so their order is random
/// and carries nothing. The setup's inserts are those before the first
/// `sync`; which answer ids came from them follows from [`update_times`]
/// (they are a prefix: the setup's adds hold the first counters). Answers
/// whose leaves cannot all be matched are left as they are.
///
/// Also, a removal (a rewrite's) that names exactly the labels the search
/// before it covers becomes a removal of no named location: the server
/// derives those labels from the token, but the canonical view records
/// the token, not the labels, so a removal that lists them would bind
/// entries to the keyword in a form no renaming can match. A removal of
/// anything else is left as it is, so a client that removes other entries
/// still shows.
pub fn normalize_setup_order(view: &ServerView) -> ServerView {
    let setup_inserts = view
        .events
        .iter()
        .filter(|e| e.status == 200)
        .take_while(|e| !matches!(&e.observed, Observed::Other { request } if request == "sync"))
        .filter(|e| matches!(e.observed, Observed::SseInsert { .. }))
        .count() as u64;
    let mut times = update_times(view).into_iter();
    let mut out = view.clone();
    let mut named: Option<std::collections::BTreeSet<Label>> = None;
    for e in out.events.iter_mut().filter(|e| e.status == 200) {
        match &mut e.observed {
            Observed::SseSearch { token, .. } => {
                named = token_labels(token).and_then(std::result::Result::ok).map(|l| l.into_iter().collect());
            }
            Observed::SseRemove { locations, .. } => {
                let removed: Option<std::collections::BTreeSet<Label>> = locations
                    .iter()
                    .map(|l| match l {
                        EntryLocation::Dictionary(label) => Some(*label),
                        EntryLocation::Array(_) => None,
                    })
                    .collect();
                if removed.is_some() && removed == named {
                    locations.clear();
                }
            }
            _ => {}
        }
        // A packed token's ids need no sorting (blocks are written
        // ascending, its adds follow the setup), but it has times to skip.
        if let Observed::SseSearch { token: SearchToken::PackedGgm { .. }, .. } = &e.observed {
            times.next();
        }
        if let Observed::SseSearch { token: SearchToken::Ggm { .. }, result, .. } = &mut e.observed {
            let Some(t) = times.next() else { break };
            if let SearchResult::Ids(ids) = result {
                let stored: Vec<u64> = t.iter().flatten().copied().collect();
                if stored.len() == ids.len() {
                    let prefix = stored.iter().take_while(|&&o| o < setup_inserts).count();
                    ids[..prefix].sort_unstable();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Update;

    fn kw(v: &str) -> Keyword {
        sse::keyword("body", &[v])
    }

    fn add(k: &str, id: DocId) -> Update {
        Update { op: UpdateOp::Add, keyword: kw(k), id }
    }

    #[test]
    fn trace_of_a_small_workload() {
        let mut db = sse::MultiMap::new();
        db.insert(kw("a"), vec![2, 5]);
        let w = Workload {
            db,
            operations: vec![
                Operation::Update(vec![add("a", 9), add("b", 3), add("a", 2)]),
                Operation::Search(kw("c")),
                Operation::Search(kw("a")),
            ],
        };
        let t = leakage(&w, None).unwrap();
        assert_eq!(t.operations[1].values, vec![]);
        assert_eq!(
            t.operations[2].values,
            vec![
                (Leak::SearchPattern, LeakValue::Pattern(0)),
                (Leak::AccessPattern, LeakValue::Ids(vec![2, 5, 9, 2])),
                (TIMES, LeakValue::Counts(vec![0, 0, 1, 1])),
            ]
        );
        let del = Update { op: UpdateOp::Delete, ..add("a", 2) };
        let w = Workload { db: sse::MultiMap::new(), operations: vec![Operation::Update(vec![del])] };
        assert!(matches!(leakage(&w, None), Err(Error::Config(_))));
    }

    /// On a real run, the ids the server returns for setup adds come in the
    /// client's shuffled order; normalizing sorts exactly that prefix.
    #[test]
    fn normalizing_sorts_the_setup_prefix_only() {
        let mut db = sse::MultiMap::new();
        db.insert(kw("a"), (0..40).collect());
        let w = Workload {
            db,
            operations: vec![Operation::Update(vec![add("a", 7), add("a", 1)]), Operation::Search(kw("a"))],
        };
        let view = DianaModel { consolidate_after: None }.run(&w).unwrap();
        let ids = |v: &ServerView| match v.searches().next().map(|s| s.result.clone()) {
            Some(SearchResult::Ids(ids)) => ids,
            other => panic!("expected one Diana answer, got {other:?}"),
        };
        let raw = ids(&view);
        let mut sorted: Vec<DocId> = (0..40).collect();
        sorted.extend([7, 1]);
        assert_ne!(raw, sorted, "40 setup ids in sorted order by chance");
        assert_eq!(ids(&normalize_setup_order(&view)), sorted);
    }
}
