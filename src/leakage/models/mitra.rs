//! Mitra's declared leakage ([`PROFILE`]), its value on a plaintext
//! [`Workload`] ([`leakage`]), a simulator that builds a server view from
//! that value alone ([`simulate`]) and a recorded run of the real scheme
//! ([`MitraModel`]'s [`LeakageModel::run`]). The laws that tie them together
//! are in `tests/suite/leakage_laws_dynamic.rs`; the note is `papers/mitra.md`.
//!
//! **What the view shows** (see `src/sse/mitra/`): an update batch is one
//! insert of fresh pseudorandom 16-byte addresses with 5-byte values, sorted
//! by address; a search for `w` sends the addresses of all updates of `w` so
//! far, in counter order, and gets their values back. A search for a keyword
//! with no update sends nothing. Hence:
//!
//! - `L_setup` = `N`, the number of pairs (one entry each);
//! - `L_update` = the batch size (adds and deletes look alike);
//! - `L_search(w)` = the search pattern and the batch of every update on `w`
//!   so far, in counter order (the `Updates(w)` part of Type-II backward
//!   privacy). No ids and no operation types: values stay encrypted.
//!
//! **Timestamps** are batch ordinals: the setup (if it has pairs) is batch 0,
//! then every non-empty update batch in order. A batch larger than
//! [`crate::sse::ENTRY_CHUNK`] travels in several requests; the trace does
//! not say which request holds which update (for the setup the client
//! shuffles, so it is random), and the simulator picks one at random, so the
//! laws are exact only for batches up to that size.

pub use crate::sse::mitra::leakage::{PAPER_PROFILE, PROFILE};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::{Rng, RngCore};

use crate::keys::MasterKey;
use crate::leakage::profile::{
    BackwardPrivacy, Leak, LeakValue, LeakageModel, Operation, OperationKind, OperationLeakage, Profile, Trace,
    Workload, first_occurrence,
};
use crate::leakage::view::{Observed, Recorder, ServerView, ViewEvent};
use crate::protocol::{EncryptedEntry, EntryLocation, Label, SearchResult, SearchToken, SseDescriptor};
use crate::server::InProcess;
use crate::server::Server;
use crate::sse::{self, ENTRY_CHUNK, Keyword, PACKED_BLOCK, SchemeClient, SchemeConfig, SseIndex, UpdateOp};
use crate::store::MemoryStore;
use crate::{Error, Result};

use crate::sse::mitra::client::{BLOCK_LEN, SCHEME, VALUE_LEN};

/// Tenant the recorded runs and the simulator use.
pub const TENANT: &str = "leakage";

/// Instance name of Mitra's recorded runs and simulations.
pub const INSTANCE: &str = "mitra";

/// Bytes of an address (a dictionary label).
const ADDRESS_LEN: usize = 16;

/// Mitra's [`LeakageModel`]: [`PROFILE`] (or [`PAPER_PROFILE`]),
/// [`leakage`], [`simulate`] and a recorded run of the real client and
/// server, all with the same consolidation setting.
#[derive(Debug, Clone, Copy)]
pub struct MitraModel {
    /// [`SchemeConfig::consolidate_after`] of the client modelled.
    pub consolidate_after: Option<u32>,
}

impl Default for MitraModel {
    /// As built by default ([`sse::CONSOLIDATE_AFTER`]).
    fn default() -> Self {
        MitraModel { consolidate_after: Some(sse::CONSOLIDATE_AFTER) }
    }
}

impl LeakageModel for MitraModel {
    fn profile(&self) -> Profile {
        if self.consolidate_after.is_some() { PROFILE } else { PAPER_PROFILE }
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        Ok(leakage(workload, self.consolidate_after))
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        simulate(trace, self.consolidate_after, rng)
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        let master = MasterKey::generate()?;
        let config = SchemeConfig { consolidate_after: self.consolidate_after, ..SchemeConfig::new(SCHEME, INSTANCE) };
        let scheme = sse::open_client(&master, TENANT, &config)?;
        record_dynamic(scheme, workload)
    }
}

