//! Rotation: "Rotate now" and the per-secret rotation timeline, built from the audit log
//! (LookupEvents as the signed-in principal — what the caller may not look up, it is not
//! shown).

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::secrets::{date, detail_href};
use super::{Ctx, Nav, Refusal, html, redirect};
use crate::http::AppState;
use crate::pipeline::front::JsonService::{CloudTrail, SecretsManager};

/// The audit events a rotation leaves: the calls that start or stop one, and the service's
/// own events.
const ROTATION_EVENTS: &[&str] = &[
    "RotateSecret",
    "CancelRotateSecret",
    "RotationStarted",
    "RotationSucceeded",
    "RotationFailed",
    "RotationAbandoned",
];

#[derive(Template)]
#[template(path = "outcome.html")]
struct OutcomePage {
    nav: Option<Nav>,
    detail_href: String,
    headline: String,
    refusal: Option<Refusal>,
}

/// A page saying what happened to an action on secret `id`, and why when refused.
pub fn outcome_page(ctx: &Ctx, id: &str, headline: &str, refusal: Option<Refusal>) -> Response {
    html(&OutcomePage {
        nav: Some(ctx.nav()),
        detail_href: detail_href(id),
        headline: headline.to_string(),
        refusal,
    })
}

pub async fn rotate_now(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = form.get("id").cloned().unwrap_or_default();
    match ctx
        .call(
            &state,
            SecretsManager,
            "RotateSecret",
            json!({"SecretId": id}),
        )
        .await
    {
        Ok(_) => redirect(&timeline_href(&id)),
        Err(r) => outcome_page(&ctx, &id, "The rotation could not be started.", Some(r)),
    }
}

/// Configure (or change) rotation: function and schedule, optionally rotating at once.
pub async fn configure(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let id = field("id");
    let rules = match super::secrets::rotation_rules(
        &field("rotation_days"),
        &field("rotation_schedule"),
    ) {
        Ok(r) => r,
        Err(e) => return outcome_page(&ctx, &id, &e, None),
    };
    let input = json!({
        "SecretId": id,
        "RotationLambdaARN": field("rotation_function"),
        "RotationRules": rules,
        "RotateImmediately": form.contains_key("rotate_immediately"),
    });
    match ctx
        .call(&state, SecretsManager, "RotateSecret", input)
        .await
    {
        Ok(_) => redirect(&detail_href(&id)),
        Err(r) => outcome_page(&ctx, &id, "Rotation could not be configured.", Some(r)),
    }
}

/// Turn automatic rotation off (CancelRotateSecret; a rotation in progress is cancelled).
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = form.get("id").cloned().unwrap_or_default();
    match ctx
        .call(
            &state,
            SecretsManager,
            "CancelRotateSecret",
            json!({"SecretId": id}),
        )
        .await
    {
        Ok(_) => redirect(&detail_href(&id)),
        Err(r) => outcome_page(&ctx, &id, "Rotation could not be turned off.", Some(r)),
    }
}

pub fn timeline_href(id: &str) -> String {
    format!("/console/secret/timeline?id={}", super::secrets::encode(id))
}

/// One entry of the timeline.
#[derive(Debug, PartialEq)]
pub struct Entry {
    pub time: String,
    pub event: String,
    /// `started`, `succeeded`, `failed`, `abandoned` or `call` (for styling).
    pub kind: &'static str,
    pub version: String,
    /// The step or reason, as recorded.
    pub detail: String,
    pub who: String,
    /// The secret's name (the event's resource).
    pub secret: String,
    /// Its page.
    pub secret_href: String,
}

