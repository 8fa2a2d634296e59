//! `sseek attack`: runs attacks over schemes, countermeasures, known
//! fractions and seeds, and reports recovery with its spread, run times and
//! the cost of each countermeasure; writes JSON, the markdown of
//! `LEAKAGE.md` and the cost-versus-recovery plots.

// Rates, counts and pixel coordinates are small.
#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use crate::bench::Environment;
use crate::bench::plot::{FAMILY, plot_error, register_font};
use crate::leakage::attacks::{self, Attack, Recovery};
use crate::leakage::countermeasure::Countermeasure;
use crate::leakage::experiment::{
    self, AttackCorpus, BLIND, QueryDistribution, Scenario, ScenarioConfig, Selection, is_dynamic,
};
use crate::leakage::observe::Observation;
use crate::message::Message;
use crate::{Error, Result, datasets};

/// Every attack name `sseek attack --attack` takes.
pub const ATTACKS: &[&str] = &[
    "count",
    "count-kq",
    "count-scored",
    "subgraph-id",
    "subgraph-vl",
    "vol-an",
    "sel-vol-an",
    "ikk",
    "frequency",
    "injection",
];

/// Known fractions of `--grid`.
pub const GRID_KNOWN: &[f64] = &[0.25, 0.5, 0.75, 1.0];

/// Countermeasures swept by `--frontier` for SSE schemes.
pub const FRONTIER_SSE: &[&str] = &["none", "pad:4", "pad:16", "pad:64", "pow:2", "pow:4", "size:256", "size:2048"];
/// Countermeasures swept by `--frontier` for the blind index (token bits).
pub const FRONTIER_BLIND: &[&str] = &["none", "bits:16", "bits:12", "bits:10", "bits:8"];

/// Queries the known-query attack variants are given.
pub const KNOWN_QUERIES: usize = 10;

/// Options of `sseek attack`.
#[derive(Debug, Clone, clap::Args)]
pub struct AttackArgs {
    /// Attacks, comma-separated: count, count-kq (10 known queries), count-scored (guesses unresolved queries; not in the paper), subgraph-id, subgraph-vl, vol-an, sel-vol-an, ikk, frequency (blind index at rest), injection (active, dynamic schemes), or all.
    #[arg(long, value_delimiter = ',', default_value = "count")]
    pub attack: Vec<String>,
    /// Fractions of the messages the attacker knows, comma-separated (0 to 1).
    #[arg(long, value_delimiter = ',', default_value = "0.5")]
    pub known: Vec<f64>,
    /// Candidate keywords.
    #[arg(long, default_value_t = 500)]
    pub keywords: usize,
    /// Queries per run (distinct candidates).
    #[arg(long, default_value_t = 150)]
    pub queries: usize,
    /// Seeds (runs) per configuration: 1..=N.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Schemes, comma-separated: pibas, pack, 2lev, 2lev-rh, mitra, diana, pack-rh, blind. The frequency attack always runs on the blind index.
    #[arg(long, value_delimiter = ',', default_value = "2lev")]
    pub scheme: Vec<String>,
    /// Countermeasures, comma-separated: none, pad:K, pow:X, size:BYTES, bits:N (blind index).
    #[arg(long, value_delimiter = ',', default_value = "none")]
    pub countermeasure: Vec<String>,
    /// Dataset, as for `sseek demo`.
    #[arg(long, default_value = datasets::SPAMASSASSIN)]
    pub dataset: String,
    /// Candidate keywords: the most frequent, or high-selectivity ones.
    #[arg(long, value_enum, default_value = "frequent")]
    pub selection: Selection,
    /// How queries are drawn from the candidates.
    #[arg(long, value_enum, default_value = "uniform")]
    pub distribution: QueryDistribution,
    /// The full table: every attack, known fractions 0.25, 0.5, 0.75, 1.0; one seed unless --seeds is given.
    #[arg(long)]
    pub grid: bool,
    /// The trade-off frontier: the grid over every countermeasure for the schemes given (plus the blind index over token bits).
    #[arg(long)]
    pub frontier: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the markdown report here (e.g. LEAKAGE.md).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write cost-versus-recovery plots (SVG and PNG) into this directory.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Save the server view of the first scenario (JSON lines) here.
    #[arg(long)]
    pub save_view: Option<PathBuf>,
    /// Attack a view captured elsewhere (e.g. `sseek serve --record-view`) instead of running a scheme: prints each query's guessed keyword (no truth, so no score). --dataset is the attacker's knowledge: message i is taken as document i.
    #[arg(long, conflicts_with_all = ["grid", "frontier", "save_view"])]
    pub view: Option<PathBuf>,
}

