//! Keyword extraction: Unicode-aware lowercasing and word splitting (UAX #29),
//! a stop-word list and optional Snowball stemming.
//!
//! The same [`Tokenizer`] feeds every index and the plaintext oracle, so a
//! difference between them can only come from the index, never from extraction.
//!
//! ```
//! use sseek::text::Tokenizer;
//! let t = Tokenizer::default();
//! let words = t.keywords("The Quick brown FOX, the lazy dog's bone!");
//! assert!(words.contains("quick") && words.contains("fox"));
//! assert!(!words.contains("the")); // stop word
//! ```

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// English stop words (the common NLTK-style list), sorted for binary search.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// The longest stop word, in bytes.
const STOP_WORD_MAX: usize = 10;

/// A word of at most 16 bytes as one integer, its bytes big-endian then
/// zero-padded, so integer order is byte order: keyword extraction keeps,
/// sorts and checks stop words on integers, not strings.
const fn packed(word: &[u8]) -> u128 {
    let mut v = 0u128;
    let mut i = 0;
    while i < 16 {
        v <<= 8;
        if i < word.len() {
            v |= word[i] as u128;
        }
        i += 1;
    }
    v
}

/// Slots of [`STOP_TABLE`]: a power of two, twice the stop words.
const STOP_SLOTS: usize = 256;

/// The first slot to probe for a packed word of at most 10 bytes.
#[allow(clippy::cast_possible_truncation)] // Truncation is the point: bytes 0-7, bytes 8-9, the top 8 bits.
const fn stop_slot(p: u128) -> usize {
    let (head, tail) = ((p >> 64) as u64, (p >> 48) as u64 & 0xffff);
    ((head ^ tail.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as usize
}

/// [`STOP_WORDS`] packed in an open-addressing table (linear probing, 0
/// for an empty slot), built at compile time: a lookup is a hash and a
/// probe or two, with fewer unpredictable branches than a binary search.
const STOP_TABLE: [u128; STOP_SLOTS] = {
    let mut table = [0u128; STOP_SLOTS];
    let mut i = 0;
    while i < STOP_WORDS.len() {
        let p = packed(STOP_WORDS[i].as_bytes());
        let mut slot = stop_slot(p);
        while table[slot] != 0 {
            slot = (slot + 1) % STOP_SLOTS;
        }
        table[slot] = p;
        i += 1;
    }
    table
};

/// Whether a packed, lowercased word (see [`packed`]) is a stop word.
#[inline]
fn is_stop_packed(p: u128) -> bool {
    // No stop word is longer than 10 bytes: bytes 10 to 15 must be padding.
    if p & (u128::MAX >> (8 * STOP_WORD_MAX)) != 0 {
        return false;
    }
    let mut slot = stop_slot(p);
    loop {
        // Empty slot first: the empty word (0) is no stop word.
        match STOP_TABLE[slot] {
            0 => return false,
            s if s == p => return true,
            _ => slot = (slot + 1) % STOP_SLOTS,
        }
    }
}

/// Returns true if `word` (already lowercased) is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    // No stop word holds a zero byte, so padding cannot make two words equal.
    word.len() <= STOP_WORD_MAX && !word.as_bytes().contains(&0) && is_stop_packed(packed(word.as_bytes()))
}

/// Splits text into normalized keywords.
pub struct Tokenizer {
    stop_words: bool,
    stemmer: Option<Stemmer>,
    min_chars: usize,
    max_chars: usize,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("stop_words", &self.stop_words)
            .field("stemming", &self.stemmer.is_some())
            .field("min_chars", &self.min_chars)
            .field("max_chars", &self.max_chars)
            .finish()
    }
}

impl Default for Tokenizer {
    /// Stop words removed, no stemming, words of 2 to 32 characters.
    fn default() -> Self {
        Tokenizer { stop_words: true, stemmer: None, min_chars: 2, max_chars: 32 }
    }
}

impl Tokenizer {
    /// Turns English Snowball stemming on or off.
    #[must_use]
    pub fn with_stemming(mut self, on: bool) -> Self {
        self.stemmer = on.then(|| Stemmer::create(Algorithm::English));
        self
    }

    /// Keeps or drops stop words.
    #[must_use]
    pub fn with_stop_words_removed(mut self, on: bool) -> Self {
        self.stop_words = on;
        self
    }

    /// Whether stemming is on.
    pub fn stemming(&self) -> bool {
        self.stemmer.is_some()
    }

    /// Normalizes one word the way [`Tokenizer::keywords`] would, or `None` if
    /// the word would be dropped (stop word, too short, too long). Use it on
    /// query terms so queries and indexes agree.
    pub fn normalize(&self, word: &str) -> Option<String> {
        let lower = word.to_lowercase();
        let n = lower.chars().count();
        if n < self.min_chars || n > self.max_chars {
            return None;
        }
        if self.stop_words && is_stop_word(&lower) {
            return None;
        }
        Some(match &self.stemmer {
            Some(s) => s.stem(&lower).into_owned(),
            None => lower,
        })
    }

