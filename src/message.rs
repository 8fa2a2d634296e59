//! Messages, their fields, and the per-field terms every index is built from.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::text::{KeywordSet, Tokenizer, normalize_address};
use crate::{Error, Result};

/// A message in plaintext. Exists only on the client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sender address or handle.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line (empty for chat messages).
    pub subject: String,
    /// Date as RFC 3339 (`2002-08-22T18:26:25+07:00`) or at least `YYYY-MM-DD`; empty if unknown.
    pub date: String,
    /// Body text.
    pub body: String,
}

/// One line of a JSONL message file: what `sseek export` writes and what
/// the dataset loader reads (`{"id", "text", "from", "to", "subject", "date"}`;
/// all but `id` and `text` may be left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonlMessage {
    /// The message's id in its source (any JSON value; the loader ignores it).
    pub id: serde_json::Value,
    /// Body text.
    pub text: String,
    /// Sender.
    #[serde(default)]
    pub from: String,
    /// Recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Subject.
    #[serde(default)]
    pub subject: String,
    /// Date.
    #[serde(default)]
    pub date: String,
}

impl JsonlMessage {
    /// The record of a message under id `id`.
    ///
    /// ```
    /// use sseek::message::{JsonlMessage, Message};
    /// let m = Message { from: "ann@example.com".into(), body: "hi".into(), ..Default::default() };
    /// let line = serde_json::to_string(&JsonlMessage::new(7, &m))?;
    /// let back: JsonlMessage = serde_json::from_str(&line)?;
    /// assert_eq!(back.into_message(), m);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new(id: u32, m: &Message) -> Self {
        JsonlMessage {
            id: id.into(),
            text: m.body.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            subject: m.subject.clone(),
            date: m.date.clone(),
        }
    }

    /// The message this record holds.
    pub fn into_message(self) -> Message {
        Message { from: self.from, to: self.to, subject: self.subject, date: self.date, body: self.text }
    }
}

/// A searchable field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// Sender address (exact value).
    From,
    /// Each recipient address (exact values).
    To,
    /// Keywords of the subject.
    Subject,
    /// The calendar day of the date, `YYYY-MM-DD` (exact value).
    Day,
    /// Keywords of the body.
    Body,
}

impl Field {
    /// All fields, in a fixed order.
    pub const ALL: [Field; 5] = [Field::From, Field::To, Field::Subject, Field::Day, Field::Body];

    /// The field's name as used in index names and queries.
    pub fn name(self) -> &'static str {
        match self {
            Field::From => "from",
            Field::To => "to",
            Field::Subject => "subject",
            Field::Day => "day",
            Field::Body => "body",
        }
    }

    /// Whether the field holds keywords (tokenized) rather than exact values.
    pub fn is_keyword_field(self) -> bool {
        matches!(self, Field::Subject | Field::Body)
    }

    /// Normalizes a query value for this field the way indexing does.
    /// Returns `None` if the value can never match (e.g. a stop word).
    pub fn normalize_value(self, value: &str, tokenizer: &Tokenizer) -> Option<String> {
        match self {
            Field::From | Field::To => Some(normalize_address(value)).filter(|s| !s.is_empty()),
            Field::Day => day_of(value),
            Field::Subject | Field::Body => tokenizer.normalize(value.trim()),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| Error::Query(format!("unknown field {s:?} (fields: from, to, subject, day, body)")))
    }
}

/// The `YYYY-MM-DD` day of a date string, if it starts with one.
pub fn day_of(date: &str) -> Option<String> {
    let d = date.trim().get(..10)?;
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)).then(|| d.to_owned())
}

/// The normalized values of each field of one message: what indexes and the
/// plaintext oracle see. Each field's values are one [`KeywordSet`] (the
/// keywords of a text in one buffer, not a string each).
pub type Terms = BTreeMap<Field, KeywordSet>;

impl Message {
    /// Extracts the normalized per-field values of this message.
    pub fn terms(&self, tokenizer: &Tokenizer) -> Terms {
        self.terms_for(&Field::ALL, tokenizer)
    }

