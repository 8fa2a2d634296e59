//! The report's assembly: plans the (scheme, countermeasure) pairs, builds
//! each scenario, runs the attacks on it and sums up recovery and costs
//! over the seeds.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{
    ATTACKS, AttackArgs, AttackReport, CostRow, Distribution, FRONTIER_BLIND, FRONTIER_SSE, GRID_KNOWN, KNOWN_QUERIES,
    Row,
};
use crate::bench::Environment;
use crate::leakage::attacks::{self, Attack, Recovery};
use crate::leakage::countermeasure::Countermeasure;
use crate::leakage::experiment::{self, AttackCorpus, BLIND, Scenario, ScenarioConfig, is_dynamic};
use crate::message::Message;
use crate::{Error, Result};

/// The attack object of a query-recovery attack name.
///
/// # Errors
/// [`Error::Config`] for an unknown name.
pub fn query_attack(name: &str) -> Result<Box<dyn Attack>> {
    attacks::by_name(name)
        .ok_or_else(|| Error::Config(format!("unknown attack {name:?} (known: {})", ATTACKS.join(", "))))
}

/// What a run covers, from the arguments.
struct Plan {
    attacks: Vec<String>,
    known: Vec<f64>,
    seeds: Vec<u64>,
    /// (scheme, countermeasure) pairs.
    configs: Vec<(String, Countermeasure)>,
}

/// The attacks, fractions, seeds and (scheme, countermeasure) pairs `args` ask for.
fn plan(args: &AttackArgs) -> Result<Plan> {
    let mut attacks: Vec<String> = if args.grid || args.frontier || args.attack.iter().any(|a| a == "all") {
        ATTACKS
            .iter()
            .filter(|a| matches!(**a, "frequency" | "injection") || attacks::by_name(a).is_some())
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        args.attack.clone()
    };
    attacks.dedup();
    for a in &attacks {
        if !ATTACKS.contains(&a.as_str()) {
            return Err(Error::Config(format!("unknown attack {a:?} (known: {}, all)", ATTACKS.join(", "))));
        }
    }
    let known = if args.grid || args.frontier { GRID_KNOWN.to_vec() } else { args.known.clone() };
    if known.is_empty() || known.iter().any(|f| !(0.0..=1.0).contains(f)) {
        return Err(Error::Config("--known fractions must be between 0 and 1".into()));
    }
    // --grid alone means one seed, as the timing target states.
    let seed_count = if args.grid && args.seeds == 5 && !args.frontier { 1 } else { args.seeds.max(1) };
    let seeds = (1..=seed_count).collect();
    let parse = |s: &str| s.parse::<Countermeasure>();
    let mut configs = Vec::new();
    let mut schemes = args.scheme.clone();
    if attacks.iter().any(|a| a == "frequency") && !schemes.iter().any(|s| s == BLIND) {
        schemes.push(BLIND.to_owned());
    }
    for s in &schemes {
        if s != BLIND {
            crate::demo::variant_config(s)?;
        }
        let cms: Vec<Countermeasure> = if args.frontier {
            let list = if s == BLIND { FRONTIER_BLIND } else { FRONTIER_SSE };
            list.iter().map(|c| parse(c)).collect::<Result<_>>()?
        } else {
            args.countermeasure.iter().map(|c| parse(c)).collect::<Result<_>>()?
        };
        for cm in cms {
            let fits = match cm {
                Countermeasure::Bits(_) => s == BLIND,
                Countermeasure::Pad(_) | Countermeasure::Pow(_) | Countermeasure::Size(_) => s != BLIND,
                Countermeasure::None => true,
            };
            if fits {
                configs.push((s.clone(), cm));
            }
        }
    }
    if configs.is_empty() {
        return Err(Error::Config("no (scheme, countermeasure) pair applies".into()));
    }
    Ok(Plan { attacks, known, seeds, configs })
}

