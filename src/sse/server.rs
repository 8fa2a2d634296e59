//! Server side of every SSE scheme: registering instances, storing their
//! entries write-once, and dispatching a search token to its scheme's server
//! half. Entries are laid out and read by [`super::entries`]; descriptors
//! live in [`Table::Meta`] under `keyspace(tenant) || "sse/" || instance`.
//!
//! Like [`crate::server`], nothing here imports a key type: the server halves
//! get only protocol messages and stored bytes.

use rayon::prelude::*;

use super::entries::{EntryReader, MAX_BLOCK, MAX_INSTANCE, MAX_TOKEN_ITEMS, MAX_VALUE};
use super::registry::Scheme;
use crate::protocol::{self, EncryptedEntry, EntryLocation, OxtToken, SearchResult, SearchToken, SseDescriptor};
use crate::store::keyspace::{client_state_key, is_reserved_state_slot, keyspace};
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// Batches of at least this many entries build their store keys in parallel.
const PARALLEL_KEYS: usize = 4096;

pub use super::entries::instance_prefix;

fn descriptor_key(tenant: &str, instance: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"sse/");
    k.extend_from_slice(instance.as_bytes());
    k
}

fn check_instance(instance: &str) -> Result<()> {
    if instance.is_empty() || instance.len() > MAX_INSTANCE {
        return Err(Error::Protocol(format!(
            "SSE instance name of {} bytes (1 to {MAX_INSTANCE} allowed)",
            instance.len()
        )));
    }
    Ok(())
}

/// Registers an instance. Re-registering the same descriptor is a no-op;
/// a different one under the same name is refused.
///
/// # Errors
/// [`crate::Error::Protocol`] for a bad name or a conflicting descriptor; store errors.
pub fn create(store: &dyn Store, tenant: &str, descriptor: &SseDescriptor) -> Result<()> {
    check_instance(&descriptor.instance)?;
    if is_reserved_state_slot(&descriptor.instance) {
        return Err(Error::Protocol(format!(
            "SSE instance name {:?} is reserved (device keyrings and key rotation use it)",
            descriptor.instance
        )));
    }
    if Scheme::parse(&descriptor.scheme).is_err() {
        return Err(Error::Protocol(format!("unknown SSE scheme {:?}", descriptor.scheme)));
    }
    if descriptor.block == 0 || usize::from(descriptor.block) > MAX_BLOCK {
        return Err(Error::Protocol(format!("SSE block size {} outside 1..={MAX_BLOCK}", descriptor.block)));
    }
    match describe(store, tenant, &descriptor.instance)? {
        Some(existing) if &existing == descriptor => Ok(()),
        Some(_) => Err(Error::Protocol(format!(
            "SSE instance {:?} already exists with another scheme or parameters",
            descriptor.instance
        ))),
        None => {
            let mut batch = WriteBatch::new();
            batch.put(Table::Meta, descriptor_key(tenant, &descriptor.instance), protocol::encode(descriptor));
            store.write(batch)
        }
    }
}

/// The descriptor of an instance, if registered.
///
/// # Errors
/// [`crate::Error::DataCorruption`] if the stored descriptor does not decode; store errors.
pub fn describe(store: &dyn Store, tenant: &str, instance: &str) -> Result<Option<SseDescriptor>> {
    check_instance(instance)?;
    match store.get(Table::Meta, &descriptor_key(tenant, instance))? {
        None => Ok(None),
        Some(bytes) => protocol::decode::<SseDescriptor>(&bytes).map(Some).map_err(|e| Error::DataCorruption {
            table: Table::Meta.name(),
            reason: format!("SSE descriptor does not decode: {e}"),
        }),
    }
}

