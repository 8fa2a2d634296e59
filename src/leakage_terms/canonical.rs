//! **Canonical form** of a server view. Pseudorandom strings (labels,
//! tokens, encrypted values) carry no information beyond which of them are
//! equal and how long they are. [`ServerView::canonical`] renames every such
//! string by its first appearance, and treats batches whose order the client
//! randomizes (entries of a setup or update request, postings of a blind
//! insert) as sorted multisets. Two views are equal up to renaming iff their
//! canonical forms are equal: the comparison behind the leakage laws.

use std::collections::HashMap;

use super::view::{DocumentSize, Observed, ServerView, ViewEvent};
use crate::protocol::{BlindPostings, BlindQuery, DocId, EntryLocation, SearchResult, SearchToken};

impl ServerView {
    /// The canonical form of this view (see the module documentation).
    pub fn canonical(&self) -> CanonicalView {
        CanonicalView { events: canonicalize(self.events.iter().map(ViewEvent::shape).collect()) }
    }
}

/// A view up to renaming of pseudorandom strings; compare with `==`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalView {
    /// One canonical shape per event.
    pub events: Vec<Shape>,
}

impl CanonicalView {
    /// Index and both sides of the first event where two canonical views
    /// differ (`None` if they are equal), for readable test failures.
    pub fn first_difference<'a>(
        &'a self,
        other: &'a CanonicalView,
    ) -> Option<(usize, Option<&'a Shape>, Option<&'a Shape>)> {
        if self == other {
            return None;
        }
        let n = self.events.len().max(other.events.len());
        (0..n)
            .find(|&i| self.events.get(i) != other.events.get(i))
            .map(|i| (i, self.events.get(i), other.events.get(i)))
    }

    /// The shape without names: every pseudorandom string reduced to its
    /// length. Equal shapes mean equal sizes and structure, not equal
    /// equality patterns.
    pub fn erase_names(&self) -> Vec<Shape> {
        self.events.iter().map(Shape::erase_names).collect()
    }
}

/// The structure of an event with pseudorandom strings abstracted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// A pseudorandom string: its canonical name (order of first appearance) and length.
    Name {
        /// Canonical name.
        name: u32,
        /// Length in bytes.
        len: usize,
    },
    /// A pseudorandom string before renaming (only inside canonicalization).
    Raw(Vec<u8>),
    /// A value the server sees in the clear (ids, sizes, names, counts).
    Public(String),
    /// An ordered list.
    List(Vec<Shape>),
    /// A multiset: order carries no information (sorted in canonical form).
    Bag(Vec<Shape>),
    /// A tagged tuple.
    Node(&'static str, Vec<Shape>),
}

impl Shape {
    fn public(v: impl ToString) -> Shape {
        Shape::Public(v.to_string())
    }

    fn raw(bytes: &[u8]) -> Shape {
        Shape::Raw(bytes.to_vec())
    }

    fn ids(ids: &[DocId]) -> Shape {
        Shape::List(ids.iter().map(Shape::public).collect())
    }

    fn documents(docs: &[DocumentSize]) -> Shape {
        Shape::List(
            docs.iter().map(|d| Shape::Node("doc", vec![Shape::public(d.id), Shape::public(d.bytes)])).collect(),
        )
    }

    fn erase_names(&self) -> Shape {
        match self {
            Shape::Name { len, .. } => Shape::Name { name: 0, len: *len },
            Shape::Raw(b) => Shape::Name { name: 0, len: b.len() },
            Shape::Public(p) => Shape::Public(p.clone()),
            Shape::List(v) => Shape::List(v.iter().map(Shape::erase_names).collect()),
            Shape::Bag(v) => {
                let mut v: Vec<Shape> = v.iter().map(Shape::erase_names).collect();
                v.sort();
                Shape::Bag(v)
            }
            Shape::Node(t, v) => Shape::Node(t, v.iter().map(Shape::erase_names).collect()),
        }
    }
}

