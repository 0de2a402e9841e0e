//! Server-side AWS Signature Version 4 verification, header (`Authorization`) and presigned
//! (query string) forms.
//!
//! Hand-written on purpose: no maintained crate verifies SigV4 on the server side.
//! `aws-sigv4` is a client signer whose canonical-request builder is private;
//! `scratchstack-aws-signature` never checks `X-Amz-Expires`, forces its own principal type
//! and pulls old dependency versions. Verification is small, and AWS documents it exactly
//! ("Create a canonical request" in the IAM user guide); tests check it against AWS's own
//! signer (`aws-sigv4`), botocore and the AWS CLI.
//!
//! Use: [`parse`] the request, look up the secret key for [`ParsedAuth::access_key_id`],
//! derive (or fetch from a [`SigningKeyCache`]) the signing key, [`ParsedAuth::verify`] the
//! signature, then [`ParsedAuth::check_time`]. Every failure is a [`SigV4Error`] carrying
//! AWS's error code and message. Nothing here panics on hostile input, and neither the
//! secret key nor the derived key ever appears in an error or `Debug` output.

mod time;

pub use time::format_amz_date;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_lc_rs::{constant_time, digest, hmac};
use http::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode_str;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// AWS's ceiling for presigned URLs: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

impl SigV4Error {
    /// The AWS error code (JSON `__type`, Query `<Code>`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::ExpiredToken => "ExpiredTokenException",
        }
    }

    /// The HTTP status AWS's JSON services answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingAuthenticationToken => 403,
            _ => 400,
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
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// A request's SigV4 authentication, parsed but not yet verified.
#[derive(Debug, Clone)]
pub struct ParsedAuth {
    pub access_key_id: String,
    pub scope: CredentialScope,
    /// The X-Amz-Date value, e.g. `20240102T030405Z`.
    pub amz_date: String,
    /// Lowercase header names, as listed by the signer.
    pub signed_headers: Vec<String>,
    /// Hex, as sent.
    pub signature: String,
    pub session_token: Option<String>,
    pub presigned: bool,
    pub expires_secs: Option<u64>,
}

/// Parse the `Authorization` header or, failing that, the presigned query parameters.
pub fn parse(_method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<ParsedAuth, SigV4Error> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| {
            SigV4Error::IncompleteSignature("Authorization header is not valid ASCII.".into())
        })?;
        return parse_header(value, headers);
    }
    let query = query_pairs(uri.query().unwrap_or(""));
    if query.iter().any(|(k, _)| k == "X-Amz-Algorithm") {
        return parse_query(&query);
    }
    Err(SigV4Error::MissingAuthenticationToken)
}

fn parse_header(value: &str, headers: &HeaderMap) -> Result<ParsedAuth, SigV4Error> {
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok());
    let mut missing = String::new();
    for (name, present) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !present {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if amz_date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "{missing}Authorization={value}"
        )));
    };
    let (access_key_id, scope) = parse_credential(credential)?;
    let session_token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    finish(ParsedAuth {
        access_key_id,
        scope,
        amz_date: amz_date.to_string(),
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: signature.to_string(),
        session_token,
        presigned: false,
        expires_secs: None,
    })
}

fn parse_query(query: &[(String, String)]) -> Result<ParsedAuth, SigV4Error> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let algorithm = get("X-Amz-Algorithm").unwrap_or("");
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let required = [
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|n| get(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(SigV4Error::IncompleteSignature(format!(
            "AWS query-string parameters must include {}. Re-examine the query-string parameters.",
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let (access_key_id, scope) = parse_credential(get("X-Amz-Credential").unwrap_or(""))?;
    let expires: u64 = get("X-Amz-Expires")
        .and_then(|e| e.parse().ok())
        .filter(|e| (1..=MAX_PRESIGNED_EXPIRES_SECS).contains(e))
        .ok_or_else(|| {
            SigV4Error::IncompleteSignature(format!(
                "X-Amz-Expires must be an integer from 1 to {MAX_PRESIGNED_EXPIRES_SECS} seconds."
            ))
        })?;
    finish(ParsedAuth {
        access_key_id,
        scope,
        amz_date: get("X-Amz-Date").unwrap_or("").to_string(),
        signed_headers: get("X-Amz-SignedHeaders")
            .unwrap_or("")
            .split(';')
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: get("X-Amz-Signature").unwrap_or("").to_string(),
        session_token: get("X-Amz-Security-Token").map(str::to_owned),
        presigned: true,
        expires_secs: Some(expires),
    })
}

fn parse_credential(credential: &str) -> Result<(String, CredentialScope), SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if *terminator != "aws4_request" {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if key.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || service.is_empty()
    {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential is malformed: '{credential}'."
        )));
    }
    Ok((
        key.to_string(),
        CredentialScope {
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        },
    ))
}

/// Checks shared by both forms.
fn finish(auth: ParsedAuth) -> Result<ParsedAuth, SigV4Error> {
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if time::parse_amz_date(&auth.amz_date).is_none() {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', got '{}'.",
            auth.amz_date
        )));
    }
    if !auth.amz_date.starts_with(&auth.scope.date) {
        return Err(SigV4Error::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            auth.scope.date,
            auth.amz_date.get(..8).unwrap_or(""),
            auth.amz_date
        )));
    }
    Ok(auth)
}

