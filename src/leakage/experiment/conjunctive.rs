//! Attacks on a conjunctive workload: per-term AND (each term searched on
//! its own, as on 2Lev) against OXT (`crate::sse::oxt`).
//!
//! The views are built from the declared leakage functions on the
//! plaintext index, not recorded from a running server:
//!
//! - **per-term AND** (2Lev's profile, search and access pattern per
//!   search): for every term of every conjunction, one observed search with
//!   the term's token (equal for equal keywords) and its full list `DB(w)`;
//! - **OXT** (`crate::sse::oxt::leakage`): per conjunction the s-term's
//!   token (stag equality) and its list `DB(s)`, and for each x-term the
//!   subset `DB(s) ∩ DB(x)`. x-term occurrences get no token: the declared
//!   profile does not leak whether two queries share an x-term except
//!   through the conditional intersection pattern, which these attacks do
//!   not use. The s-term's list is given *with document ids*: the server
//!   of the real scheme sees the entries as opaque positions and learns
//!   the ids of the result only, so this view over-approximates OXT's
//!   leakage (it favours the attacker).
//!
//! Attacks: SubgraphVL, SubgraphID and the count attack (known-document
//! setting, no known queries) run unchanged on the per-term view and on the
//! OXT s-term searches. x-terms, which have only a partial list, get:
//!
//! - SubgraphID: the Subgraph filter restricted to `DB(s)`: keyword `w` is
//!   a candidate when the known documents of `DB(s)` containing `w` are
//!   exactly the known ones of `DB(s) ∩ DB(x)` (inclusion one way always,
//!   the other way when δ > 0.5, as cross-filtering), `w` has at least
//!   `δ·|DB(s)| − ε` known documents (the s-term is the shortest list, so
//!   `|DB(x)| ≥ |DB(s)|`) and `w` is not the s-term's guess; the guess is
//!   the candidate with the most known documents;
//! - count: given the s-term's guess `ŝ`, the candidates are the keywords
//!   whose known co-occurrence with `ŝ` is consistent with `|DB(s) ∩ DB(x)|`
//!   (the count attack's window) and whose known count is consistent with
//!   at least `|DB(s)|`; a unique candidate is the guess;
//! - SubgraphVL: no guess. Volumes carry no ids, so the attacker cannot
//!   restrict a keyword's known sizes to `DB(s)`, and the framework's test
//!   `N_K(w) ⊆ R` does not hold for a partial list.
//!
//! The score is the fraction of query terms (every term of every
//! conjunction) mapped to their keyword, with the s-terms and x-terms also
//! scored apart.

use std::collections::{BTreeSet, HashMap};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use super::scoring::spread;
use super::{AttackCorpus, Selection, known_documents};
use crate::leakage::attacks::count::CountAttack;
use crate::leakage::attacks::volume::{SUBGRAPH_ID_EPSILON, SubgraphId, SubgraphVl};
use crate::leakage::attacks::{Attack, Knowledge};
use crate::leakage::observe::{Observation, QueryObservation};
use crate::protocol::DocId;
use crate::{Error, Result};

/// Half-width of the count window in standard deviations (as [`CountAttack`]'s default).
const COUNT_Z: f64 = 3.0;

/// The two adversary views compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConjunctiveView {
    /// Per-term AND on 2Lev: every term's full list.
    PerTermAnd,
    /// OXT: the s-term's list, `DB(s) ∩ DB(x)` per x-term.
    Oxt,
}

impl ConjunctiveView {
    /// Name in tables.
    pub fn name(self) -> &'static str {
        match self {
            ConjunctiveView::PerTermAnd => "per-term AND (2Lev)",
            ConjunctiveView::Oxt => "OXT",
        }
    }
}

/// The attacks run on both views.
pub const CONJUNCTIVE_ATTACKS: [&str; 3] = ["subgraph-vl", "subgraph-id", "count"];

