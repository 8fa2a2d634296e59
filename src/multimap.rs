//! The plaintext database every scheme indexes: keywords, the multimap
//! from keyword to document ids, and updates. Client-side data that never
//! crosses the boundary as such; it is base vocabulary because schemes,
//! declared leakage and the evaluation all speak of it.
//!
//! **Keywords.** An SSE keyword is one value of one index spec
//! ([`keyword`]): `body:noon`, or the tuple `from+day:ann@x,2002-08-22` for a
//! compound spec, length-prefixed so that no two different pairs share an
//! encoding.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::message::{IndexSpec, Terms};
use crate::protocol::DocId;

/// An SSE keyword: an index name and its value tuple, length-prefixed so that
/// no two different pairs share an encoding.
pub type Keyword = Vec<u8>;

/// A plaintext multimap from keyword to ascending, distinct document ids: the
/// input of a static setup.
pub type MultiMap = BTreeMap<Keyword, Vec<DocId>>;

/// The keyword of a value tuple of an index.
pub fn keyword(index: &str, values: &[&str]) -> Keyword {
    let mut k = Vec::with_capacity(index.len() + values.iter().map(|v| v.len() + 4).sum::<usize>() + 4);
    for part in std::iter::once(index).chain(values.iter().copied()) {
        // u32 lengths: no part of a message comes near 4 GiB, so the encoding stays injective.
        k.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        k.extend_from_slice(part.as_bytes());
    }
    k
}

/// The keywords of one message's terms under `specs`.
pub fn keywords_of(terms: &Terms, specs: &[IndexSpec]) -> Vec<Keyword> {
    specs.iter().flat_map(|s| s.values(terms).into_iter().map(|v| keyword(&s.name, &v))).collect()
}

/// The multimap of a batch of documents: every keyword of every spec with its ids.
pub fn multimap<T: Borrow<Terms> + Sync>(docs: &[(DocId, T)], specs: &[IndexSpec]) -> MultiMap {
    let pairs: Vec<(Keyword, DocId)> = docs
        .par_iter()
        .flat_map_iter(|(id, t)| keywords_of(t.borrow(), specs).into_iter().map(move |k| (k, *id)))
        .collect();
    let mut map: HashMap<Keyword, Vec<DocId>> = HashMap::new();
    for (k, id) in pairs {
        map.entry(k).or_default().push(id);
    }
    map.into_iter()
        .map(|(k, mut ids)| {
            ids.sort_unstable();
            ids.dedup();
            (k, ids)
        })
        .collect()
}

/// The plaintext answer of a conjunction: the ids (ascending) on the list
/// of every one of `keywords` in `db`; none for no keywords.
pub fn conjunction<K: AsRef<[u8]>>(db: &MultiMap, keywords: &[K]) -> Vec<DocId> {
    let mut lists: Vec<&[DocId]> = keywords.iter().map(|k| db.get(k.as_ref()).map_or(&[][..], Vec::as_slice)).collect();
    lists.sort_by_key(|l| l.len());
    let Some((first, rest)) = lists.split_first() else { return Vec::new() };
    first.iter().copied().filter(|id| rest.iter().all(|l| l.binary_search(id).is_ok())).collect()
}

/// Number of (keyword, document) pairs of a multimap.
pub fn pair_count(db: &MultiMap) -> usize {
    db.values().map(Vec::len).sum()
}

/// Whether an update adds or deletes a (keyword, document) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UpdateOp {
    /// Add the pair.
    Add,
    /// Delete the pair.
    Delete,
}

/// One update of a dynamic scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Add or delete.
    pub op: UpdateOp,
    /// The keyword.
    pub keyword: Keyword,
    /// The document.
    pub id: DocId,
}

/// The updates adding (or deleting) every keyword of a batch of documents.
pub fn updates_of<T: Borrow<Terms>>(docs: &[(DocId, T)], specs: &[IndexSpec], op: UpdateOp) -> Vec<Update> {
    docs.iter()
        .flat_map(|(id, t)| {
            keywords_of(t.borrow(), specs).into_iter().map(move |keyword| Update { op, keyword, id: *id })
        })
        .collect()
}
