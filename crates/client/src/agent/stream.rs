//! Following the server's change stream (`GET /changes`, server-sent events): each change
//! drops the cached entries of that secret or parameter at once; `resync` (or a gap the server
//! cannot replay) drops everything. Signed with SigV4 like any call, with the agent's own
//! credentials: the server shows it only changes to what it may DescribeSecret / GetParameter.
//!
//! While the stream is down the TTL bounds staleness, as in AWS's agent. Reconnects back off
//! (0.5 s doubling to 30 s, with jitter) and resume from the last event id, so a short outage
//! costs no cache. Against an endpoint without a change stream (AWS itself) the agent logs it
//! once and keeps retrying slowly.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_types::body::SdkBody;
use http_body_util::BodyExt;

use super::cache::Cache;

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Three missed heartbeats (the server sends one every 15 s): the connection is dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A single event larger than this is not the server's.
const MAX_EVENT_BYTES: usize = 64 * 1024;

pub struct Follower {
    pub endpoint: String,
    pub region: String,
    credentials: CredentialCache,
    connector: aws_smithy_http_client::Connector,
    cache: Arc<Cache>,
}

/// The SDK's provider without the SDK's identity cache: keep credentials until 5 minutes
/// before they expire (an assumed role is not assumed again on every reconnect).
struct CredentialCache {
    provider: SharedCredentialsProvider,
    current: tokio::sync::Mutex<Option<Credentials>>,
}

impl CredentialCache {
    async fn get(&self) -> Result<Credentials, String> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref() {
            let fresh = c.expiry().is_none_or(|e| {
                e.duration_since(SystemTime::now())
                    .is_ok_and(|left| left > Duration::from_secs(300))
            });
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no credentials: {e}"))?;
        *current = Some(c.clone());
        Ok(c)
    }
}