    /// The distinct keywords of `text`: its UAX #29 words, each
    /// [normalized](Tokenizer::normalize).
    ///
    /// ASCII stretches take a fast path: one scan of the bytes by the same
    /// rules, each word of 2 to 32 bytes lowercased and kept once as an
    /// integer, and only the distinct ones checked against the stop words,
    /// stemmed and turned into strings. Only the stretches around non-ASCII
    /// characters go through the Unicode segmenter; they end where no UAX
    /// #29 rule looks across (after a line feed, or between a space and
    /// an ASCII character other than a space), so cutting there changes no
    /// word.
    pub fn keywords(&self, text: &str) -> BTreeSet<String> {
        self.keyword_set(text).iter().map(str::to_owned).collect()
    }

    /// The keywords of [`Tokenizer::keywords`] as one [`KeywordSet`]: the
    /// form the indexing path keeps ([`crate::message::Terms`]), two
    /// allocations whatever the number of keywords.
    ///
    /// ```
    /// use sseek::text::Tokenizer;
    /// let t = Tokenizer::default();
    /// let set = t.keyword_set("The cat saw the other CAT");
    /// assert_eq!(set.iter().collect::<Vec<_>>(), ["cat", "saw"]);
    /// assert!(set.iter().eq(t.keywords("The cat saw the other CAT").iter()));
    /// ```
    pub fn keyword_set(&self, text: &str) -> KeywordSet {
        let mut out = KeywordSet::new();
        self.keywords_into(text, &mut out);
        out
    }

    /// [`Tokenizer::keyword_set`] into `out`, replacing what it held and
    /// reusing its buffers: a caller that drops each set before the next
    /// allocates nothing at all.
    pub fn keywords_into(&self, text: &str, out: &mut KeywordSet) {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.keywords_with(&mut scratch, text, out),
            // Never reentered today; a fresh scratch keeps such a call correct.
            Err(_) => self.keywords_with(&mut Scratch::default(), text, out),
        });
    }

    /// [`Tokenizer::keywords_into`] with the tables of `scratch`, empty before and after.
    fn keywords_with(&self, scratch: &mut Scratch, text: &str, out: &mut KeywordSet) {
        // About one distinct word per 16 bytes of mail.
        scratch.short.reset(text.len() / 16);
        let bytes = text.as_bytes();
        let mut words = Distinct { t: self, scratch, other: Vec::new() };
        let mut pos = 0;
        while let Some(first) = first_non_ascii(&bytes[pos..]).map(|i| pos + i) {
            let (start, end) = (island_start(bytes, pos, first), island_end(bytes, first));
            words.ascii_text(&bytes[pos..start]);
            for w in text[start..end].unicode_words() {
                words.word(w);
            }
            pos = end;
        }
        words.ascii_text(&bytes[pos..]);
        words.finish(out);
    }

    /// [`Tokenizer::keywords`] the slow way, every word through the
    /// Unicode segmenter and [`Tokenizer::normalize`]: the reference the
    /// fast path is tested and benchmarked against (same output, several
    /// times slower).
    ///
    /// ```
    /// use sseek::text::Tokenizer;
    /// let t = Tokenizer::default();
    /// let text = "Grüße, 3.14 and e.g. ann@example.com!\nPlain ASCII line.";
    /// assert_eq!(t.keywords(text), t.keywords_reference(text));
    /// ```
    pub fn keywords_reference(&self, text: &str) -> BTreeSet<String> {
        text.unicode_words().filter_map(|w| self.normalize(w)).collect()
    }
}

/// A sorted set of distinct strings in one buffer: the keywords of a text
/// as [`Tokenizer::keyword_set`] returns them, and the values of each field
/// of [`crate::message::Terms`]. Two allocations however many strings,
/// where a `BTreeSet<String>` makes one per string; iteration is in
/// ascending byte order, as a `BTreeSet<String>`'s.
///
/// ```
/// use sseek::text::KeywordSet;
/// let set: KeywordSet = ["b", "a", "b", "ab"].into_iter().collect();
/// assert_eq!(set.iter().collect::<Vec<_>>(), ["a", "ab", "b"]);
/// assert!(set.contains("ab") && !set.contains("c"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct KeywordSet {
    /// The strings, concatenated in ascending order.
    text: String,
    /// Where each string ends in `text`.
    ends: Vec<usize>,
}

