//! Client half of the blind indexes: keys, tokens, postings and query tokens.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rayon::prelude::*;
use sha2::Sha256;

use crate::keys::{KeyLabel, MasterKey, Purpose};
use crate::message::{IndexSpec, Terms};
use crate::protocol::{BlindPostings, BlindQuery, BlindToken, DocId, IndexDescriptor};
use crate::query::Query;
use crate::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

struct KeyedIndex {
    descriptor: IndexDescriptor,
    spec: IndexSpec,
    /// Keyed once; cloned per token (re-keying costs about half an HMAC).
    mac: HmacSha256,
}

/// Computes blind tokens for a tenant's indexes.
pub struct BlindIndexer {
    indexes: Vec<KeyedIndex>,
}

impl fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlindIndexer")
            .field("indexes", &self.indexes.iter().map(|i| &i.descriptor).collect::<Vec<_>>())
            .finish()
    }
}

/// The tag a client puts on its tenant's schema: HMAC-SHA256, under a key
/// derived for this purpose alone, of the postcard encoding of the index
/// descriptors (names, fields, token lengths). The tenant and key version
/// are in the key's label. Only holders of the master key can make it, so
/// a server that changes an index or a token length is caught.
///
/// # Errors
/// [`Error::KeyLabel`] for an over-long tenant.
pub fn schema_tag(master: &MasterKey, tenant: &str, key_version: u32, indexes: &[IndexDescriptor]) -> Result<[u8; 32]> {
    let label = KeyLabel::new(tenant, "schema", "indexes", Purpose::Other("schema-tag"), key_version)?;
    let key = master.derive_32(&label);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
    mac.update(&crate::protocol::encode(&indexes));
    Ok(mac.finalize().into_bytes().into())
}

/// Truncates a 64-bit token prefix to its top `bits` bits.
pub fn truncate(x: u64, bits: u8) -> u64 {
    if bits >= 64 { x } else { x >> (64 - u32::from(bits)) }
}

impl BlindIndexer {
    /// Derives one HMAC-SHA256 key per index (label: tenant, `messages`, index
    /// name, purpose `blind-index`, `key_version`).
    ///
    /// # Errors
    /// [`Error::Config`] for a token length outside 1..=64 or duplicate names;
    /// [`Error::KeyLabel`] for over-long names.
    pub fn new(master: &MasterKey, tenant: &str, key_version: u32, descriptors: &[IndexDescriptor]) -> Result<Self> {
        let mut indexes = Vec::with_capacity(descriptors.len());
        for d in descriptors {
            if !(1..=64).contains(&d.bits) {
                return Err(Error::Config(format!("index {}: token length {} bits outside 1..=64", d.name, d.bits)));
            }
            if d.fields.is_empty() {
                return Err(Error::Config(format!("index {} has no fields", d.name)));
            }
            if indexes.iter().any(|k: &KeyedIndex| k.descriptor.name == d.name) {
                return Err(Error::Config(format!("duplicate index name {}", d.name)));
            }
            let key = master.derive_32(&KeyLabel::new(tenant, "messages", &d.name, Purpose::BlindIndex, key_version)?);
            let mac =
                <HmacSha256 as KeyInit>::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
            indexes.push(KeyedIndex { descriptor: d.clone(), spec: IndexSpec::from(d), mac });
        }
        Ok(BlindIndexer { indexes })
    }

    /// The index descriptors.
    pub fn descriptors(&self) -> impl Iterator<Item = &IndexDescriptor> {
        self.indexes.iter().map(|i| &i.descriptor)
    }

    fn position(&self, name: &str) -> Result<usize> {
        self.indexes
            .iter()
            .position(|i| i.descriptor.name == name)
            .ok_or_else(|| Error::Query(format!("unknown index {name:?}")))
    }

    /// The token of a value tuple in index number `idx`: the first 64 bits of
    /// `HMAC(k_index, len(v1) || v1 || len(v2) || v2 ...)`, truncated.
    /// Length prefixes keep `("ab","c")` and `("a","bc")` apart.
    pub fn token_at(&self, idx: usize, values: &[&str]) -> u64 {
        let ix = &self.indexes[idx];
        let mut mac = ix.mac.clone();
        for v in values {
            mac.update(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
            mac.update(v.as_bytes());
        }
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&out[..8]);
        truncate(u64::from_be_bytes(first), ix.descriptor.bits)
    }

