//! Tenants as a whole: erasure (the right to be forgotten, server side).
//!
//! Every row a tenant owns is under its keyspace prefix in one of the four
//! tables (documents, postings, SSE entries, metadata: schema, tag, id
//! counter, tombstones, SSE instances, its audit pseudonym key), except its
//! API token records, which live under the server's reserved prefix and
//! name it. Erasure deletes both in one transaction. Audit records stay
//! (the chain must verify) but hold only a pseudonym whose key goes with
//! the tenant, so they can no longer be tied to its name. The client's
//! half is destroying the key (`sseek forget`): then even copies in old
//! backups cannot be opened.

use super::http::auth::{check_tenant_name, token_keys_of};
use crate::store::keyspace::keyspace;
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

/// What an erasure removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ErasureReport {
    /// Rows under the tenant's keyspace, all tables.
    pub rows: u64,
    /// API token records.
    pub tokens: u64,
}

/// Deletes every row of `tenant` and its API tokens in one transaction.
///
/// ```
/// use sseek::server::{http::auth, tenants};
/// use sseek::store::MemoryStore;
/// let store = MemoryStore::new();
/// auth::add_token(&store, "acme")?;
/// assert_eq!(tenants::erase(&store, "acme")?.tokens, 1);
/// assert!(tenants::erase(&store, "acme").is_err(), "nothing left to erase");
/// # Ok::<(), sseek::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`] for a bad name; [`Error::NotFound`] if the store holds
/// nothing of the tenant; store errors (then nothing is deleted).
pub fn erase(store: &dyn Store, tenant: &str) -> Result<ErasureReport> {
    check_tenant_name(tenant)?;
    let tokens = token_keys_of(store, tenant)?;
    let mut batch = WriteBatch::new();
    for k in &tokens {
        batch.delete(Table::Meta, k.clone());
    }
    let prefix = keyspace(tenant);
    let rows = store.delete_prefixes(&Table::ALL.map(|t| (t, prefix.clone())), batch)?;
    if rows == 0 && tokens.is_empty() {
        return Err(Error::NotFound(format!("tenant {tenant}: nothing stored")));
    }
    Ok(ErasureReport { rows, tokens: tokens.len() as u64 })
}
