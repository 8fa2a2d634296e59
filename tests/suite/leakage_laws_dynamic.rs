//! Leakage laws for the dynamic schemes Mitra and Diana, with negative
//! controls.
//!
//! - Law 1: two workloads with equal declared leakage (`leakage(w1) ==
//!   leakage(w2)`) give real server views that are equal up to renaming of
//!   pseudorandom strings (`canonical()`), and the update times the server
//!   derives from them are equal.
//! - Law 2: the simulator, given only the declared leakage, produces a view
//!   whose canonical form equals the real one's.
//! - Declared times: the update times in the trace are exactly those the
//!   server reads off a real view.
//!
//! Each law has a negative control: a deliberately leaky client (real server,
//! store, transport and recorder) that the same check must reject; the
//! controls assert that a proptest run of the check fails.
//!
//! Workloads: up to 6 setup pairs and 8 operations (searches, or batches of 1
//! to 3 updates) over 8 keywords and ids below 64, so at most 30 updates.
//! The second workload of law 1 keeps the declared leakage and changes what
//! it does not cover: keywords are renamed by a random permutation, every
//! update that no later search reveals moves to a random keyword not searched
//! afterwards (possibly one never searched) with a fresh id, and for Mitra
//! every id and add/delete flag is redrawn and batches are shuffled.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sseek::keys::MasterKey;
use sseek::keys::keyword::KeywordPrf;
use sseek::leakage::models::diana::{self as diana, DianaModel};
use sseek::leakage::models::mitra::{self as mitra, MitraModel, TENANT, record_dynamic};
use sseek::leakage::profile::{LeakageModel, Operation, Workload};
use sseek::leakage::view::ServerView;
use sseek::protocol::{DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use sseek::sse::{self, DynamicScheme, Keyword, MultiMap, Packing, SchemeClient, SchemeConfig, Update, UpdateOp};

/// Keywords the generated workloads search and update.
const KEYWORDS: usize = 8;
/// Extra keywords that only the second workload of law 1 uses, never searched.
const SINKS: usize = 4;
/// Cases per law.
const CASES: u32 = 64;

fn kw(i: usize) -> Keyword {
    if i < KEYWORDS { sse::keyword("body", &[&format!("k{i}")]) } else { sse::keyword("body", &[&format!("x{i}")]) }
}

/// A workload over keyword indexes, before it becomes a [`Workload`].
#[derive(Debug, Clone)]
struct History {
    /// Setup pairs (keyword, id); duplicates collapse in the multimap.
    setup: Vec<(usize, DocId)>,
    ops: Vec<Op>,
}

#[derive(Debug, Clone)]
enum Op {
    Search(usize),
    /// (add?, keyword, id)
    Update(Vec<(bool, usize, DocId)>),
}

impl History {
    /// The workload; with `adds_only`, every update is an add (Diana).
    fn workload(&self, adds_only: bool) -> Workload {
        let mut db = MultiMap::new();
        for &(k, id) in &self.setup {
            db.entry(kw(k)).or_default().push(id);
        }
        for ids in db.values_mut() {
            ids.sort_unstable();
            ids.dedup();
        }
        let operations = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Search(k) => Operation::Search(kw(*k)),
                Op::Update(b) => Operation::Update(
                    b.iter()
                        .map(|&(add, k, id)| Update {
                            op: if add || adds_only { UpdateOp::Add } else { UpdateOp::Delete },
                            keyword: kw(k),
                            id,
                        })
                        .collect(),
                ),
            })
            .collect();
        Workload { db, operations }
    }

    /// The setup pairs without duplicates (what the multimap holds).
    fn distinct_setup(&self) -> Vec<(usize, DocId)> {
        let mut s = self.setup.clone();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// A second history with the same declared leakage and other hidden
    /// content (see the module docs). `mitra` also redraws ids and flags of
    /// revealed updates and shuffles batches. With `packed_setup` (a
    /// consolidating Mitra, whose setup shows its block count), the setup
    /// pairs of a hidden keyword move together, to one quiet keyword.
    fn variant(&self, seed: u64, mitra: bool, packed_setup: bool) -> History {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut perm: Vec<usize> = (0..KEYWORDS).collect();
        perm.shuffle(&mut rng);
        let rename = |k: usize| if k < KEYWORDS { perm[k] } else { k };
        // Position of the setup is 0, of operation i is i + 1.
        let mut last_search: HashMap<usize, usize> = HashMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            if let Op::Search(k) = op {
                last_search.insert(*k, i + 1);
            }
        }
        let revealed = |k: usize, pos: usize| last_search.get(&k).is_some_and(|&s| s > pos);
        // Fresh ids (64 and up) for moved updates: no clash with the originals or each other.
        let fresh = std::cell::Cell::new(64u32);
        let next_fresh = || {
            fresh.set(fresh.get() + 1);
            fresh.get()
        };
        let hide = |k: usize, id: DocId, pos: usize, rng: &mut ChaCha8Rng| -> (usize, DocId) {
            if revealed(k, pos) {
                return (rename(k), if mitra { rng.random_range(0..64) } else { id });
            }
            let quiet: Vec<usize> = (0..KEYWORDS + SINKS).filter(|&w| w >= KEYWORDS || !revealed(w, pos)).collect();
            (rename(quiet[rng.random_range(0..quiet.len())]), next_fresh())
        };
        // A random one-to-one map of the keywords no search reveals onto themselves.
        let quiet: Vec<usize> = (0..KEYWORDS + SINKS).filter(|&w| w >= KEYWORDS || !revealed(w, 0)).collect();
        let mut moved_to = quiet.clone();
        moved_to.shuffle(&mut rng);
        let mut setup: Vec<(usize, DocId)> = Vec::new();
        for (k, id) in self.distinct_setup() {
            let (mut k2, mut id2) = hide(k, id, 0, &mut rng);
            if packed_setup && !revealed(k, 0) {
                let at = quiet.iter().position(|&w| w == k).unwrap_or(0);
                k2 = rename(moved_to[at]);
            }
            if mitra {
                // Ids are hidden, but the multimap must keep N distinct pairs.
                id2 = next_fresh();
            }
            setup.push((k2, id2));
        }
        let ops = self
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| match op {
                Op::Search(k) => Op::Search(rename(*k)),
                Op::Update(b) => {
                    let mut b: Vec<(bool, usize, DocId)> = b
                        .iter()
                        .map(|&(add, k, id)| {
                            let (k2, id2) = hide(k, id, i + 1, &mut rng);
                            (if mitra { rng.random_bool(0.5) } else { add }, k2, id2)
                        })
                        .collect();
                    if mitra {
                        b.shuffle(&mut rng);
                    }
                    Op::Update(b)
                }
            })
            .collect();
        History { setup, ops }
    }
}

