//! The front of the request pipeline: everything a request goes through around
//! [`super::run`], whatever its service and protocol —
//!
//! ```text
//! requests in flight → audit admission → protocol (from the request's shape) → body →
//! SigV4 → throttle → decode → run (parse, checks, authorize, execute, audit details) →
//! CloudWatch API-call metric → audit record (+ delegated KMS and service events) →
//! Prometheus counters → encode the reply or the AWS-shaped error
//! ```
//!
//! plus `/metrics`, which is an API call like any other (authenticated, authorized, audited).
//! The transport (`http/`) hands requests here and owns only connections, bodies and the wire
//! codecs.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::Either;
use http::request::Parts;
use http::{Method, StatusCode, header};
use zeroize::Zeroizing;

use crate::audit::{Call, claimed_access_key, event_source, service_of};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::http::{AppState, cbor, json, query, read_body, transport};
use crate::iam::authz::{Denial, RequestInfo};
use crate::iam::{service as iam, sts};
use crate::pipeline::{self, Output, Wire};
use crate::regions::Region;
use crate::services::cloudtrail;
use crate::services::cloudwatch;
use crate::services::secretsmanager::console_listing::ConsoleListing;

/// Prometheus text. Public only when configured (`--metrics-public`: nothing authenticated,
/// so nothing recorded); otherwise a scrape is an API call like any other: SigV4-signed
/// (scope `monitoring`), allowed `cloudwatch:GetMetricData` (like reading CloudWatch
/// metrics), and audited — allowed or refused — as `GetPrometheusMetrics` of
/// `monitoring.amazonaws.com`. No record, no answer.
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    const EVENT_NAME: &str = "GetPrometheusMetrics";
    let (parts, _) = req.into_parts();
    // The scrape's id, as API replies carry theirs: it finds the scrape's audit record.
    let request_id = strongroom_domain::names::random_uuid();
    let request_id_header = (
        header::HeaderName::from_static("x-amzn-requestid"),
        request_id.clone(),
    );
    let refused = |e: &ApiError| {
        (
            e.status,
            [
                (header::CONTENT_TYPE, "text/plain".to_string()),
                request_id_header.clone(),
            ],
            format!("{}: {}\n", e.code, e.message),
        )
            .into_response()
    };
    if !state.metrics_public {
        let now_ms = state.clock.now_ms();
        let admission = state.audit.admit();
        if admission.is_err() {
            return refused(&audit_unavailable());
        }
        let mut call = Call {
            event_source: event_source("monitoring"),
            event_name: EVENT_NAME.into(),
            ..Default::default()
        };
        let info = RequestInfo {
            source_ip: Some(peer.ip()),
            secure_transport: state.tls,
            now_ms,
        };
        let decision = match state.auth.authenticate(&parts, b"", None, &["monitoring"]) {
            Err(e) => {
                call.claimed_access_key = claimed_access_key(&parts);
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    e.code(),
                    e.to_string(),
                ))
            }
            Ok(signed) => {
                let principal = signed.principal;
                let allowed = state.authz.authorize(
                    &principal,
                    "cloudwatch:GetMetricData",
                    "*",
                    Default::default(),
                    &info,
                );
                call.principal = Some(principal);
                allowed.map_err(|m| ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", m))
            }
        };
        let recorded = state
            .audit
            .api_call(
                call,
                transport(&parts, peer, &request_id, now_ms),
                decision.as_ref().err(),
            )
            .await;
        drop(admission);
        if let Err(e) = recorded {
            tracing::error!(request_id, error = %e, "scrape refused: its audit record could not be written");
            return refused(&audit_unavailable());
        }
        if let Err(e) = decision {
            return refused(&e);
        }
    }
    // Gauges that are cheap to read at scrape time rather than on every request.
    state
        .metrics
        .set_audit_queue_depth(state.audit.log.queue_depth());
    let (mut secrets, mut parameters, mut keys) = (0, 0, 0);
    let mut cache = strongroom_store::CacheStats::default();
    for region in state.regions.iter() {
        secrets += region.secretsmanager.count().await.unwrap_or(0);
        parameters += region.ssm.count().await.unwrap_or(0);
        keys += region.kms.count();
        if let Some(c) = region.store.cache_stats() {
            cache += c;
        }
    }
    state.metrics.set_cache_stats(&cache);
    state.metrics.set_secrets(secrets);
    state.metrics.set_parameters(parameters);
    state.metrics.set_kms_keys(keys);
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8".to_string(),
            ),
            request_id_header,
        ],
        state.metrics.render(),
    )
        .into_response()
}

