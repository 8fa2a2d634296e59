//! `sseek serve`: the HTTP API in front of [`crate::server::Server`], its
//! tenants and tokens, and its metrics. The client side of
//! the API is `crate::client::Http`.
//!
//! The API is small on purpose: `POST /v1/rpc` carries every protocol
//! [`Request`](crate::protocol::Request) (blind indexes, every SSE scheme,
//! documents, schema, stats), in the versioned binary encoding
//! (`application/octet-stream`) or its JSON form (`application/json`), and
//! answers in the same encoding. The document store also has REST routes.
//! `docs/openapi.json` describes every route and is served at `/openapi.json`.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `POST /v1/rpc` | bearer | any protocol request |
//! | `GET /v1/whoami` | bearer | the token's tenant |
//! | `GET /v1/documents` | bearer | list ids (`?after=ID&limit=N`) |
//! | `GET`/`PUT`/`DELETE /v1/documents/{id}` | bearer | one sealed document |
//! | `GET /healthz` | none | liveness and store reachability |
//! | `GET /metrics` | metrics token | Prometheus text (off without `--metrics-token`) |
//! | `GET /openapi.json` | none | the API description |
//! | `GET /v1/admin/backup` | admin token | online backup of the whole store, streamed |
//! | `DELETE /v1/admin/tenants/{name}` | admin token | erase a tenant: every row and token |
//!
//! The tenant comes from the token ([`auth`]), never from the request. Every
//! rejection is JSON `{"code": .., "message": ..}` with that HTTP status.
//!
//! Connections and requests are bounded by [`Limits`] (header and idle
//! timeout, request deadline, connection and in-flight caps) and the body
//! limit; with [`TlsFiles`] the server speaks HTTPS (rustls).

mod api;
pub mod auth;
mod listener;
pub mod metrics;

pub use api::{ServeOptions, serve, shutdown_signal};
pub use listener::{Limits, TlsFiles};

/// Every route the server answers, as (method, path template), in the
/// OpenAPI description's spelling.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/rpc"),
    ("get", "/v1/whoami"),
    ("get", "/v1/documents"),
    ("get", "/v1/documents/{id}"),
    ("put", "/v1/documents/{id}"),
    ("delete", "/v1/documents/{id}"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/admin/backup"),
    ("delete", "/v1/admin/tenants/{name}"),
];

/// The OpenAPI description, as committed in `docs/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// Default largest accepted request body: room for a full ingest chunk or an
/// SSE entry chunk with margin.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn openapi_parses_and_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in ROUTES {
            assert!(paths.get(*path).and_then(|p| p.get(*method)).is_some(), "{method} {path} missing");
        }
        let listed: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(listed, ROUTES.len(), "the description lists a route the server does not have");
    }
}
