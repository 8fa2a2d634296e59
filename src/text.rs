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

use std::collections::BTreeSet;
use std::fmt;

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

/// Returns true if `word` (already lowercased) is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
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

    /// The distinct keywords of `text`.
    pub fn keywords(&self, text: &str) -> BTreeSet<String> {
        text.unicode_words().filter_map(|w| self.normalize(w)).collect()
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
    fn stemming_is_optional() {
        let t = Tokenizer::default().with_stemming(true);
        assert!(t.keywords("running runs").contains("run"));
        assert!(!Tokenizer::default().keywords("running").contains("run"));
    }
}
