//! The sealed client state that several devices of one account share for a
//! dynamic SSE instance (Mitra's and Diana's per-keyword counters). The
//! server keeps opaque bytes and a version, and replaces them only by
//! compare-and-swap: a device that reserved counters from version v can
//! store its state as v + 1 only if no other device did first. The bytes
//! are sealed on the client with the version as associated data, so the
//! server cannot hand an old state out under a newer version.

use crate::protocol::VersionedState;
use crate::store::keyspace::client_state_key;
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// Largest sealed state accepted, in bytes (Mitra's counters for a million
/// messages take about 14 MB).
pub const MAX_STATE: usize = 64 << 20;

fn check_instance(instance: &str) -> Result<()> {
    if instance.is_empty() || instance.len() > usize::from(u8::MAX) {
        return Err(Error::Protocol(format!("instance name of {} bytes (1 to 255 allowed)", instance.len())));
    }
    Ok(())
}

/// The stored state of `instance`, if any.
///
/// # Errors
/// [`Error::Protocol`] for a bad instance name; [`Error::DataCorruption`]
/// for a stored value shorter than its version; store errors.
pub fn get(store: &dyn Store, tenant: &str, instance: &str) -> Result<Option<VersionedState>> {
    check_instance(instance)?;
    let Some(bytes) = store.get(Table::Meta, &client_state_key(tenant, instance))? else { return Ok(None) };
    let Some((version, sealed)) = bytes.split_first_chunk::<8>() else {
        return Err(Error::DataCorruption {
            table: Table::Meta.name(),
            reason: format!("client state of {} bytes, shorter than its version", bytes.len()),
        });
    };
    Ok(Some(VersionedState { version: u64::from_be_bytes(*version), sealed: sealed.to_vec() }))
}

/// Stores `sealed` as version `version` if the stored state is at
/// `version - 1` (absent counts as 0). The caller holds the tenant's lock.
///
/// # Errors
/// [`Error::Conflict`] if another version is stored (nothing written);
/// [`Error::Protocol`] for version 0, a bad instance name or an oversized
/// state; store errors.
pub fn put(store: &dyn Store, tenant: &str, instance: &str, version: u64, sealed: &[u8]) -> Result<()> {
    check_instance(instance)?;
    if version == 0 {
        return Err(Error::Protocol("client state versions start at 1".into()));
    }
    if sealed.len() > MAX_STATE {
        return Err(Error::Protocol(format!("client state of {} bytes exceeds {MAX_STATE}", sealed.len())));
    }
    let current = get(store, tenant, instance)?.map_or(0, |s| s.version);
    if current != version - 1 {
        return Err(Error::Conflict(format!(
            "client state of {instance} is at version {current}, not {}: another device updated it; read it again",
            version - 1
        )));
    }
    let mut value = Vec::with_capacity(8 + sealed.len());
    value.extend_from_slice(&version.to_be_bytes());
    value.extend_from_slice(sealed);
    let mut batch = WriteBatch::new();
    batch.put(Table::Meta, client_state_key(tenant, instance), value);
    store.write(batch)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn compare_and_swap() {
        let s = MemoryStore::new();
        assert_eq!(get(&s, "t", "mitra").unwrap(), None);
        assert!(matches!(put(&s, "t", "mitra", 2, b"x"), Err(Error::Conflict(_))));
        put(&s, "t", "mitra", 1, b"one").unwrap();
        assert!(matches!(put(&s, "t", "mitra", 1, b"again"), Err(Error::Conflict(_))), "a second version 1");
        put(&s, "t", "mitra", 2, b"two").unwrap();
        assert_eq!(get(&s, "t", "mitra").unwrap(), Some(VersionedState { version: 2, sealed: b"two".to_vec() }));
        assert_eq!(get(&s, "u", "mitra").unwrap(), None, "another tenant");
        assert!(matches!(put(&s, "t", "mitra", 0, b""), Err(Error::Protocol(_))));
        assert!(matches!(get(&s, "t", ""), Err(Error::Protocol(_))));
    }
}
