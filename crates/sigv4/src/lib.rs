//! Server-side AWS Signature Version 4 verification, header (`Authorization`) and presigned
//! (query string) forms.
//!
//! # Why hand-written
//!
//! No well-kept crate verifies SigV4 on the server side. `aws-sigv4` is a client signer: its
//! canonical-request builder is private and it has no notion of checking a signature, a clock
//! window or an `X-Amz-Expires`. `scratchstack-aws-signature` never checks `X-Amz-Expires`,
//! forces its own principal types and async service stack, and pulls old dependency
//! versions (chrono, derive_builder, tower). Verification itself is small and AWS documents
//! it exactly ("Create a canonical request" in the IAM user guide), so it lives here, checked
//! against AWS's own signer (`aws-sigv4`) and the AWS SigV4 test suite (see `src/tests.rs`).
//!
//! # Use
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use strongroom_sigv4::{ParsedAuth, SigV4Error, SigningKeyCache};
//!
//! fn authenticate(
//!     parts: &http::request::Parts,
//!     body: &[u8],
//!     lookup_secret: impl Fn(&str) -> Option<String>,
//!     cache: &SigningKeyCache,
//! ) -> Result<ParsedAuth, SigV4Error> {
//!     let auth = strongroom_sigv4::parse(&parts.method, &parts.uri, &parts.headers)?;
//!     if auth.scope.service != "secretsmanager" {
//!         return Err(strongroom_sigv4::wrong_service("secretsmanager"));
//!     }
//!     let secret = lookup_secret(&auth.access_key_id)
//!         .ok_or_else(strongroom_sigv4::unrecognized_client)?;
//!     let key = cache.get_or_derive(&auth.access_key_id, &secret, &auth.scope);
//!     auth.verify(&parts.method, &parts.uri, &parts.headers, body, &key)?;
//!     auth.check_time(SystemTime::now(), Duration::from_secs(300))?;
//!     Ok(auth)
//! }
//! ```
//!
//! Every failure is a [`SigV4Error`] whose [`code`](SigV4Error::code), HTTP status and
//! `Display` (the message) are AWS's own. Nothing here panics on hostile input, and neither
//! the secret key, the derived key nor a session token ever appears in an error or `Debug`
//! output.
//!
//! # Errors
//!
//! [`parse`] checks in the order AWS's front end does (as recorded from real responses):
//! both forms at once; no token at all (no `Authorization`, or a scheme other than
//! `AWS4-…`, e.g. SigV2 or `Bearer`); `key=value` syntax; missing parameters (all named in
//! one message); the date format; `host` signed; the algorithm; the credential's shape; its
//! terminator and date. The caller then checks region and service ([`wrong_region`],
//! [`wrong_service`]) and the access key ([`unrecognized_client`]) before
//! [`ParsedAuth::verify`] and [`ParsedAuth::check_time`].
//!
//! # Canonicalisation choices (non-S3 rules)
//!
//! * Path: URI-encoded once more than sent (`%20` → `%2520`), after RFC 3986 dot-segment
//!   removal and empty-segment collapsing as botocore and `aws-sigv4` do; the path exactly as
//!   sent (re-encoded) is tried too, for signers that do not normalise (Go, JavaScript).
//! * Query: names and values percent-decoded, `+` read as a space (the form-encoding reading,
//!   as `aws-sigv4` does and as the server decodes parameters), then RFC 3986-encoded and sorted.
//! * Header values: leading/trailing spaces trimmed, runs of spaces collapsed, repeated
//!   headers joined with `,`.
//! * Payload: `x-amz-content-sha256` when sent (`UNSIGNED-PAYLOAD` accepted, a hash must
//!   match the body, `STREAMING-*` refused since chunk signatures are not checked); else the
//!   body's SHA-256; presigned requests also accept `UNSIGNED-PAYLOAD`.
//! * Presigned: `X-Amz-Signature` left out of the query; `X-Amz-Security-Token` in or out
//!   (some signers add it after signing); without `X-Amz-Expires` the request is held to the
//!   clock window like a header-signed one.

mod time;

pub use time::format_amz_date;

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_lc_rs::{constant_time, digest, hmac};
use http::{HeaderMap, Method, Uri};
use zeroize::{Zeroize, ZeroizeOnDrop};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// AWS's ceiling for presigned URLs: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;

