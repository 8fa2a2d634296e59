//! Attacks on a view captured elsewhere (`sseek serve --record-view`):
//! guesses without a truth to score them against.

use std::path::Path;

use serde::Serialize;

use super::{AttackArgs, query_attack};
use crate::Result;
use crate::leakage::experiment::{self, AttackCorpus};
use crate::leakage::observe::Observation;

/// Observations of a saved view, for attacks on views captured elsewhere.
///
/// # Errors
/// [`Error::ViewFile`](crate::Error::ViewFile) and I/O errors.
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
