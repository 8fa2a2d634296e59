//! Client-only key material of SSE schemes: one HMAC-SHA256 key per scheme
//! instance and role, and the per-keyword keys derived from it.
//!
//! Server modules never import this module: what they see of a keyword key is
//! the 16 bytes a [`crate::protocol::SearchToken`] carries.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::{KeyLabel, MasterKey, Purpose};
use crate::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// A pair of 16-byte per-keyword keys: `first` and `second` halves of
/// `HMAC-SHA256(scheme key, keyword)`. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeywordKeys {
    /// First half (schemes use it as the label key).
    pub first: [u8; 16],
    /// Second half (schemes use it as the value key).
    pub second: [u8; 16],
}

impl fmt::Debug for KeywordKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeywordKeys(<redacted>)")
    }
}

/// The PRF from keywords to [`KeywordKeys`] for one scheme instance and role.
#[derive(Clone)]
pub struct KeywordPrf {
    /// Keyed once, cloned per keyword (re-keying costs about half an HMAC).
    mac: HmacSha256,
}

impl fmt::Debug for KeywordPrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeywordPrf(<keyed>)")
    }
}

impl KeywordPrf {
    /// Derives the key for `role` of `instance` (label: tenant, `sse:<scheme>`,
    /// `<instance>/<role>`, purpose `sse`, `key_version`).
    ///
    /// # Errors
    /// [`Error::KeyLabel`] for over-long names.
    pub fn new(
        master: &MasterKey,
        tenant: &str,
        scheme: &str,
        instance: &str,
        role: &str,
        key_version: u32,
    ) -> Result<Self> {
        let label =
            KeyLabel::new(tenant, &format!("sse:{scheme}"), &format!("{instance}/{role}"), Purpose::Sse, key_version)?;
        let key = master.derive_32(&label);
        let mac = <HmacSha256 as KeyInit>::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(KeywordPrf { mac })
    }

    /// The keys of one keyword.
    pub fn keys(&self, keyword: &[u8]) -> KeywordKeys {
        self.keys_of_parts(&[keyword])
    }

    /// The keys of the concatenation of `parts`, equal to [`KeywordPrf::keys`]
    /// of the joined bytes, without allocating them (a keyword and its
    /// generation id are keyed on every update).
    pub fn keys_of_parts(&self, parts: &[&[u8]]) -> KeywordKeys {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        let mut out: [u8; 32] = mac.finalize().into_bytes().into();
        let mut k = KeywordKeys { first: [0; 16], second: [0; 16] };
        k.first.copy_from_slice(&out[..16]);
        k.second.copy_from_slice(&out[16..]);
        out.zeroize();
        k
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Keying the parts of an input gives the keys of the joined bytes,
    /// whatever the split, and another input gives other keys.
    #[test]
    fn keys_of_parts_equal_keys_of_the_joined_input() {
        let master = MasterKey::generate().unwrap();
        let prf = KeywordPrf::new(&master, "t", "sse:mitra", "mail", "generation", 1).unwrap();
        let whole = prf.keys(b"body:noon0123456789abcdef");
        for split in [0, 4, 9, 25] {
            let (a, b) = b"body:noon0123456789abcdef".split_at(split);
            let parts = prf.keys_of_parts(&[a, b]);
            assert_eq!((parts.first, parts.second), (whole.first, whole.second), "split at {split}");
        }
        assert_ne!(prf.keys_of_parts(&[b"body:noon", b"0"]).first, whole.first);
    }
}