impl AttackArgs {
    /// Arguments with the defaults of the command line.
    pub fn defaults() -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            args: AttackArgs,
        }
        Wrap::parse_from(["sseek"]).args
    }
}

/// Recovery of one (attack, scheme, countermeasure, known fraction) over the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Attack name.
    pub attack: String,
    /// Scheme the view came from.
    pub scheme: String,
    /// Countermeasure.
    pub countermeasure: String,
    /// Known fraction of the messages (0 for attacks that use none).
    pub known: f64,
    /// What is recovered: `queries` or `keywords` (frequency attack).
    pub unit: &'static str,
    /// Mean recovery rate over the seeds.
    pub mean: f64,
    /// Sample standard deviation over the seeds (0 for one seed).
    pub std: f64,
    /// Lowest rate.
    pub min: f64,
    /// Highest rate.
    pub max: f64,
    /// Runs (seeds).
    pub runs: usize,
    /// Mean attack run time, seconds.
    pub seconds: f64,
}

/// Costs of one (scheme, countermeasure), averaged over the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct CostRow {
    /// Scheme.
    pub scheme: String,
    /// Countermeasure.
    pub countermeasure: String,
    /// Plaintext pairs.
    pub pairs: u64,
    /// Extra indexed pairs, percent.
    pub extra_pairs_pct: f64,
    /// Extra document bytes at rest, percent.
    pub extra_document_bytes_pct: f64,
    /// Bytes returned per query.
    pub bytes_per_query: f64,
    /// Extra bytes returned per query over the same scheme without countermeasure, percent.
    pub extra_bytes_per_query_pct: f64,
    /// Documents fetched and dropped per query.
    pub discarded_per_query: f64,
    /// Time per query, ms.
    pub ms_per_query: f64,
    /// Setup time, s.
    pub setup_seconds: f64,
    /// Result mismatches against the plaintext (must be 0).
    pub mismatches: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    /// Machine and build.
    pub environment: Environment,
    /// Dataset.
    pub dataset: String,
    /// Messages.
    pub documents: usize,
    /// Keyword-document pairs of the body index.
    pub pairs: u64,
    /// Candidate keywords.
    pub keywords: usize,
    /// Queries per run.
    pub queries: usize,
    /// Candidate selection.
    pub selection: Selection,
    /// Query distribution.
    pub distribution: QueryDistribution,
    /// Seeds used.
    pub seeds: Vec<u64>,
    /// Recovery rows.
    pub rows: Vec<Row>,
    /// Cost rows.
    pub costs: Vec<CostRow>,
    /// Configurations that were skipped, and why.
    pub skipped: Vec<String>,
    /// Wall time of the whole run, seconds.
    pub total_seconds: f64,
}

/// The attack object of a query-recovery attack name.
///
/// # Errors
/// [`Error::Config`] for an unknown name.
pub fn query_attack(name: &str) -> Result<Box<dyn Attack>> {
    attacks::by_name(name)
        .ok_or_else(|| Error::Config(format!("unknown attack {name:?} (known: {})", ATTACKS.join(", "))))
}

