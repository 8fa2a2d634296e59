//! Packed blocks, shared by the dynamic schemes that consolidate (Mitra,
//! Diana; see [`crate::sse::Packing`]): a keyword's ids in blocks of
//! [`PACKED_BLOCK`], block `j` at label `j` of a per-generation label key,
//! encrypted with keystream `j` of a per-generation value key. The layout
//! lives here once so that a client half (which seals blocks) and a server
//! half (Diana's opens them) agree without either importing the other's key
//! types: both only see 16-byte keys.

use crate::Result;
use crate::primitives::prf::{Domain, Prf};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation};
pub use crate::sse::entries::{BLOCK_LEN, PACKED_BLOCK, missing_block, open_block};

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

/// The PRF input of a keyword under a generation: the keyword, then the
/// 16-byte generation id (fixed length last, so distinct pairs give
/// distinct inputs), as the parts of
/// [`crate::keys::keyword::KeywordPrf::keys_of_parts`].
pub fn with_generation<'a>(keyword: &'a [u8], id: &'a [u8; 16]) -> [&'a [u8]; 2] {
    [keyword, id]
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
