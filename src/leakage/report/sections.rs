//! The report's experiment sections beyond the attack grid: the
//! conjunctive workload (`--conjunctive`, per-term AND on 2Lev against OXT)
//! and the view of one Redis Cluster shard (`--shards`). Each runs its
//! experiment, keeps its summary in the report, and writes its markdown.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::markdown::seed_list;
use super::{AttackArgs, GRID_KNOWN};
use crate::leakage::experiment::AttackCorpus;
use crate::leakage::experiment::conjunctive::{
    self, CONJUNCTIVE_ATTACKS, ConjunctiveConfig, ConjunctiveSummary, ConjunctiveView,
};
use crate::leakage::experiment::shard::{
    self, DEFAULT_BUCKETS, SHARD_ATTACKS, ShardConfig, ShardKnowledge, ShardLayout, ShardSummary,
};
use crate::{Error, Result};

/// Candidate keywords of the conjunctive experiment (the most frequent).
pub const CONJUNCTIVE_KEYWORDS: usize = 500;
/// File name of the conjunctive plot in the plots directory.
pub const CONJUNCTIVE_PLOT: &str = "oxt-conjunctive.svg";
/// The scheme whose view the shard experiment splits.
pub const SHARD_SCHEME: &str = "2lev";

/// The conjunctive experiment's results (`--conjunctive`).
#[derive(Debug, Clone, Serialize)]
pub struct ConjunctiveSection {
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Conjunctions per seed.
    pub conjunctions: usize,
    /// Candidate keywords.
    pub keywords: usize,
    /// Median and range over seeds per (view, attack, known fraction).
    pub summary: Vec<ConjunctiveSummary>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The shard experiment's results (`--shards`).
#[derive(Debug, Clone, Serialize)]
pub struct ShardSection {
    /// Scheme whose view is split.
    pub scheme: String,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Masters per cluster attacked (besides the whole server).
    pub shard_counts: Vec<u16>,
    /// Buckets of the namespace.
    pub buckets: u32,
    /// Buckets each master serves, per cluster size.
    pub buckets_per_shard: Vec<(u16, Vec<usize>)>,
    /// Median and range over seeds and masters per (masters, attack, knowledge, known fraction).
    pub summary: Vec<ShardSummary>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs the conjunctive experiment if `--conjunctive` asks for it.
///
/// # Errors
/// As [`conjunctive::run_conjunctive`].
pub fn conjunctive_section(
    args: &AttackArgs,
    corpus: &AttackCorpus,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<ConjunctiveSection>> {
    let Some(seeds) = args.conjunctive else { return Ok(None) };
    let t = Instant::now();
    let config = ConjunctiveConfig {
        keywords: CONJUNCTIVE_KEYWORDS,
        queries: args.conjunctions,
        fractions: GRID_KNOWN.to_vec(),
        seeds: (1..=seeds.max(1)).collect(),
    };
    let rows = conjunctive::run_conjunctive(corpus, &config)?;
    let seconds = t.elapsed().as_secs_f64();
    progress(&format!("conjunctive: {} seeds, {} conjunctions: {seconds:.1} s", config.seeds.len(), config.queries));
    Ok(Some(ConjunctiveSection {
        seeds: config.seeds,
        conjunctions: config.queries,
        keywords: config.keywords,
        summary: conjunctive::summarize(&rows),
        seconds,
    }))
}

/// Runs the shard experiment if `--shards` asks for it.
///
/// # Errors
/// [`Error::Config`] for fewer than 2 masters; as [`shard::run_shards`].
pub fn shard_section(
    args: &AttackArgs,
    corpus: &AttackCorpus,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<ShardSection>> {
    if args.shards.is_empty() {
        return Ok(None);
    }
    if args.shards.iter().any(|&s| s < 2) {
        return Err(Error::Config(
            "--shards takes cluster sizes of 2 masters or more (the whole server is always run)".into(),
        ));
    }
    let t = Instant::now();
    let config = ShardConfig {
        scheme: SHARD_SCHEME.into(),
        keywords: args.keywords,
        queries: args.queries,
        fractions: GRID_KNOWN.to_vec(),
        seeds: (1..=args.shard_seeds.max(1)).collect(),
        shard_counts: args.shards.clone(),
        buckets: DEFAULT_BUCKETS,
    };
    let rows = shard::run_shards(corpus, &config, progress)?;
    let buckets_per_shard = config
        .shard_counts
        .iter()
        .map(|&c| Ok((c, ShardLayout::new(shard::DEFAULT_NAMESPACE, config.buckets, c)?.buckets_per_shard())))
        .collect::<Result<_>>()?;
    Ok(Some(ShardSection {
        scheme: config.scheme,
        seeds: config.seeds,
        shard_counts: config.shard_counts,
        buckets: config.buckets,
        buckets_per_shard,
        summary: shard::summarize(&rows),
        seconds: t.elapsed().as_secs_f64(),
    }))
}

/// `low–high%` of medians, or `a%` when they agree to the shown precision.
fn range_pct(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min) * 100.0;
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max) * 100.0;
    if !lo.is_finite() {
        return "–".into();
    }
    if format!("{lo:.0}") == format!("{hi:.0}") { format!("{lo:.0}%") } else { format!("{lo:.0}–{hi:.0}%") }
}

impl ConjunctiveSection {
    /// The section's markdown; the plot is linked from `plots_rel` if given.
    pub fn markdown(&self, plots_rel: Option<&Path>) -> String {
        let mut out = String::from("## Conjunctive workload: per-term AND on 2Lev against OXT\n\n");
        let _ = writeln!(
            out,
            "Generated by `sseek attack` with `--conjunctive {} --conjunctions {}` ({:.1} s). Code and the exact views and adaptations: `src/leakage/experiment/conjunctive.rs`; summary in `papers/oxt.md`. The experiment is deterministic per seed; `cargo run --release --example oxt_attacks -- {} {}` prints the same table.\n",
            self.seeds.len(),
            self.conjunctions,
            self.seconds,
            self.seeds.len(),
            self.conjunctions
        );
        let _ = writeln!(
            out,
            "Workload: the {} most frequent body keywords as candidates, per seed {} conjunctions of 2 or 3 distinct candidates drawn uniformly; the s-term is the term with the shortest list. The attacker knows a random fraction of the messages (keywords and sealed sizes, by id) and no queries. The views are computed from the declared leakage on the plaintext index, not recorded from a running server:\n",
            self.keywords, self.conjunctions
        );
        out.push_str(
            "- **per-term AND (2Lev)**: one search per term, its token and its full list;\n\
             - **OXT**: per conjunction the s-term's token and its list (with document ids, which over-approximates OXT: the server sees the entries as opaque positions and learns ids only for the result), and per x-term the subset `DB(s) ∩ DB(x)`, without a token (x-term repetitions across queries are not used).\n\n",
        );
        out.push_str(
            "SubgraphVL, SubgraphID and the count attack (known-document setting) run unchanged on the full lists. On OXT's x-terms: SubgraphID checks that the known documents of `DB(s)` containing `w` are those of `DB(s) ∩ DB(x)` (both ways when δ > 0.5) and that `w` has at least `δ·|DB(s)| − ε` known documents, then takes the candidate with the most known documents; count needs the s-term recovered and keeps the keywords whose known co-occurrence with it fits `|DB(s) ∩ DB(x)|`, guessing only a unique one; SubgraphVL makes no x-term guess (sizes carry no ids, so a keyword's known sizes cannot be restricted to `DB(s)`).\n\n",
        );
        let _ = writeln!(
            out,
            "Recovered: the fraction of query terms (every term of every conjunction) mapped to the right keyword; median [min, max] over seeds {}. \"Full lists seen\" is the median number of distinct keywords whose whole list the view shows.\n",
            seed_list(&self.seeds)
        );
        out.push_str(&conjunctive::markdown(&self.summary));
        if let Some(dir) = plots_rel {
            let _ = writeln!(out, "\n![{CONJUNCTIVE_PLOT}]({})", dir.join(CONJUNCTIVE_PLOT).display());
        }
        out.push_str("\nReading (medians from the table, over the known fractions):\n\n");
        let full = |v: ConjunctiveView| self.summary.iter().find(|s| s.view == v).map_or(0.0, |s| s.full_lists);
        let _ = writeln!(
            out,
            "- OXT shows {} full lists against {} for per-term AND: the x-terms' lists stay hidden outside `DB(s)`.",
            full(ConjunctiveView::Oxt),
            full(ConjunctiveView::PerTermAnd)
        );
        for attack in CONJUNCTIVE_ATTACKS {
            let of = |v: ConjunctiveView, f: &dyn Fn(&ConjunctiveSummary) -> f64| {
                range_pct(&self.summary.iter().filter(|s| s.view == v && s.attack == attack).map(f).collect::<Vec<_>>())
            };
            let _ = writeln!(
                out,
                "- `{attack}`: query terms recovered {} on per-term AND, {} on OXT (s-terms {}, x-terms {}).",
                of(ConjunctiveView::PerTermAnd, &|s| s.terms.0),
                of(ConjunctiveView::Oxt, &|s| s.terms.0),
                of(ConjunctiveView::Oxt, &|s| s.s_terms.0),
                of(ConjunctiveView::Oxt, &|s| s.x_terms.0)
            );
        }
        out.push_str(
            "- The s-terms are a per-term search, so they are recovered exactly as on 2Lev; what OXT changes is the x-terms. The keyword-pair result pattern `DB(s) ∩ DB(x)`, with the document ids of `DB(s)`, is what SubgraphID still uses; the attacks that need full lists (SubgraphVL, count) lose the x-terms.\n\
             - A minimum of 0 in the count rows is a seed on which the attack found no unique count to start from and recovered nothing; the median is the typical run.\n\
             - Against the real scheme SubgraphID should do worse than here (not measured): the server sees the ids of result entries only, not of all of `DB(s)`. This view is the attacker's upper bound; a view recorded from the running scheme, and an attack on its opaque positions plus the conditional intersection pattern, are not done.\n",
        );
        out
    }
}

impl ShardSection {
    /// The section's markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## What one shard sees: a compromised Redis Cluster master\n\n");
        let counts = self.shard_counts.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let _ = writeln!(
            out,
            "Generated by `sseek attack` with `--shards {counts} --shard-seeds {}` ({:.1} s). Code: `src/leakage/experiment/shard.rs`; no Redis is needed, the mapping is computed.\n",
            self.seeds.len(),
            self.seconds
        );
        let _ = writeln!(
            out,
            "The Redis Cluster store spreads every store key over {} buckets by SHA-256 of the key; a bucket is one hash tag, so one slot, so one master. A master serves only the reads of its buckets' keys, so of each query it sees the index entries read that live on it (their labels; the values are encrypted under the query's token, which goes to `sseek serve`, not to Redis) and the document records fetched that live on it: their ids, which a document key holds in clear, and their sizes. The view is derived exactly: the recorded server view of the {} workload (the grid's: same candidates, queries, seeds and known documents) is replayed into a store, each recorded search token is run again through the scheme's server half with every key read logged (the answer must equal the recorded one), and each key is mapped to its bucket by the store's own function, to its slot by CRC16 of the bucket's hash tag, and to the master `redis-cli --cluster create` gives that slot. The shard is credited with telling queries apart by time, and takes the set of index keys it served as the search pattern; a query it served no key of is invisible to it and counts as not recovered.\n",
            self.buckets, self.scheme
        );
        for (c, per) in &self.buckets_per_shard {
            let _ = writeln!(
                out,
                "- {c} masters: buckets per master {}.",
                per.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        out.push_str(
            "\nThe attacks run unmodified on each master's view, first with the attacker's known documents as for the whole server (`unmodified`), then with only the known documents stored on that master (`known docs on the shard`: the attacker computes a known document's bucket from its id, as the store does; for SubgraphVL, whose setting does not give the attacker ids, this is a stronger attacker than the paper's). Recovery is the fraction of all queries recovered, in percent: median [min–max] over seeds, and over every master for a shard row. The last two columns: the median fraction of the fetched result documents the master served, [min–max], and the median fraction of queries it saw any key of.\n\n",
        );
        out.push_str(&shard::markdown(&self.summary));
        out.push_str("\nReading:\n\n");
        let find = |attack: &str, shards: u16, k: ShardKnowledge, known: f64| {
            self.summary
                .iter()
                .find(|s| s.attack == attack && s.shards == shards && s.knowledge == k && s.known == known)
        };
        for attack in SHARD_ATTACKS {
            for &known in &[1.0, 0.5] {
                let Some(whole) = find(attack, 1, ShardKnowledge::Unmodified, known) else { continue };
                let mut parts = Vec::new();
                for &c in &self.shard_counts {
                    if let (Some(u), Some(o)) = (
                        find(attack, c, ShardKnowledge::Unmodified, known),
                        find(attack, c, ShardKnowledge::OnShard, known),
                    ) {
                        parts.push(format!(
                            "one shard of {c} {:.1}% unmodified, {:.1}% with the known documents on the shard",
                            u.recovery.0 * 100.0,
                            o.recovery.0 * 100.0
                        ));
                    }
                }
                let _ = writeln!(
                    out,
                    "- `{attack}` at known {known}: whole server {:.1}%; {}.",
                    whole.recovery.0 * 100.0,
                    parts.join("; ")
                );
            }
        }
        out.push_str(
            "\nA shard's view is the whole view thinned: each result's documents and entries split over the masters at random (by hash), so a master sees about 1/P of every result, the same share for every keyword. Attacks that compare a result with the known documents as a whole (SubgraphVL's `N_K(w) ⊆ R`, count's expected counts) fail on that fraction as they stand; told which known documents live on the shard, they face a corpus P times smaller with the same known fraction. The negative control, one bucket for the tenant (every key on one master), gives that master the whole server's view and its recovery (`shard::tests`). Not measured here: the coordinator slot's view (every batch's start, commit and buckets) and collusion of several masters.\n",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AttackArgs, run};

    #[test]
    fn the_report_carries_both_sections_after_the_grid() {
        let mut args = AttackArgs::defaults();
        args.dataset = "synthetic:1200".into();
        args.keywords = 100;
        args.queries = 30;
        args.known = vec![1.0];
        args.seeds = 1;
        args.conjunctive = Some(2);
        args.conjunctions = 20;
        args.shards = vec![3];
        args.shard_seeds = 1;
        let report = run(&args, &mut |_| {}).unwrap();
        let md = report.markdown("sseek attack --conjunctive 2 --shards 3", &[], Some(std::path::Path::new("plots")));
        let grid = md.find("## Recovery").unwrap();
        let costs = md.find("## Cost of the countermeasures").unwrap();
        let conj = md.find("## Conjunctive workload: per-term AND on 2Lev against OXT").unwrap();
        let shard = md.find("## What one shard sees").unwrap();
        assert!(grid < costs && costs < conj && conj < shard, "sections in order");
        assert!(md.contains("![oxt-conjunctive.svg](plots/oxt-conjunctive.svg)"), "{md}");
        assert!(md.contains("| count | one shard of 3 | known docs on the shard | 3 |"), "{md}");
        assert!(md.contains("| OXT | subgraph-id | 0.25 |"), "{md}");
        // Without the options, neither section.
        let mut plain = args.clone();
        plain.conjunctive = None;
        plain.shards = Vec::new();
        let md = run(&plain, &mut |_| {}).unwrap().markdown("sseek attack", &[], None);
        assert!(!md.contains("## Conjunctive workload") && !md.contains("## What one shard sees"));
    }
}