/// Runs `sseek attack`. `progress` gets one line per finished scenario.
///
/// # Errors
/// Configuration, dataset, scheme and I/O errors.
pub fn run(args: &AttackArgs, progress: &mut dyn FnMut(&str)) -> Result<AttackReport> {
    let started = Instant::now();
    let plan = plan(args)?;
    let corpus = AttackCorpus::load(&args.dataset)?;
    let pairs = crate::sse::pair_count(&corpus.multimap()) as u64;
    // Per (attack, scheme, cm, known): rates, times, unit and seeds.
    let mut rates: BTreeMap<RowKey, RowRuns> = BTreeMap::new();
    let mut costs: BTreeMap<(String, String), Vec<experiment::Cost>> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut saved_view = false;
    for (scheme, cm) in &plan.configs {
        let on_scheme: Vec<&String> = plan
            .attacks
            .iter()
            .filter(|a| if scheme == BLIND { true } else { a.as_str() != "frequency" })
            .filter(|a| if a.as_str() == "injection" { is_dynamic(scheme) } else { true })
            .collect();
        if plan.attacks.iter().any(|a| a == "injection") && !is_dynamic(scheme) {
            skipped.push(format!("injection on {scheme}: a static index takes no new messages"));
        }
        if on_scheme.is_empty() {
            continue;
        }
        for &seed in &plan.seeds {
            let t = Instant::now();
            let config = ScenarioConfig {
                scheme: scheme.clone(),
                countermeasure: *cm,
                keywords: args.keywords,
                selection: args.selection,
                queries: args.queries,
                distribution: args.distribution,
                seed,
                active: on_scheme.iter().any(|a| a.as_str() == "injection"),
            };
            let mut scenario = experiment::build_scenario(&corpus, &config)?;
            if scenario.cost.mismatches > 0 {
                return Err(Error::Config(format!(
                    "{scheme} with {cm}: {} queries differ from the plaintext oracle",
                    scenario.cost.mismatches
                )));
            }
            if let (Some(path), false) = (&args.save_view, saved_view) {
                scenario.view.save(path)?;
                saved_view = true;
            }
            costs.entry((scheme.clone(), cm.to_string())).or_default().push(scenario.cost.clone());
            let build = t.elapsed().as_secs_f64();
            let results = run_attacks(&corpus, &mut scenario, &on_scheme, &plan.known, seed)?;
            for (attack, known, rate, secs, unit) in results {
                let e = rates
                    .entry((attack, scheme.clone(), cm.to_string(), known.to_bits()))
                    .or_insert_with(|| (Vec::new(), Vec::new(), unit, Vec::new()));
                e.0.push(rate);
                e.1.push(secs);
                e.3.push(seed);
            }
            progress(&format!(
                "{scheme} {cm} seed {seed}: scenario {build:.1} s, attacks {:.1} s",
                t.elapsed().as_secs_f64() - build
            ));
        }
    }
    let rows = rates
        .into_iter()
        .map(|((attack, scheme, countermeasure, known), (r, s, unit, seeds))| {
            let (mean, std, min, max) = spread(&r);
            Row {
                attack,
                scheme,
                countermeasure,
                known: f64::from_bits(known),
                unit: unit.to_owned(),
                mean,
                std,
                min,
                max,
                runs: r.len(),
                seconds: s.iter().sum::<f64>() / s.len().max(1) as f64,
                seeds,
                distribution: Distribution::of(&r),
                rates: r,
            }
        })
        .collect();
    let costs = cost_rows(&costs);
    let mut report = AttackReport {
        environment: Environment::current().clone(),
        dataset: corpus.name.clone(),
        documents: corpus.messages.len(),
        pairs,
        keywords: args.keywords,
        queries: args.queries,
        selection: args.selection,
        distribution: args.distribution,
        seeds: plan.seeds,
        rows,
        costs,
        skipped,
        total_seconds: 0.0,
        spread: args.spread.clone(),
        merged: Vec::new(),
        conjunctive: super::conjunctive_section(args, &corpus, progress)?,
        shards: super::shard_section(args, &corpus, progress)?,
    };
    report.total_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.merge {
        report.merge(path)?;
    }
    Ok(report)
}

