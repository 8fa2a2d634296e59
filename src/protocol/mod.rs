//! Every message that crosses the client/server boundary.
//!
//! Nothing in these types can hold a key or plaintext: documents are sealed
//! envelopes, index entries are pseudorandom tokens and document ids (ids are
//! not secret, see `papers/blind-index.md`). The binary encoding is postcard
//! behind a 2-byte protocol version; [`to_json`] gives a debugging form.
//!
//! ```
//! use sseek::protocol::{self, Request, BlindQuery, BlindToken};
//! let req = Request::BlindSearch {
//!     query: BlindQuery::Token(BlindToken { index: "body".into(), value: 0x2a }),
//!     fetch_documents: true,
//! };
//! let bytes = protocol::encode(&req);
//! let back: Request = protocol::decode(&bytes)?;
//! assert_eq!(back, req);
//! assert!(protocol::decode::<Request>(&bytes[..bytes.len() - 1]).is_err());
//! # Ok::<(), sseek::Error>(())
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod depth_limited;
pub mod observer;
mod summary;
pub use summary::encoded_len;
#[cfg(test)]
pub(crate) mod strategies;
pub mod transport;

use crate::message::{Field, IndexSpec};
use crate::{Error, Result};

/// The protocol version this build speaks. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;

/// Document identifier: allocated by the server per tenant, in ranges
/// ([`Request::ReserveDocumentIds`]), never reused after a delete. Not secret.
pub type DocId = u32;

/// Metadata stored in the clear next to a sealed message. Everything here is
/// visible to the server; everything else is inside [`EncryptedDocument::sealed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicMetadata {
    /// The tenant owning the document (bound into the ciphertext as associated data).
    pub tenant: String,
    /// The document id (bound into the ciphertext as associated data).
    pub doc_id: DocId,
    /// Envelope format version.
    pub envelope_version: u16,
}

/// A message as the server stores it: public metadata in the clear, and the
/// fields `from`, `to`, `subject`, `date`, `body` sealed as
/// [`crate::envelope`] describes (AES-GCM-SIV; AES-SIV in envelope version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedDocument {
    /// Non-encrypted metadata.
    pub public: PublicMetadata,
    /// The random nonce: 16 bytes in envelope version 1, 12 then 4 zero bytes in version 2.
    pub nonce: [u8; 16],
    /// Ciphertext (with its 16-byte tag) of the encoded message fields.
    #[serde(with = "byte_vec")]
    pub sealed: Vec<u8>,
}

/// A byte vector (de)serialized as bytes, not as a sequence of `u8`: the
/// same postcard (and JSON) encoding, but copied in one piece instead of
/// byte by byte, which dominated decoding search answers (sealed
/// documents) and index setups (entry values).
mod byte_vec {
    use std::fmt;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_bytes(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        // Self-describing formats (JSON) hand over an array of numbers.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // The length hint is untrusted: preallocate at most a little.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

/// A list of byte vectors, each (de)serialized as [`byte_vec`] does: the
/// same encoding as `Vec<Vec<u8>>`, without a call per byte (an encrypted
/// search answer holds one short value per entry).
mod byte_vecs {
    use std::fmt;

    use serde::de::{SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// One element to send.
    struct BytesRef<'a>(&'a [u8]);

    impl Serialize for BytesRef<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::byte_vec::serialize(self.0, s)
        }
    }

    /// One element received, through [`super::byte_vec`].
    #[derive(Deserialize)]
    struct Bytes(#[serde(with = "super::byte_vec")] Vec<u8>);

    pub(super) fn serialize<S: Serializer>(values: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(values.len()))?;
        for v in values {
            seq.serialize_element(&BytesRef(v))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        d.deserialize_seq(ValuesVisitor)
    }

    struct ValuesVisitor;

    impl<'de> Visitor<'de> for ValuesVisitor {
        type Value = Vec<Vec<u8>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence of byte strings")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Vec<u8>>, A::Error> {
            // The length hint is untrusted: preallocate at most a little.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(Bytes(v)) = seq.next_element()? {
                out.push(v);
            }
            Ok(out)
        }
    }
}

/// A blind-index token: a truncated HMAC of a field value under that index's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlindToken {
    /// The index name (public schema information, e.g. `body` or `from+day`).
    pub index: String,
    /// The token, already truncated to the index's bit length.
    pub value: u64,
}

/// A batch of posting-list additions for one blind index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlindPostings {
    /// The index name.
    pub index: String,
    /// For each token, the document ids to add to its posting list.
    pub postings: Vec<(u64, Vec<DocId>)>,
}

