//! The change stream: `GET /changes`, server-sent events telling an authorized reader that a
//! secret or parameter changed — never a value — so a cache (`strongroom agent`) can drop it
//! the moment it changes instead of serving it until a TTL runs out.
//!
//! Fed from the audit path, where every successful mutating call and every service event is
//! already recorded ([`crate::audit::Auditor`]): value writes, version-stage moves,
//! deletions and restores, resource-policy and tag changes, rotations (the built-in rotators and
//! the schedule write without an API call; their RotationStarted/Succeeded/Failed events are
//! published here too), parameter writes, labels and deletions.
//!
//! - SigV4-signed (header or presigned), scope `secretsmanager` or `ssm`; opening the stream is
//!   audited as `GetChangeStream`.
//! - Filtered per event with the reader's own permissions at the time of the event:
//!   `secretsmanager:DescribeSecret` on the secret (with its resource policy and tags) or
//!   `ssm:GetParameter` on the parameter. A reader that was shown a resource before also sees
//!   the change that takes its access away (so it drops what it cached).
//! - `id: EPOCH-SEQ` on every event; a reconnecting reader sends `Last-Event-ID` and gets what it
//!   missed from the last [`RECENT`] changes. When that is not possible (another server process,
//!   too far behind, a reader too slow to keep up) it gets `event: resync`: drop everything.
//! - `event: ready` first (with `"resync": true|false`), a comment every [`HEARTBEAT`], and the
//!   stream ends after [`MAX_LIFETIME`] (the reader reconnects and signs again, so revoked or
//!   expired credentials stop being served) or at server shutdown.
//!
//! One server process: with several nodes on one store each node streams only its own changes.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::audit::{Call, CallResource, Transport, claimed_access_key, event_source, is_read_only};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::http::AppState;
use crate::iam::authz::RequestInfo;
use crate::services::ssm;

/// Changes kept for readers that reconnect (and the broadcast buffer: a reader further behind
/// than this is told to resync).
pub const RECENT: usize = 4096;
/// A comment line this often keeps proxies from closing an idle stream and lets the reader
/// notice a dead connection.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A stream ends after this long; the reader reconnects with fresh credentials.
pub const MAX_LIFETIME: Duration = Duration::from_secs(600);
/// Resources a reader was shown, remembered so that the change removing its access still
/// reaches it. Bounded; forgetting only means that one last event is not delivered.
const SHOWN_LIMIT: usize = 10_000;

/// One change. No value, ever: which resource, what happened, when.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    #[serde(skip)]
    pub seq: u64,
    /// Epoch milliseconds.
    pub time: i64,
    /// `secretsmanager` or `ssm`.
    pub service: &'static str,
    /// The API call or service event, e.g. `PutSecretValue`, `RotationSucceeded`.
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// The secret's ARN, or the parameter's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The secret's or parameter's name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The publishing side, owned by the auditor.
pub struct Feed {
    /// Distinguishes this process's sequence numbers from another's (a restarted server).
    epoch: String,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<Change>>,
    closed: watch::Sender<bool>,
}

