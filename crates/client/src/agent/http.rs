//! The agent's HTTP front, as AWS Secrets Manager Agent answers it (and the Lambda Parameters
//! and Secrets extension on the same port):
//!
//! - `GET /ping` → `healthy` (no token needed);
//! - `GET /secretsmanager/get?secretId=&versionId=&versionStage=&refreshNow=`;
//! - `GET {path_prefix}<secretId>?versionId=&versionStage=&refreshNow=` (`/v1/` by default);
//! - `GET /systemsmanager/parameters/get?name=&version=&label=&withDecryption=`.
//!
//! Checks in AWS's agent's order, with its status codes and bodies: too many connections 429
//! `Connection limit exceeded` (two more allowed for /ping); `X-Forwarded-For` 400
//! `Forwarded`; a missing or wrong SSRF token 403 `Bad Token` (compared in constant time);
//! not GET 405 `Not allowed`; unknown path 404 `Not found`; bad parameters 400 with its
//! messages; the server's errors with the server's status and `{"__type","message"}`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_secretsmanager::Client as SecretsManager;
use aws_sdk_ssm::Client as Ssm;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use super::cache::{Body, Cache, Key, Lookup};
use super::config::Config;
use super::upstream::{self, Failure};

/// Per connection, as AWS's agent: a connection is served at most this long.
const MAX_CONNECTION_TIME: Duration = Duration::from_secs(61);
/// Request head buffer limit (AWS's agent's 321 KB).
const MAX_BUF_BYTES: usize = (65 + 256) * 1024;
/// A client must send its request head within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Agent {
    pub config: Config,
    pub cache: Arc<Cache>,
    /// SHA-256 of the SSRF token: presented tokens are hashed and compared in constant time,
    /// so neither the token's bytes nor its length show in the timing.
    token_digest: Zeroizing<[u8; 32]>,
    headers: Vec<HeaderName>,
    sm: SecretsManager,
    ssm: Ssm,
    connections: AtomicUsize,
    last_stale_warning: AtomicU64,
}

impl Agent {
    pub fn new(
        config: Config,
        token: &str,
        cache: Arc<Cache>,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, String> {
        let headers = config
            .ssrf_headers
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes()).map_err(|_| format!("bad header name {h}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            token_digest: Zeroizing::new(digest(token.as_bytes())),
            headers,
            cache,
            sm: SecretsManager::new(sdk),
            ssm: Ssm::new(sdk),
            connections: AtomicUsize::new(0),
            last_stale_warning: AtomicU64::new(0),
            config,
        })
    }

    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let mut ok = false;
        for name in &self.headers {
            for v in headers.get_all(name) {
                // Every candidate is compared: no early exit on the first match either.
                ok |= bool::from(digest(v.as_bytes()).ct_eq(&*self.token_digest));
            }
        }
        ok
    }

    pub async fn handle(&self, req: &Request<Incoming>) -> (StatusCode, Bytes) {
        let path = req.uri().path();
        let open = self.connections.load(Ordering::Relaxed);
        let limit = if path == "/ping" {
            self.config.max_conn + 2
        } else {
            self.config.max_conn
        };
        if open > limit {
            return text(StatusCode::TOO_MANY_REQUESTS, "Connection limit exceeded");
        }
        if path != "/ping" {
            if req.headers().contains_key("x-forwarded-for") {
                tracing::warn!("rejecting a request with an X-Forwarded-For header");
                return text(StatusCode::BAD_REQUEST, "Forwarded");
            }
            if !self.token_ok(req.headers()) {
                tracing::warn!("rejecting a request with a missing or incorrect SSRF token");
                return text(StatusCode::FORBIDDEN, "Bad Token");
            }
        }
        if req.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "Not allowed");
        }
        let query = req.uri().query().unwrap_or("");
        let outcome = match path {
            "/ping" => return text(StatusCode::OK, "healthy"),
            "/secretsmanager/get" => match secret_query(None, query) {
                Ok((key, refresh)) => self.fetch(key, refresh).await,
                Err(e) => Err(e),
            },
            "/systemsmanager/parameters/get" => match parameter_query(query) {
                Ok(key) => self.fetch(key, false).await,
                Err(e) => Err(e),
            },
            p if p.starts_with(self.config.path_prefix.as_str()) => {
                let raw = &p[self.config.path_prefix.len()..];
                let id = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
                match secret_query(Some(&id), query) {
                    Ok((key, refresh)) => self.fetch(key, refresh).await,
                    Err(e) => Err(e),
                }
            }
            _ => return text(StatusCode::NOT_FOUND, "Not found"),
        };
        match outcome {
            Ok(body) => (StatusCode::OK, body.bytes()),
            Err(f) => (
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Bytes::from(f.body),
            ),
        }
    }

    /// From the cache, or the server; a value past its TTL is served (bounded, logged) when the
    /// server cannot be reached, as AWS's agent does with `ignore_transient_errors`.
    async fn fetch(&self, key: Key, refresh: bool) -> Result<Body, Failure> {
        let mut expired = None;
        if !refresh {
            match self.cache.get(&key) {
                Lookup::Fresh(body) => return Ok(body),
                Lookup::Expired(e) => expired = Some(e),
                Lookup::Miss => {}
            }
        }
        let generation = self.cache.generation();
        let got = match &key {
            Key::Secret {
                id,
                version_id,
                version_stage,
            } => {
                upstream::secret(
                    &self.sm,
                    id,
                    version_id.as_deref(),
                    version_stage.as_deref(),
                )
                .await
            }
            Key::Parameter {
                name,
                selector,
                decrypt,
            } => upstream::parameter(&self.ssm, name, selector.as_deref(), *decrypt).await,
        };
        match got {
            Ok(f) => {
                self.cache
                    .insert(key, f.body.clone(), f.arn, f.name, generation);
                Ok(f.body)
            }
            Err(e) => {
                if let Some(entry) = expired
                    && e.transient
                    && self.config.ignore_transient_errors
                {
                    let overdue = entry.overdue(self.cache.ttl());
                    if overdue < self.config.max_stale {
                        self.warn_stale(&key, overdue, &e);
                        return Ok(entry.body.clone());
                    }
                    tracing::error!(
                        ?key,
                        overdue_secs = overdue.as_secs(),
                        "the server cannot be reached and the cached value is past max_stale_seconds: not served"
                    );
                }
                Err(e)
            }
        }
    }

    /// Logged, at most every 5 seconds (an outage must not flood the log).
    fn warn_stale(&self, key: &Key, overdue: Duration, e: &Failure) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.last_stale_warning.load(Ordering::Relaxed);
        if now >= last + 5
            && self
                .last_stale_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                ?key,
                overdue_secs = overdue.as_secs(),
                status = e.status,
                "serving a cached value past its TTL: the server cannot be reached"
            );
        }
    }
}

