//! Client half of Diana: per-keyword counters, update entries, constrained
//! search keys, and the sealed state file.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::keys::MasterKey;
use crate::keys::keyword::{KeywordKeys, KeywordPrf};
use crate::primitives::ggm;
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::sse::diana::server::MAX_COUNT;
use crate::sse::registry::Scheme;
use crate::sse::{DynamicScheme, SchemeConfig, Update, UpdateOp};
use crate::state::StateFile;
use crate::{Error, Result};

/// Batches of at least this many updates are encrypted in parallel.
const PARALLEL_UPDATES: usize = 256;

/// What the state file holds: the number of adds so far per keyword.
#[derive(Default, Serialize, Deserialize)]
struct State {
    counters: HashMap<Vec<u8>, u32>,
}

/// A loaded state, refused if a counter is past what a token can cover.
fn checked(state: State, source: &str) -> Result<State> {
    if state.counters.values().any(|&c| c > MAX_COUNT) {
        return Err(Error::StateFile {
            path: source.into(),
            reason: format!("a counter exceeds the limit of {MAX_COUNT}"),
        });
    }
    Ok(state)
}

/// The client half of Diana (add-only, forward private).
pub struct Diana {
    descriptor: SseDescriptor,
    prf: KeywordPrf,
    state: State,
    /// Seals the counters, for the state file and for the server.
    sealer: StateFile,
    /// The state file, if any.
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Diana {
    /// Shows sizes, never keywords (the counters name them in plaintext).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Diana")
            .field("descriptor", &self.descriptor)
            .field("keywords", &self.state.counters.len())
            .field("state_path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Diana {
    /// Derives the instance keys and loads the counters from
    /// `config.state_path` if that file exists (a missing file is a fresh
    /// instance).
    ///
    /// # Errors
    /// [`Error::Config`] for a response-hiding configuration (Diana as
    /// implemented is response-revealing only); [`Error::StateFile`] for a
    /// state file of another key or instance, or a damaged one; key label errors.
    pub fn open(master: &MasterKey, tenant: &str, config: &SchemeConfig) -> Result<Self> {
        if !config.response_revealing {
            return Err(Error::Config("Diana is response-revealing only (the server opens the ids)".into()));
        }
        let prf =
            KeywordPrf::new(master, tenant, Scheme::Diana.name(), &config.instance, "keyword", config.key_version)?;
        let sealer = StateFile::new(master, tenant, Scheme::Diana.name(), &config.instance, config.key_version)?;
        let path = config.state_path.clone();
        let state = match &path {
            Some(p) => match sealer.load::<State>(p)? {
                Some(state) => checked(state, &p.display().to_string())?,
                None => State::default(),
            },
            None => State::default(),
        };
        let descriptor = SseDescriptor {
            instance: config.instance.clone(),
            scheme: Scheme::Diana.name().to_owned(),
            block: 1,
            response_revealing: true,
            key_version: config.key_version,
        };
        Ok(Diana { descriptor, prf, state, sealer, path })
    }

    /// Number of adds of `keyword` so far (the count its next token covers).
    pub fn count(&self, keyword: &[u8]) -> u32 {
        self.state.counters.get(keyword).copied().unwrap_or(0)
    }

    /// Number of keywords with at least one add.
    pub fn keywords(&self) -> usize {
        self.state.counters.len()
    }
}

/// The entry of the add of `id` at leaf seed `leaf` of a keyword with `keys`.
fn entry(keys: &KeywordKeys, leaf: &ggm::Seed, id: DocId) -> EncryptedEntry {
    let (label, mask) = ggm::leaf_outputs(leaf, &keys.second);
    let value = id.to_le_bytes().iter().zip(mask).map(|(b, m)| b ^ m).collect();
    EncryptedEntry { location: EntryLocation::Dictionary(label), value }
}

impl DynamicScheme for Diana {
    fn descriptor(&self) -> &SseDescriptor {
        &self.descriptor
    }

    fn supports_delete(&self) -> bool {
        false
    }

    /// Counters are assigned in update order. The batch is checked whole
    /// before any counter moves: a delete or an exhausted counter fails it
    /// with the state unchanged.
    fn update(&mut self, updates: &[Update]) -> Result<Vec<EncryptedEntry>> {
        if updates.iter().any(|u| u.op == UpdateOp::Delete) {
            return Err(Error::Config(
                "Diana is add-only: deletes are not supported (Diana_del is not implemented)".into(),
            ));
        }
        // Sequential pass: one slot per distinct keyword, a counter per update.
        let mut slot_of: HashMap<&[u8], usize> = HashMap::new();
        let mut slots: Vec<(&[u8], u32)> = Vec::new();
        let mut assigned: Vec<(usize, u32)> = Vec::with_capacity(updates.len());
        for u in updates {
            let slot = *slot_of.entry(&u.keyword).or_insert_with(|| {
                slots.push((&u.keyword, self.count(&u.keyword)));
                slots.len() - 1
            });
            let next = &mut slots[slot].1;
            if *next >= MAX_COUNT {
                return Err(Error::Config(format!(
                    "a Diana keyword reached the limit of {MAX_COUNT} adds (the server refuses larger searches)"
                )));
            }
            assigned.push((slot, *next));
            *next += 1;
        }
        // Per keyword: its keys and the leaf seeds of its new counters, one
        // shared walk for the run (the counters of a keyword within a batch
        // are consecutive); then one entry per update.
        let per_keyword = |&(k, next): &(&[u8], u32)| {
            let keys = self.prf.keys(k);
            let first = self.count(k);
            let leaves = ggm::leaves(&keys.first, first, next - first);
            (keys, first, leaves)
        };
        let make = |(u, &(s, c)): (&Update, &(usize, u32)), keyed: &[(KeywordKeys, u32, Vec<ggm::Seed>)]| {
            let (keys, first, leaves) = &keyed[s];
            entry(keys, &leaves[(c - first) as usize], u.id)
        };
        let entries = if updates.len() >= PARALLEL_UPDATES {
            let keyed: Vec<_> = slots.par_iter().map(per_keyword).collect();
            updates.par_iter().zip(&assigned).map(|x| make(x, &keyed)).collect()
        } else {
            let keyed: Vec<_> = slots.iter().map(per_keyword).collect();
            updates.iter().zip(&assigned).map(|x| make(x, &keyed)).collect()
        };
        for (k, c) in slots {
            self.state.counters.insert(k.to_vec(), c);
        }
        Ok(entries)
    }

    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        let count = self.count(keyword);
        if count == 0 {
            return None;
        }
        let keys = self.prf.keys(keyword);
        Some(SearchToken::Ggm { nodes: ggm::cover(&keys.first, count), count, hash_key: keys.second })
    }

    fn resolve(&mut self, _keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        let SearchResult::Ids(mut ids) = result else {
            return Err(Error::Protocol("a Diana answer carries ids, not encrypted values".into()));
        };
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    fn save_state(&self) -> Result<()> {
        match &self.path {
            Some(path) => self.sealer.save(path, &self.state),
            None => Ok(()),
        }
    }

    fn seal_state(&self, version: u64) -> Result<Vec<u8>> {
        self.sealer.seal_versioned(&self.state, version)
    }

    fn open_state(&mut self, version: u64, sealed: &[u8]) -> Result<()> {
        let source = "shared state on the server";
        self.state = checked(self.sealer.open_versioned(sealed, version, source)?, source)?;
        Ok(())
    }
}