/// Stores entries of a registered instance, atomically. Entries are written
/// once: a location that is already stored, or repeated in the batch, is
/// refused and nothing of the batch is written. Every scheme derives a fresh
/// label (or, for 2Lev, a fresh position) per entry, so a collision means a
/// static index built twice or a dynamic client whose counters went back
/// (a lost or restored state file); overwriting would reuse a keystream and
/// link the two entries. The caller serializes inserts.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unregistered instance; [`crate::Error::Protocol`] for an
/// oversized value; [`crate::Error::Conflict`] for a location already written; store errors.
pub fn insert(store: &dyn Store, tenant: &str, instance: &str, entries: Vec<EncryptedEntry>) -> Result<()> {
    // Only whether the instance is registered: nothing here depends on its
    // parameters, so the descriptor is looked at in place, not copied out and
    // decoded (a one-document update sends one insert per message).
    check_instance(instance)?;
    let mut registered = false;
    store.visit_many(Table::Meta, &[descriptor_key(tenant, instance)], &mut |_, v| {
        registered = v.is_some();
        Ok(false)
    })?;
    if !registered {
        return Err(Error::NotFound(format!("no SSE instance {instance:?} for this tenant")));
    }
    let reader = EntryReader::new(store, tenant, instance);
    if let Some(e) = entries.iter().find(|e| e.value.len() > MAX_VALUE) {
        return Err(Error::Protocol(format!("SSE entry value of {} bytes exceeds {MAX_VALUE}", e.value.len())));
    }
    // A setup chunk's keys are built on every core.
    let keys: Vec<Vec<u8>> = if entries.len() >= PARALLEL_KEYS {
        entries.par_iter().map(|e| reader.key(&e.location)).collect()
    } else {
        entries.iter().map(|e| reader.key(&e.location)).collect()
    };
    if repeats(&keys) {
        return Err(Error::Conflict(format!("an SSE insert into {instance:?} names one location twice")));
    }
    let mut taken = false;
    store.visit_many(Table::Entries, &keys, &mut |_, v| {
        taken = v.is_some();
        Ok(!taken)
    })?;
    if taken {
        return Err(Error::Conflict(format!(
            "an SSE entry of {instance:?} is already stored: a static index is built once, and a dynamic \
             client whose state file is stale or lost must not write again"
        )));
    }
    let mut batch = WriteBatch::new();
    for (k, e) in keys.into_iter().zip(entries) {
        batch.put(Table::Entries, k, e.value);
    }
    store.write(batch)
}

/// Whether a key occurs twice. A one-document update sends a handful of
/// entries: comparing them pairwise costs less than building a hash set.
fn repeats(keys: &[Vec<u8>]) -> bool {
    const PAIRWISE: usize = 32;
    if keys.len() <= PAIRWISE {
        return keys.iter().enumerate().any(|(i, k)| keys[i + 1..].contains(k));
    }
    // Clients send entries sorted by location, which within one kind of
    // location is key order: strictly ascending keys cannot repeat.
    if keys.windows(2).all(|w| w[0] < w[1]) {
        return false;
    }
    let mut seen =
        std::collections::HashSet::with_capacity_and_hasher(keys.len(), foldhash::fast::RandomState::default());
    !keys.iter().all(|k| seen.insert(k.as_slice()))
}

/// Deletes entries of a dynamic instance by location, in one batch, for a
/// client holding keys of `key_version`. Only dynamic schemes rewrite their
/// entries (Mitra's and Diana's packed blocks after a search); a static index is built
/// once and kept whole. Absent locations are skipped, so a retry is harmless.
/// The caller serializes writes.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unregistered instance;
/// [`crate::Error::Conflict`] under another key version;
/// [`crate::Error::Protocol`] for a static instance; store errors.
pub fn remove(
    store: &dyn Store,
    tenant: &str,
    instance: &str,
    key_version: u32,
    locations: &[EntryLocation],
) -> Result<()> {
    let Some(descriptor) = describe(store, tenant, instance)? else {
        return Err(Error::NotFound(format!("no SSE instance {instance:?} for this tenant")));
    };
    if descriptor.key_version != key_version {
        return Err(Error::Conflict(format!(
            "SSE instance {instance:?} is under key version {} now, not {key_version}: open it again with that version",
            descriptor.key_version
        )));
    }
    let scheme = Scheme::parse(&descriptor.scheme).map_err(|e| Error::DataCorruption {
        table: Table::Meta.name(),
        reason: format!("stored SSE descriptor: {e}"),
    })?;
    if scheme.kind() != super::SchemeKind::Dynamic {
        return Err(Error::Protocol(format!(
            "entries of static SSE scheme {:?} are not removed one by one",
            scheme.name()
        )));
    }
    let reader = EntryReader::new(store, tenant, instance);
    let mut batch = WriteBatch::new();
    for location in locations {
        batch.delete(Table::Entries, reader.key(location));
    }
    store.write(batch)
}

