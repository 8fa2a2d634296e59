//! The axum application: routes, authentication, limits, logs, shutdown.
//!
//! Store calls are blocking (redb, and [`crate::store::PostgresStore`], which
//! drives its own runtime), so every call into [`Server`] runs on tokio's
//! blocking pool through `spawn_blocking`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::listener::{self, Limits, TlsFiles};
use super::metrics::Metrics;
use super::{DEFAULT_MAX_BODY, OPENAPI_JSON, ROUTES, auth};
use crate::protocol::observer::BoundaryObserver;
use crate::protocol::{self, DocId, EncryptedDocument, Request as ProtoRequest, Response as ProtoResponse};
use crate::server::{CallContext, Server};
use crate::store::{Store, Table};
use crate::{Error, Result};

/// The server as the HTTP layer holds it: any store backend.
type Backend = Server<Box<dyn Store>>;

/// After a shutdown signal, how long requests in flight may take to finish
/// before the server stops anyway (then syncs the store and exits).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Options of [`serve`].
///
/// ```
/// use sseek::server::http::{Limits, ServeOptions};
/// let opts = ServeOptions { listen: "127.0.0.1:0".parse()?, ..ServeOptions::default() };
/// assert_eq!(opts.limits, Limits::default());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes; larger bodies get 413, and a
    /// larger `Content-Length` is refused before the body is read.
    pub max_body: usize,
    /// Timeouts and caps of connections and requests.
    pub limits: Limits,
    /// Serve HTTPS with this certificate and key; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Bearer token that `GET /metrics` requires; `None`: `/metrics` is off (404).
    pub metrics_token: Option<String>,
    /// Bearer token of the operator routes under `/v1/admin` (online backup,
    /// tenant erasure); `None`: they are off (404).
    pub admin_token: Option<String>,
    /// Requests per second each tenant may make (bursts of as many), more
    /// get 429 with `Retry-After`; `None`: unlimited.
    pub tenant_rate: Option<std::num::NonZeroU32>,
    /// Stored bytes each tenant may hold; writes beyond get 429; `None`: unlimited.
    pub tenant_quota_bytes: Option<u64>,
    /// Shown every request and answer (the leakage analysis records the
    /// server's view through it); `None`: the boundary is not observed.
    pub observer: Option<Arc<dyn BoundaryObserver>>,
}

impl Default for ServeOptions {
    /// `127.0.0.1:8080`, [`DEFAULT_MAX_BODY`], default [`Limits`], plain
    /// HTTP, no metrics, no tenant rate or storage quota, not observed.
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body: DEFAULT_MAX_BODY,
            limits: Limits::default(),
            tls: None,
            metrics_token: None,
            admin_token: None,
            tenant_rate: None,
            tenant_quota_bytes: None,
            observer: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    server: Arc<Backend>,
    metrics: Arc<Metrics>,
    max_body: usize,
    metrics_token: Option<Arc<str>>,
    admin_token: Option<Arc<str>>,
    tenant_rate: Option<Arc<governor::DefaultKeyedRateLimiter<String>>>,
    /// The decoded-body memory budget of [`Limits::memory_budget`], in KiB permits.
    memory: Arc<tokio::sync::Semaphore>,
    /// The budget's permits in all.
    memory_total: u32,
    next_request_id: Arc<AtomicU64>,
}

/// How often queued audit records are written.
const AUDIT_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// How much a protocol message may grow when decoded (see [`Limits::memory_budget`]).
const DECODE_GROWTH: u64 = 32;

/// The tenant a response was served for, for the access log.
#[derive(Clone)]
struct TenantTag(String);

