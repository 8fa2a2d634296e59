//! The distinct keywords of a dynamic scheme's update batch, numbered in
//! the order they first appear: the clients of Mitra and Diana keep one
//! slot per keyword (its counters before and after the batch) and look the
//! keyword's state up once, not once per update.

use std::collections::HashMap;

/// Distinct keywords up to which a keyword is found by a scan, not a hash
/// map: a message names a few keywords, and scanning them beats hashing.
const SMALL_BATCH: usize = 32;

/// The keywords of one batch and their slot numbers.
#[derive(Debug, Default)]
pub(crate) struct BatchKeywords<'a> {
    keywords: Vec<&'a [u8]>,
    /// Filled only once the batch passes [`SMALL_BATCH`] keywords.
    slot_of: HashMap<&'a [u8], usize, foldhash::fast::RandomState>,
}

impl<'a> BatchKeywords<'a> {
    /// The slot of `keyword`, and whether this is its first update in the
    /// batch (the caller then adds the slot's state, so the slot numbers
    /// index the caller's slots too).
    pub(crate) fn slot(&mut self, keyword: &'a [u8]) -> (usize, bool) {
        let known = if self.keywords.len() <= SMALL_BATCH {
            self.keywords.iter().position(|k| *k == keyword)
        } else {
            if self.slot_of.is_empty() {
                self.slot_of.extend(self.keywords.iter().enumerate().map(|(i, k)| (*k, i)));
            }
            self.slot_of.get(keyword).copied()
        };
        if let Some(s) = known {
            return (s, false);
        }
        self.keywords.push(keyword);
        let s = self.keywords.len() - 1;
        if !self.slot_of.is_empty() {
            self.slot_of.insert(keyword, s);
        }
        (s, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots are numbered in first-seen order and stay the same after the
    /// batch switches from scanning to the hash map.
    #[test]
    fn slots_follow_first_appearance_past_the_scan_limit() {
        let words: Vec<Vec<u8>> = (0..3 * SMALL_BATCH).map(|i| format!("w{i}").into_bytes()).collect();
        let mut batch = BatchKeywords::default();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(batch.slot(w), (i, true));
        }
        for (i, w) in words.iter().enumerate().rev() {
            assert_eq!(batch.slot(w), (i, false));
        }
    }
}