/// Deepest accepted nesting of a [`BlindQuery`] (a token has depth 1). The
/// decoder refuses a deeper query while it reads it, so a small message
/// nested thousands deep cannot exhaust the decoding thread's stack.
pub const MAX_QUERY_DEPTH: usize = 16;

/// New documents and their blind-index postings, stored as one transaction:
/// all of them or none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestBatch {
    /// The sealed documents, under ids reserved with [`Request::ReserveDocumentIds`] and not used yet.
    pub documents: Vec<EncryptedDocument>,
    /// Posting-list additions, one entry per index; every id in them is one of `documents`.
    pub postings: Vec<BlindPostings>,
}

/// A boolean query over blind tokens, evaluated by the server with bitmap
/// intersection and union. Decoding refuses nesting beyond
/// [`MAX_QUERY_DEPTH`] (checked level by level as it is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BlindQuery {
    /// Documents whose posting list for this token contains them.
    Token(BlindToken),
    /// Intersection of the sub-queries.
    And(Vec<BlindQuery>),
    /// Union of the sub-queries.
    Or(Vec<BlindQuery>),
}

impl BlindQuery {
    /// Number of tokens in the query.
    pub fn token_count(&self) -> usize {
        match self {
            BlindQuery::Token(_) => 1,
            BlindQuery::And(q) | BlindQuery::Or(q) => q.iter().map(BlindQuery::token_count).sum(),
        }
    }

    /// Nesting depth (a token has depth 1).
    pub fn depth(&self) -> usize {
        match self {
            BlindQuery::Token(_) => 1,
            BlindQuery::And(q) | BlindQuery::Or(q) => 1 + q.iter().map(BlindQuery::depth).max().unwrap_or(0),
        }
    }
}

/// Public description of one blind index: its name, the fields it covers and
/// its token length. The server needs no more than this, and learns it anyway
/// from the tokens it stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDescriptor {
    /// Index name, e.g. `body` or `from+day`.
    pub name: String,
    /// Fields covered (more than one for a compound index).
    pub fields: Vec<Field>,
    /// Token length in bits, 1 to 64.
    pub bits: u8,
}

/// The public schema of a tenant's blind indexes, kept by the server so that any
/// client device can query with the same token lengths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The indexes.
    pub indexes: Vec<IndexDescriptor>,
    /// The next free document id.
    pub next_doc_id: DocId,
}

/// A schema with the tag of the client that created it: an HMAC under a
/// key only the tenant's clients hold, over the tenant, key version and
/// indexes, so a client refuses a schema whose index list or token lengths
/// the server changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaggedSchema {
    /// The schema.
    pub schema: Schema,
    /// Its tag; `None` for a schema stored without one (by [`Request::PutSchema`]).
    pub tag: Option<[u8; 32]>,
}

/// A 16-byte pseudorandom dictionary label of an SSE scheme.
pub type Label = [u8; 16];

/// Where an SSE entry lives on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntryLocation {
    /// A dictionary entry under a pseudorandom label.
    Dictionary(Label),
    /// A slot of the scheme's array (2Lev), at a position chosen at random by the client.
    Array(u32),
}

/// One encrypted SSE index entry: a location and an opaque value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedEntry {
    /// Where the entry goes.
    pub location: EntryLocation,
    /// The encrypted value.
    #[serde(with = "byte_vec")]
    pub value: Vec<u8>,
}

/// Public description of an SSE index instance: which scheme and its public
/// parameters. The server keeps it so every device uses the same layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SseDescriptor {
    /// Instance name, chosen by the client (e.g. `pack`).
    pub instance: String,
    /// Scheme name, one of `crate::sse::registry::Scheme::name` (checked by the server).
    pub scheme: String,
    /// Document ids per entry or block (1 for Pi_bas and the dynamic schemes).
    pub block: u16,
    /// Whether the server learns result ids (response-revealing) or returns
    /// encrypted values for the client to open (response-hiding).
    pub response_revealing: bool,
    /// Key version the instance was built under, so a client holding another
    /// version is refused at open instead of silently finding nothing.
    pub key_version: u32,
}

/// One seed of a GGM tree node, as Diana's constrained search token carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GgmNode {
    /// Depth below the root (0 is the root; leaves are at the tree height).
    pub depth: u8,
    /// Index of the node among those of its depth, left to right.
    pub index: u32,
    /// The node's seed.
    pub seed: [u8; 16],
}

