//! `sseek bench` on the command line: its arguments and the run that prints
//! and writes the report.

use super::{BenchOptions, Environment, run};
use crate::Result;
use crate::datasets;

/// Arguments of `sseek bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Synthetic corpus sizes in messages, comma-separated (default 1000,10000,100000,1000000; with --quick 1000,10000).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<u64>>,
    /// Real corpora to add, comma-separated (`spamassassin`, a mail directory, .jsonl, .tar.gz); `none` for none
    /// (default spamassassin, or none with --conjunctive).
    #[arg(long)]
    pub datasets: Option<String>,
    /// Corpora to run, comma-separated: `zipf-sparse` and `zipf-dense` (keyword
    /// multimaps: every SSE scheme run directly on them, in memory and on
    /// redb), and message corpora as --datasets takes them (`spamassassin`:
    /// the message sweep, the blind index's newest-20 latency and keyword
    /// extraction throughput). With --corpus, synthetic sizes run only if
    /// --sizes names them, and --datasets is not added.
    #[arg(long, value_delimiter = ',')]
    pub corpus: Option<Vec<String>>,
    /// Also run the first multimap corpus scaled to this many documents on
    /// redb (e.g. 1000000: slow), for the growth of the per-result cost.
    #[arg(long)]
    pub zipf_scaled: Option<u64>,
    /// Also measure the blind index's latency on this many synthetic
    /// messages (e.g. 1000000: slow).
    #[arg(long)]
    pub blind_synthetic: Option<u64>,
    /// Synthetic corpus sizes in messages, comma-separated, on which OXT
    /// answers conjunctions next to per-term AND on 2Lev (in memory), each
    /// cost next to one Ristretto255 fixed-base multiplication of the same
    /// run. With --conjunctive, other sizes and corpora run only if --sizes,
    /// --datasets or --corpus names them.
    #[arg(long, value_delimiter = ',')]
    pub conjunctive: Option<Vec<u64>>,
    /// Schemes to run, comma-separated (default: all; see the JSON for names).
    #[arg(long, value_delimiter = ',')]
    pub schemes: Option<Vec<String>>,
    /// Server store: memory or redb (in a temporary directory).
    #[arg(long, default_value = "redb")]
    pub store: String,
    /// A small run: two sizes, few queries, short time budgets (under 2 minutes on 2 cores).
    #[arg(long)]
    pub quick: bool,
    /// Queries per query class (default 8; 3 with --quick).
    #[arg(long)]
    pub queries: Option<usize>,
    /// Seconds of searching per scheme and point before the rest of the workload is skipped (default 20; 2 with --quick).
    #[arg(long)]
    pub query_budget: Option<f64>,
    /// Seed of the synthetic corpora and workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Directory for report.json, report.md and the plots (SVG and PNG).
    #[arg(long, default_value = "bench-out")]
    pub out: std::path::PathBuf,
}

impl BenchArgs {
    /// The options these arguments select.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unknown store.
    pub fn options(&self) -> Result<BenchOptions> {
        let mut o = if self.quick { BenchOptions::quick() } else { BenchOptions::full() };
        if let Some(s) = &self.sizes {
            o.sizes.clone_from(s);
        }
        let datasets = match &self.datasets {
            Some(d) => d.as_str(),
            None if self.conjunctive.is_some() => "none",
            None => datasets::SPAMASSASSIN,
        };
        o.datasets = if datasets == "none" {
            Vec::new()
        } else {
            datasets.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
        };
        if let Some(sizes) = &self.conjunctive {
            if self.sizes.is_none() {
                o.sizes.clear();
            }
            o.conjunctive.clone_from(sizes);
        }
        if let Some(corpora) = &self.corpus {
            if self.sizes.is_none() {
                o.sizes.clear();
            }
            o.datasets.clear();
            for name in corpora.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
                if let Some(z) = datasets::ZipfMultimap::named(name, self.seed) {
                    o.multimaps.push((name.to_owned(), z));
                } else {
                    o.datasets.push(name.to_owned());
                    o.blind_latency.push(name.to_owned());
                    o.keyword_corpus.get_or_insert_with(|| name.to_owned());
                }
            }
        }
        o.multimap_scaled = self.zipf_scaled;
        if let Some(n) = self.blind_synthetic {
            o.blind_latency.push(format!("synthetic:{n}:{}", self.seed));
        }
        if let Some(s) = &self.schemes {
            o.schemes.clone_from(s);
        }
        o.store = self.store.parse()?;
        if let Some(q) = self.queries {
            o.queries_per_class = q.max(1);
        }
        if let Some(b) = self.query_budget {
            o.query_budget_seconds = b;
        }
        o.seed = self.seed;
        Ok(o)
    }
}

/// Runs `sseek bench`: prints the markdown report, writes the files, and
/// returns whether every answer equalled the oracle.
///
/// # Errors
/// As [`run`]; I/O and plot errors writing the outputs.
pub fn run_cli(args: &BenchArgs) -> Result<bool> {
    let opts = args.options()?;
    eprintln!("environment: {}", Environment::current().line());
    let mut report = run(&opts)?;
    report.command = std::iter::once("sseek".to_owned()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
    println!("{}", report.to_markdown());
    for f in report.write_all(&args.out)? {
        eprintln!("wrote {}", f.display());
    }
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("wrote {}", path.display());
    }
    if report.mismatches > 0 {
        eprintln!("error: {} answers disagree with the plaintext oracle", report.mismatches);
    }
    Ok(report.mismatches == 0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn corpus_names_multimaps_and_message_corpora() {
        let cli =
            Cli::parse_from(["bench", "--corpus", "zipf-sparse,zipf-dense,spamassassin", "--zipf-scaled", "1000000"]);
        let o = cli.bench.options().unwrap();
        let names: Vec<&str> = o.multimaps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zipf-sparse", "zipf-dense"]);
        assert_eq!(o.multimaps[0].1, datasets::ZipfMultimap::sparse(1));
        assert_eq!(o.datasets, ["spamassassin"]);
        assert_eq!(o.blind_latency, ["spamassassin"]);
        assert_eq!(o.keyword_corpus.as_deref(), Some("spamassassin"));
        assert!(o.sizes.is_empty());
        assert_eq!(o.multimap_scaled, Some(1_000_000));
        // The old flags still work and add no multimap.
        let old = Cli::parse_from(["bench", "--quick", "--datasets", "none"]).bench.options().unwrap();
        assert!(old.multimaps.is_empty() && old.datasets.is_empty() && old.sizes == [1_000, 10_000]);
        assert!(old.conjunctive.is_empty());
    }

    #[test]
    fn conjunctive_runs_only_what_is_named() {
        let o = Cli::parse_from(["bench", "--conjunctive", "10000,100000"]).bench.options().unwrap();
        assert_eq!(o.conjunctive, [10_000, 100_000]);
        assert!(o.sizes.is_empty() && o.datasets.is_empty() && o.multimaps.is_empty());
        let o = Cli::parse_from(["bench", "--conjunctive", "300", "--sizes", "1000", "--datasets", "spamassassin"])
            .bench
            .options()
            .unwrap();
        assert_eq!((o.conjunctive.as_slice(), o.sizes.as_slice()), (&[300][..], &[1_000][..]));
        assert_eq!(o.datasets, ["spamassassin"]);
        let plain = Cli::parse_from(["bench"]).bench.options().unwrap();
        assert_eq!(plain.datasets, ["spamassassin"]);
    }
}