fn location_shape(l: &EntryLocation) -> Shape {
    // Array positions are chosen by a random permutation, so like labels
    // they are pseudorandom: only their equality matters.
    match l {
        EntryLocation::Dictionary(label) => Shape::Node("dict", vec![Shape::raw(label)]),
        EntryLocation::Array(pos) => Shape::Node("array", vec![Shape::raw(&pos.to_be_bytes())]),
    }
}

fn token_shape(t: &SearchToken) -> Shape {
    let opt = |k: &Option<[u8; 16]>| k.as_ref().map_or(Shape::public("none"), |k| Shape::raw(k));
    match t {
        SearchToken::Dictionary { label_key, value_key } => {
            Shape::Node("dictionary", vec![Shape::raw(label_key), opt(value_key)])
        }
        SearchToken::TwoLevel { label_key, pointer_key, leaf_key } => {
            Shape::Node("two_level", vec![Shape::raw(label_key), Shape::raw(pointer_key), opt(leaf_key)])
        }
        SearchToken::Addresses(a) => {
            Shape::Node("addresses", vec![Shape::List(a.iter().map(|l| Shape::raw(l)).collect())])
        }
        SearchToken::PackedAddresses { label_key, blocks, addresses } => Shape::Node(
            "packed_addresses",
            vec![
                Shape::raw(label_key),
                Shape::public(blocks),
                Shape::List(addresses.iter().map(|l| Shape::raw(l)).collect()),
            ],
        ),
        SearchToken::Ggm { nodes, count, hash_key } => {
            Shape::Node("ggm", vec![ggm_nodes_shape(nodes), Shape::public(count), Shape::raw(hash_key)])
        }
        SearchToken::PackedGgm { label_key, value_key, blocks, nodes, count, hash_key } => Shape::Node(
            "packed_ggm",
            vec![
                Shape::raw(label_key),
                Shape::raw(value_key),
                Shape::public(blocks),
                ggm_nodes_shape(nodes),
                Shape::public(count),
                Shape::raw(hash_key),
            ],
        ),
    }
}

/// GGM nodes: positions are public (they follow from the count), seeds raw.
fn ggm_nodes_shape(nodes: &[crate::protocol::GgmNode]) -> Shape {
    Shape::List(
        nodes
            .iter()
            .map(|n| Shape::Node("node", vec![Shape::public(n.depth), Shape::public(n.index), Shape::raw(&n.seed)]))
            .collect(),
    )
}

/// Postings of one index, as a bag (the client sends them in random order).
fn postings_shape(postings: &[(u64, Vec<DocId>)]) -> Shape {
    Shape::Bag(
        postings
            .iter()
            .map(|(t, ids)| Shape::Node("posting", vec![Shape::raw(&t.to_be_bytes()), Shape::ids(ids)]))
            .collect(),
    )
}

/// Postings of several indexes: each index by name with its bag.
fn indexes_shape(indexes: &[BlindPostings]) -> Shape {
    Shape::Node(
        "indexes",
        indexes
            .iter()
            .map(|p| Shape::Node("index", vec![Shape::public(&p.index), postings_shape(&p.postings)]))
            .collect(),
    )
}

fn blind_query_shape(q: &BlindQuery) -> Shape {
    match q {
        BlindQuery::Token(t) => Shape::Node("token", vec![Shape::public(&t.index), Shape::raw(&t.value.to_be_bytes())]),
        BlindQuery::And(v) => Shape::Node("and", v.iter().map(blind_query_shape).collect()),
        BlindQuery::Or(v) => Shape::Node("or", v.iter().map(blind_query_shape).collect()),
    }
}