/// A rejection: HTTP status and a message that never holds a token or ciphertext.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
        }
    }

    /// The status of a library error: 422 wrong protocol version, 404 not
    /// found, 409 conflict, 500 the server's own failures, 400 anything else the client sent.
    fn from_error(e: &Error) -> Self {
        ApiError::new(e.status_code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.status.as_u16(), "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

/// Builds the router over a server, under the request limits. Layers run
/// outside in: `observe` (log, metrics, JSON rejections), the body limit
/// (an oversized `Content-Length` is refused before anything else), the
/// request deadline, then the in-flight cap (waiting for a slot counts
/// against the deadline).
fn router(state: AppState, limits: Limits) -> Router {
    Router::new()
        .route("/v1/rpc", post(rpc))
        .route("/v1/whoami", get(whoami))
        .route("/v1/documents", get(list_documents))
        .route("/v1/documents/{id}", get(get_document).put(put_document).delete(delete_document))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/admin/backup", get(admin_backup))
        .route("/v1/admin/tenants/{name}", axum::routing::delete(admin_erase_tenant))
        .fallback(|| async { ApiError::new(404, "no such route") })
        .method_not_allowed_fallback(|| async { ApiError::new(405, "method not allowed on this route") })
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(state.max_body))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Serves the API on `opts.listen` until `shutdown` completes, then finishes
/// the requests in flight and syncs the store. `ready` gets the bound address
/// (useful with port 0) once the socket is listening (and, with TLS, the
/// certificate and key have loaded).
///
/// Open the store before calling this (a PostgreSQL store must not be
/// connected from inside an async runtime).
///
/// # Errors
/// Bind and runtime errors; the final sync's store error.
pub fn serve(
    store: Box<dyn Store>,
    opts: ServeOptions,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let tls = opts.tls.as_ref().map(listener::tls_acceptor).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the HTTP runtime: {e}")))?;
    let mut backend = Server::new(store);
    if let Some(bytes) = opts.tenant_quota_bytes {
        backend = backend.with_storage_quota(bytes);
    }
    if let Some(observer) = &opts.observer {
        backend = backend.with_observer(Arc::clone(observer));
        tracing::info!("observing the boundary (recording the server view)");
    }
    let memory_total = u32::try_from((opts.limits.memory_budget >> 10).max(1)).unwrap_or(u32::MAX);
    let state = AppState {
        server: Arc::new(backend),
        metrics: Arc::new(Metrics::new()),
        max_body: opts.max_body,
        metrics_token: opts.metrics_token.as_deref().map(Arc::from),
        admin_token: opts.admin_token.as_deref().map(Arc::from),
        tenant_rate: opts.tenant_rate.map(|n| Arc::new(governor::RateLimiter::keyed(governor::Quota::per_second(n)))),
        memory: Arc::new(tokio::sync::Semaphore::new(memory_total as usize)),
        memory_total,
        next_request_id: Arc::new(AtomicU64::new(1)),
    };
    let server = Arc::clone(&state.server);
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(opts.listen).await.map_err(|e| Error::io(opts.listen.to_string(), e))?;
        let addr = listener.local_addr().map_err(|e| Error::io(opts.listen.to_string(), e))?;
        let limits = opts.limits;
        tracing::info!(
            %addr,
            tls = tls.is_some(),
            max_body = opts.max_body,
            header_timeout_ms = u64::try_from(limits.header_timeout.as_millis()).unwrap_or(u64::MAX),
            request_timeout_ms = u64::try_from(limits.request_timeout.as_millis()).unwrap_or(u64::MAX),
            max_connections = limits.max_connections,
            max_in_flight = limits.max_in_flight,
            "listening"
        );
        ready(addr);
        // Audit records are written in groups: at most this long after their operation.
        let flusher = {
            let server = Arc::clone(&state.server);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(AUDIT_FLUSH_INTERVAL);
                loop {
                    tick.tick().await;
                    let server = Arc::clone(&server);
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || server.flush_audit()).await {
                        tracing::warn!(error = %e, "audit flush failed; records stay queued");
                    }
                }
            })
        };
        let signalled = Arc::new(tokio::sync::Notify::new());
        let notify = Arc::clone(&signalled);
        let metrics = Arc::clone(&state.metrics);
        let graceful = listener::serve_connections(listener, router(state, limits), limits, tls, metrics, async move {
            shutdown.await;
            notify.notify_one();
        });
        tokio::select! {
            () = graceful => {
                tracing::info!("shutting down: in-flight requests finished, syncing the store");
            }
            () = async {
                signalled.notified().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "requests still in flight after the grace period; stopping anyway");
            }
        }
        flusher.abort();
        Ok::<(), Error>(())
    })?;
    // Everything acknowledged is made durable before the process exits.
    server.flush_audit()?;
    server.store().sync()?;
    // Bounded: after a forced stop, a store call may still be running on the blocking pool.
    runtime.shutdown_timeout(Duration::from_secs(5));
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// The route template of a path, for logs and metrics labels.
fn route_label(path: &str) -> &'static str {
    let one_segment = |prefix: &str| path.strip_prefix(prefix).is_some_and(|x| !x.is_empty() && !x.contains('/'));
    let (is_doc, is_tenant) = (one_segment("/v1/documents/"), one_segment("/v1/admin/tenants/"));
    ROUTES
        .iter()
        .map(|(_, p)| *p)
        .find(|p| {
            *p == path || (is_doc && *p == "/v1/documents/{id}") || (is_tenant && *p == "/v1/admin/tenants/{name}")
        })
        .unwrap_or("other")
}