/// The services reachable through JSON 1.1 targets, by `X-Amz-Target` prefix.
#[derive(Clone, Copy)]
pub enum JsonService {
    SecretsManager,
    CloudTrail,
    CloudWatch,
    Kms,
    Ssm,
}

impl JsonService {
    fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "secretsmanager" => Some(Self::SecretsManager),
            // botocore sends the model's full prefix; Smithy SDKs (Rust, JS v3) the short one.
            cloudtrail::TARGET_PREFIX | cloudtrail::SHORT_TARGET_PREFIX => Some(Self::CloudTrail),
            cloudwatch::TARGET_PREFIX => Some(Self::CloudWatch),
            "TrentService" => Some(Self::Kms),
            "AmazonSSM" => Some(Self::Ssm),
            _ => None,
        }
    }
    /// The SigV4 service name the credential scope must carry.
    fn signing_name(self) -> &'static str {
        match self {
            Self::SecretsManager => "secretsmanager",
            Self::CloudTrail => "cloudtrail",
            Self::CloudWatch => "monitoring",
            Self::Kms => "kms",
            Self::Ssm => "ssm",
        }
    }
}

/// Signing names accepted on JSON requests whose target names no known service (so the
/// signature is still checked before the caller learns anything).
const JSON_SIGNING_NAMES: &[&str] = &["secretsmanager", "cloudtrail", "monitoring", "kms", "ssm"];

pub async fn api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let request_id = strongroom_domain::names::random_uuid();
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let info = RequestInfo {
        source_ip: Some(peer.ip()),
        secure_transport: state.tls,
        now_ms: state.clock.now_ms(),
    };
    let mut call = Call::default();
    let cbor_operation = cbor::operation_path(parts.uri.path());
    let protocol = match (&target, &cbor_operation) {
        (Some(t), _) if t.starts_with(cloudwatch::TARGET_PREFIX) => Protocol::Json10,
        (Some(_), _) => Protocol::Json,
        (None, Some(_)) => Protocol::Cbor,
        (None, None) => Protocol::Query(sts::XMLNS),
    };
    // Overload: beyond the bound on requests in flight, refuse at once — before reading the
    // body or verifying anything — with the protocol's throttling code (SDKs back off and
    // retry). Nothing is done, so nothing is recorded.
    let Ok(_in_flight) = state.in_flight.try_acquire() else {
        tracing::warn!(request_id, "request refused: too many requests in flight");
        return closing(encode(Err(overloaded(&protocol)), protocol, &request_id));
    };
    // No access without a record: while the log cannot take this request's record, nothing
    // is done (and nothing is recorded). Held until the record is written.
    let admission = state.audit.admit();
    let (result, protocol) = if let Err(e) = &admission {
        tracing::error!(request_id, error = %e, "request refused: the audit log cannot take its record");
        (Err(audit_unavailable()), protocol)
    } else {
        match (target.as_deref(), cbor_operation) {
            (Some(t), _) => (
                handle_json(&state, &parts, body, t, &info, &mut call).await,
                protocol,
            ),
            (None, Some(op)) => (
                handle_cbor(&state, &parts, body, op, &info, &mut call).await,
                Protocol::Cbor,
            ),
            (None, None) => handle_query(&state, &parts, body, &info, &mut call).await,
        }
    };
    if call.principal.is_none() {
        call.claimed_access_key = claimed_access_key(&parts);
    }
    let finish = Finish {
        admitted: admission.is_ok(),
        transport: transport(&parts, peer, &request_id, info.now_ms),
        started,
        target: target.as_deref(),
    };
    let result = conclude(&state, call, result, finish).await;
    let refused_unread = admission.is_err();
    drop(admission);
    let response = encode(result, protocol, &request_id);
    if refused_unread {
        closing(response)
    } else {
        response
    }
}

