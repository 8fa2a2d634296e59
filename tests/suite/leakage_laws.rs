//! Leakage laws for the static SSE schemes, the blind index and the
//! client-only baselines, each with negative controls.
//!
//! **Law 1** (equal leakage, equal views): a workload and a second one with
//! equal declared leakage but different hidden content (keywords renamed,
//! unqueried lists changed, true lengths moved within what the declared
//! leakage hides) give real server views whose canonical forms are equal.
//!
//! **Law 2** (simulation): the view the scheme's simulator builds from the
//! declared leakage alone equals the real view after canonical renaming
//! (the exact form, not only the shape with names erased).
//!
//! **Negative controls** run the same checks, with proptest's `TestRunner`,
//! on deliberately leaky variants (`sseek::leakage::controls`) and assert
//! that a counterexample is found: a law that cannot fail checks nothing.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use sseek::baseline::BaselineMode;
use sseek::baseline::leakage::BaselineModel;
use sseek::leakage::controls;
use sseek::leakage::countermeasure::Padding;
use sseek::leakage::models::blind::BlindModel;
use sseek::leakage::models::pibas::PiBasModel;
use sseek::leakage::models::twolev::TwoLevModel;
use sseek::leakage::profile::{LeakageModel, Operation, Workload};
use sseek::protocol::DocId;
use sseek::sse::{self, MultiMap};

/// Keyword names: fixed width, so renaming keeps every document's size.
const NAMES: usize = 20;
const MAX_KEYWORDS: usize = 12;
const MAX_LIST: usize = 10;
const IDS: DocId = 64;
const CASES: u32 = 64;

fn name(i: usize) -> Vec<u8> {
    sse::keyword("body", &[&format!("kw{i:02}")])
}

/// A random workload: up to 12 keywords with lists of 1 to `max_list` ids below 64,
/// then up to 6 searches, some repeated, some for absent keywords.
fn workload(max_list: usize) -> impl Strategy<Value = Workload> {
    (1..=MAX_KEYWORDS)
        .prop_flat_map(move |k| {
            (
                proptest::collection::vec(proptest::collection::btree_set(0..IDS, 1..=max_list), k),
                proptest::collection::vec(0..k + 2, 0..=6),
            )
        })
        .prop_map(|(lists, searches)| {
            let db: MultiMap =
                lists.into_iter().enumerate().map(|(i, ids)| (name(i), ids.into_iter().collect())).collect();
            let operations = searches.into_iter().map(|i| Operation::Search(name(i))).collect();
            Workload { db, operations }
        })
}

/// What a transformation may change about one list without changing the
/// declared leakage: `None` keeps the list as it is; `Some(key)` allows any
/// length with the same key, with fresh ids.
type Bucket = dyn Fn(usize, bool) -> Option<usize>;

/// How to derive a second workload with equal declared leakage.
struct Hide<'a> {
    /// Per list (length, queried?) what may change.
    bucket: &'a Bucket,
    /// Longest list a changed list may have.
    max_list: usize,
    /// Move pairs between unqueried keywords, keeping their total (Pi_bas leaks only N).
    redistribute: bool,
    /// Replace every search by one for a random name (the server never sees keywords).
    free_searches: bool,
}

