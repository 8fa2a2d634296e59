//! Server half of 2Lev: find the keyword's dictionary entry, open it with the
//! pointer key, follow its pointers into the array (one batched read per
//! level), and open the id blocks if the token carries the leaf key.
//!
//! Sees only the token's per-keyword bytes and stored values. This module also
//! fixes the stored format (the constants below); the client half builds
//! values to it. Every stored value is untrusted input: a value that does not
//! parse is an [`Error::DataCorruption`], never a panic.

use crate::primitives::prf::{Domain, PADDING_ID, Prf, decode_ids};
use crate::protocol::{DocId, EntryLocation, SearchResult};
use crate::sse::entries::EntryReader;
use crate::{Error, Result};

/// `b'`: slots (4-byte words) in a dictionary value. Part of the stored
/// format: a list of at most `b'` ids is stored inline, a medium list with at
/// most `b'` id blocks, a large one with at most `b'` pointer blocks.
pub const DICT_SLOTS: usize = 16;
/// Bytes of a dictionary value: one tag byte and [`DICT_SLOTS`] words.
pub const DICT_VALUE_LEN: usize = 1 + 4 * DICT_SLOTS;
/// Tag of a small list: the slots hold the ids (under the leaf keystream).
pub const TAG_SMALL: u8 = 0;
/// Tag of a medium list: the slots point to id blocks.
pub const TAG_MEDIUM: u8 = 1;
/// Tag of a large list: the slots point to pointer blocks, which point to id blocks.
pub const TAG_LARGE: u8 = 2;
/// Nonce of the pointer keystream over a dictionary value ([`Domain::Dictionary`]).
pub const DICT_NONCE: u64 = 0;
/// Nonce of the leaf keystream over the inline ids of a small list ([`Domain::Dictionary`]).
pub const INLINE_NONCE: u64 = 1;
/// Position announced in a response-hiding value that carries inline ids.
/// Never an array position (positions are below `u32::MAX`).
pub const INLINE_POSITION: u32 = u32::MAX;
/// An unused pointer slot (pointers are little-endian words like ids).
pub const NO_POINTER: u32 = PADDING_ID;

fn corrupt(reason: String) -> Error {
    Error::DataCorruption { table: "entries", reason }
}

/// Answers a token for an instance of `block` ids per array block: ascending ids when `leaf_key` is given
/// (response-revealing), otherwise [`SearchResult::Values`] holding, per id
/// block, its position (4 bytes big-endian; [`INLINE_POSITION`] for the inline
/// ids of a small list) followed by the block still under the leaf keystream.
///
/// # Errors
/// Store errors; [`Error::DataCorruption`] for stored values that do not
/// parse: wrong length, unknown tag, misplaced, missing or repeated pointers
/// (a pointer read twice would let stored data amplify one search into many
/// reads), missing array blocks.
pub fn search(
    reader: &EntryReader<'_>,
    block: usize,
    label_key: &[u8; 16],
    pointer_key: &[u8; 16],
    leaf_key: Option<&[u8; 16]>,
) -> Result<SearchResult> {
    let leaf = leaf_key.map(Prf::new);
    let label = Prf::new(label_key).label(0);
    let Some(mut dict) = reader.get(&EntryLocation::Dictionary(label))? else {
        return Ok(match leaf {
            Some(_) => SearchResult::Ids(Vec::new()),
            None => SearchResult::Values(Vec::new()),
        });
    };
    if dict.len() != DICT_VALUE_LEN {
        return Err(corrupt(format!("2Lev dictionary value of {} bytes, expected {DICT_VALUE_LEN}", dict.len())));
    }
    let pointer = Prf::new(pointer_key);
    pointer.apply_keystream(Domain::Dictionary, DICT_NONCE, &mut dict);
    let Some((&tag, slots)) = dict.split_first() else {
        return Err(corrupt("empty 2Lev dictionary value".into()));
    };
    let mut block_len = Some(4 * block);
    let mut visited = std::collections::HashSet::new();
    let id_blocks = match tag {
        TAG_SMALL => return Ok(inline(slots, leaf.as_ref())),
        TAG_MEDIUM => pointers(slots, "dictionary value")?,
        TAG_LARGE => {
            let pointer_blocks = pointers(slots, "dictionary value")?;
            let blocks = fetch(reader, &pointer_blocks, &mut block_len, &mut visited)?;
            let last = blocks.len().saturating_sub(1);
            let mut out = Vec::with_capacity(blocks.len() * block_len.unwrap_or(0) / 4);
            for (i, (mut block, &pos)) in blocks.into_iter().zip(&pointer_blocks).enumerate() {
                pointer.apply_keystream(Domain::Array, u64::from(pos), &mut block);
                let before = out.len();
                let words = block.len() / 4;
                out.extend(pointers(&block, "pointer block")?);
                if i < last && out.len() - before != words {
                    return Err(corrupt(format!("2Lev pointer block {pos} is not full but not the last")));
                }
            }
            out
        }
        other => return Err(corrupt(format!("2Lev dictionary value has unknown tag {other}"))),
    };
    let blocks = fetch(reader, &id_blocks, &mut block_len, &mut visited)?;
    Ok(match leaf {
        Some(leaf) => {
            let mut ids: Vec<DocId> = Vec::with_capacity(blocks.len() * block_len.unwrap_or(0) / 4);
            for (mut block, &pos) in blocks.into_iter().zip(&id_blocks) {
                leaf.apply_keystream(Domain::Array, u64::from(pos), &mut block);
                decode_ids(&block, &mut ids)?;
            }
            SearchResult::Ids(ids)
        }
        None => SearchResult::Values(
            blocks
                .into_iter()
                .zip(&id_blocks)
                .map(|(block, &pos)| {
                    let mut v = Vec::with_capacity(4 + block.len());
                    v.extend_from_slice(&pos.to_be_bytes());
                    v.extend_from_slice(&block);
                    v
                })
                .collect(),
        ),
    })
}

