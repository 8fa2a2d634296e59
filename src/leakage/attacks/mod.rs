//! Leakage-abuse attacks. Each runs on an [`Observation`] (read off a
//! [`crate::leakage::ServerView`]) plus the auxiliary [`Knowledge`] it states,
//! and returns one guess per observed query. Scoring against the truth is
//! the experiment's job (`crate::leakage::experiment`), so an attack cannot
//! peek at it.

pub mod count;
pub mod frequency;
pub mod ikk;
pub mod injection;
pub mod volume;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::leakage::observe::Observation;
use crate::protocol::DocId;

/// A document the attacker knows: which candidate keywords it contains and
/// its ciphertext size (the attacker can seal a known plaintext itself, so
/// it knows the size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownDocument {
    /// Indexes into [`Knowledge::keywords`], ascending.
    pub keywords: Vec<u32>,
    /// Ciphertext size in bytes.
    pub bytes: u64,
}

/// What the attacker knows besides the view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Knowledge {
    /// Candidate keywords: every query is assumed to be one of them.
    pub keywords: Vec<String>,
    /// Known documents by id. Attacks whose paper does not assume the
    /// attacker can tell which ciphertext is which known document ignore
    /// the ids (and say so in their docs).
    pub known_documents: BTreeMap<DocId, KnownDocument>,
    /// Fraction of the database the known documents are (0 to 1).
    pub known_fraction: f64,
    /// Queries whose keyword the attacker knows: (query position, keyword index).
    pub known_queries: Vec<(usize, u32)>,
}

/// An attack's answer: for each observed query (same order), the index of
/// the keyword it guesses, or `None` for no guess.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// One guess per query.
    pub guesses: Vec<Option<u32>>,
}

/// A leakage-abuse attack on observed queries.
pub trait Attack: Send + Sync {
    /// Short name, as on the command line (`count`, `vol-an`, ...).
    fn name(&self) -> &'static str;
    /// Guesses the keyword of every observed query.
    fn recover(&self, observation: &Observation, knowledge: &Knowledge) -> Recovery;
}

/// The query-recovery attack registered under `name` (`count` and
/// `count-kq` are one attack; the experiment gives the latter known
/// queries). `frequency` and `injection` are not query attacks on an
/// [`Observation`]: see [`frequency`] and [`injection`].
pub fn by_name(name: &str) -> Option<Box<dyn Attack>> {
    Some(match name {
        "count" | "count-kq" => Box::new(count::CountAttack::default()),
        "count-v2" => Box::new(count::CountAttack::v2()),
        "count-scored" => Box::new(count::CountAttack::scored()),
        "ikk" => Box::new(ikk::IkkAttack::default()),
        "subgraph-id" => Box::new(volume::SubgraphId::new()),
        "subgraph-vl" => Box::new(volume::SubgraphVl::new()),
        "vol-an" => Box::new(volume::VolAn::new()),
        "sel-vol-an" => Box::new(volume::SelVolAn::new()),
        _ => return None,
    })
}