/// The second workload: keywords renamed by a random permutation of the
/// name pool, lists changed as `hide` allows.
fn hidden_variant(w: &Workload, hide: &Hide<'_>, seed: u64) -> Workload {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..NAMES).collect();
    perm.shuffle(&mut rng);
    let rename: BTreeMap<Vec<u8>, Vec<u8>> = (0..NAMES).map(|i| (name(i), name(perm[i]))).collect();
    let queried: BTreeSet<&Vec<u8>> = w.searches().collect();
    let fresh = |n: usize, rng: &mut ChaCha20Rng| -> Vec<DocId> {
        let all: Vec<DocId> = (0..IDS).collect();
        let mut ids: Vec<DocId> = all.choose_multiple(rng, n).copied().collect();
        ids.sort_unstable();
        ids
    };
    let mut db = MultiMap::new();
    let mut unqueried_total = 0;
    let mut unqueried = Vec::new();
    for (k, ids) in &w.db {
        let is_queried = queried.contains(k);
        let new = match (hide.bucket)(ids.len(), is_queried) {
            None => ids.clone(),
            Some(key) => {
                let same: Vec<usize> =
                    (1..=hide.max_list).filter(|&n| (hide.bucket)(n, is_queried) == Some(key)).collect();
                let n = *same.choose(&mut rng).unwrap_or(&ids.len());
                fresh(n, &mut rng)
            }
        };
        if hide.redistribute && !is_queried {
            unqueried_total += ids.len();
            unqueried.push(rename[k].clone());
        } else {
            db.insert(rename[k].clone(), new);
        }
    }
    if !unqueried.is_empty() {
        // A random composition of the total into as many parts, each 1..=IDS.
        let parts = unqueried.len();
        let mut lens = vec![1usize; parts];
        for _ in 0..unqueried_total - parts {
            let open: Vec<usize> = (0..parts).filter(|&i| lens[i] < IDS as usize).collect();
            lens[*open.choose(&mut rng).unwrap()] += 1;
        }
        for (k, n) in unqueried.into_iter().zip(lens) {
            db.insert(k, fresh(n, &mut rng));
        }
    }
    let operations = w
        .operations
        .iter()
        .map(|o| match o {
            Operation::Search(_) if hide.free_searches => Operation::Search(name(rng.random_range(0..NAMES))),
            Operation::Search(k) => Operation::Search(rename[k].clone()),
            Operation::Update(u) => Operation::Update(u.clone()),
        })
        .collect();
    Workload { db, operations }
}

/// Law 1 on one workload: equal traces (checked: the generator must keep
/// them equal) and canonically equal real views.
fn law1_case(model: &dyn LeakageModel, hide: &Hide<'_>, w: &Workload, seed: u64) -> Result<(), TestCaseError> {
    let w2 = hidden_variant(w, hide, seed);
    let (t1, t2) = (model.leakage(w).unwrap(), model.leakage(&w2).unwrap());
    prop_assert_eq!(&t1, &t2, "the generator changed the declared leakage");
    let (v1, v2) = (model.run(w).unwrap().canonical(), model.run(&w2).unwrap().canonical());
    if let Some((i, a, b)) = v1.first_difference(&v2) {
        return Err(TestCaseError::fail(format!("views differ at event {i}:\n{a:?}\nvs\n{b:?}")));
    }
    Ok(())
}

/// Law 2 on one workload: the trace holds exactly the items the profile
/// declares, and the simulated view from the trace equals the real view
/// after canonical renaming.
fn law2_case(model: &dyn LeakageModel, w: &Workload, seed: u64) -> Result<(), TestCaseError> {
    let trace = model.leakage(w).unwrap();
    // The leakage function computes exactly the items the profile declares.
    let profile = model.profile();
    let setup: Vec<_> = trace.setup.iter().map(|(l, _)| *l).collect();
    prop_assert_eq!(setup.as_slice(), profile.setup);
    for op in &trace.operations {
        let items: Vec<_> = op.values.iter().map(|(l, _)| *l).collect();
        prop_assert_eq!(items.as_slice(), profile.search);
    }
    let simulated = model.simulate(&trace, &mut ChaCha20Rng::seed_from_u64(seed)).unwrap().canonical();
    let real = model.run(w).unwrap().canonical();
    if let Some((i, a, b)) = real.first_difference(&simulated) {
        return Err(TestCaseError::fail(format!("real and simulated views differ at event {i}:\n{a:?}\nvs\n{b:?}")));
    }
    Ok(())
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() })
}

/// Runs law 1 on `model`; `Err` carries the minimal counterexample.
fn check_law1(model: &dyn LeakageModel, hide: &Hide<'_>) -> Result<(), String> {
    runner()
        .run(&(workload(hide.max_list), any::<u64>()), |(w, seed)| law1_case(model, hide, &w, seed))
        .map_err(|e| e.to_string())
}

/// Runs law 2 on `model`.
fn check_law2(model: &dyn LeakageModel, max_list: usize) -> Result<(), String> {
    runner().run(&(workload(max_list), any::<u64>()), |(w, seed)| law2_case(model, &w, seed)).map_err(|e| e.to_string())
}