/// What a client sends to search one keyword. Each variant carries per-keyword
/// pseudorandom values derived on the client; never a master or scheme key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchToken {
    /// Pi_bas and Pi_pack: the keyword's label key and, when the instance is
    /// response-revealing, its value key.
    Dictionary {
        /// Per-keyword key of the entry labels.
        label_key: [u8; 16],
        /// Per-keyword key of the entry values (response-revealing only).
        value_key: Option<[u8; 16]>,
    },
    /// 2Lev: label key, key of the dictionary value and pointer blocks, and
    /// (response-revealing only) key of the id blocks.
    TwoLevel {
        /// Per-keyword key of the dictionary label.
        label_key: [u8; 16],
        /// Per-keyword key of the dictionary value and the pointer blocks.
        pointer_key: [u8; 16],
        /// Per-keyword key of the id blocks (response-revealing only).
        leaf_key: Option<[u8; 16]>,
    },
    /// Mitra: the addresses of every update of the keyword so far.
    Addresses(Vec<Label>),
    /// Diana: GGM nodes covering leaves `0..count` and the keyword's hash key.
    Ggm {
        /// The covering nodes.
        nodes: Vec<GgmNode>,
        /// Number of leaves covered (updates of the keyword).
        count: u32,
        /// Per-keyword key of labels and masks derived from the leaves.
        hash_key: [u8; 16],
    },
    /// Mitra after consolidation: the label key of the keyword's packed
    /// blocks and how many there are (the server looks up labels
    /// `0..blocks` under it), then the addresses of the updates since.
    PackedAddresses {
        /// Per-generation key of the packed blocks' labels.
        label_key: [u8; 16],
        /// Number of packed blocks.
        blocks: u32,
        /// Addresses of the updates after the blocks were written.
        addresses: Vec<Label>,
    },
    /// Diana after consolidation: the keys of the keyword's packed blocks
    /// and how many there are (the server looks up labels `0..blocks` of
    /// `label_key` and opens them with `value_key`, as it opens the adds:
    /// Diana is response-revealing), then a constrained key for the adds
    /// since, as in [`SearchToken::Ggm`] (`count` 0 and no nodes if none).
    PackedGgm {
        /// Per-generation key of the packed blocks' labels.
        label_key: [u8; 16],
        /// Per-generation key of the packed blocks' keystreams.
        value_key: [u8; 16],
        /// Number of packed blocks.
        blocks: u32,
        /// GGM nodes covering the leaves `0..count` of the adds since.
        nodes: Vec<GgmNode>,
        /// Number of adds since the blocks were written.
        count: u32,
        /// Per-generation key of labels and masks derived from the leaves.
        hash_key: [u8; 16],
    },
}

/// What a client sends for an OXT conjunction (see `crate::sse::oxt`):
/// the s-term's TSet keys and, per entry of the s-term's list, one blinded
/// xtoken per x-term. Only per-query pseudorandom values; never a key of the
/// instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OxtToken {
    /// Per-keyword key of the s-term's TSet labels (half of the stag).
    pub label_key: [u8; 16],
    /// Per-keyword key of the s-term's TSet values (the other half).
    pub value_key: [u8; 16],
    /// Number of x-terms: the conjunction's terms other than the s-term.
    pub xterms: u8,
    /// Rows of `xterms` compressed Ristretto points (32 bytes each), one
    /// row per entry of the s-term's list, in list order.
    pub xtokens: Vec<u8>,
}

/// The server's answer to an SSE search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchResult {
    /// Response-revealing schemes: the matching ids (for dynamic schemes, the
    /// decrypted update records, see the scheme).
    Ids(Vec<DocId>),
    /// Response-hiding schemes and Mitra: encrypted values, in the order the token asked for them.
    Values(#[serde(with = "byte_vecs")] Vec<Vec<u8>>),
}

impl SearchResult {
    /// Number of ids or values in the result.
    pub fn len(&self) -> usize {
        match self {
            SearchResult::Ids(v) => v.len(),
            SearchResult::Values(v) => v.len(),
        }
    }

    /// Whether the result is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Document ids as one byte string of 4-byte little-endian words: the id
/// answer of [`Request::SseSearchFixedIds`]. Encoded and decoded as one
/// block, where [`SearchResult::Ids`] costs a varint per id each way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIds(#[serde(with = "byte_vec")] Vec<u8>);

impl FixedIds {
    /// The answer holding `ids`, in order.
    pub fn from_ids(ids: &[DocId]) -> Self {
        let mut bytes = Vec::with_capacity(4 * ids.len());
        for id in ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        FixedIds(bytes)
    }

