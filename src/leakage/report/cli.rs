//! `sseek attack` on the command line: the attacks, fractions and
//! countermeasures it sweeps, its arguments, and the run that prints the
//! tables and writes the files asked for.

use std::path::PathBuf;

use super::{AttackReport, attack_saved_view, run};
use crate::leakage::experiment::{QueryDistribution, Selection};
use crate::{Error, Result, datasets};

/// Every attack name `sseek attack --attack` takes.
pub const ATTACKS: &[&str] = &[
    "count",
    "count-v2",
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

/// Attacks whose per-seed distribution the markdown report tables by
/// default (`--spread`): the count attacks, which tend to recover all or
/// nothing.
pub const SPREAD: &[&str] = &["count", "count-v2", "count-kq", "count-scored"];

/// Options of `sseek attack`.
#[derive(Debug, Clone, clap::Args)]
pub struct AttackArgs {
    /// Attacks, comma-separated: count, count-v2 (the paper's Hoeffding window with partial knowledge), count-kq (10 known queries), count-scored (guesses unresolved queries; not in the paper), subgraph-id, subgraph-vl, vol-an, sel-vol-an, ikk, frequency (blind index at rest), injection (active, dynamic schemes), or all.
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
    /// Attacks whose recovery over the seeds (median, quartiles, range, runs that succeed) gets its own table in the markdown report, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "count,count-v2,count-kq,count-scored")]
    pub spread: Vec<String>,
    /// An earlier report's JSON (as --json writes it): its rows and costs for the configurations this run does not measure are kept, and the report says so.
    #[arg(long)]
    pub merge: Option<PathBuf>,
    /// Also run the conjunctive experiment (per-term AND on 2Lev against OXT: SubgraphVL, SubgraphID and count, known 0.25-1.0, the 500 most frequent keywords) with this many seeds, and add its section to the markdown report (its plot goes to --plots).
    #[arg(long)]
    pub conjunctive: Option<u64>,
    /// Conjunctions of 2 or 3 terms per seed of --conjunctive.
    #[arg(long, default_value_t = 150)]
    pub conjunctions: usize,
    /// Also attack what one master sees of a Redis Cluster of this many masters (256 buckets), comma-separated, e.g. 3,6: SubgraphVL, count and count-v2 on 2lev, known 0.25-1.0, against the whole server; adds its section to the markdown report.
    #[arg(long, value_delimiter = ',')]
    pub shards: Vec<u16>,
    /// Seeds (1..=N) of --shards.
    #[arg(long, default_value_t = 5)]
    pub shard_seeds: u64,
    /// Save the server view of the first scenario (JSON lines) here.
    #[arg(long)]
    pub save_view: Option<PathBuf>,
    /// Attack a view captured elsewhere (e.g. `sseek serve --record-view`) instead of running a scheme: prints each query's guessed keyword (no truth, so no score). --dataset is the attacker's knowledge: message i is taken as document i.
    #[arg(long, conflicts_with_all = ["grid", "frontier", "save_view", "conjunctive", "shards"])]
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
    if let Some(c) = &report.conjunctive {
        println!("{}", crate::leakage::experiment::conjunctive::markdown(&c.summary));
    }
    if let Some(s) = &report.shards {
        println!("{}", crate::leakage::experiment::shard::markdown(&s.summary));
    }
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
    if let (Some(dir), Some(c)) = (&args.plots, &report.conjunctive) {
        let path = dir.join(super::CONJUNCTIVE_PLOT);
        crate::leakage::experiment::conjunctive::write_plot(&c.summary, &path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.report {
        let command = std::iter::once("sseek".to_owned()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
        let markdown = report.markdown(&command, &plots, args.plots.as_deref());
        std::fs::write(path, markdown).map_err(|e| Error::io(path, e))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(Some(report))
}
