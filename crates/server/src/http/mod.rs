//! The HTTP front: one listener for every service. It reads the body (bounded), identifies
//! the service and operation, authenticates the SigV4 signature, dispatches, and renders the
//! result or the AWS-shaped error. Bodies and secret values are never logged.

pub mod auth;
pub mod json;
pub mod query;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::request::Parts;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use crate::authz::{Authorizer, RequestInfo};
use crate::clock::Clock;
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::services::iam::Iam;
use crate::services::secretsmanager::SecretsManager;
use crate::services::{iam, sts};
use auth::Authenticator;

/// AWS's JSON APIs accept request bodies up to 1 MiB; anything larger is refused before it is
/// buffered whole.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub struct AppState {
    pub auth: Authenticator,
    pub authz: Authorizer,
    pub secretsmanager: SecretsManager,
    pub iam: Iam,
    pub sts: sts::Sts,
    pub clock: Arc<dyn Clock>,
    /// Whether this listener serves TLS (aws:SecureTransport).
    pub tls: bool,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .fallback(api)
        .with_state(state)
}

async fn health() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}",
    )
        .into_response()
}

/// The services reachable through JSON 1.1 targets, by `X-Amz-Target` prefix.
#[derive(Clone, Copy)]
enum JsonService {
    SecretsManager,
}

impl JsonService {
    fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "secretsmanager" => Some(Self::SecretsManager),
            _ => None,
        }
    }
    /// The SigV4 service name the credential scope must carry.
    fn signing_name(self) -> &'static str {
        match self {
            Self::SecretsManager => "secretsmanager",
        }
    }
}

async fn api(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
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
    let (result, protocol) = match target.as_deref() {
        Some(t) => (
            handle_json(&state, &parts, body, t, &info).await,
            Protocol::Json,
        ),
        None => handle_query(&state, &parts, body, &info).await,
    };
    let elapsed_us = started.elapsed().as_micros() as u64;
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
    match (result, protocol) {
        (Ok(Reply::Json(bytes)), _) => json::ok(bytes, &request_id),
        (
            Ok(Reply::Xml {
                action,
                xmlns,
                result,
            }),
            _,
        ) => query::ok(&action, xmlns, result.as_deref(), &request_id),
        (Err(e), Protocol::Json) => json::error(&e, &request_id),
        (Err(e), Protocol::Query(xmlns)) => query::error(&e, xmlns, &request_id),
    }
}

enum Protocol {
    Json,
    Query(&'static str),
}

enum Reply {
    Json(Vec<u8>),
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
) -> Result<Reply, ApiError> {
    let body = read_body(parts, body).await?;
    let (service, operation) = match json::split_target(target) {
        Some((prefix, op)) => (JsonService::from_prefix(prefix), op),
        None => (None, ""),
    };
    let signing_name = service.map(JsonService::signing_name);
    let (principal, _) = state.auth.authenticate(
        parts,
        &body,
        signing_name,
        &["secretsmanager"],
        SystemTime::now(),
    )?;

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
    match service {
        JsonService::SecretsManager => {
            let sm = &state.secretsmanager;
            // Root may do everything: its hot path skips building the policy context.
            if !principal.is_root() {
                let t = sm.authorization_target(operation, &body).await;
                state
                    .authz
                    .authorize_with(
                        &principal,
                        &t.action,
                        &t.resource,
                        t.resource_policy.as_deref(),
                        t.keys,
                        info,
                    )
                    .map_err(access_denied_json)?;
            }
            let gate = |action: &str, resource: &str, policy: Option<&str>, keys| {
                state
                    .authz
                    .authorize_with(&principal, action, resource, policy, keys, info)
            };
            sm.call(operation, &principal, &body, &gate)
                .await
                .map(Reply::Json)
                .map_err(ApiError::from)
        }
    }
}

fn access_denied_json(message: String) -> ApiError {
    ApiError::bad_request("AccessDeniedException", message)
}

/// IAM and STS: `Action=...` in a form body (or the query string), XML replies.
async fn handle_query(
    state: &AppState,
    parts: &Parts,
    body: Body,
    info: &RequestInfo,
) -> (Result<Reply, ApiError>, Protocol) {
    let body = match read_body(parts, body).await {
        Ok(b) => b,
        Err(e) => return (Err(e), Protocol::Query(iam::XMLNS)),
    };
    let authenticated =
        state
            .auth
            .authenticate(parts, &body, None, &["iam", "sts"], SystemTime::now());
    let (principal, service) = match authenticated {
        Ok(x) => x,
        // IAM and STS name authentication failures differently from the JSON services.
        Err(e) => {
            let status = http::StatusCode::from_u16(e.query_http_status())
                .unwrap_or(http::StatusCode::FORBIDDEN);
            let err = ApiError::new(status, e.query_code(), e.to_string());
            return (Err(err), Protocol::Query(sts::XMLNS));
        }
    };
    let mut params = query::parse_form(parts.uri.query().unwrap_or("").as_bytes());
    params.extend(query::parse_form(&body));
    let action = params.get("Action").cloned().unwrap_or_default();
    if service == "sts" {
        let result = state
            .sts
            .call(&action, &params, &principal, &state.authz, info)
            .map(|result| Reply::Xml {
                action: action.clone(),
                xmlns: sts::XMLNS,
                result,
            });
        return (result, Protocol::Query(sts::XMLNS));
    }
    (
        query_iam(state, &principal, &action, &params, info).await,
        Protocol::Query(iam::XMLNS),
    )
}

async fn query_iam(
    state: &AppState,
    principal: &Principal,
    action: &str,
    params: &iam::Params,
    info: &RequestInfo,
) -> Result<Reply, ApiError> {
    let (iam_action, resource) = state.iam.authorization_target(action, params, principal);
    state
        .authz
        .authorize(principal, &iam_action, &resource, Default::default(), info)
        .map_err(|m| ApiError::new(http::StatusCode::FORBIDDEN, "AccessDenied", m))?;
    let result = if action == "SimulatePrincipalPolicy" {
        state.iam.simulate(params, &state.authz, info)?
    } else {
        state.iam.call(action, params, principal).await?
    };
    Ok(Reply::Xml {
        action: action.to_string(),
        xmlns: iam::XMLNS,
        result,
    })
}

async fn read_body(parts: &Parts, body: Body) -> Result<Vec<u8>, ApiError> {
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
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ApiError::bad_request(
            "SerializationException",
            "The request body could not be read.",
        )),
    }
}