    /// The ids, in order.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the byte string is not a whole number of ids
    /// (it comes from the network).
    pub fn ids(&self) -> Result<Vec<DocId>> {
        if !self.0.len().is_multiple_of(4) {
            return Err(Error::Protocol(format!(
                "fixed-width id answer of {} bytes is not a multiple of 4",
                self.0.len()
            )));
        }
        Ok(self.whole_ids().collect())
    }

    /// The ids of the whole 4-byte words, in order: all of them in an
    /// answer the server made, which [`FixedIds::ids`] checks.
    pub fn whole_ids(&self) -> impl Iterator<Item = DocId> + '_ {
        self.0.as_chunks::<4>().0.iter().map(|w| DocId::from_le_bytes(*w))
    }

    /// Number of whole 4-byte words.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Whether there is no whole word.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request from client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Store (or replace) sealed documents, without index entries (the REST
    /// route). Ids at or above the tenant's next free id move it past them;
    /// a deleted id is refused. Ingest uses [`Request::Ingest`].
    PutDocuments(Vec<EncryptedDocument>),
    /// Fetch sealed documents by id; missing ids are omitted from the answer.
    GetDocuments(Vec<DocId>),
    /// Add posting-list entries to a blind index.
    InsertBlindPostings(BlindPostings),
    /// Evaluate a blind query; optionally return the candidate documents too.
    BlindSearch {
        /// The query.
        query: BlindQuery,
        /// Whether to return the sealed candidate documents with the ids.
        fetch_documents: bool,
    },
    /// Store the tenant's public schema.
    PutSchema(Schema),
    /// Read the tenant's public schema.
    GetSchema,
    /// Durability point: everything acknowledged before is on stable storage after this returns.
    Sync,
    /// Storage statistics.
    Stats,
    /// Registers an SSE index instance (idempotent for an identical descriptor).
    SseCreate(SseDescriptor),
    /// Reads the descriptor of an SSE instance.
    SseDescribe {
        /// Instance name.
        instance: String,
    },
    /// Stores SSE entries: a chunk of a static setup, or dynamic updates.
    SseInsert {
        /// Instance name.
        instance: String,
        /// The entries.
        entries: Vec<EncryptedEntry>,
    },
    /// Searches an SSE instance with a keyword's token.
    SseSearch {
        /// Instance name.
        instance: String,
        /// The token.
        token: SearchToken,
    },
    /// Deletes sealed documents by id, without their index entries (the
    /// REST route, where the server cannot know a message's tokens): the
    /// ids join the tenant's tombstones, which every search applies.
    /// Answers [`Response::DocumentIds`] with the ids that were stored and
    /// are now deleted. Clients use [`Request::DeleteMessages`].
    DeleteDocuments(Vec<DocId>),
    /// Lists stored document ids, ascending: at most `limit` (capped at
    /// [`crate::server::MAX_BATCH`]) ids greater than `after`. Answers
    /// [`Response::DocumentIds`].
    ListDocumentIds {
        /// Only ids greater than this one (`None`: from the first).
        after: Option<DocId>,
        /// Most ids to return.
        limit: u32,
    },
    /// Entry counts and bytes of named blind indexes and SSE instances.
    /// Answers [`Response::IndexStats`], aligned with the names asked for.
    IndexStats {
        /// Blind index names.
        blind_indexes: Vec<String>,
        /// SSE instance names.
        sse_instances: Vec<String>,
    },
    /// Reserves `count` fresh document ids for the tenant: answers
    /// [`Response::DocumentIdRange`], a range no other reservation, put or
    /// delete of the tenant has touched. Durable before it is answered, so
    /// a range is never handed out twice. A `count` of 0 reads the next
    /// free id (every stored id is below it) and reserves nothing.
    ReserveDocumentIds {
        /// How many ids (at most [`crate::server::MAX_BATCH`] times 100).
        count: u32,
    },
    /// Stores new documents with their blind-index postings in one
    /// transaction. Refused (409) if an id was not reserved, is stored
    /// already, or was deleted.
    Ingest(IngestBatch),
    /// Deletes messages with their blind-index postings (which the client
    /// computes from the decrypted messages) in one transaction, and adds
    /// the ids to the tombstones that SSE searches apply. Answers
    /// [`Response::DocumentIds`] with the ids that were stored.
    DeleteMessages {
        /// The messages.
        ids: Vec<DocId>,
        /// Postings to remove, one entry per index; every id in them is one of `ids`.
        postings: Vec<BlindPostings>,
    },
    /// The tenant's deleted ids. Answers [`Response::Tombstones`].
    Tombstones,
    /// Stores the tenant's schema with its tag, if it has none yet (the
    /// first stays: the same indexes again are accepted, others are a 409).
    CreateSchema {
        /// The schema.
        schema: Schema,
        /// The creating client's tag over it.
        tag: [u8; 32],
    },
    /// Reads the schema with its tag. Answers [`Response::TaggedSchema`].
    GetTaggedSchema,
    /// Reads the sealed client state a dynamic SSE instance's devices
    /// share (counters, sealed on the client). Answers [`Response::ClientState`].
    GetClientState {
        /// The SSE instance.
        instance: String,
    },
    /// Replaces the shared client state of an instance if it is at
    /// `version - 1` (0: none yet), compare-and-swap: two devices never
    /// both reserve the same counters. Answers [`Response::Ok`], or a 409
    /// when another device got there first (read it again and retry).
    PutClientState {
        /// The SSE instance.
        instance: String,
        /// The state's new version, one more than the version it replaces.
        version: u64,
        /// The state, sealed by the client with the version as associated data.
        sealed: Vec<u8>,
    },
    /// Reads the tenant's key epoch (which key versions hold its data).
    /// Answers [`Response::KeyEpoch`].
    GetKeyEpoch,
    /// Starts a key rotation: from now on new messages must be sealed and
    /// indexed under `epoch.current`, and data under `epoch.previous` is
    /// moved by [`Request::RotateDocuments`]. `schema_tag` is the schema's
    /// tag under the new version, stored with it (the old tag names a key
    /// being retired). Refused (409) unless the tenant is at rest at
    /// `epoch.previous` and `epoch.current` is the next version; the same
    /// request again is accepted (a resumed rotation).
    BeginRotation {
        /// The epoch to enter: `previous` is the version now current.
        epoch: KeyEpoch,
        /// The schema's tag under `epoch.current`, if the tenant has a schema.
        schema_tag: Option<[u8; 32]>,
    },
    /// One batch of a rotation, in one transaction: each document replaces
    /// the stored one of its id if that is still stored (a document deleted
    /// meanwhile stays deleted and its postings are not added), postings of
    /// the old version are removed and those of the new one added. Refused
    /// (409) unless the tenant is in `epoch`. Answers [`Response::DocumentIds`]
    /// with the ids rewritten.
    RotateDocuments {
        /// The rotation this batch belongs to.
        epoch: KeyEpoch,
        /// The documents, sealed under `epoch.current`.
        documents: Vec<EncryptedDocument>,
        /// Postings under the old version to remove.
        remove: Vec<BlindPostings>,
        /// Postings under the new version to add.
        add: Vec<BlindPostings>,
    },
    /// Ends a rotation: the tenant rests at `epoch.current`. Refused (409)
    /// unless it is in `epoch` (or already rests after it).
    FinishRotation {
        /// The rotation to end.
        epoch: KeyEpoch,
    },
    /// [`Request::Ingest`] under a key version: refused (409) unless
    /// `key_version` is the tenant's current one, so no message is written
    /// under a version a rotation is retiring.
    IngestAt {
        /// The version the batch is sealed and indexed under.
        key_version: u32,
        /// The batch.
        batch: IngestBatch,
    },
    /// [`Request::BlindSearch`] by a client that believes the tenant is in
    /// `epoch` (and asks every version live in it): refused (409) if the
    /// epoch changed before the answer was read, so a search racing a
    /// rotation's start or end is retried rather than answered incompletely.
    BlindSearchAt {
        /// The epoch the query's versions were chosen for.
        epoch: KeyEpoch,
        /// The query.
        query: BlindQuery,
        /// Whether to return the sealed candidate documents with the ids.
        fetch_documents: bool,
    },
    /// [`Request::SseSearch`] by a client holding the instance's keys of
    /// `key_version`: refused (409) if the instance was rebuilt under
    /// another version since, so an old handle is told to reopen instead of
    /// finding nothing.
    SseSearchAt {
        /// Instance name.
        instance: String,
        /// The key version the token was derived under.
        key_version: u32,
        /// The token.
        token: SearchToken,
    },
    /// Replaces SSE instance `instance` with `staged`, an instance of the
    /// same scheme and parameters built beside it under a newer key
    /// version, in one transaction: the old entries, descriptor and shared
    /// client state go, the staged ones take the name. With `expect_state`,
    /// refused (409) unless the old instance's shared client state is still
    /// at that version (0: none), so no update another device made during
    /// the rebuild is lost.
    SseSwap {
        /// The instance to replace.
        instance: String,
        /// The instance built under the new key version.
        staged: String,
        /// The old instance's shared-state version the rebuild started from.
        expect_state: Option<u64>,
    },
    /// Deletes an SSE instance: its entries, descriptor and shared client
    /// state, in one transaction. Answers [`Response::Ok`] (also if absent).
    SseDrop {
        /// Instance name.
        instance: String,
    },
    /// An OXT conjunction on an instance of scheme `oxt`, by a client
    /// holding keys of `key_version` (refused, 409, under another version
    /// as [`Request::SseSearchAt`]). Answers [`Response::SseResult`] with
    /// the encrypted ids of the s-term's entries that every x-term's xtag
    /// test passes.
    OxtSearch {
        /// Instance name.
        instance: String,
        /// The key version the token was derived under.
        key_version: u32,
        /// The token.
        token: OxtToken,
    },
    /// Deletes entries of a dynamic SSE instance by location, in one
    /// transaction, by a client holding keys of `key_version` (refused,
    /// 409, under another version). A dynamic client sends it after it
    /// has rewritten a searched keyword's entries as packed blocks: the
    /// locations are those the search just named, so the server learns
    /// nothing it did not know. Absent locations are skipped.
    SseRemove {
        /// Instance name.
        instance: String,
        /// The key version the client holds.
        key_version: u32,
        /// The locations to delete.
        locations: Vec<EntryLocation>,
    },
    /// [`Request::SseSearchAt`] by a client that reads
    /// [`Response::SseFixedIds`]: an answer of ids comes as that instead of
    /// [`SearchResult::Ids`] (the same ids, cheaper to encode and decode);
    /// any other answer as for [`Request::SseSearchAt`].
    SseSearchFixedIds {
        /// Instance name.
        instance: String,
        /// The key version the token was derived under.
        key_version: u32,
        /// The token.
        token: SearchToken,
    },
}