/// A keyword index skewed towards the first three, so that searches often
/// hit updated keywords and keywords share updates.
fn keyword_index() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..3usize, 1 => 0..KEYWORDS]
}

fn history() -> impl Strategy<Value = History> {
    let op = prop_oneof![
        keyword_index().prop_map(Op::Search),
        proptest::collection::vec((any::<bool>(), keyword_index(), 0..64u32), 1..=3).prop_map(Op::Update),
    ];
    (proptest::collection::vec((keyword_index(), 0..64u32), 0..=6), proptest::collection::vec(op, 1..=8))
        .prop_map(|(setup, ops)| History { setup, ops })
}

/// One scheme under test: its model, whether it is add-only, how a recorded
/// view is normalized before comparison, and the update times the server
/// derives from a view.
struct Scheme {
    model: &'static dyn LeakageModel,
    /// The consolidation setting (the model's).
    consolidate_after: Option<u32>,
    adds_only: bool,
    normalize: fn(&ServerView) -> ServerView,
    times: fn(&ServerView) -> Vec<Vec<Option<u64>>>,
}

/// Mitra consolidating after every search that follows an update (the
/// default waits for 8 updates; 1 makes the small workloads rewrite often).
const MITRA: Scheme = Scheme {
    model: &MitraModel { consolidate_after: Some(1) },
    consolidate_after: Some(1),
    adds_only: false,
    normalize: ServerView::clone,
    times: mitra::update_times,
};
/// Mitra as in the paper: one entry per update, never rewritten.
const MITRA_PAPER: Scheme = Scheme {
    model: &MitraModel { consolidate_after: None },
    consolidate_after: None,
    adds_only: false,
    normalize: ServerView::clone,
    times: mitra::update_times,
};
/// Diana consolidating after every search that follows an add.
const DIANA: Scheme = Scheme {
    model: &DianaModel { consolidate_after: Some(1) },
    consolidate_after: Some(1),
    adds_only: true,
    normalize: diana::normalize_setup_order,
    times: diana::update_times,
};
/// Diana as in the paper: one entry per add, never rewritten.
const DIANA_PAPER: Scheme = Scheme {
    model: &DianaModel { consolidate_after: None },
    consolidate_after: None,
    adds_only: true,
    normalize: diana::normalize_setup_order,
    times: diana::update_times,
};

