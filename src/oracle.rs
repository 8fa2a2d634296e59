//! The plaintext oracle: an ordinary inverted index over the same extracted
//! terms, with no cryptography and no truncation. Every search path is
//! checked against it.
//!
//! It is deliberately built differently from the blind indexes: one bitmap per
//! (field, value), and compound terms are evaluated as intersections over
//! their fields, not through value tuples.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::blind::IndexSpec;
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
                m.entry(v.clone()).or_default().insert(id);
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

    /// Distinct values and (value, document) pairs of an index spec, for the planner.
    /// For compound indexes this is an upper bound (product of per-field counts, capped by documents).
    pub fn index_statistics(&self, spec: &IndexSpec) -> (u64, u64) {
        if let [field] = spec.fields.as_slice() {
            let m = self.postings.get(field);
            let distinct = m.map_or(0, |m| m.len() as u64);
            let pairs = m.map_or(0, |m| m.values().map(RoaringBitmap::len).sum());
            (distinct, pairs)
        } else {
            let distinct = spec
                .fields
                .iter()
                .map(|f| self.postings.get(f).map_or(1, |m| m.len() as u64))
                .fold(1u64, u64::saturating_mul)
                .min(self.documents.len().max(1));
            (distinct, self.documents.len())
        }
    }

    /// Evaluates a query.
    ///
    /// # Errors
    /// [`Error::Query`] for an unknown index.
    pub fn eval(&self, query: &Query, specs: &[IndexSpec]) -> Result<RoaringBitmap> {
        Ok(match query {
            Query::Term { index, values } => {
                let spec = specs
                    .iter()
                    .find(|s| &s.name == index)
                    .ok_or_else(|| Error::Query(format!("unknown index {index:?}")))?;
                if spec.fields.len() != values.len() {
                    return Ok(RoaringBitmap::new());
                }
                let mut acc: Option<RoaringBitmap> = None;
                for (f, v) in spec.fields.iter().zip(values) {
                    let b = self.lookup(*f, v);
                    acc = Some(match acc {
                        None => b,
                        Some(a) => a & b,
                    });
                }
                acc.unwrap_or_default()
            }
            Query::And(qs) => {
                let mut acc: Option<RoaringBitmap> = None;
                for q in qs {
                    let b = self.eval(q, specs)?;
                    acc = Some(match acc {
                        None => b,
                        Some(a) => a & b,
                    });
                }
                acc.unwrap_or_default()
            }
            Query::Or(qs) => {
                let mut acc = RoaringBitmap::new();
                for q in qs {
                    acc |= self.eval(q, specs)?;
                }
                acc
            }
        })
    }
}