    /// The normalized values of `fields` only, each as [`Message::terms`]
    /// extracts it: the cheap way to check a decrypted candidate against a
    /// query, which reads only the fields its indexes name
    /// ([`crate::query::Query::fields`]); a `from:` query then never
    /// tokenizes the body.
    ///
    /// ```
    /// use sseek::message::{Field, Message};
    /// use sseek::text::Tokenizer;
    /// let m = Message { from: "Ann@Example.com".into(), body: "Lunch at noon".into(), ..Default::default() };
    /// let t = m.terms_for(&[Field::From], &Tokenizer::default());
    /// assert_eq!(t.keys().copied().collect::<Vec<_>>(), vec![Field::From]);
    /// assert_eq!(t[&Field::From], m.terms(&Tokenizer::default())[&Field::From]);
    /// ```
    pub fn terms_for(&self, fields: &[Field], tokenizer: &Tokenizer) -> Terms {
        let mut t = Terms::new();
        for field in Field::ALL.into_iter().filter(|f| fields.contains(f)) {
            let values = match field {
                Field::From => std::iter::once(normalize_address(&self.from)).filter(|a| !a.is_empty()).collect(),
                Field::To => self.to.iter().map(|to| normalize_address(to)).filter(|a| !a.is_empty()).collect(),
                Field::Subject => tokenizer.keyword_set(&self.subject),
                Field::Day => day_of(&self.date).into_iter().collect(),
                Field::Body => tokenizer.keyword_set(&self.body),
            };
            if !values.is_empty() {
                t.insert(field, values);
            }
        }
        t
    }

    /// Total length of the text fields in bytes.
    pub fn text_len(&self) -> usize {
        self.from.len()
            + self.to.iter().map(String::len).sum::<usize>()
            + self.subject.len()
            + self.date.len()
            + self.body.len()
    }
}

/// An index before planning: its name and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// Name, e.g. `body` or `from+day`.
    pub name: String,
    /// Fields; more than one makes a compound index.
    pub fields: Vec<Field>,
}

impl IndexSpec {
    /// A single-field index named after its field.
    pub fn single(field: Field) -> Self {
        IndexSpec { name: field.name().to_owned(), fields: vec![field] }
    }

    /// A compound index named `a+b`.
    pub fn compound(fields: &[Field]) -> Self {
        IndexSpec { name: fields.iter().map(|f| f.name()).collect::<Vec<_>>().join("+"), fields: fields.to_vec() }
    }

    /// The values of this index for one message: the cartesian product of its
    /// fields' values (one tuple per single-field value).
    pub fn values<'t>(&self, terms: &'t Terms) -> Vec<Vec<&'t str>> {
        let mut out: Vec<Vec<&str>> = vec![Vec::new()];
        for f in &self.fields {
            let Some(vals) = terms.get(f) else { return Vec::new() };
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    vals.iter().map(move |v| {
                        let mut p = prefix.clone();
                        p.push(v);
                        p
                    })
                })
                .collect();
        }
        out
    }
}

/// The default message indexes: one per field, and the compound sender + day.
pub fn default_index_specs() -> Vec<IndexSpec> {
    let mut v: Vec<IndexSpec> = Field::ALL.into_iter().map(IndexSpec::single).collect();
    v.push(IndexSpec::compound(&[Field::From, Field::Day]));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_parsing() {
        assert_eq!(day_of("2002-08-22T18:26:25+07:00").as_deref(), Some("2002-08-22"));
        assert_eq!(day_of("2002-8-22"), None);
        assert_eq!(day_of("yesterday"), None);
        assert_eq!(day_of("2002-08-2é"), None);
    }

    #[test]
    fn terms_for_is_terms_restricted() {
        let m = Message {
            from: " <Ann@Example.com> ".into(),
            to: vec!["bob@x.example".into(), "".into()],
            subject: "Budget review".into(),
            date: "2002-08-22T18:26:25+07:00".into(),
            body: "The budget spreadsheet is attached.".into(),
        };
        let tokenizer = Tokenizer::default();
        let all = m.terms(&tokenizer);
        for mask in 0u8..32 {
            let fields: Vec<Field> =
                Field::ALL.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, f)| f).collect();
            let mut expected = all.clone();
            expected.retain(|f, _| fields.contains(f));
            assert_eq!(m.terms_for(&fields, &tokenizer), expected, "{fields:?}");
        }
    }
}