type Run<'a> = &'a dyn Fn(&Workload) -> ServerView;

fn fail(e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{e:?}"))
}

/// Law 1 on one generated case, with `run` producing the views.
fn law1(scheme: &Scheme, run: Run<'_>, h: &History, seed: u64) -> Result<(), TestCaseError> {
    let w1 = h.workload(scheme.adds_only);
    let t1 = scheme.model.leakage(&w1).map_err(fail)?;
    // Redrawn ids and flags change |DB(w)|, which a consolidating Mitra
    // shows rounded up to 64 ids: redraw until that is kept, or keep them.
    let (redraw, packed) = (!scheme.adds_only, scheme.consolidate_after.is_some());
    let w2 = (0..32)
        .map(|i| h.variant(seed.wrapping_add(i), redraw, packed).workload(scheme.adds_only))
        .find(|w| scheme.model.leakage(w).is_ok_and(|t| t == t1))
        .unwrap_or_else(|| h.variant(seed, false, packed).workload(scheme.adds_only));
    let t2 = scheme.model.leakage(&w2).map_err(fail)?;
    prop_assert_eq!(&t1, &t2, "the generator must keep the declared leakage");
    let (v1, v2) = ((scheme.normalize)(&run(&w1)), (scheme.normalize)(&run(&w2)));
    let (c1, c2) = (v1.canonical(), v2.canonical());
    prop_assert!(c1 == c2, "equal leakage, different views; first difference: {:?}", c1.first_difference(&c2));
    prop_assert_eq!((scheme.times)(&v1), (scheme.times)(&v2), "derived update times differ");
    Ok(())
}

/// Law 2 on one generated case: simulated and real views are equal up to renaming.
fn law2(scheme: &Scheme, run: Run<'_>, h: &History, seed: u64) -> Result<(), TestCaseError> {
    let w = h.workload(scheme.adds_only);
    let trace = scheme.model.leakage(&w).map_err(fail)?;
    let simulated = scheme.model.simulate(&trace, &mut ChaCha8Rng::seed_from_u64(seed)).map_err(fail)?;
    let real = (scheme.normalize)(&run(&w));
    let (cs, cr) = (simulated.canonical(), real.canonical());
    prop_assert_eq!(cs.erase_names(), cr.erase_names(), "simulated and real views differ in shape");
    prop_assert!(cs == cr, "simulated and real views differ; first difference: {:?}", cs.first_difference(&cr));
    Ok(())
}

/// The update times of the trace (as batch ordinals) equal those the server
/// derives from the real view (as insert ordinals; equal here, batches are small).
fn declared_times(scheme: &Scheme, h: &History) -> Result<(), TestCaseError> {
    let w = h.workload(scheme.adds_only);
    let trace = scheme.model.leakage(&w).map_err(fail)?;
    let declared: Vec<Vec<Option<u64>>> = trace
        .operations
        .iter()
        .filter_map(|op| {
            op.values.iter().find_map(|(leak, v)| match (leak, v) {
                (sseek::leakage::profile::Leak::BackwardPrivacy(_), sseek::leakage::profile::LeakValue::Counts(t)) => {
                    Some(t.iter().map(|&x| Some(x)).collect())
                }
                _ => None,
            })
        })
        .collect();
    let view = scheme.model.run(&w).map_err(fail)?;
    prop_assert_eq!(declared, (scheme.times)(&view));
    Ok(())
}

