//! Client half of Diana: per-keyword counters, update entries, constrained
//! search keys, and the sealed state file.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::keys::MasterKey;
use crate::keys::keyword::{KeywordKeys, KeywordPrf};
use crate::primitives::ggm;
use crate::primitives::prf::Prf;
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::sse::batch::BatchKeywords;
use crate::sse::diana::server::MAX_COUNT;
use crate::sse::packed::{self, with_generation};
use crate::sse::registry::Scheme;
use crate::sse::{
    DynamicScheme, Generation, Keyword, MultiMap, PACKED_BLOCK, PackedKeyword, Packing, SchemeConfig, Update, UpdateOp,
};
use crate::state::StateFile;
use crate::{Error, Result};

/// Batches of at least this many updates are encrypted in parallel.
const PARALLEL_UPDATES: usize = 256;

/// Per keyword, the number of adds so far in its current generation.
type Counters = KeywordMap<u32>;

/// A map keyed by keyword. foldhash, not SipHash: the keys are the client's
/// own keywords (no hash flooding to fear), and an update looks them up on
/// every call.
type KeywordMap<V> = HashMap<Vec<u8>, V, foldhash::fast::RandomState>;

/// What the state file and the shared state hold: the add counters, and the
/// packed generation of every keyword that has one. A keyword without a
/// generation uses the instance's original keys. States written before
/// consolidation existed hold the counters alone (the same encoding as
/// [`Counters`]) and open as such.
#[derive(Default, Clone, Serialize, Deserialize)]
struct State {
    counters: Counters,
    generations: KeywordMap<Generation>,
}

