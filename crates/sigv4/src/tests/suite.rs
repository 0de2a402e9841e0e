//! The AWS SigV4 signing test suite (`testdata/aws-signing-test-suite`, from the CRT suite as
//! shipped with `aws-sigv4`): every header-signed and presigned request must verify with
//! its published signature, and its published canonical request must be among ours.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::super::*;

/// Requests that cannot travel over HTTP/1.1 as written (a raw space in the path, a folded
/// header line), so their published canonical form does not apply.
const NOT_ON_THE_WIRE: &[&str] = &[
    "get-space-normalized",
    "get-space-unnormalized",
    "get-header-value-multiline",
];

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/aws-signing-test-suite/v4")
}

struct RawRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Percent-encode what `http::Uri` refuses in a query (raw non-ASCII bytes); decoding then
/// re-encoding yields the same canonical query, so this does not change the test.
fn escape_query(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let mut q = String::new();
    for b in query.bytes() {
        if b.is_ascii() {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{path}?{q}")
}

fn parse_request(text: &str) -> Option<RawRequest> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next()?;
    let (method, rest) = request_line.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let target = match rest.rsplit_once(' ') {
        Some((target, version)) if version.starts_with("HTTP/") => target,
        _ => rest,
    };
    let uri: Uri = escape_query(target).parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':')?;
        // As hyper does: optional whitespace around a field value is not part of it.
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).ok()?,
            HeaderValue::from_str(v.trim_matches([' ', '\t'])).ok()?,
        );
    }
    Some(RawRequest {
        method,
        uri,
        headers,
        body: body.trim_end_matches('\n').as_bytes().to_vec(),
    })
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn verify_case(dir: &Path, form: &str, ctx: &serde_json::Value) -> Result<(), String> {
    let Some(text) = read(dir, &format!("{form}-signed-request.txt")) else {
        return Ok(());
    };
    let req = parse_request(&text).ok_or("unparseable request")?;
    let auth = parse(&req.method, &req.uri, &req.headers).map_err(|e| format!("parse: {e}"))?;
    assert_eq!(auth.presigned, form == "query");
    let secret = ctx["credentials"]["secret_access_key"]
        .as_str()
        .ok_or("no secret")?;
    assert_eq!(
        auth.access_key_id,
        ctx["credentials"]["access_key_id"].as_str().unwrap_or("")
    );
    assert_eq!(
        auth.session_token.as_deref(),
        ctx["credentials"]["token"].as_str()
    );
    let key = derive_signing_key(secret, &auth.scope);
    let creqs = auth
        .canonical_requests(&req.method, &req.uri, &req.headers, &req.body)
        .map_err(|e| format!("canonical: {e}"))?;
    let expected = read(dir, &format!("{form}-canonical-request.txt")).ok_or("no creq")?;
    if !creqs.iter().any(|c| c == expected.as_bytes()) {
        return Err(format!(
            "canonical request not produced; expected\n{expected}\ngot\n{}",
            creqs
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\n---\n")
        ));
    }
    auth.verify(&req.method, &req.uri, &req.headers, &req.body, &key)
        .map_err(|e| format!("verify: {e}"))?;
    // 2015-08-30T12:36:00Z, the suite's signing time.
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    auth.check_time(at, Duration::from_secs(300))
        .map_err(|e| format!("time: {e}"))?;
    if form == "query" {
        assert_eq!(auth.expires_secs, Some(3600));
        auth.check_time(at + Duration::from_secs(3600), Duration::from_secs(300))
            .map_err(|e| format!("time at expiry: {e}"))?;
        assert!(
            auth.check_time(at + Duration::from_secs(3601), Duration::from_secs(300))
                .is_err()
        );
    }
    // The same request under another secret key must fail.
    let wrong = derive_signing_key("another-secret", &auth.scope);
    if auth
        .verify(&req.method, &req.uri, &req.headers, &req.body, &wrong)
        .is_ok()
    {
        return Err("verified under a wrong key".into());
    }
    Ok(())
}

#[test]
fn aws_signing_test_suite() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .expect("testdata present")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("context.json").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 35, "only {} test cases found", dirs.len());
    let (mut checked, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ctx: serde_json::Value =
            serde_json::from_str(&read(dir, "context.json").unwrap_or_default()).unwrap();
        let on_wire = read(dir, "header-signed-request.txt")
            .and_then(|t| parse_request(&t))
            .is_some();
        if NOT_ON_THE_WIRE.contains(&name) {
            assert!(!on_wire, "{name} is listed as skipped but parses: test it");
            skipped.push(name.to_string());
            continue;
        }
        for form in ["header", "query"] {
            match verify_case(dir, form, &ctx) {
                Ok(()) => checked += 1,
                Err(e) => failures.push(format!("{name} ({form}): {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(skipped.len(), NOT_ON_THE_WIRE.len(), "{skipped:?}");
    assert!(checked >= 70, "only {checked} signed requests checked");
}

/// The two API Gateway / Lambda cases that show non-S3 double encoding (no credentials
/// published for the first, so only the canonical path is compared).
#[test]
fn double_encoding_cases() {
    for (case, want) in [
        (
            "double-encode-path",
            "/test/%40connections/JBDvjfGEIAMCERw%253D",
        ),
        (
            "double-url-encode",
            "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations",
        ),
    ] {
        let dir = suite_dir().join(case);
        let text = read(&dir, "header-signed-request.txt").unwrap();
        let req = parse_request(&text).unwrap();
        let auth = parse(&req.method, &req.uri, &req.headers).unwrap();
        let creqs = auth
            .canonical_requests(&req.method, &req.uri, &req.headers, &req.body)
            .unwrap();
        let paths: Vec<String> = creqs
            .iter()
            .map(|c| {
                String::from_utf8_lossy(c)
                    .lines()
                    .nth(1)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(paths.first().map(String::as_str), Some(want), "{case}");
        let expected = read(&dir, "header-canonical-request.txt").unwrap();
        assert_eq!(expected.lines().nth(1), Some(want));
    }
}
