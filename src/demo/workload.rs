//! The demo's query workload: values of every index spread over the
//! frequency range, absent values, compound tuples, ANDs and ORs.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::message::{Field, IndexSpec, Terms};
use crate::oracle::PlainIndex;
use crate::query::Query;

/// Picks `k` values spread over the frequency range: log-spaced ranks from the
/// most frequent down to the rarest, so the workload covers heavy and light hitters.
#[allow(clippy::cast_possible_truncation)] // float rank below n, a usize
fn across_frequency_range(mut values: Vec<(&str, u64)>, k: usize) -> Vec<String> {
    values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if values.is_empty() {
        return Vec::new();
    }
    let n = values.len();
    let mut out: Vec<String> = Vec::new();
    for i in 0..k.min(n) {
        let rank = ((n as f64).powf(i as f64 / (k.max(2) - 1) as f64) as usize).saturating_sub(1).min(n - 1);
        let v = values[rank].0.to_owned();
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The demo's query classes: one per index spec (`k` values across the
/// frequency range plus an absent value, or `k` random tuples of a compound
/// spec), then `k` ANDs and `k` ORs, drawn with `seed`.
pub fn build_workload(
    oracle: &PlainIndex,
    terms: &[Terms],
    specs: &[IndexSpec],
    seed: u64,
    k: usize,
) -> Vec<(String, Vec<Query>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut classes: Vec<(String, Vec<Query>)> = Vec::new();
    for spec in specs {
        let mut qs = Vec::new();
        if let [field] = spec.fields.as_slice() {
            for v in across_frequency_range(oracle.frequencies(*field), k) {
                qs.push(Query::term(&spec.name, &[&v]));
            }
            // A value nobody has: the answer must be empty, not an error.
            let absent = match field {
                Field::Day => "1970-01-01".to_owned(),
                Field::From | Field::To => "nobody@absent.invalid".to_owned(),
                _ => "zqxjkvwabsent".to_owned(),
            };
            qs.push(Query::term(&spec.name, &[&absent]));
        } else {
            for _ in 0..k {
                let Some(t) = terms.choose(&mut rng) else { break };
                if let Some(tuple) = spec.values(t).choose(&mut rng) {
                    qs.push(Query::term(&spec.name, tuple));
                }
            }
        }
        classes.push((spec.name.clone(), qs));
    }
    // AND of two keywords of one message (non-empty answers), OR of two random keywords.
    let body: Vec<&Terms> = terms.iter().filter(|t| t.get(&Field::Body).is_some_and(|b| b.len() >= 2)).collect();
    let mut and = Vec::new();
    let mut or = Vec::new();
    for _ in 0..k {
        if let Some(t) = body.choose(&mut rng) {
            let words: Vec<&str> = t[&Field::Body].iter().collect();
            let a = words[rng.random_range(0..words.len())];
            let b = words[rng.random_range(0..words.len())];
            let from = t.get(&Field::From).and_then(|f| f.iter().next());
            let mut parts = vec![Query::term("body", &[a]), Query::term("body", &[b])];
            if let (Some(f), true) = (from, rng.random_bool(0.3)) {
                parts.push(Query::term("from", &[f]));
            }
            and.push(Query::And(parts));
        }
        if let (Some(t1), Some(t2)) = (body.choose(&mut rng), body.choose(&mut rng)) {
            let a = t1[&Field::Body].iter().next();
            let b = t2[&Field::Body].iter().next_back();
            if let (Some(a), Some(b)) = (a, b) {
                or.push(Query::Or(vec![
                    Query::term("body", &[a]),
                    Query::And(vec![Query::term("body", &[b]), Query::term("subject", &[b])]),
                ]));
            }
        }
    }
    classes.push(("and".into(), and));
    classes.push(("or".into(), or));
    classes
}
