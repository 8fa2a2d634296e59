//! Server half of Mitra: look up the addresses of a token and return the
//! stored values as they are. The server never opens a value: it sees the
//! addresses, the encrypted 5-byte values and which of them it holds.
//!
//! Imports no key type: an address is an opaque [`Label`].

use crate::Result;
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
    for chunk in addresses.chunks(LOOKUP_CHUNK) {
        let found = reader.get_many(chunk.iter().map(|a| EntryLocation::Dictionary(*a)))?;
        values.extend(found.into_iter().map(Option::unwrap_or_default));
    }
    Ok(SearchResult::Values(values))
}