/// One (view, attack, known fraction, seed) result.
#[derive(Debug, Clone, Serialize)]
pub struct ConjunctiveRow {
    /// The view attacked.
    pub view: ConjunctiveView,
    /// Attack name (one of [`CONJUNCTIVE_ATTACKS`]).
    pub attack: &'static str,
    /// Known fraction of the documents.
    pub known: f64,
    /// Seed of the workload and of the known documents.
    pub seed: u64,
    /// Fraction of query terms (all terms of all conjunctions) recovered.
    pub terms: f64,
    /// Fraction of s-terms recovered.
    pub s_terms: f64,
    /// Fraction of x-terms recovered.
    pub x_terms: f64,
    /// Distinct keywords whose full list the view shows.
    pub full_lists: usize,
}

/// The experiment's parameters.
#[derive(Debug, Clone)]
pub struct ConjunctiveConfig {
    /// Candidate keywords (most frequent).
    pub keywords: usize,
    /// Conjunctions per workload.
    pub queries: usize,
    /// Known fractions.
    pub fractions: Vec<f64>,
    /// Seeds.
    pub seeds: Vec<u64>,
}

/// The plaintext the views are computed from: candidate lists and sizes.
struct Plain {
    candidates: Vec<String>,
    /// `DB(w)` per candidate, ascending.
    lists: Vec<Vec<DocId>>,
    /// Sealed size of every document (the envelope's: encoded message plus 16 bytes).
    sizes: Vec<u64>,
}

impl Plain {
    #[allow(clippy::cast_possible_truncation)] // ids are below the corpus size, which fits DocId (u32)
    fn new(corpus: &AttackCorpus, keywords: usize) -> Result<Self> {
        let candidates = corpus.candidates(keywords, Selection::Frequent);
        let index: HashMap<&str, usize> = candidates.iter().enumerate().map(|(i, w)| (w.as_str(), i)).collect();
        let mut lists = vec![Vec::new(); candidates.len()];
        for (id, ks) in corpus.keywords.iter().enumerate() {
            for k in ks {
                if let Some(&i) = index.get(k.as_str()) {
                    lists[i].push(id as DocId);
                }
            }
        }
        let sizes = corpus
            .messages
            .iter()
            .map(|m| {
                postcard::to_stdvec(m)
                    .map(|b| b.len() as u64 + 16)
                    .map_err(|e| Error::Config(format!("encode message: {e}")))
            })
            .collect::<Result<Vec<u64>>>()?;
        Ok(Plain { candidates, lists, sizes })
    }

    /// `n` conjunctions of 2 or 3 distinct candidates, drawn uniformly, the
    /// s-term (shortest list, lowest index on ties) first.
    #[allow(clippy::cast_possible_truncation)] // candidate indexes are a few thousand
    fn workload(&self, n: usize, seed: u64) -> Vec<Vec<u32>> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let all: Vec<u32> = (0..self.candidates.len() as u32).collect();
        (0..n)
            .map(|_| {
                let k = rng.random_range(2..=3usize).min(all.len());
                let mut terms: Vec<u32> = all.choose_multiple(&mut rng, k).copied().collect();
                terms.sort_by_key(|&t| (self.lists[t as usize].len(), t));
                terms
            })
            .collect()
    }

    fn observation(&self, searches: &[(u32, Vec<DocId>)]) -> Observation {
        let mut numbers: HashMap<u32, u32> = HashMap::new();
        let queries = searches
            .iter()
            .enumerate()
            .map(|(seq, (keyword, ids))| {
                let next = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
                let token = *numbers.entry(*keyword).or_insert(next);
                QueryObservation {
                    seq: seq as u64,
                    token,
                    ids: Some(ids.clone()),
                    result_len: ids.len(),
                    documents: Vec::new(),
                }
            })
            .collect();
        #[allow(clippy::cast_possible_truncation)] // ids are below the corpus size, which fits DocId (u32)
        let documents = self.sizes.iter().enumerate().map(|(i, &b)| (i as DocId, b)).collect();
        Observation { documents, queries }
    }
}