fn must_fail(what: &str, r: Result<(), String>) {
    match r {
        Ok(()) => panic!("negative control {what}: the law found no counterexample in {CASES} cases"),
        Err(e) => {
            // Caught by a view difference, not by a panic or a generator check.
            assert!(e.contains("views differ at event"), "negative control {what} failed for another reason: {e}");
            eprintln!("negative control {what} caught, as it must be: {}", e.lines().next().unwrap_or(""));
        }
    }
}

// ---- Pi_bas and Pi_pack ----

const BLOCK: u16 = 4;
const PAD: u32 = 8;

fn exact(n: usize, queried: bool) -> Option<usize> {
    (!queried).then_some(n)
}

#[test]
fn law1_pibas() {
    check_law1(
        &PiBasModel::pibas(),
        &Hide { bucket: &exact, redistribute: true, free_searches: false, max_list: MAX_LIST },
    )
    .unwrap();
}

#[test]
fn law2_pibas() {
    check_law2(&PiBasModel::pibas(), MAX_LIST).unwrap();
}

#[test]
fn law1_pack() {
    let b = usize::from(BLOCK);
    check_law1(
        &PiBasModel::pack(BLOCK),
        &Hide {
            bucket: &move |n, q| (!q).then_some(n.div_ceil(b)),
            redistribute: false,
            free_searches: false,
            max_list: MAX_LIST,
        },
    )
    .unwrap();
}

#[test]
fn law2_pack() {
    check_law2(&PiBasModel::pack(BLOCK), MAX_LIST).unwrap();
}

fn pack_rh_bucket(n: usize, _queried: bool) -> Option<usize> {
    Some(Padding::Multiple(PAD).padded_len(n).div_ceil(usize::from(BLOCK)))
}

#[test]
fn law1_pack_rh_padded() {
    check_law1(
        &PiBasModel::pack_rh(BLOCK, Padding::Multiple(PAD)),
        &Hide { bucket: &pack_rh_bucket, redistribute: false, free_searches: false, max_list: MAX_LIST },
    )
    .unwrap();
}

#[test]
fn law2_pack_rh_padded() {
    check_law2(&PiBasModel::pack_rh(BLOCK, Padding::Multiple(PAD)), MAX_LIST).unwrap();
}

// ---- 2Lev ----

/// `b` = 2 with lists of up to 40 ids: small (at most 16 ids, inline),
/// medium (17 to 32) and large lists (33 and more: pointer blocks) all occur.
const TWOLEV_BLOCK: u16 = 2;
const TWOLEV_LIST: usize = 40;

/// The 2Lev layout class of a list: (id blocks, pointer blocks) of `pad(n)`.
fn twolev_shape(n: usize, padding: Padding) -> usize {
    let (n, b) = (padding.padded_len(n), usize::from(TWOLEV_BLOCK));
    if n <= 16 {
        return 0;
    }
    let id = n.div_ceil(b);
    if id <= 16 { id } else { 1000 + id }
}

#[test]
fn law1_2lev() {
    let bucket = |n, q: bool| (!q).then_some(twolev_shape(n, Padding::None));
    check_law1(
        &TwoLevModel::rr(TWOLEV_BLOCK),
        &Hide { bucket: &bucket, redistribute: false, free_searches: false, max_list: TWOLEV_LIST },
    )
    .unwrap();
}

#[test]
fn law2_2lev() {
    check_law2(&TwoLevModel::rr(TWOLEV_BLOCK), TWOLEV_LIST).unwrap();
}

fn twolev_rh_bucket(n: usize, _queried: bool) -> Option<usize> {
    Some(twolev_shape(n, Padding::Multiple(PAD)))
}

#[test]
fn law1_2lev_rh_padded() {
    check_law1(
        &TwoLevModel::rh(TWOLEV_BLOCK, Padding::Multiple(PAD)),
        &Hide { bucket: &twolev_rh_bucket, redistribute: false, free_searches: false, max_list: TWOLEV_LIST },
    )
    .unwrap();
}

#[test]
fn law2_2lev_rh_padded() {
    check_law2(&TwoLevModel::rh(TWOLEV_BLOCK, Padding::Multiple(PAD)), TWOLEV_LIST).unwrap();
}