struct Ring {
    next: u64,
    recent: VecDeque<Arc<Change>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(RECENT);
        let (closed, _) = watch::channel(false);
        Self {
            epoch: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            ring: Mutex::new(Ring {
                next: 1,
                recent: VecDeque::with_capacity(RECENT),
            }),
            tx,
            closed,
        }
    }

    /// End every open stream (server shutdown: a stream would otherwise hold its connection
    /// through the drain period).
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }

    /// A request's record: published when it succeeded and changed a secret or parameter.
    pub fn api_call(&self, call: &Call, succeeded: bool, time_ms: i64) {
        if !succeeded || is_read_only(&call.event_name) {
            return;
        }
        match call.event_source.as_ref() {
            "secretsmanager.amazonaws.com" => {
                if let Some(r) = &call.resource {
                    self.publish(secret_change(&call.event_name, r, time_ms));
                }
            }
            "ssm.amazonaws.com" => {
                for name in parameter_names(call.request_parameters.as_ref()) {
                    self.publish(Change {
                        seq: 0,
                        time: time_ms,
                        service: "ssm",
                        event_name: call.event_name.clone(),
                        arn: None,
                        name: Some(name),
                    });
                }
            }
            _ => {}
        }
    }

    /// A service event (rotation steps, the end of a deletion) about a secret or parameter.
    pub fn service_event(
        &self,
        service: &str,
        event_name: &str,
        resource: Option<&CallResource>,
        time_ms: i64,
    ) {
        match (service, resource) {
            ("secretsmanager", Some(r)) => self.publish(secret_change(event_name, r, time_ms)),
            ("ssm", Some(r)) => self.publish(Change {
                seq: 0,
                time: time_ms,
                service: "ssm",
                event_name: event_name.to_string(),
                arn: Some(r.arn.clone()),
                name: r.name.clone(),
            }),
            _ => {}
        }
    }

    fn publish(&self, mut change: Change) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        change.seq = ring.next;
        ring.next += 1;
        let change = Arc::new(change);
        if ring.recent.len() == RECENT {
            ring.recent.pop_front();
        }
        ring.recent.push_back(change.clone());
        // No subscriber is not an error: the ring keeps it for one that reconnects.
        let _ = self.tx.send(change);
    }

    /// A new subscription: what it missed since `after` (if this process still has all of it)
    /// and the live receiver, taken under one lock so nothing falls in between. `resync` when
    /// the reader must drop everything it cached.
    fn subscribe(&self, after: Option<&str>) -> Subscription {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let last = after.and_then(|id| {
            let (epoch, seq) = id.rsplit_once('-')?;
            (epoch == self.epoch).then(|| seq.parse::<u64>().ok())?
        });
        let oldest = ring.recent.front().map_or(ring.next, |c| c.seq);
        match last {
            Some(seq) if seq < ring.next && seq + 1 >= oldest => Subscription {
                backlog: ring
                    .recent
                    .iter()
                    .filter(|c| c.seq > seq)
                    .cloned()
                    .collect(),
                resync: false,
                rx,
            },
            _ => Subscription {
                backlog: Vec::new(),
                resync: true,
                rx,
            },
        }
    }

    fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }
}

struct Subscription {
    backlog: Vec<Arc<Change>>,
    resync: bool,
    rx: broadcast::Receiver<Arc<Change>>,
}

fn secret_change(event_name: &str, r: &CallResource, time_ms: i64) -> Change {
    let is_arn = r.arn.starts_with("arn:");
    Change {
        seq: 0,
        time: time_ms,
        service: "secretsmanager",
        event_name: event_name.to_string(),
        arn: is_arn.then(|| r.arn.clone()),
        name: r.name.clone().or_else(|| (!is_arn).then(|| r.arn.clone())),
    }
}

/// The parameters a Parameter Store write names: `name`, `names` (DeleteParameters), or a tag
/// operation's `resourceId`, as names (an ARN's name part; no selector). The record's
/// request parameters are camelCase, as CloudTrail writes them.
fn parameter_names(params: Option<&serde_json::Value>) -> Vec<String> {
    let Some(p) = params else {
        return Vec::new();
    };
    let get = |k: &str| {
        p.get(k)
            .or_else(|| p.get(k[..1].to_ascii_uppercase() + &k[1..]))
    };
    let mut names: Vec<&str> = Vec::new();
    if let Some(n) = get("name").and_then(|n| n.as_str()) {
        names.push(n);
    }
    if let Some(list) = get("names").and_then(|n| n.as_array()) {
        names.extend(list.iter().filter_map(|n| n.as_str()));
    }
    if get("resourceType").and_then(|t| t.as_str()) == Some("Parameter")
        && let Some(id) = get("resourceId").and_then(|n| n.as_str())
    {
        names.push(id);
    }
    names.into_iter().map(parameter_name).collect()
}

/// `arn:aws:ssm:R:A:parameter/x` → `x`, `...:parameter/a/b` → `/a/b`; a selector is dropped.
pub fn parameter_name(given: &str) -> String {
    let name = match given.split_once(":parameter") {
        Some((prefix, rest)) if prefix.starts_with("arn:") => {
            if rest.matches('/').count() > 1 {
                rest
            } else {
                rest.trim_start_matches('/')
            }
        }
        _ => given,
    };
    match name.split_once(':') {
        Some((n, _)) => n.to_string(),
        None => name.to_string(),
    }
}