fn intersect(a: &[DocId], b: &[DocId]) -> Vec<DocId> {
    let set: BTreeSet<DocId> = b.iter().copied().collect();
    a.iter().copied().filter(|d| set.contains(d)).collect()
}

fn attack_by_name(name: &str) -> Box<dyn Attack> {
    match name {
        "subgraph-vl" => Box::new(SubgraphVl::new()),
        "subgraph-id" => Box::new(SubgraphId::new()),
        _ => Box::new(CountAttack::known_documents()),
    }
}

/// Known document ids per candidate keyword and the keyword counts.
struct KnownIndex<'a> {
    knowledge: &'a Knowledge,
    degree: Vec<usize>,
}

impl<'a> KnownIndex<'a> {
    fn new(knowledge: &'a Knowledge) -> Self {
        let mut degree = vec![0usize; knowledge.keywords.len()];
        for d in knowledge.known_documents.values() {
            for &w in &d.keywords {
                if let Some(x) = degree.get_mut(w as usize) {
                    *x += 1;
                }
            }
        }
        KnownIndex { knowledge, degree }
    }

    /// Per keyword, how many of the known documents among `ids` contain it, and how many known documents `ids` has.
    fn counts_in(&self, ids: &[DocId]) -> (Vec<usize>, usize) {
        let mut counts = vec![0usize; self.degree.len()];
        let mut known = 0;
        for id in ids {
            if let Some(d) = self.knowledge.known_documents.get(id) {
                known += 1;
                for &w in &d.keywords {
                    if let Some(x) = counts.get_mut(w as usize) {
                        *x += 1;
                    }
                }
            }
        }
        (counts, known)
    }

    /// SubgraphID restricted to the s-term's list (see the module docs).
    #[allow(clippy::cast_possible_truncation)] // candidate indexes are a few thousand
    fn subgraph_id_partial(&self, s_list: &[DocId], partial: &[DocId], s_guess: Option<u32>) -> Option<u32> {
        let delta = self.knowledge.known_fraction;
        let (in_s, _) = self.counts_in(s_list);
        let (in_r, known_r) = self.counts_in(partial);
        let floor = delta * s_list.len() as f64 - SUBGRAPH_ID_EPSILON;
        let cross = delta > 0.5;
        (0..self.degree.len())
            .filter(|&w| {
                self.degree[w] > 0
                    && Some(w as u32) != s_guess
                    && in_s[w] == in_r[w]
                    && (!cross || in_r[w] == known_r)
                    && self.degree[w] as f64 >= floor
            })
            .fold(None, |best: Option<usize>, w| match best {
                Some(b) if self.degree[b] >= self.degree[w] => best,
                _ => Some(w),
            })
            .map(|w| w as u32)
    }

    /// The count attack's pair test given the s-term's guess (see the module docs).
    #[allow(clippy::cast_possible_truncation)] // candidate indexes are a few thousand
    fn count_partial(&self, s_list_len: usize, partial_len: usize, s_guess: Option<u32>) -> Option<u32> {
        let s = s_guess?;
        let delta = self.knowledge.known_fraction;
        let window = |known: usize, observed: usize| {
            let o = observed as f64;
            let half = if delta >= 1.0 { 0.5 } else { COUNT_Z * (delta * (1.0 - delta) * o).sqrt() + 0.5 };
            (known as f64 - delta * o).abs() <= half
        };
        let mut cooc = vec![0usize; self.degree.len()];
        for d in self.knowledge.known_documents.values().filter(|d| d.keywords.binary_search(&s).is_ok()) {
            for &w in &d.keywords {
                if let Some(x) = cooc.get_mut(w as usize) {
                    *x += 1;
                }
            }
        }
        let lower = |known: usize| {
            let o = s_list_len as f64;
            let half = if delta >= 1.0 { 0.5 } else { COUNT_Z * (delta * (1.0 - delta) * o).sqrt() + 0.5 };
            known as f64 >= delta * o - half
        };
        let mut found = (0..self.degree.len())
            .filter(|&w| w as u32 != s && self.degree[w] > 0 && window(cooc[w], partial_len) && lower(self.degree[w]));
        let first = found.next()?;
        if found.next().is_some() { None } else { Some(first as u32) }
    }
}