struct Plan {
    attacks: Vec<String>,
    known: Vec<f64>,
    seeds: Vec<u64>,
    /// (scheme, countermeasure) pairs.
    configs: Vec<(String, Countermeasure)>,
}

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
    // Per (attack, scheme, cm, known): rates and times.
    let mut rates: BTreeMap<RowKey, (Vec<f64>, Vec<f64>, &'static str)> = BTreeMap::new();
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
                    .or_insert_with(|| (Vec::new(), Vec::new(), unit));
                e.0.push(rate);
                e.1.push(secs);
            }
            progress(&format!(
                "{scheme} {cm} seed {seed}: scenario {build:.1} s, attacks {:.1} s",
                t.elapsed().as_secs_f64() - build
            ));
        }
    }
    let rows = rates
        .into_iter()
        .map(|((attack, scheme, countermeasure, known), (r, s, unit))| {
            let (mean, std, min, max) = spread(&r);
            Row {
                attack,
                scheme,
                countermeasure,
                known: f64::from_bits(known),
                unit,
                mean,
                std,
                min,
                max,
                runs: r.len(),
                seconds: s.iter().sum::<f64>() / s.len().max(1) as f64,
            }
        })
        .collect();
    let costs = cost_rows(&costs);
    Ok(AttackReport {
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
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// (attack, scheme, countermeasure, known fraction as bits).
type RowKey = (String, String, String, u64);
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

fn spread(r: &[f64]) -> (f64, f64, f64, f64) {
    let n = r.len().max(1) as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = if r.len() > 1 { r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    let min = r.iter().copied().fold(f64::INFINITY, f64::min);
    let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, var.sqrt(), if min.is_finite() { min } else { 0.0 }, if max.is_finite() { max } else { 0.0 })
}

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

impl AttackReport {
    /// Writes the report as pretty JSON.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        std::fs::write(path, json).map_err(|e| Error::io(path, e))
    }

    /// The recovery table as markdown: one row per (attack, scheme,
    /// countermeasure), one column per known fraction, `mean ± std`.
    pub fn recovery_table(&self) -> String {
        let mut knowns: Vec<f64> = self.rows.iter().map(|r| r.known).collect();
        knowns.sort_by(f64::total_cmp);
        knowns.dedup();
        let mut out = String::from("| attack | scheme | countermeasure |");
        for k in &knowns {
            let _ = write!(out, " known {} |", if *k == 0.0 { "–".to_owned() } else { format!("{k}") });
        }
        out.push_str(" attack time |\n|---|---|---|");
        out.push_str(&"---:|".repeat(knowns.len() + 1));
        out.push('\n');
        let mut groups: BTreeMap<(String, String, String), Vec<&Row>> = BTreeMap::new();
        for r in &self.rows {
            groups.entry((order(&r.attack), r.scheme.clone(), r.countermeasure.clone())).or_default().push(r);
        }
        for ((_, scheme, cm), rows) in groups {
            let _ = write!(out, "| {} | {scheme} | {cm} |", rows[0].attack);
            for k in &knowns {
                match rows.iter().find(|r| r.known == *k) {
                    Some(r) if r.runs > 1 => {
                        let _ = write!(out, " {:.1}% ± {:.1} |", r.mean * 100.0, r.std * 100.0);
                    }
                    Some(r) => {
                        let _ = write!(out, " {:.1}% |", r.mean * 100.0);
                    }
                    None => out.push_str(" |"),
                }
            }
            let secs = rows.iter().map(|r| r.seconds).sum::<f64>() / rows.len() as f64;
            let _ = writeln!(out, " {:.0} ms |", secs * 1e3);
        }
        out
    }

    /// The cost table as markdown.
    pub fn cost_table(&self) -> String {
        let mut out = String::from(
            "| scheme | countermeasure | extra pairs | extra bytes at rest | bytes per query | extra bytes per query | dropped docs per query | ms per query | mismatches |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for c in &self.costs {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1}% | {:.1}% | {:.0} | {:.1}% | {:.1} | {:.2} | {} |",
                c.scheme,
                c.countermeasure,
                c.extra_pairs_pct,
                c.extra_document_bytes_pct,
                c.bytes_per_query,
                c.extra_bytes_per_query_pct,
                c.discarded_per_query,
                c.ms_per_query,
                c.mismatches
            );
        }
        out
    }

    /// A recovery rate, if measured.
    pub fn rate(&self, attack: &str, scheme: &str, countermeasure: &str, known: f64) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.attack == attack && r.scheme == scheme && r.countermeasure == countermeasure && r.known == known
        })
    }

    /// The cost row of a configuration.
    pub fn cost(&self, scheme: &str, countermeasure: &str) -> Option<&CostRow> {
        self.costs.iter().find(|c| c.scheme == scheme && c.countermeasure == countermeasure)
    }

    /// Writes one cost-versus-recovery plot per scheme (`frontier-SCHEME.svg`/`.png`):
    /// x is the extra bytes per query a countermeasure costs, y the
    /// recovery at the highest known fraction, one line per attack.
    ///
    /// # Errors
    /// [`Error::Plot`] and I/O errors.
    pub fn write_plots(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        register_font()?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let top = self.rows.iter().map(|r| r.known).fold(0.0, f64::max);
        let mut files = Vec::new();
        let mut schemes: Vec<&str> = self.costs.iter().map(|c| c.scheme.as_str()).collect();
        schemes.dedup();
        for scheme in schemes {
            let mut series: BTreeMap<String, Vec<(f64, f64, String)>> = BTreeMap::new();
            for r in self.rows.iter().filter(|r| r.scheme == scheme && (r.known == top || r.known == 0.0)) {
                let Some(c) = self.cost(scheme, &r.countermeasure) else { continue };
                series.entry(r.attack.clone()).or_default().push((
                    c.extra_bytes_per_query_pct.max(0.0),
                    r.mean * 100.0,
                    r.countermeasure.clone(),
                ));
            }
            for s in series.values_mut() {
                s.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            if series.values().all(|s| s.len() < 2) {
                continue;
            }
            let frontier = worst_case_frontier(&series);
            let title = format!("{scheme}: recovery (known {top}) vs bandwidth cost of countermeasures");
            for ext in ["svg", "png"] {
                let path = dir.join(format!("frontier-{scheme}.{ext}"));
                if ext == "svg" {
                    draw_frontier(SVGBackend::new(&path, (1100, 650)).into_drawing_area(), &title, &series, &frontier)?;
                } else {
                    draw_frontier(
                        BitMapBackend::new(&path, (1100, 650)).into_drawing_area(),
                        &title,
                        &series,
                        &frontier,
                    )?;
                }
                files.push(path);
            }
        }
        Ok(files)
    }

    /// The markdown report (`LEAKAGE.md`): setup, recovery table, cost
    /// table, plots (relative to `plots_rel`, if given).
    pub fn markdown(&self, command: &str, plots: &[PathBuf], plots_rel: Option<&Path>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Leakage report\n");
        let _ = writeln!(
            out,
            "Generated by `{command}` (do not edit by hand; rerun it). {} on `{}`: {} messages, {} keyword-document pairs in the body index; {} candidate keywords ({:?}), {} queries per run ({:?}), seeds {:?}. Total run time {:.1} s.\n",
            self.environment.line(),
            self.dataset,
            self.documents,
            self.pairs,
            self.keywords,
            self.selection,
            self.queries,
            self.distribution,
            self.seeds,
            self.total_seconds
        );
        out.push_str("Recovery is the fraction of queries whose keyword the attack guesses right (for `frequency`, the fraction of candidate keywords whose blind token it maps right), mean ± standard deviation over the seeds. `known` is the fraction of messages the attacker knows; `count-kq` is also given 10 queries, not counted. `injection` uses no known messages. Every query's filtered result was checked against the plaintext (mismatches column).\n\n");
        out.push_str("## Declared leakage\n\n");
        out.push_str(&profiles_table());
        out.push_str("\nEach profile is code (`sseek::leakage::profile::profiles()`), checked by proptest laws: equal declared leakage gives equal server views up to renaming (`tests/leakage_laws.rs`, `tests/leakage_laws_dynamic.rs`), a simulator given only the leakage produces the same view, and forward-private schemes' updates never link to earlier searches (`tests/forward_privacy.rs`). Each law has a deliberately leaky variant that a test shows fails it.\n\n");
        out.push_str("## Recovery\n\n");
        out.push_str(&self.recovery_table());
        out.push_str("\n## Cost of the countermeasures\n\n");
        out.push_str("Extra bytes per query are relative to the same scheme without a countermeasure: padding fillers are real other messages the client fetches and drops, size buckets make every message bigger, shorter blind tokens add false positives.\n\n");
        out.push_str(&self.cost_table());
        out.push_str("\nSchemes with identical rows leak the same per query in this workload: the client fetches what it found, so the access pattern and volumes reach the server whether the scheme is response-revealing or not. They differ in what updates reveal (the `injection` rows).\n");
        if !self.skipped.is_empty() {
            out.push_str("\nNot run:\n");
            for s in &self.skipped {
                let _ = writeln!(out, "- {s}");
            }
        }
        let svgs: Vec<&PathBuf> = plots.iter().filter(|p| p.extension().is_some_and(|e| e == "svg")).collect();
        if !svgs.is_empty() {
            out.push_str("\n## Cost versus recovery\n\n");
            for p in svgs {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let rel = plots_rel.map_or_else(|| p.clone(), |d| d.join(&name));
                let _ = writeln!(out, "![{name}]({})\n", rel.display());
            }
        }
        out
    }
}

