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

pub use crate::sse::mitra::leakage::PROFILE;
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
use crate::sse::{self, ENTRY_CHUNK, Keyword, SchemeClient, SchemeConfig, SseIndex};
use crate::store::MemoryStore;
use crate::{Error, Result};

use crate::sse::mitra::client::{SCHEME, VALUE_LEN};

/// Tenant the recorded runs and the simulator use.
pub const TENANT: &str = "leakage";

/// Instance name of Mitra's recorded runs and simulations.
pub const INSTANCE: &str = "mitra";

/// Bytes of an address (a dictionary label).
const ADDRESS_LEN: usize = 16;

/// Mitra's [`LeakageModel`]: [`PROFILE`], [`leakage`], [`simulate`] and a
/// recorded run of the real client and server.
#[derive(Debug, Clone, Copy, Default)]
pub struct MitraModel;

impl LeakageModel for MitraModel {
    fn profile(&self) -> Profile {
        PROFILE
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        Ok(leakage(workload))
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        simulate(trace, rng)
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        let master = MasterKey::generate()?;
        let scheme = sse::open_client(&master, TENANT, &SchemeConfig::new(SCHEME, INSTANCE))?;
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

/// Mitra's declared leakage of `workload`, computed from the plaintext.
///
/// Setup: [`Leak::TotalSize`]. Each update batch: [`Leak::UpdateSize`] as a
/// count. Each search: nothing if its keyword has no update yet (no request
/// is sent); otherwise [`Leak::SearchPattern`] (classes numbered over the
/// searches that are sent) and [`Leak::BackwardPrivacy`] Type II as the
/// batch ordinals of the keyword's updates in counter order.
pub fn leakage(workload: &Workload) -> Trace {
    let mut trace = Trace::new(PROFILE.scheme);
    let n = sse::pair_count(&workload.db);
    trace.setup.push((Leak::TotalSize, LeakValue::Count(n as u64)));
    let mut clock = BatchClock::new();
    let mut times: HashMap<&Keyword, Vec<u64>> = HashMap::new();
    if let Some(t) = clock.tick(n) {
        for (k, ids) in &workload.db {
            times.entry(k).or_default().extend(std::iter::repeat_n(t, ids.len()));
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
                        times.entry(&u.keyword).or_default().push(t);
                    }
                }
                ops.push((OperationKind::Update, vec![(Leak::UpdateSize, LeakValue::Count(batch.len() as u64))], None));
            }
            Operation::Search(k) => match times.get(k).filter(|t| !t.is_empty()) {
                Some(t) => {
                    sent.push(k);
                    let value = LeakValue::Counts(t.clone());
                    ops.push((
                        OperationKind::Search,
                        vec![(Leak::BackwardPrivacy(BackwardPrivacy::TypeII), value)],
                        Some(sent.len() - 1),
                    ));
                }
                None => ops.push((OperationKind::Search, Vec::new(), None)),
            },
        }
    }
    trace.operations = with_search_pattern(ops, &sent);
    trace
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

/// A view of Mitra built from `trace` alone.
///
/// Each batch becomes that many random addresses with random 5-byte values.
/// A search of class `s` whose trace lists batch ordinals `t_1..t_a` sends
/// the addresses already given to `s` by earlier searches, then, for each
/// new `t_i`, an entry of batch `t_i` not yet given to any class, picked at
/// random; the answer is their values. This is the textbook simulator of a
/// forward-private scheme: entries are bound to keywords only when a search
/// reveals them.
///
/// # Errors
/// [`Error::Config`] for a trace that is not Mitra's or is inconsistent (a
/// search whose ordinals do not extend its class's earlier ones, or name
/// more updates of a batch than it has).
pub fn simulate(trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
    let mut view = ViewBuilder::open(descriptor());
    // Per batch ordinal: its entries and the indexes not yet bound to a class.
    let mut batches: Vec<(Vec<EncryptedEntry>, Vec<usize>)> = Vec::new();
    new_batch(count_of(trace.setup_value(Leak::TotalSize), "N")?, &mut batches, &mut view, rng);
    view.sync();
    let mut bound: BTreeMap<u32, (Vec<u64>, Vec<EncryptedEntry>)> = BTreeMap::new();
    let times_leak = Leak::BackwardPrivacy(BackwardPrivacy::TypeII);
    for op in &trace.operations {
        match op.kind {
            OperationKind::Update => {
                new_batch(count_of(op.get(Leak::UpdateSize), "update size")?, &mut batches, &mut view, rng)
            }
            OperationKind::Search if op.values.is_empty() => {}
            OperationKind::Search => {
                let (class, times) = search_items(op, times_leak)?;
                let (seen, entries) = bound.entry(class).or_default();
                if times.get(..seen.len()) != Some(seen.as_slice()) {
                    return Err(Error::Config(format!(
                        "trace: search of class {class} does not extend its earlier ones"
                    )));
                }
                for &t in &times[seen.len()..] {
                    let (batch, free) = usize::try_from(t)
                        .ok()
                        .and_then(|t| batches.get_mut(t))
                        .filter(|(_, free)| !free.is_empty())
                        .ok_or_else(|| Error::Config(format!("trace: no unbound update left in batch {t}")))?;
                    let pick = free.swap_remove(rng.random_range(0..free.len()));
                    entries.push(batch[pick].clone());
                    seen.push(t);
                }
                let addresses = entries
                    .iter()
                    .map(|e| match e.location {
                        EntryLocation::Dictionary(l) => l,
                        EntryLocation::Array(_) => [0; ADDRESS_LEN],
                    })
                    .collect();
                let values = entries.iter().map(|e| e.value.clone()).collect();
                view.search(SearchToken::Addresses(addresses), SearchResult::Values(values));
            }
        }
    }
    Ok(view.finish())
}

/// A simulated batch of `n` random entries, inserted into `view` and kept
/// (all unbound) in `batches`; nothing for an empty batch.
fn new_batch(
    n: usize,
    batches: &mut Vec<(Vec<EncryptedEntry>, Vec<usize>)>,
    view: &mut ViewBuilder,
    rng: &mut dyn RngCore,
) {
    if n == 0 {
        return;
    }
    let entries: Vec<EncryptedEntry> = (0..n)
        .map(|_| EncryptedEntry {
            location: EntryLocation::Dictionary(random_label(rng)),
            value: random_bytes(rng, VALUE_LEN),
        })
        .collect();
    view.insert(&entries);
    batches.push((entries, (0..n).collect()));
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
        let t = leakage(&example());
        assert_eq!(t.setup, vec![(Leak::TotalSize, LeakValue::Count(2))]);
        let update =
            |n| OperationLeakage { kind: OperationKind::Update, values: vec![(Leak::UpdateSize, LeakValue::Count(n))] };
        let unsent = OperationLeakage { kind: OperationKind::Search, values: vec![] };
        assert_eq!(
            t.operations,
            vec![unsent, update(0), update(2), search(0, &[0, 0, 1]), search(1, &[1]), search(0, &[0, 0, 1])]
        );
    }

    #[test]
    fn simulator_refuses_inconsistent_traces() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut t = leakage(&example());
        assert_eq!(simulate(&t, &mut rng).map(|v| v.events.len()).ok(), Some(2 + 1 + 1 + 1 + 3));
        // A later search of class 0 that does not extend the earlier one.
        t.operations[5] = search(0, &[0, 1]);
        assert!(matches!(simulate(&t, &mut rng), Err(Error::Config(_))));
        // More updates of batch 1 than it has.
        t.operations[5] = search(2, &[1, 1]);
        assert!(matches!(simulate(&t, &mut rng), Err(Error::Config(_))));
    }
}
