//! Smithy RPC v2 CBOR framing (CloudWatch): the request path names the operation, replies
//! carry `smithy-protocol: rpc-v2-cbor`, errors a CBOR `__type`/`message` map.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use crate::error::ApiError;

/// The only service offered over CBOR, as its path names it.
const CLOUDWATCH_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";

/// The operation a `POST /service/<Service>/operation/<Op>` names, if the path is one.
pub fn operation_path(path: &str) -> Option<&str> {
    path.strip_prefix(CLOUDWATCH_PATH)
        .filter(|op| !op.is_empty() && !op.contains('/'))
}

pub fn ok(body: Vec<u8>, request_id: &str) -> Response {
    respond(StatusCode::OK, body, request_id)
}

pub fn error(err: &ApiError, request_id: &str) -> Response {
    let body = crate::services::cloudwatch::protocol::cbor_error(err.code, &err.message);
    let mut res = respond(err.status, body, request_id);
    super::json::set_query_error(&mut res, err);
    res
}

fn respond(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/cbor"),
    );
    h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_paths() {
        use super::operation_path;
        assert_eq!(
            operation_path("/service/GraniteServiceVersion20100801/operation/DescribeAlarms"),
            Some("DescribeAlarms")
        );
        assert_eq!(
            operation_path("/service/GraniteServiceVersion20100801/operation/"),
            None
        );
        assert_eq!(operation_path("/service/Other/operation/X"), None);
        assert_eq!(operation_path("/"), None);
    }
}