/// Answers a search. An unknown instance or keyword gives an empty result:
/// the answer reveals nothing the token's owner does not know.
///
/// # Errors
/// [`crate::Error::Protocol`] for a token of another scheme or an oversized token;
/// [`crate::Error::DataCorruption`] for stored values that do not parse; store errors.
pub fn search(store: &dyn Store, tenant: &str, instance: &str, token: &SearchToken) -> Result<SearchResult> {
    match describe(store, tenant, instance)? {
        Some(descriptor) => search_described(store, tenant, instance, &descriptor, token),
        None => Ok(SearchResult::Ids(Vec::new())),
    }
}

/// [`search`] of an instance whose descriptor was read already (one store
/// read and decode less per search).
fn search_described(
    store: &dyn Store,
    tenant: &str,
    instance: &str,
    descriptor: &SseDescriptor,
    token: &SearchToken,
) -> Result<SearchResult> {
    let reader = EntryReader::new(store, tenant, instance);
    let scheme = Scheme::parse(&descriptor.scheme).map_err(|e| Error::DataCorruption {
        table: Table::Meta.name(),
        reason: format!("stored SSE descriptor: {e}"),
    })?;
    match (scheme, token) {
        (Scheme::PiBas | Scheme::Pack, SearchToken::Dictionary { label_key, value_key }) => {
            super::pibas::server::search(&reader, label_key, value_key.as_ref())
        }
        (Scheme::TwoLev, SearchToken::TwoLevel { label_key, pointer_key, leaf_key }) => super::twolev::server::search(
            &reader,
            usize::from(descriptor.block),
            label_key,
            pointer_key,
            leaf_key.as_ref(),
        ),
        (Scheme::Mitra, SearchToken::Addresses(addresses)) => {
            if addresses.len() > MAX_TOKEN_ITEMS {
                return Err(Error::Protocol(format!("token of {} addresses is too large", addresses.len())));
            }
            super::mitra::server::search(&reader, addresses)
        }
        (Scheme::Mitra, SearchToken::PackedAddresses { label_key, blocks, addresses }) => {
            if addresses.len().saturating_add(*blocks as usize) > MAX_TOKEN_ITEMS {
                return Err(Error::Protocol(format!(
                    "token of {blocks} blocks and {} addresses is too large",
                    addresses.len()
                )));
            }
            super::mitra::server::search_packed(&reader, label_key, *blocks, addresses)
        }
        (Scheme::Diana, SearchToken::Ggm { nodes, count, hash_key }) => {
            super::diana::server::search(&reader, nodes, *count, hash_key)
        }
        (Scheme::Diana, SearchToken::PackedGgm { label_key, value_key, blocks, nodes, count, hash_key }) => {
            // Blocks are looked up like Mitra's addresses: the same bound on
            // one token's lookups; the GGM part is bounded by its own checks.
            if *blocks as usize > MAX_TOKEN_ITEMS {
                return Err(Error::Protocol(format!("token of {blocks} packed blocks is too large")));
            }
            super::diana::server::search_packed(&reader, label_key, value_key, *blocks, nodes, *count, hash_key)
        }
        // A single-term OXT search: the s-term's list, no x-terms.
        (Scheme::Oxt, SearchToken::Dictionary { label_key, value_key: Some(value_key) }) => {
            let token = OxtToken { label_key: *label_key, value_key: *value_key, xterms: 0, xtokens: Vec::new() };
            super::oxt::server::search(&reader, usize::from(descriptor.block), &token)
        }
        _ => Err(Error::Protocol(format!("search token does not fit SSE scheme {:?}", scheme.name()))),
    }
}

