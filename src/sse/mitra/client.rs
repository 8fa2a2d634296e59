//! Client half of Mitra: the per-keyword update counters (`FileCnt`), update
//! entries, search tokens (one address per update) and opening the answer.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use serde::{Deserialize, Serialize};

use crate::keys::MasterKey;
use crate::keys::keyword::KeywordPrf;
use crate::primitives::prf::{Domain, Prf};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, Label, SearchResult, SearchToken, SseDescriptor};
use crate::sse::batch::BatchKeywords;
use crate::sse::packed::{self, with_generation};
use crate::sse::registry::Scheme;
use crate::sse::{
    DynamicScheme, Generation, Keyword, MultiMap, PACKED_BLOCK, PackedKeyword, Packing, SchemeConfig, Update, UpdateOp,
};
use crate::state::StateFile;
use crate::{Error, Result};

/// Scheme name in descriptors, key labels and the state file.
pub const SCHEME: &str = Scheme::Mitra.name();

/// Bytes of an update value: 4-byte little-endian id, then the operation byte.
pub const VALUE_LEN: usize = 5;

/// Operation byte of an add.
const OP_ADD: u8 = 0;
/// Operation byte of a delete.
const OP_DELETE: u8 = 1;

/// Updates up to which a batch computes each entry's address on its own
/// (a message's keywords) instead of one batched AES call per keyword.
const SMALL_BATCH: usize = 64;

/// Updates (or answer values) from which the work is spread over rayon's pool.
/// Below this, thread hand-off costs more than it saves.
const PARALLEL_MIN: usize = 4096;

/// The per-keyword update counters: keyword bytes to the number of updates so
/// far (Mitra's `FileCnt`) in the keyword's current generation. Update `c`
/// of a keyword (from 1) sits at address `c` of that generation. Held in
/// memory and sealed into the state file; the keywords are plaintext, so it
/// is never written unsealed.
type Counters = KeywordMap<u32>;

/// A map keyed by keyword. foldhash, not SipHash: the keys are the client's
/// own keywords (no hash flooding to fear), and an update looks them up on
/// every call.
type KeywordMap<V> = HashMap<Keyword, V, foldhash::fast::RandomState>;

/// Bytes of a packed block (the layout is shared with Diana: [`crate::sse::packed`]).
pub use crate::sse::packed::BLOCK_LEN;

/// What the state file and the shared state hold: the counters, and the
/// packed generation of every keyword that has one. A keyword without a
/// generation uses the instance's original keys (so state files written
/// before consolidation existed open unchanged, as [`Counters`] alone).
#[derive(Default, Serialize, Deserialize)]
struct State {
    counters: Counters,
    generations: KeywordMap<Generation>,
}

/// The client half of Mitra.
///
/// Holds the instance's keyword PRF and the counters. Opened with a state
/// path, it continues from the sealed counters of an earlier session.
/// [`DynamicScheme::save_state`] writes them back; [`crate::sse::SseIndex`]
/// calls it after [`DynamicScheme::update`] and before sending the entries
/// (write-ahead), so a crash leaves unused addresses, never a reused counter.
pub struct Mitra {
    descriptor: SseDescriptor,
    prf: KeywordPrf,
    /// Keys of a keyword's updates under a generation (input: keyword then generation id).
    generation_prf: KeywordPrf,
    /// Keys of a keyword's packed blocks under a generation (same input).
    packed_prf: KeywordPrf,
    counters: Counters,
    generations: KeywordMap<Generation>,
    consolidate_after: Option<u32>,
    /// Seals the counters, for the state file and for the server.
    sealer: StateFile,
    /// The state file, if any.
    path: Option<PathBuf>,
}