/// `GET /changes`.
pub async fn handler(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, _) = req.into_parts();
    let now_ms = state.clock.now_ms();
    let mut call = Call {
        event_source: event_source("secretsmanager"),
        event_name: "GetChangeStream".into(),
        ..Default::default()
    };
    let admission = state.audit.admit();
    let result: Result<Principal, ApiError> = match &admission {
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request could not be audited, so it was refused.",
        )),
        Ok(_) => state
            .auth
            .authenticate(&parts, b"", None, &["secretsmanager", "ssm"])
            .map(|signed| signed.principal)
            .map_err(ApiError::from),
    };
    match &result {
        Ok(p) => call.principal = Some(p.clone()),
        Err(_) => call.claimed_access_key = claimed_access_key(&parts),
    }
    if admission.is_ok() {
        let transport = Transport {
            source_ip: peer.ip(),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            request_id: &request_id,
            tls: None,
            time_ms: now_ms,
        };
        if let Err(e) = state
            .audit
            .api_call(call, transport, result.as_ref().err())
            .await
        {
            tracing::error!(request_id, error = %e, "change stream refused: its audit record could not be written");
            return crate::http::json::error(
                &ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    "The request could not be audited, so it was refused.",
                ),
                &request_id,
            );
        }
    }
    drop(admission);
    let principal = match result {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(request_id, error = e.code, "change stream refused");
            return crate::http::json::error(&e, &request_id);
        }
    };
    let last_event_id = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let subscription = state.audit.changes.subscribe(last_event_id.as_deref());
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tracing::debug!(request_id, principal = %principal.arn, resync = subscription.resync, "change stream opened");
    tokio::spawn(stream(state, principal, peer, subscription, tx));
    let mut res = Response::new(Body::new(SseBody(rx)));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    res
}

