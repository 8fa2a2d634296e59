//! Declared leakage of Pi_bas and Pi_pack, response-revealing (RR) and
//! response-hiding (RH), with optional result-length padding for RH.
//!
//! - `L_setup`: the number of entries, `sum_w ceil(pad(n_w) / B)` (for
//!   Pi_bas, `B = 1` and no padding, that is `N`); every entry is a 16-byte
//!   label and a `4 B`-byte value, so sizes add nothing.
//! - `L_search` (RR): the search pattern and the access pattern `DB(w)`.
//! - `L_search` (RH): the search pattern and the padded result length
//!   `ceil(pad(n_w) / B) * B` (the number of entries returned, times `B`);
//!   the entries returned are the stored ones, so the server also links a
//!   search to its setup entries, which the simulator reproduces.
//!
//! The simulator [`PiBasModel::simulate`] rebuilds the view from the trace
//! alone: random labels and values of the right sizes for the setup, fresh
//! random keys per search-pattern class, the access pattern as given (RR) or
//! as many not-yet-used setup values as the padded length says (RH). Its view
//! equals the real one after canonical renaming (law 2, exact form).

pub use crate::sse::pibas::leakage::{PACK, PACK_RH, PIBAS};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use rand::RngCore;
use rand::seq::SliceRandom;

use crate::keys::MasterKey;
use crate::leakage::countermeasure::{Filler, Padding, pad};
use crate::leakage::profile::{
    INSTANCE, Leak, LeakValue, LeakageModel, OperationKind, OperationLeakage, Profile, TENANT, Trace, ViewBuilder,
    Workload, first_occurrence, random_bytes, random_label,
};
use crate::leakage::view::{Observed, Recorder, ServerView};
use crate::protocol::{EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::server::InProcess;
use crate::server::Server;
use crate::sse::registry::Scheme;
use crate::sse::{self, ENTRY_CHUNK, MultiMap, SchemeClient, SchemeConfig, SseIndex};
use crate::store::MemoryStore;
use crate::{Error, Result};

/// A simulated search-pattern class: label key, value key, RH answer.
type ClassToken = ([u8; 16], [u8; 16], Vec<Vec<u8>>);

/// A Pi_bas / Pi_pack variant with its public parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiBasModel {
    /// Ids per entry (1: Pi_bas).
    pub block: u16,
    /// Response-revealing or response-hiding.
    pub response_revealing: bool,
    /// Result-length padding applied before setup (RH only: the dummy ids
    /// would show in an RR answer).
    pub padding: Padding,
}

impl PiBasModel {
    /// Pi_bas, RR.
    pub fn pibas() -> Self {
        PiBasModel { block: 1, response_revealing: true, padding: Padding::None }
    }

    /// Pi_pack with `block` ids per entry, RR.
    pub fn pack(block: u16) -> Self {
        PiBasModel { block, response_revealing: true, padding: Padding::None }
    }

    /// Pi_pack with `block` ids per entry, RH, lists padded by `padding`.
    pub fn pack_rh(block: u16, padding: Padding) -> Self {
        PiBasModel { block, response_revealing: false, padding }
    }

    fn is_pibas(&self) -> bool {
        self.block == 1 && self.response_revealing
    }

    fn config(&self) -> SchemeConfig {
        let mut c = SchemeConfig::new(if self.is_pibas() { Scheme::PiBas } else { Scheme::Pack }.name(), INSTANCE);
        c.block = Some(self.block);
        c.response_revealing = self.response_revealing;
        c
    }

    fn descriptor(&self) -> SseDescriptor {
        SseDescriptor {
            instance: INSTANCE.to_owned(),
            scheme: if self.is_pibas() { Scheme::PiBas } else { Scheme::Pack }.name().to_owned(),
            block: self.block,
            response_revealing: self.response_revealing,
            key_version: 1,
        }
    }

    fn check(&self, workload: &Workload) -> Result<()> {
        if workload.has_updates() {
            return Err(Error::Config("Pi_bas / Pi_pack are static: no updates".into()));
        }
        if self.response_revealing && self.padding != Padding::None {
            return Err(Error::Config("padding with dummy ids needs the response-hiding variant".into()));
        }
        Ok(())
    }

    /// Entries of a list of `n` ids after padding.
    fn blocks(&self, n: usize) -> usize {
        self.padding.padded_len(n).div_ceil(usize::from(self.block))
    }
}

/// Runs a static setup of `db` and then `searches` on the real client and
/// server over [`InProcess`], recording what the server sees; returns the view.
///
/// # Errors
/// Scheme, transport and server errors.
pub fn run_static(scheme: SchemeClient, db: &MultiMap, searches: &[&[u8]]) -> Result<ServerView> {
    let recorder = Recorder::memory();
    let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
    let mut index = SseIndex::create(InProcess::new(server, TENANT), scheme)?;
    index.setup(db)?;
    for k in searches {
        index.search_keyword(k)?;
    }
    Ok(recorder.view())
}

/// Pads every list of `db` with dummy ids as `padding` says (a no-op for
/// [`Padding::None`]).
///
/// # Errors
/// The OS RNG fails.
pub fn padded_db(db: &MultiMap, padding: Padding) -> Result<MultiMap> {
    if padding == Padding::None {
        return Ok(db.clone());
    }
    Ok(pad(db, padding, &Filler::Dummy, &mut sse::setup_rng()?))
}

