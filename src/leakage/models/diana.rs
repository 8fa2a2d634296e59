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
//! Timestamps are batch ordinals as for Mitra
//! ([`crate::sse::mitra::leakage`]), with the same caveat for batches larger
//! than [`crate::sse::ENTRY_CHUNK`].

pub use crate::sse::diana::leakage::PROFILE;
use std::collections::{BTreeMap, HashMap};

use rand::RngCore;

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
use crate::sse::registry::Scheme;
use crate::sse::{self, Keyword, SchemeConfig, UpdateOp};
use crate::{Error, Result};

/// Instance name of Diana's recorded runs and simulations.
pub const INSTANCE: &str = "diana";

/// Bytes of an entry value (an id XOR a mask).
const VALUE_LEN: usize = 4;

/// The Type-I item as this module uses it: `TimeDB(w)`'s batch ordinals.
const TIMES: Leak = Leak::BackwardPrivacy(BackwardPrivacy::TypeI);

/// Diana's [`LeakageModel`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DianaModel;

impl LeakageModel for DianaModel {
    fn profile(&self) -> Profile {
        PROFILE
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        leakage(workload)
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        simulate(trace, rng)
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        let master = MasterKey::generate()?;
        let scheme = sse::open_client(&master, TENANT, &SchemeConfig::new("diana", INSTANCE))?;
        record_dynamic(scheme, workload)
    }
}

/// Diana's declared leakage of `workload`, computed from the plaintext.
///
/// Setup: [`Leak::TotalSize`]. Each update batch: [`Leak::UpdateSize`].
/// Each search: nothing if its keyword has no add yet; otherwise
/// [`Leak::SearchPattern`], [`Leak::AccessPattern`] (ids of the keyword's
/// adds: the setup's ascending, then the later ones in order) and the Type-I
/// item as the batch ordinals of those adds.
///
/// # Errors
/// [`Error::Config`] for a workload with a delete (Diana is add-only).
pub fn leakage(workload: &Workload) -> Result<Trace> {
    let mut trace = Trace::new(PROFILE.scheme);
    let n = sse::pair_count(&workload.db);
    trace.setup.push((Leak::TotalSize, LeakValue::Count(n as u64)));
    let mut clock = BatchClock::new();
    let mut adds: HashMap<&Keyword, Vec<(u64, DocId)>> = HashMap::new();
    if let Some(t) = clock.tick(n) {
        for (k, ids) in &workload.db {
            adds.entry(k).or_default().extend(ids.iter().map(|&id| (t, id)));
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
                        adds.entry(&u.keyword).or_default().push((t, u.id));
                    }
                }
                ops.push((OperationKind::Update, vec![(Leak::UpdateSize, LeakValue::Count(batch.len() as u64))], None));
            }
            Operation::Search(k) => match adds.get(k).filter(|a| !a.is_empty()) {
                Some(a) => {
                    sent.push(k);
                    let ids = LeakValue::Ids(a.iter().map(|&(_, id)| id).collect());
                    let times = LeakValue::Counts(a.iter().map(|&(t, _)| t).collect());
                    ops.push((
                        OperationKind::Search,
                        vec![(Leak::AccessPattern, ids), (TIMES, times)],
                        Some(sent.len() - 1),
                    ));
                }
                None => ops.push((OperationKind::Search, Vec::new(), None)),
            },
        }
    }
    trace.operations = with_search_pattern(ops, &sent);
    Ok(trace)
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

/// A view of Diana built from `trace` alone.
///
/// Each batch becomes that many random labels with random 4-byte values. A
/// search of class `s` with `c` adds sends the cover of `0..c` (node
/// positions are public: they follow from `c`) with one random seed per
/// `(s, depth, index)`, kept across searches of `s`, the count, and one
/// random hash key per class; the answer is the trace's access pattern.
///
/// # Errors
/// [`Error::Config`] for a trace that is not Diana's.
pub fn simulate(trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
    let mut view = ViewBuilder::open(descriptor());
    let batch = |n: usize, view: &mut ViewBuilder, rng: &mut dyn RngCore| {
        let entries: Vec<EncryptedEntry> = (0..n)
            .map(|_| EncryptedEntry {
                location: EntryLocation::Dictionary(random_label(rng)),
                value: random_bytes(rng, VALUE_LEN),
            })
            .collect();
        view.insert(&entries);
    };
    batch(count_of(trace.setup_value(Leak::TotalSize), "N")?, &mut view, rng);
    view.sync();
    let mut hash_keys: BTreeMap<u32, Label> = BTreeMap::new();
    let mut seeds: BTreeMap<(u32, u8, u32), [u8; 16]> = BTreeMap::new();
    for op in &trace.operations {
        match op.kind {
            OperationKind::Update => batch(count_of(op.get(Leak::UpdateSize), "update size")?, &mut view, rng),
            OperationKind::Search if op.values.is_empty() => {}
            OperationKind::Search => {
                let (class, times) = search_items(op, TIMES)?;
                let Some(LeakValue::Ids(ids)) = op.get(Leak::AccessPattern) else {
                    return Err(Error::Config("trace: a Diana search without its access pattern".into()));
                };
                let count = u32::try_from(times.len())
                    .ok()
                    .filter(|&c| c <= MAX_COUNT)
                    .ok_or_else(|| Error::Config(format!("trace: {} adds exceed Diana's limit", times.len())))?;
                // Node positions from the public count; the root seed is irrelevant.
                let nodes = ggm::cover(&[0; 16], count)
                    .into_iter()
                    .map(|n| GgmNode {
                        depth: n.depth,
                        index: n.index,
                        seed: *seeds.entry((class, n.depth, n.index)).or_insert_with(|| random_label(rng)),
                    })
                    .collect();
                let hash_key = *hash_keys.entry(class).or_insert_with(|| random_label(rng));
                view.search(SearchToken::Ggm { nodes, count, hash_key }, SearchResult::Ids(ids.clone()));
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
    crate::leakage::profile::update_times_by(view, |token| match token {
        SearchToken::Ggm { nodes, count, hash_key } => {
            Some(leaf_labels(nodes, *count, hash_key).ok_or((*count).min(MAX_COUNT) as usize))
        }
        _ => None,
    })
}

/// `view` with, in each Diana search answer, the ids of the setup's adds
/// sorted ascending: the client shuffles the setup, so their order is random
/// and carries nothing. The setup's inserts are those before the first
/// `sync`; which answer ids came from them follows from [`update_times`]
/// (they are a prefix: the setup's adds hold the first counters). Answers
/// whose leaves cannot all be matched are left as they are.
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
    for e in out.events.iter_mut().filter(|e| e.status == 200) {
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
        let t = leakage(&w).unwrap();
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
        assert!(matches!(leakage(&w), Err(Error::Config(_))));
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
        let view = DianaModel.run(&w).unwrap();
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
