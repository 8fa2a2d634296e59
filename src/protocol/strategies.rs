//! Proptest strategies of the protocol types: any value of each, for the
//! round-trip properties in `protocol` and any other test that needs messages.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use super::*;
use crate::message::Field;

/// Short names, any Unicode: the encodings must not care what a name holds.
fn name() -> impl Strategy<Value = String> {
    ".{0,12}"
}

fn ids() -> impl Strategy<Value = Vec<DocId>> {
    vec(any::<DocId>(), 0..6)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..40)
}

/// Any sealed document.
pub(crate) fn document() -> impl Strategy<Value = EncryptedDocument> {
    (name(), any::<DocId>(), any::<u16>(), any::<[u8; 16]>(), bytes()).prop_map(
        |(tenant, doc_id, envelope_version, nonce, sealed)| EncryptedDocument {
            public: PublicMetadata { tenant, doc_id, envelope_version },
            nonce,
            sealed,
        },
    )
}

/// Any blind query, up to three levels of AND and OR.
pub(crate) fn blind_query() -> impl Strategy<Value = BlindQuery> {
    let token = (name(), any::<u64>()).prop_map(|(index, value)| BlindQuery::Token(BlindToken { index, value }));
    token.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![vec(inner.clone(), 0..4).prop_map(BlindQuery::And), vec(inner, 0..4).prop_map(BlindQuery::Or)]
    })
}

/// Any blind-index schema.
pub(crate) fn schema() -> impl Strategy<Value = Schema> {
    let field = proptest::sample::select(Field::ALL.to_vec());
    let descriptor =
        (name(), vec(field, 0..3), any::<u8>()).prop_map(|(name, fields, bits)| IndexDescriptor { name, fields, bits });
    (vec(descriptor, 0..3), any::<DocId>()).prop_map(|(indexes, next_doc_id)| Schema { indexes, next_doc_id })
}

/// Any SSE instance descriptor.
pub(crate) fn sse_descriptor() -> impl Strategy<Value = SseDescriptor> {
    (name(), name(), any::<u16>(), any::<bool>(), any::<u32>()).prop_map(
        |(instance, scheme, block, response_revealing, key_version)| SseDescriptor {
            instance,
            scheme,
            block,
            response_revealing,
            key_version,
        },
    )
}

/// Any SSE entry, dictionary or array.
pub(crate) fn entry() -> impl Strategy<Value = EncryptedEntry> {
    let location =
        prop_oneof![any::<Label>().prop_map(EntryLocation::Dictionary), any::<u32>().prop_map(EntryLocation::Array)];
    (location, bytes()).prop_map(|(location, value)| EncryptedEntry { location, value })
}

/// Any search token of any kind.
pub(crate) fn search_token() -> impl Strategy<Value = SearchToken> {
    let key = any::<[u8; 16]>;
    let node = (any::<u8>(), any::<u32>(), key()).prop_map(|(depth, index, seed)| GgmNode { depth, index, seed });
    prop_oneof![
        (key(), option::of(key())).prop_map(|(label_key, value_key)| SearchToken::Dictionary { label_key, value_key }),
        (key(), key(), option::of(key())).prop_map(|(label_key, pointer_key, leaf_key)| {
            SearchToken::TwoLevel { label_key, pointer_key, leaf_key }
        }),
        vec(any::<Label>(), 0..5).prop_map(SearchToken::Addresses),
        (vec(node.clone(), 0..4), any::<u32>(), key()).prop_map(|(nodes, count, hash_key)| SearchToken::Ggm {
            nodes,
            count,
            hash_key
        }),
        (key(), any::<u32>(), vec(any::<Label>(), 0..5)).prop_map(|(label_key, blocks, addresses)| {
            SearchToken::PackedAddresses { label_key, blocks, addresses }
        }),
        (key(), key(), any::<u32>(), vec(node, 0..4), any::<u32>(), key()).prop_map(
            |(label_key, value_key, blocks, nodes, count, hash_key)| SearchToken::PackedGgm {
                label_key,
                value_key,
                blocks,
                nodes,
                count,
                hash_key
            }
        ),
    ]
}

/// Postings of one index.
fn postings() -> impl Strategy<Value = BlindPostings> {
    (name(), vec((any::<u64>(), ids()), 0..4)).prop_map(|(index, postings)| BlindPostings { index, postings })
}

