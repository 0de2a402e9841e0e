//! The HTTP front: one listener for every service. It reads the body (bounded), identifies
//! the service and operation, authenticates the SigV4 signature, dispatches, and renders the
//! result or the AWS-shaped error. Bodies and secret values are never logged.

pub mod auth;
pub mod json;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::request::Parts;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use crate::error::ApiError;
use crate::services::secretsmanager::SecretsManager;
use auth::Authenticator;

/// AWS's JSON APIs accept request bodies up to 1 MiB; anything larger is refused before it is
/// buffered whole.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub struct AppState {
    pub auth: Authenticator,
    pub secretsmanager: SecretsManager,
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

async fn api(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let result = handle(&state, &parts, body, target.as_deref()).await;
    let elapsed_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(bytes) => {
            tracing::debug!(request_id, target, elapsed_us, status = 200, "request");
            json::ok(bytes, &request_id)
        }
        Err(e) => {
            tracing::info!(
                request_id,
                target,
                elapsed_us,
                status = e.status.as_u16(),
                error = e.code,
                message = %e.message,
                "request refused"
            );
            json::error(&e, &request_id)
        }
    }
}

async fn handle(
    state: &AppState,
    parts: &Parts,
    body: Body,
    target: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let body = read_body(parts, body).await?;
    let (service, operation) = match target.and_then(json::split_target) {
        Some((prefix, op)) => (JsonService::from_prefix(prefix), op),
        None => (None, ""),
    };
    let signing_name = service
        .map(JsonService::signing_name)
        .unwrap_or("secretsmanager");
    let principal = state
        .auth
        .authenticate(parts, &body, signing_name, SystemTime::now())?;

    let Some(service) = service.filter(|_| parts.method == Method::POST) else {
        return Err(ApiError::bad_request(
            "UnknownOperationException",
            match target {
                Some(t) => format!("Unknown operation: X-Amz-Target {t:?} names no operation this server offers."),
                None => "Missing X-Amz-Target header: send POST / with X-Amz-Target: secretsmanager.<Operation>.".into(),
            },
        ));
    };
    if !json::content_type_ok(parts.headers.get(header::CONTENT_TYPE)) {
        return Err(ApiError::bad_request(
            "SerializationException",
            format!("Unsupported Content-Type: send {}.", json::CONTENT_TYPE),
        ));
    }
    match service {
        JsonService::SecretsManager => state
            .secretsmanager
            .call(operation, &principal, &body)
            .await
            .map_err(ApiError::from),
    }
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