fn real(scheme: &'static Scheme) -> impl Fn(&Workload) -> ServerView {
    move |w| scheme.model.run(w).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn law1_mitra_paper_equal_leakage_gives_equal_views(h in history(), seed in any::<u64>()) {
        law1(&MITRA_PAPER, &real(&MITRA_PAPER), &h, seed)?;
    }

    #[test]
    fn law2_mitra_paper_simulator_matches_real_view(h in history(), seed in any::<u64>()) {
        law2(&MITRA_PAPER, &real(&MITRA_PAPER), &h, seed)?;
    }

    #[test]
    fn mitra_paper_declared_update_times_are_what_the_server_derives(h in history()) {
        declared_times(&MITRA_PAPER, &h)?;
    }

    #[test]
    fn law1_mitra_equal_leakage_gives_equal_views(h in history(), seed in any::<u64>()) {
        law1(&MITRA, &real(&MITRA), &h, seed)?;
    }

    #[test]
    fn law1_diana_equal_leakage_gives_equal_views(h in history(), seed in any::<u64>()) {
        law1(&DIANA, &real(&DIANA), &h, seed)?;
    }

    #[test]
    fn law2_mitra_simulator_matches_real_view(h in history(), seed in any::<u64>()) {
        law2(&MITRA, &real(&MITRA), &h, seed)?;
    }

    #[test]
    fn law2_diana_simulator_matches_real_view(h in history(), seed in any::<u64>()) {
        law2(&DIANA, &real(&DIANA), &h, seed)?;
    }

    #[test]
    fn mitra_declared_update_times_are_what_the_server_derives(h in history()) {
        declared_times(&MITRA, &h)?;
    }

    #[test]
    fn diana_declared_update_times_are_what_the_server_derives(h in history()) {
        declared_times(&DIANA, &h)?;
    }

    #[test]
    fn law1_diana_paper_equal_leakage_gives_equal_views(h in history(), seed in any::<u64>()) {
        law1(&DIANA_PAPER, &real(&DIANA_PAPER), &h, seed)?;
    }

    #[test]
    fn law2_diana_paper_simulator_matches_real_view(h in history(), seed in any::<u64>()) {
        law2(&DIANA_PAPER, &real(&DIANA_PAPER), &h, seed)?;
    }

    #[test]
    fn diana_paper_declared_update_times_are_what_the_server_derives(h in history()) {
        declared_times(&DIANA_PAPER, &h)?;
    }
}

// ---------------------------------------------------------------------------
// Negative controls: leaky clients over the real server, and proof that the
// law checks above reject them.

/// Law-1 control, "updates that tag their keyword": the real client, plus
/// one side entry per update at a random label whose value is a keyed but
/// deterministic tag of the keyword. Searches still work (no search reads
/// the side entries), but equal keywords now give equal strings in the view,
/// so the keyword distribution of updates no search revealed shows.
#[derive(Debug)]
struct TaggingClient {
    inner: Box<dyn DynamicScheme>,
    tag: KeywordPrf,
    value_len: usize,
}

impl DynamicScheme for TaggingClient {
    fn descriptor(&self) -> &SseDescriptor {
        self.inner.descriptor()
    }
    fn supports_delete(&self) -> bool {
        self.inner.supports_delete()
    }
    fn update(&mut self, updates: &[Update]) -> sseek::Result<Vec<EncryptedEntry>> {
        let mut entries = self.inner.update(updates)?;
        for u in updates {
            entries.push(EncryptedEntry {
                location: EntryLocation::Dictionary(rand::random()),
                value: self.tag.keys(&u.keyword).first[..self.value_len].to_vec(),
            });
        }
        Ok(entries)
    }
    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        self.inner.token(keyword)
    }
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> sseek::Result<Vec<DocId>> {
        self.inner.resolve(keyword, result)
    }
    fn save_state(&self) -> sseek::Result<()> {
        self.inner.save_state()
    }
    fn seal_state(&self, version: u64) -> sseek::Result<Vec<u8>> {
        self.inner.seal_state(version)
    }
    fn open_state(&mut self, version: u64, sealed: &[u8]) -> sseek::Result<()> {
        self.inner.open_state(version, sealed)
    }
    fn consolidation(&self, keyword: &[u8], ids: &[DocId]) -> sseek::Result<Option<Packing>> {
        self.inner.consolidation(keyword, ids)
    }
    fn pack_setup(&self, db: &MultiMap) -> sseek::Result<Option<(Packing, MultiMap)>> {
        self.inner.pack_setup(db)
    }
    fn apply_packing(&mut self, packing: &Packing) -> sseek::Result<()> {
        self.inner.apply_packing(packing)
    }
}

