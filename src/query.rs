//! Plaintext queries: equality on an index, AND, OR. Built on the client,
//! turned into blind tokens for the server, and evaluated on decrypted
//! candidates to drop false positives.
//!
//! Text syntax: `index:value`, with `a,b` for compound indexes, combined with
//! `AND`, `OR` (AND binds tighter) and parentheses:
//!
//! ```
//! use sseek::query::Query;
//! use sseek::blind::default_index_specs;
//! use sseek::text::Tokenizer;
//! let specs = default_index_specs();
//! let q = Query::parse("body:Encryption AND (from:ann@example.com OR from+day:bob@example.com,2002-08-22)", &specs, &Tokenizer::default())?;
//! assert_eq!(q.to_string(), "(body:encryption AND (from:ann@example.com OR from+day:bob@example.com,2002-08-22))");
//! # Ok::<(), sseek::Error>(())
//! ```

use std::fmt;

use unicode_segmentation::UnicodeSegmentation;

use crate::message::{Field, IndexSpec, Message, Terms};
use crate::text::Tokenizer;
use crate::{Error, Result};

/// A boolean query over index values. Values are already normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    /// Documents whose `index` holds the value tuple `values`.
    Term {
        /// Index name.
        index: String,
        /// One normalized value per field of the index.
        values: Vec<String>,
    },
    /// All sub-queries match.
    And(Vec<Query>),
    /// At least one sub-query matches.
    Or(Vec<Query>),
}

/// Prints the text syntax [`Query::parse`] reads, every AND and OR in
/// parentheses, so the text parses back to the same query whenever its
/// values fit the syntax (no whitespace, parentheses or commas; property
/// `display_parses_back`).
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, qs: &[Query], op: &str| {
            f.write_str("(")?;
            for (i, q) in qs.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{q}")?;
            }
            f.write_str(")")
        };
        match self {
            Query::Term { index, values } => write!(f, "{index}:{}", values.join(",")),
            Query::And(q) => join(f, q, "AND"),
            Query::Or(q) => join(f, q, "OR"),
        }
    }
}

impl Query {
    /// A term query on `index` with already-normalized values.
    pub fn term(index: &str, values: &[&str]) -> Query {
        Query::Term { index: index.to_owned(), values: values.iter().map(|s| (*s).to_owned()).collect() }
    }

    /// A normalized term: values pass through the same normalization as indexing.
    ///
    /// # Errors
    /// [`Error::Query`] if the index is unknown, the arity is wrong, or a value
    /// is never indexed (a stop word, too short, not a day).
    pub fn normalized_term(
        index: &str,
        raw_values: &[&str],
        specs: &[IndexSpec],
        tokenizer: &Tokenizer,
    ) -> Result<Query> {
        let spec = specs
            .iter()
            .find(|s| s.name == index)
            .ok_or_else(|| Error::Query(format!("unknown index {index:?}; indexes: {}", names(specs))))?;
        if raw_values.len() != spec.fields.len() {
            return Err(Error::Query(format!(
                "index {index} takes {} value(s), got {}",
                spec.fields.len(),
                raw_values.len()
            )));
        }
        let mut values = Vec::with_capacity(raw_values.len());
        for (field, raw) in spec.fields.iter().zip(raw_values) {
            let v = field
                .normalize_value(raw, tokenizer)
                .ok_or_else(|| Error::Query(format!("{raw:?} is never indexed in field {field} (stop word, too short or too long, or not a YYYY-MM-DD day)")))?;
            values.push(v);
        }
        Ok(Query::Term { index: index.to_owned(), values })
    }

    /// Parses the text syntax described in the module docs.
    ///
    /// # Errors
    /// [`Error::Query`] naming the problem.
    pub fn parse(text: &str, specs: &[IndexSpec], tokenizer: &Tokenizer) -> Result<Query> {
        let tokens = lex(text);
        let mut p = Parser { tokens, pos: 0, specs, tokenizer };
        let q = p.or_expr()?;
        if p.pos != p.tokens.len() {
            return Err(Error::Query(format!("unexpected {:?} in query", p.tokens[p.pos])));
        }
        Ok(q)
    }