// ---- Blind index ----

/// Blind indexes show every posting list at rest, ids included: only the
/// keywords themselves are hidden, so the second workload renames them.
fn keep(_n: usize, _queried: bool) -> Option<usize> {
    None
}

#[test]
fn law1_blind_queried() {
    check_law1(
        &BlindModel::queried(),
        &Hide { bucket: &keep, redistribute: false, free_searches: false, max_list: MAX_LIST },
    )
    .unwrap();
}

#[test]
fn law2_blind_queried() {
    check_law2(&BlindModel::queried(), MAX_LIST).unwrap();
}

#[test]
fn law1_blind_at_rest() {
    check_law1(
        &BlindModel::at_rest(),
        &Hide { bucket: &keep, redistribute: false, free_searches: true, max_list: MAX_LIST },
    )
    .unwrap();
}

#[test]
fn law2_blind_at_rest() {
    check_law2(&BlindModel::at_rest(), MAX_LIST).unwrap();
}

// ---- Client-only baselines ----

const BASELINE_HIDE: Hide<'static> =
    Hide { bucket: &keep, redistribute: false, free_searches: true, max_list: MAX_LIST };

#[test]
fn law1_client_download_all() {
    check_law1(&BaselineModel { mode: BaselineMode::DownloadAll }, &BASELINE_HIDE).unwrap();
}

#[test]
fn law2_client_download_all() {
    check_law2(&BaselineModel { mode: BaselineMode::DownloadAll }, MAX_LIST).unwrap();
}

#[test]
fn law1_client_local_index() {
    check_law1(&BaselineModel { mode: BaselineMode::LocalIndex }, &BASELINE_HIDE).unwrap();
}

#[test]
fn law2_client_local_index() {
    check_law2(&BaselineModel { mode: BaselineMode::LocalIndex }, MAX_LIST).unwrap();
}

// ---- Negative controls: each must be caught ----

#[test]
fn control_law1_catches_whole_list_pibas() {
    must_fail(
        "law 1, Pi_bas with counter-free labels",
        check_law1(
            &controls::whole_list_pibas(),
            &Hide { bucket: &exact, redistribute: true, free_searches: false, max_list: MAX_LIST },
        ),
    );
}

#[test]
fn control_law2_catches_whole_list_pibas() {
    must_fail("law 2, Pi_bas with counter-free labels", check_law2(&controls::whole_list_pibas(), MAX_LIST));
}

#[test]
fn control_law1_catches_pack_rh_padding_off() {
    must_fail(
        "law 1, Pi_pack RH with padding off",
        check_law1(
            &controls::padding_off(BLOCK, PAD),
            &Hide { bucket: &pack_rh_bucket, redistribute: false, free_searches: false, max_list: MAX_LIST },
        ),
    );
}

#[test]
fn control_law2_catches_pack_rh_padding_off() {
    must_fail("law 2, Pi_pack RH with padding off", check_law2(&controls::padding_off(BLOCK, PAD), MAX_LIST));
}

#[test]
fn control_law1_catches_2lev_rh_padding_off() {
    must_fail(
        "law 1, 2Lev RH with padding off",
        check_law1(
            &controls::twolev_padding_off(TWOLEV_BLOCK, PAD),
            &Hide { bucket: &twolev_rh_bucket, redistribute: false, free_searches: false, max_list: TWOLEV_LIST },
        ),
    );
}

#[test]
fn control_law2_catches_2lev_rh_padding_off() {
    must_fail(
        "law 2, 2Lev RH with padding off",
        check_law2(&controls::twolev_padding_off(TWOLEV_BLOCK, PAD), TWOLEV_LIST),
    );
}

#[test]
fn control_law1_catches_short_blind_tokens() {
    must_fail(
        "law 1, blind index with 2-bit tokens declared as 64-bit",
        check_law1(
            &controls::short_tokens(),
            &Hide { bucket: &keep, redistribute: false, free_searches: false, max_list: MAX_LIST },
        ),
    );
}

#[test]
fn control_law2_catches_short_blind_tokens() {
    must_fail(
        "law 2, blind index with 2-bit tokens declared as 64-bit",
        check_law2(&controls::short_tokens(), MAX_LIST),
    );
}
