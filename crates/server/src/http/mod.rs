//! The transport: one listener for every service — routes, connection limits, TLS facts,
//! bounded bodies, SigV4 authentication and the wire codecs (JSON 1.1/1.0, Query, CBOR, the
//! model-driven Query shapes). What a request goes through is `pipeline/` (its front, then
//! the services). Bodies and secret values are never logged.

pub mod auth;
pub mod cbor;
pub mod client;
pub mod json;
pub mod limits;
pub mod query;
pub mod shapes;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::FutureExt;
use http::request::Parts;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};
use zeroize::Zeroizing;

use crate::audit::{Auditor, Transport};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::iam::authz::Authorizer;
use crate::iam::service::Iam;
use crate::iam::sts;
use auth::Authenticator;

/// AWS's JSON APIs accept request bodies up to 1 MiB; anything larger is refused before it is
/// buffered whole.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub struct AppState {
    pub auth: Authenticator,
    pub authz: Authorizer,
    /// Each region's services (Secrets Manager, SSM, KMS, CloudWatch, CloudTrail).
    pub regions: crate::regions::Regions,
    /// Global, as in AWS.
    pub iam: Iam,
    pub sts: sts::Sts,
    pub audit: Arc<Auditor>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Per-caller rate limit (admits everything unless configured).
    pub throttle: crate::throttle::Throttle,
    /// Serve `/metrics` without authentication.
    pub metrics_public: bool,
    /// The web console (`/console/`): settings and signed-in sessions.
    pub console: crate::console::Console,
    pub clock: Arc<dyn Clock>,
    /// Whether this listener serves TLS (aws:SecureTransport).
    pub tls: bool,
    /// Requests being processed at once (`--max-requests-in-flight`).
    pub in_flight: tokio::sync::Semaphore,
    /// How long a client may take to send a request body (`--body-read-timeout-secs`).
    pub body_read_timeout: std::time::Duration,
    /// Whether this node runs the background work (always, unless in a cluster).
    pub leadership: Arc<crate::cluster::Leadership>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let console = state.console.settings.enabled;
    let routes = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(crate::pipeline::front::metrics))
        .route("/changes", get(crate::changes::handler));
    // Off: the console's paths answer 404 (rather than reaching the API front).
    let routes = if console {
        routes.merge(crate::console::router(state.clone()))
    } else {
        routes
            .route("/console", axum::routing::any(console_off))
            .route("/console/", axum::routing::any(console_off))
            .route("/console/{*rest}", axum::routing::any(console_off))
    };
    routes
        .fallback(crate::pipeline::front::api)
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            date_header,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(limits::track_requests))
}

/// Whether a path is an AWS API endpoint: `/` (the JSON and Query protocols) or a CBOR
/// operation's path. The router's only route for these is its fallback, the API front.
fn is_api_path(path: &str) -> bool {
    path == "/" || cbor::operation_path(path).is_some()
}

/// The service each connection gets: an AWS API call goes straight to the pipeline's front;
/// every other path (health, readiness, metrics, the change feed, the console, and anything
/// unknown) through the [`router`]. Why: the router's layers box and clone per request (its
/// route's service, each middleware's future, request extensions) — 25 of a GetSecretValue's
/// 176 allocations (session 25, uprobes on the allocator) — for a request whose route is
/// always the fallback. The direct path does what those layers do for it: the request counted
/// in progress on its connection ([`limits::track_requests`]) and the `Date` header.
#[derive(Clone)]
pub struct Dispatch {
    state: Arc<AppState>,
    router: Router,
    peer: SocketAddr,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> tower_service::Service<http::Request<B>> for Dispatch
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let mut req = req.map(Body::new);
        let peer = self.peer;
        if is_api_path(req.uri().path()) {
            let state = self.state.clone();
            let active = limits::Active::of(&req);
            let clock = state.clock.clone();
            // Composed, not an `async` block: the block would hold the request twice (its own
            // copy and the call's) and the whole is moved onto the heap per request.
            let answer = crate::pipeline::front::api(State(state), ConnectInfo(peer), req);
            return Box::pin(answer.map(move |mut response| {
                response
                    .headers_mut()
                    .insert(header::DATE, http_date(clock.now_ms()));
                Ok(limits::hold_until_sent(active, response))
            }));
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = self.router.clone();
        Box::pin(async move { tower_service::Service::call(&mut router, req).await })
    }
}

/// Makes each connection's [`Dispatch`] (what axum_server calls with the peer's address).
#[derive(Clone)]
pub struct MakeDispatch {
    state: Arc<AppState>,
    router: Router,
}

