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
    let field = |k: &str| super::form_field(&form, k);
    let id = field("id");
    let rules = match super::secrets::rotation_rules(
        &field("rotation_days"),
        &field("rotation_schedule"),
        &field("rotation_window"),
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
    /// The secret's name (from the record's resource) and its detail page.
    pub secret: String,
    pub secret_href: String,
    pub time_s: i64,
    /// For an outcome (succeeded, failed, abandoned): how long since its RotationStarted.
    pub duration: String,
}

/// The timeline from LookupEvents' answer (newest first, as it comes).
pub fn entries(out: &Value) -> Vec<Entry> {
    entries_of(out["Events"].as_array().into_iter().flatten())
}

/// The timeline of these events (in their order, newest first), other events left out;
/// each outcome with the time its rotation took.
pub fn entries_of<'a>(events: impl Iterator<Item = &'a Value>) -> Vec<Entry> {
    let mut entries = rotation_entries(events);
    for i in 0..entries.len() {
        if !matches!(entries[i].kind, "succeeded" | "failed" | "abandoned") {
            continue;
        }
        // The same rotation's start: older (further down), same secret and version.
        let started = entries[i + 1..].iter().find(|s| {
            s.kind == "started" && s.version == entries[i].version && s.secret == entries[i].secret
        });
        if let Some(s) = started {
            entries[i].duration = duration(entries[i].time_s - s.time_s);
        }
    }
    entries
}

/// `42 s`, `3 min 5 s`, `2 h 1 min`.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

fn rotation_entries<'a>(events: impl Iterator<Item = &'a Value>) -> Vec<Entry> {
    events
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
            let arn = e["Resources"][0]["ResourceName"]
                .as_str()
                .unwrap_or_default();
            let secret = super::access::short_name(arn).unwrap_or(arn).to_string();
            Some(Entry {
                secret_href: detail_href(&secret),
                secret,
                time: date(&e["EventTime"]),
                time_s: e["EventTime"].as_f64().unwrap_or_default() as i64,
                duration: String::new(),
                event: name.to_string(),
                kind,
                version,
                detail,
                who: e["Username"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    nav: Option<Nav>,
    /// The secret, or empty for the account's timeline (each entry then names its secret).
    id: String,
    detail_href: String,
    entries: Vec<Entry>,
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
        refusal: None,
    };
    let input = json!({
        "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": id}],
        "MaxResults": 50,
    });
    match ctx.call(&state, CloudTrail, "LookupEvents", input).await {
        Ok(out) => page.entries = entries(&out),
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

/// The service's own rotation events, across the account.
const SERVICE_EVENTS: [&str; 4] = [
    "RotationStarted",
    "RotationSucceeded",
    "RotationFailed",
    "RotationAbandoned",
];

/// Events per kind on the account's timeline.
const ACCOUNT_PAGES: usize = 2;

/// Merge lookups (each newest first) into one timeline, newest first.
pub fn merged(mut events: Vec<Value>) -> Vec<Entry> {
    events.sort_by(|a, b| {
        let t = |e: &Value| e["EventTime"].as_f64().unwrap_or_default();
        t(b).total_cmp(&t(a))
    });
    entries_of(events.iter())
}

/// The account's rotation timeline: every RotationStarted / Succeeded / Failed / Abandoned
/// across secrets (one lookup per event name: LookupEvents takes one attribute).
pub async fn account_timeline(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, _) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = TimelinePage {
        nav: Some(ctx.nav()),
        detail_href: String::new(),
        id: String::new(),
        entries: Vec::new(),
        refusal: None,
    };
    let mut events = Vec::new();
    for name in SERVICE_EVENTS {
        let input =
            json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}]});
        match super::audit::lookup_pages(&state, &ctx, input, ACCOUNT_PAGES).await {
            Ok((found, _)) => events.extend(found),
            Err(r) => {
                page.refusal = Some(r);
                return html(&page);
            }
        }
    }
    page.entries = merged(events);
    html(&page)
}

