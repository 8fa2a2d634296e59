//! Packed blocks, shared by the dynamic schemes that consolidate (Mitra,
//! Diana; see [`crate::sse::Packing`]): a keyword's ids in blocks of
//! [`PACKED_BLOCK`], block `j` at label `j` of a per-generation label key,
//! encrypted with keystream `j` of a per-generation value key. The layout
//! lives here once so that a client half (which seals blocks) and a server
//! half (Diana's opens them) agree without either importing the other's key
//! types: both only see 16-byte keys.

use crate::primitives::prf::{Domain, Prf};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation};
use crate::sse::PACKED_BLOCK;
use crate::{Error, Result};

/// Bytes of a packed block: a count byte, then [`PACKED_BLOCK`] ids (u32
/// little-endian), zero-filled after the count. Every block has this size,
/// so the last one does not tell the result length beyond the block count.
pub const BLOCK_LEN: usize = 1 + 4 * PACKED_BLOCK;

/// The entries of `ids` (in the order given) as packed blocks: block `j` at
/// label `j` of `label_key`, encrypted under `value` with keystream `j`.
pub fn seal_blocks(label_key: &[u8; 16], value: &Prf, ids: &[DocId]) -> Vec<EncryptedEntry> {
    let chunks = ids.chunks(PACKED_BLOCK);
    let labels = Prf::new(label_key).labels(0, chunks.len());
    chunks
        .zip(labels)
        .enumerate()
        .map(|(j, (chunk, label))| {
            let mut v = vec![0u8; BLOCK_LEN];
            // At most PACKED_BLOCK (64) ids per chunk: the count fits a byte.
            v[0] = u8::try_from(chunk.len()).unwrap_or(u8::MAX);
            for (slot, id) in v[1..].chunks_exact_mut(4).zip(chunk) {
                slot.copy_from_slice(&id.to_le_bytes());
            }
            value.apply_keystream(Domain::Value, j as u64, &mut v);
            EncryptedEntry { location: EntryLocation::Dictionary(label), value: v }
        })
        .collect()
}

/// Opens packed block `j` of scheme `scheme` (named in errors) and passes
/// its ids, in block order, to `out`.
///
/// # Errors
/// [`Error::DataCorruption`] for a block of the wrong size or one that
/// opens to a count of 0 or more than [`PACKED_BLOCK`] (damaged, or written
/// under another key).
pub fn open_block(scheme: &str, value: &Prf, j: usize, bytes: &[u8], mut out: impl FnMut(DocId)) -> Result<()> {
    let corrupt = |reason: String| Error::DataCorruption { table: "entries", reason };
    if bytes.len() != BLOCK_LEN {
        return Err(corrupt(format!(
            "{scheme} packed block {j} has {} bytes, expected {BLOCK_LEN}: damaged entry or another scheme's data",
            bytes.len()
        )));
    }
    let mut v = bytes.to_vec();
    value.apply_keystream(Domain::Value, j as u64, &mut v);
    let n = usize::from(v[0]);
    if n == 0 || n > PACKED_BLOCK {
        return Err(corrupt(format!(
            "{scheme} packed block {j} opens to a count of {n} (expected 1 to {PACKED_BLOCK}): damaged entry, or \
             written under another key"
        )));
    }
    for id in v[1..].chunks_exact(4).take(n) {
        out(u32::from_le_bytes([id[0], id[1], id[2], id[3]]));
    }
    Ok(())
}

/// The error for packed block `j` that a search named but the store does
/// not hold. Blocks are stored before the client state points to them, so
/// one missing was deleted or lost by the server.
pub fn missing_block(scheme: &str, j: usize) -> Error {
    Error::DataCorruption {
        table: "entries",
        reason: format!("{scheme} packed block {j} of a searched keyword is missing on the server"),
    }
}

/// The PRF input of a keyword under a generation: the keyword, then the
/// 16-byte generation id (fixed length last, so distinct pairs give
/// distinct inputs).
pub fn with_generation(keyword: &[u8], id: &[u8; 16]) -> Vec<u8> {
    let mut input = Vec::with_capacity(keyword.len() + 16);
    input.extend_from_slice(keyword);
    input.extend_from_slice(id);
    input
}

/// A fresh random generation id.
///
/// # Errors
/// RNG errors.
pub fn fresh_generation_id() -> Result<[u8; 16]> {
    let mut id = [0u8; 16];
    crate::keys::os_random(&mut id)?;
    Ok(id)
}
