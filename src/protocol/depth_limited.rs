//! The decoder of [`BlindQuery`]: the derived one recurses once per level
//! before any check can run, so a 20 KB message nested 10,000 deep overflows
//! the stack. This one carries the depth down and refuses the first level
//! past [`MAX_QUERY_DEPTH`], in the binary and the JSON form alike. Its
//! wire format is the derived one's (the round-trip properties check both).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, SeqAccess, VariantAccess, Visitor};

use super::{BlindQuery, BlindToken, MAX_QUERY_DEPTH};

const VARIANTS: &[&str] = &["Token", "And", "Or"];

/// The variant tag: an index in postcard, a name in JSON.
#[derive(Deserialize)]
#[serde(variant_identifier)]
enum Tag {
    Token,
    And,
    Or,
}

/// A query expected at `depth` (the outermost is at depth 1).
struct QueryAt {
    depth: usize,
}

impl<'de> Deserialize<'de> for BlindQuery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        QueryAt { depth: 1 }.deserialize(deserializer)
    }
}

impl<'de> DeserializeSeed<'de> for QueryAt {
    type Value = BlindQuery;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<BlindQuery, D::Error> {
        if self.depth > MAX_QUERY_DEPTH {
            return Err(de::Error::custom(format!("blind query nested deeper than {MAX_QUERY_DEPTH} levels")));
        }
        deserializer.deserialize_enum("BlindQuery", VARIANTS, self)
    }
}

impl<'de> Visitor<'de> for QueryAt {
    type Value = BlindQuery;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a blind query (Token, And or Or)")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<BlindQuery, A::Error> {
        let (tag, body) = data.variant::<Tag>()?;
        let children = ChildrenAt { depth: self.depth + 1 };
        match tag {
            Tag::Token => body.newtype_variant::<BlindToken>().map(BlindQuery::Token),
            Tag::And => body.newtype_variant_seed(children).map(BlindQuery::And),
            Tag::Or => body.newtype_variant_seed(children).map(BlindQuery::Or),
        }
    }
}

/// The operands of an AND or OR whose own depth is `depth - 1`.
struct ChildrenAt {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ChildrenAt {
    type Value = Vec<BlindQuery>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<BlindQuery>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ChildrenAt {
    type Value = Vec<BlindQuery>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of blind queries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<BlindQuery>, A::Error> {
        // A claimed length is not trusted for allocation: the message may lie.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(q) = seq.next_element_seed(QueryAt { depth: self.depth })? {
            out.push(q);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::protocol::{self, Request};

    fn nested(depth: usize) -> BlindQuery {
        let mut q = BlindQuery::Token(BlindToken { index: "body".into(), value: 7 });
        for level in 1..depth {
            q = if level % 2 == 0 { BlindQuery::And(vec![q]) } else { BlindQuery::Or(vec![q]) };
        }
        q
    }

    /// The binary form of a search whose query is `And` nested `depth` deep,
    /// written byte by byte (the encoder would recurse as deep itself).
    fn deep_and_request(depth: usize) -> Vec<u8> {
        let mut bytes = protocol::PROTOCOL_VERSION.to_be_bytes().to_vec();
        bytes.push(3); // Request::BlindSearch
        for _ in 1..depth {
            bytes.extend_from_slice(&[1, 1]); // And, one operand
        }
        bytes.extend_from_slice(&[0, 4, b'b', b'o', b'd', b'y', 7]); // Token { "body", 7 }
        bytes.push(1); // fetch_documents
        bytes
    }

    #[test]
    fn the_limit_itself_decodes_and_one_more_level_does_not() {
        let at_limit = nested(MAX_QUERY_DEPTH);
        assert_eq!(at_limit.depth(), MAX_QUERY_DEPTH);
        let bytes = protocol::encode(&at_limit);
        assert_eq!(protocol::decode::<BlindQuery>(&bytes).unwrap(), at_limit);
        let json = protocol::to_json(&at_limit).unwrap();
        assert_eq!(protocol::from_json::<BlindQuery>(&json).unwrap(), at_limit);

        let over = nested(MAX_QUERY_DEPTH + 1);
        let err = protocol::decode::<BlindQuery>(&protocol::encode(&over)).unwrap_err().to_string();
        assert!(err.contains("nested deeper"), "{err}");
        let err = protocol::from_json::<BlindQuery>(&protocol::to_json(&over).unwrap()).unwrap_err().to_string();
        assert!(err.contains("nested deeper"), "{err}");
    }

    #[test]
    fn a_query_ten_thousand_deep_is_refused_without_recursing() {
        // The hand-written bytes are what the encoder makes (checked at a
        // depth it can encode), so the deep message is a real one.
        let shallow = Request::BlindSearch {
            query: BlindQuery::And(vec![BlindQuery::Token(BlindToken { index: "body".into(), value: 7 })]),
            fetch_documents: true,
        };
        assert_eq!(deep_and_request(2), protocol::encode(&shallow));
        // Run on a small stack: the derived decoder needs far more than this
        // for 10,000 levels; this one stops at level 17.
        let handle = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| protocol::decode::<Request>(&deep_and_request(10_000)).map(|_| ()).unwrap_err().to_string())
            .unwrap();
        let err = handle.join().unwrap();
        assert!(err.contains("nested deeper"), "{err}");
    }
}