impl fmt::Debug for Mitra {
    /// Shows sizes, never keywords (the counters name them in plaintext).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mitra")
            .field("descriptor", &self.descriptor)
            .field("keywords", &self.counters.len())
            .field("packed_keywords", &self.generations.len())
            .field("state_path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Mitra {
    /// Derives the instance keys and, if `config.state_path` is set and the
    /// file exists, loads the sealed counters from it.
    ///
    /// Mitra is always response-hiding (the server returns encrypted values),
    /// so `config.response_revealing` is ignored; the descriptor says `false`.
    ///
    /// # Errors
    /// [`Error::Config`] for a block size other than 1; key label errors;
    /// [`Error::StateFile`] for a state file of another key or instance, or a
    /// damaged one; I/O errors reading it.
    pub fn open(master: &MasterKey, tenant: &str, config: &SchemeConfig) -> Result<Self> {
        if let Some(block) = config.block.filter(|&b| b != 1) {
            return Err(Error::Config(format!("Mitra stores one id per entry; block size {block} is not supported")));
        }
        let prf = KeywordPrf::new(master, tenant, SCHEME, &config.instance, "keyword", config.key_version)?;
        let generation_prf =
            KeywordPrf::new(master, tenant, SCHEME, &config.instance, "generation", config.key_version)?;
        let packed_prf = KeywordPrf::new(master, tenant, SCHEME, &config.instance, "packed", config.key_version)?;
        let sealer = StateFile::new(master, tenant, SCHEME, &config.instance, config.key_version)?;
        let path = config.state_path.clone();
        let state = match &path {
            // A state written before packing existed holds the counters alone.
            Some(path) => match sealer.load::<State>(path) {
                Ok(state) => state.unwrap_or_default(),
                Err(e) => match sealer.load::<Counters>(path) {
                    Ok(counters) => {
                        State { counters: counters.unwrap_or_default(), generations: KeywordMap::default() }
                    }
                    Err(_) => return Err(e),
                },
            },
            None => State::default(),
        };
        let descriptor = SseDescriptor {
            instance: config.instance.clone(),
            scheme: SCHEME.to_owned(),
            block: 1,
            response_revealing: false,
            key_version: config.key_version,
        };
        Ok(Mitra {
            descriptor,
            prf,
            generation_prf,
            packed_prf,
            counters: state.counters,
            generations: state.generations,
            consolidate_after: config.consolidate_after,
            sealer,
            path,
        })
    }

    /// Number of updates of `keyword` so far in its current generation (0 if never updated).
    pub fn update_count(&self, keyword: &[u8]) -> u32 {
        self.counters.get(keyword).copied().unwrap_or(0)
    }

    /// The keyword's packed generation, if it was consolidated or packed at setup.
    pub fn generation(&self, keyword: &[u8]) -> Option<Generation> {
        self.generations.get(keyword).copied()
    }

    /// Number of keywords with at least one update.
    pub fn keyword_count(&self) -> usize {
        self.counters.len()
    }

    /// The address (label PRF) and pad (value PRF) keys of a keyword's
    /// updates in its current generation.
    fn keyword_prfs(&self, keyword: &[u8]) -> (Prf, Prf) {
        self.keyword_prfs_in(keyword, self.generations.get(keyword))
    }

    /// [`Mitra::keyword_prfs`] with the keyword's generation already looked up.
    fn keyword_prfs_in(&self, keyword: &[u8], generation: Option<&Generation>) -> (Prf, Prf) {
        let keys = match generation {
            None => self.prf.keys(keyword),
            Some(g) => self.generation_prf.keys_of_parts(&with_generation(keyword, &g.id)),
        };
        (Prf::new(&keys.first), Prf::new(&keys.second))
    }

    /// The label key and the value PRF of a keyword's blocks under generation `id`.
    fn block_keys(&self, keyword: &[u8], id: &[u8; 16]) -> ([u8; 16], Prf) {
        let keys = self.packed_prf.keys_of_parts(&with_generation(keyword, id));
        (keys.first, Prf::new(&keys.second))
    }

    /// The blocks of `ids` (ascending) under a fresh generation of `keyword`.
    fn pack(&self, keyword: &[u8], ids: &[DocId]) -> Result<(Generation, Vec<EncryptedEntry>)> {
        let id = packed::fresh_generation_id()?;
        let (label_key, value) = self.block_keys(keyword, &id);
        let blocks =
            u32::try_from(ids.len().div_ceil(PACKED_BLOCK)).map_err(|_| Error::Config("too many blocks".into()))?;
        Ok((Generation { id, blocks }, packed::seal_blocks(&label_key, &value, ids)))
    }

    /// The locations a search of `keyword` names now: its blocks, then its updates.
    fn locations(&self, keyword: &[u8]) -> Vec<EntryLocation> {
        let mut out = Vec::new();
        if let Some(g) = self.generations.get(keyword) {
            let (label_key, _) = self.block_keys(keyword, &g.id);
            out.extend(Prf::new(&label_key).labels(0, g.blocks as usize).into_iter().map(EntryLocation::Dictionary));
        }
        let n = self.update_count(keyword) as usize;
        if n > 0 {
            let (address, _) = self.keyword_prfs(keyword);
            out.extend(address.labels(1, n).into_iter().map(EntryLocation::Dictionary));
        }
        out
    }

    fn state(&self) -> State {
        State { counters: self.counters.clone(), generations: self.generations.clone() }
    }
}

/// Stores the counters of an encrypted batch: `(keyword, before, after,
/// generation)` per slot. A free function, so that the slots may still
/// borrow the generations.
fn commit_counters(counters: &mut Counters, slots: &[(&[u8], u32, u32, Option<&Generation>)]) {
    for &(k, _, c, _) in slots {
        match counters.get_mut(k) {
            Some(old) => *old = c,
            None => {
                counters.insert(k.to_vec(), c);
            }
        }
    }
}

/// The entry of update number `counter` (from 1) of a keyword, stored at `address`.
fn entry(address: Label, pad: &Prf, counter: u32, update: &Update) -> EncryptedEntry {
    let c = u64::from(counter);
    let mut value = Vec::with_capacity(VALUE_LEN);
    value.extend_from_slice(&update.id.to_le_bytes());
    value.push(match update.op {
        UpdateOp::Add => OP_ADD,
        UpdateOp::Delete => OP_DELETE,
    });
    pad.apply_keystream(Domain::Value, c, &mut value);
    EncryptedEntry { location: EntryLocation::Dictionary(address), value }
}

/// Opens the value of update number `counter`: `None` for an empty value (the
/// server holds no entry at that address: a batch whose counters were
/// saved but which never reached the server), else the id and whether it
/// was an add.
fn open_value(pad: &[u8; 16], counter: u64, value: &[u8]) -> Result<Option<(DocId, bool)>> {
    if value.is_empty() {
        return Ok(None);
    }
    let Ok(bytes) = <[u8; VALUE_LEN]>::try_from(value) else {
        return Err(Error::DataCorruption {
            table: "entries",
            reason: format!(
                "Mitra value of update {counter} has {} bytes, expected {VALUE_LEN}: damaged entry or another scheme's data",
                value.len()
            ),
        });
    };
    let plain: [u8; VALUE_LEN] = std::array::from_fn(|i| bytes[i] ^ pad[i]);
    let [a, b, c, d, op] = plain;
    let add = match op {
        OP_ADD => true,
        OP_DELETE => false,
        other => {
            return Err(Error::DataCorruption {
                table: "entries",
                reason: format!(
                    "Mitra value of update {counter} opens to operation byte {other:#04x} (expected 0 add or 1 delete): \
                     damaged entry, or written under another key"
                ),
            });
        }
    };
    Ok(Some((u32::from_le_bytes([a, b, c, d]), add)))
}

impl DynamicScheme for Mitra {
    fn descriptor(&self) -> &SseDescriptor {
        &self.descriptor
    }