impl ViewEvent {
    /// The event's structure with pseudorandom strings still raw.
    pub fn shape(&self) -> Shape {
        let body = match &self.observed {
            Observed::PutDocuments { documents } => Shape::Node("put_documents", vec![Shape::documents(documents)]),
            Observed::GetDocuments { ids, returned } => {
                Shape::Node("get_documents", vec![Shape::ids(ids), Shape::documents(returned)])
            }
            Observed::DeleteDocuments { ids } => Shape::Node("delete_documents", vec![Shape::ids(ids)]),
            Observed::InsertBlindPostings { index, postings } => {
                Shape::Node("insert_blind", vec![Shape::public(index), postings_shape(postings)])
            }
            Observed::Ingest { documents, postings } => {
                Shape::Node("ingest", vec![Shape::documents(documents), indexes_shape(postings)])
            }
            Observed::DeleteMessages { ids, postings } => {
                Shape::Node("delete_messages", vec![Shape::ids(ids), indexes_shape(postings)])
            }
            Observed::Rotate { documents, removed, added } => {
                Shape::Node("rotate", vec![Shape::documents(documents), indexes_shape(removed), indexes_shape(added)])
            }
            Observed::BlindSearch { query, ids, documents } => Shape::Node(
                "blind_search",
                vec![blind_query_shape(query), Shape::ids(ids), Shape::documents(documents)],
            ),
            Observed::SseCreate { descriptor } => Shape::Node(
                "sse_create",
                vec![
                    Shape::public(&descriptor.instance),
                    Shape::public(&descriptor.scheme),
                    Shape::public(descriptor.block),
                    Shape::public(descriptor.response_revealing),
                ],
            ),
            Observed::SseInsert { instance, entries } => Shape::Node(
                "sse_insert",
                vec![
                    Shape::public(instance),
                    Shape::Bag(
                        entries
                            .iter()
                            .map(|e| Shape::Node("entry", vec![location_shape(&e.location), Shape::raw(&e.value)]))
                            .collect(),
                    ),
                ],
            ),
            Observed::SseRemove { instance, locations } => Shape::Node(
                "sse_remove",
                vec![Shape::public(instance), Shape::Bag(locations.iter().map(location_shape).collect())],
            ),
            Observed::SseSearch { instance, token, result } => Shape::Node(
                "sse_search",
                vec![
                    Shape::public(instance),
                    token_shape(token),
                    match result {
                        SearchResult::Ids(ids) => Shape::Node("ids", vec![Shape::ids(ids)]),
                        SearchResult::Values(v) => {
                            Shape::Node("values", vec![Shape::List(v.iter().map(|b| Shape::raw(b)).collect())])
                        }
                    },
                ],
            ),
            // The xtokens in order (row by row), each a pseudorandom string.
            Observed::OxtSearch { instance, token, result } => Shape::Node(
                "oxt_search",
                vec![
                    Shape::public(instance),
                    Shape::raw(&token.label_key),
                    Shape::raw(&token.value_key),
                    Shape::public(token.xterms),
                    Shape::List(token.xtokens.chunks(32).map(Shape::raw).collect()),
                    match result {
                        SearchResult::Ids(ids) => Shape::Node("ids", vec![Shape::ids(ids)]),
                        SearchResult::Values(v) => {
                            Shape::Node("values", vec![Shape::List(v.iter().map(|b| Shape::raw(b)).collect())])
                        }
                    },
                ],
            ),
            Observed::Other { request } => Shape::Node("other", vec![Shape::public(request)]),
        };
        Shape::Node("event", vec![Shape::public(&self.tenant), Shape::public(self.status), body])
    }
}

#[derive(Default)]
struct Names {
    names: HashMap<Vec<u8>, u32>,
}

impl Names {
    fn name(&mut self, raw: &[u8]) -> u32 {
        let next = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        *self.names.entry(raw.to_vec()).or_insert(next)
    }
}

/// Pass 1: name raw strings outside bags, in order.
fn name_ordered(shape: &Shape, names: &mut Names) {
    match shape {
        Shape::Raw(b) => {
            names.name(b);
        }
        Shape::List(v) | Shape::Node(_, v) => v.iter().for_each(|s| name_ordered(s, names)),
        Shape::Bag(_) | Shape::Name { .. } | Shape::Public(_) => {}
    }
}