/// Access log and metrics for every request: id, route, tenant, sizes, time.
/// Never logs headers (the token) or bodies (ciphertext).
async fn observe(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = st.next_request_id.fetch_add(1, Ordering::Relaxed);
    // The handlers read it back for the audit log; a client's own header is replaced.
    req.headers_mut().insert(REQUEST_ID, HeaderValue::from(id));
    let method = req.method().clone();
    let route = route_label(req.uri().path());
    let bytes_in = req.body().size_hint().exact().or_else(|| content_length(req.headers())).unwrap_or(0);
    let started = Instant::now();
    st.metrics.start();
    let mut resp = next.run(req).await;
    if resp.status().is_client_error() || resp.status().is_server_error() {
        resp = as_json_rejection(resp);
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    st.metrics.record(route, status, seconds);
    let tenant = resp.extensions().get::<TenantTag>().map_or("-", |t| t.0.as_str()).to_owned();
    let bytes_out = resp.body().size_hint().exact().unwrap_or(0);
    tracing::info!(
        request_id = id,
        %method,
        route,
        status,
        tenant = tenant.as_str(),
        bytes_in,
        bytes_out,
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    resp.headers_mut().insert(REQUEST_ID, HeaderValue::from(id));
    resp
}

/// The header carrying the request id, on requests (set by [`observe`]) and answers.
const REQUEST_ID: &str = "x-request-id";

/// The audit context of a request: its id and its body size.
fn context(headers: &HeaderMap, bytes_in: usize) -> CallContext {
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    CallContext { request_id, bytes_in: bytes_in as u64 }
}

/// A rejection made below the routes (the body limit's 413, the deadline's
/// 408) carries no JSON body; every rejection of this API does, so such a
/// response is given one, with the status's reason as its message.
fn as_json_rejection(resp: Response) -> Response {
    if is_json(resp.headers(), header::CONTENT_TYPE) {
        return resp;
    }
    let status = resp.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body exceeds the size limit".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "request not completed within the deadline".to_owned(),
        other => other.canonical_reason().unwrap_or("request rejected").to_lowercase(),
    };
    let mut json = ApiError { status, message }.into_response();
    if let Some(retry) = resp.headers().get(header::RETRY_AFTER) {
        json.headers_mut().insert(header::RETRY_AFTER, retry.clone());
    }
    json
}

/// The request's `Content-Length`, if it has a valid one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// The token of an `Authorization: Bearer ...` header: `None` without the
/// header, `Some(None)` for a header of another kind.
fn bearer(headers: &HeaderMap) -> Option<Option<&str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim))
}

/// Runs a blocking server call on the blocking pool.
async fn blocking<T: Send + 'static>(st: &AppState, f: impl FnOnce(&Backend) -> T + Send + 'static) -> ApiResult<T> {
    let server = Arc::clone(&st.server);
    tokio::task::spawn_blocking(move || f(&server))
        .await
        .map_err(|e| ApiError::new(500, format!("request task failed: {e}")))
}

