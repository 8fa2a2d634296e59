//! Tenants and API tokens.
//!
//! A token reads `sseek_<id>_<secret>`: a random 8-byte id (hex) that names
//! the token and a random 32-byte secret (hex). The store keeps, under the id,
//! the tenant and SHA-256 of the secret, never the secret itself; a presented
//! secret is hashed and compared with [`subtle`] in constant time. Ids are not
//! secret (looking one up may take measurably different time whether it exists
//! or not); the 256-bit secret is what authenticates.
//!
//! Records live in [`Table::Meta`] under a key starting with byte 0. Every
//! tenant keyspace ([`crate::store::keyspace::keyspace`]) starts with the tenant name's
//! length, which is 1 to 255, so no tenant request can read or overwrite a
//! token record.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::protocol;
use crate::store::keyspace::MAX_TENANT;
use crate::store::{Store, Table, WriteBatch};
use crate::{Error, Result};

const TOKEN_PREFIX: &str = "sseek_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// What the store keeps per token.
#[derive(Serialize, Deserialize)]
struct TokenRecord {
    tenant: String,
    secret_sha256: [u8; 32],
}

/// The reserved Meta key of a token id. Starts with 0, which no tenant keyspace does.
fn record_key(id: &[u8; ID_BYTES]) -> Vec<u8> {
    let mut k = vec![0u8];
    k.extend_from_slice(b"auth/token/");
    k.extend_from_slice(id);
    k
}

/// Checks a tenant name: 1 to [`MAX_TENANT`] bytes of ASCII letters, digits,
/// `.`, `_` and `-`, so that names are safe in logs and metrics labels.
///
/// # Errors
/// [`Error::Config`] for any other name.
pub fn check_tenant_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_TENANT || !name.chars().all(ok_char) {
        return Err(Error::Config(format!(
            "tenant name must be 1 to {MAX_TENANT} characters of A-Z, a-z, 0-9, '.', '_', '-'"
        )));
    }
    Ok(())
}

/// Creates a new API token for `tenant` and returns it. Only its hash is
/// stored, so this is the one time the token can be shown. Ends with a
/// durability point.
///
/// # Errors
/// [`Error::Config`] for a bad tenant name; RNG and store errors.
pub fn add_token(store: &dyn Store, tenant: &str) -> Result<String> {
    check_tenant_name(tenant)?;
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    loop {
        getrandom::fill(&mut id).map_err(|e| Error::Crypto(format!("OS RNG: {e}")))?;
        // 64-bit ids collide essentially never; checking keeps a collision from
        // silently replacing another tenant's token.
        if store.get(Table::Meta, &record_key(&id))?.is_none() {
            break;
        }
    }
    getrandom::fill(&mut secret).map_err(|e| Error::Crypto(format!("OS RNG: {e}")))?;
    let record = TokenRecord { tenant: tenant.to_owned(), secret_sha256: Sha256::digest(secret).into() };
    let mut batch = WriteBatch::new();
    batch.put(Table::Meta, record_key(&id), protocol::encode(&record));
    store.write(batch)?;
    store.sync()?;
    Ok(format!("{TOKEN_PREFIX}{}_{}", hex::encode(id), hex::encode(secret)))
}

/// The store keys of every token record of `tenant` (for erasure).
///
/// # Errors
/// Store errors; [`Error::DataCorruption`] for an undecodable token record.
pub fn token_keys_of(store: &dyn Store, tenant: &str) -> Result<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    let prefix = record_key(&[0; ID_BYTES]);
    let prefix = &prefix[..prefix.len() - ID_BYTES];
    store.scan_prefix(Table::Meta, prefix, &mut |k, v| {
        let record: TokenRecord = protocol::decode(v).map_err(|e| Error::DataCorruption {
            table: Table::Meta.name(),
            reason: format!("token record does not decode: {e}"),
        })?;
        if record.tenant == tenant {
            keys.push(k.to_vec());
        }
        Ok(true)
    })?;
    Ok(keys)
}

/// The tenant a presented token belongs to, or `None` if it is malformed,
/// unknown or its secret does not match.
///
/// # Errors
/// Store errors; [`Error::DataCorruption`] for an undecodable token record.
pub fn authenticate(store: &dyn Store, token: &str) -> Result<Option<String>> {
    let Some((id, secret)) = parse(token) else { return Ok(None) };
    let Some(bytes) = store.get(Table::Meta, &record_key(&id))? else { return Ok(None) };
    let record: TokenRecord = protocol::decode(&bytes).map_err(|e| Error::DataCorruption {
        table: Table::Meta.name(),
        reason: format!("token record does not decode: {e}"),
    })?;
    let presented: [u8; 32] = Sha256::digest(secret).into();
    if bool::from(presented.ct_eq(&record.secret_sha256)) { Ok(Some(record.tenant)) } else { Ok(None) }
}

fn parse(token: &str) -> Option<([u8; ID_BYTES], [u8; SECRET_BYTES])> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id_hex, secret_hex) = rest.split_once('_')?;
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    hex::decode_to_slice(id_hex, &mut id).ok()?;
    hex::decode_to_slice(secret_hex, &mut secret).ok()?;
    Some((id, secret))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::MemoryStore;
    use crate::store::keyspace::keyspace;

    #[test]
    fn tokens_authenticate_their_tenant_only() {
        let store = MemoryStore::new();
        let a = add_token(&store, "alpha").unwrap();
        let b = add_token(&store, "beta").unwrap();
        assert_ne!(a, b);
        assert_eq!(authenticate(&store, &a).unwrap().as_deref(), Some("alpha"));
        assert_eq!(authenticate(&store, &b).unwrap().as_deref(), Some("beta"));
        // Another secret under a's id, garbage, and an empty token all fail.
        let forged = format!("{}{}", &a[..a.len() - 1], if a.ends_with('0') { '1' } else { '0' });
        for bad in [forged.as_str(), "", "sseek_", "sseek_zz_zz", "Bearer x", &a[..a.len() - 2]] {
            assert_eq!(authenticate(&store, bad).unwrap(), None, "{bad:?}");
        }
    }

    #[test]
    fn only_hashes_are_stored_and_no_tenant_reaches_them() {
        let store = MemoryStore::new();
        let t = add_token(&store, "alpha").unwrap();
        let secret = t.rsplit('_').next().unwrap();
        let mut found = Vec::new();
        store
            .scan_prefix(Table::Meta, &[], &mut |k, v| {
                found.push((k.to_vec(), v.to_vec()));
                Ok(true)
            })
            .unwrap();
        assert_eq!(found.len(), 1);
        let (k, v) = &found[0];
        assert_eq!(k[0], 0);
        assert!(!hex::encode(v).contains(secret));
        // No tenant keyspace starts with 0.
        for name in ["a", "alpha", &"x".repeat(MAX_TENANT)] {
            assert_ne!(keyspace(name)[0], 0);
        }
    }

    #[test]
    fn tenant_names_are_checked() {
        assert!(check_tenant_name("acme-1.prod_x").is_ok());
        for bad in ["", "a b", "ä", "a/b", &"x".repeat(MAX_TENANT + 1)] {
            assert!(check_tenant_name(bad).is_err(), "{bad:?}");
        }
    }
}