impl KeywordSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the set holds no string.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`-th string in ascending order.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Whether the set holds `word` (a binary search).
    pub fn contains(&self, word: &str) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).unwrap_or_default().cmp(word) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// The strings in ascending order.
    pub fn iter(&self) -> KeywordIter<'_> {
        KeywordIter { set: self, front: 0, back: self.len() }
    }

    /// Empties the set, keeping its buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
}

impl fmt::Debug for KeywordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for KeywordSet {
    /// The distinct strings of `iter`, sorted.
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut words: Vec<S> = iter.into_iter().collect();
        words.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
        words.dedup_by(|a, b| a.as_ref() == b.as_ref());
        let mut set = KeywordSet {
            text: String::with_capacity(words.iter().map(|w| w.as_ref().len()).sum()),
            ends: Vec::with_capacity(words.len()),
        };
        for w in &words {
            set.text.push_str(w.as_ref());
            set.ends.push(set.text.len());
        }
        set
    }
}

impl<'a> IntoIterator for &'a KeywordSet {
    type Item = &'a str;
    type IntoIter = KeywordIter<'a>;
    fn into_iter(self) -> KeywordIter<'a> {
        self.iter()
    }
}

/// The strings of a [`KeywordSet`], in ascending order.
#[derive(Debug, Clone)]
pub struct KeywordIter<'a> {
    set: &'a KeywordSet,
    /// The next string from the front.
    front: usize,
    /// One past the next string from the back.
    back: usize,
}

impl<'a> Iterator for KeywordIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.set.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.back - self.front, Some(self.back - self.front))
    }
}

impl DoubleEndedIterator for KeywordIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        self.set.get(self.back)
    }
}

impl ExactSizeIterator for KeywordIter<'_> {}

/// The longest word [`Distinct`] keeps as integers, in bytes.
const PACKED_MAX: usize = 32;

/// Tables of [`Tokenizer::keywords`], kept from call to call on each
/// thread so a call allocates only its output.
#[derive(Default)]
struct Scratch {
    /// Distinct ASCII words of up to 16 bytes, lowercased and packed as in [`packed`].
    short: WordTable,
    /// Distinct ASCII words of 17 to 32 bytes, as two packed halves.
    long: HashSet<(u128, u128), RandomState>,
    /// The short words kept, to sort.
    sorted: Vec<u128>,
    /// The long words, to sort.
    sorted_long: Vec<(u128, u128)>,
    /// The ASCII words kept, written out before stemming or merging with
    /// the non-ASCII ones.
    raw: Vec<u8>,
}

/// Entries above which a [`Scratch`] table is dropped after use rather
/// than kept, so one huge text neither stays in memory nor makes every
/// later call clear a huge table.
const SCRATCH_MAX: usize = 1 << 10;

/// A set of packed words (never 0): open addressing with linear probing
/// in a table at most half full, hashed with a per-process random key so
/// crafted words cannot all land in one run of slots.
#[derive(Default)]
struct WordTable {
    slots: Vec<u128>,
    hasher: RandomState,
    len: usize,
}

impl WordTable {
    /// Empties the table and sizes it for about `words` distinct words.
    fn reset(&mut self, words: usize) {
        let slots = (2 * words).next_power_of_two().max(64);
        self.slots.clear();
        self.slots.resize(slots, 0);
        self.len = 0;
    }

    /// Empties the table, dropping a large one (the next [`WordTable::reset`] sizes it again).
    fn clear(&mut self) {
        if self.slots.len() > SCRATCH_MAX {
            self.slots = Vec::new();
        }
        self.len = 0;
    }

    /// The first slot to probe for `p`.
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // Only the low bits of the hash index the table.
    fn slot(&self, p: u128) -> usize {
        self.hasher.hash_one(p) as usize & (self.slots.len() - 1)
    }

    /// Adds `p`; true if it was not there. `all` holds every word added.
    #[inline]
    fn insert(&mut self, p: u128, all: &[u128]) -> bool {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow(all);
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot(p);
        loop {
            let s = self.slots[i];
            if s == p {
                return false;
            }
            if s == 0 {
                self.slots[i] = p;
                self.len += 1;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table (at least 64 slots) and adds `all` again.
    #[cold]
    fn grow(&mut self, all: &[u128]) {
        let slots = (2 * self.slots.len()).max(64);
        self.slots.clear();
        self.slots.resize(slots, 0);
        self.len = 0;
        for &p in all {
            self.insert(p, &[]);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The distinct words of one text while it is scanned. ASCII words are
/// kept as integers, so a repeated word costs one integer hash and no
/// allocation; others are kept normalized.
struct Distinct<'a> {
    t: &'a Tokenizer,
    scratch: &'a mut Scratch,
    /// Non-ASCII words (and ASCII ones too long to pack), normalized.
    other: Vec<String>,
}

impl Distinct<'_> {
    /// Adds the words of ASCII text (see [`ascii_words`]).
    fn ascii_text(&mut self, bytes: &[u8]) {
        ascii_words(bytes, |start, end| self.ascii_word(bytes, start, end));
    }

    /// Adds one word of the Unicode segmenter.
    fn word(&mut self, w: &str) {
        if w.is_ascii() {
            self.ascii_word(w.as_bytes(), 0, w.len());
        } else {
            self.other.extend(self.t.normalize(w));
        }
    }

    /// Adds the ASCII word `bytes[start..end]`; the bytes after `end`
    /// only speed up the load.
    #[inline(always)] // Into the scan loop: a call per word shows in profiles.
    fn ascii_word(&mut self, bytes: &[u8], start: usize, end: usize) {
        // In ASCII, characters are bytes.
        let len = end - start;
        if len < self.t.min_chars || len > self.t.max_chars {
            return;
        }
        if len <= 16 {
            let p = lowercase(load(bytes, start, len));
            if self.scratch.short.insert(p, &self.scratch.sorted) {
                self.scratch.sorted.push(p);
            }
        } else if len <= PACKED_MAX {
            let p = (lowercase(load(bytes, start, 16)), lowercase(load(bytes, start + 16, len - 16)));
            if self.scratch.long.insert(p) {
                self.scratch.sorted_long.push(p);
            }
        } else if let Ok(w) = std::str::from_utf8(&bytes[start..end]) {
            // Only if the tokenizer allows words longer than `PACKED_MAX`.
            self.other.extend(self.t.normalize(w));
        }
    }

    /// The keywords into `out` (emptied first): stop words dropped and
    /// stems taken once per distinct word, the words written in order from
    /// the sorted integers. Leaves the scratch tables empty.
    fn finish(self, out: &mut KeywordSet) {
        let Distinct { t, scratch, other } = self;
        let Scratch { short, long, sorted, sorted_long, raw } = &mut *scratch;
        if t.stop_words {
            // Compacted without a branch on each word (half of the distinct words are stop words).
            let mut kept = 0;
            for i in 0..sorted.len() {
                let p = sorted[i];
                sorted[kept] = p;
                kept += usize::from(!is_stop_packed(p));
            }
            sorted.truncate(kept);
        }
        sorted.sort_unstable();
        sorted_long.sort_unstable();
        // The buffer of `out`, reused; turned back into a string (one
        // UTF-8 check of the whole) when written.
        let mut text = std::mem::take(&mut out.text).into_bytes();
        text.clear();
        out.ends.clear();
        if t.stemmer.is_none() && other.is_empty() {
            // The usual case: the ASCII words as they are, already in order.
            write_ascii(sorted, sorted_long, &mut text, &mut out.ends);
        } else {
            raw.clear();
            let mut ends = Vec::new();
            write_ascii(sorted, sorted_long, raw, &mut ends);
            let ascii = std::str::from_utf8(raw).unwrap_or_default();
            let mut starts = std::iter::once(0).chain(ends.iter().copied());
            let mut all: Vec<std::borrow::Cow<'_, str>> = ends
                .iter()
                .zip(&mut starts)
                .map(|(&end, start)| {
                    let w = &ascii[start..end];
                    t.stemmer.as_ref().map_or(std::borrow::Cow::Borrowed(w), |s| s.stem(w))
                })
                .collect();
            all.extend(other.into_iter().map(std::borrow::Cow::Owned));
            // Stems and non-ASCII words fall anywhere in the order, and may repeat.
            all.sort_unstable();
            all.dedup();
            text.reserve_exact(all.iter().map(|w| w.len()).sum());
            out.ends.reserve_exact(all.len());
            for w in &all {
                text.extend_from_slice(w.as_bytes());
                out.ends.push(text.len());
            }
        }
        // Every word written is ASCII or a whole `str`: the check never fails.
        out.text = String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        sorted.clear();
        sorted_long.clear();
        long.clear();
        short.clear();
        if sorted.capacity().max(sorted_long.capacity()).max(long.capacity()) > SCRATCH_MAX
            || raw.capacity() > PACKED_MAX * SCRATCH_MAX
        {
            *scratch = Scratch::default();
        }
    }
}

/// Appends the packed ASCII words `short` and `long` (each sorted) to
/// `text` in string order, pushing where each ends onto `ends`; reserves
/// exactly what they need (and 16 bytes of slack) first.
fn write_ascii(short: &[u128], long: &[(u128, u128)], text: &mut Vec<u8>, ends: &mut Vec<usize>) {
    let len = |p: u128| 16 - (p.trailing_zeros() / 8) as usize;
    let bytes = short.iter().map(|&p| len(p)).sum::<usize>() + long.iter().map(|&(_, b)| 16 + len(b)).sum::<usize>();
    // The slack lets every word be written as whole 16-byte stores, then cut.
    text.reserve_exact(bytes + 16);
    ends.reserve_exact(short.len() + long.len());
    let put = |text: &mut Vec<u8>, p: u128| {
        let at = text.len();
        text.extend_from_slice(&p.to_be_bytes());
        text.truncate(at + len(p));
    };
    // A short word (zero-padded) and a long one compare as their first 16
    // bytes do, the short one first if those are equal (it is a prefix).
    let mut long = long.iter().peekable();
    for &p in short {
        while let Some(&(a, b)) = long.next_if(|(a, _)| *a < p) {
            text.extend_from_slice(&a.to_be_bytes());
            put(text, b);
            ends.push(text.len());
        }
        put(text, p);
        ends.push(text.len());
    }
    for &(a, b) in long {
        text.extend_from_slice(&a.to_be_bytes());
        put(text, b);
        ends.push(text.len());
    }
}

/// `bytes[start..start + len]` (`len` of 1 to 16) packed as in [`packed`].
#[inline]
fn load(bytes: &[u8], start: usize, len: usize) -> u128 {
    match bytes[start..].first_chunk::<16>() {
        // One unaligned load, then the bytes past the word masked off.
        Some(chunk) => u128::from_be_bytes(*chunk) & (u128::MAX << (8 * (16 - len))),
        None => {
            let mut buf = [0u8; 16];
            buf[..len].copy_from_slice(&bytes[start..start + len]);
            u128::from_be_bytes(buf)
        }
    }
}

/// Every byte of a `u128` set to `b`.
const fn splat(b: u8) -> u128 {
    u128::from_ne_bytes([b; 16])
}

/// ASCII lowercasing of the 16 bytes of `v` at once (every byte below
/// 0x80, so no addition carries into the next byte).
#[inline]
fn lowercase(v: u128) -> u128 {
    let at_least_a = v + splat(0x80 - b'A');
    let above_z = v + splat(0x80 - b'Z' - 1);
    v | ((at_least_a & !above_z & splat(0x80)) >> 2)
}

/// The index of the first non-ASCII byte.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    // Whole chunks first: `is_ascii` tests a machine word at a time.
    let mut skipped = 0;
    for chunk in bytes.chunks(64) {
        if !chunk.is_ascii() {
            return chunk.iter().position(|b| !b.is_ascii()).map(|i| skipped + i);
        }
        skipped += chunk.len();
    }
    None
}

/// Whether UAX #29 segments the text before and after `bytes[i]`
/// independently: after a line feed (WB3a, and WB4 does not attach
/// anything to it), or between an ASCII space and an ASCII character
/// other than a space (a space joins only spaces and the Extend, Format
/// and ZWJ characters after it, WB3d and WB4, and no rule that looks
/// further back or ahead than one character matches a space). `i` is
/// above 0 and at most `bytes.len()`.
#[inline]
fn is_cut(bytes: &[u8], i: usize) -> bool {
    match bytes[i - 1] {
        b'\n' => true,
        b' ' => bytes.get(i).is_some_and(|&b| b.is_ascii() && b != b' '),
        _ => false,
    }
}

/// Where the Unicode stretch around the non-ASCII byte at `first` starts:
/// the last cut at or before it, no earlier than `pos` (itself a cut or the
/// start of the text). `bytes[pos..first]` is ASCII.
fn island_start(bytes: &[u8], pos: usize, first: usize) -> usize {
    (pos + 1..=first).rev().find(|&i| is_cut(bytes, i)).unwrap_or(pos)
}

/// Where the Unicode stretch around the non-ASCII byte at `first` ends:
/// the first cut after it, or the end of the text.
fn island_end(bytes: &[u8], first: usize) -> usize {
    (first + 1..bytes.len()).find(|&i| is_cut(bytes, i)).unwrap_or(bytes.len())
}

/// The UAX #29 word-break class of an ASCII byte (WordBreakProperty.txt)
/// as bit flags: `A-Z a-z` ALetter, `0-9` Numeric, `_` ExtendNumLet;
/// `:` (MidLetter) joins letters, `,` `;` (MidNum) join digits, `.`
/// (MidNumLet) and `'` (Single_Quote) join either. Other bytes (white
/// space, newlines, other punctuation, non-ASCII) are 0.
const CLASS: [u8; 256] = {
    let mut c = [0u8; 256];
    let mut b = 0u8;
    while b < 128 {
        c[b as usize] = match b {
            b'a'..=b'z' | b'A'..=b'Z' => LETTER,
            b'0'..=b'9' => DIGIT,
            b'_' => UNDER,
            b':' => JOINS_LETTERS,
            b',' | b';' => JOINS_DIGITS,
            b'.' | b'\'' => JOINS_LETTERS | JOINS_DIGITS,
            _ => 0,
        };
        b += 1;
    }
    c
};
/// ALetter.
const LETTER: u8 = 1;
/// Numeric.
const DIGIT: u8 = 2;
/// ExtendNumLet (`_`).
const UNDER: u8 = 4;
/// Joins two letters (WB6/WB7).
const JOINS_LETTERS: u8 = 8;
/// Joins two digits (WB11/WB12).
const JOINS_DIGITS: u8 = 16;
/// Bytes of a word by themselves (WB5, WB8-WB10, WB13a/b).
const WORD: u8 = LETTER | DIGIT | UNDER;