/// The answer for a small list whose ids sit in the dictionary value.
fn inline(slots: &[u8], leaf: Option<&Prf>) -> SearchResult {
    match leaf {
        Some(leaf) => {
            let mut words = slots.to_vec();
            leaf.apply_keystream(Domain::Dictionary, INLINE_NONCE, &mut words);
            let (words, _) = words.as_chunks::<4>();
            SearchResult::Ids(words.iter().map(|w| u32::from_le_bytes(*w)).filter(|&id| id != PADDING_ID).collect())
        }
        None => {
            let mut v = Vec::with_capacity(4 + slots.len());
            v.extend_from_slice(&INLINE_POSITION.to_be_bytes());
            v.extend_from_slice(slots);
            SearchResult::Values(vec![v])
        }
    }
}

/// The pointers of a slot sequence: a non-empty prefix of positions, then only
/// [`NO_POINTER`].
fn pointers(bytes: &[u8], what: &str) -> Result<Vec<u32>> {
    let (words, rest) = bytes.as_chunks::<4>();
    if !rest.is_empty() {
        return Err(corrupt(format!("2Lev {what} of {} bytes is not a multiple of 4", bytes.len())));
    }
    let mut out = Vec::with_capacity(words.len());
    let mut ended = false;
    for w in words {
        match u32::from_le_bytes(*w) {
            NO_POINTER => ended = true,
            _ if ended => return Err(corrupt(format!("2Lev {what} has a pointer after an empty slot"))),
            p => out.push(p),
        }
    }
    if out.is_empty() {
        return Err(corrupt(format!("2Lev {what} holds no pointer")));
    }
    Ok(out)
}

/// Reads array blocks in one batch. Every block must exist, be read once per
/// search (`visited`), and all have the same length (a non-zero multiple of
/// 4), which `block_len` carries across levels.
fn fetch(
    reader: &EntryReader<'_>,
    positions: &[u32],
    block_len: &mut Option<usize>,
    visited: &mut std::collections::HashSet<u32>,
) -> Result<Vec<Vec<u8>>> {
    if let Some(p) = positions.iter().find(|&&p| !visited.insert(p)) {
        return Err(corrupt(format!("2Lev array block {p} is pointed to twice")));
    }
    let values = reader.get_many(positions.iter().map(|&p| EntryLocation::Array(p)))?;
    if values.len() != positions.len() {
        return Err(corrupt(format!("store answered {} of {} 2Lev array reads", values.len(), positions.len())));
    }
    values
        .into_iter()
        .zip(positions)
        .map(|(v, &pos)| {
            let v = v.ok_or_else(|| corrupt(format!("2Lev array block {pos} is missing")))?;
            if v.is_empty() || v.len() % 4 != 0 {
                return Err(corrupt(format!("2Lev array block {pos} has {} bytes", v.len())));
            }
            match *block_len {
                None => *block_len = Some(v.len()),
                Some(len) if len != v.len() => {
                    return Err(corrupt(format!("2Lev array block {pos} has {} bytes, other blocks {len}", v.len())));
                }
                Some(_) => {}
            }
            Ok(v)
        })
        .collect()
}