/// The tenant of the request's bearer token, or 401.
async fn authenticate(st: &AppState, headers: &HeaderMap) -> ApiResult<String> {
    let Some(token) = bearer(headers) else {
        return Err(ApiError::new(401, "missing Authorization: Bearer token"));
    };
    let token = token.ok_or_else(|| ApiError::new(401, "Authorization header is not a bearer token"))?.to_owned();
    match blocking(st, move |s| auth::authenticate(s.store(), &token)).await? {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(ApiError::new(401, "invalid API token")),
        Err(e) => Err(ApiError::from_error(&e)),
    }
}

/// Authenticates, runs `f` for the tenant, and tags the response with the tenant for the log.
async fn authed<F, Fut>(st: AppState, headers: HeaderMap, f: F) -> Response
where
    F: FnOnce(AppState, String, HeaderMap) -> Fut,
    Fut: Future<Output = ApiResult<Response>>,
{
    let tenant = match authenticate(&st, &headers).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    if let Some(Err(not_until)) = st.tenant_rate.as_ref().map(|limiter| limiter.check_key(&tenant)) {
        use governor::clock::Clock as _;
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        // Retry-After is whole seconds: round up, and never 0.
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        let mut resp =
            ApiError::new(429, format!("tenant request rate exceeded; retry in {seconds} s")).into_response();
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        resp.extensions_mut().insert(TenantTag(tenant));
        return resp;
    }
    let mut resp = f(st, tenant.clone(), headers).await.unwrap_or_else(IntoResponse::into_response);
    resp.extensions_mut().insert(TenantTag(tenant));
    resp
}

/// A share of the decoded-body memory budget, held while a request is handled.
type MemoryShare = tokio::sync::OwnedSemaphorePermit;

/// Reads the whole body, at most `max_body` bytes (413 beyond; a body
/// without `Content-Length` is cut off here), once its share of the memory
/// budget is free. A client that stalls mid-body, or waits long for its
/// share, meets the request deadline of [`Limits`].
async fn read_body(st: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<(axum::body::Bytes, MemoryShare)> {
    let announced = content_length(headers).unwrap_or(st.max_body as u64).min(st.max_body as u64);
    // Capped at the whole budget, so that any single body can run.
    let kib = (announced.saturating_mul(DECODE_GROWTH) >> 10).clamp(1, u64::from(st.memory_total));
    let share = Arc::clone(&st.memory)
        .acquire_many_owned(u32::try_from(kib).unwrap_or(st.memory_total))
        .await
        .map_err(|_| ApiError::new(503, "server shutting down"))?;
    let bytes = axum::body::to_bytes(body, st.max_body).await.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::new(413, format!("request body exceeds the limit of {} bytes", st.max_body))
        } else {
            ApiError::new(400, "could not read the request body")
        }
    })?;
    Ok((bytes, share))
}