/// [`search`] by a client holding keys of `key_version`: refused if the
/// instance is now under another version (rebuilt by [`swap`]), so an old
/// handle learns it must reopen instead of finding nothing.
///
/// # Errors
/// [`crate::Error::Conflict`] for another key version; as [`search`].
pub fn search_at(
    store: &dyn Store,
    tenant: &str,
    instance: &str,
    key_version: u32,
    token: &SearchToken,
) -> Result<SearchResult> {
    match describe(store, tenant, instance)? {
        Some(d) if d.key_version != key_version => Err(Error::Conflict(format!(
            "SSE instance {instance:?} is under key version {} now, not {key_version}: open it again with that version",
            d.key_version
        ))),
        Some(d) => search_described(store, tenant, instance, &d, token),
        None => Ok(SearchResult::Ids(Vec::new())),
    }
}

/// Answers an OXT conjunction by a client holding keys of `key_version`.
/// An unknown instance gives an empty result, as [`search`].
///
/// # Errors
/// [`crate::Error::Conflict`] for another key version;
/// [`crate::Error::Protocol`] for an instance of another scheme or a token
/// of a bad shape (checked before any read); as [`super::oxt::server::search`].
pub fn oxt_search_at(
    store: &dyn Store,
    tenant: &str,
    instance: &str,
    key_version: u32,
    token: &OxtToken,
) -> Result<SearchResult> {
    super::oxt::server::check_token(token)?;
    let Some(descriptor) = describe(store, tenant, instance)? else {
        return Ok(SearchResult::Values(Vec::new()));
    };
    if descriptor.key_version != key_version {
        return Err(Error::Conflict(format!(
            "SSE instance {instance:?} is under key version {} now, not {key_version}: open it again with that version",
            descriptor.key_version
        )));
    }
    if Scheme::parse(&descriptor.scheme).ok() != Some(Scheme::Oxt) {
        return Err(Error::Protocol(format!("an OXT token does not fit SSE scheme {:?}", descriptor.scheme)));
    }
    let reader = EntryReader::new(store, tenant, instance);
    super::oxt::server::search(&reader, usize::from(descriptor.block), token)
}