/// Replaces raw strings by their names; `None` where a raw string has no
/// name yet (`fresh` says whether to assign one).
fn rename(shape: &Shape, names: &mut Names, fresh: bool) -> Shape {
    match shape {
        Shape::Raw(b) => match names.names.get(b.as_slice()) {
            Some(&n) => Shape::Name { name: n, len: b.len() },
            None if fresh => Shape::Name { name: names.name(b), len: b.len() },
            // Not named yet: a placeholder that keeps the length.
            None => Shape::Name { name: u32::MAX, len: b.len() },
        },
        Shape::List(v) => Shape::List(v.iter().map(|s| rename(s, names, fresh)).collect()),
        Shape::Node(t, v) => Shape::Node(t, v.iter().map(|s| rename(s, names, fresh)).collect()),
        Shape::Bag(v) => {
            // Sort elements by their partly-named form, then name what is
            // left in that order: the result does not depend on the order
            // the client sent the batch in.
            let mut keyed: Vec<(Shape, &Shape)> = v.iter().map(|s| (rename(s, names, false), s)).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            Shape::Bag(keyed.into_iter().map(|(_, s)| rename(s, names, true)).collect())
        }
        other => other.clone(),
    }
}

fn canonicalize(shapes: Vec<Shape>) -> Vec<Shape> {
    let mut names = Names::default();
    for s in &shapes {
        name_ordered(s, &mut names);
    }
    shapes.iter().map(|s| rename(s, &mut names, true)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EncryptedEntry, SearchResult};

    fn entry(label: u8, value: &[u8]) -> EncryptedEntry {
        EncryptedEntry { location: EntryLocation::Dictionary([label; 16]), value: value.to_vec() }
    }

    fn insert(entries: Vec<EncryptedEntry>) -> ViewEvent {
        ViewEvent {
            seq: 0,
            tenant: "t".into(),
            status: 200,
            observed: Observed::SseInsert { instance: "i".into(), entries },
        }
    }

    fn search(addresses: &[u8], values: &[&[u8]]) -> ViewEvent {
        ViewEvent {
            seq: 1,
            tenant: "t".into(),
            status: 200,
            observed: Observed::SseSearch {
                instance: "i".into(),
                token: SearchToken::Addresses(addresses.iter().map(|&a| [a; 16]).collect()),
                result: SearchResult::Values(values.iter().map(|v| v.to_vec()).collect()),
            },
        }
    }

    fn view(events: Vec<ViewEvent>) -> ServerView {
        ServerView { events }
    }

    #[test]
    fn canonical_form_ignores_names_and_batch_order_but_not_equalities() {
        let a = view(vec![insert(vec![entry(1, b"xx"), entry(2, b"yy"), entry(3, b"zz")]), search(&[2], &[b"yy"])]);
        // Other pseudorandom strings, batch in another order: same canonical form.
        let b = view(vec![insert(vec![entry(9, b"qq"), entry(7, b"pp"), entry(8, b"rr")]), search(&[9], &[b"qq"])]);
        assert_eq!(a.canonical(), b.canonical());
        // The search now returns a value that was never stored: an equality is gone.
        let c = view(vec![insert(vec![entry(9, b"qq"), entry(7, b"pp"), entry(8, b"rr")]), search(&[9], &[b"ss"])]);
        assert_ne!(a.canonical(), c.canonical());
        assert!(a.canonical().first_difference(&c.canonical()).is_some());
        // Two stored values are equal: an equality appears.
        let d = view(vec![insert(vec![entry(9, b"qq"), entry(7, b"qq"), entry(8, b"rr")]), search(&[9], &[b"qq"])]);
        assert_ne!(a.canonical(), d.canonical());
        // A longer value changes the shape, and erase_names still sees it.
        let e = view(vec![insert(vec![entry(9, b"qqq"), entry(7, b"pp"), entry(8, b"rr")]), search(&[9], &[b"qqq"])]);
        assert_ne!(a.canonical().erase_names(), e.canonical().erase_names());
        assert_eq!(a.canonical().erase_names(), c.canonical().erase_names());
    }
}
