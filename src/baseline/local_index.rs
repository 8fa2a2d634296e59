//! The local-index variant's plaintext inverted index on the device.

use std::collections::HashMap;

use roaring::{MultiOps, RoaringBitmap};

use crate::protocol::DocId;
use crate::query::Query;
use crate::sse::{self, Keyword};

/// The device's own plaintext inverted index: one bitmap per SSE-style
/// keyword (index name and value tuple). Built independently of
/// [`crate::oracle::PlainIndex`], which keys by field and intersects
/// compound terms, so comparing the two checks something.
#[derive(Debug, Default, Clone)]
pub(super) struct LocalIndex {
    postings: HashMap<Keyword, RoaringBitmap>,
}

impl LocalIndex {
    /// Adds document `id` under each of its keywords.
    pub(super) fn add(&mut self, id: DocId, keywords: Vec<Keyword>) {
        for k in keywords {
            self.postings.entry(k).or_default().insert(id);
        }
    }

    /// Size of the index: keywords plus serialized bitmaps.
    pub(super) fn bytes(&self) -> u64 {
        self.postings.iter().map(|(k, b)| (k.len() + b.serialized_size()) as u64).sum()
    }

    /// The ids matching `query`.
    pub(super) fn eval(&self, query: &Query) -> RoaringBitmap {
        match query {
            Query::Term { index, values } => {
                let v: Vec<&str> = values.iter().map(String::as_str).collect();
                self.postings.get(&sse::keyword(index, &v)).cloned().unwrap_or_default()
            }
            Query::And(qs) => qs.iter().map(|q| self.eval(q)).intersection(),
            Query::Or(qs) => qs.iter().map(|q| self.eval(q)).union(),
        }
    }
}
