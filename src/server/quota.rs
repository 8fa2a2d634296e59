//! Per-tenant storage quotas. The server keeps an estimate of each tenant's
//! stored bytes: measured exactly (a scan of the tenant's prefix in every
//! table) the first time the tenant writes, then raised by the size of each
//! write it accepts. The estimate only grows (a rewritten posting list
//! counts again, a delete frees nothing in it), so when a write would
//! take it past the quota the usage is measured again before the write is
//! refused: a tenant is refused only when its exact usage is over.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::keyspace::keyspace;
use crate::store::{Store, Table};
use crate::{Error, Result};

/// Stored-bytes quota of every tenant, and the usage estimates.
#[derive(Debug)]
pub struct StorageQuota {
    limit: u64,
    usage: Mutex<HashMap<String, u64>>,
}

impl StorageQuota {
    /// At most `limit` bytes (keys and values, all tables) per tenant.
    pub fn new(limit: u64) -> Self {
        StorageQuota { limit, usage: Mutex::new(HashMap::new()) }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn measure(store: &dyn Store, tenant: &str) -> Result<u64> {
        let prefix = keyspace(tenant);
        Table::ALL.iter().try_fold(0u64, |sum, t| Ok(sum + store.stats(*t, &prefix)?.bytes))
    }

    /// Admits a write of about `incoming` bytes for `tenant`, or refuses it.
    /// The caller holds the tenant's lock, so admissions of one tenant do
    /// not race.
    ///
    /// # Errors
    /// [`Error::QuotaExceeded`] if the tenant's exact usage plus `incoming`
    /// is over the limit; store errors.
    pub fn admit(&self, store: &dyn Store, tenant: &str, incoming: u64) -> Result<()> {
        let known = self.usage.lock().map_err(|_| Error::Store("quota table poisoned".into()))?.get(tenant).copied();
        // An estimate that would pass the limit is measured again; a first measure is exact already.
        let used = match known {
            Some(estimate) if estimate.saturating_add(incoming) > self.limit => Self::measure(store, tenant)?,
            Some(estimate) => estimate,
            None => Self::measure(store, tenant)?,
        };
        self.usage.lock().map_err(|_| Error::Store("quota table poisoned".into()))?.insert(tenant.to_owned(), used);
        if used.saturating_add(incoming) > self.limit {
            return Err(Error::QuotaExceeded(format!(
                "tenant {tenant} stores {used} bytes; this write of about {incoming} more exceeds its quota of {} bytes (delete messages to make room)",
                self.limit
            )));
        }
        Ok(())
    }

    /// Records an accepted write of about `bytes` bytes.
    pub fn record(&self, tenant: &str, bytes: u64) {
        if let Ok(mut usage) = self.usage.lock() {
            *usage.entry(tenant.to_owned()).or_default() += bytes;
        }
    }

    /// Forgets a tenant's usage (after an erasure): its next write measures again.
    pub fn forget(&self, tenant: &str) {
        if let Ok(mut usage) = self.usage.lock() {
            usage.remove(tenant);
        }
    }
}
