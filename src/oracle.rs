//! The plaintext oracle: an ordinary inverted index over the same extracted
//! terms, with no cryptography and no truncation. Every search path is
//! checked against it.
//!
//! It is deliberately built differently from the blind indexes: one bitmap per
//! (field, value), and compound terms are evaluated as intersections over
//! their fields, not through value tuples.

use std::collections::HashMap;

use roaring::{MultiOps, RoaringBitmap};

use crate::message::IndexSpec;
use crate::message::{Field, Terms};
use crate::protocol::DocId;
use crate::query::Query;
use crate::{Error, Result};

/// A plaintext inverted index.
#[derive(Debug, Default, Clone)]
pub struct PlainIndex {
    postings: HashMap<Field, HashMap<String, RoaringBitmap>>,
    documents: RoaringBitmap,
}

impl PlainIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one document's terms.
    pub fn add(&mut self, id: DocId, terms: &Terms) {
        self.documents.insert(id);
        for (field, values) in terms {
            let m = self.postings.entry(*field).or_default();
            for v in values {
                m.entry(v.to_owned()).or_default().insert(id);
            }
        }
    }

    /// Number of documents.
    pub fn len(&self) -> u64 {
        self.documents.len()
    }

    /// Whether no document was added.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The documents holding `value` in `field`.
    pub fn lookup(&self, field: Field, value: &str) -> RoaringBitmap {
        self.postings.get(&field).and_then(|m| m.get(value)).cloned().unwrap_or_default()
    }

    /// Values of a field with their document frequencies.
    pub fn frequencies(&self, field: Field) -> Vec<(&str, u64)> {
        self.postings.get(&field).map(|m| m.iter().map(|(k, b)| (k.as_str(), b.len())).collect()).unwrap_or_default()
    }

    /// Evaluates a query.
    ///
    /// # Errors
    /// [`Error::Query`] for an unknown index.
    pub fn eval(&self, query: &Query, specs: &[IndexSpec]) -> Result<RoaringBitmap> {
        match query {
            Query::Term { index, values } => {
                let spec = specs
                    .iter()
                    .find(|s| &s.name == index)
                    .ok_or_else(|| Error::Query(format!("unknown index {index:?}")))?;
                if spec.fields.len() != values.len() {
                    return Ok(RoaringBitmap::new());
                }
                Ok(spec.fields.iter().zip(values).map(|(f, v)| self.lookup(*f, v)).intersection())
            }
            Query::And(qs) => qs.iter().map(|q| self.eval(q, specs)).intersection(),
            Query::Or(qs) => qs.iter().map(|q| self.eval(q, specs)).union(),
        }
    }
}