/// A refused request. `Display` is AWS's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor `X-Amz-Algorithm` in the query.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// Malformed or incomplete authentication data.
    #[error("{0}")]
    IncompleteSignature(String),
    /// Wrong signature, scope, or outside the time window.
    #[error("{0}")]
    InvalidSignature(String),
    /// Unknown or inactive access key, or an invalid session token.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// A session token past its expiry.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

impl SigV4Error {
    /// The AWS error code of JSON-protocol services (`__type`), e.g. Secrets Manager.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::ExpiredToken => "ExpiredTokenException",
        }
    }

    /// The HTTP status of JSON-protocol services: 400 for all of these (Secrets Manager answers
    /// even `MissingAuthenticationTokenException` with 400; API Gateway's 403 is its own).
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The `<Code>` Query-protocol services (IAM, STS) use for the same failure.
    pub fn query_code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::InvalidSignature(_) => "SignatureDoesNotMatch",
            Self::UnrecognizedClient => "InvalidClientTokenId",
            Self::ExpiredToken => "ExpiredToken",
        }
    }

    /// The HTTP status Query-protocol services (IAM, STS) use: 403 but for
    /// `IncompleteSignature` (400).
    pub fn query_http_status(&self) -> u16 {
        match self {
            Self::IncompleteSignature(_) => 400,
            _ => 403,
        }
    }
}

/// Unknown or inactive access key, or an invalid session token.
pub fn unrecognized_client() -> SigV4Error {
    SigV4Error::UnrecognizedClient
}

/// The credential scope names a service other than the one addressed.
pub fn wrong_service(expected: &str) -> SigV4Error {
    SigV4Error::InvalidSignature(format!(
        "Credential should be scoped to correct service: '{expected}'. "
    ))
}

/// The credential scope names a region this server does not serve.
pub fn wrong_region(given: &str) -> SigV4Error {
    SigV4Error::InvalidSignature(format!(
        "Credential should be scoped to a valid region, not '{given}'. "
    ))
}

fn mismatch() -> SigV4Error {
    SigV4Error::InvalidSignature(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            .into(),
    )
}