/// A refusal sent without reading the request's body: hyper cannot reuse that connection and
/// closes it after the response, so say so (`Connection: close`). Without the header a client
/// may send its next request on the keep-alive connection as it closes and see it reset (seen
/// in the full-audit-log test on PostgreSQL: botocore's ConnectionClosedError).
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// What [`conclude`] needs besides the call and its result.
struct Finish<'a> {
    /// Whether the audit log took the request (else nothing is recorded).
    admitted: bool,
    transport: crate::audit::Transport<'a>,
    started: Instant,
    /// What the request named (logged).
    target: Option<&'a str>,
}

/// Everything after the operation, for every entry (`api()` and the console's `call_as`):
/// the CloudWatch API-call metric, the audit record (+ delegated KMS and service events),
/// the Prometheus counters and the log line.
///
/// The record is made (serialized, hashed) when this is called; the future returned holds
/// only what it waits for and what it reports after. Every request's future embeds this one
/// and is moved whole onto the heap, so its size is paid per request (as an `async fn`
/// holding the call and the record twice over it was 6.2 KB of a 7.6 KB request future).
fn conclude<'s, 'f>(
    state: &'s AppState,
    call: Call,
    result: Result<Reply, ApiError>,
    f: Finish<'f>,
) -> impl Future<Output = Result<Reply, ApiError>> + Send + use<'s, 'f> {
    let now_ms = f.transport.time_ms;
    let request_id = f.transport.request_id;
    let target = f.target;
    let started = f.started;
    // Borrowed for the services this server has (the call moves into its record below).
    let service: Cow<'static, str> = match &call.event_source {
        Cow::Borrowed(source) => Cow::Borrowed(service_of(source)),
        Cow::Owned(source) => Cow::Owned(service_of(source).to_owned()),
    };
    let operation = call.event_name.clone();
    let recognised = recognised(
        call.principal.is_some(),
        result.as_ref().err().map(|e| e.code),
    );
    count_api_call(
        state,
        call.region.as_deref(),
        &service,
        &operation,
        recognised,
        now_ms,
    );
    let recorded = if f.admitted && (state.audit.is_healthy() || result.is_ok()) {
        Either::Left(record(state, call, f.transport, result, now_ms))
    } else {
        Either::Right(std::future::ready(result))
    };
    recorded.map(move |result| {
        let elapsed = started.elapsed();
        let error_code = result.as_ref().err().map(|e| e.code);
        state.metrics.record_request(&crate::metrics::Outcome {
            service: &service,
            // Label values never come from unrecognised client input.
            operation: if recognised { &operation } else { "unknown" },
            error_code,
            latency: elapsed,
        });
        let elapsed_us = elapsed.as_micros() as u64;
        if let Err(e) = &result {
            tracing::info!(
                request_id,
                target,
                elapsed_us,
                status = e.status.as_u16(),
                error = e.code,
                message = %e.message,
                "request refused"
            );
        } else {
            tracing::debug!(request_id, target, elapsed_us, status = 200, "request");
        }
        result
    })
}

/// Where a console action comes from, for its audit record.
pub struct ConsoleInfo {
    pub source_ip: std::net::IpAddr,
    /// The browser's User-Agent, recorded after the console's own name.
    pub user_agent: Option<String>,
}

/// The console's user agent in audit records: the console's name, then the browser's.
pub const CONSOLE_USER_AGENT: &str = "strongroom-console";

/// A JSON API call made by the web console as `principal` (already signed in: no
/// signature), through the same stages as a signed request — in-flight bound, audit
/// admission, throttle, [`pipeline::run`] (parse, IAM authorization, execute) and
/// [`conclude`] (metrics, audit record marked `sessionCredentialFromConsole`). Served in
/// `region` (one this server serves; the console checks). The answer is the operation's
/// JSON output.
pub async fn call_as(
    state: &AppState,
    principal: &Principal,
    region: &Arc<Region>,
    service: JsonService,
    operation: &str,
    input: &serde_json::Value,
    console: &ConsoleInfo,
) -> Result<serde_json::Value, Refused> {
    // Zeroizing: a PutSecretValue input carries the value.
    let body = Zeroizing::new(serde_json::to_vec(input).unwrap_or_default());
    let reply = console_call(
        state,
        principal,
        operation,
        ConsoleRequest::Json(service, Wire::Json(body)),
        region,
        console,
    )
    .await?;
    Ok(json_answer(reply))
}