/// Runs the experiment on `corpus`: for every seed a workload, both views,
/// every attack of [`CONJUNCTIVE_ATTACKS`] and every known fraction.
///
/// # Errors
/// [`Error::Config`] if a message cannot be encoded or no candidates exist.
pub fn run_conjunctive(corpus: &AttackCorpus, config: &ConjunctiveConfig) -> Result<Vec<ConjunctiveRow>> {
    let plain = Plain::new(corpus, config.keywords)?;
    if plain.candidates.len() < 3 {
        return Err(Error::Config("fewer than 3 candidate keywords".into()));
    }
    let mut rows = Vec::new();
    for &seed in &config.seeds {
        let workload = plain.workload(config.queries, seed);
        let list = |t: u32| &plain.lists[t as usize];
        // Per-term AND: one search per term.
        let per_term: Vec<(u32, Vec<DocId>)> =
            workload.iter().flat_map(|q| q.iter().map(|&t| (t, list(t).clone()))).collect();
        let per_term_obs = plain.observation(&per_term);
        let per_term_full = per_term.iter().map(|(t, _)| *t).collect::<BTreeSet<u32>>().len();
        // OXT: the s-term's search; x-terms as partial lists.
        let s_searches: Vec<(u32, Vec<DocId>)> = workload.iter().map(|q| (q[0], list(q[0]).clone())).collect();
        let s_obs = plain.observation(&s_searches);
        let oxt_full = s_searches.iter().map(|(t, _)| *t).collect::<BTreeSet<u32>>().len();
        let partials: Vec<Vec<Vec<DocId>>> =
            workload.iter().map(|q| q[1..].iter().map(|&x| intersect(list(q[0]), list(x))).collect()).collect();
        for &known in &config.fractions {
            let knowledge = known_documents(corpus, &plain.candidates, &|id| plain.sizes[id as usize], known, seed);
            let index = KnownIndex::new(&knowledge);
            for attack_name in CONJUNCTIVE_ATTACKS {
                let attack = attack_by_name(attack_name);
                // Per-term AND.
                let guesses = attack.recover(&per_term_obs, &knowledge).guesses;
                let mut slot = 0;
                let (mut s_ok, mut x_ok, mut x_n) = (0usize, 0usize, 0usize);
                for q in &workload {
                    for (i, &t) in q.iter().enumerate() {
                        let right = guesses.get(slot).copied().flatten() == Some(t);
                        slot += 1;
                        if i == 0 {
                            s_ok += usize::from(right);
                        } else {
                            x_n += 1;
                            x_ok += usize::from(right);
                        }
                    }
                }
                let tally = Tally { s_ok, x_ok, s_n: workload.len(), x_n, full_lists: per_term_full };
                rows.push(tally.row(ConjunctiveView::PerTermAnd, attack_name, known, seed));
                // OXT.
                let s_guesses = attack.recover(&s_obs, &knowledge).guesses;
                let (mut s_ok, mut x_ok) = (0usize, 0usize);
                for (qi, q) in workload.iter().enumerate() {
                    let s_guess = s_guesses.get(qi).copied().flatten();
                    s_ok += usize::from(s_guess == Some(q[0]));
                    for (xi, &x) in q[1..].iter().enumerate() {
                        let partial = &partials[qi][xi];
                        let guess = match attack_name {
                            "subgraph-id" => index.subgraph_id_partial(list(q[0]), partial, s_guess),
                            "count" => index.count_partial(list(q[0]).len(), partial.len(), s_guess),
                            _ => None,
                        };
                        x_ok += usize::from(guess == Some(x));
                    }
                }
                let tally = Tally { s_ok, x_ok, s_n: workload.len(), x_n, full_lists: oxt_full };
                rows.push(tally.row(ConjunctiveView::Oxt, attack_name, known, seed));
            }
        }
    }
    Ok(rows)
}

