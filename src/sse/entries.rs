//! Where SSE entries live in the [`Store`], and the reader every scheme's
//! server half walks them with.
//!
//! Layout, in [`Table::Entries`]: `keyspace(tenant) || len(instance) ||
//! instance || 'D' || label` for dictionary entries and `... || 'A' ||
//! position (u32 BE)` for array slots (see [`crate::store::keyspace`]).
//!
//! This module sits below the scheme server halves and above nothing but the
//! base: it knows stores and protocol locations, no key and no scheme.

use crate::primitives::prf::{Domain, Prf};
use crate::protocol::{self, DocId, EntryLocation};
use crate::store::keyspace::keyspace;
use crate::store::{Store, Table};
use crate::{Error, Result};

/// Longest accepted instance name in bytes.
pub const MAX_INSTANCE: usize = 64;
/// Largest accepted entry value in bytes.
pub const MAX_VALUE: usize = 64 * 1024;
/// Largest block (ids per entry or array block): its value must fit [`MAX_VALUE`].
pub const MAX_BLOCK: usize = MAX_VALUE / 4;
/// Most addresses or GGM nodes one search token may carry.
pub const MAX_TOKEN_ITEMS: usize = 4_000_000;

/// The key prefix of an instance's entries.
pub fn instance_prefix(tenant: &str, instance: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.push(u8::try_from(instance.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(instance.as_bytes());
    k
}

/// Reads one instance's entries.
#[derive(Debug)]
pub struct EntryReader<'a> {
    store: &'a dyn Store,
    prefix: Vec<u8>,
}

impl<'a> EntryReader<'a> {
    /// A reader of `tenant`'s `instance`.
    pub fn new(store: &'a dyn Store, tenant: &str, instance: &str) -> Self {
        EntryReader { store, prefix: instance_prefix(tenant, instance) }
    }

    /// The store key of a location.
    pub fn key(&self, location: &EntryLocation) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + 17);
        k.extend_from_slice(&self.prefix);
        match location {
            EntryLocation::Dictionary(label) => {
                k.push(b'D');
                k.extend_from_slice(label);
            }
            EntryLocation::Array(pos) => {
                k.push(b'A');
                k.extend_from_slice(&pos.to_be_bytes());
            }
        }
        k
    }

    /// Reads one entry.
    ///
    /// # Errors
    /// Store errors.
    pub fn get(&self, location: &EntryLocation) -> Result<Option<Vec<u8>>> {
        self.store.get(Table::Entries, &self.key(location))
    }

    /// Reads many entries in one snapshot, aligned with `locations`.
    ///
    /// # Errors
    /// Store errors.
    pub fn get_many(&self, locations: impl Iterator<Item = EntryLocation>) -> crate::store::ManyValues {
        let keys: Vec<Vec<u8>> = locations.map(|l| self.key(&l)).collect();
        self.store.get_many(Table::Entries, &keys)
    }

    /// Reads the values of dictionary labels `labels(start, n)` for counters
    /// `0, 1, 2, ...` until the first missing one, fetching in growing batches
    /// so that a long list costs few store round trips and a short one few
    /// wasted lookups. `visit` gets each value, lent by the store, with its
    /// counter.
    ///
    /// # Errors
    /// Store errors and the first error of `visit`.
    pub fn walk_counters(
        &self,
        labels: impl Fn(u64, usize) -> Vec<protocol::Label>,
        mut visit: impl FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut counter = 0u64;
        let mut batch = 4usize;
        loop {
            let keys: Vec<Vec<u8>> =
                labels(counter, batch).into_iter().map(|l| self.key(&EntryLocation::Dictionary(l))).collect();
            let mut ended = false;
            self.store.visit_many(Table::Entries, &keys, &mut |_, v| {
                let Some(v) = v else {
                    ended = true;
                    return Ok(false);
                };
                visit(counter, v)?;
                counter += 1;
                Ok(true)
            })?;
            if ended {
                return Ok(());
            }
            batch = (batch * 2).min(4096);
        }
    }
}

/// Ids per packed block of a consolidating dynamic scheme (see
/// `crate::sse::Packing`): a block is [`BLOCK_LEN`] bytes.
pub const PACKED_BLOCK: usize = 64;

/// Bytes of a packed block: a count byte, then [`PACKED_BLOCK`] ids (u32
/// little-endian), zero-filled after the count. Every block has this size,
/// so the last one does not tell the result length beyond the block count.
pub const BLOCK_LEN: usize = 1 + 4 * PACKED_BLOCK;

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
