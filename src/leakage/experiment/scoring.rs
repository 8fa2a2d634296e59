//! What the attacker is given and how its guesses score: the knowledge of a
//! known fraction, and recovery rates against the truth only the experiment
//! holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;

use super::{AttackCorpus, Scenario};
use crate::leakage::attacks::{Knowledge, KnownDocument, Recovery};
use crate::protocol::DocId;

/// The attacker's knowledge for one known fraction: a random `fraction` of
/// the messages (keyword sets restricted to candidates, sealed sizes, ids),
/// and the keyword of the first `known_queries` queries.
pub fn knowledge(
    corpus: &AttackCorpus,
    scenario: &Scenario,
    fraction: f64,
    known_queries: usize,
    seed: u64,
) -> Knowledge {
    let mut k =
        known_documents(corpus, &scenario.candidates, &|id| scenario.document_sizes[id as usize], fraction, seed);
    k.known_queries = scenario.truth.iter().take(known_queries).enumerate().map(|(q, &k)| (q, k)).collect();
    k
}

/// Knowledge of a random `fraction` of the corpus' messages (message `i`
/// is document `i`): their candidate keywords and sealed sizes (`size_of`).
#[allow(clippy::cast_possible_truncation)] // ids and candidate indexes are below the corpus size, which fits DocId (u32)
pub fn known_documents(
    corpus: &AttackCorpus,
    candidates: &[String],
    size_of: &dyn Fn(DocId) -> u64,
    fraction: f64,
    seed: u64,
) -> Knowledge {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ fraction.to_bits());
    let index: HashMap<&str, u32> = candidates.iter().enumerate().map(|(i, w)| (w.as_str(), i as u32)).collect();
    let n = corpus.messages.len();
    let take = ((n as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
    let mut ids: Vec<usize> = (0..n).collect();
    ids.shuffle(&mut rng);
    ids.truncate(take);
    ids.sort_unstable();
    let known_documents = ids
        .into_iter()
        .map(|i| {
            let mut keywords: Vec<u32> =
                corpus.keywords[i].iter().filter_map(|w| index.get(w.as_str()).copied()).collect();
            keywords.sort_unstable();
            (i as DocId, KnownDocument { keywords, bytes: size_of(i as DocId) })
        })
        .collect();
    Knowledge { keywords: candidates.to_vec(), known_documents, known_fraction: fraction, known_queries: Vec::new() }
}

/// Fraction of queries guessed right, not counting the queries the attacker
/// was given.
pub fn query_recovery(scenario: &Scenario, knowledge: &Knowledge, recovery: &Recovery) -> f64 {
    let given: BTreeSet<usize> = knowledge.known_queries.iter().map(|&(q, _)| q).collect();
    let (mut right, mut total) = (0usize, 0usize);
    for (q, &truth) in scenario.truth.iter().enumerate() {
        if given.contains(&q) {
            continue;
        }
        total += 1;
        if recovery.guesses.get(q).copied().flatten() == Some(truth) {
            right += 1;
        }
    }
    if total == 0 { 0.0 } else { right as f64 / total as f64 }
}

/// Fraction of candidate keywords whose true blind token a frequency attack
/// mapped to them (`guesses`: token → candidate index).
#[allow(clippy::cast_possible_truncation)] // ids and candidate indexes are below the corpus size, which fits DocId (u32)
pub fn keyword_recovery(scenario: &Scenario, guesses: &BTreeMap<u64, u32>) -> f64 {
    let Some(tokens) = &scenario.candidate_tokens else { return 0.0 };
    let right = tokens.iter().enumerate().filter(|&(i, t)| guesses.get(t) == Some(&(i as u32))).count();
    right as f64 / tokens.len().max(1) as f64
}

/// Median, minimum and maximum of `v` (the median of an even count is the
/// mean of the middle two); zeros for none.
pub(crate) fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (median, v[0], v[n - 1])
}