/// Feeds one reader until it goes away, the stream's lifetime ends or the server stops.
async fn stream(
    state: Arc<AppState>,
    principal: Principal,
    peer: SocketAddr,
    subscription: Subscription,
    tx: mpsc::Sender<Bytes>,
) {
    let Subscription {
        backlog,
        resync,
        mut rx,
    } = subscription;
    let mut closed = state.audit.changes.closed.subscribe();
    if *closed.borrow() {
        return;
    }
    let mut shown = HashSet::new();
    let ready = serde_json::json!({"resync": resync, "epoch": state.audit.changes.epoch});
    if tx
        .send(Bytes::from(format!(
            "retry: 1000\nevent: ready\ndata: {ready}\n\n"
        )))
        .await
        .is_err()
    {
        return;
    }
    for c in backlog {
        if !deliver(&state, &principal, peer, &mut shown, &c, &tx).await {
            return;
        }
    }
    let deadline = tokio::time::Instant::now() + MAX_LIFETIME;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Ok(c) => {
                    if !deliver(&state, &principal, peer, &mut shown, &c, &tx).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(principal = %principal.arn, missed, "a change stream reader fell behind: told to resync");
                    let msg = format!("event: resync\ndata: {{\"reason\":\"lagged\",\"missed\":{missed}}}\n\n");
                    if tx.send(Bytes::from(msg)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = heartbeat.tick() => {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return,
            _ = closed.changed() => return,
            _ = tx.closed() => return,
        }
    }
}

/// Sends `c` if the reader may see it; `false` once the reader is gone.
async fn deliver(
    state: &AppState,
    principal: &Principal,
    peer: SocketAddr,
    shown: &mut HashSet<String>,
    c: &Change,
    tx: &mpsc::Sender<Bytes>,
) -> bool {
    let info = RequestInfo {
        source_ip: Some(peer.ip()),
        secure_transport: state.tls,
        now_ms: state.clock.now_ms(),
    };
    let key = c.arn.clone().or_else(|| c.name.clone()).unwrap_or_default();
    let allowed = visible(state, principal, &info, c).await;
    if allowed {
        if shown.len() >= SHOWN_LIMIT {
            shown.clear();
        }
        shown.insert(key);
    } else if !shown.remove(&key) {
        return true;
    }
    let Ok(data) = serde_json::to_string(c) else {
        return true;
    };
    let msg = format!(
        "id: {}\nevent: change\ndata: {data}\n\n",
        state.audit.changes.id(c.seq)
    );
    tx.send(Bytes::from(msg)).await.is_ok()
}

/// The reader's own `secretsmanager:DescribeSecret` on the secret (its resource policy and
/// tags included), or `ssm:GetParameter` on the parameter, evaluated now.
async fn visible(state: &AppState, principal: &Principal, info: &RequestInfo, c: &Change) -> bool {
    if principal.is_root() {
        return true;
    }
    // Checked in the region the secret or parameter lives in (its ARN's).
    let region = match c.arn.as_deref().and_then(|a| a.split(':').nth(3)) {
        Some(r) => state.regions.for_request(r),
        None => state.regions.home(),
    };
    match c.service {
        "secretsmanager" => {
            let Some(id) = c.arn.as_deref().or(c.name.as_deref()) else {
                return false;
            };
            let t = region
                .secretsmanager
                .authorization_target(&crate::services::secretsmanager::TargetRequest {
                    operation: "DescribeSecret",
                    secret_id: Some(id),
                    ..Default::default()
                })
                .await;
            state
                .authz
                .authorize_with(
                    principal,
                    &t.action,
                    &t.resource,
                    t.resource_policy.as_deref(),
                    t.keys,
                    info,
                )
                .is_ok()
        }
        "ssm" => {
            let name = match (&c.name, &c.arn) {
                (Some(n), _) => n.clone(),
                (None, Some(a)) => parameter_name(a),
                _ => return false,
            };
            let input = ssm::shapes::Input::GetParameter(ssm::shapes::GetParameterRequest {
                name: Some(name),
                ..Default::default()
            });
            let checks = region
                .ssm
                .authorization_checks(ssm::ops::Op::GetParameter, &input)
                .await;
            !checks.is_empty()
                && checks.into_iter().all(|ch| {
                    state
                        .authz
                        .authorize_with(
                            principal,
                            &ch.action,
                            &ch.resource,
                            ch.policy.as_deref(),
                            ch.keys,
                            info,
                        )
                        .is_ok()
                })
        }
        _ => false,
    }
}

/// The response body: whatever the stream task sends, until it drops its sender.
struct SseBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(feed: &Feed, name: &str) {
        feed.service_event(
            "secretsmanager",
            "RotationSucceeded",
            Some(&CallResource {
                arn: format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"),
                kind: crate::audit::SECRET_RESOURCE_TYPE,
                name: Some(name.into()),
            }),
            1,
        );
    }

    #[test]
    fn a_reader_that_reconnects_gets_what_it_missed_or_a_resync() {
        let feed = Feed::new();
        change(&feed, "a");
        change(&feed, "b");
        change(&feed, "c");
        let s = feed.subscribe(Some(&feed.id(1)));
        assert!(!s.resync);
        let names: Vec<_> = s.backlog.iter().map(|c| c.name.clone().unwrap()).collect();
        assert_eq!(names, ["b", "c"]);
        // Up to date: nothing to replay, no resync.
        let s = feed.subscribe(Some(&feed.id(3)));
        assert!(!s.resync && s.backlog.is_empty());
        // Another process's ids, a future id, garbage, or none at all: resync.
        for id in [
            Some("0123456789ab-1".to_string()),
            Some(feed.id(9)),
            Some("x".into()),
            None,
        ] {
            assert!(feed.subscribe(id.as_deref()).resync, "{id:?}");
        }
        // Fallen out of the ring: resync.
        for i in 0..RECENT {
            change(&feed, &format!("n{i}"));
        }
        assert!(feed.subscribe(Some(&feed.id(1))).resync);
        assert!(!feed.subscribe(Some(&feed.id(4 + 1))).resync);
    }

    #[test]
    fn only_successful_writes_of_secrets_and_parameters_are_published() {
        let feed = Feed::new();
        let mut rx = feed.tx.subscribe();
        let resource = Some(CallResource {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf".into(),
            kind: crate::audit::SECRET_RESOURCE_TYPE,
            name: Some("s".into()),
        });
        let mut call = Call {
            event_source: "secretsmanager.amazonaws.com".into(),
            event_name: "GetSecretValue".into(),
            resource,
            ..Default::default()
        };
        feed.api_call(&call, true, 1);
        call.event_name = "PutSecretValue".into();
        feed.api_call(&call, false, 1);
        feed.api_call(&call, true, 1);
        let got = rx.try_recv().unwrap();
        assert_eq!(
            (got.event_name.as_str(), got.name.as_deref()),
            ("PutSecretValue", Some("s"))
        );
        assert!(rx.try_recv().is_err());
        let ssm = Call {
            event_source: "ssm.amazonaws.com".into(),
            event_name: "DeleteParameters".into(),
            request_parameters: Some(serde_json::json!({"names": ["/a/b", "c"]})),
            ..Default::default()
        };
        feed.api_call(&ssm, true, 1);
        assert_eq!(rx.try_recv().unwrap().name.as_deref(), Some("/a/b"));
        assert_eq!(rx.try_recv().unwrap().name.as_deref(), Some("c"));
        let kms = Call {
            event_source: "kms.amazonaws.com".into(),
            event_name: "DisableKey".into(),
            ..Default::default()
        };
        feed.api_call(&kms, true, 1);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn parameter_names_from_arns_and_selectors() {
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:123456789012:parameter/app/db"),
            "/app/db"
        );
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:123456789012:parameter/plain"),
            "plain"
        );
        assert_eq!(parameter_name("/app/db:3"), "/app/db");
        assert_eq!(parameter_name("plain"), "plain");
    }
}