fn is_json(headers: &HeaderMap, name: header::HeaderName) -> bool {
    headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

/// Decodes a protocol value from a body in the encoding its content type names.
fn decode_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> ApiResult<T> {
    let decoded = if is_json(headers, header::CONTENT_TYPE) {
        std::str::from_utf8(body)
            .map_err(|_| Error::Protocol("JSON body is not UTF-8".into()))
            .and_then(protocol::from_json)
    } else {
        protocol::decode(body)
    };
    decoded.map_err(|e| ApiError::from_error(&e))
}

/// Encodes a protocol value as JSON or binary.
fn encode_body<T: serde::Serialize>(json: bool, value: &T) -> ApiResult<Response> {
    if json {
        let text = protocol::to_json(value).map_err(|e| ApiError::from_error(&e))?;
        Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
    } else {
        Ok(([(header::CONTENT_TYPE, "application/octet-stream")], protocol::encode(value)).into_response())
    }
}

/// Runs a protocol request for a tenant; a server-side rejection becomes an [`ApiError`].
async fn handle(st: &AppState, tenant: String, req: ProtoRequest, context: CallContext) -> ApiResult<ProtoResponse> {
    match blocking(st, move |s| s.handle_in(&tenant, req, context)).await? {
        ProtoResponse::Error { code, message } => Err(ApiError::new(code, message)),
        r => Ok(r),
    }
}

async fn rpc(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    authed(st, headers, |st, tenant, headers| async move {
        let (bytes, _memory) = read_body(&st, &headers, body).await?;
        let req: ProtoRequest = decode_body(&headers, &bytes)?;
        let resp = handle(&st, tenant, req, context(&headers, bytes.len())).await?;
        encode_body(is_json(&headers, header::CONTENT_TYPE), &resp)
    })
    .await
}

async fn whoami(State(st): State<AppState>, headers: HeaderMap) -> Response {
    authed(st, headers, |_, tenant, _| async move {
        Ok(axum::Json(serde_json::json!({ "tenant": tenant })).into_response())
    })
    .await
}

fn parse_id(raw: &str) -> ApiResult<DocId> {
    raw.parse().map_err(|_| ApiError::new(400, "document id must be an integer from 0 to 4294967295"))
}

async fn list_documents(State(st): State<AppState>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    authed(st, headers, |st, tenant, headers| async move {
        let mut after = None;
        let mut limit = 1000u32;
        for pair in uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("after", v)) => after = Some(parse_id(v)?),
                Some(("limit", v)) => {
                    limit = v.parse().map_err(|_| ApiError::new(400, "limit must be a non-negative integer"))?;
                }
                _ => return Err(ApiError::new(400, "query parameters are after=ID and limit=N")),
            }
        }
        match handle(&st, tenant, ProtoRequest::ListDocumentIds { after, limit }, context(&headers, 0)).await? {
            ProtoResponse::DocumentIds(ids) => Ok(axum::Json(serde_json::json!({ "ids": ids })).into_response()),
            _ => Err(ApiError::new(500, "unexpected server response")),
        }
    })
    .await
}

async fn get_document(State(st): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    authed(st, headers, |st, tenant, headers| async move {
        let id = parse_id(&id)?;
        match handle(&st, tenant, ProtoRequest::GetDocuments(vec![id]), context(&headers, 0)).await? {
            ProtoResponse::Documents(mut docs) => match docs.pop() {
                Some(doc) => encode_body(is_json(&headers, header::ACCEPT), &doc),
                None => Err(ApiError::new(404, format!("no document {id}"))),
            },
            _ => Err(ApiError::new(500, "unexpected server response")),
        }
    })
    .await
}