/// Which key versions hold a tenant's data. Public: it tells the server
/// that a rotation runs, which it sees anyway from the rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyEpoch {
    /// The version new data is sealed and indexed under.
    pub current: u32,
    /// During a rotation, the version being retired: some data may still
    /// be under it, so searches ask both.
    pub previous: Option<u32>,
    /// A random id of the latest rotation (zeros before the first), so a
    /// rotation's checkpoint cannot be replayed into another rotation or store.
    pub rotation: [u8; 16],
}

impl KeyEpoch {
    /// A tenant that never rotated: version 1, at rest.
    pub const INITIAL: KeyEpoch = KeyEpoch { current: 1, previous: None, rotation: [0; 16] };

    /// The versions that may hold data, current first.
    pub fn live_versions(&self) -> Vec<u32> {
        std::iter::once(self.current).chain(self.previous).collect()
    }
}

impl Default for KeyEpoch {
    fn default() -> Self {
        Self::INITIAL
    }
}

/// A sealed client state and its version, as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedState {
    /// Version: 1 for the first state put, then one more per replacement.
    pub version: u64,
    /// The state, sealed by the client.
    pub sealed: Vec<u8>,
}

/// Entries and bytes (keys and values) one index occupies on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSize {
    /// Stored entries (posting lists, or SSE entries and array blocks).
    pub entries: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// Storage figures reported by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Number of stored documents.
    pub documents: u64,
    /// Bytes of stored documents (keys and values).
    pub document_bytes: u64,
    /// Number of posting lists (distinct tokens over all blind indexes).
    pub posting_lists: u64,
    /// Bytes of posting lists (keys and serialized bitmaps).
    pub posting_bytes: u64,
    /// Number of SSE entries (all instances).
    pub sse_entries: u64,
    /// Bytes of SSE entries (keys and values).
    pub sse_bytes: u64,
}