/// The timeline from LookupEvents' answer (newest first, as it comes).
pub fn entries(out: &Value) -> Vec<Entry> {
    out["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e["EventName"].as_str()?;
            if !ROTATION_EVENTS.contains(&name) {
                return None;
            }
            let record: Value = e["CloudTrailEvent"]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            let details = &record["serviceEventDetails"];
            let params = &record["requestParameters"];
            let version = details["versionId"]
                .as_str()
                .or(params["clientRequestToken"].as_str())
                .unwrap_or_default()
                .to_string();
            let detail = match (details["reason"].as_str(), record["errorMessage"].as_str()) {
                (Some(r), _) | (None, Some(r)) => r.to_string(),
                _ => match name {
                    "RotationStarted" => details["rotationLambdaARN"]
                        .as_str()
                        .map(|f| format!("function {f}"))
                        .unwrap_or_default(),
                    "RotateSecret" => params["rotationRules"]
                        .as_object()
                        .map(|r| format!("rules {}", Value::Object(r.clone())))
                        .unwrap_or_default(),
                    _ => String::new(),
                },
            };
            let kind = match name {
                "RotationStarted" => "started",
                "RotationSucceeded" => "succeeded",
                "RotationFailed" => "failed",
                "RotationAbandoned" => "abandoned",
                _ if record["errorCode"].is_string() => "failed",
                _ => "call",
            };
            // The resource: a secret's ARN (linked as is), shown by its name (the ARN's
            // last part without its six-character suffix).
            let resource = e["Resources"]
                .as_array()
                .and_then(|r| r.first())
                .and_then(|r| r["ResourceName"].as_str())
                .unwrap_or_default();
            let secret = match resource.rsplit_once(":secret:") {
                Some((_, n)) => n.rsplit_once('-').map_or(n, |(name, _)| name),
                None => resource,
            }
            .to_string();
            Some(Entry {
                time: date(&e["EventTime"]),
                event: name.to_string(),
                kind,
                version,
                detail,
                who: e["Username"].as_str().unwrap_or_default().to_string(),
                secret_href: detail_href(resource),
                secret,
            })
        })
        .collect()
}

/// One read of the secret's value.
#[derive(Debug, PartialEq)]
pub struct Read {
    pub time: String,
    pub event: String,
    pub who: String,
    pub source_ip: String,
    pub console: bool,
    /// The refusal's code, when the read was refused.
    pub denied: String,
}