/// Any request of any variant.
pub(crate) fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        vec(document(), 0..3).prop_map(Request::PutDocuments),
        ids().prop_map(Request::GetDocuments),
        postings().prop_map(Request::InsertBlindPostings),
        (blind_query(), any::<bool>())
            .prop_map(|(query, fetch_documents)| Request::BlindSearch { query, fetch_documents }),
        schema().prop_map(Request::PutSchema),
        Just(Request::GetSchema),
        Just(Request::Sync),
        Just(Request::Stats),
        sse_descriptor().prop_map(Request::SseCreate),
        name().prop_map(|instance| Request::SseDescribe { instance }),
        (name(), vec(entry(), 0..4)).prop_map(|(instance, entries)| Request::SseInsert { instance, entries }),
        (name(), search_token()).prop_map(|(instance, token)| Request::SseSearch { instance, token }),
        ids().prop_map(Request::DeleteDocuments),
        (option::of(any::<DocId>()), any::<u32>()).prop_map(|(after, limit)| Request::ListDocumentIds { after, limit }),
        (vec(name(), 0..3), vec(name(), 0..3))
            .prop_map(|(blind_indexes, sse_instances)| { Request::IndexStats { blind_indexes, sse_instances } }),
        any::<u32>().prop_map(|count| Request::ReserveDocumentIds { count }),
        (vec(document(), 0..3), vec(postings(), 0..3))
            .prop_map(|(documents, postings)| Request::Ingest(IngestBatch { documents, postings })),
        (ids(), vec(postings(), 0..3)).prop_map(|(ids, postings)| Request::DeleteMessages { ids, postings }),
        Just(Request::Tombstones),
        (schema(), any::<[u8; 32]>()).prop_map(|(schema, tag)| Request::CreateSchema { schema, tag }),
        Just(Request::GetTaggedSchema),
        name().prop_map(|instance| Request::GetClientState { instance }),
        (name(), any::<u64>(), vec(any::<u8>(), 0..40))
            .prop_map(|(instance, version, sealed)| Request::PutClientState { instance, version, sealed }),
        Just(Request::GetKeyEpoch),
        (key_epoch(), option::of(any::<[u8; 32]>()))
            .prop_map(|(epoch, schema_tag)| Request::BeginRotation { epoch, schema_tag }),
        (key_epoch(), vec(document(), 0..3), vec(postings(), 0..2), vec(postings(), 0..2))
            .prop_map(|(epoch, documents, remove, add)| Request::RotateDocuments { epoch, documents, remove, add }),
        key_epoch().prop_map(|epoch| Request::FinishRotation { epoch }),
        (any::<u32>(), vec(document(), 0..3), vec(postings(), 0..3)).prop_map(|(key_version, documents, postings)| {
            Request::IngestAt { key_version, batch: IngestBatch { documents, postings } }
        }),
        (key_epoch(), blind_query(), any::<bool>())
            .prop_map(|(epoch, query, fetch_documents)| Request::BlindSearchAt { epoch, query, fetch_documents }),
        (name(), any::<u32>(), search_token()).prop_map(|(instance, key_version, token)| Request::SseSearchAt {
            instance,
            key_version,
            token
        }),
        (name(), name(), option::of(any::<u64>())).prop_map(|(instance, staged, expect_state)| Request::SseSwap {
            instance,
            staged,
            expect_state
        }),
        name().prop_map(|instance| Request::SseDrop { instance }),
        (name(), any::<u32>(), any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u8>(), bytes()).prop_map(
            |(instance, key_version, label_key, value_key, xterms, xtokens)| Request::OxtSearch {
                instance,
                key_version,
                token: OxtToken { label_key, value_key, xterms, xtokens }
            }
        ),
        (name(), any::<u32>(), vec(entry(), 0..4)).prop_map(|(instance, key_version, entries)| {
            Request::SseRemove { instance, key_version, locations: entries.into_iter().map(|e| e.location).collect() }
        }),
        (name(), any::<u32>(), search_token())
            .prop_map(|(instance, key_version, token)| { Request::SseSearchFixedIds { instance, key_version, token } }),
    ]
}

/// Any key epoch.
fn key_epoch() -> impl Strategy<Value = KeyEpoch> {
    (any::<u32>(), option::of(any::<u32>()), any::<[u8; 16]>()).prop_map(|(current, previous, rotation)| KeyEpoch {
        current,
        previous,
        rotation,
    })
}

/// Any response of any variant.
pub(crate) fn response() -> impl Strategy<Value = Response> {
    let size = (any::<u64>(), any::<u64>()).prop_map(|(entries, bytes)| IndexSize { entries, bytes });
    let stats = any::<[u64; 6]>().prop_map(|[a, b, c, d, e, f]| ServerStats {
        documents: a,
        document_bytes: b,
        posting_lists: c,
        posting_bytes: d,
        sse_entries: e,
        sse_bytes: f,
    });
    let result = prop_oneof![ids().prop_map(SearchResult::Ids), vec(bytes(), 0..4).prop_map(SearchResult::Values)];
    prop_oneof![
        Just(Response::Ok),
        vec(document(), 0..3).prop_map(Response::Documents),
        (ids(), vec(document(), 0..3)).prop_map(|(ids, documents)| Response::BlindResult { ids, documents }),
        option::of(schema()).prop_map(Response::Schema),
        stats.prop_map(Response::Stats),
        option::of(sse_descriptor()).prop_map(Response::SseDescriptor),
        result.prop_map(Response::SseResult),
        (any::<u16>(), name()).prop_map(|(code, message)| Response::Error { code, message }),
        ids().prop_map(Response::DocumentIds),
        (vec(size.clone(), 0..3), vec(size, 0..3)).prop_map(|(blind, sse)| Response::IndexStats { blind, sse }),
        (any::<DocId>(), any::<DocId>()).prop_map(|(first, end)| Response::DocumentIdRange { first, end }),
        bytes().prop_map(Response::Tombstones),
        option::of((schema(), option::of(any::<[u8; 32]>())))
            .prop_map(|s| Response::TaggedSchema(s.map(|(schema, tag)| TaggedSchema { schema, tag }))),
        option::of((any::<u64>(), vec(any::<u8>(), 0..40)))
            .prop_map(|s| Response::ClientState(s.map(|(version, sealed)| VersionedState { version, sealed }))),
        key_epoch().prop_map(Response::KeyEpoch),
        ids().prop_map(|ids| Response::SseFixedIds(FixedIds::from_ids(&ids))),
    ]
}