    /// The token of a value tuple in the named index.
    ///
    /// # Errors
    /// [`Error::Query`] for an unknown index or a wrong number of values.
    pub fn token(&self, index: &str, values: &[&str]) -> Result<BlindToken> {
        let idx = self.position(index)?;
        let want = self.indexes[idx].descriptor.fields.len();
        if values.len() != want {
            return Err(Error::Query(format!("index {index} takes {want} value(s), got {}", values.len())));
        }
        Ok(BlindToken { index: index.to_owned(), value: self.token_at(idx, values) })
    }

    /// The posting-list additions (or removals) for a batch of documents,
    /// one [`BlindPostings`] per index that has any, in schema order.
    /// Parallel over documents.
    pub fn postings<T: Borrow<Terms> + Sync>(&self, docs: &[(DocId, T)]) -> Vec<BlindPostings> {
        let n = self.indexes.len();
        let maps = docs
            .par_chunks(256)
            .fold(
                || vec![HashMap::<u64, Vec<DocId>>::new(); n],
                |mut maps, chunk| {
                    for (id, terms) in chunk {
                        for (idx, ix) in self.indexes.iter().enumerate() {
                            for tuple in ix.spec.values(terms.borrow()) {
                                let t = self.token_at(idx, &tuple);
                                let list = maps[idx].entry(t).or_default();
                                // Two values of one document may share a token: keep ids unique.
                                if list.last() != Some(id) {
                                    list.push(*id);
                                }
                            }
                        }
                    }
                    maps
                },
            )
            .reduce(
                || vec![HashMap::new(); n],
                |mut a, b| {
                    for (ma, mb) in a.iter_mut().zip(b) {
                        for (t, ids) in mb {
                            ma.entry(t).or_default().extend(ids);
                        }
                    }
                    a
                },
            );
        maps.into_iter()
            .zip(&self.indexes)
            .filter(|(m, _)| !m.is_empty())
            .map(|(m, ix)| {
                let mut postings: Vec<(u64, Vec<DocId>)> = m
                    .into_iter()
                    .map(|(t, mut ids)| {
                        ids.sort_unstable();
                        ids.dedup();
                        (t, ids)
                    })
                    .collect();
                postings.sort_unstable_by_key(|(t, _)| *t);
                BlindPostings { index: ix.descriptor.name.clone(), postings }
            })
            .collect()
    }

    /// Translates a plaintext query into the blind query the server evaluates.
    ///
    /// # Errors
    /// [`Error::Query`] for unknown indexes or wrong arity.
    pub fn blind_query(&self, query: &Query) -> Result<BlindQuery> {
        Ok(match query {
            Query::Term { index, values } => {
                let v: Vec<&str> = values.iter().map(String::as_str).collect();
                BlindQuery::Token(self.token(index, &v)?)
            }
            Query::And(qs) => BlindQuery::And(qs.iter().map(|q| self.blind_query(q)).collect::<Result<_>>()?),
            Query::Or(qs) => BlindQuery::Or(qs.iter().map(|q| self.blind_query(q)).collect::<Result<_>>()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Field;

    #[test]
    fn truncation_keeps_top_bits() {
        assert_eq!(truncate(u64::MAX, 1), 1);
        assert_eq!(truncate(0x8000_0000_0000_0000, 4), 8);
        assert_eq!(truncate(12345, 64), 12345);
    }

    #[test]
    fn compound_values_are_a_product() {
        let mut t = Terms::new();
        t.insert(Field::From, ["a"].into_iter().collect());
        t.insert(Field::To, ["x", "y"].into_iter().collect());
        let s = IndexSpec::compound(&[Field::From, Field::To]);
        assert_eq!(s.values(&t), vec![vec!["a", "x"], vec!["a", "y"]]);
        assert!(IndexSpec::compound(&[Field::From, Field::Day]).values(&t).is_empty());
    }
}