    fn supports_delete(&self) -> bool {
        true
    }

    /// Counters are assigned in the order of `updates` (so an add followed by
    /// a delete of the same pair in one batch leaves it deleted). One HMAC per
    /// distinct keyword of the batch; per update one AES block of address
    /// (batched per keyword) and one of pad. The counters change only if the
    /// whole batch is encrypted.
    ///
    /// # Errors
    /// [`Error::Config`] if a keyword would pass the server's token limit
    /// ([`crate::sse::entries::MAX_TOKEN_ITEMS`] updates).
    fn update(&mut self, updates: &[Update]) -> Result<Vec<EncryptedEntry>> {
        // 1. Counters, sequentially and in order: one slot per distinct
        //    keyword, holding its counter before the batch and after it.
        //    Each keyword's counter and generation are looked up once per
        //    batch, not once per update.
        let mut batch = BatchKeywords::default();
        let mut slots: Vec<(&[u8], u32, u32, Option<&Generation>)> = Vec::new();
        let mut assigned: Vec<(usize, u32)> = Vec::with_capacity(updates.len());
        for u in updates {
            let k = u.keyword.as_slice();
            let (s, new) = batch.slot(k);
            if new {
                let before = self.counters.get(k).copied().unwrap_or(0);
                slots.push((k, before, before, self.generations.get(k)));
            }
            let blocks = slots[s].3.map_or(0, |g| g.blocks as usize);
            let counter = &mut slots[s].2;
            // A search sends one address per update (and the block count),
            // and the server takes at most MAX_TOKEN_ITEMS: refuse the update
            // rather than create a keyword that can no longer be searched.
            if *counter as usize + blocks >= crate::sse::entries::MAX_TOKEN_ITEMS {
                return Err(Error::Config(format!(
                    "a Mitra keyword reached {} updates, the most one search token can cover",
                    crate::sse::entries::MAX_TOKEN_ITEMS
                )));
            }
            *counter += 1;
            assigned.push((s, *counter));
        }

        // 2. A message's few updates: per distinct keyword one HMAC and its
        //    two PRFs, then each entry's address as one AES block, with no
        //    per-keyword vector of addresses to allocate.
        if updates.len() <= SMALL_BATCH {
            let prfs: Vec<(Prf, Prf)> = slots.iter().map(|&(k, _, _, g)| self.keyword_prfs_in(k, g)).collect();
            let entries = updates
                .iter()
                .zip(&assigned)
                .map(|(u, &(s, c))| {
                    let (address, pad) = &prfs[s];
                    entry(address.label(u64::from(c)), pad, c, u)
                })
                .collect();
            commit_counters(&mut self.counters, &slots);
            return Ok(entries);
        }

        // 2. Per distinct keyword: one HMAC, the pad PRF, and the addresses of
        //    its new counters `before + 1 ..= after` in one batched AES call
        //    (the counters of a keyword within a batch are consecutive).
        let per_keyword = |&(k, before, after, generation): &(&[u8], u32, u32, Option<&Generation>)| {
            let (address, pad) = self.keyword_prfs_in(k, generation);
            (address.labels(u64::from(before) + 1, (after - before) as usize), before, pad)
        };
        let keyed: Vec<(Vec<Label>, u32, Prf)> = if slots.len() >= PARALLEL_MIN / 16 {
            slots.par_iter().map(per_keyword).collect()
        } else {
            slots.iter().map(per_keyword).collect()
        };

        // 3. Entries, in update order.
        let make = |(u, &(s, c)): (&Update, &(usize, u32))| {
            let (addresses, before, pad) = &keyed[s];
            entry(addresses[(c - before - 1) as usize], pad, c, u)
        };
        let entries: Vec<EncryptedEntry> = if updates.len() >= PARALLEL_MIN {
            updates.par_iter().zip(assigned.par_iter()).with_min_len(1024).map(make).collect()
        } else {
            updates.iter().zip(&assigned).map(make).collect()
        };

        // 4. Commit the counters.
        commit_counters(&mut self.counters, &slots);
        Ok(entries)
    }