/// AWS's mismatch message with what the server computed, as AWS appends it: the canonical
/// request shows a signer what differed (e.g. a URL presigned for POST fetched with GET).
/// Session tokens in it are redacted: error messages reach logs and audit records.
fn mismatch_explained(canonical_request: &[u8], string_to_sign: &str) -> SigV4Error {
    let SigV4Error::InvalidSignature(base) = mismatch() else {
        unreachable!("mismatch() is an InvalidSignature")
    };
    let creq = String::from_utf8_lossy(canonical_request);
    let redacted: Vec<String> = creq
        .split('\n')
        .map(|line| {
            if line.starts_with("x-amz-security-token:") {
                "x-amz-security-token:REDACTED".to_string()
            } else {
                line.split('&')
                    .map(|pair| {
                        if pair.starts_with("X-Amz-Security-Token=") {
                            "X-Amz-Security-Token=REDACTED"
                        } else {
                            pair
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            }
        })
        .collect();
    SigV4Error::InvalidSignature(format!(
        "{base}\n\nThe Canonical String for this request should have been\n'{}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n",
        redacted.join("\n")
    ))
}

fn incomplete(msg: String) -> SigV4Error {
    SigV4Error::IncompleteSignature(msg)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialScope {
    /// YYYYMMDD
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    fn string(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// A request's SigV4 authentication, parsed but not yet verified.
#[derive(Clone)]
pub struct ParsedAuth {
    pub access_key_id: String,
    pub scope: CredentialScope,
    /// The X-Amz-Date value, e.g. `20240102T030405Z` (from the `Date` header, converted,
    /// when the request has no `X-Amz-Date`).
    pub amz_date: String,
    /// Lowercase header names, as listed by the signer.
    pub signed_headers: Vec<String>,
    /// Hex, as sent.
    pub signature: String,
    /// `X-Amz-Security-Token`, from the header (header form) or the query (presigned form).
    pub session_token: Option<String>,
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned request (when given; 1..=604800).
    pub expires_secs: Option<u64>,
}

impl fmt::Debug for ParsedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedAuth")
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope)
            .field("amz_date", &self.amz_date)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("presigned", &self.presigned)
            .field("expires_secs", &self.expires_secs)
            .finish()
    }
}

/// Parse the `Authorization` header or the presigned query parameters, in the order AWS
/// checks them. Never panics.
pub fn parse(_method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<ParsedAuth, SigV4Error> {
    let query = query_pairs(uri.query().unwrap_or(""));
    let presigned = query.iter().any(|(k, _)| k == b"X-Amz-Algorithm");
    match headers.get(http::header::AUTHORIZATION) {
        Some(_) if presigned => Err(SigV4Error::InvalidSignature(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
                .into(),
        )),
        Some(value) => parse_header(&String::from_utf8_lossy(value.as_bytes()), headers),
        None if presigned => parse_query(&query),
        None => Err(SigV4Error::MissingAuthenticationToken),
    }
}

fn parse_header(value: &str, headers: &HeaderMap) -> Result<ParsedAuth, SigV4Error> {
    // AWS treats any scheme but SigV4's (SigV2's "AWS ", "Bearer ", ...) as no token at all.
    if !value.trim_start().starts_with("AWS4-") {
        return Err(SigV4Error::MissingAuthenticationToken);
    }
    let mut tokens = value.split([',', ' ']).filter(|t| !t.is_empty());
    let algorithm = tokens.next().unwrap_or("");
    let (mut credential, mut signed_headers, mut signature) = ("", "", "");
    for token in tokens {
        let Some((k, v)) = token.split_once('=') else {
            return Err(incomplete(format!(
                "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        match k {
            "Credential" => credential = v,
            "SignedHeaders" => signed_headers = v,
            "Signature" => signature = v,
            _ => {}
        }
    }
    let x_amz_date = header_str(headers, "x-amz-date");
    let date = header_str(headers, "date");
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if v.is_empty() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if x_amz_date.is_none() && date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        return Err(incomplete(format!("{missing}Authorization={value}")));
    }
    let amz_date = match (x_amz_date, date) {
        (Some(d), _) => checked_date(&d)?,
        // The `Date` header (RFC 1123) stands in, converted to the basic format.
        (None, d) => {
            let d = d.unwrap_or_default();
            match time::parse_http_date(&d) {
                Some(secs) => time::format_amz_date(secs),
                None => checked_date(&d)?,
            }
        }
    };
    finish(
        algorithm,
        credential,
        signed_headers,
        signature,
        amz_date,
        header_str(headers, "x-amz-security-token"),
        None,
    )
}

fn parse_query(query: &[(Vec<u8>, Vec<u8>)]) -> Result<ParsedAuth, SigV4Error> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .filter(|v| !v.is_empty())
    };
    let mut missing = String::new();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if get(name).is_none() {
            missing.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    if !missing.is_empty() {
        return Err(incomplete(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    }
    let amz_date = checked_date(&get("X-Amz-Date").unwrap_or_default())?;
    let expires = match get("X-Amz-Expires") {
        None => None,
        Some(e) => Some(parse_expires(&e)?),
    };
    finish(
        &get("X-Amz-Algorithm").unwrap_or_default(),
        &get("X-Amz-Credential").unwrap_or_default(),
        &get("X-Amz-SignedHeaders").unwrap_or_default(),
        &get("X-Amz-Signature").unwrap_or_default(),
        amz_date,
        get("X-Amz-Security-Token"),
        Some(expires),
    )
}

/// S3's messages; AWS's JSON services document none of their own.
fn parse_expires(e: &str) -> Result<u64, SigV4Error> {
    match e.parse::<i64>() {
        Err(_) => Err(incomplete("X-Amz-Expires should be a number".into())),
        Ok(n) if n < 0 => Err(incomplete("X-Amz-Expires must be non-negative".into())),
        Ok(0) => Err(incomplete("X-Amz-Expires must be at least 1 second".into())),
        Ok(n) if n as u64 > MAX_PRESIGNED_EXPIRES_SECS => Err(incomplete(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
        ))),
        Ok(n) => Ok(n as u64),
    }
}

/// A header's value (lossily decoded), `None` when absent or empty.
fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|v| !v.is_empty())
}

fn checked_date(d: &str) -> Result<String, SigV4Error> {
    match time::parse_amz_date(d) {
        Some(_) => Ok(d.to_string()),
        None => Err(incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{d}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))),
    }
}

/// Checks shared by both forms, in AWS's order: host signed, algorithm, credential shape,
/// credential scope (terminator, date; region and service are the caller's).
fn finish(
    algorithm: &str,
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    session_token: Option<String>,
    presigned: Option<Option<u64>>,
) -> Result<ParsedAuth, SigV4Error> {
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). "
        )));
    }
    let parts: Vec<&str> = credential.trim_end_matches('/').split('/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    let auth = ParsedAuth {
        access_key_id: key.to_string(),
        scope: CredentialScope {
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        },
        amz_date,
        signed_headers,
        signature: signature.to_string(),
        session_token,
        presigned: presigned.is_some(),
        expires_secs: presigned.flatten(),
    };
    let mut errors = String::new();
    if *terminator != TERMINATOR {
        errors.push_str(&format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
        ));
    }
    if let Err(SigV4Error::InvalidSignature(e)) = auth.check_scope_date() {
        errors.push_str(&e);
    }
    if !errors.is_empty() {
        return Err(SigV4Error::InvalidSignature(errors.trim_end().to_string()));
    }
    Ok(auth)
}

