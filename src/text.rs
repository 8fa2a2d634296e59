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

use std::collections::{BTreeSet, HashSet};
use std::fmt;

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
/// zero-padded, so integer order is byte order: the stop-word lookup
/// compares integers, not strings.
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

/// [`STOP_WORDS`] packed, in the same (sorted) order.
const STOP_WORDS_PACKED: [u128; STOP_WORDS.len()] = {
    let mut out = [0u128; STOP_WORDS.len()];
    let mut i = 0;
    while i < STOP_WORDS.len() {
        out[i] = packed(STOP_WORDS[i].as_bytes());
        i += 1;
    }
    out
};

/// Returns true if `word` (already lowercased) is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    // No stop word holds a zero byte, so padding cannot make two words equal.
    word.len() <= STOP_WORD_MAX
        && !word.as_bytes().contains(&0)
        && STOP_WORDS_PACKED.binary_search(&packed(word.as_bytes())).is_ok()
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
    /// Lines of ASCII text take a fast path that splits and lowercases
    /// bytes by the same rules and keeps each distinct word once before
    /// the stop-word check and stemming; other lines go through the
    /// Unicode segmenter. Line feeds are hard word breaks in UAX #29 (no
    /// rule looks across them), so splitting there changes no word.
    pub fn keywords(&self, text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        // ASCII lowercasing keeps every byte offset, so an ASCII word's
        // range in `text` is its lowercased form in `lowered`.
        let lowered = text.to_ascii_lowercase();
        let mut distinct: HashSet<&str, RandomState> =
            HashSet::with_capacity_and_hasher(text.len() / 16, RandomState::default());
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            if line.is_ascii() {
                for (start, end) in AsciiWords::new(line.as_bytes()) {
                    // In ASCII, characters are bytes.
                    if (self.min_chars..=self.max_chars).contains(&(end - start)) {
                        distinct.insert(&lowered[offset + start..offset + end]);
                    }
                }
            } else {
                out.extend(line.unicode_words().filter_map(|w| self.normalize(w)));
            }
            offset += line.len();
        }
        let mut words: Vec<&str> = distinct.into_iter().filter(|w| !(self.stop_words && is_stop_word(w))).collect();
        match &self.stemmer {
            None if out.is_empty() => {
                // Sorted and distinct: the set is built in bulk, not insert by insert.
                words.sort_unstable();
                out = words.into_iter().map(str::to_owned).collect();
            }
            None => out.extend(words.into_iter().map(str::to_owned)),
            Some(s) => out.extend(words.into_iter().map(|w| s.stem(w).into_owned())),
        }
        out
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

/// The UAX #29 word-break class of an ASCII byte (WordBreakProperty.txt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wb {
    /// `A-Z a-z` (ALetter).
    Letter,
    /// `0-9` (Numeric).
    Digit,
    /// `_` (ExtendNumLet).
    Under,
    /// `:` (MidLetter): joins letters only.
    MidLetter,
    /// `,` `;` (MidNum): joins digits only.
    MidNum,
    /// `.` (MidNumLet) and `'` (Single_Quote): join letters or digits.
    MidBoth,
    /// Anything else: white space, newlines, other punctuation.
    Other,
}

fn wb(b: u8) -> Wb {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => Wb::Letter,
        b'0'..=b'9' => Wb::Digit,
        b'_' => Wb::Under,
        b':' => Wb::MidLetter,
        b',' | b';' => Wb::MidNum,
        b'.' | b'\'' => Wb::MidBoth,
        _ => Wb::Other,
    }
}

/// The byte ranges of the words of ASCII text, exactly as
/// `unicode_words` splits it: runs of letters, digits and `_` (WB5,
/// WB8-WB10, WB13a/b), joined across one `:` `.` `'` between letters
/// (WB6/WB7) or one `,` `;` `.` `'` between digits (WB11/WB12); a run of
/// `_` alone is no word (it has no alphanumeric character). No ASCII byte
/// is Extend, Format or ZWJ, so WB4 never applies.
struct AsciiWords<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> AsciiWords<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        AsciiWords { bytes, pos: 0 }
    }
}

impl Iterator for AsciiWords<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let b = self.bytes;
        loop {
            let start = self.pos;
            let first = wb(*b.get(start)?);
            self.pos += 1;
            if !matches!(first, Wb::Letter | Wb::Digit | Wb::Under) {
                continue;
            }
            let (mut last, mut alnum) = (first, first != Wb::Under);
            while let Some(&c) = b.get(self.pos) {
                match wb(c) {
                    c @ (Wb::Letter | Wb::Digit | Wb::Under) => {
                        alnum |= c != Wb::Under;
                        last = c;
                        self.pos += 1;
                    }
                    mid @ (Wb::MidLetter | Wb::MidNum | Wb::MidBoth) => {
                        let next = b.get(self.pos + 1).map_or(Wb::Other, |&n| wb(n));
                        let joins = match (last, next) {
                            (Wb::Letter, Wb::Letter) => matches!(mid, Wb::MidLetter | Wb::MidBoth),
                            (Wb::Digit, Wb::Digit) => matches!(mid, Wb::MidNum | Wb::MidBoth),
                            _ => false,
                        };
                        if !joins {
                            break;
                        }
                        last = next;
                        self.pos += 2;
                    }
                    Wb::Other => break,
                }
            }
            if alnum {
                return Some((start, self.pos));
            }
        }
    }
}

/// Normalizes an e-mail address or user handle: trimmed and lowercased.
pub fn normalize_address(addr: &str) -> String {
    addr.trim().trim_matches(|c| c == '<' || c == '>').to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_sorted() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(STOP_WORDS_PACKED.windows(2).all(|w| w[0] < w[1]));
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
                assert_eq!(t.keywords(text), t.keywords_reference(text), "{text:?}");
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
                    assert_eq!(t.keywords(text), t.keywords_reference(text), "{text:?}");
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
                proptest::prop_assert_eq!(t.keywords(&text), t.keywords_reference(&text));
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
                proptest::prop_assert_eq!(t.keywords(&text), t.keywords_reference(&text));
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