    /// The fields this query's indexes read, each once, in [`Field::ALL`]
    /// order: all that [`Query::matches`] looks at, so a candidate's
    /// [`crate::message::Message::terms_for`] these fields decides it as
    /// its full terms would.
    ///
    /// ```
    /// use sseek::message::{Field, default_index_specs};
    /// use sseek::query::Query;
    /// let q = Query::And(vec![Query::term("from+day", &["ann@example.com", "2002-08-22"]), Query::term("from", &["bob@example.com"])]);
    /// assert_eq!(q.fields(&default_index_specs())?, vec![Field::From, Field::Day]);
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Query`] for an unknown index.
    pub fn fields(&self, specs: &[IndexSpec]) -> Result<Vec<Field>> {
        let mut named = Vec::new();
        self.collect_fields(specs, &mut named)?;
        Ok(Field::ALL.into_iter().filter(|f| named.contains(f)).collect())
    }

    fn collect_fields(&self, specs: &[IndexSpec], out: &mut Vec<Field>) -> Result<()> {
        match self {
            Query::Term { index, .. } => {
                let spec = specs
                    .iter()
                    .find(|s| &s.name == index)
                    .ok_or_else(|| Error::Query(format!("unknown index {index:?}")))?;
                out.extend(spec.fields.iter().copied());
            }
            Query::And(qs) | Query::Or(qs) => {
                for q in qs {
                    q.collect_fields(specs, out)?;
                }
            }
        }
        Ok(())
    }

    /// Whether a message with these terms matches. This is how the client drops
    /// false positives after decryption.
    ///
    /// # Errors
    /// [`Error::Query`] for an unknown index.
    pub fn matches(&self, terms: &Terms, specs: &[IndexSpec]) -> Result<bool> {
        self.decide(specs, &mut |f, v| terms.get(&f).is_some_and(|set| set.contains(v)))
    }

    /// Evaluates the query with `has(field, value)` deciding each keyword,
    /// asking only until the answer is known (AND stops at the first miss,
    /// OR at the first hit). [`Query::matches`] and
    /// [`Query::matches_message`] differ only in how they decide a keyword.
    fn decide(&self, specs: &[IndexSpec], has: &mut dyn FnMut(Field, &str) -> bool) -> Result<bool> {
        Ok(match self {
            Query::Term { index, values } => {
                let spec = specs
                    .iter()
                    .find(|s| &s.name == index)
                    .ok_or_else(|| Error::Query(format!("unknown index {index:?}")))?;
                spec.fields.len() == values.len() && spec.fields.iter().zip(values).all(|(f, v)| has(*f, v))
            }
            Query::And(qs) => {
                for q in qs {
                    if !q.decide(specs, has)? {
                        return Ok(false);
                    }
                }
                true
            }
            Query::Or(qs) => {
                for q in qs {
                    if q.decide(specs, has)? {
                        return Ok(true);
                    }
                }
                false
            }
        })
    }

    /// Whether a decrypted message matches, computing only what the query
    /// needs: the fields it names, each at most once, and only until the
    /// answer is known (AND stops at the first miss, OR at the first hit).
    /// A keyword term is first decided on the field's lowercased text: a
    /// value that does not occur in it is no keyword of it, and an
    /// occurrence that stands between hard word breaks (white space or
    /// punctuation that joins no word) is one; only an occurrence in
    /// between (inside `3.14`, `e.g`, `ann@x`, ...) or a tokenizer that
    /// stems falls back to tokenizing the field. Decides exactly as
    /// [`Query::matches`] on the message's full terms.
    ///
    /// ```
    /// use sseek::message::{Message, default_index_specs};
    /// use sseek::query::Query;
    /// use sseek::text::Tokenizer;
    /// let m = Message { from: "ann@example.com".into(), body: "Lunch at noon, 3.14 pies?".into(), ..Default::default() };
    /// let (specs, t) = (default_index_specs(), Tokenizer::default());
    /// assert!(Query::parse("body:noon AND from:ann@example.com", &specs, &t)?.matches_message(&m, &specs, &t)?);
    /// assert!(!Query::parse("body:pie", &specs, &t)?.matches_message(&m, &specs, &t)?);
    /// assert!(!Query::parse("body:14", &specs, &t)?.matches_message(&m, &specs, &t)?); // the word is 3.14
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Query`] for an unknown index.
    pub fn matches_message(&self, message: &Message, specs: &[IndexSpec], tokenizer: &Tokenizer) -> Result<bool> {
        let mut lazy =
            LazyTerms { message, tokenizer, terms: Terms::new(), extracted: Vec::new(), lowered: Vec::new() };
        self.decide(specs, &mut |f, v| lazy.contains(f, v))
    }
}

/// The terms of one message, extracted field by field as a query asks.
struct LazyTerms<'a> {
    message: &'a Message,
    tokenizer: &'a Tokenizer,
    terms: Terms,
    /// Fields whose values are in `terms`.
    extracted: Vec<Field>,
    /// Lowercased text of keyword fields.
    lowered: Vec<(Field, String)>,
}

impl LazyTerms<'_> {
    /// Whether the message's values of `field` hold `value`.
    fn contains(&mut self, field: Field, value: &str) -> bool {
        if field.is_keyword_field()
            && !self.extracted.contains(&field)
            && let Some(known) = self.keyword_by_text(field, value)
        {
            return known;
        }
        if !self.extracted.contains(&field) {
            let mut t = self.message.terms_for(&[field], self.tokenizer);
            if let Some(values) = t.remove(&field) {
                self.terms.insert(field, values);
            }
            self.extracted.push(field);
        }
        self.terms.get(&field).is_some_and(|set| set.contains(value))
    }

    /// Decides whether keyword `value` is among the keywords of `field`
    /// from the field's lowercased text, or `None` if that text cannot
    /// tell (see [`Query::matches_message`]).
    fn keyword_by_text(&mut self, field: Field, value: &str) -> Option<bool> {
        // A stemmed keyword need not occur in the text; a value the
        // tokenizer would change, or that is not one word, is decided by tokenizing.
        if self.tokenizer.stemming() || !value.is_ascii() || self.tokenizer.normalize(value).as_deref() != Some(value) {
            return None;
        }
        let mut words = value.unicode_words();
        if words.next() != Some(value) || words.next().is_some() {
            return None;
        }
        let text = match field {
            Field::Subject => &self.message.subject,
            _ => &self.message.body,
        };
        let lowered = match self.lowered.iter().position(|(f, _)| *f == field) {
            Some(i) => &self.lowered[i].1,
            None => {
                // Lowercasing maps each character on its own except a final
                // capital sigma, which lowercases to no ASCII character: an
                // ASCII keyword of the text is a substring of this. Only the
                // Kelvin sign and capital I with dot lowercase to ASCII
                // letters; without them, ASCII lowercasing (far cheaper)
                // finds the same ASCII occurrences, and a non-ASCII
                // neighbour never counts as a sure word break.
                // Checked one character at a time (a memchr each) and only
                // on non-ASCII text: a two-character pattern walks the text
                // char by char, which dominated checking search results.
                let l = if !text.is_ascii() && (text.contains('\u{212A}') || text.contains('\u{130}')) {
                    text.to_lowercase()
                } else {
                    text.to_ascii_lowercase()
                };
                self.lowered.push((field, l));
                &self.lowered[self.lowered.len() - 1].1
            }
        };
        let bytes = lowered.as_bytes();
        let mut occurs = false;
        // memmem (SIMD) finds the occurrences several times faster than
        // `match_indices`' two-way search.
        for start in memchr::memmem::find_iter(bytes, value.as_bytes()) {
            occurs = true;
            if breaks_before(bytes, start) && breaks_after(bytes, start + value.len()) {
                return Some(true);
            }
        }
        if occurs { None } else { Some(false) }
    }
}

/// ASCII punctuation that may join the letters or digits around it into
/// one word (Unicode word-break classes MidLetter, MidNumLet,
/// Single_Quote, MidNum).
fn joins(b: u8) -> bool {
    matches!(b, b':' | b'.' | b'\'' | b',' | b';')
}

/// ASCII that no word-break rule keeps next to a letter or digit: white
/// space and the punctuation that neither joins nor extends a word.
fn hard(b: u8) -> bool {
    b.is_ascii() && !b.is_ascii_alphanumeric() && b != b'_' && !joins(b)
}

/// Whether `joiner` may join `edge`, a word's first or last character, to
/// `beyond` on its other side: letters through MidLetter and MidNumLet
/// (`:`, `.`, `'`), digits through MidNum and MidNumLet (`,`, `;`, `.`,
/// `'`). A non-ASCII `beyond` (a byte of a letter, a digit, or a mark
/// that extends one) may join.
fn may_join(edge: u8, joiner: u8, beyond: u8) -> bool {
    let letters = matches!(joiner, b':' | b'.' | b'\'') && edge.is_ascii_alphabetic();
    let digits = matches!(joiner, b'.' | b'\'' | b',' | b';') && edge.is_ascii_digit();
    (letters && (!beyond.is_ascii() || beyond.is_ascii_alphabetic()))
        || (digits && (!beyond.is_ascii() || beyond.is_ascii_digit()))
}

/// Whether a word break surely falls at `at`, the start of a word-shaped
/// run of `text`.
fn breaks_before(text: &[u8], at: usize) -> bool {
    match at.checked_sub(1).map(|i| text[i]) {
        None => true,
        Some(b) if hard(b) => true,
        Some(b) if joins(b) => at < 2 || !may_join(text[at], b, text[at - 2]),
        Some(_) => false,
    }
}

/// Whether a word break surely falls at `at`, the end of a word-shaped run of `text`.
fn breaks_after(text: &[u8], at: usize) -> bool {
    match text.get(at) {
        None => true,
        Some(b) if hard(*b) => true,
        Some(b) if joins(*b) => text.get(at + 1).is_none_or(|n| !may_join(text[at - 1], *b, *n)),
        Some(_) => false,
    }
}

fn names(specs: &[IndexSpec]) -> String {
    specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn lex(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Parser<'a> {
    tokens: Vec<String>,
    pos: usize,
    specs: &'a [IndexSpec],
    tokenizer: &'a Tokenizer,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn or_expr(&mut self) -> Result<Query> {
        let mut parts = vec![self.and_expr()?];
        while self.peek() == Some("OR") {
            self.pos += 1;
            parts.push(self.and_expr()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Query::Or(parts) })
    }

    fn and_expr(&mut self) -> Result<Query> {
        let mut parts = vec![self.atom()?];
        while self.peek() == Some("AND") {
            self.pos += 1;
            parts.push(self.atom()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Query::And(parts) })
    }

    fn atom(&mut self) -> Result<Query> {
        let Some(tok) = self.peek().map(str::to_owned) else {
            return Err(Error::Query("query ends where a term was expected".into()));
        };
        self.pos += 1;
        if tok == "(" {
            let q = self.or_expr()?;
            if self.peek() != Some(")") {
                return Err(Error::Query("missing closing parenthesis".into()));
            }
            self.pos += 1;
            return Ok(q);
        }
        let Some((index, values)) = tok.split_once(':') else {
            return Err(Error::Query(format!("expected index:value, found {tok:?}")));
        };
        let raw: Vec<&str> = values.split(',').collect();
        Query::normalized_term(index, &raw, self.specs, self.tokenizer)
    }
}

/// Proptest strategies of queries.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::message::Field;