impl ParsedAuth {
    fn check_scope_date(&self) -> Result<(), SigV4Error> {
        let day = self.amz_date.get(..8).unwrap_or("");
        if self.scope.date == day {
            return Ok(());
        }
        Err(SigV4Error::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{}'.",
            self.scope.date, self.amz_date
        )))
    }

    /// Clock check. Header-signed requests (and presigned ones without `X-Amz-Expires`) must
    /// be dated within ±`max_skew` of `now`; presigned ones must not be used after
    /// X-Amz-Date + X-Amz-Expires (1..=604800 s) nor before X-Amz-Date − `max_skew`. Also
    /// checks the scope date is X-Amz-Date's day.
    pub fn check_time(&self, now: SystemTime, max_skew: Duration) -> Result<(), SigV4Error> {
        self.check_scope_date()?;
        let Some(signed) = time::parse_amz_date(&self.amz_date) else {
            return Err(checked_date(&self.amz_date).err().unwrap_or_else(mismatch));
        };
        let now = match now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
            Err(_) => 0,
        };
        // Ten years is beyond any sensible window and keeps the arithmetic far from overflow.
        let skew = max_skew.as_secs().min(315_360_000) as i64;
        if signed > now.saturating_add(skew) {
            return Err(SigV4Error::InvalidSignature(format!(
                "Signature not yet current: {} is still later than {} ({} + {}.)",
                self.amz_date,
                time::format_amz_date(now.saturating_add(skew)),
                time::format_amz_date(now),
                window(skew)
            )));
        }
        let allowed = match (self.presigned, self.expires_secs) {
            (true, Some(e)) if (1..=MAX_PRESIGNED_EXPIRES_SECS).contains(&e) => e as i64,
            (true, Some(e)) => {
                return Err(parse_expires(&e.to_string()).err().unwrap_or_else(mismatch));
            }
            _ => skew,
        };
        // A presigned URL is good up to and including amz_date + expires.
        let earliest = now.saturating_sub(allowed);
        if signed < earliest {
            return Err(SigV4Error::InvalidSignature(format!(
                "Signature expired: {} is now earlier than {} ({} - {}.)",
                self.amz_date,
                time::format_amz_date(earliest),
                time::format_amz_date(now),
                window(allowed)
            )));
        }
        Ok(())
    }

    /// Recompute the signature over the canonical request and compare in constant time.
    /// `body` is the full request body.
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        key: &SigningKey,
    ) -> Result<(), SigV4Error> {
        let provided = hex::decode(&self.signature).map_err(|_| mismatch())?;
        let scope = self.scope.string();
        let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, &key.0);
        // Every candidate is computed, so timing does not reveal which one matched.
        let mut ok = false;
        let mut first = None;
        for creq in self.canonical_requests(method, uri, headers, body)? {
            let string_to_sign = format!(
                "{ALGORITHM}\n{}\n{scope}\n{}",
                self.amz_date,
                hex::encode(digest::digest(&digest::SHA256, &creq))
            );
            let expected = hmac::sign(&hmac_key, string_to_sign.as_bytes());
            ok |= constant_time::verify_slices_are_equal(expected.as_ref(), &provided).is_ok();
            first.get_or_insert((creq, string_to_sign));
        }
        match (ok, first) {
            (true, _) => Ok(()),
            (false, None) => Err(mismatch()),
            (false, Some((creq, string_to_sign))) => {
                Err(mismatch_explained(&creq, &string_to_sign))
            }
        }
    }

    /// The canonical requests the signer may have built: one per accepted payload hash and
    /// canonical path (and, for presigned requests with a session token, whether the token was
    /// signed): at most 8, usually 1.
    fn canonical_requests(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<Vec<u8>>, SigV4Error> {
        let body_hash = hex::encode(digest::digest(&digest::SHA256, body));
        let query = query_pairs(uri.query().unwrap_or(""));
        let declared = match header_str(headers, "x-amz-content-sha256") {
            Some(h) => Some(h),
            None if self.presigned => query
                .iter()
                .find(|(k, _)| k == b"X-Amz-Content-Sha256")
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
            None => None,
        };
        let payload_hashes: Vec<String> = match declared {
            Some(h) if h == UNSIGNED_PAYLOAD => vec![h],
            Some(h) if h.starts_with("STREAMING-") => {
                return Err(SigV4Error::InvalidSignature(format!(
                    "Unsupported 'x-amz-content-sha256' value: '{h}'. Chunked (streaming) payloads are not supported by this service."
                )));
            }
            Some(h) if h.eq_ignore_ascii_case(&body_hash) => vec![h],
            Some(_) => {
                return Err(SigV4Error::InvalidSignature(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
                ));
            }
            None if self.presigned => vec![body_hash, UNSIGNED_PAYLOAD.into()],
            None => vec![body_hash],
        };
        let mut queries = vec![self.canonical_query(query.clone(), false)];
        if self.presigned && self.session_token.is_some() {
            // Signers in "session token after" mode add the token once the URL is signed.
            queries.push(self.canonical_query(query, true));
        }
        let canonical_headers = self.canonical_headers(uri, headers);
        let signed_headers = self.signed_headers.join(";");
        let mut out = Vec::new();
        for path in canonical_uris(uri.path()) {
            for canonical_query in &queries {
                for payload_hash in &payload_hashes {
                    let mut creq = Vec::with_capacity(256 + canonical_headers.len());
                    for part in [
                        method.as_str().as_bytes(),
                        path.as_bytes(),
                        canonical_query.as_bytes(),
                        &canonical_headers,
                        signed_headers.as_bytes(),
                        payload_hash.as_bytes(),
                    ] {
                        creq.extend_from_slice(part);
                        creq.push(b'\n');
                    }
                    creq.pop();
                    out.push(creq);
                }
            }
        }
        Ok(out)
    }

    /// Sorted `name=value` pairs, RFC 3986-encoded; presigned requests leave out the
    /// signature (and, if asked, the session token).
    fn canonical_query(&self, mut query: Vec<(Vec<u8>, Vec<u8>)>, without_token: bool) -> String {
        if self.presigned {
            query.retain(|(k, _)| {
                k != b"X-Amz-Signature" && !(without_token && k == b"X-Amz-Security-Token")
            });
        }
        let mut encoded: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        encoded.sort();
        let pairs: Vec<String> = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("&")
    }

    /// `name:value\n` for each signed header, values trimmed and joined with `,`, followed by
    /// the blank line the canonical request has there.
    fn canonical_headers(&self, uri: &Uri, headers: &HeaderMap) -> Vec<u8> {
        let mut out = Vec::new();
        for name in &self.signed_headers {
            let mut values: Vec<Vec<u8>> = match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) => headers
                    .get_all(n)
                    .iter()
                    .map(|v| trim_all(v.as_bytes()))
                    .collect(),
                Err(_) => Vec::new(),
            };
            if values.is_empty() && name == "host" {
                // HTTP/2 carries the host in :authority.
                values.extend(uri.authority().map(|a| a.as_str().as_bytes().to_vec()));
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(&values.join(&b','));
            out.push(b'\n');
        }
        out
    }
}