/// A response from server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The request succeeded and returns nothing.
    Ok,
    /// Sealed documents.
    Documents(Vec<EncryptedDocument>),
    /// Result of a blind search: candidate ids (a superset of the true matches
    /// when tokens are truncated) and, if asked, their sealed documents.
    BlindResult {
        /// Candidate document ids, ascending.
        ids: Vec<DocId>,
        /// The sealed candidates, if requested.
        documents: Vec<EncryptedDocument>,
    },
    /// The tenant's schema, if one was stored.
    Schema(Option<Schema>),
    /// Storage statistics.
    Stats(ServerStats),
    /// An SSE instance's descriptor, if it exists.
    SseDescriptor(Option<SseDescriptor>),
    /// Result of an SSE search.
    SseResult(SearchResult),
    /// The request was rejected. `code` follows HTTP status semantics.
    Error {
        /// HTTP-style status code (400 malformed, 404 not found, 413 too large, 422 wrong version, 500 server).
        code: u16,
        /// Human-readable reason; never contains tokens or ciphertext.
        message: String,
    },
    /// Document ids: those deleted, or a page of stored ids.
    DocumentIds(Vec<DocId>),
    /// Sizes of the blind indexes and SSE instances asked for, in the order asked.
    IndexStats {
        /// One per blind index name.
        blind: Vec<IndexSize>,
        /// One per SSE instance name.
        sse: Vec<IndexSize>,
    },
    /// Freshly reserved document ids: `first..end`.
    DocumentIdRange {
        /// First id of the range.
        first: DocId,
        /// One past the last id.
        end: DocId,
    },
    /// Deleted ids, as a serialized roaring bitmap (portable format).
    Tombstones(Vec<u8>),
    /// The tenant's schema and its tag, if a schema was stored.
    TaggedSchema(Option<TaggedSchema>),
    /// An instance's shared client state, if one was put.
    ClientState(Option<VersionedState>),
    /// The tenant's key epoch.
    KeyEpoch(KeyEpoch),
    /// Result of a [`Request::SseSearchFixedIds`] that found ids.
    SseFixedIds(FixedIds),
}