/// (attack, scheme, countermeasure, known fraction as bits).
type RowKey = (String, String, String, u64);
/// The runs of one row: rates, seconds, unit, seeds (one entry per seed).
type RowRuns = (Vec<f64>, Vec<f64>, &'static str, Vec<u64>);
/// (attack, known fraction, recovery rate, seconds, unit).
type AttackResult = (String, f64, f64, f64, &'static str);

/// Runs every attack on one scenario: passive ones in parallel over attacks
/// and known fractions, then injection (it changes the scenario).
fn run_attacks(
    corpus: &AttackCorpus,
    scenario: &mut Scenario,
    attacks: &[&String],
    known: &[f64],
    seed: u64,
) -> Result<Vec<AttackResult>> {
    use rayon::prelude::*;
    let passive: Vec<(&String, f64)> = attacks
        .iter()
        .filter(|a| a.as_str() != "injection")
        .flat_map(|a| known.iter().map(move |&k| (*a, k)))
        .collect();
    let scenario_ref: &Scenario = scenario;
    let given = |attack: &str| if attack.ends_with("-kq") { KNOWN_QUERIES } else { 0 };
    // One knowledge per (fraction, known queries), shared by every attack
    // that uses it rather than drawn again per attack.
    let mut knowledges: BTreeMap<(u64, usize), attacks::Knowledge> = BTreeMap::new();
    for &(attack, k) in &passive {
        knowledges
            .entry((k.to_bits(), given(attack)))
            .or_insert_with(|| experiment::knowledge(corpus, scenario_ref, k, given(attack), seed));
    }
    let mut out: Vec<AttackResult> = passive
        .par_iter()
        .map(|&(attack, k)| -> Result<AttackResult> {
            let knowledge = &knowledges[&(k.to_bits(), given(attack))];
            let t = Instant::now();
            if attack == "frequency" {
                let at_rest = scenario_ref.view.blind_index_at_rest();
                let postings = at_rest.get(experiment::INDEX).cloned().unwrap_or_default();
                let guesses = attacks::frequency::frequency_attack(&postings, knowledge);
                let secs = t.elapsed().as_secs_f64();
                return Ok((attack.clone(), k, experiment::keyword_recovery(scenario_ref, &guesses), secs, "keywords"));
            }
            let a = query_attack(attack)?;
            let recovery = a.recover(&scenario_ref.observation, knowledge);
            let secs = t.elapsed().as_secs_f64();
            Ok((attack.clone(), k, experiment::query_recovery(scenario_ref, knowledge, &recovery), secs, "queries"))
        })
        .collect::<Result<_>>()?;
    if attacks.iter().any(|a| a.as_str() == "injection") {
        out.push(run_injection(scenario)?);
    }
    Ok(out)
}

/// File injection after the victim's queries: the attacker sends the
/// planned messages, then links them to the earlier search tokens.
fn run_injection(scenario: &mut Scenario) -> Result<AttackResult> {
    let t = Instant::now();
    let plan = attacks::injection::plan(scenario.candidates.len(), None);
    let messages: Vec<Message> = plan
        .messages
        .iter()
        .map(|ks| Message {
            from: "mallory@example.net".into(),
            subject: "hello".into(),
            body: ks.iter().map(|&k| scenario.candidates[k as usize].as_str()).collect::<Vec<_>>().join(" "),
            ..Message::default()
        })
        .collect();
    let active = scenario
        .active
        .as_mut()
        .ok_or_else(|| Error::Config(format!("{}: scenario was not kept open for injection", scenario.scheme)))?;
    let ids = active.inject(&messages)?;
    let view = active.view();
    let recovery: Recovery = attacks::injection::recover(&view, experiment::TENANT, &plan, &ids)?;
    let knowledge = attacks::Knowledge { keywords: scenario.candidates.clone(), ..attacks::Knowledge::default() };
    // Score on the queries made before the injection (the view's first ones).
    let rate = experiment::query_recovery(scenario, &knowledge, &recovery);
    Ok(("injection".into(), 0.0, rate, t.elapsed().as_secs_f64(), "queries"))
}

/// Mean, sample standard deviation, minimum and maximum of the rates.
fn spread(r: &[f64]) -> (f64, f64, f64, f64) {
    let n = r.len().max(1) as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = if r.len() > 1 { r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    let min = r.iter().copied().fold(f64::INFINITY, f64::min);
    let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, var.sqrt(), if min.is_finite() { min } else { 0.0 }, if max.is_finite() { max } else { 0.0 })
}

/// Per (scheme, countermeasure), costs averaged over the seeds.
fn cost_rows(costs: &BTreeMap<(String, String), Vec<experiment::Cost>>) -> Vec<CostRow> {
    let mean = |v: &[experiment::Cost], f: &dyn Fn(&experiment::Cost) -> f64| {
        v.iter().map(f).sum::<f64>() / v.len().max(1) as f64
    };
    let base_bytes =
        |scheme: &str| costs.get(&(scheme.to_owned(), "none".to_owned())).map(|v| mean(v, &|c| c.bytes_per_query));
    costs
        .iter()
        .map(|((scheme, cm), v)| {
            let bytes = mean(v, &|c| c.bytes_per_query);
            CostRow {
                scheme: scheme.clone(),
                countermeasure: cm.clone(),
                pairs: v.first().map_or(0, |c| c.pairs),
                extra_pairs_pct: mean(v, &experiment::Cost::extra_pairs_pct),
                extra_document_bytes_pct: mean(v, &experiment::Cost::extra_document_bytes_pct),
                bytes_per_query: bytes,
                extra_bytes_per_query_pct: base_bytes(scheme)
                    .map_or(0.0, |b| if b > 0.0 { (bytes / b - 1.0) * 100.0 } else { 0.0 }),
                discarded_per_query: mean(v, &|c| c.discarded_per_query),
                ms_per_query: mean(v, &|c| c.ms_per_query),
                setup_seconds: mean(v, &|c| c.setup_seconds),
                mismatches: v.iter().map(|c| c.mismatches).sum(),
            }
        })
        .collect()
}