/// Calls `emit(start, end)` with the byte range of every word of ASCII
/// text, exactly as `unicode_words` splits it: runs of letters, digits and
/// `_`, joined across one `:` `.` `'` between letters or one `,` `;` `.`
/// `'` between digits; a run of `_` alone is no word (it has no
/// alphanumeric character). No ASCII byte is Extend, Format or ZWJ, so WB4
/// never applies.
#[inline]
fn ascii_words(b: &[u8], mut emit: impl FnMut(usize, usize)) {
    let n = b.len();
    let mut i = 0;
    while i < n {
        let first = CLASS[b[i] as usize];
        i += 1;
        if first & WORD == 0 {
            continue;
        }
        let start = i - 1;
        let mut seen = first;
        while i < n {
            // Letters and digits eight at a time; the byte that stops the
            // run (a joiner, `_`, non-ASCII or the end) takes the loop below.
            if let Some(chunk) = b[i..].first_chunk::<8>() {
                let run = alnum_prefix(u64::from_le_bytes(*chunk));
                if run > 0 {
                    // Only whether the word holds a letter or digit matters.
                    seen |= LETTER;
                    i += run;
                    if run == 8 {
                        continue;
                    }
                }
            }
            let c = CLASS[b[i] as usize];
            if c & WORD != 0 {
                seen |= c;
                i += 1;
                continue;
            }
            if c & (JOINS_LETTERS | JOINS_DIGITS) != 0 && i + 1 < n {
                // The byte before is in the word; a join needs the same
                // kind on both sides (`_` joins neither).
                let both = CLASS[b[i - 1] as usize] & CLASS[b[i + 1] as usize];
                if (both & LETTER != 0 && c & JOINS_LETTERS != 0) || (both & DIGIT != 0 && c & JOINS_DIGITS != 0) {
                    i += 2;
                    continue;
                }
            }
            break;
        }
        if seen & (LETTER | DIGIT) != 0 {
            emit(start, i);
        }
    }
}