/// A JSON operation's answer as a value (an empty object for an empty or non-JSON body).
fn json_answer(reply: Reply) -> serde_json::Value {
    match reply {
        Reply::Json(bytes) | Reply::Json10(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
        _ => serde_json::Value::Object(Default::default()),
    }
}

/// The web console's listing of secrets as `principal`: ListSecrets' input, with the sorts and
/// filter only the console has ([`ConsoleListing`]), through the same stages as [`call_as`]:
/// authorized as `secretsmanager:ListSecrets`, recorded as a ListSecrets event. The answer
/// is ListSecrets' output.
pub async fn list_secrets_as(
    state: &AppState,
    principal: &Principal,
    input: &serde_json::Value,
    console: &ConsoleInfo,
) -> Result<serde_json::Value, Refused> {
    let body = Zeroizing::new(serde_json::to_vec(input).unwrap_or_default());
    let reply = console_call(
        state,
        principal,
        "ListSecrets",
        ConsoleRequest::SecretsListing(Wire::Json(body)),
        // The console's secrets list is the home region's.
        state.regions.home(),
        console,
    )
    .await?;
    Ok(json_answer(reply))
}

/// An IAM call (Query protocol: `params` are the form's fields) made by the web console as
/// `principal`, through the same stages as [`call_as`]. The answer is the inside of
/// `<{Action}Result>` (`None` for actions without a result).
pub async fn call_iam_as(
    state: &AppState,
    principal: &Principal,
    action: &str,
    params: query::Params,
    console: &ConsoleInfo,
) -> Result<Option<String>, Refused> {
    let reply = console_call(
        state,
        principal,
        action,
        ConsoleRequest::Iam(Wire::Query(params)),
        // IAM is global: recorded in the home region, as the API front records it.
        state.regions.home(),
        console,
    )
    .await?;
    match reply {
        Reply::Xml { result, .. } => Ok(result),
        _ => Ok(None),
    }
}

/// A console call's refusal: the API's error, and when the authorizer refused it, the
/// decision that did (the statements the console shows).
#[derive(Debug)]
pub struct Refused {
    pub error: ApiError,
    pub denial: Option<Denial>,
}

/// What the console asks for: a JSON service's operation, or IAM's.
enum ConsoleRequest {
    Json(JsonService, Wire),
    /// The console's listing of secrets ([`list_secrets_as`]).
    SecretsListing(Wire),
    Iam(Wire),
}

/// The console's calls, whatever the service: the stages of [`api`] without the signature.
async fn console_call(
    state: &AppState,
    principal: &Principal,
    operation: &str,
    request: ConsoleRequest,
    region: &Arc<Region>,
    console: &ConsoleInfo,
) -> Result<Reply, Refused> {
    let request_id = strongroom_domain::names::random_uuid();
    let started = Instant::now();
    let info = RequestInfo {
        source_ip: Some(console.source_ip),
        secure_transport: state.tls,
        now_ms: state.clock.now_ms(),
    };
    let (signing_name, protocol) = match &request {
        ConsoleRequest::Json(service, _) => (service.signing_name(), Protocol::Json),
        ConsoleRequest::SecretsListing(_) => ("secretsmanager", Protocol::Json),
        ConsoleRequest::Iam(_) => ("iam", Protocol::Query(iam::XMLNS)),
    };
    let Ok(_in_flight) = state.in_flight.try_acquire() else {
        return Err(Refused {
            error: overloaded(&protocol),
            denial: None,
        });
    };
    let admission = state.audit.admit();
    let mut call = Call {
        event_source: event_source(signing_name),
        event_name: operation.to_string(),
        from_console: true,
        ..Default::default()
    };
    let result = if admission.is_err() {
        Err(audit_unavailable())
    } else {
        let region = region.clone();
        call.region = Some(region.name.clone());
        call.principal = Some(principal.clone());
        match request {
            ConsoleRequest::Json(service, wire) => {
                match admit(state, principal, "ThrottlingException") {
                    Err(e) => Err(e),
                    Ok(()) => {
                        run_json(
                            state, &region, service, operation, wire, principal, &info, &mut call,
                        )
                        .await
                    }
                }
            }
            ConsoleRequest::SecretsListing(wire) => {
                match admit(state, principal, "ThrottlingException") {
                    Err(e) => Err(e),
                    Ok(()) => pipeline::run(
                        &ConsoleListing(&region.secretsmanager),
                        operation,
                        wire,
                        principal,
                        &info,
                        &state.authz,
                        &mut call,
                    )
                    .await
                    .map(|out| Reply::Json(json_output(out))),
                }
            }
            ConsoleRequest::Iam(wire) => match admit(state, principal, "Throttling") {
                Err(e) => Err(e),
                Ok(()) => pipeline::run(
                    &state.iam,
                    operation,
                    wire,
                    principal,
                    &info,
                    &state.authz,
                    &mut call,
                )
                .await
                .map(|out| Reply::Xml {
                    action: operation.to_string(),
                    xmlns: iam::XMLNS,
                    result: xml_output(out),
                }),
            },
        }
    };
    let user_agent = match &console.user_agent {
        Some(browser) => format!("{CONSOLE_USER_AGENT} ({browser})"),
        None => CONSOLE_USER_AGENT.to_string(),
    };
    let finish = Finish {
        admitted: admission.is_ok(),
        transport: crate::audit::Transport {
            source_ip: console.source_ip,
            user_agent: Some(&user_agent),
            request_id: &request_id,
            tls: None,
            time_ms: info.now_ms,
        },
        started,
        target: Some(operation),
    };
    let denial = call.denial.take();
    let result = conclude(state, call, result, finish).await;
    drop(admission);
    result.map_err(|error| Refused {
        // Only the refusal the caller got is explained (not, say, a failed audit write).
        denial: denial.filter(|d| d.message == error.message),
        error,
    })
}

/// The protocol's throttling error for a server at its bound on requests in flight.
fn overloaded(protocol: &Protocol) -> ApiError {
    let code = match protocol {
        Protocol::Query(_) => "Throttling",
        _ => "ThrottlingException",
    };
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code,
        "The server is handling too many requests at once; retry with backoff.",
    )
}