/// The declared leakage profiles as a markdown table.
pub fn profiles_table() -> String {
    let items = |l: &[crate::leakage::profile::Leak]| {
        if l.is_empty() { "–".to_owned() } else { l.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ") }
    };
    let mut out = String::from(
        "| scheme | L_setup | L_search | L_update | forward private | backward privacy |\n|---|---|---|---|---|---|\n",
    );
    for p in crate::leakage::profile::profiles() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            p.scheme,
            items(p.setup),
            items(p.search),
            items(p.update),
            if p.forward_private { "yes" } else { "no" },
            p.backward.map_or_else(|| "–".to_owned(), |b| b.to_string())
        );
    }
    out
}

/// Sort key putting attacks in the order of [`ATTACKS`].
fn order(attack: &str) -> String {
    format!("{:02}{attack}", ATTACKS.iter().position(|a| *a == attack).unwrap_or(99))
}

/// The trade-off frontier: per countermeasure, the worst recovery over all
/// attacks; kept are the countermeasures no cheaper one beats (lower
/// worst-case recovery at lower cost), sorted by cost.
fn worst_case_frontier(series: &BTreeMap<String, Vec<(f64, f64, String)>>) -> Vec<(f64, f64, String)> {
    let mut worst: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (x, y, cm) in series.values().flatten() {
        let e = worst.entry(cm.as_str()).or_insert((*x, *y));
        e.1 = e.1.max(*y);
    }
    let mut points: Vec<(f64, f64, String)> = worst.into_iter().map(|(cm, (x, y))| (x, y, cm.to_owned())).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut best = f64::INFINITY;
    points.retain(|p| {
        let keep = p.1 < best;
        best = best.min(p.1);
        keep
    });
    points
}