/// How many of the 8 bytes of `v` (little-endian: the first byte lowest)
/// are ASCII letters or digits before the first that is not, 8 if all are.
#[inline]
fn alnum_prefix(v: u64) -> usize {
    const fn splat8(b: u8) -> u64 {
        u64::from_ne_bytes([b; 8])
    }
    let high = splat8(0x80);
    // Seven bits per byte, so no sum below carries into the next byte.
    let low7 = v & splat8(0x7f);
    let folded = low7 | splat8(0x20);
    let letter = (folded + splat8(0x80 - b'a')) & !(folded + splat8(0x80 - b'z' - 1));
    let digit = (low7 + splat8(0x80 - b'0')) & !(low7 + splat8(0x80 - b'9' - 1));
    let word = (letter | digit) & !v & high;
    ((!word & high).trailing_zeros() / 8) as usize
}

/// Normalizes an e-mail address or user handle: trimmed and lowercased.
pub fn normalize_address(addr: &str) -> String {
    addr.trim().trim_matches(|c| c == '<' || c == '>').to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every form of the fast path on `text` against
    /// [`Tokenizer::keywords_reference`]: the [`KeywordSet`] (fresh, and
    /// reused after a set of other words), its lookups, and the
    /// `BTreeSet`. The first difference, if any.
    fn same_as_reference(t: &Tokenizer, text: &str) -> Result<(), String> {
        let reference = t.keywords_reference(text);
        let set = t.keyword_set(text);
        let mut reused = t.keyword_set("some other words, Grüße and abcdefghijklmnopqrstu");
        t.keywords_into(text, &mut reused);
        if !set.iter().eq(&reference) || set.len() != reference.len() || reused != set {
            return Err(format!("{text:?}: set {set:?}, reused {reused:?}, reference {reference:?}"));
        }
        if !set.iter().rev().eq(reference.iter().rev()) || reference.iter().any(|w| !set.contains(w)) {
            return Err(format!("{text:?}: iteration back or lookup of {set:?}"));
        }
        let keywords = t.keywords(text);
        if keywords != reference {
            return Err(format!("{text:?}: keywords {keywords:?}, reference {reference:?}"));
        }
        Ok(())
    }

    #[test]
    fn keyword_set_is_a_sorted_set() {
        let words = ["b", "", "a", "ab", "b", "é", "ab", "Z", "abc"];
        let set: KeywordSet = words.into_iter().collect();
        let expected: BTreeSet<&str> = words.into_iter().collect();
        assert!(set.iter().eq(expected.iter().copied()));
        assert_eq!(set.len(), expected.len());
        assert_eq!(set.iter().len(), expected.len());
        assert!(set.iter().rev().eq(expected.iter().rev().copied()));
        for w in ["", "a", "ab", "abc", "b", "é", "Z"] {
            assert!(set.contains(w), "{w:?}");
        }
        for w in ["aa", "abcd", "c", "e", "z", "\0"] {
            assert!(!set.contains(w), "{w:?}");
        }
        assert_eq!((set.get(0), set.get(set.len() - 1), set.get(set.len())), (Some(""), Some("é"), None));
        assert_eq!(format!("{set:?}"), format!("{expected:?}"));
        let mut reused = set.clone();
        reused.clear();
        assert!(reused.is_empty() && reused.iter().next().is_none() && !reused.contains(""));
        assert_eq!(reused, KeywordSet::new());
        // Built the same way from any order: equal sets compare equal.
        assert_eq!(set, words.into_iter().rev().collect::<KeywordSet>());
    }

    #[test]
    fn stop_words_sorted() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(STOP_TABLE.iter().filter(|&&p| p != 0).count(), STOP_WORDS.len());
        assert_eq!(STOP_WORDS.iter().map(|w| w.len()).max(), Some(STOP_WORD_MAX));
        for w in STOP_WORDS {
            assert!(is_stop_word(w));
            // Variants around each stop word decide as a search of the list does.
            for v in
                [format!("{w}\0"), format!("{w}s"), w[1..].to_owned(), w[..w.len() - 1].to_owned(), format!("x{w}")]
            {
                assert_eq!(is_stop_word(&v), STOP_WORDS.binary_search(&v.as_str()).is_ok(), "{v:?}");
            }
        }
        for w in ["", "ab", "abouts", "thesee", "yourselvesx", "the\0", "\0"] {
            assert!(!is_stop_word(w), "{w:?}");
        }
    }

    #[test]
    fn unicode_lowercase_and_split() {
        let t = Tokenizer::default();
        let k = t.keywords("Grüße aus KÖLN—straße; ΣΊΣΥΦΟΣ naïve café");
        assert!(k.contains("grüße"));
        assert!(k.contains("köln"));
        assert!(k.contains("straße"));
        assert!(k.contains("σίσυφος"));
        assert!(k.contains("café"));
    }

    #[test]
    fn ascii_words_follow_uax29_edge_cases() {
        for text in [
            "a.b a:b 1:2 1,2 a,b 1.2 a'b 1'2 a.1 1.a _ __ _a a_ a__b 3.14. e.g. x:y:z a..b 'a' :a a: ,1 1,",
            "can't won't O'Neil 1,000,000.50 ann@example.com http://x.example/a_b?c=d&e;f",
            "CR\r\nLF\nVT\x0bFF\x0c tab\tend",
        ] {
            for t in [Tokenizer::default(), Tokenizer::default().with_stop_words_removed(false)] {
                assert_eq!(same_as_reference(&t, text), Ok(()));
            }
        }
        let t = Tokenizer::default().with_stop_words_removed(false);
        let k = t.keywords("a.b 3.14 x:y 1,2 a,b __ _a");
        assert!(k.contains("a.b") && k.contains("3.14") && k.contains("x:y") && k.contains("1,2"));
        assert!(!k.contains("a,b") && k.contains("_a") && !k.contains("__"));
    }

    /// Every message of the shipped corpus, every text field, gives the
    /// same keywords on the fast path as through the Unicode segmenter.
    #[test]
    fn fast_path_equals_reference_on_the_shipped_corpus() {
        let corpus = crate::datasets::load(crate::datasets::SPAMASSASSIN).expect("shipped corpus");
        let tokenizers = [Tokenizer::default(), Tokenizer::default().with_stemming(true)];
        let mut non_ascii = 0;
        for m in &corpus.messages {
            non_ascii += usize::from(!m.body.is_ascii());
            for text in [&m.subject, &m.body] {
                for t in &tokenizers {
                    let reference = t.keywords_reference(text);
                    assert!(t.keyword_set(text).iter().eq(&reference), "{text:?}");
                    assert_eq!(t.keywords(text), reference, "{text:?}");
                }
            }
        }
        // The corpus exercises the mixed path too.
        assert!(non_ascii > 0 && corpus.messages.len() > 1000);
    }

    proptest::proptest! {
        #[test]
        fn fast_path_equals_reference_on_random_unicode(text in ".{0,80}") {
            for t in [Tokenizer::default(), Tokenizer::default().with_stemming(true).with_stop_words_removed(false)] {
                proptest::prop_assert_eq!(same_as_reference(&t, &text), Ok(()));
            }
        }

        #[test]
        fn fast_path_equals_reference_on_ascii_punctuation(
            text in "[a-zA-Z0-9_.,;:'\"@/ \t\r\n\x0b\x0c-]{0,60}",
            tail in "[\u{301}\u{93f}\u{200d}é ß.a]{0,4}",
        ) {
            // Mostly the ASCII path, with some lines that take the Unicode one.
            let text = format!("{text}{tail}{text}");
            for t in [Tokenizer::default(), Tokenizer::default().with_stop_words_removed(false)] {
                proptest::prop_assert_eq!(same_as_reference(&t, &text), Ok(()));
            }
        }
    }

    #[test]
    fn packed_lowercasing_matches_ascii_lowercasing() {
        for b in 1..128u8 {
            for len in [1, 2, 15, 16] {
                let word = vec![b; len];
                let mut lower = word.to_ascii_lowercase();
                lower.resize(16, 0);
                // Loaded from a longer slice (the masked load) and from the word alone (the copy).
                let longer = [word.as_slice(), &[b'Z'; 16]].concat();
                assert_eq!(lowercase(load(&longer, 0, len)).to_be_bytes().to_vec(), lower, "{b} {len}");
                assert_eq!(lowercase(load(&word, 0, len)).to_be_bytes().to_vec(), lower, "{b} {len}");
            }
        }
    }

    #[test]
    fn fast_path_edge_cases() {
        let long32 = "abcdefghijklmnopqrstuvwxyzABCDEF";
        let long33 = "abcdefghijklmnopqrstuvwxyzABCDEFG";
        let lengths = format!("{long32} {long33} {long32}x {}", &long32[..17]);
        for text in [
            "",
            "a",
            "ab AB Ab x",
            long32,
            long33,
            &lengths,
            "THE The tHe Yourselves YOURSELVES ITS it's",
            "café foo\r\nbar café, bar.café x:é 1.٣ a\u{2019}b don\u{2019}t",
            " \u{301}x x \u{93f}y \u{3000} y  \u{a0} z \u{200d}\u{1f600} a \u{ad}b",
            "\u{5d0}\"\u{5d0} \u{5d0}' \u{1f1e6}\u{1f1e6}\u{1f1e6} ｶｶ ｶ_x x_ｶ",
            "İstanbul \u{212a}elvin ΣΊΣΥΦΟΣ STRASSE straße",
            "\n\u{301}a\n \u{301}\n\r\n\u{93f}",
            // Long words between short ones in the order, one a short one's extension.
            "zz abcdefghijklmnopqr abcdefghijklmnop ABCDEFGHIJKLMNOPQ b a1 zzzzzzzzzzzzzzzzzzz abcdefghijklmnoq",
        ] {
            for t in [
                Tokenizer::default(),
                Tokenizer::default().with_stop_words_removed(false),
                Tokenizer::default().with_stemming(true),
            ] {
                assert_eq!(same_as_reference(&t, text), Ok(()));
            }
        }
        let k = Tokenizer::default().keywords(&format!("{long32} {long33} ab a THE"));
        assert_eq!(k, BTreeSet::from([long32.to_lowercase(), "ab".to_owned()]));
    }

    /// Pieces of adversarial text for the fast path, split at `|`: ASCII joiners and
    /// their neighbours, words around the length limits, upper-case stop
    /// words, CRLF, and non-ASCII characters of each word-break class that
    /// could reach across a cut (Extend, Format, ZWJ, WSegSpace, MidNumLet,
    /// Hebrew, Regional_Indicator, Katakana) next to spaces and ASCII.
    const PIECES: &str = "a|Ab|z|7|42|_|:|.|'|,|;| |  |\r\n|\n|\r|\t|\"|-|@|THE|The|YourSelves|ITS|Don't\
        |abcdefghijklmnop|ABCDEFGHIJKLMNOPQ|abcdefghijklmnopqrstuvwxyzabcdef|ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg\
        |3.14|e.g|x:y|é|É|\u{301}|\u{93f}|\u{200d}|\u{ad}|\u{2060}|\u{3000}|\u{a0}|\u{2019}|\u{5d0}\
        |\u{1f1e6}|\u{1f600}|ß|İ|\u{212a}|Σ|ｶ|\u{ff0e}|٣|中文";

    proptest::proptest! {
        #[test]
        fn fast_path_equals_reference_on_adversarial_pieces(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES.split('|').collect::<Vec<_>>()), 0..40),
        ) {
            let text = pieces.concat();
            for t in [
                Tokenizer::default(),
                Tokenizer::default().with_stop_words_removed(false),
                Tokenizer::default().with_stemming(true),
            ] {
                proptest::prop_assert_eq!(same_as_reference(&t, &text), Ok(()));
            }
        }
    }

    #[test]
    fn alnum_prefix_matches_a_byte_loop() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let naive = |c: &[u8; 8]| c.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        // Every byte value at every position after a run of letters and digits.
        for run in 0..8 {
            for &x in &bytes {
                let mut c = *b"aZ09mQ5z";
                c[run] = x;
                assert_eq!(alnum_prefix(u64::from_le_bytes(c)), naive(&c), "{c:?}");
            }
        }
        assert_eq!(alnum_prefix(u64::from_le_bytes(*b"Az09az9Z")), 8);
    }

    proptest::proptest! {
        #[test]
        fn alnum_prefix_matches_a_byte_loop_on_random_words(c in proptest::array::uniform8(proptest::num::u8::ANY)) {
            let naive = c.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
            proptest::prop_assert_eq!(alnum_prefix(u64::from_le_bytes(c)), naive);
        }

        /// Words of 7 to 17 bytes (ending just before, at and after the
        /// 8- and 16-byte loads) followed by a joiner, `_`, non-ASCII or
        /// the end of the text.
        #[test]
        fn word_ends_at_load_boundaries_match_reference(
            parts in proptest::collection::vec(
                (0usize..3, 7usize..18, proptest::sample::select(vec!["", ".", ":", "'", ",", ";", "_", " ", "é", "\u{2019}", "1", "a"])),
                1..6,
            ),
        ) {
            let mut text = String::new();
            for (lead, len, after) in parts {
                text.push_str(&" ".repeat(lead));
                // Letters with a digit here and there, so both kinds reach the loads.
                text.extend(b"abc0efgh1jklm2opqr3"[..len].iter().map(|&b| char::from(b)));
                text.push_str(after);
            }
            for t in [Tokenizer::default(), Tokenizer::default().with_stop_words_removed(false)] {
                proptest::prop_assert_eq!(same_as_reference(&t, &text), Ok(()));
            }
        }
    }

    #[test]
    fn stemming_is_optional() {
        let t = Tokenizer::default().with_stemming(true);
        assert!(t.keywords("running runs").contains("run"));
        assert!(!Tokenizer::default().keywords("running").contains("run"));
    }
}
