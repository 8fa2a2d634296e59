//! Client half of 2Lev: per-keyword keys, the random array layout, setup,
//! tokens, opening response-hiding answers.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use zeroize::Zeroize;

use super::server::{
    DICT_NONCE, DICT_SLOTS, DICT_VALUE_LEN, INLINE_NONCE, INLINE_POSITION, TAG_LARGE, TAG_MEDIUM, TAG_SMALL,
};
use crate::keys::keyword::{KeywordKeys, KeywordPrf};
use crate::keys::{MasterKey, os_random};
use crate::primitives::prf::{Domain, PADDING_ID, Prf, decode_ids, encode_ids};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::sse::entries::MAX_VALUE;
use crate::sse::registry::Scheme;
use crate::sse::{ENTRY_CHUNK, MultiMap, SchemeConfig, StaticScheme, send_in_location_order};
use crate::{Error, Result};

/// Default `b`, ids per array block: a 1 KiB block, one store read per 256
/// results, and with `b' = 16` lists of up to `16 * 256 * 256 = 1,048,576`
/// ids per keyword. See `papers/2lev.md` for the trade-off.
pub const DEFAULT_BLOCK: u16 = 256;

/// Largest `b`: a block of `4 b` bytes must fit the server's value limit.
pub const MAX_BLOCK: u16 = 16_384;
const _: () = assert!(MAX_BLOCK as usize * 4 <= MAX_VALUE);

/// Bytes of array blocks per setup request (fewer than [`ENTRY_CHUNK`]
/// blocks when blocks are large).
const ARRAY_CHUNK_BYTES: usize = 16 << 20;

/// The client half of 2Lev, response-revealing or response-hiding.
#[derive(Debug)]
pub struct TwoLev {
    descriptor: SseDescriptor,
    /// Role `keyword`: `first` is the label key, `second` the pointer key.
    keyword: KeywordPrf,
    /// Role `leaf`: `first` is the leaf key (id blocks and inline ids).
    leaf: KeywordPrf,
    block: usize,
}

/// How one keyword's list is laid out: no array blocks (small), id blocks
/// only (medium), or id blocks and pointer blocks (large).
#[derive(Debug, Clone, Copy)]
struct Shape {
    id_blocks: usize,
    pointer_blocks: usize,
}

impl Shape {
    fn blocks(self) -> usize {
        self.id_blocks + self.pointer_blocks
    }
}

/// One keyword of the setup plan, with the index of its first block in
/// keyword-major order.
struct Planned<'a> {
    keyword: &'a [u8],
    ids: &'a [DocId],
    shape: Shape,
    first_block: usize,
}

impl TwoLev {
    /// Derives the instance keys. `config.block` overrides `b`
    /// ([`DEFAULT_BLOCK`]); `config.response_revealing` picks the variant.
    ///
    /// # Errors
    /// [`Error::Config`] for `b` of 0 or above [`MAX_BLOCK`]; key label errors.
    pub fn new(master: &MasterKey, tenant: &str, config: &SchemeConfig) -> Result<Self> {
        let block = config.block.unwrap_or(DEFAULT_BLOCK);
        if block == 0 || block > MAX_BLOCK {
            return Err(Error::Config(format!("2Lev block size must be 1 to {MAX_BLOCK} ids, not {block}")));
        }
        let prf =
            |role| KeywordPrf::new(master, tenant, Scheme::TwoLev.name(), &config.instance, role, config.key_version);
        let descriptor = SseDescriptor {
            instance: config.instance.clone(),
            scheme: Scheme::TwoLev.name().to_owned(),
            block,
            response_revealing: config.response_revealing,
            key_version: config.key_version,
        };
        Ok(TwoLev { descriptor, keyword: prf("keyword")?, leaf: prf("leaf")?, block: usize::from(block) })
    }

    /// The longest list one keyword may have: `b' * b * b` ids.
    pub fn max_list(&self) -> usize {
        DICT_SLOTS * self.block * self.block
    }

