//! The AWS JSON 1.1 protocol: `POST /`, `X-Amz-Target: <prefix>.<Operation>`,
//! `Content-Type: application/x-amz-json-1.1`, errors as `{"__type", "message"}`.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use zeroize::Zeroizing;

use crate::error::ApiError;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Split `secretsmanager.GetSecretValue` into its prefix and operation.
pub fn split_target(target: &str) -> Option<(&str, &str)> {
    let (prefix, op) = target.rsplit_once('.')?;
    (!prefix.is_empty() && !op.is_empty()).then_some((prefix, op))
}

/// JSON 1.1 clients send `application/x-amz-json-1.1`; plain `application/json` is tolerated.
pub fn content_type_ok(value: Option<&HeaderValue>) -> bool {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == CONTENT_TYPE
        || essence == "application/x-amz-json-1.0"
        || essence == "application/json"
}

/// A success. The body is handed to hyper as is (no copy) and wiped when hyper drops it: a
/// GetSecretValue answer carries the value.
pub fn ok(body: Zeroizing<Vec<u8>>, request_id: &str) -> Response {
    respond(StatusCode::OK, Bytes::from_owner(body), request_id, None)
}

/// A JSON 1.0 success (CloudWatch).
pub fn ok_10(body: Zeroizing<Vec<u8>>, request_id: &str) -> Response {
    let mut res = respond(StatusCode::OK, Bytes::from_owner(body), request_id, None);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    res
}

pub fn error(err: &ApiError, request_id: &str) -> Response {
    let body =
        serde_json::to_vec(&serde_json::json!({ "__type": err.code, "message": err.message }))
            .unwrap_or_default();
    let mut res = respond(err.status, body, request_id, Some(err.code));
    set_query_error(&mut res, err);
    res
}

/// Query-compatible services (CloudWatch, in JSON 1.0 and CBOR) carry the Query error code
/// in `x-amzn-query-error`; other clients ignore it.
pub fn set_query_error(res: &mut Response, err: &ApiError) {
    if let Ok(v) = HeaderValue::from_str(&format!("{};{}", err.code, err.fault())) {
        res.headers_mut().insert("x-amzn-query-error", v);
    }
}

/// A JSON 1.0 error (CloudWatch): `__type` is the model's shape id, the Query code rides in
/// `x-amzn-query-error` (see [`error`]).
pub fn error_10(err: &ApiError, request_id: &str) -> Response {
    let body = serde_json::to_vec(&serde_json::json!({
        "__type": crate::services::cloudwatch::protocol::error_type(err.code),
        "message": err.message,
    }))
    .unwrap_or_default();
    let mut res = error(err, request_id);
    *res.body_mut() = Body::from(body);
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    res
}

fn respond(
    status: StatusCode,
    body: impl Into<Bytes>,
    request_id: &str,
    error_type: Option<&str>,
) -> Response {
    let mut res = Response::new(Body::from(body.into()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert("x-amzn-errortype", t);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            split_target("secretsmanager.GetSecretValue"),
            Some(("secretsmanager", "GetSecretValue"))
        );
        assert_eq!(split_target("nodot"), None);
        assert_eq!(split_target("a."), None);
    }

    #[test]
    fn content_types() {
        assert!(content_type_ok(Some(&HeaderValue::from_static(
            "application/x-amz-json-1.1"
        ))));
        assert!(content_type_ok(Some(&HeaderValue::from_static(
            "application/x-amz-json-1.1; charset=utf-8"
        ))));
        assert!(!content_type_ok(Some(&HeaderValue::from_static(
            "text/plain"
        ))));
        assert!(!content_type_ok(None));
    }
}