/// The Secrets Manager endpoint the SDK would use: `--endpoint-url`, else
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` / the profile's `secretsmanager` section, else
/// `AWS_ENDPOINT_URL` / the profile's `endpoint_url`. `None` for AWS's own endpoints.
pub fn endpoint(sdk: &aws_config::SdkConfig) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_string);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("Secrets Manager")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|c| c.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_string))
}

impl Follower {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        endpoint: String,
        connector: aws_smithy_http_client::Connector,
        cache: Arc<Cache>,
    ) -> Result<Self, String> {
        let provider = sdk
            .credentials_provider()
            .ok_or("no credentials provider")?;
        let region = sdk.region().map(|r| r.to_string()).ok_or("no region")?;
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region,
            credentials: CredentialCache {
                provider,
                current: Default::default(),
            },
            connector,
            cache,
        })
    }

    /// Follow the stream for as long as the agent runs. `first` is told when the first
    /// connection attempt has either delivered `ready` or failed.
    pub async fn run(self, first: tokio::sync::oneshot::Sender<bool>) {
        let mut last_id: Option<String> = None;
        let mut backoff = MIN_BACKOFF;
        let mut healthy = true;
        let mut first = Some(first);
        loop {
            let started = Instant::now();
            let result = self.follow(&mut last_id, &mut healthy, &mut first).await;
            if let Some(tx) = first.take() {
                let _ = tx.send(false);
            }
            // A stream that lived a while resets the backoff.
            if started.elapsed() > Duration::from_secs(30) {
                backoff = MIN_BACKOFF;
            }
            match result {
                Ok(()) => {
                    tracing::debug!("the change stream ended; reconnecting");
                    continue;
                }
                Err(e) => {
                    if healthy {
                        tracing::warn!(endpoint = %self.endpoint, error = %e, "change stream unavailable: cached values are dropped by TTL until it is back");
                        healthy = false;
                    } else {
                        tracing::debug!(error = %e, "change stream still unavailable");
                    }
                }
            }
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: `Ok` when the server ended it cleanly.
    async fn follow(
        &self,
        last_id: &mut Option<String>,
        healthy: &mut bool,
        first: &mut Option<tokio::sync::oneshot::Sender<bool>>,
    ) -> Result<(), String> {
        let creds = self.credentials.get().await?;
        let url = format!("{}/changes", self.endpoint);
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("bad endpoint {url}: {e}"))?;
        let host = uri
            .authority()
            .map(|a| a.to_string())
            .ok_or_else(|| format!("bad endpoint {url}"))?;
        let mut req = http::Request::builder()
            .method("GET")
            .uri(&url)
            .header("host", &host)
            .header("accept", "text/event-stream")
            .header(
                "user-agent",
                concat!("strongroom-agent/", env!("CARGO_PKG_VERSION")),
            )
            .body(SdkBody::empty())
            .map_err(|e| e.to_string())?;
        let identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("secretsmanager")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let signable = SignableRequest::new(
            "GET",
            url.clone(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(b""),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        // Not signed: where to resume from.
        if let Some(id) = last_id.as_deref()
            && let Ok(v) = http::HeaderValue::from_str(id)
        {
            req.headers_mut().insert("last-event-id", v);
        }
        let req =
            aws_smithy_runtime_api::http::Request::try_from(req).map_err(|e| e.to_string())?;
        let res = tokio::time::timeout(CONNECT_TIMEOUT, self.connector.call(req))
            .await
            .map_err(|_| "no answer within 10 s".to_string())?
            .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
        let status = res.status().as_u16();
        let mut body = res.into_body();
        if status != 200 {
            let text = match tokio::time::timeout(CONNECT_TIMEOUT, body.collect()).await {
                Ok(Ok(c)) => String::from_utf8_lossy(&c.to_bytes())
                    .chars()
                    .take(300)
                    .collect(),
                _ => String::new(),
            };
            return Err(format!("HTTP {status}: {text}"));
        }
        let mut parser = Parser::default();
        loop {
            let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
                Err(_) => return Err("no heartbeat for 45 s".into()),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => return Err(format!("stream broken: {e}")),
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            for event in parser.feed(&data)? {
                let ready = event.kind == "ready";
                self.apply(event, last_id, healthy);
                if ready && let Some(tx) = first.take() {
                    let _ = tx.send(true);
                }
            }
        }
    }

    fn apply(&self, e: Event, last_id: &mut Option<String>, healthy: &mut bool) {
        match e.kind.as_str() {
            "ready" => {
                let resync = serde_json::from_str::<serde_json::Value>(&e.data)
                    .ok()
                    .and_then(|v| v.get("resync").and_then(|r| r.as_bool()))
                    .unwrap_or(true);
                if resync {
                    // What was cached may predate changes the stream cannot replay.
                    let dropped = self.cache.clear();
                    *last_id = None;
                    tracing::debug!(dropped, "change stream (re)started from now: cache dropped");
                }
                if !*healthy {
                    tracing::info!(endpoint = %self.endpoint, resync, "change stream connected");
                }
                *healthy = true;
            }
            "change" => {
                #[derive(serde::Deserialize)]
                struct Change {
                    arn: Option<String>,
                    name: Option<String>,
                    #[serde(rename = "eventName")]
                    event_name: Option<String>,
                }
                if let Ok(c) = serde_json::from_str::<Change>(&e.data) {
                    let dropped = self.cache.invalidate(c.arn.as_deref(), c.name.as_deref());
                    tracing::debug!(arn = ?c.arn, name = ?c.name, event = ?c.event_name, dropped, "change");
                }
                if e.id.is_some() {
                    *last_id = e.id;
                }
            }
            "resync" => {
                let dropped = self.cache.clear();
                tracing::warn!(
                    dropped,
                    "the change stream asked for a resync: cache dropped"
                );
            }
            _ => {}
        }
    }
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn jitter(d: Duration) -> Duration {
    // ±25% from the clock's low bits: reconnecting agents do not move in lockstep.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let spread = d.as_millis() as u64 / 2;
    let offset = if spread == 0 {
        0
    } else {
        u64::from(nanos) % spread
    };
    d - d / 4 + Duration::from_millis(offset)
}

/// One server-sent event.
#[derive(Debug, Default, PartialEq)]
pub struct Event {
    pub kind: String,
    pub data: String,
    pub id: Option<String>,
}

/// The text/event-stream format, fed in whatever pieces the connection delivers.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    current: Event,
}

impl Parser {
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let e = std::mem::take(&mut self.current);
                if !e.kind.is_empty() || !e.data.is_empty() {
                    out.push(Event {
                        kind: if e.kind.is_empty() {
                            "message".into()
                        } else {
                            e.kind
                        },
                        ..e
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => self.current.kind = value.to_string(),
                "data" => {
                    if !self.current.data.is_empty() {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                }
                "id" => self.current.id = Some(value.to_string()),
                _ => {}
            }
        }
        if self.buf.len() + self.current.data.len() > MAX_EVENT_BYTES {
            return Err("an event larger than 64 KiB".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_across_pieces() {
        let mut p = Parser::default();
        let mut got = p.feed(b"retry: 1000\nevent: ready\ndata: {\"resync\":true}\n\n: keep-alive\n\nid: e-1\nevent: ch").unwrap();
        got.extend(p.feed(b"ange\ndata: {\"arn\":\"a\"}\r\n\r\n").unwrap());
        assert_eq!(
            got,
            [
                Event {
                    kind: "ready".into(),
                    data: "{\"resync\":true}".into(),
                    id: None
                },
                Event {
                    kind: "change".into(),
                    data: "{\"arn\":\"a\"}".into(),
                    id: Some("e-1".into())
                },
            ]
        );
        assert!(p.feed(&vec![b'x'; MAX_EVENT_BYTES + 1]).is_err());
    }

    #[test]
    fn backoff_jitter_stays_within_a_quarter() {
        for d in [MIN_BACKOFF, MAX_BACKOFF] {
            let j = jitter(d);
            assert!(j >= d - d / 4 && j <= d + d / 4, "{j:?}");
        }
    }
}