/// The next runs the rules of a rotation form would give, computed as the scheduler computes
/// them (from now; a rotation that runs at once counts from its end instead): the form's
/// "Show next runs", answered as a fragment. Nothing is called or changed, so nothing is
/// audited; the form's CSRF token is still required, as on every POST.
pub async fn preview(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (_ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let field = |k: &str| super::form_field(&form, k);
    let page = match super::secrets::rotation_rules(
        &field("rotation_days"),
        &field("rotation_schedule"),
        &field("rotation_window"),
    ) {
        Ok(rules) => next_runs(&rules, state.clock.now_ms(), 3),
        Err(e) => NextRuns {
            runs: Vec::new(),
            error: Some(e),
        },
    };
    html(&page)
}

#[derive(Template)]
#[template(path = "next_runs.html")]
pub struct NextRuns {
    pub runs: Vec<String>,
    pub error: Option<String>,
}

/// `count` next runs of `rules` (RotateSecret's JSON) after `now`, or the rules' error in
/// the service's words.
pub fn next_runs(rules: &Value, now: i64, count: usize) -> NextRuns {
    let parsed = strongroom_domain::rotation::RotationRules {
        automatically_after_days: rules["AutomaticallyAfterDays"].as_i64(),
        duration: rules["Duration"].as_str().map(str::to_string),
        schedule_expression: rules["ScheduleExpression"].as_str().map(str::to_string),
    };
    let mut runs = Vec::new();
    let mut from = now;
    for _ in 0..count {
        match strongroom_domain::rotation::next_after(&parsed, from) {
            Ok(t) => {
                runs.push(super::secrets::date(&json!(t as f64 / 1000.0)));
                from = t;
            }
            Err(e) => {
                return NextRuns {
                    runs: Vec::new(),
                    error: Some(e.to_string()),
                };
            }
        }
    }
    NextRuns { runs, error: None }
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
        // The failure came a minute after its start.
        assert_eq!(e[0].duration, "1 min 0 s");
        assert_eq!(e[1].duration, "");
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(7260), "2 h 1 min");
    }

    #[test]
    fn the_account_timeline_merges_lookups_newest_first_and_names_each_secret() {
        let ev = |name: &str, t: i64, arn: &str| {
            json!({"EventName": name, "EventTime": t, "CloudTrailEvent": "{}",
                   "Resources": [{"ResourceName": arn}]})
        };
        let a = "arn:aws:secretsmanager:us-east-1:1:secret:db-prod-AbCdEf";
        let b = "arn:aws:secretsmanager:us-east-1:1:secret:api-test-key-123456";
        let e = merged(vec![
            ev("RotationStarted", 10, a),
            ev("RotationStarted", 30, b),
            ev("RotationSucceeded", 20, a),
            ev("RotationFailed", 40, b),
        ]);
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.event.as_str(), e.secret.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("RotationFailed", "api-test-key"),
                ("RotationStarted", "api-test-key"),
                ("RotationSucceeded", "db-prod"),
                ("RotationStarted", "db-prod")
            ]
        );
        assert_eq!(e[3].secret_href, "/console/secret?id=db-prod");
    }

    #[test]
    fn next_runs_follow_the_rules_or_say_why_not() {
        // 2026-12-05 00:00:00 UTC.
        let now = 1_796_428_800_000;
        let every = next_runs(&json!({"AutomaticallyAfterDays": 10}), now, 3);
        assert_eq!(
            every.runs,
            vec![
                "2026-12-15 00:00:00 UTC",
                "2026-12-25 00:00:00 UTC",
                "2027-01-04 00:00:00 UTC"
            ]
        );
        let cron = next_runs(
            &json!({"ScheduleExpression": "cron(0 16 1,15 * ? *)"}),
            now,
            2,
        );
        assert_eq!(
            cron.runs,
            vec!["2026-12-15 16:00:00 UTC", "2027-01-01 16:00:00 UTC"]
        );
        let bad = next_runs(&json!({"ScheduleExpression": "cron(nonsense)"}), now, 3);
        assert!(bad.runs.is_empty() && bad.error.is_some());
    }
}