/// What one attack got right on one view: s-terms and x-terms recovered
/// out of how many, and how many full lists the view showed.
struct Tally {
    s_ok: usize,
    x_ok: usize,
    s_n: usize,
    x_n: usize,
    full_lists: usize,
}

impl Tally {
    /// The tally as a result row.
    fn row(&self, view: ConjunctiveView, attack: &'static str, known: f64, seed: u64) -> ConjunctiveRow {
        let frac = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        ConjunctiveRow {
            view,
            attack,
            known,
            seed,
            terms: frac(self.s_ok + self.x_ok, self.s_n + self.x_n),
            s_terms: frac(self.s_ok, self.s_n),
            x_terms: frac(self.x_ok, self.x_n),
            full_lists: self.full_lists,
        }
    }
}

/// Median and range over seeds of one (view, attack, known fraction).
#[derive(Debug, Clone, Serialize)]
pub struct ConjunctiveSummary {
    /// The view attacked.
    pub view: ConjunctiveView,
    /// Attack name.
    pub attack: &'static str,
    /// Known fraction.
    pub known: f64,
    /// Seeds summarised.
    pub seeds: usize,
    /// Term recovery: median, minimum, maximum.
    pub terms: (f64, f64, f64),
    /// s-term recovery: median, minimum, maximum.
    pub s_terms: (f64, f64, f64),
    /// x-term recovery: median, minimum, maximum.
    pub x_terms: (f64, f64, f64),
    /// Median distinct keywords whose full list the view shows.
    pub full_lists: f64,
}

/// Summarises rows over seeds, in view, attack, known-fraction order.
#[allow(clippy::cast_precision_loss)] // list counts are small
pub fn summarize(rows: &[ConjunctiveRow]) -> Vec<ConjunctiveSummary> {
    let mut out = Vec::new();
    for view in [ConjunctiveView::PerTermAnd, ConjunctiveView::Oxt] {
        for attack in CONJUNCTIVE_ATTACKS {
            let mut fractions: Vec<f64> =
                rows.iter().filter(|r| r.view == view && r.attack == attack).map(|r| r.known).collect();
            fractions.sort_by(f64::total_cmp);
            fractions.dedup();
            for known in fractions {
                let rs: Vec<&ConjunctiveRow> =
                    rows.iter().filter(|r| r.view == view && r.attack == attack && r.known == known).collect();
                out.push(ConjunctiveSummary {
                    view,
                    attack,
                    known,
                    seeds: rs.len(),
                    terms: spread(rs.iter().map(|r| r.terms).collect()),
                    s_terms: spread(rs.iter().map(|r| r.s_terms).collect()),
                    x_terms: spread(rs.iter().map(|r| r.x_terms).collect()),
                    full_lists: spread(rs.iter().map(|r| r.full_lists as f64).collect()).0,
                });
            }
        }
    }
    out
}

/// The summary as a markdown table (percentages: median, [min, max] over seeds).
pub fn markdown(summary: &[ConjunctiveSummary]) -> String {
    let pct = |(m, lo, hi): (f64, f64, f64)| format!("{:.1} [{:.1}, {:.1}]", m * 100.0, lo * 100.0, hi * 100.0);
    let mut s = String::from(
        "| view | attack | known | query terms recovered (%) | s-terms (%) | x-terms (%) | full lists seen |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in summary {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.view.name(),
            r.attack,
            r.known,
            pct(r.terms),
            pct(r.s_terms),
            pct(r.x_terms),
            r.full_lists
        ));
    }
    s
}

