//! Server half of Mitra: look up the addresses of a token and return the
//! stored values as they are. The server never opens a value: it sees the
//! addresses, the encrypted 5-byte values and which of them it holds.
//!
//! Imports no key type: an address is an opaque [`Label`].

use crate::Result;
use crate::primitives::prf::Prf;
use crate::protocol::{EntryLocation, Label, SearchResult};
use crate::sse::entries::EntryReader;

/// Addresses read per store snapshot: bounds the key vector built per call.
pub const LOOKUP_CHUNK: usize = 65_536;

/// Answers a Mitra token: the value stored under each address, in the order
/// of `addresses`, with an empty value for an address the store does not hold
/// (so that the client can still match values to update counters).
///
/// # Errors
/// Store errors.
pub fn search(reader: &EntryReader<'_>, addresses: &[Label]) -> Result<SearchResult> {
    let mut values = Vec::with_capacity(addresses.len());
    lookup(reader, addresses, &mut values)?;
    Ok(SearchResult::Values(values))
}

/// Appends the value under each address to `values` (empty where none).
fn lookup(reader: &EntryReader<'_>, addresses: &[Label], values: &mut Vec<Vec<u8>>) -> Result<()> {
    for chunk in addresses.chunks(LOOKUP_CHUNK) {
        let found = reader.get_many(chunk.iter().map(|a| EntryLocation::Dictionary(*a)))?;
        values.extend(found.into_iter().map(Option::unwrap_or_default));
    }
    Ok(())
}

/// Answers a consolidated Mitra token: the values of the keyword's `blocks`
/// packed blocks (labels `0..blocks` of `label_key`), then those of
/// `addresses`, each empty where the store holds nothing. The blocks stay
/// encrypted: the server learns their number, which the client's rewrite
/// showed it already.
///
/// # Errors
/// Store errors.
pub fn search_packed(
    reader: &EntryReader<'_>,
    label_key: &[u8; 16],
    blocks: u32,
    addresses: &[Label],
) -> Result<SearchResult> {
    let labels = Prf::new(label_key).labels(0, blocks as usize);
    let mut values = Vec::with_capacity(labels.len() + addresses.len());
    lookup(reader, &labels, &mut values)?;
    lookup(reader, addresses, &mut values)?;
    Ok(SearchResult::Values(values))
}