impl MakeDispatch {
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            router: router(state.clone()),
            state,
        }
    }
}

impl tower_service::Service<SocketAddr> for MakeDispatch {
    type Response = Dispatch;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Dispatch, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: SocketAddr) -> Self::Future {
        std::future::ready(Ok(Dispatch {
            state: self.state.clone(),
            router: self.router.clone(),
            peer,
        }))
    }
}

/// `--console off`: the console's paths are not served.
async fn console_off() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// Every answer's `Date` is the server's clock — the clock it judges request signatures and
/// session expiry by. AWS SDKs correct their own clock by this header (and re-sign), so it
/// must be the same "now" (with an injected clock in tests they otherwise disagree).
async fn date_header(State(state): State<Arc<AppState>>, mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::DATE, http_date(state.clock.now_ms()));
    res
}

/// The IMF-fixdate for a time, formatted once per second (as hyper does for its own).
fn http_date(now_ms: i64) -> header::HeaderValue {
    static CACHE: std::sync::Mutex<Option<(i64, header::HeaderValue)>> =
        std::sync::Mutex::new(None);
    let secs = now_ms.div_euclid(1000);
    let mut cached = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match &*cached {
        Some((at, value)) if *at == secs => value.clone(),
        _ => {
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
            let value = header::HeaderValue::from_str(&httpdate::fmt_http_date(when))
                .unwrap_or_else(|_| {
                    header::HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")
                });
            *cached = Some((secs, value.clone()));
            value
        }
    }
}

/// `{"status":"ok","background":"leader"|"standby"}`: in a cluster, which node runs the
/// background work.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let role = if state.leadership.is_leader() {
        "leader"
    } else {
        "standby"
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"status\":\"ok\",\"background\":\"{role}\"}}"),
    )
        .into_response()
}

/// How long `/ready` waits for each region's store to answer.
const READY_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness, for a load balancer: 200 when every region's store answers a cheap query within
/// 2 s and the audit log takes records (nothing is served without one), else 503 naming what
/// fails. Also says which node runs the background work. `/health` stays liveness only.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    // Every region at once, so a dead database answers in 2 s however many regions.
    let pings: Vec<_> = state
        .regions
        .iter()
        .map(|r| {
            let (name, store) = (r.name.clone(), r.store.clone());
            tokio::spawn(async move {
                let ok = match tokio::time::timeout(READY_STORE_TIMEOUT, store.ping()).await {
                    Ok(Ok(())) => true,
                    // The cause goes to the operator's log only.
                    Ok(Err(e)) => {
                        tracing::warn!(region = %name, error = %e, "readiness: the store does not answer");
                        false
                    }
                    Err(_) => {
                        tracing::warn!(region = %name, "readiness: the store does not answer in time");
                        false
                    }
                };
                (name, ok)
            })
        })
        .collect();
    let mut stores = Vec::new();
    for p in pings {
        stores.push(p.await.unwrap_or_else(|_| (String::new(), false)));
    }
    let audit = state.audit.is_healthy();
    let readiness = strongroom_domain::readiness::Readiness {
        stores,
        audit_writable: audit,
        leader: state.leadership.is_leader(),
    };
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        readiness.to_json().to_string(),
    )
        .into_response()
}

/// The connection facts an audit record carries.
pub(crate) fn transport<'a>(
    parts: &'a Parts,
    peer: SocketAddr,
    request_id: &'a str,
    time_ms: i64,
) -> Transport<'a> {
    Transport {
        source_ip: peer.ip(),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        request_id,
        tls: parts
            .extensions
            .get::<tls::TlsInfo>()
            .map(|t| strongroom_audit::TlsDetails {
                tls_version: t.version.clone(),
                cipher_suite: t.cipher_suite.clone(),
                client_provided_host_header: parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned),
            }),
        time_ms,
    }
}

/// The whole body, within the size limit and the body read deadline (a client trickling a
/// body holds a request slot only that long).
pub(crate) async fn read_body(
    parts: &Parts,
    body: Body,
    deadline: std::time::Duration,
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("The request body exceeds the maximum of {MAX_BODY_BYTES} bytes."),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(deadline, Limited::new(body, MAX_BODY_BYTES).collect())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeoutException",
                format!(
                    "The request body was not received within {} seconds.",
                    deadline.as_secs()
                ),
            )
        })?;
    match collected {
        // Zeroizing: a PutSecretValue body carries the value.
        Ok(collected) => Ok(Zeroizing::new(collected.to_bytes().to_vec())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ApiError::bad_request(
            "SerializationException",
            "The request body could not be read.",
        )),
    }
}