/// Plots the median term recovery against the known fraction, one line
/// per (view, attack): a thick line with circles for per-term AND, a thin
/// line with triangles for OXT. Writes `path` as SVG.
///
/// # Errors
/// [`Error::Plot`] and I/O errors.
#[allow(clippy::cast_possible_truncation)] // legend rows are few
pub fn write_plot(summary: &[ConjunctiveSummary], path: &std::path::Path) -> Result<()> {
    use crate::bench::plot::{FAMILY, plot_error, register_font};
    use plotters::prelude::*;
    register_font()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (plot_area, legend_area) = root.split_horizontally(700);
    let mut c = ChartBuilder::on(&plot_area)
        .caption("Conjunctive workload: query terms recovered (median over seeds)", (FAMILY, 17))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.2..1.05, 0.0..105.0)
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc("known fraction of documents")
        .y_desc("query terms recovered (%)")
        .axis_desc_style((FAMILY, 15))
        .label_style((FAMILY, 13))
        .draw()
        .map_err(plot_error)?;
    let mut legend = 0i32;
    for (a, attack) in CONJUNCTIVE_ATTACKS.iter().enumerate() {
        let color = Palette99::pick(a).to_rgba();
        for view in [ConjunctiveView::PerTermAnd, ConjunctiveView::Oxt] {
            let points: Vec<(f64, f64)> = summary
                .iter()
                .filter(|r| r.view == view && r.attack == *attack)
                .map(|r| (r.known, r.terms.0 * 100.0))
                .collect();
            let width = if view == ConjunctiveView::PerTermAnd { 3 } else { 1 };
            c.draw_series(LineSeries::new(points.clone(), color.stroke_width(width))).map_err(plot_error)?;
            let y = 40 + 26 * legend;
            legend += 1;
            if view == ConjunctiveView::PerTermAnd {
                c.draw_series(points.iter().map(|p| Circle::new(*p, 5, color.filled()))).map_err(plot_error)?;
                legend_area.draw(&Circle::new((25, y), 5, color.filled())).map_err(plot_error)?;
            } else {
                c.draw_series(points.iter().map(|p| TriangleMarker::new(*p, 6, color.filled()))).map_err(plot_error)?;
                legend_area.draw(&TriangleMarker::new((25, y), 6, color.filled())).map_err(plot_error)?;
            }
            legend_area
                .draw(&Text::new(
                    format!("{attack}, {}", view.name()),
                    (45, y - 8),
                    (FAMILY, 14).into_font().color(&BLACK),
                ))
                .map_err(plot_error)?;
        }
    }
    root.present().map_err(plot_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oxt_view_hides_x_lists_and_per_term_and_is_recovered() {
        let corpus =
            AttackCorpus::from_messages("synthetic", crate::datasets::Synthetic::new(5).generate(1200)).unwrap();
        let config = ConjunctiveConfig { keywords: 150, queries: 40, fractions: vec![1.0], seeds: vec![1] };
        let rows = run_conjunctive(&corpus, &config).unwrap();
        assert_eq!(rows.len(), 6);
        let get = |view, attack| rows.iter().find(|r| r.view == view && r.attack == attack).unwrap();
        let per_term = get(ConjunctiveView::PerTermAnd, "subgraph-id");
        let oxt = get(ConjunctiveView::Oxt, "subgraph-id");
        // With every document known, SubgraphID recovers almost every term from full lists.
        assert!(per_term.terms >= 0.9, "per-term AND recovery {}", per_term.terms);
        // OXT shows fewer full lists: only the s-terms'.
        assert!(oxt.full_lists < per_term.full_lists, "{} vs {}", oxt.full_lists, per_term.full_lists);
        // The s-term searches are the same leakage on both views.
        assert!(oxt.s_terms >= 0.9, "OXT s-term recovery {}", oxt.s_terms);
        // SubgraphVL gets no x-term from OXT's partial lists.
        assert_eq!(get(ConjunctiveView::Oxt, "subgraph-vl").x_terms, 0.0);
        // The views differ: OXT's x-term recovery is below per-term AND's.
        assert!(oxt.x_terms < per_term.x_terms, "{} vs {}", oxt.x_terms, per_term.x_terms);
    }
}
