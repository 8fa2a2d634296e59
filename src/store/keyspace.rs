//! The layout of the tenant keyspace: every key the server writes starts
//! with its tenant's prefix, so tenants never share a key and a tenant's
//! rows are one prefix scan.
//!
//! | table | key |
//! |---|---|
//! | documents | `keyspace(tenant) || id (u32 BE)` |
//! | meta | `keyspace(tenant) || "schema"`, `|| "schema_tag"`, `|| "next_id"`, `|| "deleted"`, `|| "sse/" || instance`, `|| "audit_key"` (the key of its audit-log pseudonym), `|| "state/" || instance` (a dynamic SSE instance's sealed client state, shared by the tenant's devices), `|| "key_epoch"` (which key versions hold its data) |
//! | postings | `keyspace(tenant) || len(index) || index || token` |
//! | entries | `keyspace(tenant) || len(instance) || instance || 'D' label / 'A' position` |

use crate::protocol::DocId;

/// Longest accepted tenant name in bytes.
pub const MAX_TENANT: usize = 255;

/// The key prefix of a tenant's data: its name, length-prefixed, so no tenant's
/// keys are a prefix of another's.
pub fn keyspace(tenant: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 16);
    k.push(u8::try_from(tenant.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(tenant.as_bytes());
    k
}

/// The store key of a document.
pub fn document_key(tenant: &str, id: DocId) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The document id in a document key of the tenant whose keyspace is
/// `prefix`; `None` if the key is not one.
pub fn document_id(key: &[u8], prefix: &[u8]) -> Option<DocId> {
    key.strip_prefix(prefix).and_then(|rest| <[u8; 4]>::try_from(rest).ok()).map(DocId::from_be_bytes)
}

/// The store key of a tenant's next free document id (u32 BE): every id
/// below it was reserved, put or deleted.
pub fn next_id_key(tenant: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"next_id");
    k
}

/// The store key of a tenant's tombstones: the ids of its deleted
/// documents, a serialized roaring bitmap.
pub fn tombstones_key(tenant: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"deleted");
    k
}

/// The store key of the tag of a tenant's schema.
pub fn schema_tag_key(tenant: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"schema_tag");
    k
}

/// The store key of a tenant's schema.
pub fn schema_key(tenant: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"schema");
    k
}

/// The store key of a tenant's audit key: 32 random bytes from which its
/// audit-log pseudonym is derived. Inside the keyspace, so erasing the
/// tenant erases it and unlinks the tenant's audit records from its name.
pub fn audit_key_key(tenant: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"audit_key");
    k
}

/// The store key of a tenant's key epoch (absent: version 1, never rotated).
pub fn key_epoch_key(tenant: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"key_epoch");
    k
}

/// Whether `name` is a slot of the shared client-state store that is not an
/// SSE instance's: the device directory (`devices`), a device's sealed
/// keyring (`device/...`), a key rotation's checkpoint (`rotation`). SSE
/// instances may not take these names, or their shared state would
/// overwrite one of them.
pub fn is_reserved_state_slot(name: &str) -> bool {
    name == "devices" || name == "rotation" || name.starts_with("device/")
}

/// The store key of a dynamic SSE instance's shared client state: its
/// version (u64 BE) followed by the client's sealed bytes.
pub fn client_state_key(tenant: &str, instance: &str) -> Vec<u8> {
    let mut k = keyspace(tenant);
    k.extend_from_slice(b"state/");
    k.extend_from_slice(instance.as_bytes());
    k
}