/// The search-pattern classes of a workload's searches, with each search's keyword.
pub fn search_classes(workload: &Workload) -> Vec<(u32, &[u8])> {
    let keywords: Vec<&[u8]> = workload.searches().map(Vec::as_slice).collect();
    first_occurrence(keywords.iter().copied()).into_iter().zip(keywords).collect()
}

/// Sends `entries` as the client does: requests of at most [`ENTRY_CHUNK`] entries.
pub fn push_inserts(view: &mut ViewBuilder, entries: Vec<EncryptedEntry>) {
    for chunk in entries.chunks(ENTRY_CHUNK) {
        view.push(Observed::SseInsert { instance: INSTANCE.to_owned(), entries: chunk.to_vec() });
    }
}

/// The search-pattern class a search's leakage carries.
///
/// # Errors
/// [`Error::Config`] if it has none.
pub fn class_of(op: &OperationLeakage) -> Result<u32> {
    match op.get(Leak::SearchPattern) {
        Some(LeakValue::Pattern(c)) => Ok(*c),
        _ => Err(Error::Config("trace: a search without its search pattern".into())),
    }
}

/// A count item of a trace entry.
///
/// # Errors
/// [`Error::Config`] if it is missing or not a count.
pub fn count_of(value: Option<&LeakValue>, what: &str) -> Result<usize> {
    match value {
        Some(LeakValue::Count(n)) => {
            usize::try_from(*n).map_err(|_| Error::Config(format!("trace: {what} out of range")))
        }
        _ => Err(Error::Config(format!("trace: no count for {what}"))),
    }
}

impl LeakageModel for PiBasModel {
    fn profile(&self) -> Profile {
        match (self.is_pibas(), self.response_revealing) {
            (true, _) => PIBAS,
            (false, true) => PACK,
            (false, false) => PACK_RH,
        }
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        self.check(workload)?;
        let mut trace = Trace::new(self.profile().scheme);
        let entries: usize = workload.db.values().map(|ids| self.blocks(ids.len())).sum();
        let setup_item = if self.is_pibas() { Leak::TotalSize } else { Leak::EntryCount };
        trace.setup.push((setup_item, LeakValue::Count(entries as u64)));
        for (class, keyword) in search_classes(workload) {
            let ids = workload.db.get(keyword).cloned().unwrap_or_default();
            let second = if self.response_revealing {
                (Leak::AccessPattern, LeakValue::Ids(ids))
            } else {
                let padded = self.blocks(ids.len()) * usize::from(self.block);
                (Leak::PaddedResultLength, LeakValue::Count(padded as u64))
            };
            trace.operations.push(OperationLeakage {
                kind: OperationKind::Search,
                values: vec![(Leak::SearchPattern, LeakValue::Pattern(class)), second],
            });
        }
        Ok(trace)
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        let setup_item = if self.is_pibas() { Leak::TotalSize } else { Leak::EntryCount };
        let n = count_of(trace.setup_value(setup_item), "the entry count")?;
        let value_len = 4 * usize::from(self.block);
        let mut entries: Vec<EncryptedEntry> = (0..n)
            .map(|_| EncryptedEntry {
                location: EntryLocation::Dictionary(random_label(rng)),
                value: random_bytes(rng, value_len),
            })
            .collect();
        entries.sort_unstable_by_key(|e| e.location);
        let mut view = ViewBuilder::new();
        view.other("sse_describe");
        view.push(Observed::SseCreate { descriptor: self.descriptor() });
        // RH: each search-pattern class gets its own unused stored entries.
        let mut unused: Vec<usize> = (0..entries.len()).collect();
        unused.shuffle(rng);
        let stored: Vec<Vec<u8>> = entries.iter().map(|e| e.value.clone()).collect();
        push_inserts(&mut view, entries);
        view.other("sync");
        let mut tokens: HashMap<u32, ClassToken> = HashMap::new();
        for op in &trace.operations {
            let class = class_of(op)?;
            if let Entry::Vacant(slot) = tokens.entry(class) {
                let values = if self.response_revealing {
                    Vec::new()
                } else {
                    let blocks = count_of(op.get(Leak::PaddedResultLength), "the padded result length")?
                        / usize::from(self.block);
                    if blocks > unused.len() {
                        return Err(Error::Config("trace: searches return more entries than were stored".into()));
                    }
                    unused.split_off(unused.len() - blocks).into_iter().map(|i| stored[i].clone()).collect()
                };
                slot.insert((random_label(rng), random_label(rng), values));
            }
            let (label_key, value_key, values) = &tokens[&class];
            let result = if self.response_revealing {
                match op.get(Leak::AccessPattern) {
                    Some(LeakValue::Ids(ids)) => SearchResult::Ids(ids.clone()),
                    _ => return Err(Error::Config("trace: a search without its access pattern".into())),
                }
            } else {
                SearchResult::Values(values.clone())
            };
            let token = SearchToken::Dictionary {
                label_key: *label_key,
                value_key: self.response_revealing.then_some(*value_key),
            };
            view.push(Observed::SseSearch { instance: INSTANCE.to_owned(), token, result });
        }
        Ok(view.finish())
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        self.check(workload)?;
        let scheme = sse::open_client(&MasterKey::generate()?, TENANT, &self.config())?;
        let searches: Vec<&[u8]> = workload.searches().map(Vec::as_slice).collect();
        run_static(scheme, &padded_db(&workload.db, self.padding)?, &searches)
    }
}