/// The API-call metrics alarms watch (namespace AWS/SecretsManager or AWS/SSM, one per
/// operation), for recognised operations only.
fn count_api_call(
    state: &AppState,
    region: Option<&str>,
    service: &str,
    operation: &str,
    recognised: bool,
    now_ms: i64,
) {
    let namespace = match service {
        "secretsmanager" => cloudwatch::NAMESPACE_SECRETS_MANAGER,
        "ssm" => cloudwatch::NAMESPACE_SSM,
        _ => return,
    };
    if recognised {
        let region = state.regions.for_request(region.unwrap_or_default());
        region.cloudwatch.record_call(namespace, operation, now_ms);
    }
}

/// The call's audit record, then the KMS uses made on the caller's behalf and the service
/// events it caused, each its own record. If the call's record cannot be written the caller
/// gets InternalFailure, never an unaudited success. The record is made when this is
/// called; the future waits for it (small, see [`conclude`]).
fn record<'s, 'r>(
    state: &'s AppState,
    mut call: Call,
    transport: crate::audit::Transport<'r>,
    result: Result<Reply, ApiError>,
    now_ms: i64,
) -> impl Future<Output = Result<Reply, ApiError>> + Send + use<'s, 'r> {
    let service_events = std::mem::take(&mut call.service_events);
    let delegated = std::mem::take(&mut call.delegated);
    // Most calls make no KMS use and cause no service event.
    let later = if delegated.is_empty() && service_events.is_empty() {
        None
    } else {
        Some(Box::new(LaterRecords {
            // The caller again only for the KMS uses' records.
            caller: if delegated.is_empty() {
                None
            } else {
                call.principal.clone()
            },
            region: call
                .region
                .clone()
                .unwrap_or_else(|| state.regions.home().name.clone()),
            delegated,
            service_events,
        }))
    };
    let request_id = transport.request_id;
    let durable = state.audit.api_call(call, transport, result.as_ref().err());
    durable.then(move |written| async move {
        if let Err(e) = written {
            tracing::error!(request_id, error = %e, "request failed: its audit record could not be written");
            return Err(audit_unavailable());
        }
        if let Some(later) = later {
            // Boxed: rarer than the call's own record, and large.
            Box::pin(later.record(state, now_ms)).await;
        }
        result
    })
}

/// What a call's record is followed by: the KMS uses made for the caller and the service
/// events it caused, recorded in the call's region.
struct LaterRecords {
    caller: Option<Principal>,
    region: String,
    delegated: Vec<crate::audit::DelegatedKms>,
    service_events: Vec<crate::audit::ServiceEvent>,
}