    fn shape(&self, n: usize) -> Result<Shape> {
        if n <= DICT_SLOTS {
            return Ok(Shape { id_blocks: 0, pointer_blocks: 0 });
        }
        let id_blocks = n.div_ceil(self.block);
        if id_blocks <= DICT_SLOTS {
            return Ok(Shape { id_blocks, pointer_blocks: 0 });
        }
        let pointer_blocks = id_blocks.div_ceil(self.block);
        if pointer_blocks <= DICT_SLOTS {
            return Ok(Shape { id_blocks, pointer_blocks });
        }
        Err(Error::Config(format!(
            "a keyword with {n} ids exceeds the 2Lev limit of {} ids per keyword (b = {}, b' = {DICT_SLOTS}); \
             choose a larger block size",
            self.max_list(),
            self.block
        )))
    }

    /// The dictionary entry of a keyword, and for a medium or large list its
    /// pointer key (`first`) and leaf key (`second`) for the array blocks.
    /// `positions` are the array positions of its id blocks, then of its pointer blocks.
    fn dictionary_entry(&self, p: &Planned<'_>, positions: &[u32]) -> (EncryptedEntry, Option<KeywordKeys>) {
        let keys = self.keyword.keys(p.keyword);
        let leaf = self.leaf.keys(p.keyword);
        let mut value = Vec::with_capacity(DICT_VALUE_LEN);
        let Shape { id_blocks, pointer_blocks } = p.shape;
        if id_blocks == 0 {
            value.push(TAG_SMALL);
            let mut slots = encode_ids(p.ids, DICT_SLOTS);
            Prf::new(&leaf.first).apply_keystream(Domain::Dictionary, INLINE_NONCE, &mut slots);
            value.extend_from_slice(&slots);
        } else if pointer_blocks == 0 {
            value.push(TAG_MEDIUM);
            value.extend_from_slice(&encode_ids(&positions[..id_blocks], DICT_SLOTS));
        } else {
            value.push(TAG_LARGE);
            value.extend_from_slice(&encode_ids(&positions[id_blocks..], DICT_SLOTS));
        }
        Prf::new(&keys.second).apply_keystream(Domain::Dictionary, DICT_NONCE, &mut value);
        let entry = EncryptedEntry { location: EntryLocation::Dictionary(Prf::new(&keys.first).label(0)), value };
        let array_keys = (id_blocks > 0).then(|| KeywordKeys { first: keys.second, second: leaf.first });
        (entry, array_keys)
    }

    /// Array block number `local` of a keyword (its id blocks, then its
    /// pointer blocks), stored at `position`.
    fn array_block(
        &self,
        p: &Planned<'_>,
        keys: &KeywordKeys,
        positions: &[u32],
        local: usize,
        position: u32,
    ) -> EncryptedEntry {
        let b = self.block;
        let id_blocks = p.shape.id_blocks;
        let value = if local < id_blocks {
            let ids = &p.ids[local * b..((local + 1) * b).min(p.ids.len())];
            let mut v = encode_ids(ids, b);
            Prf::new(&keys.second).apply_keystream(Domain::Array, u64::from(position), &mut v);
            v
        } else {
            let j = local - id_blocks;
            let pointers = &positions[j * b..((j + 1) * b).min(id_blocks)];
            let mut v = encode_ids(pointers, b);
            Prf::new(&keys.first).apply_keystream(Domain::Array, u64::from(position), &mut v);
            v
        };
        EncryptedEntry { location: EntryLocation::Array(position), value }
    }
}

/// A uniformly random permutation of `0..m` from an OS-seeded ChaCha20.
fn random_permutation(m: u32) -> Result<Vec<u32>> {
    let mut seed = [0u8; 32];
    os_random(&mut seed)?;
    let mut rng = ChaCha20Rng::from_seed(seed);
    seed.zeroize();
    let mut perm: Vec<u32> = (0..m).collect();
    perm.shuffle(&mut rng);
    Ok(perm)
}

impl StaticScheme for TwoLev {
    fn descriptor(&self) -> &SseDescriptor {
        &self.descriptor
    }