/// Law-1 control for consolidation, "a rewrite that shows the exact result
/// length": the real client, whose packings also carry one extra random
/// 257-byte entry per id beyond the blocks (never read, so searches still
/// work). The declared leakage rounds the result length up to 64 ids; this
/// client shows it exactly, so two workloads with equal declared leakage
/// and different result lengths give different views.
#[derive(Debug)]
struct ExactLengthClient {
    inner: Box<dyn DynamicScheme>,
}

impl DynamicScheme for ExactLengthClient {
    fn descriptor(&self) -> &SseDescriptor {
        self.inner.descriptor()
    }
    fn supports_delete(&self) -> bool {
        self.inner.supports_delete()
    }
    fn update(&mut self, updates: &[Update]) -> sseek::Result<Vec<EncryptedEntry>> {
        self.inner.update(updates)
    }
    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        self.inner.token(keyword)
    }
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> sseek::Result<Vec<DocId>> {
        self.inner.resolve(keyword, result)
    }
    fn save_state(&self) -> sseek::Result<()> {
        self.inner.save_state()
    }
    fn seal_state(&self, version: u64) -> sseek::Result<Vec<u8>> {
        self.inner.seal_state(version)
    }
    fn open_state(&mut self, version: u64, sealed: &[u8]) -> sseek::Result<()> {
        self.inner.open_state(version, sealed)
    }
    fn consolidation(&self, keyword: &[u8], ids: &[DocId]) -> sseek::Result<Option<Packing>> {
        let Some(mut packing) = self.inner.consolidation(keyword, ids)? else { return Ok(None) };
        let extra = ids.len().saturating_sub(packing.entries.len());
        packing.entries.extend((0..extra).map(|_| EncryptedEntry {
            location: EntryLocation::Dictionary(rand::random()),
            value: (0..sse::mitra::client::BLOCK_LEN).map(|_| rand::random()).collect(),
        }));
        Ok(Some(packing))
    }
    fn pack_setup(&self, db: &MultiMap) -> sseek::Result<Option<(Packing, MultiMap)>> {
        self.inner.pack_setup(db)
    }
    fn apply_packing(&mut self, packing: &Packing) -> sseek::Result<()> {
        self.inner.apply_packing(packing)
    }
}

/// Law-1 control for Diana's consolidation, "a rewrite that shows how many
/// keywords the client holds": the real client, whose packings also carry
/// one extra random 257-byte entry per distinct keyword it has added to
/// (never read, so searches still work). Diana's access pattern already
/// shows the exact result length, so [`ExactLengthClient`] leaks nothing
/// more there; the keyword count is hidden by the declared leakage (updates
/// no search reveals may go to any keyword), so this must be rejected.
#[derive(Debug)]
struct KeywordCountClient {
    inner: Box<dyn DynamicScheme>,
    keywords: std::collections::HashSet<Keyword>,
}

impl DynamicScheme for KeywordCountClient {
    fn descriptor(&self) -> &SseDescriptor {
        self.inner.descriptor()
    }
    fn supports_delete(&self) -> bool {
        self.inner.supports_delete()
    }
    fn update(&mut self, updates: &[Update]) -> sseek::Result<Vec<EncryptedEntry>> {
        let entries = self.inner.update(updates)?;
        self.keywords.extend(updates.iter().map(|u| u.keyword.clone()));
        Ok(entries)
    }
    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        self.inner.token(keyword)
    }
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> sseek::Result<Vec<DocId>> {
        self.inner.resolve(keyword, result)
    }
    fn save_state(&self) -> sseek::Result<()> {
        self.inner.save_state()
    }
    fn seal_state(&self, version: u64) -> sseek::Result<Vec<u8>> {
        self.inner.seal_state(version)
    }
    fn open_state(&mut self, version: u64, sealed: &[u8]) -> sseek::Result<()> {
        self.inner.open_state(version, sealed)
    }
    fn consolidation(&self, keyword: &[u8], ids: &[DocId]) -> sseek::Result<Option<Packing>> {
        let Some(mut packing) = self.inner.consolidation(keyword, ids)? else { return Ok(None) };
        packing.entries.extend(self.keywords.iter().map(|_| EncryptedEntry {
            location: EntryLocation::Dictionary(rand::random()),
            value: (0..sse::packed::BLOCK_LEN).map(|_| rand::random()).collect(),
        }));
        Ok(Some(packing))
    }
    fn pack_setup(&self, db: &MultiMap) -> sseek::Result<Option<(Packing, MultiMap)>> {
        self.inner.pack_setup(db)
    }
    fn apply_packing(&mut self, packing: &Packing) -> sseek::Result<()> {
        self.inner.apply_packing(packing)
    }
}

