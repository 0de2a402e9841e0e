//! Verification against AWS's own signer (`aws-sigv4`) and the published SigV4 test suite.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use proptest::prelude::*;

use super::*;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SKEW: Duration = Duration::from_secs(300);

struct Signed {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn aws_sign(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
    session_token: Option<&str>,
    presign_expires: Option<Duration>,
) -> Signed {
    let mut builder = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let mut req = builder.body(body.to_vec()).unwrap();
    let identity =
        Credentials::new(AKID, SECRET, session_token.map(String::from), None, "test").into();
    let mut settings = SigningSettings::default();
    if let Some(e) = presign_expires {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(e);
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("secretsmanager")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let hs: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let signable = SignableRequest::new(
        method,
        url,
        hs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    let (parts, body) = req.into_parts();
    Signed {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    }
}

fn check(s: &Signed, secret: &str, now: SystemTime) -> Result<ParsedAuth, SigV4Error> {
    let auth = parse(&s.method, &s.uri, &s.headers)?;
    let key = derive_signing_key(secret, &auth.scope);
    auth.verify(&s.method, &s.uri, &s.headers, &s.body, &key)?;
    auth.check_time(now, SKEW)?;
    Ok(auth)
}

fn json_request(time: SystemTime) -> Signed {
    aws_sign(
        "POST",
        "http://127.0.0.1:8790/",
        &[
            ("host", "127.0.0.1:8790"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "secretsmanager.GetSecretValue"),
        ],
        br#"{"SecretId":"MySecret"}"#,
        time,
        None,
        None,
    )
}

#[test]
fn aws_signed_json_request_verifies() {
    let now = SystemTime::now();
    let auth = check(&json_request(now), SECRET, now).unwrap();
    assert_eq!(auth.access_key_id, AKID);
    assert_eq!(auth.scope.service, "secretsmanager");
    assert_eq!(auth.scope.region, "us-east-1");
    assert!(!auth.presigned);
}

#[test]
fn wrong_secret_key_is_a_mismatch() {
    let now = SystemTime::now();
    let err = check(&json_request(now), "another-secret", now).unwrap_err();
    assert_eq!(err.code(), "InvalidSignatureException");
    assert!(
        err.to_string()
            .starts_with("The request signature we calculated does not match")
    );
}

#[test]
fn tampering_is_detected() {
    let now = SystemTime::now();
    let mut s = json_request(now);
    s.body = br#"{"SecretId":"Other"}"#.to_vec();
    assert_eq!(
        check(&s, SECRET, now).unwrap_err().code(),
        "InvalidSignatureException"
    );

    let mut s = json_request(now);
    s.headers.insert(
        "x-amz-target",
        HeaderValue::from_static("secretsmanager.DeleteSecret"),
    );
    assert_eq!(
        check(&s, SECRET, now).unwrap_err().code(),
        "InvalidSignatureException"
    );

    let mut s = json_request(now);
    s.uri = "http://127.0.0.1:8790/?extra=1".parse().unwrap();
    assert_eq!(
        check(&s, SECRET, now).unwrap_err().code(),
        "InvalidSignatureException"
    );

    let mut s = json_request(now);
    s.method = Method::PUT;
    assert_eq!(
        check(&s, SECRET, now).unwrap_err().code(),
        "InvalidSignatureException"
    );
}

#[test]
fn clock_skew_window_is_five_minutes_each_way() {
    let now = SystemTime::now();
    let old = json_request(now - Duration::from_secs(299));
    check(&old, SECRET, now).unwrap();
    let expired = json_request(now - Duration::from_secs(301));
    let err = check(&expired, SECRET, now).unwrap_err();
    assert_eq!(err.code(), "InvalidSignatureException");
    assert!(err.to_string().starts_with("Signature expired: "), "{err}");
    assert!(err.to_string().ends_with(" - 5 min.)"), "{err}");
    let future = json_request(now + Duration::from_secs(301));
    let err = check(&future, SECRET, now).unwrap_err();
    assert!(
        err.to_string().starts_with("Signature not yet current: "),
        "{err}"
    );
}

#[test]
fn missing_authorization_and_missing_parts() {
    let now = SystemTime::now();
    let mut s = json_request(now);
    s.headers.remove("authorization");
    assert_eq!(
        parse(&s.method, &s.uri, &s.headers).unwrap_err(),
        SigV4Error::MissingAuthenticationToken
    );

    let full = json_request(now);
    let auth = full
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for part in ["Credential", "SignedHeaders", "Signature"] {
        let cut: Vec<&str> = auth
            .trim_start_matches("AWS4-HMAC-SHA256 ")
            .split(", ")
            .filter(|p| !p.starts_with(part))
            .collect();
        let mut h = full.headers.clone();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("AWS4-HMAC-SHA256 {}", cut.join(", "))).unwrap(),
        );
        let err = parse(&full.method, &full.uri, &h).unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert!(
            err.to_string()
                .contains(&format!("requires '{part}' parameter")),
            "{err}"
        );
    }
    let mut h = full.headers.clone();
    h.remove("x-amz-date");
    let err = parse(&full.method, &full.uri, &h).unwrap_err();
    assert!(
        err.to_string().contains("'X-Amz-Date' or a 'Date' header"),
        "{err}"
    );

    let mut h = full.headers.clone();
    h.insert(
        "authorization",
        HeaderValue::from_static("AWS AKID:signature"),
    );
    assert_eq!(
        parse(&full.method, &full.uri, &h).unwrap_err().code(),
        "IncompleteSignatureException"
    );
}

#[test]
fn session_token_is_surfaced() {
    let now = SystemTime::now();
    let s = aws_sign(
        "POST",
        "http://127.0.0.1:8790/",
        &[("host", "127.0.0.1:8790")],
        b"{}",
        now,
        Some("session-token-value"),
        None,
    );
    let auth = check(&s, SECRET, now).unwrap();
    assert_eq!(auth.session_token.as_deref(), Some("session-token-value"));
}

#[test]
fn presigned_urls_verify_and_expire() {
    let now = SystemTime::now();
    let s = aws_sign(
        "GET",
        "http://127.0.0.1:8790/?Action=ListThings&Version=2010-05-08&Name=a%20b%2Bc",
        &[("host", "127.0.0.1:8790")],
        b"",
        now,
        None,
        Some(Duration::from_secs(60)),
    );
    let auth = check(&s, SECRET, now).unwrap();
    assert!(auth.presigned);
    assert_eq!(auth.expires_secs, Some(60));
    // Past its expiry.
    let err = check(&s, SECRET, now + Duration::from_secs(61)).unwrap_err();
    assert!(err.to_string().starts_with("Signature expired"), "{err}");
    // A tampered query parameter.
    let mut t = Signed {
        method: s.method.clone(),
        uri: s
            .uri
            .to_string()
            .replace("ListThings", "DeleteThings")
            .parse()
            .unwrap(),
        headers: s.headers.clone(),
        body: vec![],
    };
    assert_eq!(
        check(&t, SECRET, now).unwrap_err().code(),
        "InvalidSignatureException"
    );
    // X-Amz-Expires beyond seven days is refused outright.
    t.uri = s
        .uri
        .to_string()
        .replace("X-Amz-Expires=60", "X-Amz-Expires=604801")
        .parse()
        .unwrap();
    assert_eq!(
        parse(&t.method, &t.uri, &t.headers).unwrap_err().code(),
        "IncompleteSignatureException"
    );
}

#[test]
fn paths_with_odd_characters_verify() {
    let now = SystemTime::now();
    for url in [
        "http://h/a%20b/c",
        "http://h/%E2%9C%93/x",
        "http://h/a/./b/../c",
        "http://h/~user/file-1_2.txt",
        "http://h/?a=1&b=&c=%2F&a=0",
    ] {
        let s = aws_sign("GET", url, &[("host", "h")], b"", now, None, None);
        check(&s, SECRET, now).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

#[test]
fn unsigned_host_is_incomplete() {
    let now = SystemTime::now();
    let s = json_request(now);
    let auth = s.headers.get("authorization").unwrap().to_str().unwrap();
    let changed = auth.replace(
        "SignedHeaders=content-type;host;",
        "SignedHeaders=content-type;",
    );
    assert_ne!(auth, changed, "test precondition: host was signed: {auth}");
    let mut h = s.headers.clone();
    h.insert("authorization", HeaderValue::from_str(&changed).unwrap());
    let err = parse(&s.method, &s.uri, &h).unwrap_err();
    assert_eq!(err.code(), "IncompleteSignatureException");
}

/// AWS SigV4 test suite, "get-vanilla" (documented credentials, date and signature).
#[test]
fn aws_test_suite_get_vanilla() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    headers.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
    );
    let uri: Uri = "/".parse().unwrap();
    let auth = parse(&Method::GET, &uri, &headers).unwrap();
    let key = derive_signing_key(SECRET, &auth.scope);
    auth.verify(&Method::GET, &uri, &headers, b"", &key)
        .unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    auth.check_time(at, SKEW).unwrap();
}

#[test]
fn cache_rederives_when_the_secret_changes() {
    let cache = SigningKeyCache::new();
    let scope = CredentialScope {
        date: "20240101".into(),
        region: "us-east-1".into(),
        service: "secretsmanager".into(),
    };
    let a = cache.get_or_derive("AK", "one", &scope);
    let b = cache.get_or_derive("AK", "two", &scope);
    assert_ne!(a.0, b.0);
    assert_eq!(cache.get_or_derive("AK", "two", &scope).0, b.0);
    assert_eq!(format!("{a:?}"), "SigningKey(<redacted>)");
}

proptest! {
    #[test]
    fn parse_never_panics(auth in ".{0,300}", date in ".{0,40}", query in "[ -~]{0,200}") {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&auth) { h.insert("authorization", v); }
        if let Ok(v) = HeaderValue::from_str(&date) { h.insert("x-amz-date", v); }
        let uri: Uri = format!("/?{}", query.replace(' ', "%20").replace('#', "%23"))
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"));
        if let Ok(a) = parse(&Method::POST, &uri, &h) {
            let key = derive_signing_key("k", &a.scope);
            let _ = a.verify(&Method::POST, &uri, &h, b"", &key);
            let _ = a.check_time(SystemTime::now(), SKEW);
        }
    }

    #[test]
    fn query_form_never_panics(cred in "[ -~]{0,80}", exp in "[0-9a-z]{0,12}") {
        let q = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date=20240101T000000Z&X-Amz-Expires={exp}&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            uri_encode(&cred, true)
        );
        let uri: Uri = format!("/?{q}").parse().unwrap();
        let _ = parse(&Method::GET, &uri, &HeaderMap::new());
    }
}