/// Encodes a protocol value: 2-byte big-endian protocol version, then postcard.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Sized up front: a search answer of many documents would otherwise be
    // copied again at each doubling of the buffer.
    let mut out = Vec::with_capacity(usize::try_from(encoded_len(value)).unwrap_or(0));
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    // postcard serialization into a Vec cannot fail for our types (no maps with non-string keys, no unsized).
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard encoding of a protocol type failed: {e}"),
    }
}

/// Decodes a protocol value, validating the version and rejecting trailing bytes.
///
/// # Errors
/// [`Error::Protocol`] for a short, truncated, malformed or wrong-version message.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let Some((ver, body)) = bytes.split_first_chunk::<2>() else {
        return Err(Error::Protocol(format!("message of {} bytes is shorter than the version header", bytes.len())));
    };
    let version = u16::from_be_bytes(*ver);
    if version != PROTOCOL_VERSION {
        return Err(Error::ProtocolVersion { found: version, supported: PROTOCOL_VERSION });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| {
        Error::Protocol(match e {
            // postcard drops the text of a validation error raised while
            // decoding; the only one our types raise is the depth limit.
            postcard::Error::SerdeDeCustom => {
                format!("decode failed: a blind query nested deeper than {MAX_QUERY_DEPTH} levels")
            }
            e => format!("decode failed: {e}"),
        })
    })?;
    if !rest.is_empty() {
        return Err(Error::Protocol(format!("{} trailing bytes after message", rest.len())));
    }
    Ok(value)
}

/// JSON form of a protocol value, for debugging and logs of shapes (never log
/// token values in production).
///
/// # Errors
/// [`Error::Protocol`] if serialization fails.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(&serde_json::json!({ "version": PROTOCOL_VERSION, "body": value }))
        .map_err(|e| Error::Protocol(e.to_string()))
}

/// Parses the JSON form produced by [`to_json`].
///
/// # Errors
/// [`Error::Protocol`] if the JSON is malformed or of another version.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    #[derive(Deserialize)]
    struct Envelope<B> {
        version: u16,
        body: B,
    }
    // The version is checked before the body is typed, so a message of
    // another version is reported as such even when its body does not parse.
    let env: Envelope<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| Error::Protocol(format!("JSON decode failed: {e}")))?;
    if env.version != PROTOCOL_VERSION {
        return Err(Error::ProtocolVersion { found: env.version, supported: PROTOCOL_VERSION });
    }
    serde_json::from_value(env.body).map_err(|e| Error::Protocol(format!("JSON decode failed: {e}")))
}

/// The spec an index descriptor was planned from.
impl From<&IndexDescriptor> for IndexSpec {
    fn from(d: &IndexDescriptor) -> Self {
        IndexSpec { name: d.name.clone(), fields: d.fields.clone() }
    }
}

/// `Ok(())` for [`Response::Ok`], else the error of [`unexpected`].
///
/// # Errors
/// [`Error::Protocol`] for any other response.
pub fn expect_ok(r: Response) -> Result<()> {
    match r {
        Response::Ok => Ok(()),
        other => Err(unexpected(&other)),
    }
}

