//! Server half of Pi_bas / Pi_pack: walk the labels of a keyword, open the
//! values if the token allows it. Sees only the token's per-keyword bytes.

use crate::Result;
use crate::primitives::prf::{Domain, Prf, decode_ids};
use crate::protocol::{DocId, SearchResult};
use crate::sse::entries::EntryReader;

/// Answers a token: ids when `value_key` is given (response-revealing),
/// otherwise the encrypted values in counter order.
///
/// # Errors
/// Store errors; [`crate::Error::DataCorruption`] for a value that does not parse.
pub fn search(reader: &EntryReader<'_>, label_key: &[u8; 16], value_key: Option<&[u8; 16]>) -> Result<SearchResult> {
    let label = Prf::new(label_key);
    let labels = |start, n| label.labels(start, n);
    match value_key {
        Some(k) => {
            let value = Prf::new(k);
            let mut ids: Vec<DocId> = Vec::new();
            // One buffer for every value: the store lends them, and each is opened in place here.
            let mut v = Vec::new();
            reader.walk_counters(labels, |c, stored| {
                v.clear();
                v.extend_from_slice(stored);
                value.apply_keystream(Domain::Value, c, &mut v);
                decode_ids(&v, &mut ids)
            })?;
            Ok(SearchResult::Ids(ids))
        }
        None => {
            let mut values = Vec::new();
            reader.walk_counters(labels, |_, v| {
                values.push(v.to_vec());
                Ok(())
            })?;
            Ok(SearchResult::Values(values))
        }
    }
}