fn keyword_count(scheme: &'static Scheme) -> impl Fn(&Workload) -> ServerView {
    move |w| {
        let client = KeywordCountClient {
            inner: real_client(&MasterKey::generate().unwrap(), &config_of(scheme)),
            keywords: std::collections::HashSet::new(),
        };
        record_dynamic(SchemeClient::Dynamic(Box::new(client)), w).unwrap()
    }
}

fn exact_length(scheme: &'static Scheme) -> impl Fn(&Workload) -> ServerView {
    move |w| {
        let client = ExactLengthClient { inner: real_client(&MasterKey::generate().unwrap(), &config_of(scheme)) };
        record_dynamic(SchemeClient::Dynamic(Box::new(client)), w).unwrap()
    }
}

/// Law-2 control, "a search that reaches into the future": the real client,
/// except that the token of `w` also covers `w`'s next update (Mitra: one
/// more address; Diana: a constrained key for `count + 1` leaves), computed
/// by a shadow client with the same keys. This breaks forward privacy and
/// reveals more than the declared leakage, so the simulator cannot match it.
#[derive(Debug)]
struct FutureTokenClient {
    inner: Box<dyn DynamicScheme>,
    master: MasterKey,
    config: SchemeConfig,
    counts: HashMap<Keyword, usize>,
}

impl DynamicScheme for FutureTokenClient {
    fn descriptor(&self) -> &SseDescriptor {
        self.inner.descriptor()
    }
    fn supports_delete(&self) -> bool {
        self.inner.supports_delete()
    }
    fn update(&mut self, updates: &[Update]) -> sseek::Result<Vec<EncryptedEntry>> {
        let entries = self.inner.update(updates)?;
        for u in updates {
            *self.counts.entry(u.keyword.clone()).or_default() += 1;
        }
        Ok(entries)
    }
    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        let n = *self.counts.get(keyword)?;
        let Ok(SchemeClient::Dynamic(mut shadow)) = sse::open_client(&self.master, TENANT, &self.config) else {
            return None;
        };
        let dummy = Update { op: UpdateOp::Add, keyword: keyword.to_vec(), id: 0 };
        shadow.update(&vec![dummy; n + 1]).ok()?;
        shadow.token(keyword)
    }
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> sseek::Result<Vec<DocId>> {
        // Drop the value of the future address (Mitra); Diana's server skips the unstored leaf itself.
        let result = match result {
            SearchResult::Values(mut v) => {
                v.pop();
                SearchResult::Values(v)
            }
            ids => ids,
        };
        self.inner.resolve(keyword, result)
    }
    fn save_state(&self) -> sseek::Result<()> {
        self.inner.save_state()
    }
    fn seal_state(&self, version: u64) -> sseek::Result<Vec<u8>> {
        self.inner.seal_state(version)
    }
    fn open_state(&mut self, version: u64, sealed: &[u8]) -> sseek::Result<()> {
        self.inner.open_state(version, sealed)
    }
    fn consolidation(&self, keyword: &[u8], ids: &[DocId]) -> sseek::Result<Option<Packing>> {
        self.inner.consolidation(keyword, ids)
    }
    fn pack_setup(&self, db: &MultiMap) -> sseek::Result<Option<(Packing, MultiMap)>> {
        self.inner.pack_setup(db)
    }
    fn apply_packing(&mut self, packing: &Packing) -> sseek::Result<()> {
        self.inner.apply_packing(packing)
    }
}

fn config_of(scheme: &Scheme) -> SchemeConfig {
    if scheme.adds_only {
        SchemeConfig { consolidate_after: scheme.consolidate_after, ..SchemeConfig::new("diana", diana::INSTANCE) }
    } else {
        SchemeConfig { consolidate_after: scheme.consolidate_after, ..SchemeConfig::new("mitra", mitra::INSTANCE) }
    }
}

fn real_client(master: &MasterKey, config: &SchemeConfig) -> Box<dyn DynamicScheme> {
    match sse::open_client(master, TENANT, config).unwrap() {
        SchemeClient::Dynamic(d) => d,
        SchemeClient::Static(_) => unreachable!("Mitra and Diana are dynamic"),
    }
}