fn draw_frontier<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &BTreeMap<String, Vec<(f64, f64, String)>>,
    frontier: &[(f64, f64, String)],
) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let x_max = series.values().flatten().map(|p| p.0).fold(1.0, f64::max) * 1.1;
    let (plot_area, legend_area) = root.split_horizontally(1100 * 3 / 4);
    let mut c = ChartBuilder::on(&plot_area)
        .caption(title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..105.0)
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc("extra bytes per query (%)")
        .y_desc("recovered (%)")
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    // Points, not lines: countermeasures of different kinds are not a sequence.
    for (i, (name, s)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        c.draw_series(s.iter().map(|p| Circle::new((p.0, p.1), 5, color.filled()))).map_err(plot_error)?;
        let y = 40 + 24 * i as i32;
        legend_area.draw(&Circle::new((25, y), 5, color.filled())).map_err(plot_error)?;
        legend_area
            .draw(&Text::new(name.clone(), (48, y - 8), (FAMILY, 15).into_font().color(&BLACK)))
            .map_err(plot_error)?;
    }
    // The frontier of the worst case over all attacks, labelled by countermeasure.
    let line: Vec<(f64, f64)> = frontier.iter().map(|p| (p.0, p.1)).collect();
    c.draw_series(LineSeries::new(line, BLACK.stroke_width(2))).map_err(plot_error)?;
    for (x, y, label) in frontier {
        c.draw_series(std::iter::once(Text::new(label.clone(), (*x, *y + 3.0), (FAMILY, 13).into_font())))
            .map_err(plot_error)?;
    }
    let y = 40 + 24 * series.len() as i32;
    legend_area.draw(&PathElement::new(vec![(10, y), (40, y)], BLACK.stroke_width(2))).map_err(plot_error)?;
    legend_area
        .draw(&Text::new("worst case, frontier", (48, y - 8), (FAMILY, 15).into_font().color(&BLACK)))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Observations of a saved view, for attacks on views captured elsewhere.