    /// Lays out every list, draws the random array positions, then sends the
    /// array blocks in position order and the dictionary entries in label
    /// order, so that neither the order nor the grouping of entries in the
    /// requests tells which blocks belong to the same keyword.
    fn setup(&self, db: &MultiMap, sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>) -> Result<()> {
        if db.values().any(|ids| ids.contains(&PADDING_ID)) {
            return Err(Error::Config(format!("document id {PADDING_ID} is reserved for padding")));
        }
        // Plan: shapes and block ranges, keyword-major.
        let mut plan = Vec::with_capacity(db.len());
        let mut total = 0usize;
        for (keyword, ids) in db.iter().filter(|(_, ids)| !ids.is_empty()) {
            let shape = self.shape(ids.len())?;
            plan.push(Planned { keyword, ids, shape, first_block: total });
            total += shape.blocks();
        }
        // Positions are below u32::MAX, which marks an empty pointer slot.
        let m = u32::try_from(total)
            .ok()
            .filter(|&m| m < u32::MAX)
            .ok_or_else(|| Error::Config(format!("{total} 2Lev array blocks exceed the 32-bit array")))?;
        // `block_at[position]` is a block number; `position_of` its inverse.
        let block_at = random_permutation(m)?;
        let mut position_of = vec![0u32; total];
        for (position, &g) in (0..m).zip(&block_at) {
            position_of[g as usize] = position;
        }
        let positions_of = |p: &Planned<'_>| &position_of[p.first_block..p.first_block + p.shape.blocks()];

        // Dictionary entries, and the keys of keywords that have array blocks.
        let mut dictionary = Vec::with_capacity(plan.len());
        let mut with_blocks: Vec<(usize, KeywordKeys)> = Vec::new();
        let built: Vec<(EncryptedEntry, Option<KeywordKeys>)> =
            plan.par_iter().map(|p| self.dictionary_entry(p, positions_of(p))).collect();
        for (i, (entry, keys)) in built.into_iter().enumerate() {
            dictionary.push(entry);
            if let Some(k) = keys {
                with_blocks.push((i, k));
            }
        }
        let starts: Vec<usize> = with_blocks.iter().map(|(i, _)| plan[*i].first_block).collect();

        // Array blocks in position order.
        let per_request = (ARRAY_CHUNK_BYTES / (4 * self.block)).clamp(1, ENTRY_CHUNK);
        for gs in block_at.chunks(per_request) {
            let entries: Vec<EncryptedEntry> = gs
                .par_iter()
                .map(|&g| {
                    let g = g as usize;
                    let k = starts.partition_point(|&s| s <= g).saturating_sub(1);
                    let (i, keys) = &with_blocks[k];
                    let p = &plan[*i];
                    self.array_block(p, keys, positions_of(p), g - p.first_block, position_of[g])
                })
                .collect();
            sink(entries)?;
        }

        // Dictionary entries in label order.
        send_in_location_order(dictionary, sink)
    }

    fn token(&self, keyword: &[u8]) -> SearchToken {
        let keys = self.keyword.keys(keyword);
        SearchToken::TwoLevel {
            label_key: keys.first,
            pointer_key: keys.second,
            leaf_key: self.descriptor.response_revealing.then(|| self.leaf.keys(keyword).first),
        }
    }

    fn resolve(&self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        let mut ids = match result {
            SearchResult::Ids(ids) => ids,
            SearchResult::Values(values) => {
                let leaf = Prf::new(&self.leaf.keys(keyword).first);
                let mut ids = Vec::with_capacity(values.len() * self.block);
                for mut v in values {
                    let Some((head, body)) = v.split_first_chunk_mut::<4>() else {
                        return Err(corrupt(format!("2Lev answer value of {} bytes", v.len())));
                    };
                    let position = u32::from_be_bytes(*head);
                    let (domain, nonce, len) = if position == INLINE_POSITION {
                        (Domain::Dictionary, INLINE_NONCE, 4 * DICT_SLOTS)
                    } else {
                        (Domain::Array, u64::from(position), 4 * self.block)
                    };
                    if body.len() != len {
                        return Err(corrupt(format!("2Lev answer block of {} bytes, expected {len}", body.len())));
                    }
                    leaf.apply_keystream(domain, nonce, body);
                    decode_ids(body, &mut ids)?;
                }
                ids
            }
        };
        if !ids.is_sorted() {
            ids.sort_unstable();
        }
        ids.dedup();
        Ok(ids)
    }
}

fn corrupt(reason: String) -> Error {
    Error::DataCorruption { table: "entries", reason }
}
