//! The SSE keyword encoding (`sseek::sse::keyword`) is injective: distinct
//! (index, values) pairs never share an encoding. Every per-keyword key is an
//! HMAC of this encoding, so a collision would merge two keywords' lists.

#![allow(clippy::unwrap_used)]

use proptest::collection::vec;
use proptest::prelude::*;
use sseek::sse::keyword;

/// Reads an encoding back into its parts: each part is a 4-byte big-endian
/// length and that many bytes. `None` if the bytes are not such a sequence.
fn parts(mut bytes: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let part = rest.get(..len)?;
        out.push(String::from_utf8(part.to_vec()).ok()?);
        bytes = &rest[len..];
    }
    Some(out)
}

/// Parts from a tiny alphabet, including the separators a naive encoding
/// would use, so that equal concatenations of different splits are common.
fn part() -> impl Strategy<Value = String> {
    "[ab:,+\u{0}]{0,3}"
}

proptest! {
    /// The encoding has a left inverse: the parts come back, index first.
    #[test]
    fn keyword_decodes_to_its_parts(index in ".{0,10}", values in vec(".{0,10}", 0..4)) {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut expected = vec![index.clone()];
        expected.extend(values.iter().cloned());
        prop_assert_eq!(parts(&keyword(&index, &refs)), Some(expected));
    }

    /// Two pairs have the same encoding exactly when they are the same pair.
    #[test]
    fn equal_keywords_only_for_equal_pairs(
        a in (part(), vec(part(), 0..3)),
        b in (part(), vec(part(), 0..3)),
    ) {
        let enc = |(index, values): &(String, Vec<String>)| {
            keyword(index, &values.iter().map(String::as_str).collect::<Vec<_>>())
        };
        prop_assert_eq!(enc(&a) == enc(&b), a == b, "{:?} {:?}", a, b);
    }
}

/// The cases a separator-based encoding would get wrong.
#[test]
fn shifted_boundaries_differ() {
    assert_ne!(keyword("ab", &["c"]), keyword("a", &["bc"]));
    assert_ne!(keyword("a", &["b", ""]), keyword("a", &["b"]));
    assert_ne!(keyword("a:b", &[]), keyword("a", &["b"]));
    assert_ne!(keyword("from+day", &["x,y"]), keyword("from+day", &["x", "y"]));
}
