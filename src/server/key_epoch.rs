//! A tenant's key epoch on the server: which key versions hold its data,
//! and the transitions of a rotation (at rest at v, rotating v -> v + 1,
//! at rest at v + 1). The server enforces two rules with it: a new message
//! is accepted only under the current version, and a search made for an
//! epoch that has changed since is refused, so the client retries it with
//! every live version. Every function that changes the epoch runs under the
//! tenant's merge lock.

use crate::blind::server as blind;
use crate::protocol::{self, KeyEpoch};
use crate::store::keyspace::{key_epoch_key, schema_key, schema_tag_key};
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// The tenant's epoch ([`KeyEpoch::INITIAL`] if it never rotated).
///
/// # Errors
/// Store errors; [`Error::DataCorruption`] for a stored epoch that does not decode.
pub fn get(store: &dyn Store, tenant: &str) -> Result<KeyEpoch> {
    match store.get(Table::Meta, &key_epoch_key(tenant))? {
        None => Ok(KeyEpoch::INITIAL),
        Some(bytes) => protocol::decode::<KeyEpoch>(&bytes).map_err(|e| Error::DataCorruption {
            table: Table::Meta.name(),
            reason: format!("key epoch does not decode: {e}"),
        }),
    }
}

fn describe(e: &KeyEpoch) -> String {
    match e.previous {
        Some(p) => format!("rotating from key version {p} to {}", e.current),
        None => format!("at rest at key version {}", e.current),
    }
}

/// Refuses with a 409 unless the tenant is in `expected`.
///
/// # Errors
/// [`Error::Conflict`] naming both epochs; store errors.
pub fn require(store: &dyn Store, tenant: &str, expected: &KeyEpoch) -> Result<()> {
    let actual = get(store, tenant)?;
    if &actual != expected {
        return Err(Error::Conflict(format!(
            "key epoch changed: the tenant is {}, the request was made for {}; read the epoch again",
            describe(&actual),
            describe(expected)
        )));
    }
    Ok(())
}

/// Refuses with a 409 unless `version` is the tenant's current key version.
///
/// # Errors
/// [`Error::Conflict`]; store errors.
pub fn require_current(store: &dyn Store, tenant: &str, version: u32) -> Result<()> {
    let actual = get(store, tenant)?;
    if actual.current != version {
        return Err(Error::Conflict(format!(
            "stale key version {version}: the tenant is {}; new messages go under version {}",
            describe(&actual),
            actual.current
        )));
    }
    Ok(())
}

/// Enters `to` (a rotation from the current version to the next), storing
/// the schema's tag under the new version. Entering the epoch the tenant is
/// already in is accepted, so a resumed rotation can repeat it.
///
/// # Errors
/// [`Error::Conflict`] if the tenant is not at rest at `to.previous` or
/// `to.current` is not the next version; [`Error::Protocol`] for a missing
/// tag when the tenant has a schema; store errors.
pub fn begin(store: &dyn Store, tenant: &str, to: &KeyEpoch, schema_tag: Option<[u8; 32]>) -> Result<()> {
    let now = get(store, tenant)?;
    if &now == to {
        return Ok(());
    }
    let next = now.current.checked_add(1);
    if now.previous.is_some() || to.previous != Some(now.current) || Some(to.current) != next {
        return Err(Error::Conflict(format!(
            "cannot start a rotation {}: the tenant is {}",
            to.previous.map_or_else(|| format!("to version {}", to.current), |p| format!("from {p} to {}", to.current)),
            describe(&now)
        )));
    }
    let mut batch = WriteBatch::new();
    batch.put(Table::Meta, key_epoch_key(tenant), protocol::encode(to));
    if store.get(Table::Meta, &schema_key(tenant))?.is_some() {
        let tag = schema_tag.ok_or_else(|| {
            Error::Protocol("a rotation of a tenant with a schema needs the schema's tag under the new key".into())
        })?;
        batch.put(Table::Meta, schema_tag_key(tenant), tag.to_vec());
    }
    store.write(batch)
}

/// Leaves the rotation `epoch`: the tenant rests at `epoch.current`, and
/// the postings of deleted messages are dropped in the same transaction.
/// Accepted again once done.
///
/// # Errors
/// [`Error::Conflict`] if the tenant is neither in `epoch` nor at rest
/// right after it; store errors.
pub fn finish(store: &dyn Store, tenant: &str, epoch: &KeyEpoch) -> Result<()> {
    let done = KeyEpoch { previous: None, ..*epoch };
    let now = get(store, tenant)?;
    if now == done {
        return Ok(());
    }
    if &now != epoch || epoch.previous.is_none() {
        return Err(Error::Conflict(format!(
            "cannot finish a rotation the tenant is not in: it is {}, the request names {}",
            describe(&now),
            describe(epoch)
        )));
    }
    let mut batch = WriteBatch::new();
    batch.put(Table::Meta, key_epoch_key(tenant), protocol::encode(&done));
    // Postings of messages deleted while the rotation ran may be under the
    // retiring version (the deleting client computed the other one's);
    // none may stay at rest once its key is gone.
    blind::prune_into(store, tenant, &super::documents::tombstones(store, tenant)?, &mut batch)?;
    store.write(batch)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn transitions_are_checked() {
        let s = MemoryStore::new();
        assert_eq!(get(&s, "t").unwrap(), KeyEpoch::INITIAL);
        let to = KeyEpoch { current: 2, previous: Some(1), rotation: [7; 16] };
        // Skipping a version, or rotating from a version not current, is refused.
        assert!(begin(&s, "t", &KeyEpoch { current: 3, ..to }, None).is_err());
        assert!(begin(&s, "t", &KeyEpoch { previous: Some(2), ..to }, None).is_err());
        begin(&s, "t", &to, None).unwrap();
        begin(&s, "t", &to, None).unwrap();
        // Another rotation cannot start while this one runs.
        assert!(begin(&s, "t", &KeyEpoch { current: 3, previous: Some(2), rotation: [8; 16] }, None).is_err());
        assert!(require_current(&s, "t", 1).is_err());
        require_current(&s, "t", 2).unwrap();
        assert!(require(&s, "t", &KeyEpoch::INITIAL).is_err());
        assert!(finish(&s, "t", &KeyEpoch { rotation: [9; 16], ..to }).is_err());
        finish(&s, "t", &to).unwrap();
        finish(&s, "t", &to).unwrap();
        assert_eq!(get(&s, "t").unwrap(), KeyEpoch { previous: None, ..to });
        // Another tenant is untouched.
        assert_eq!(get(&s, "u").unwrap(), KeyEpoch::INITIAL);
    }
}