///
/// # Errors
/// [`Error::ViewFile`] and I/O errors.
pub fn observation_of(path: &Path) -> Result<Observation> {
    Ok(Observation::from_view(&crate::leakage::view::ServerView::load(path)?))
}

/// One query of a captured view with an attack's guess.
#[derive(Debug, Clone, Serialize)]
pub struct QueryGuess {
    /// Position of the search in the view.
    pub seq: u64,
    /// Search-pattern number of its token.
    pub token: u32,
    /// Result length the server saw.
    pub result_len: usize,
    /// The guessed keyword, if any.
    pub keyword: Option<String>,
}

/// An attack's guesses on a captured view.
#[derive(Debug, Clone, Serialize)]
pub struct ViewGuesses {
    /// Attack name.
    pub attack: String,
    /// Known fraction used.
    pub known: f64,
    /// One entry per observed query.
    pub queries: Vec<QueryGuess>,
}

/// Runs the query attacks of `args` on the view saved at `path`, with
/// knowledge drawn from `args.dataset` (message `i` as document `i`).
///
/// # Errors
/// View file, dataset and configuration errors.
pub fn attack_saved_view(args: &AttackArgs, path: &Path) -> Result<Vec<ViewGuesses>> {
    let observation = observation_of(path)?;
    let corpus = AttackCorpus::load(&args.dataset)?;
    let candidates = corpus.candidates(args.keywords, args.selection);
    let known = args.known.first().copied().unwrap_or(0.5);
    let sizes = observation.documents.clone();
    let knowledge =
        experiment::known_documents(&corpus, &candidates, &|id| sizes.get(&id).copied().unwrap_or(0), known, 1);
    let mut out = Vec::new();
    for name in &args.attack {
        let attack = query_attack(name)?;
        let recovery = attack.recover(&observation, &knowledge);
        let queries = observation
            .queries
            .iter()
            .zip(recovery.guesses.iter().chain(std::iter::repeat(&None)))
            .map(|(q, g)| QueryGuess {
                seq: q.seq,
                token: q.token,
                result_len: q.result_len,
                keyword: g.and_then(|k| candidates.get(k as usize).cloned()),
            })
            .collect();
        out.push(ViewGuesses { attack: name.clone(), known, queries });
    }
    Ok(out)
}

/// `sseek attack` as the command line runs it: progress on stderr, the
/// tables on stdout, then the JSON, plots and markdown report asked for.
///
/// # Errors
/// As [`run`]; I/O and plot errors.
pub fn run_cli(args: &AttackArgs) -> Result<Option<AttackReport>> {
    if let Some(view) = &args.view {
        let guesses = attack_saved_view(args, view)?;
        for g in &guesses {
            let named = g.queries.iter().filter(|q| q.keyword.is_some()).count();
            println!("{}: {named} of {} queries guessed", g.attack, g.queries.len());
            for q in &g.queries {
                println!(
                    "  query at {} (token {}, {} results): {}",
                    q.seq,
                    q.token,
                    q.result_len,
                    q.keyword.as_deref().unwrap_or("-")
                );
            }
        }
        if let Some(path) = &args.json {
            let json = serde_json::to_vec_pretty(&guesses).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
            std::fs::write(path, json).map_err(|e| Error::io(path, e))?;
        }
        return Ok(None);
    }
    let report = run(args, &mut |line| eprintln!("{line}"))?;
    println!("{}", report.recovery_table());
    println!("{}", report.cost_table());
    for s in &report.skipped {
        println!("not run: {s}");
    }
    println!("total {:.1} s", report.total_seconds);
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("wrote {}", path.display());
    }
    let plots = match &args.plots {
        Some(dir) => report.write_plots(dir)?,
        None => Vec::new(),
    };
    if let Some(path) = &args.report {
        let command = std::iter::once("sseek".to_owned()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
        let markdown = report.markdown(&command, &plots, args.plots.as_deref());
        std::fs::write(path, markdown).map_err(|e| Error::io(path, e))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(Some(report))
}
