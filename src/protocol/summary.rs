//! What may be said of a message without its content: its kind, how many
//! items it carries, its encoded size. The audit log records these and
//! nothing else of a request or an answer.

use serde::Serialize;

use super::{Request, Response};

impl Request {
    /// The request's kind, as the audit log names it.
    pub fn operation(&self) -> &'static str {
        match self {
            Request::PutDocuments(_) => "PutDocuments",
            Request::GetDocuments(_) => "GetDocuments",
            Request::InsertBlindPostings(_) => "InsertBlindPostings",
            Request::BlindSearch { .. } => "BlindSearch",
            Request::PutSchema(_) => "PutSchema",
            Request::GetSchema => "GetSchema",
            Request::Sync => "Sync",
            Request::Stats => "Stats",
            Request::SseCreate(_) => "SseCreate",
            Request::SseDescribe { .. } => "SseDescribe",
            Request::SseInsert { .. } => "SseInsert",
            Request::SseSearch { .. } => "SseSearch",
            Request::DeleteDocuments(_) => "DeleteDocuments",
            Request::ListDocumentIds { .. } => "ListDocumentIds",
            Request::IndexStats { .. } => "IndexStats",
            Request::ReserveDocumentIds { .. } => "ReserveDocumentIds",
            Request::Ingest(_) => "Ingest",
            Request::DeleteMessages { .. } => "DeleteMessages",
            Request::Tombstones => "Tombstones",
            Request::CreateSchema { .. } => "CreateSchema",
            Request::GetTaggedSchema => "GetTaggedSchema",
            Request::GetClientState { .. } => "GetClientState",
            Request::PutClientState { .. } => "PutClientState",
            Request::GetKeyEpoch => "GetKeyEpoch",
            Request::BeginRotation { .. } => "BeginRotation",
            Request::RotateDocuments { .. } => "RotateDocuments",
            Request::FinishRotation { .. } => "FinishRotation",
            Request::IngestAt { .. } => "IngestAt",
            Request::BlindSearchAt { .. } => "BlindSearchAt",
            Request::SseSearchAt { .. } => "SseSearchAt",
            Request::SseSwap { .. } => "SseSwap",
            Request::SseDrop { .. } => "SseDrop",
            Request::OxtSearch { .. } => "OxtSearch",
            Request::SseRemove { .. } => "SseRemove",
            Request::SseSearchFixedIds { .. } => "SseSearchFixedIds",
        }
    }

    /// How many items the request carries: documents, ids, posting lists,
    /// SSE entries (0 for requests without a list).
    pub fn items(&self) -> u64 {
        let n = match self {
            Request::PutDocuments(d) => d.len(),
            Request::GetDocuments(ids) | Request::DeleteDocuments(ids) => ids.len(),
            Request::InsertBlindPostings(p) => p.postings.len(),
            Request::SseInsert { entries, .. } => entries.len(),
            Request::SseRemove { locations, .. } => locations.len(),
            Request::Ingest(b) | Request::IngestAt { batch: b, .. } => b.documents.len(),
            Request::RotateDocuments { documents, .. } => documents.len(),
            Request::DeleteMessages { ids, .. } => ids.len(),
            Request::ReserveDocumentIds { count } => usize::try_from(*count).unwrap_or(usize::MAX),
            Request::IndexStats { blind_indexes, sse_instances } => blind_indexes.len() + sse_instances.len(),
            _ => 0,
        };
        n as u64
    }
}

impl Response {
    /// How many items the answer carries: documents, ids, SSE results.
    pub fn items(&self) -> u64 {
        let n = match self {
            Response::Documents(d) => d.len(),
            Response::BlindResult { ids, .. } | Response::DocumentIds(ids) => ids.len(),
            Response::SseResult(r) => r.len(),
            Response::SseFixedIds(ids) => ids.len(),
            Response::DocumentIdRange { first, end } => usize::try_from(end.saturating_sub(*first)).unwrap_or(0),
            _ => 0,
        };
        n as u64
    }

    /// The HTTP-style status of the answer: its code for an error, else 200.
    pub fn status(&self) -> u16 {
        match self {
            Response::Error { code, .. } => *code,
            _ => 200,
        }
    }
}

/// The length of [`super::encode`]'s output, computed without building it.
pub fn encoded_len<T: Serialize>(value: &T) -> u64 {
    let body = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).unwrap_or(0);
    (super::PROTOCOL_VERSION.to_be_bytes().len() + body) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode;

    #[test]
    fn encoded_len_is_the_encoding_length() {
        let r = Request::GetDocuments(vec![1, 2, 300_000]);
        assert_eq!(encoded_len(&r), encode(&r).len() as u64);
        assert_eq!(r.operation(), "GetDocuments");
        assert_eq!(r.items(), 3);
        let a = Response::Error { code: 409, message: "x".into() };
        assert_eq!((a.status(), a.items()), (409, 0));
        assert_eq!(encoded_len(&a), encode(&a).len() as u64);
    }
}