/// Who read the value and when (allowed and refused), from LookupEvents' answer.
pub fn reads(out: &Value) -> Vec<Read> {
    out["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e["EventName"].as_str()?;
            if !matches!(name, "GetSecretValue" | "BatchGetSecretValue") {
                return None;
            }
            let record: Value = e["CloudTrailEvent"]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            let identity = &record["userIdentity"];
            Some(Read {
                time: date(&e["EventTime"]),
                event: name.to_string(),
                who: identity["arn"]
                    .as_str()
                    .or(identity["accessKeyId"].as_str())
                    .unwrap_or("unknown")
                    .to_string(),
                source_ip: record["sourceIPAddress"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                console: record["sessionCredentialFromConsole"].as_str() == Some("true"),
                denied: record["errorCode"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// How many pages of the secret's audit events the page reads (50 each, newest first).
const PAGES: usize = 4;

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    nav: Option<Nav>,
    id: String,
    detail_href: String,
    entries: Vec<Entry>,
    reads: Vec<Read>,
    refusal: Option<Refusal>,
}

pub async fn timeline(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = q.get("id").cloned().unwrap_or_default();
    let mut page = TimelinePage {
        nav: Some(ctx.nav()),
        detail_href: detail_href(&id),
        id: id.clone(),
        entries: Vec::new(),
        reads: Vec::new(),
        refusal: None,
    };
    let mut next: Option<String> = None;
    for _ in 0..PAGES {
        let mut input = json!({
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": id}],
            "MaxResults": 50,
        });
        if let Some(t) = &next {
            input["NextToken"] = Value::String(t.clone());
        }
        match ctx.call(&state, CloudTrail, "LookupEvents", input).await {
            Ok(out) => {
                page.entries.extend(entries(&out));
                page.reads.extend(reads(&out));
                next = out["NextToken"].as_str().map(str::to_owned);
                if next.is_none() {
                    break;
                }
            }
            Err(r) => {
                page.refusal = Some(r);
                break;
            }
        }
    }
    html(&page)
}

/// The service's rotation events, one LookupEvents per event name (it takes one attribute).
const ACCOUNT_EVENTS: &[&str] = &[
    "RotationStarted",
    "RotationSucceeded",
    "RotationFailed",
    "RotationAbandoned",
];

#[derive(Template)]
#[template(path = "rotations.html")]
struct AccountPage {
    nav: Option<Nav>,
    entries: Vec<Entry>,
    refusal: Option<Refusal>,
}

/// Every secret's recent rotation events, newest first (50 of each kind).
pub async fn account_timeline(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, _) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = AccountPage {
        nav: Some(ctx.nav()),
        entries: Vec::new(),
        refusal: None,
    };
    let mut events = Vec::new();
    for name in ACCOUNT_EVENTS {
        let input = json!({
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
            "MaxResults": 50,
        });
        match ctx.call(&state, CloudTrail, "LookupEvents", input).await {
            Ok(out) => events.extend(out["Events"].as_array().cloned().unwrap_or_default()),
            Err(r) => {
                page.refusal = Some(r);
                break;
            }
        }
    }
    events.sort_by(|a, b| {
        let t = |e: &Value| e["EventTime"].as_f64().unwrap_or_default();
        t(b).total_cmp(&t(a))
    });
    page.entries = entries(&json!({ "Events": events }));
    html(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_keeps_rotation_events_with_their_version_and_reason() {
        let failed = json!({"serviceEventDetails": {"versionId": "v2",
            "reason": "step setSecret failed: exit status 3"}})
        .to_string();
        let started = json!({"serviceEventDetails": {"versionId": "v2",
            "rotationLambdaARN": "arn:aws:lambda:us-east-1:1:function:f"}})
        .to_string();
        let out = json!({"Events": [
            {"EventName": "RotationFailed", "EventTime": 1700000060, "CloudTrailEvent": failed},
            {"EventName": "GetSecretValue", "EventTime": 1700000030, "CloudTrailEvent": "{}"},
            {"EventName": "RotationStarted", "EventTime": 1700000000, "CloudTrailEvent": started},
        ]});
        let e = entries(&out);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].kind, e[0].version.as_str()), ("failed", "v2"));
        assert!(e[0].detail.contains("setSecret"));
        assert_eq!(
            e[1].detail,
            "function arn:aws:lambda:us-east-1:1:function:f"
        );
        assert_eq!(e[1].time, "2023-11-14 22:13:20 UTC");
        assert_eq!(e[1].secret, "");
        let named = json!({"Events": [{"EventName": "RotationSucceeded", "EventTime": 1,
            "CloudTrailEvent": "{}", "Resources": [{"ResourceType": "AWS::SecretsManager::Secret",
            "ResourceName": "arn:aws:secretsmanager:us-east-1:1:secret:a-prod-b-AbCdEf"}]}]});
        let e = &entries(&named)[0];
        assert_eq!(e.secret, "a-prod-b");
        assert!(
            e.secret_href.ends_with("secret%3Aa-prod-b-AbCdEf"),
            "{}",
            e.secret_href
        );
    }

    #[test]
    fn reads_say_who_from_where_and_whether_refused() {
        let refused = json!({"userIdentity": {"arn": "arn:aws:iam::1:user/dev"},
            "sourceIPAddress": "10.0.0.1", "errorCode": "AccessDeniedException",
            "sessionCredentialFromConsole": "true"})
        .to_string();
        let unsigned =
            json!({"userIdentity": {"type": "Unknown", "accessKeyId": "AKIAX"}}).to_string();
        let out = json!({"Events": [
            {"EventName": "GetSecretValue", "EventTime": 1700000000, "CloudTrailEvent": refused},
            {"EventName": "RotationStarted", "EventTime": 1700000000, "CloudTrailEvent": "{}"},
            {"EventName": "GetSecretValue", "EventTime": 1700000000, "CloudTrailEvent": unsigned},
        ]});
        let r = reads(&out);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (
                r[0].who.as_str(),
                r[0].source_ip.as_str(),
                r[0].console,
                r[0].denied.as_str()
            ),
            (
                "arn:aws:iam::1:user/dev",
                "10.0.0.1",
                true,
                "AccessDeniedException"
            )
        );
        assert_eq!(
            (r[1].who.as_str(), r[1].console, r[1].denied.as_str()),
            ("AKIAX", false, "")
        );
    }
}