async fn put_document(State(st): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    authed(st, headers, |st, tenant, headers| async move {
        let id = parse_id(&id)?;
        let (bytes, _memory) = read_body(&st, &headers, body).await?;
        let doc: EncryptedDocument = decode_body(&headers, &bytes)?;
        if doc.public.doc_id != id {
            return Err(ApiError::new(400, format!("body is document {}, path says {id}", doc.public.doc_id)));
        }
        handle(&st, tenant, ProtoRequest::PutDocuments(vec![doc]), context(&headers, bytes.len())).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

async fn delete_document(State(st): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    authed(st, headers, |st, tenant, headers| async move {
        let id = parse_id(&id)?;
        match handle(&st, tenant, ProtoRequest::DeleteDocuments(vec![id]), context(&headers, 0)).await? {
            ProtoResponse::DocumentIds(ids) if ids == [id] => Ok(StatusCode::NO_CONTENT.into_response()),
            ProtoResponse::DocumentIds(_) => Err(ApiError::new(404, format!("no document {id}"))),
            _ => Err(ApiError::new(500, "unexpected server response")),
        }
    })
    .await
}

async fn healthz(State(st): State<AppState>) -> Response {
    // A read of a key no one writes proves the store answers.
    match blocking(&st, |s| s.store().get(Table::Meta, b"\0healthz")).await {
        Ok(Ok(_)) => axum::Json(serde_json::json!({ "status": "ok" })).into_response(),
        Ok(Err(e)) => ApiError::new(503, format!("store unavailable: {e}")).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Prometheus text from the counters (no store access), for a holder of the
/// metrics token only: request counts per route and status say how active
/// the deployment is, which is not for anyone who can reach the port.
async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let allowed = require_token(
        st.metrics_token.as_deref(),
        &headers,
        "metrics are off; start the server with --metrics-token",
        "GET /metrics needs the metrics token as a bearer token",
    );
    if let Err(e) = allowed {
        return e.into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render()).into_response()
}

/// Checks a route's own bearer token (metrics, admin), compared in constant
/// time: 404 with `off` when the route has no token, 401 with `refused` for a
/// missing or wrong one.
fn require_token(expected: Option<&str>, headers: &HeaderMap, off: &str, refused: &str) -> ApiResult<()> {
    let Some(expected) = expected else { return Err(ApiError::new(404, off)) };
    let matches = bearer(headers)
        .flatten()
        .is_some_and(|t| bool::from(subtle::ConstantTimeEq::ct_eq(t.as_bytes(), expected.as_bytes())));
    if matches { Ok(()) } else { Err(ApiError::new(401, refused)) }
}

/// Whether the request carries the operator token (see [`require_token`]).
fn check_admin(st: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    require_token(
        st.admin_token.as_deref(),
        headers,
        "admin routes are off; start the server with --admin-token",
        "admin routes need the admin token as a bearer token",
    )
}

/// Bytes the backup stream hands to the connection at a time.
const BACKUP_STREAM_CHUNK: usize = 1 << 20;

/// An online backup of the whole store, streamed: a snapshot (the server
/// keeps serving writes) in the backup format. A failure midway ends the
/// stream early; the file then lacks its trailer and does not verify.
async fn admin_backup(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check_admin(&st, &headers) {
        return e.into_response();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<axum::body::Bytes>>(4);
    let server = Arc::clone(&st.server);
    let request_id = context(&headers, 0).request_id;
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut sink = ChannelWriter { tx, buf: Vec::with_capacity(BACKUP_STREAM_CHUNK) };
        let outcome = crate::store::lifecycle::backup(server.store(), "sseek serve", &mut sink, None);
        let (status, items_out, bytes_out) = match &outcome {
            Ok(summary) => {
                tracing::info!(entries = summary.total_entries(), bytes = summary.file_bytes, "backup streamed");
                (200, summary.total_entries(), summary.file_bytes)
            }
            Err(e) => {
                tracing::warn!(error = %e, "backup failed");
                let _ = sink.tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                (e.status_code(), 0, 0)
            }
        };
        server.audit(crate::server::audit::AuditEvent {
            tenant: None,
            operation: "Backup".into(),
            items_out,
            bytes_out,
            status,
            request_id,
            micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            ..Default::default()
        });
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(stream)).into_response()
}

/// A `Write` that hands full chunks to the response body; blocks while the
/// client is slower than the snapshot (backpressure, bounded memory).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<axum::body::Bytes>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BACKUP_STREAM_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(BACKUP_STREAM_CHUNK));
        self.tx
            .blocking_send(Ok(chunk.into()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "backup client went away"))
    }
}

/// Erases a tenant: every row and its tokens, in one transaction.
async fn admin_erase_tenant(State(st): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Err(e) = check_admin(&st, &headers) {
        return e.into_response();
    }
    match blocking(&st, move |s| s.erase_tenant(&name)).await {
        Ok(Ok(report)) => axum::Json(report).into_response(),
        Ok(Err(e)) => ApiError::from_error(&e).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_by_template() {
        assert_eq!(route_label("/v1/documents/17"), "/v1/documents/{id}");
        assert_eq!(route_label("/v1/documents"), "/v1/documents");
        assert_eq!(route_label("/v1/rpc"), "/v1/rpc");
        assert_eq!(route_label("/v1/documents/1/2"), "other");
        assert_eq!(route_label("/etc/passwd"), "other");
    }
}