impl ParsedAuth {
    /// Header-signed requests must be dated within ±`max_skew` of `now`; presigned ones
    /// must not be used after X-Amz-Date + X-Amz-Expires (nor before X-Amz-Date − skew).
    pub fn check_time(&self, now: SystemTime, max_skew: Duration) -> Result<(), SigV4Error> {
        let signed = time::parse_amz_date(&self.amz_date).ok_or_else(mismatch)?;
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let skew = max_skew.as_secs() as i64;
        let minutes = max_skew.as_secs() / 60;
        if signed > now + skew {
            return Err(SigV4Error::InvalidSignature(format!(
                "Signature not yet current: {} is still later than {} ({} + {minutes} min.)",
                self.amz_date,
                time::format_amz_date(now + skew),
                time::format_amz_date(now)
            )));
        }
        match self.expires_secs {
            Some(expires) => {
                let until = signed + expires as i64;
                if now > until {
                    return Err(SigV4Error::InvalidSignature(format!(
                        "Signature expired: {} is now earlier than {} ({} + {expires} sec.)",
                        time::format_amz_date(until),
                        time::format_amz_date(now),
                        self.amz_date
                    )));
                }
            }
            None => {
                if signed < now - skew {
                    return Err(SigV4Error::InvalidSignature(format!(
                        "Signature expired: {} is now earlier than {} ({} - {minutes} min.)",
                        self.amz_date,
                        time::format_amz_date(now - skew),
                        time::format_amz_date(now)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Recompute the signature over the canonical request and compare in constant time.
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        key: &SigningKey,
    ) -> Result<(), SigV4Error> {
        let provided = hex::decode(&self.signature).map_err(|_| mismatch())?;
        let body_hash = hex::encode(digest::digest(&digest::SHA256, body));
        let declared = headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok());
        let candidates: Vec<&str> = match declared {
            Some(UNSIGNED_PAYLOAD) => vec![UNSIGNED_PAYLOAD],
            Some(h) if h.eq_ignore_ascii_case(&body_hash) => vec![h],
            Some(h) if h.starts_with("STREAMING-") => vec![h],
            Some(_) => {
                return Err(SigV4Error::InvalidSignature(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
                ));
            }
            None if self.presigned => vec![&body_hash, UNSIGNED_PAYLOAD],
            None => vec![&body_hash],
        };
        let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, &key.0);
        for payload_hash in candidates {
            let canonical = self.canonical_request(method, uri, headers, payload_hash);
            let string_to_sign = format!(
                "{ALGORITHM}\n{}\n{}\n{}",
                self.amz_date,
                self.scope.string(),
                hex::encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
            );
            let expected = hmac::sign(&hmac_key, string_to_sign.as_bytes());
            if constant_time::verify_slices_are_equal(expected.as_ref(), &provided).is_ok() {
                return Ok(());
            }
        }
        Err(mismatch())
    }

    fn canonical_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        payload_hash: &str,
    ) -> String {
        let mut query = query_pairs(uri.query().unwrap_or(""));
        if self.presigned {
            query.retain(|(k, _)| k != "X-Amz-Signature");
        }
        let mut encoded: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        encoded.sort();
        let canonical_query = encoded
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut canonical_headers = String::new();
        for name in &self.signed_headers {
            let mut values: Vec<String> = headers
                .get_all(name.as_str())
                .iter()
                .map(|v| collapse_whitespace(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            if values.is_empty() && name == "host" {
                // HTTP/2 carries the host in :authority.
                values.extend(uri.authority().map(|a| a.as_str().to_string()));
            }
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(&values.join(","));
            canonical_headers.push('\n');
        }
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            method.as_str(),
            canonical_uri(uri.path()),
            canonical_query,
            canonical_headers,
            self.signed_headers.join(";"),
            payload_hash
        )
    }
}

/// Split a raw query string into percent-decoded pairs (`+` stays a literal plus, as in
/// RFC 3986; AWS signers encode spaces as `%20`).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode_str(k).decode_utf8_lossy().into_owned(),
                percent_decode_str(v).decode_utf8_lossy().into_owned(),
            )
        })
        .collect()
}

/// AWS's URI encoding: everything but unreserved characters as `%XX` (uppercase hex);
/// `/` is kept when encoding a path.
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
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

/// The canonical URI for every service but S3: the path as sent, normalised (no `.`/`..`
/// or empty segments), then URI-encoded once more — so a `%20` sent becomes `%2520`, as
/// AWS's signers do.
fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw_path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        return "/".into();
    }
    let mut path = String::new();
    for s in &segments {
        path.push('/');
        path.push_str(&uri_encode(s, true));
    }
    if raw_path.ends_with('/') {
        path.push('/');
    }
    path
}

fn collapse_whitespace(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The derived signing key (kSigning). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    let mut seed = zeroize::Zeroizing::new(format!("AWS4{secret_access_key}").into_bytes());
    let mut k = hmac_sha256(&seed, scope.date.as_bytes());
    seed.zeroize();
    for part in [
        scope.region.as_bytes(),
        scope.service.as_bytes(),
        b"aws4_request",
    ] {
        let next = hmac_sha256(&k, part);
        k.zeroize();
        k = next;
    }
    SigningKey(k)
}

/// Derived keys by (access key, scope), so the four-HMAC derivation runs once per key per
/// day rather than per request. Each entry remembers a digest of the secret it came from,
/// so a rotated secret never reuses a stale key.
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