fn window(secs: i64) -> String {
    if secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} sec")
    }
}

/// Split a raw query string into percent-decoded pairs, `+` read as a space.
fn query_pairs(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let decode = |s: &str| -> Vec<u8> {
        let plus_as_space: Vec<u8> = s
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
        // Invalid UTF-8 reads as U+FFFD, as in `aws-sigv4` and the server's own decoding.
        String::from_utf8_lossy(&bytes).into_owned().into_bytes()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// AWS's URI encoding: everything but unreserved characters as `%XX` (uppercase hex);
/// `/` is kept when encoding a path.
fn uri_encode(s: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The canonical URI for every service but S3: the path as sent, encoded once more
/// (`%20` → `%2520`). First normalised as botocore and `aws-sigv4` do (dot segments removed,
/// empty segments collapsed); then, if different, exactly as sent.
fn canonical_uris(raw_path: &str) -> Vec<String> {
    let raw = if raw_path.starts_with('/') {
        raw_path.to_string()
    } else {
        format!("/{raw_path}")
    };
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&segments.join("/"));
    let ends_with_slash = ["/", "/.", "/.."].iter().any(|s| raw.ends_with(s));
    if ends_with_slash && !normalized.ends_with('/') {
        normalized.push('/');
    }
    let mut out = vec![uri_encode(normalized.as_bytes(), false)];
    let as_sent = uri_encode(raw.as_bytes(), false);
    if as_sent != out[0] {
        out.push(as_sent);
    }
    out
}

/// Trim leading/trailing spaces (and tabs) and collapse runs of spaces to one.
fn trim_all(v: &[u8]) -> Vec<u8> {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ws(b)).map_or(start, |i| i + 1);
    let mut out = Vec::with_capacity(end.saturating_sub(start));
    for &b in v.get(start..end).unwrap_or(&[]) {
        if b == b' ' && out.last() == Some(&b' ') {
            continue;
        }
        out.push(b);
    }
    out
}

/// The derived signing key (kSigning). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey([u8; 32]);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// HMAC chain: "AWS4"+secret → date → region → service → "aws4_request".
pub fn derive_signing_key(secret_access_key: &str, scope: &CredentialScope) -> SigningKey {
    let seed = zeroize::Zeroizing::new(format!("AWS4{secret_access_key}").into_bytes());
    let mut k = hmac_sha256(&seed, scope.date.as_bytes());
    for part in [
        scope.region.as_bytes(),
        scope.service.as_bytes(),
        TERMINATOR.as_bytes(),
    ] {
        let next = hmac_sha256(&k, part);
        k.zeroize();
        k = next;
    }
    let key = SigningKey(k);
    k.zeroize();
    key
}

/// Derived keys by (access key, scope), so the four-HMAC derivation runs once per key per
/// day rather than per request. Each entry remembers a digest of the secret it came from,
/// so a rotated secret never reuses a stale key. Bounded: cleared when full.
pub struct SigningKeyCache {
    entries: RwLock<HashMap<CacheKey, CacheEntry>>,
}

/// (access key id, credential scope)
type CacheKey = (String, CredentialScope);
/// (SHA-256 of the secret key the entry was derived from, derived key)
type CacheEntry = ([u8; 32], SigningKey);

const CACHE_LIMIT: usize = 10_000;

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.read().map(|m| m.len()).unwrap_or(0);
        write!(f, "SigningKeyCache({n} entries)")
    }
}

impl SigningKeyCache {
    pub fn new() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get_or_derive(
        &self,
        access_key_id: &str,
        secret_access_key: &str,
        scope: &CredentialScope,
    ) -> SigningKey {
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(
            digest::digest(&digest::SHA256, secret_access_key.as_bytes()).as_ref(),
        );
        let key = (access_key_id.to_string(), scope.clone());
        if let Ok(map) = self.entries.read()
            && let Some((fp, k)) = map.get(&key)
            && constant_time::verify_slices_are_equal(fp, &fingerprint).is_ok()
        {
            return k.clone();
        }
        let derived = derive_signing_key(secret_access_key, scope);
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert(key, (fingerprint, derived.clone()));
        }
        derived
    }
}

#[cfg(test)]
mod tests;