/// The error for a response of the wrong kind (a client asked one thing and got another).
pub fn unexpected(r: &Response) -> Error {
    let kind = match r {
        Response::Ok => "Ok",
        Response::Documents(_) => "Documents",
        Response::BlindResult { .. } => "BlindResult",
        Response::Schema(_) => "Schema",
        Response::Stats(_) => "Stats",
        Response::SseDescriptor(_) => "SseDescriptor",
        Response::SseResult(_) => "SseResult",
        Response::Error { .. } => "Error",
        Response::DocumentIds(_) => "DocumentIds",
        Response::IndexStats { .. } => "IndexStats",
        Response::DocumentIdRange { .. } => "DocumentIdRange",
        Response::Tombstones(_) => "Tombstones",
        Response::TaggedSchema(_) => "TaggedSchema",
        Response::ClientState(_) => "ClientState",
        Response::KeyEpoch(_) => "KeyEpoch",
        Response::SseFixedIds(_) => "SseFixedIds",
    };
    Error::Protocol(format!("unexpected {kind} response"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Binary and JSON forms decode to the value encoded, and no strict
    /// prefix of the binary form decodes (the encoding is self-delimiting,
    /// so a truncated message is always an error, never another message).
    fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
        let bytes = encode(value);
        assert_eq!(&decode::<T>(&bytes).unwrap(), value);
        for cut in 0..bytes.len() {
            assert!(decode::<T>(&bytes[..cut]).is_err(), "prefix of {cut} of {} bytes decoded", bytes.len());
        }
        assert_eq!(&from_json::<T>(&to_json(value).unwrap()).unwrap(), value);
    }

    proptest! {
        #[test]
        fn requests_round_trip(request in strategies::request()) {
            round_trips(&request);
        }

        #[test]
        fn responses_round_trip(response in strategies::response()) {
            round_trips(&response);
        }
    }

    /// A fixed-width id answer that is not a whole number of ids decodes
    /// (it is a byte string) but gives no ids: a protocol error, not a panic.
    #[test]
    fn fixed_ids_of_a_partial_word_are_a_protocol_error() {
        let whole = encode(&Response::SseFixedIds(FixedIds::from_ids(&[1, 0x0403_0201])));
        assert_eq!(hex::encode(&whole), "00010f080100000001020304");
        let Response::SseFixedIds(ids) = decode::<Response>(&whole).unwrap() else { panic!("not fixed ids") };
        assert_eq!(ids.ids().unwrap(), vec![1, 0x0403_0201]);
        for len in [1u8, 2, 3, 5, 7] {
            let mut b = vec![0, 1, 0x0f, len];
            b.extend((0..len).map(|i| i + 1));
            let Response::SseFixedIds(ids) = decode::<Response>(&b).unwrap() else { panic!("not fixed ids") };
            assert!(matches!(ids.ids(), Err(Error::Protocol(_))), "{len} bytes");
            assert_eq!(ids.len(), usize::from(len / 4));
        }
    }

    #[test]
    fn wrong_version_and_garbage_are_errors() {
        let mut b = encode(&Request::GetSchema);
        b[1] = 9;
        assert!(decode::<Request>(&b).unwrap_err().to_string().contains("version"));
        assert!(decode::<Request>(&[]).is_err());
        assert!(decode::<Request>(&[0, 1, 200, 200, 200]).is_err());
    }

    /// `sealed` as bytes encodes exactly as the `Vec<u8>` sequence it was
    /// before, in postcard and JSON, so stored documents and peers agree.
    #[test]
    fn sealed_bytes_encode_as_a_byte_sequence() {
        #[derive(Serialize, Deserialize)]
        struct AsSequence {
            public: PublicMetadata,
            nonce: [u8; 16],
            sealed: Vec<u8>,
        }
        let public = PublicMetadata { tenant: "t".into(), doc_id: 3, envelope_version: 2 };
        let sealed: Vec<u8> = (0..=255).chain(0..40).collect();
        let doc = EncryptedDocument { public: public.clone(), nonce: [7; 16], sealed: sealed.clone() };
        let seq = AsSequence { public, nonce: [7; 16], sealed };
        assert_eq!(encode(&doc), encode(&seq));
        assert_eq!(to_json(&doc).unwrap(), to_json(&seq).unwrap());
        assert_eq!(decode::<EncryptedDocument>(&encode(&seq)).unwrap(), doc);
        assert_eq!(from_json::<EncryptedDocument>(&to_json(&seq).unwrap()).unwrap(), doc);
    }

    #[test]
    fn json_round_trip() {
        let r = Request::GetDocuments(vec![1, 2, 3]);
        assert_eq!(from_json::<Request>(&to_json(&r).unwrap()).unwrap(), r);
    }
}