impl LaterRecords {
    async fn record(self, state: &AppState, now_ms: i64) {
        let region = &self.region;
        if let Some(p) = &self.caller {
            for d in self.delegated {
                state.audit.delegated_kms(region, p, d, now_ms).await;
            }
        }
        for e in self.service_events {
            state
                .audit
                .service_event(region, e.service, e.name, e.details, e.resource, now_ms)
                .await;
        }
    }
}

/// The reply or the AWS-shaped error, in the request's protocol.
fn encode(result: Result<Reply, ApiError>, protocol: Protocol, request_id: &str) -> Response {
    match (result, protocol) {
        (Ok(Reply::Json(bytes)), _) => json::ok(bytes, request_id),
        (Ok(Reply::Json10(bytes)), _) => json::ok_10(bytes, request_id),
        (Ok(Reply::Cbor(bytes)), _) => cbor::ok(bytes, request_id),
        (
            Ok(Reply::Xml {
                action,
                xmlns,
                result,
            }),
            _,
        ) => query::ok(&action, xmlns, result.as_deref(), request_id),
        (Err(e), Protocol::Json) => json::error(&e, request_id),
        (Err(e), Protocol::Json10) => json::error_10(&e, request_id),
        (Err(e), Protocol::Query(xmlns)) => query::error(&e, xmlns, request_id),
        (Err(e), Protocol::Cbor) => cbor::error(&e, request_id),
    }
}

/// Whether a request's operation name is one the server knows (safe as a metric label).
fn recognised(authenticated: bool, error_code: Option<&str>) -> bool {
    authenticated
        && !matches!(
            error_code,
            Some("UnknownOperationException" | "InvalidAction" | "UnknownOperation")
        )
}

/// The audit log cannot take writes: the request is refused (or, if it already changed
/// something, reported as failed — retrying with the same ClientRequestToken is safe).
fn audit_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalFailure",
        "The request could not be audited, so it was refused. The audit log is unwritable; the operator has been told.",
    )
}