    /// The addresses of the keyword's updates; for a packed keyword, also
    /// its blocks' label key and count (the server derives their labels).
    /// `None` for a keyword never updated.
    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        let n = self.update_count(keyword);
        let generation = self.generations.get(keyword);
        if n == 0 && generation.is_none() {
            return None;
        }
        let (address, _) = self.keyword_prfs(keyword);
        let addresses = if n == 0 { Vec::new() } else { address.labels(1, n as usize) };
        Some(match generation {
            None => SearchToken::Addresses(addresses),
            Some(g) => {
                let (label_key, _) = self.block_keys(keyword, &g.id);
                SearchToken::PackedAddresses { label_key, blocks: g.blocks, addresses }
            }
        })
    }

    /// Opens the packed blocks (if any) into the starting set, then value
    /// `i` of the updates with pad counter `i + 1`, replaying them in order:
    /// an add inserts the id, a delete removes it. Empty values (addresses
    /// the server does not hold: a batch whose counters were saved but that
    /// never reached it) are skipped.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the answer is not a list of values or does not
    /// have one value per block and address sent; [`Error::DataCorruption`]
    /// for a value of the wrong size or one that does not open, or a block
    /// the server does not hold (blocks are stored before the state points
    /// to them, so one missing was deleted or lost by the server).
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        let SearchResult::Values(mut values) = result else {
            return Err(Error::Protocol("Mitra answer carries ids; expected one encrypted value per address".into()));
        };
        let blocks = self.generations.get(keyword).map_or(0, |g| g.blocks as usize);
        let sent = self.update_count(keyword) as usize + blocks;
        if values.len() != sent {
            return Err(Error::Protocol(format!(
                "Mitra answer has {} values for the {sent} blocks and addresses of the token",
                values.len()
            )));
        }
        let mut live = RoaringBitmap::new();
        if let Some(g) = self.generations.get(keyword) {
            let (_, value) = self.block_keys(keyword, &g.id);
            for (j, bytes) in values.drain(..blocks).enumerate() {
                if bytes.is_empty() {
                    return Err(packed::missing_block("Mitra", j));
                }
                packed::open_block("Mitra", &value, j, &bytes, |id| {
                    live.insert(id);
                })?;
            }
        }
        if values.is_empty() {
            return Ok(live.iter().collect());
        }
        let (_, pad) = self.keyword_prfs(keyword);
        // Value i's pad is block 0 of keystream i + 1: all of them in one batched AES call.
        let pads = pad.first_blocks(Domain::Value, 1, values.len());
        let open = |(i, v): (usize, &Vec<u8>)| open_value(&pads[i], i as u64 + 1, v);
        let records: Vec<Option<(DocId, bool)>> = if values.len() >= PARALLEL_MIN {
            values.par_iter().enumerate().with_min_len(1024).map(open).collect::<Result<_>>()?
        } else {
            values.iter().enumerate().map(open).collect::<Result<_>>()?
        };
        for (id, add) in records.into_iter().flatten() {
            if add {
                live.insert(id);
            } else {
                live.remove(id);
            }
        }
        Ok(live.iter().collect())
    }

    fn save_state(&self) -> Result<()> {
        match &self.path {
            Some(path) => self.sealer.save(path, &self.state()),
            None => Ok(()),
        }
    }

    fn seal_state(&self, version: u64) -> Result<Vec<u8>> {
        self.sealer.seal_versioned(&self.state(), version)
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
        self.counters = state.counters;
        self.generations = state.generations;
        Ok(())
    }

    /// Due when consolidation is on, the keyword has at least
    /// `consolidate_after` updates since its blocks were written, and at
    /// least as many as it has blocks. The blocks hold `ids` under a fresh
    /// generation; everything the search named becomes obsolete.
    fn consolidation(&self, keyword: &[u8], ids: &[DocId]) -> Result<Option<Packing>> {
        let updates = self.update_count(keyword);
        let before = self.generation(keyword);
        let blocks = before.map_or(0, |g| g.blocks);
        if !crate::sse::consolidation_due(self.consolidate_after, updates as usize, blocks as usize) {
            return Ok(None);
        }
        let (generation, entries) = self.pack(keyword, ids)?;
        Ok(Some(Packing {
            entries,
            obsolete: self.locations(keyword),
            keywords: vec![PackedKeyword { keyword: keyword.to_vec(), before: (before, updates), after: generation }],
        }))
    }

    /// Every keyword of `db` that has no update and no generation yet
    /// becomes packed blocks; the others are left for updates. Off (`None`)
    /// without consolidation.
    fn pack_setup(&self, db: &MultiMap) -> Result<Option<(Packing, MultiMap)>> {
        if self.consolidate_after.is_none() {
            return Ok(None);
        }
        let mut rest = MultiMap::new();
        let mut fresh: Vec<(&Keyword, Vec<DocId>)> = Vec::new();
        for (k, ids) in db {
            if self.update_count(k) > 0 || self.generations.contains_key(k) {
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
            if (self.generation(&k.keyword), self.update_count(&k.keyword)) != k.before {
                return Err(Error::Conflict(
                    "a Mitra keyword was updated after its packing was made; the packing is dropped".into(),
                ));
            }
        }
        for k in &packing.keywords {
            self.generations.insert(k.keyword.clone(), k.after);
            self.counters.remove(&k.keyword);
        }
        Ok(())
    }
}
