//! Client half of Mitra: the per-keyword update counters (`FileCnt`), update
//! entries, search tokens (one address per update) and opening the answer.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::keys::MasterKey;
use crate::keys::keyword::KeywordPrf;
use crate::primitives::prf::{Domain, Prf};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, Label, SearchResult, SearchToken, SseDescriptor};
use crate::sse::registry::Scheme;
use crate::sse::{DynamicScheme, Keyword, SchemeConfig, Update, UpdateOp};
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

/// Updates (or answer values) from which the work is spread over rayon's pool.
/// Below this, thread hand-off costs more than it saves.
const PARALLEL_MIN: usize = 4096;

/// The per-keyword update counters: keyword bytes to the number of updates so
/// far (Mitra's `FileCnt`). Update `c` of a keyword (from 1) sits at address
/// `c` of that keyword. Held in memory and sealed into the state file; the
/// keywords are plaintext, so it is never written unsealed.
type Counters = HashMap<Keyword, u32>;

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
    counters: Counters,
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
        let sealer = StateFile::new(master, tenant, SCHEME, &config.instance, config.key_version)?;
        let path = config.state_path.clone();
        let counters = match &path {
            Some(path) => sealer.load::<Counters>(path)?.unwrap_or_default(),
            None => Counters::new(),
        };
        let descriptor = SseDescriptor {
            instance: config.instance.clone(),
            scheme: SCHEME.to_owned(),
            block: 1,
            response_revealing: false,
            key_version: config.key_version,
        };
        Ok(Mitra { descriptor, prf, counters, sealer, path })
    }

    /// Number of updates of `keyword` so far (0 if never updated).
    pub fn update_count(&self, keyword: &[u8]) -> u32 {
        self.counters.get(keyword).copied().unwrap_or(0)
    }

    /// Number of keywords with at least one update.
    pub fn keyword_count(&self) -> usize {
        self.counters.len()
    }

    /// The address (label PRF) and pad (value PRF) keys of a keyword.
    fn keyword_prfs(&self, keyword: &[u8]) -> (Prf, Prf) {
        let keys = self.prf.keys(keyword);
        (Prf::new(&keys.first), Prf::new(&keys.second))
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
        let mut slot_of: HashMap<&[u8], usize> = HashMap::new();
        let mut slots: Vec<(&[u8], u32, u32)> = Vec::new();
        let mut assigned: Vec<(usize, u32)> = Vec::with_capacity(updates.len());
        for u in updates {
            let s = *slot_of.entry(u.keyword.as_slice()).or_insert_with(|| {
                let before = self.counters.get(&u.keyword).copied().unwrap_or(0);
                slots.push((u.keyword.as_slice(), before, before));
                slots.len() - 1
            });
            let counter = &mut slots[s].2;
            // A search sends one address per update, and the server takes at
            // most MAX_TOKEN_ITEMS: refuse the update rather than create a
            // keyword that can no longer be searched.
            if *counter as usize >= crate::sse::entries::MAX_TOKEN_ITEMS {
                return Err(Error::Config(format!(
                    "a Mitra keyword reached {} updates, the most one search token can cover",
                    crate::sse::entries::MAX_TOKEN_ITEMS
                )));
            }
            *counter += 1;
            assigned.push((s, *counter));
        }

        // 2. Per distinct keyword: one HMAC, the pad PRF, and the addresses of
        //    its new counters `before + 1 ..= after` in one batched AES call
        //    (the counters of a keyword within a batch are consecutive).
        let per_keyword = |&(k, before, after): &(&[u8], u32, u32)| {
            let (address, pad) = self.keyword_prfs(k);
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
        for (k, _, c) in slots {
            match self.counters.get_mut(k) {
                Some(old) => *old = c,
                None => {
                    self.counters.insert(k.to_vec(), c);
                }
            }
        }
        Ok(entries)
    }

    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        let n = self.update_count(keyword);
        if n == 0 {
            return None;
        }
        let (address, _) = self.keyword_prfs(keyword);
        Some(SearchToken::Addresses(address.labels(1, n as usize)))
    }

    /// Opens value `i` with pad counter `i + 1` and replays the updates in
    /// order: an add inserts the id, a delete removes it. Empty values
    /// (addresses the server does not hold) are skipped.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the answer is not a list of values or does not
    /// have one value per address sent; [`Error::DataCorruption`] for a value
    /// of the wrong size or one that opens to an unknown operation.
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        let SearchResult::Values(values) = result else {
            return Err(Error::Protocol("Mitra answer carries ids; expected one encrypted value per address".into()));
        };
        let sent = self.update_count(keyword) as usize;
        if values.len() != sent {
            return Err(Error::Protocol(format!(
                "Mitra answer has {} values for the {sent} addresses of the token",
                values.len()
            )));
        }
        if values.is_empty() {
            return Ok(Vec::new());
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
        let mut live = RoaringBitmap::new();
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
            Some(path) => self.sealer.save(path, &self.counters),
            None => Ok(()),
        }
    }

    fn seal_state(&self, version: u64) -> Result<Vec<u8>> {
        self.sealer.seal_versioned(&self.counters, version)
    }

    fn open_state(&mut self, version: u64, sealed: &[u8]) -> Result<()> {
        self.counters = self.sealer.open_versioned(sealed, version, "shared state on the server")?;
        Ok(())
    }
}