fn digest(b: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn text(status: StatusCode, body: &'static str) -> (StatusCode, Bytes) {
    (status, Bytes::from_static(body.as_bytes()))
}

fn bad(message: String) -> Failure {
    Failure {
        status: 400,
        body: message,
        transient: false,
    }
}

fn refresh_value(v: &str) -> Result<bool, Failure> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad("invalid refreshNow value".into())),
    }
}

/// AWS's agent's query rules: unknown parameters refused, `secretId` required (query form).
fn secret_query(path_id: Option<&str>, query: &str) -> Result<(Key, bool), Failure> {
    let mut id = path_id.map(str::to_string).unwrap_or_default();
    let (mut version_id, mut version_stage, mut refresh) = (None, None, false);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "secretId" if path_id.is_none() => id = v.into_owned(),
            "versionId" => version_id = Some(v.into_owned()),
            "versionStage" => version_stage = Some(v.into_owned()),
            "refreshNow" => refresh = refresh_value(&v)?,
            other => return Err(bad(format!("unknown parameter: {other}"))),
        }
    }
    if id.is_empty() {
        return Err(bad(if path_id.is_some() {
            "missing secret ID".into()
        } else {
            "missing parameter secretId".into()
        }));
    }
    Ok((
        Key::Secret {
            id,
            version_id,
            version_stage,
        },
        refresh,
    ))
}

/// The Lambda extension's parameter query.
fn parameter_query(query: &str) -> Result<Key, Failure> {
    let (mut name, mut version, mut label, mut decrypt) = (String::new(), None, None, false);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "name" => name = v.into_owned(),
            "version" => version = Some(v.into_owned()),
            "label" => label = Some(v.into_owned()),
            "withDecryption" => {
                decrypt = match v.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad("invalid withDecryption value".into())),
                }
            }
            other => return Err(bad(format!("unknown parameter: {other}"))),
        }
    }
    if name.is_empty() {
        return Err(bad("missing parameter name".into()));
    }
    if version.is_some() && label.is_some() {
        return Err(bad("version and label are mutually exclusive".into()));
    }
    Ok(Key::Parameter {
        name,
        selector: version.or(label),
        decrypt,
    })
}

/// Decrements the open-connection count when a connection ends.
struct Counted(Arc<Agent>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accept and serve connections until `shutdown` resolves.
pub async fn serve(
    agent: Arc<Agent>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "could not accept a connection");
                    // Out of descriptors and the like: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        // As AWS's agent: no network hops (a reply cannot leave the host), no Nagle delay.
        let _ = stream.set_ttl(1);
        let _ = stream.set_nodelay(true);
        agent.connections.fetch_add(1, Ordering::Relaxed);
        let counted = Counted(agent.clone());
        tokio::spawn(async move {
            let agent = counted.0.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let agent = agent.clone();
                async move {
                    let (status, body) = agent.handle(&req).await;
                    let mut res = Response::new(Full::new(body));
                    *res.status_mut() = status;
                    Ok::<_, Infallible>(res)
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .max_buf_size(MAX_BUF_BYTES)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = tokio::time::sleep(MAX_CONNECTION_TIME) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(counted);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_follow_aws_agents_rules() {
        let (k, refresh) = secret_query(None, "secretId=a%2Fb&refreshNow=TRUE").unwrap();
        assert!(refresh);
        assert_eq!(
            k,
            Key::Secret {
                id: "a/b".into(),
                version_id: None,
                version_stage: None
            }
        );
        let e = |r: Result<(Key, bool), Failure>| r.err().map(|f| (f.status, f.body));
        assert_eq!(
            e(secret_query(None, "versionStage=AWSCURRENT")),
            Some((400, "missing parameter secretId".into()))
        );
        assert_eq!(
            e(secret_query(None, "secretId=a&abc=1")),
            Some((400, "unknown parameter: abc".into()))
        );
        assert_eq!(
            e(secret_query(None, "secretId=a&refreshNow=123")),
            Some((400, "invalid refreshNow value".into()))
        );
        assert_eq!(
            e(secret_query(Some(""), "")),
            Some((400, "missing secret ID".into()))
        );
        // The path form takes no secretId parameter.
        assert!(secret_query(Some("a"), "secretId=b").is_err());
        assert_eq!(
            parameter_query("name=%2Fa%2Fb&version=3&withDecryption=true").unwrap(),
            Key::Parameter {
                name: "/a/b".into(),
                selector: Some("3".into()),
                decrypt: true
            }
        );
        assert!(parameter_query("name=a&version=1&label=x").is_err());
        assert!(parameter_query("version=1").is_err());
    }
}