/// Batch ordinals (see the module docs) of every update of every keyword,
/// in counter order, as the workload runs; `on_search` sees each search
/// with the ordinals of its keyword so far, `on_batch` each non-empty batch
/// size. Shared by Mitra and Diana, whose counters advance the same way.
pub(crate) struct BatchClock {
    /// Ordinal the next non-empty batch gets.
    next: u64,
}

impl BatchClock {
    pub(crate) fn new() -> Self {
        BatchClock { next: 0 }
    }

    /// Ordinal of a batch of `n` updates, or `None` if it is empty (nothing is sent).
    pub(crate) fn tick(&mut self, n: usize) -> Option<u64> {
        (n > 0).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// Mitra's declared leakage of `workload`, computed from the plaintext,
/// for a client with `consolidate_after` ([`SchemeConfig::consolidate_after`]).
///
/// Setup: [`Leak::TotalSize`] without consolidation; with it, every
/// keyword is packed, and the item is [`Leak::EntryCount`], the number of
/// blocks. Each update batch: [`Leak::UpdateSize`] as a count. Each search:
/// nothing if its keyword has neither a block nor an update yet (no request
/// is sent); otherwise [`Leak::SearchPattern`] (classes numbered over the
/// searches that are sent) and [`Leak::BackwardPrivacy`] Type II as the
/// batch ordinals of the entries the token names (its blocks, then its
/// updates). A search after which the client consolidates adds
/// [`Leak::PaddedResultLength`], the number of new blocks; their insert
/// takes the next ordinal (if there is at least one block).
pub fn leakage(workload: &Workload, consolidate_after: Option<u32>) -> Trace {
    #[derive(Default)]
    struct Tracked {
        /// Ordinals of the entries a token names, blocks first.
        times: Vec<u64>,
        blocks: usize,
        updates: usize,
        packed: bool,
        live: std::collections::BTreeSet<crate::protocol::DocId>,
    }
    let mut trace = Trace::new(if consolidate_after.is_some() { PROFILE.scheme } else { PAPER_PROFILE.scheme });
    let mut clock = BatchClock::new();
    let mut keywords: HashMap<&Keyword, Tracked> = HashMap::new();
    if consolidate_after.is_some() {
        let blocks: usize = workload.db.values().map(|ids| distinct(ids).div_ceil(PACKED_BLOCK)).sum();
        trace.setup.push((Leak::EntryCount, LeakValue::Count(blocks as u64)));
        if let Some(t) = clock.tick(blocks) {
            for (k, ids) in &workload.db {
                let n = distinct(ids).div_ceil(PACKED_BLOCK);
                let w = keywords.entry(k).or_default();
                (w.times, w.blocks, w.packed) = (vec![t; n], n, n > 0);
                w.live.extend(ids.iter().copied());
            }
        }
    } else {
        let n = sse::pair_count(&workload.db);
        trace.setup.push((Leak::TotalSize, LeakValue::Count(n as u64)));
        if let Some(t) = clock.tick(n) {
            for (k, ids) in &workload.db {
                let w = keywords.entry(k).or_default();
                w.times.extend(std::iter::repeat_n(t, ids.len()));
                w.updates += ids.len();
                w.live.extend(ids.iter().copied());
            }
        }
    }
    // Search-pattern classes over the searches that reach the server.
    let mut sent: Vec<&Keyword> = Vec::new();
    let mut ops: Vec<PendingOperation> = Vec::new();
    for op in &workload.operations {
        match op {
            Operation::Update(batch) => {
                if let Some(t) = clock.tick(batch.len()) {
                    for u in batch {
                        let w = keywords.entry(&u.keyword).or_default();
                        w.times.push(t);
                        w.updates += 1;
                        match u.op {
                            UpdateOp::Add => w.live.insert(u.id),
                            UpdateOp::Delete => w.live.remove(&u.id),
                        };
                    }
                }
                ops.push((OperationKind::Update, vec![(Leak::UpdateSize, LeakValue::Count(batch.len() as u64))], None));
            }
            Operation::Search(k) => match keywords.get_mut(k).filter(|w| w.packed || w.updates > 0) {
                Some(w) => {
                    sent.push(k);
                    let mut values =
                        vec![(Leak::BackwardPrivacy(BackwardPrivacy::TypeII), LeakValue::Counts(w.times.clone()))];
                    if sse::consolidation_due(consolidate_after, w.updates, w.blocks) {
                        let n = w.live.len().div_ceil(PACKED_BLOCK);
                        values.push((Leak::PaddedResultLength, LeakValue::Count(n as u64)));
                        w.times = clock.tick(n).map(|t| vec![t; n]).unwrap_or_default();
                        (w.blocks, w.updates, w.packed) = (n, 0, true);
                    }
                    ops.push((OperationKind::Search, values, Some(sent.len() - 1)));
                }
                None => ops.push((OperationKind::Search, Vec::new(), None)),
            },
        }
    }
    trace.operations = with_search_pattern(ops, &sent);
    trace
}

/// Number of distinct ids of a setup list.
fn distinct(ids: &[crate::protocol::DocId]) -> usize {
    ids.iter().collect::<std::collections::BTreeSet<_>>().len()
}

/// An operation's leakage before search-pattern classes are known: its kind,
/// its items, and for a search that reaches the server its index among those.
pub(crate) type PendingOperation = (OperationKind, Vec<(Leak, LeakValue)>, Option<usize>);

/// The operations with [`Leak::SearchPattern`] put first in each sent
/// search: classes numbered by first appearance over the sent searches'
/// keywords `sent`.
pub(crate) fn with_search_pattern(ops: Vec<PendingOperation>, sent: &[&Keyword]) -> Vec<OperationLeakage> {
    let classes = first_occurrence(sent);
    ops.into_iter()
        .map(|(kind, mut values, search)| {
            if let Some(i) = search {
                values.insert(0, (Leak::SearchPattern, LeakValue::Pattern(classes[i])));
            }
            OperationLeakage { kind, values }
        })
        .collect()
}

/// Builds a simulated view event by event, numbering them as the recorder
/// does. Shared by the dynamic schemes' simulators.
pub(crate) struct ViewBuilder {
    instance: String,
    events: Vec<ViewEvent>,
}

impl ViewBuilder {
    /// The events every recorded dynamic run starts with: the client checks
    /// whether the instance exists, then registers it.
    pub(crate) fn open(descriptor: SseDescriptor) -> Self {
        let mut b = ViewBuilder { instance: descriptor.instance.clone(), events: Vec::new() };
        b.push(Observed::Other { request: "sse_describe".into() });
        b.push(Observed::SseCreate { descriptor });
        b
    }

    /// Appends one successful event of [`TENANT`].
    pub(crate) fn push(&mut self, observed: Observed) {
        let seq = self.events.len() as u64;
        self.events.push(ViewEvent { seq, tenant: TENANT.to_owned(), status: 200, observed });
    }

    /// One insert per chunk of at most [`ENTRY_CHUNK`] entries, each sorted
    /// by location as the real client sends them.
    pub(crate) fn insert(&mut self, entries: &[EncryptedEntry]) {
        for chunk in entries.chunks(ENTRY_CHUNK) {
            let mut chunk = chunk.to_vec();
            chunk.sort_unstable_by_key(|e| e.location);
            self.push(Observed::SseInsert { instance: self.instance.clone(), entries: chunk });
        }
    }

    /// The durability point that ends a setup.
    pub(crate) fn sync(&mut self) {
        self.push(Observed::Other { request: "sync".into() });
    }

    /// A search and its answer.
    pub(crate) fn search(&mut self, token: SearchToken, result: SearchResult) {
        self.push(Observed::SseSearch { instance: self.instance.clone(), token, result });
    }

    pub(crate) fn finish(self) -> ServerView {
        ServerView { events: self.events }
    }
}

/// `len` random bytes.
pub(crate) fn random_bytes(rng: &mut dyn RngCore, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    rng.fill_bytes(&mut b);
    b
}

/// A random 16-byte string.
pub(crate) fn random_label(rng: &mut dyn RngCore) -> Label {
    let mut l = [0u8; 16];
    rng.fill_bytes(&mut l);
    l
}

/// A count item of a trace, as `usize`.
pub(crate) fn count_of(value: Option<&LeakValue>, what: &str) -> Result<usize> {
    match value {
        Some(LeakValue::Count(n)) => {
            usize::try_from(*n).map_err(|_| Error::Config(format!("trace: {what} {n} too large")))
        }
        other => Err(Error::Config(format!("trace: {what} is {other:?}, expected a count"))),
    }
}

/// The search-pattern class and the update batch ordinals of a search in a trace.
pub(crate) fn search_items(op: &OperationLeakage, times: Leak) -> Result<(u32, &[u64])> {
    match (op.get(Leak::SearchPattern), op.get(times)) {
        (Some(LeakValue::Pattern(c)), Some(LeakValue::Counts(t))) => Ok((*c, t)),
        other => Err(Error::Config(format!("trace: search items {other:?}, expected a pattern and batch ordinals"))),
    }
}

/// Mitra's public descriptor for instance [`INSTANCE`].
fn descriptor() -> SseDescriptor {
    SseDescriptor {
        instance: INSTANCE.to_owned(),
        scheme: SCHEME.to_owned(),
        block: 1,
        response_revealing: false,
        key_version: 1,
    }
}

/// A view of Mitra built from `trace` alone, for a client with `consolidate_after`.
///
/// Each batch becomes that many random entries: addresses with random
/// 5-byte values for updates, labels with random 257-byte values for
/// packed blocks (the setup with consolidation, and each rewrite). A
/// search of class `s` whose trace lists batch ordinals `t_1..t_a` names
/// the entries already given to `s` since its last rewrite, then, for each
/// new `t_i`, an entry of batch `t_i` not yet given to any class, picked at
/// random; the answer is their values. A class holding blocks sends a
/// packed token (a random label key, its block count and its update
/// addresses). A search with a new block count is followed by the insert
/// of that many blocks, now the class's, and the removal of every entry the
/// search named. This is the textbook simulator of a forward-private
/// scheme: entries are bound to keywords only when a search reveals them.
///
/// # Errors
/// [`Error::Config`] for a trace that is not Mitra's or is inconsistent (a
/// search whose ordinals do not extend its class's earlier ones, or name
/// more updates of a batch than it has).
pub fn simulate(trace: &Trace, consolidate_after: Option<u32>, rng: &mut dyn RngCore) -> Result<ServerView> {
    /// A class's entries since its last rewrite, blocks first.
    #[derive(Default)]
    struct Class {
        seen: Vec<u64>,
        entries: Vec<EncryptedEntry>,
        blocks: usize,
        label_key: Option<Label>,
    }
    let mut view = ViewBuilder::open(descriptor());
    // Per batch ordinal: its entries, the indexes not yet bound to a class, and whether they are blocks.
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
    let times_leak = Leak::BackwardPrivacy(BackwardPrivacy::TypeII);
    for op in &trace.operations {
        match op.kind {
            OperationKind::Update => {
                new_batch(count_of(op.get(Leak::UpdateSize), "update size")?, false, &mut batches, &mut view, rng)
            }
            OperationKind::Search if op.values.is_empty() => {}
            OperationKind::Search => {
                let (class, times) = search_items(op, times_leak)?;
                let c = classes.entry(class).or_default();
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
                        .ok_or_else(|| Error::Config(format!("trace: no unbound update left in batch {t}")))?;
                    let pick = free.swap_remove(rng.random_range(0..free.len()));
                    if *blocks {
                        c.blocks += 1;
                        c.label_key.get_or_insert_with(|| random_label(rng));
                    }
                    c.entries.push(batch[pick].clone());
                    c.seen.push(t);
                }
                let labels: Vec<Label> = c.entries.iter().map(|e| label_of(&e.location)).collect();
                let token = match c.label_key {
                    Some(label_key) => SearchToken::PackedAddresses {
                        label_key,
                        blocks: u32::try_from(c.blocks).unwrap_or(u32::MAX),
                        addresses: labels[c.blocks..].to_vec(),
                    },
                    None => SearchToken::Addresses(labels),
                };
                let values = c.entries.iter().map(|e| e.value.clone()).collect();
                view.search(token, SearchResult::Values(values));
                if let Some(value) = op.get(Leak::PaddedResultLength) {
                    let n = count_of(Some(value), "new block count")?;
                    new_batch(n, true, &mut batches, &mut view, rng);
                    let obsolete: Vec<EntryLocation> = c.entries.iter().map(|e| e.location).collect();
                    view.push(Observed::SseRemove { instance: INSTANCE.to_owned(), locations: obsolete });
                    let mut fresh = Class { label_key: Some(random_label(rng)), blocks: n, ..Class::default() };
                    if let Some((batch, free, _)) = batches.last_mut().filter(|_| n > 0) {
                        free.clear();
                        fresh.entries.clone_from(batch);
                        fresh.seen = vec![batches.len() as u64 - 1; n];
                    }
                    *c = fresh;
                }
            }
        }
    }
    Ok(view.finish())
}

/// A simulated batch: its entries, the indexes not yet bound to a class,
/// and whether they are packed blocks.
type Batch = (Vec<EncryptedEntry>, Vec<usize>, bool);

/// The label of a dictionary location (Mitra stores nothing else).
fn label_of(location: &EntryLocation) -> Label {
    match location {
        EntryLocation::Dictionary(l) => *l,
        EntryLocation::Array(_) => [0; ADDRESS_LEN],
    }
}

/// A simulated batch of `n` random entries (blocks or updates), inserted
/// into `view` and kept (all unbound) in `batches`; nothing for an empty batch.
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

/// Runs `workload` through `scheme` (a real client half, or a test's
/// variant of one) against the real server (`Server` + `MemoryStore` over
/// `InProcess`, tenant [`TENANT`]) with a memory recorder, and returns the
/// view: create the instance, set up `workload.db`, then run the operations.
///
/// # Errors
/// Scheme, transport and server errors.
pub fn record_dynamic(scheme: SchemeClient, workload: &Workload) -> Result<ServerView> {
    let recorder = Recorder::memory();
    let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
    let mut index = SseIndex::create(InProcess::new(server, TENANT), scheme)?;
    index.setup(&workload.db)?;
    for op in &workload.operations {
        match op {
            Operation::Update(batch) => index.update(batch)?,
            Operation::Search(k) => {
                index.search_keyword(k)?;
            }
        }
    }
    Ok(recorder.take())
}

/// What the server can read off a Mitra view about update times: for each
/// successful search with an address token, in order, the ordinal (among
/// the view's successful inserts) of the insert that stored each address,
/// `None` for an address never stored. With batches of at most
/// [`ENTRY_CHUNK`] updates this equals the Type-II item of [`leakage`]'s
/// trace, which a test checks.
pub fn update_times(view: &ServerView) -> Vec<Vec<Option<u64>>> {
    crate::leakage::profile::update_times_by(view, |token| match token {
        SearchToken::Addresses(a) => Some(Ok(a.clone())),
        // The server derives the block labels from the key, as it does to answer.
        SearchToken::PackedAddresses { label_key, blocks, addresses } => {
            let mut labels = crate::primitives::prf::Prf::new(label_key).labels(0, *blocks as usize);
            labels.extend_from_slice(addresses);
            Some(Ok(labels))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::sse::{Update, UpdateOp};

    fn kw(v: &str) -> Keyword {
        sse::keyword("body", &[v])
    }

    fn search(class: u32, times: &[u64]) -> OperationLeakage {
        OperationLeakage {
            kind: OperationKind::Search,
            values: vec![
                (Leak::SearchPattern, LeakValue::Pattern(class)),
                (Leak::BackwardPrivacy(BackwardPrivacy::TypeII), LeakValue::Counts(times.to_vec())),
            ],
        }
    }

    /// A hand-worked trace: unsent searches leak nothing and take no class,
    /// empty batches take no ordinal, deletes count like adds.
    fn example() -> Workload {
        let mut db = sse::MultiMap::new();
        db.insert(kw("a"), vec![1, 2]);
        let up = |op, k: &str, id| Update { op, keyword: kw(k), id };
        Workload {
            db,
            operations: vec![
                Operation::Search(kw("b")),
                Operation::Update(vec![]),
                Operation::Update(vec![up(UpdateOp::Delete, "a", 1), up(UpdateOp::Add, "b", 3)]),
                Operation::Search(kw("a")),
                Operation::Search(kw("b")),
                Operation::Search(kw("a")),
            ],
        }
    }

    #[test]
    fn trace_of_a_small_workload() {
        let t = leakage(&example(), None);
        assert_eq!(t.setup, vec![(Leak::TotalSize, LeakValue::Count(2))]);
        let update =
            |n| OperationLeakage { kind: OperationKind::Update, values: vec![(Leak::UpdateSize, LeakValue::Count(n))] };
        let unsent = OperationLeakage { kind: OperationKind::Search, values: vec![] };
        assert_eq!(
            t.operations,
            vec![unsent, update(0), update(2), search(0, &[0, 0, 1]), search(1, &[1]), search(0, &[0, 0, 1])]
        );
    }

    /// The same workload with a client that rewrites after every search
    /// following an update: the setup shows one block, each rewriting
    /// search its new block count, and the rewrites take batch ordinals.
    #[test]
    fn trace_of_a_small_workload_with_consolidation() {
        let t = leakage(&example(), Some(1));
        assert_eq!(t.setup, vec![(Leak::EntryCount, LeakValue::Count(1))]);
        let update =
            |n| OperationLeakage { kind: OperationKind::Update, values: vec![(Leak::UpdateSize, LeakValue::Count(n))] };
        let rewrite = |mut op: OperationLeakage, blocks| {
            op.values.push((Leak::PaddedResultLength, LeakValue::Count(blocks)));
            op
        };
        let unsent = OperationLeakage { kind: OperationKind::Search, values: vec![] };
        assert_eq!(
            t.operations,
            vec![
                unsent,
                update(0),
                update(2),
                rewrite(search(0, &[0, 1]), 1),
                rewrite(search(1, &[1]), 1),
                search(0, &[2])
            ]
        );
        // Open (2), setup insert and sync, the update, then each rewriting search with its insert and removal.
        let view = simulate(&t, Some(1), &mut rand_chacha::ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert_eq!(view.events.len(), 2 + 2 + 1 + 3 + 3 + 1);
        assert_eq!(MitraModel { consolidate_after: Some(1) }.run(&example()).unwrap().events.len(), view.events.len());
    }

    #[test]
    fn simulator_refuses_inconsistent_traces() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut t = leakage(&example(), None);
        assert_eq!(simulate(&t, None, &mut rng).map(|v| v.events.len()).ok(), Some(2 + 1 + 1 + 1 + 3));
        // A later search of class 0 that does not extend the earlier one.
        t.operations[5] = search(0, &[0, 1]);
        assert!(matches!(simulate(&t, None, &mut rng), Err(Error::Config(_))));
        // More updates of batch 1 than it has.
        t.operations[5] = search(2, &[1, 1]);
        assert!(matches!(simulate(&t, None, &mut rng), Err(Error::Config(_))));
    }
}