    /// A value of `field` that indexing keeps as it is (already normalized
    /// by `tokenizer`) and that the text syntax can carry: no whitespace,
    /// parentheses or commas.
    pub(crate) fn normalized_value(field: Field) -> impl Strategy<Value = String> {
        let raw = match field {
            Field::From | Field::To => "[a-z0-9][a-z0-9._+-]{0,8}@[a-z0-9-]{1,8}\\.[a-z]{2,4}",
            Field::Day => "[0-9]{4}-[01][0-9]-[0-3][0-9]",
            Field::Subject | Field::Body => "[a-z0-9äöüßéσ]{2,12}",
        };
        let tokenizer = Tokenizer::default();
        raw.prop_filter("normalization keeps it as it is", move |v| {
            field.normalize_value(v, &tokenizer).as_deref() == Some(v.as_str())
        })
    }

    /// A term on one of `specs`, with one normalized value per field.
    pub(crate) fn term(specs: Vec<IndexSpec>) -> impl Strategy<Value = Query> {
        proptest::sample::select(specs).prop_flat_map(|spec| {
            let values: Vec<_> = spec.fields.iter().map(|f| normalized_value(*f)).collect();
            (Just(spec.name), values).prop_map(|(index, values)| Query::Term { index, values })
        })
    }

    /// A query over `specs` as [`Query::parse`] produces them: AND and OR
    /// nodes have at least two children (one child parses as the child itself).
    pub(crate) fn query(specs: Vec<IndexSpec>) -> impl Strategy<Value = Query> {
        term(specs).prop_recursive(3, 24, 4, |inner| {
            prop_oneof![vec(inner.clone(), 2..4).prop_map(Query::And), vec(inner, 2..4).prop_map(Query::Or)]
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::message::default_index_specs;

    proptest! {
        /// Printing a query gives text that parses back to the same query.
        #[test]
        fn display_parses_back(q in strategies::query(default_index_specs())) {
            let text = q.to_string();
            let back = Query::parse(&text, &default_index_specs(), &Tokenizer::default());
            prop_assert_eq!(back.as_ref().ok(), Some(&q), "{} gave {:?}", text, back);
        }
    }

    proptest! {
        /// Matching on the terms of the query's fields alone decides as
        /// matching on all terms.
        #[test]
        fn fields_decide_as_all_terms(
            q in strategies::query(default_index_specs()),
            values in vec(prop_oneof![
                strategies::normalized_value(Field::From), strategies::normalized_value(Field::Body)], 0..6),
            day in strategies::normalized_value(Field::Day),
        ) {
            let specs = default_index_specs();
            let tokenizer = Tokenizer::default();
            // A message built from query values and random ones, so that some queries match.
            let mut words: Vec<String> = values;
            collect_values(&q, &mut words);
            let m = Message {
                from: words.first().cloned().unwrap_or_default(),
                to: words.iter().skip(1).step_by(3).cloned().collect(),
                subject: words.iter().step_by(2).cloned().collect::<Vec<_>>().join(" "),
                date: if words.len().is_multiple_of(2) { day } else { words.iter().find(|w| w.len() == 10 && w.as_bytes()[4] == b'-').cloned().unwrap_or_default() },
                body: words.join(" "),
            };
            let all = q.matches(&m.terms(&tokenizer), &specs).unwrap();
            let some = q.matches(&m.terms_for(&q.fields(&specs).unwrap(), &tokenizer), &specs).unwrap();
            prop_assert_eq!(all, some, "{}", q);
        }
    }

    /// Text pieces that probe word breaks: words, digits, joining and
    /// hard punctuation, white space, and non-ASCII that lowercases oddly
    /// (final sigma, the Kelvin sign, dotted I), soft hyphens and combining marks.
    const PIECES: &[&str] = &[
        "budget",
        "Budget",
        "BUDGET",
        "noon",
        "no",
        "on",
        "3",
        "14",
        "3.14",
        "e",
        "g",
        "x",
        "ab",
        "ann",
        "the",
        "a",
        " ",
        " ",
        "  ",
        "\n",
        "\t",
        "\r\n",
        ".",
        ",",
        ";",
        ":",
        "'",
        "_",
        "-",
        "@",
        "!",
        "?",
        "(",
        ")",
        "\"",
        "/",
        "é",
        "ÉTÉ",
        "ΣΑΣ",
        "σ",
        "\u{212A}ilo",
        "kilo",
        "\u{130}",
        "\u{AD}",
        "\u{301}",
        "日本",
        "ß",
        "\u{200D}",
        "\u{0}",
        "&nbsp;",
        "1,000",
        "2;3",
        "a:b",
    ];

    fn text() -> impl Strategy<Value = String> {
        vec((proptest::sample::select(PIECES), any::<bool>()), 0..24).prop_map(|p| {
            p.into_iter().map(|(piece, space)| if space { format!("{piece} ") } else { piece.to_owned() }).collect()
        })
    }

    /// Query values: words of the pieces, parts of them, and words that
    /// only a tokenizer that splits differently would produce.
    const VALUES: &[&str] = &[
        "000",
        "1,000",
        "nbsp",
        "2;3",
        "budget",
        "noon",
        "no",
        "on",
        "14",
        "3",
        "3.14",
        "ab",
        "ann",
        "kilo",
        "ilo",
        "e.g",
        "été",
        "σας",
        "σασ",
        "ß",
        "the",
        "日本",
        "budget.noon",
        "ab_ab",
        "ann's",
        "i\u{307}",
        "bud",
    ];

    fn keyword_query() -> impl Strategy<Value = Query> {
        let value = prop_oneof![
            4 => proptest::sample::select(VALUES).prop_map(str::to_owned),
            1 => "[a-z0-9]{1,6}",
            1 => text().prop_map(|t| t.to_lowercase()),
        ];
        let term = (proptest::sample::select(vec!["body", "subject", "from"]), value)
            .prop_map(|(index, v)| Query::Term { index: index.into(), values: vec![v] });
        term.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![vec(inner.clone(), 2..4).prop_map(Query::And), vec(inner, 2..4).prop_map(Query::Or)]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6_000, ..ProptestConfig::default() })]
        /// The lazy check decides every message as the full terms do, with
        /// and without stemming and stop words.
        #[test]
        fn matches_message_decides_as_matches(
            q in keyword_query(), body in text(), subject in text(), from in text(), stem in any::<bool>(), stop in any::<bool>()
        ) {
            let specs = default_index_specs();
            let tokenizer = Tokenizer::default().with_stemming(stem).with_stop_words_removed(stop);
            let m = Message { from, subject, body, ..Default::default() };
            let full = q.matches(&m.terms(&tokenizer), &specs).unwrap();
            prop_assert_eq!(q.matches_message(&m, &specs, &tokenizer).unwrap(), full, "{:?} on {:?}", q, m);
        }
    }