/// Replaces `instance` with `staged` (the same scheme and parameters, a
/// newer key version, built beside it) in one transaction: the old
/// instance's entries, descriptor and shared client state are deleted, and
/// the staged ones are moved under the old name. With `expect_state`, the
/// old instance's shared client state must still be at that version (0 for
/// none): a device that updated it during the rebuild would otherwise lose
/// its update. The caller holds the tenant's lock.
///
/// # Errors
/// [`crate::Error::NotFound`] for a missing instance; [`crate::Error::Protocol`]
/// for a staged instance of another scheme or parameters or not of a newer
/// key version; [`crate::Error::Conflict`] if the shared state moved on;
/// [`crate::Error::DataCorruption`] for a damaged stored state; store errors.
pub fn swap(store: &dyn Store, tenant: &str, instance: &str, staged: &str, expect_state: Option<u64>) -> Result<()> {
    let missing = |name: &str| Error::NotFound(format!("no SSE instance {name:?} for this tenant"));
    let old = describe(store, tenant, instance)?.ok_or_else(|| missing(instance))?;
    let new = describe(store, tenant, staged)?.ok_or_else(|| missing(staged))?;
    if instance == staged
        || (&new.scheme, new.block, new.response_revealing) != (&old.scheme, old.block, old.response_revealing)
        || new.key_version <= old.key_version
    {
        return Err(Error::Protocol(format!(
            "SSE instance {staged:?} cannot replace {instance:?}: it must have the same scheme and parameters \
             and a newer key version (it has {} and {}, the old one {})",
            new.scheme, new.key_version, old.key_version
        )));
    }
    let state_version = |bytes: &[u8]| -> Result<u64> {
        bytes.first_chunk::<8>().map(|v| u64::from_be_bytes(*v)).ok_or_else(|| Error::DataCorruption {
            table: Table::Meta.name(),
            reason: format!("client state of {} bytes, shorter than its version", bytes.len()),
        })
    };
    let old_state = store.get(Table::Meta, &client_state_key(tenant, instance))?;
    if let Some(expected) = expect_state {
        let now = old_state.as_deref().map(state_version).transpose()?.unwrap_or(0);
        if now != expected {
            return Err(Error::Conflict(format!(
                "the shared state of SSE instance {instance:?} moved from version {expected} to {now} while it \
                 was rebuilt: another device updated it; rebuild again"
            )));
        }
    }
    let (old_prefix, staged_prefix) = (instance_prefix(tenant, instance), instance_prefix(tenant, staged));
    let mut batch = WriteBatch::new();
    store.scan_prefix(Table::Entries, &staged_prefix, &mut |k, v| {
        let mut key = old_prefix.clone();
        key.extend_from_slice(&k[staged_prefix.len()..]);
        batch.put(Table::Entries, key, v.to_vec());
        Ok(true)
    })?;
    let renamed = SseDescriptor { instance: instance.to_owned(), ..new };
    batch.put(Table::Meta, descriptor_key(tenant, instance), protocol::encode(&renamed));
    batch.delete(Table::Meta, descriptor_key(tenant, staged));
    match store.get(Table::Meta, &client_state_key(tenant, staged))? {
        Some(state) => {
            batch.put(Table::Meta, client_state_key(tenant, instance), state);
            batch.delete(Table::Meta, client_state_key(tenant, staged));
        }
        None => {
            batch.delete(Table::Meta, client_state_key(tenant, instance));
        }
    }
    // The prefixes go first, then the batch: the moved entries land in an emptied namespace.
    store.delete_prefixes(&[(Table::Entries, old_prefix), (Table::Entries, staged_prefix)], batch)?;
    Ok(())
}

/// Deletes an instance: its entries, descriptor and shared client state,
/// in one transaction. Returns how many entries went.
///
/// # Errors
/// [`crate::Error::Protocol`] for a bad name; store errors.
pub fn drop_instance(store: &dyn Store, tenant: &str, instance: &str) -> Result<u64> {
    check_instance(instance)?;
    let mut batch = WriteBatch::new();
    batch.delete(Table::Meta, descriptor_key(tenant, instance));
    batch.delete(Table::Meta, client_state_key(tenant, instance));
    store.delete_prefixes(&[(Table::Entries, instance_prefix(tenant, instance))], batch)
}

#[cfg(test)]
mod tests {
    use super::repeats;

    /// Every path of the repeat check: a few keys (pairwise), many sorted
    /// ones (the ascending scan), many unsorted ones (the hash set).
    #[test]
    fn repeats_finds_a_repeated_key_on_every_path() {
        let keys = |n: u32| -> Vec<Vec<u8>> { (0..n).map(|i| i.to_be_bytes().to_vec()).collect() };
        for n in [5, 100] {
            let mut k = keys(n);
            assert!(!repeats(&k), "{n} sorted");
            k.reverse();
            assert!(!repeats(&k), "{n} reversed");
            k.push(k[n as usize / 2].clone());
            assert!(repeats(&k), "{n} with a repeat at the end");
            let mut sorted = keys(n);
            sorted.insert(3, sorted[3].clone());
            assert!(repeats(&sorted), "{n} sorted with a repeat");
        }
    }
}
