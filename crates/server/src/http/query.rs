//! The AWS Query protocol (IAM, STS): form-encoded `Action=...&Version=...` requests, XML
//! responses and `<ErrorResponse>` errors.

use std::collections::HashMap;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use crate::error::ApiError;
pub use crate::xml::escape;

/// A Query request's form fields (body and query string), `Action` and `Version` included.
pub type Params = HashMap<String, String>;

/// Decode `application/x-www-form-urlencoded` (`+` is a space here, unlike in SigV4).
pub fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// `<{Action}Response xmlns=...><{Action}Result>{result}</...><ResponseMetadata>...`
pub fn ok(action: &str, xmlns: &str, result: Option<&str>, request_id: &str) -> Response {
    let result = result
        .map(|r| format!("<{action}Result>{r}</{action}Result>"))
        .unwrap_or_default();
    let body = format!(
        "<{action}Response xmlns=\"{xmlns}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    respond(StatusCode::OK, body, request_id)
}

pub fn error(err: &ApiError, xmlns: &str, request_id: &str) -> Response {
    let kind = err.fault();
    let body = format!(
        "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(err.code),
        escape(&err.message)
    );
    respond(err.status, body, request_id)
}

fn respond(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        res.headers_mut().insert("x-amzn-requestid", v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        let f = parse_form(b"Action=CreateUser&UserName=a%2Fb+c&Empty=&Flag");
        assert_eq!(f["Action"], "CreateUser");
        assert_eq!(f["UserName"], "a/b c");
        assert_eq!(f["Empty"], "");
        assert_eq!(f["Flag"], "");
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }
}