/// A loaded state, refused if a counter is past what a token can cover or
/// a generation has more blocks than the server looks up.
fn checked(state: State, source: &str) -> Result<State> {
    if state.generations.values().any(|g| g.blocks as usize > crate::sse::entries::MAX_TOKEN_ITEMS) {
        return Err(Error::StateFile {
            path: source.into(),
            reason: format!("a packed keyword has more than {} blocks", crate::sse::entries::MAX_TOKEN_ITEMS),
        });
    }
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
    /// Tree root and hash key of a keyword under a generation (input: keyword then generation id).
    generation_prf: KeywordPrf,
    /// Label and value keys of a keyword's packed blocks under a generation (same input).
    packed_prf: KeywordPrf,
    state: State,
    consolidate_after: Option<u32>,
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
            .field("packed_keywords", &self.state.generations.len())
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
        let role =
            |role| KeywordPrf::new(master, tenant, Scheme::Diana.name(), &config.instance, role, config.key_version);
        let (generation_prf, packed_prf) = (role("generation")?, role("packed")?);
        let sealer = StateFile::new(master, tenant, Scheme::Diana.name(), &config.instance, config.key_version)?;
        let path = config.state_path.clone();
        let state = match &path {
            // A state written before packing existed holds the counters alone.
            Some(p) => {
                let state = match sealer.load::<State>(p) {
                    Ok(state) => state.unwrap_or_default(),
                    Err(e) => match sealer.load::<Counters>(p) {
                        Ok(counters) => {
                            State { counters: counters.unwrap_or_default(), generations: KeywordMap::default() }
                        }
                        Err(_) => return Err(e),
                    },
                };
                checked(state, &p.display().to_string())?
            }
            None => State::default(),
        };
        let descriptor = SseDescriptor {
            instance: config.instance.clone(),
            scheme: Scheme::Diana.name().to_owned(),
            block: 1,
            response_revealing: true,
            key_version: config.key_version,
        };
        Ok(Diana {
            descriptor,
            prf,
            generation_prf,
            packed_prf,
            state,
            consolidate_after: config.consolidate_after,
            sealer,
            path,
        })
    }

    /// Number of adds of `keyword` so far in its current generation (the
    /// count its next token covers).
    pub fn count(&self, keyword: &[u8]) -> u32 {
        self.state.counters.get(keyword).copied().unwrap_or(0)
    }

    /// Number of keywords with at least one add in their current generation.
    pub fn keywords(&self) -> usize {
        self.state.counters.len()
    }

    /// The keyword's packed generation, if it was consolidated or packed at setup.
    pub fn generation(&self, keyword: &[u8]) -> Option<Generation> {
        self.state.generations.get(keyword).copied()
    }

    /// The tree root (first) and hash key (second) of a keyword's adds in
    /// its current generation: the original keys if it has none.
    fn keyword_keys(&self, keyword: &[u8]) -> KeywordKeys {
        match self.state.generations.get(keyword) {
            None => self.prf.keys(keyword),
            Some(g) => self.generation_prf.keys_of_parts(&with_generation(keyword, &g.id)),
        }
    }

    /// The label key and value key of a keyword's blocks under generation `id`.
    fn block_keys(&self, keyword: &[u8], id: &[u8; 16]) -> ([u8; 16], [u8; 16]) {
        let keys = self.packed_prf.keys_of_parts(&with_generation(keyword, id));
        (keys.first, keys.second)
    }

    /// The blocks of `ids` (ascending) under a fresh generation of `keyword`.
    fn pack(&self, keyword: &[u8], ids: &[DocId]) -> Result<(Generation, Vec<EncryptedEntry>)> {
        let id = packed::fresh_generation_id()?;
        let (label_key, value_key) = self.block_keys(keyword, &id);
        let blocks = u32::try_from(ids.len().div_ceil(PACKED_BLOCK))
            .ok()
            .filter(|&b| b as usize <= crate::sse::entries::MAX_TOKEN_ITEMS)
            .ok_or_else(|| Error::Config("a Diana keyword has more packed blocks than one search can cover".into()))?;
        Ok((Generation { id, blocks }, packed::seal_blocks(&label_key, &Prf::new(&value_key), ids)))
    }

    /// The locations a search of `keyword` names now: its blocks, then the
    /// labels of its adds' leaves.
    fn locations(&self, keyword: &[u8]) -> Vec<EntryLocation> {
        let mut out = Vec::new();
        if let Some(g) = self.state.generations.get(keyword) {
            let (label_key, _) = self.block_keys(keyword, &g.id);
            out.extend(Prf::new(&label_key).labels(0, g.blocks as usize).into_iter().map(EntryLocation::Dictionary));
        }
        let count = self.count(keyword);
        if count > 0 {
            let keys = self.keyword_keys(keyword);
            out.extend(
                ggm::leaves(&keys.first, 0, count)
                    .iter()
                    .map(|leaf| EntryLocation::Dictionary(ggm::leaf_outputs(leaf, &keys.second).0)),
            );
        }
        out
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
        // Slots hold the keyword, its count before the batch and its next counter.
        let mut batch = BatchKeywords::default();
        let mut slots: Vec<(&[u8], u32, u32)> = Vec::new();
        let mut assigned: Vec<(usize, u32)> = Vec::with_capacity(updates.len());
        for u in updates {
            let k = u.keyword.as_slice();
            let (slot, new) = batch.slot(k);
            if new {
                let count = self.count(k);
                slots.push((k, count, count));
            }
            let next = &mut slots[slot].2;
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
        let per_keyword = |&(k, first, next): &(&[u8], u32, u32)| {
            let keys = self.keyword_keys(k);
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
        for (k, _, c) in slots {
            // The key is copied only for a keyword new to the counters.
            match self.state.counters.get_mut(k) {
                Some(old) => *old = c,
                None => {
                    self.state.counters.insert(k.to_vec(), c);
                }
            }
        }
        Ok(entries)
    }

    /// A constrained key for the keyword's adds; for a packed keyword, also
    /// its blocks' keys and count (the server derives their labels and opens
    /// them). `None` for a keyword with neither.
    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        let count = self.count(keyword);
        let generation = self.state.generations.get(keyword);
        if count == 0 && generation.is_none() {
            return None;
        }
        let keys = self.keyword_keys(keyword);
        let nodes = ggm::cover(&keys.first, count);
        Some(match generation {
            None => SearchToken::Ggm { nodes, count, hash_key: keys.second },
            Some(g) => {
                let (label_key, value_key) = self.block_keys(keyword, &g.id);
                SearchToken::PackedGgm { label_key, value_key, blocks: g.blocks, nodes, count, hash_key: keys.second }
            }
        })
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
        let state = match self.sealer.open_versioned::<State>(sealed, version, source) {
            Ok(state) => state,
            Err(e) => match self.sealer.open_versioned::<Counters>(sealed, version, source) {
                Ok(counters) => State { counters, generations: KeywordMap::default() },
                Err(_) => return Err(e),
            },
        };
        self.state = checked(state, source)?;
        Ok(())
    }

    /// Due when consolidation is on, the keyword has at least
    /// `consolidate_after` adds since its blocks were written, and at least
    /// as many as it has blocks. The blocks hold `ids` (the answer, sorted
    /// and without repeats) under a fresh generation; everything the search
    /// named (the old blocks and the leaves' labels) becomes obsolete.
    fn consolidation(&self, keyword: &[u8], ids: &[DocId]) -> Result<Option<Packing>> {
        let adds = self.count(keyword);
        let before = self.generation(keyword);
        let blocks = before.map_or(0, |g| g.blocks);
        if !crate::sse::consolidation_due(self.consolidate_after, adds as usize, blocks as usize) {
            return Ok(None);
        }
        let (generation, entries) = self.pack(keyword, ids)?;
        Ok(Some(Packing {
            entries,
            obsolete: self.locations(keyword),
            keywords: vec![PackedKeyword { keyword: keyword.to_vec(), before: (before, adds), after: generation }],
        }))
    }

    /// Every keyword of `db` that has no add and no generation yet becomes
    /// packed blocks; the others are left for adds. Off (`None`) without
    /// consolidation.
    fn pack_setup(&self, db: &MultiMap) -> Result<Option<(Packing, MultiMap)>> {
        if self.consolidate_after.is_none() {
            return Ok(None);
        }
        let mut rest = MultiMap::new();
        let mut fresh: Vec<(&Keyword, Vec<DocId>)> = Vec::new();
        for (k, ids) in db {
            if self.count(k) > 0 || self.state.generations.contains_key(k) {
                rest.insert(k.clone(), ids.clone());
            } else if !ids.is_empty() {
                let mut ids = ids.clone();
                ids.sort_unstable();
                ids.dedup();
                fresh.push((k, ids));
            }
        }
        let packed: Vec<(PackedKeyword, Vec<EncryptedEntry>)> = fresh
            .par_iter()
            .map(|(k, ids)| {
                let (after, entries) = self.pack(k, ids)?;
                Ok((PackedKeyword { keyword: (*k).clone(), before: (None, 0), after }, entries))
            })
            .collect::<Result<_>>()?;
        let mut packing = Packing { entries: Vec::new(), obsolete: Vec::new(), keywords: Vec::new() };
        for (k, entries) in packed {
            packing.entries.extend(entries);
            packing.keywords.push(k);
        }
        Ok(Some((packing, rest)))
    }

    fn apply_packing(&mut self, packing: &Packing) -> Result<()> {
        for k in &packing.keywords {
            if (self.generation(&k.keyword), self.count(&k.keyword)) != k.before {
                return Err(Error::Conflict(
                    "a Diana keyword was updated after its packing was made; the packing is dropped".into(),
                ));
            }
        }
        for k in &packing.keywords {
            self.state.generations.insert(k.keyword.clone(), k.after);
            self.state.counters.remove(&k.keyword);
        }
        Ok(())
    }
}