    /// Word breaks the lazy check must get right, each against the tokenizer.
    #[test]
    fn matches_message_word_breaks() {
        let specs = default_index_specs();
        let t = Tokenizer::default();
        let cases = [
            ("pi is 3.14 today", "14", false),
            ("pi is 3.14 today", "3.14", true),
            ("about 1,000 of them", "000", false),
            ("about 1,000 of them", "1,000", true),
            ("&nbsp;budget here", "budget", true),
            ("&nbsp;budget here", "nbsp", true),
            ("see a:b", "ab", false),
            ("Subject:budget", "budget", false),
            ("the end.Next one", "end", false),
            ("the end. Next one", "end", true),
            ("x_budget", "budget", false),
            ("budget_x", "budget", false),
            ("ann's budget", "ann", false),
            ("(budget)", "budget", true),
            ("BUDGET!", "budget", true),
            ("\u{212A}ilo gram", "kilo", true),
            ("e\u{301}budget", "budget", false),
            ("Grüße BUDGET", "budget", true),
            ("\u{130}D card", "card", true),
            ("\u{130}D card", "id", false),
        ];
        for (body, value, expected) in cases {
            let m = Message { body: body.into(), ..Default::default() };
            let q = Query::term("body", &[value]);
            assert_eq!(q.matches(&m.terms(&t), &specs).unwrap(), expected, "tokenizer: {value:?} in {body:?}");
            assert_eq!(q.matches_message(&m, &specs, &t).unwrap(), expected, "lazy: {value:?} in {body:?}");
        }
    }

    fn collect_values(q: &Query, out: &mut Vec<String>) {
        match q {
            Query::Term { values, .. } => out.extend(values.iter().cloned()),
            Query::And(qs) | Query::Or(qs) => qs.iter().for_each(|q| collect_values(q, out)),
        }
    }

    #[test]
    fn parse_errors_are_clear() {
        let s = default_index_specs();
        let t = Tokenizer::default();
        assert!(Query::parse("nosuch:x", &s, &t).unwrap_err().to_string().contains("unknown index"));
        assert!(Query::parse("body:the", &s, &t).unwrap_err().to_string().contains("never indexed"));
        assert!(Query::parse("(body:x", &s, &t).is_err());
        assert!(Query::parse("body:xx AND", &s, &t).is_err());
        assert!(Query::parse("from+day:a@b", &s, &t).unwrap_err().to_string().contains("2 value"));
    }

    #[test]
    fn precedence() {
        let s = default_index_specs();
        let q = Query::parse("body:aa OR body:bb AND body:cc", &s, &Tokenizer::default()).unwrap();
        assert_eq!(q.to_string(), "(body:aa OR (body:bb AND body:cc))");
    }
}