enum Protocol {
    Json,
    /// JSON 1.0 (CloudWatch): errors name the model's shape ids.
    Json10,
    Query(&'static str),
    /// Smithy RPC v2 CBOR (CloudWatch).
    Cbor,
}

enum Reply {
    /// Zeroizing: a GetSecretValue answer carries the value.
    Json(Zeroizing<Vec<u8>>),
    /// JSON 1.0 (CloudWatch).
    Json10(Zeroizing<Vec<u8>>),
    Cbor(Vec<u8>),
    Xml {
        action: String,
        xmlns: &'static str,
        result: Option<String>,
    },
}

async fn handle_json(
    state: &AppState,
    parts: &Parts,
    body: Body,
    target: &str,
    info: &RequestInfo,
    call: &mut Call,
) -> Result<Reply, ApiError> {
    let (service, operation) = match json::split_target(target) {
        Some((prefix, op)) => (JsonService::from_prefix(prefix), op),
        None => (None, ""),
    };
    call.event_source = event_source(service.map_or("unknown", JsonService::signing_name));
    call.event_name = operation.chars().take(128).collect();
    let body = read_body(parts, body, state.body_read_timeout).await?;
    let signing_name = service.map(JsonService::signing_name);
    let signed = state
        .auth
        .authenticate(parts, &body, signing_name, JSON_SIGNING_NAMES)?;
    let principal = signed.principal;
    let region = state.regions.for_request(&signed.region);
    call.region = Some(region.name.clone());
    let result = async {
        admit(state, &principal, "ThrottlingException")?;
        let Some(service) = service.filter(|_| parts.method == Method::POST) else {
            return Err(ApiError::bad_request(
                "UnknownOperationException",
                format!(
                    "Unknown operation: X-Amz-Target {target:?} names no operation this server offers."
                ),
            ));
        };
        if !json::content_type_ok(parts.headers.get(header::CONTENT_TYPE)) {
            return Err(ApiError::bad_request(
                "SerializationException",
                format!("Unsupported Content-Type: send {}.", json::CONTENT_TYPE),
            ));
        }
        run_json(
            state,
            region,
            service,
            operation,
            Wire::Json(body),
            &principal,
            info,
            call,
        )
        .await
    }
    .await;
    // The caller joins the record once the call is done (whatever its outcome): it is lent
    // to the pipeline meanwhile, so it is not copied per request.
    call.principal = Some(principal);
    result
}

/// A decoded JSON request of an authenticated, admitted caller through the pipeline.
#[allow(clippy::too_many_arguments)]
async fn run_json(
    state: &AppState,
    region: &crate::regions::Region,
    service: JsonService,
    operation: &str,
    wire: Wire,
    p: &Principal,
    info: &RequestInfo,
    call: &mut Call,
) -> Result<Reply, ApiError> {
    let authz = &state.authz;
    let out = match service {
        JsonService::SecretsManager => {
            pipeline::run(
                &*region.secretsmanager,
                operation,
                wire,
                p,
                info,
                authz,
                call,
            )
            .await
        }
        JsonService::Ssm => pipeline::run(&region.ssm, operation, wire, p, info, authz, call).await,
        JsonService::Kms => {
            pipeline::run(&*region.kms, operation, wire, p, info, authz, call).await
        }
        JsonService::CloudTrail => {
            pipeline::run(&region.cloudtrail, operation, wire, p, info, authz, call).await
        }
        JsonService::CloudWatch => {
            // Boxed, as every large future off the read path (see `SecretsManager::call`).
            return Box::pin(pipeline::run(
                &*region.cloudwatch,
                operation,
                wire,
                p,
                info,
                authz,
                call,
            ))
            .await
            .map(|out| Reply::Json10(json_output(out)));
        }
    };
    out.map(|out| Reply::Json(json_output(out)))
}

/// A JSON service's answer.
fn json_output(out: Output) -> Zeroizing<Vec<u8>> {
    match out {
        Output::Json(bytes) => bytes,
        // Not produced by the JSON services.
        Output::Xml(_) => Zeroizing::new(b"{}".to_vec()),
    }
}

/// CloudWatch over Smithy RPC v2 CBOR: `POST /service/GraniteServiceVersion20100801/operation/<Op>`.
async fn handle_cbor(
    state: &AppState,
    parts: &Parts,
    body: Body,
    operation: &str,
    info: &RequestInfo,
    call: &mut Call,
) -> Result<Reply, ApiError> {
    call.event_source = event_source("monitoring");
    call.event_name = operation.chars().take(128).collect();
    let body = read_body(parts, body, state.body_read_timeout).await?;
    let signed = state
        .auth
        .authenticate(parts, &body, Some("monitoring"), &[])?;
    let principal = signed.principal;
    let region = state.regions.for_request(&signed.region);
    call.region = Some(region.name.clone());
    call.principal = Some(principal.clone());
    admit(state, &principal, "ThrottlingException")?;
    if parts.method != Method::POST {
        return Err(pipeline::unknown_operation(false, "monitoring", operation));
    }
    let out = Box::pin(pipeline::run(
        &*region.cloudwatch,
        operation,
        Wire::Cbor(body),
        &principal,
        info,
        &state.authz,
        call,
    ))
    .await?;
    let output: serde_json::Value = serde_json::from_slice(&json_output(out)).unwrap_or_default();
    Ok(Reply::Cbor(cloudwatch::protocol::json_to_cbor(
        operation, &output,
    )))
}

/// The caller's rate limit: over it, the request is refused (and audited) with the protocol's
/// throttling code, which every AWS SDK retries with backoff.
fn admit(state: &AppState, principal: &Principal, code: &'static str) -> Result<(), ApiError> {
    // One bucket per identity, not per access key: minting more keys or STS sessions (every
    // session of a role shares the role's bucket) does not buy more rate.
    let caller = match &principal.kind {
        crate::credentials::PrincipalKind::AssumedRole { role_arn, .. } => role_arn.as_str(),
        _ => principal.arn.as_str(),
    };
    if state.throttle.admit(caller) {
        Ok(())
    } else {
        Err(ApiError::bad_request(code, "Rate exceeded"))
    }
}

/// IAM, STS and CloudWatch's Query protocol: `Action=...` in a form body (or the query
/// string), XML replies.
async fn handle_query(
    state: &AppState,
    parts: &Parts,
    body: Body,
    info: &RequestInfo,
    call: &mut Call,
) -> (Result<Reply, ApiError>, Protocol) {
    call.event_source = event_source("unknown");
    let body = match read_body(parts, body, state.body_read_timeout).await {
        Ok(b) => b,
        Err(e) => return (Err(e), Protocol::Query(iam::XMLNS)),
    };
    let mut params = query::parse_form(parts.uri.query().unwrap_or("").as_bytes());
    params.extend(query::parse_form(&body));
    let action = params.get("Action").cloned().unwrap_or_default();
    call.event_name = action.chars().take(128).collect();
    let authenticated = state
        .auth
        .authenticate(parts, &body, None, &["iam", "sts", "monitoring"]);
    let (principal, service, region) = match authenticated {
        Ok(s) => (s.principal, s.service, s.region),
        // IAM and STS name authentication failures differently from the JSON services.
        Err(e) => {
            if let Some(service) =
                crate::audit::claimed_service(parts, &["iam", "sts", "monitoring"])
            {
                call.event_source = event_source(service);
            }
            let status = http::StatusCode::from_u16(e.query_http_status())
                .unwrap_or(http::StatusCode::FORBIDDEN);
            let err = ApiError::new(status, e.query_code(), e.to_string());
            return (Err(err), Protocol::Query(sts::XMLNS));
        }
    };
    call.event_source = event_source(&service);
    // IAM is global (signed for us-east-1): recorded in the home region, as AWS records it
    // in us-east-1.
    let region = state.regions.for_request(&region);
    call.region = Some(region.name.clone());
    call.principal = Some(principal.clone());
    // Recorded also when the caller is throttled (the services' audit stage records them
    // again, in their own form, for calls that reach them).
    call.request_parameters = Some(crate::audit::form_parameters(&call.event_source, &params));
    let xmlns = match service.as_str() {
        "monitoring" => cloudwatch::protocol::XMLNS,
        "sts" => sts::XMLNS,
        _ => iam::XMLNS,
    };
    if let Err(e) = admit(state, &principal, "Throttling") {
        return (Err(e), Protocol::Query(xmlns));
    }
    let (p, authz) = (&principal, &state.authz);
    let wire = Wire::Query(params);
    let result = match service.as_str() {
        "monitoring" => Box::pin(pipeline::run(
            &*region.cloudwatch,
            &action,
            wire,
            p,
            info,
            authz,
            call,
        ))
        .await
        .map(|out| {
            let output: serde_json::Value =
                serde_json::from_slice(&json_output(out)).unwrap_or_default();
            cloudwatch::protocol::json_to_query_xml(&action, &output)
        }),
        "sts" => Box::pin(pipeline::run(
            &state.sts, &action, wire, p, info, authz, call,
        ))
        .await
        .map(xml_output),
        _ => Box::pin(pipeline::run(
            &state.iam, &action, wire, p, info, authz, call,
        ))
        .await
        .map(xml_output),
    };
    let reply = result.map(|result| Reply::Xml {
        action: action.clone(),
        xmlns,
        result,
    });
    (reply, Protocol::Query(xmlns))
}

/// A Query service's answer: the inside of `<ActionResult>`.
fn xml_output(out: Output) -> Option<String> {
    match out {
        Output::Xml(result) => result,
        Output::Json(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, F: Future>(_f: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every request's future embeds the record's and is moved whole onto the heap
    /// (`http::Dispatch`), so its size is paid per request: the record is made before the
    /// first await and the futures hold only what they wait for. As `async fn`s holding the
    /// call and the record twice over, `conclude`'s was 6.2 KB of a 7.6 KB request future.
    #[test]
    fn the_records_futures_stay_small() {
        type Transport<'a> = crate::audit::Transport<'a>;
        let append =
            future_size(|(s, e): (&AppState, strongroom_audit::Entry)| s.audit.log.append(e));
        let api_call =
            future_size(|(s, c, t): (&AppState, Call, Transport<'_>)| s.audit.api_call(c, t, None));
        let record = future_size(
            |(s, c, t, r): (&AppState, Call, Transport<'_>, Result<Reply, ApiError>)| {
                record(s, c, t, r, 0)
            },
        );
        let conclude = future_size(
            |(s, c, r, f): (&AppState, Call, Result<Reply, ApiError>, Finish<'_>)| {
                conclude(s, c, r, f)
            },
        );
        let call = std::mem::size_of::<Call>();
        for (name, size) in [
            ("append", append),
            ("api_call", api_call),
            ("record", record),
            ("conclude", conclude),
        ] {
            assert!(
                size < call,
                "{name}'s future is {size} bytes, more than the call it records ({call})"
            );
        }
    }
}