fn tagging(scheme: &'static Scheme) -> impl Fn(&Workload) -> ServerView {
    move |w| {
        let master = MasterKey::generate().unwrap();
        let config = config_of(scheme);
        let client = TaggingClient {
            inner: real_client(&master, &config),
            tag: KeywordPrf::new(&master, TENANT, "leaky", "tag", "tag", 1).unwrap(),
            value_len: if scheme.adds_only { 4 } else { 5 },
        };
        record_dynamic(SchemeClient::Dynamic(Box::new(client)), w).unwrap()
    }
}

fn future_token(scheme: &'static Scheme) -> impl Fn(&Workload) -> ServerView {
    move |w| {
        let master = MasterKey::generate().unwrap();
        let config = config_of(scheme);
        let client = FutureTokenClient { inner: real_client(&master, &config), master, config, counts: HashMap::new() };
        record_dynamic(SchemeClient::Dynamic(Box::new(client)), w).unwrap()
    }
}

/// Runs `check` as a proptest (deterministic seed, same case count as the
/// laws) and returns the failure message; panics if every case passed.
fn must_fail(check: impl Fn(&History, u64) -> Result<(), TestCaseError>) -> String {
    let config = Config { cases: CASES, failure_persistence: None, max_shrink_iters: 64, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    match runner.run(&(history(), any::<u64>()), |(h, seed)| check(&h, seed)) {
        Err(TestError::Fail(reason, _)) => reason.to_string(),
        other => panic!("the law check accepted a leaky client: {other:?}"),
    }
}

#[test]
fn law1_mitra_rejects_keyword_tagging_updates() {
    let reason = must_fail(|h, seed| law1(&MITRA, &tagging(&MITRA), h, seed));
    assert!(reason.contains("different views"), "failed for another reason: {reason}");
}

#[test]
fn law1_mitra_rejects_a_rewrite_that_shows_the_exact_result_length() {
    let reason = must_fail(|h, seed| law1(&MITRA, &exact_length(&MITRA), h, seed));
    assert!(reason.contains("different views"), "failed for another reason: {reason}");
}

#[test]
fn law1_diana_rejects_keyword_tagging_updates() {
    let reason = must_fail(|h, seed| law1(&DIANA, &tagging(&DIANA), h, seed));
    assert!(reason.contains("different views"), "failed for another reason: {reason}");
}

#[test]
fn law1_diana_rejects_a_rewrite_that_shows_the_keyword_count() {
    let reason = must_fail(|h, seed| law1(&DIANA, &keyword_count(&DIANA), h, seed));
    assert!(reason.contains("different views"), "failed for another reason: {reason}");
}

#[test]
fn law1_diana_paper_rejects_keyword_tagging_updates() {
    let reason = must_fail(|h, seed| law1(&DIANA_PAPER, &tagging(&DIANA_PAPER), h, seed));
    assert!(reason.contains("different views"), "failed for another reason: {reason}");
}

#[test]
fn law2_mitra_rejects_tokens_that_cover_the_next_update() {
    let reason = must_fail(|h, seed| law2(&MITRA_PAPER, &future_token(&MITRA_PAPER), h, seed));
    assert!(reason.contains("simulated and real views differ"), "failed for another reason: {reason}");
}

#[test]
fn law2_diana_rejects_tokens_that_cover_the_next_update() {
    let reason = must_fail(|h, seed| law2(&DIANA_PAPER, &future_token(&DIANA_PAPER), h, seed));
    assert!(reason.contains("simulated and real views differ"), "failed for another reason: {reason}");
}

/// The leaky clients are not broken clients: they answer searches correctly,
/// so what the controls catch is the leak, not a failure.
#[test]
fn leaky_clients_still_answer_correctly() {
    for scheme in [&MITRA, &MITRA_PAPER, &DIANA, &DIANA_PAPER] {
        let master = MasterKey::generate().unwrap();
        let config = config_of(scheme);
        let a = |k: usize, id: DocId| Update { op: UpdateOp::Add, keyword: kw(k), id };
        let mut clients: Vec<Box<dyn DynamicScheme>> = vec![Box::new(TaggingClient {
            inner: real_client(&master, &config),
            tag: KeywordPrf::new(&master, TENANT, "leaky", "tag", "tag", 1).unwrap(),
            value_len: if scheme.adds_only { 4 } else { 5 },
        })];
        if scheme.consolidate_after.is_some() && scheme.adds_only {
            clients.push(Box::new(KeywordCountClient {
                inner: real_client(&master, &config),
                keywords: std::collections::HashSet::new(),
            }));
        } else if scheme.consolidate_after.is_some() {
            clients.push(Box::new(ExactLengthClient { inner: real_client(&master, &config) }));
        } else {
            clients.push(Box::new(FutureTokenClient {
                inner: real_client(&master, &config),
                master: master.clone(),
                config: config.clone(),
                counts: HashMap::new(),
            }));
        }
        for client in clients {
            let server = std::sync::Arc::new(sseek::server::Server::new(sseek::store::MemoryStore::new()));
            let transport = sseek::transport::InProcess::new(server, TENANT);
            let mut index = sse::SseIndex::create(transport, SchemeClient::Dynamic(client)).unwrap();
            index.update(&[a(1, 7), a(2, 8), a(1, 9)]).unwrap();
            assert_eq!(index.search_keyword(&kw(1)).unwrap(), vec![7, 9]);
            index.update(&[a(1, 3)]).unwrap();
            assert_eq!(index.search_keyword(&kw(1)).unwrap(), vec![3, 7, 9]);
            assert_eq!(index.search_keyword(&kw(2)).unwrap(), vec![8]);
        }
    }
}

/// The generated cases exercise the laws: most real views contain searches
/// that reveal updates, and most second workloads differ from the first by
/// more than a renaming (moved updates, so the keyword distribution of
/// hidden updates changes). A generator that made the laws trivial fails here.
#[test]
fn generated_cases_are_not_trivial() {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let (mut with_search, mut moved, mut revealed_updates, mut rewrites) = (0, 0, 0, 0);
    let (mut diana_rewrites, mut diana_packed_searches) = (0, 0);
    for seed in 0..u64::from(CASES) {
        let h = history().new_tree(&mut runner).unwrap().current();
        let view = MITRA.model.run(&h.workload(false)).unwrap();
        let times = mitra::update_times(&view);
        with_search += usize::from(!times.is_empty());
        revealed_updates += times.iter().map(Vec::len).sum::<usize>();
        // Keyword multiplicity profile of hidden updates: compare the sorted
        // per-keyword update counts of both workloads.
        let profile = |h: &History| {
            let mut c: HashMap<usize, usize> = HashMap::new();
            for &(k, _) in &h.distinct_setup() {
                *c.entry(k).or_default() += 1;
            }
            for op in &h.ops {
                if let Op::Update(b) = op {
                    for &(_, k, _) in b {
                        *c.entry(k).or_default() += 1;
                    }
                }
            }
            let mut v: Vec<usize> = c.into_values().collect();
            v.sort_unstable();
            v
        };
        moved += usize::from(profile(&h) != profile(&h.variant(seed, true, false)));
        let removes = |view: &ServerView| {
            view.events
                .iter()
                .filter(|e| matches!(e.observed, sseek::leakage::view::Observed::SseRemove { .. }))
                .count()
        };
        rewrites += removes(&view);
        let view = DIANA.model.run(&h.workload(true)).unwrap();
        diana_rewrites += removes(&view);
        diana_packed_searches += view.searches().filter(|s| matches!(s.token, SearchToken::PackedGgm { .. })).count();
    }
    let cases = CASES as usize;
    assert!(with_search * 2 > cases, "only {with_search} of {cases} views have a search");
    assert!(moved * 3 > cases, "only {moved} of {cases} variants change the keyword distribution");
    assert!(revealed_updates > cases, "only {revealed_updates} revealed updates in {cases} cases");
    assert!(rewrites > cases / 2, "only {rewrites} consolidating searches in {cases} cases");
    assert!(diana_rewrites > cases / 2, "only {diana_rewrites} consolidating Diana searches in {cases} cases");
    assert!(diana_packed_searches > cases / 2, "only {diana_packed_searches} packed Diana tokens in {cases} cases");
    println!("{with_search} of {cases} views with searches, {moved} variants with moved updates");
    println!("{revealed_updates} revealed updates, {rewrites} consolidating searches");
    println!("Diana: {diana_rewrites} consolidating searches, {diana_packed_searches} packed tokens");
}
