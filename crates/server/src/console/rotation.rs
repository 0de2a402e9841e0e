//! Rotation: "Rotate now", configuration, and the rotation timelines (a secret's, the
//! account's), built from the audit log (LookupEvents as the signed-in principal — what the
//! caller may not look up, it is not shown), one lookup per event name merged newest first,
//! in a time range, paged.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::secrets::{date, detail_href, encode};
use super::{Ctx, Nav, Refusal, html, redirect};
use crate::http::AppState;
use crate::http::query::Params;
use crate::pipeline::front::JsonService::{CloudTrail, SecretsManager};

/// The audit events a rotation leaves: the calls that start or stop one, and the service's
/// own events, in the order they happen.
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
    /// This page's address without range or page (the range form's action).
    here: String,
    start: String,
    end: String,
    entries: Vec<Entry>,
    next_href: Option<String>,
    /// Reached through an "Older entries" link: an empty page then says there are no older
    /// ones (the lookups' older events can all be other secrets'), not "none recorded yet".
    older: bool,
    error: Option<String>,
    refusal: Option<Refusal>,
}

impl TimelinePage {
    fn new(ctx: &Ctx, id: &str, q: &Params) -> Self {
        let field = |k: &str| q.get(k).cloned().unwrap_or_default();
        Self {
            nav: Some(ctx.nav()),
            detail_href: detail_href(id),
            here: if id.is_empty() {
                "/console/rotations".into()
            } else {
                timeline_href(id)
            },
            id: id.to_string(),
            start: field("start"),
            end: field("end"),
            entries: Vec::new(),
            next_href: None,
            older: q.contains_key("next"),
            error: None,
            refusal: None,
        }
    }

    /// The page's entries, and the address of the older ones if there are more.
    fn fill(&mut self, q: &Params, found: Result<(Vec<Value>, Option<Cursor>), Refusal>) {
        match found {
            Ok((events, next)) => {
                self.entries = entries_of(events.iter());
                self.next_href = next.map(|cursor| {
                    let sep = if self.here.contains('?') { '&' } else { '?' };
                    let keep: String = ["start", "end"]
                        .iter()
                        .filter_map(|k| q.get(*k).map(|v| format!("&{k}={}", encode(v))))
                        .collect();
                    format!(
                        "{}{sep}next={}{keep}",
                        self.here,
                        encode(&encode_cursor(&cursor))
                    )
                });
            }
            Err(r) => self.refusal = Some(r),
        }
    }
}

/// The secret's rotation timeline: its rotation events and RotateSecret /
/// CancelRotateSecret calls, found by event name (one lookup per name, as LookupEvents takes
/// one attribute) so that however often the secret is read, its rotations are there.
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
    let mut page = TimelinePage::new(&ctx, &id, &q);
    let range = match Range::of(&q, ROTATION_EVENTS.len()) {
        Ok(r) => r,
        Err(e) => {
            page.error = Some(e);
            return html(&page);
        }
    };
    // Other secrets' rotations come too; a page looks further back until it has enough of
    // this secret's, within a bound.
    let found = lookup_merged(
        &state,
        &ctx,
        ROTATION_EVENTS,
        range,
        |e| names_secret(e, &id),
        SECRET_PAGE_ROUNDS,
    )
    .await;
    page.fill(&q, found);
    html(&page)
}

/// The service's own rotation events, across the account.
const SERVICE_EVENTS: [&str; 4] = [
    "RotationStarted",
    "RotationSucceeded",
    "RotationFailed",
    "RotationAbandoned",
];

/// LookupEvents rounds a secret's timeline page may make (each one lookup per event name)
/// looking for entries of that secret among the account's.
const SECRET_PAGE_ROUNDS: usize = 4;

/// Entries a secret's timeline page looks for before it stops.
const SECRET_PAGE_ENTRIES: usize = 25;

/// Whether event `e` is about the secret `id` (its name or ARN).
fn names_secret(e: &Value, id: &str) -> bool {
    let resource = e["Resources"][0]["ResourceName"]
        .as_str()
        .unwrap_or_default();
    !id.is_empty()
        && (resource == id || super::access::short_name(resource).is_some_and(|n| n == id))
}

/// Newest first; within a second (LookupEvents' resolution) a rotation's later steps above
/// its earlier ones, as they happen: the call, RotationStarted, then its outcome.
fn sort_newest_first(events: &mut [Value]) {
    let step = |e: &Value| {
        let name = e["EventName"].as_str().unwrap_or_default();
        ROTATION_EVENTS.iter().position(|n| *n == name)
    };
    events.sort_by(|a, b| {
        event_secs(b)
            .cmp(&event_secs(a))
            .then_with(|| step(b).cmp(&step(a)))
    });
}

/// An event's time, in the whole seconds LookupEvents reports.
fn event_secs(e: &Value) -> i64 {
    e["EventTime"].as_f64().unwrap_or_default() as i64
}

/// The account's rotation timeline: every RotationStarted / Succeeded / Failed / Abandoned
/// across secrets (one lookup per event name: LookupEvents takes one attribute), in a time
/// range, page by page.
pub async fn account_timeline(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = TimelinePage::new(&ctx, "", &q);
    let range = match Range::of(&q, SERVICE_EVENTS.len()) {
        Ok(r) => r,
        Err(e) => {
            page.error = Some(e);
            return html(&page);
        }
    };
    let found = lookup_merged(&state, &ctx, &SERVICE_EVENTS, range, |_| true, 1).await;
    page.fill(&q, found);
    html(&page)
}

/// Where one event name's lookup goes on from: the end of its time range (epoch ms) and
/// LookupEvents' NextToken (valid only with the range it was issued for). `None` in a
/// cursor: that lookup is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub end_ms: Option<i64>,
    pub token: Option<String>,
}

/// Where each lookup of a merged timeline goes on from.
pub type Cursor = Vec<Option<Resume>>;

/// A timeline page's query: the range's start (epoch ms, every lookup) and where each event
/// name's lookup goes on from.
#[derive(Debug)]
struct Range {
    start_ms: Option<i64>,
    cursor: Cursor,
}

impl Range {
    /// From the page's `start`, `end` (UTC `datetime-local`) and `next` (the cursor of the
    /// page before); a bad field is the form's message.
    fn of(q: &Params, lookups: usize) -> Result<Self, String> {
        let time = |k: &str, member: &str| -> Result<Option<i64>, String> {
            match q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => super::audit::parse_time(v)
                    .map(|t| Some(t * 1000))
                    .ok_or_else(|| {
                        format!("{member} must be a date and time such as 2026-01-31T13:45 (UTC).")
                    }),
            }
        };
        let start_ms = time("start", "StartTime")?;
        let end_ms = time("end", "EndTime")?;
        let cursor = match q.get("next").filter(|n| !n.is_empty()) {
            None => vec![
                Some(Resume {
                    end_ms,
                    token: None
                });
                lookups
            ],
            Some(n) => decode_cursor(n)
                .filter(|c| c.len() == lookups)
                .ok_or("This page's link is not valid; start again from the first page.")?,
        };
        Ok(Self { start_ms, cursor })
    }
}

/// A cursor in a link: its JSON, base64url.
pub fn encode_cursor(cursor: &[Option<Resume>]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

pub fn decode_cursor(s: &str) -> Option<Cursor> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
}

/// What one event name's lookup answered: its events (newest first), its NextToken, and
/// the range end it was asked with.
pub struct Fetched {
    pub events: Vec<Value>,
    pub next: Option<String>,
    pub end_ms: Option<i64>,
}

/// One page of several lookups merged, newest first, and where each lookup goes on from.
/// The page ends at the floor: the newest second down to which every lookup has answered
/// (older events of the others wait for the next page, so none is skipped or shown twice).
pub fn cut(fetched: Vec<Fetched>) -> (Vec<Value>, Cursor) {
    let floor = fetched
        .iter()
        .filter(|f| f.next.is_some())
        .filter_map(|f| f.events.iter().map(event_secs).min())
        .max();
    let Some(w) = floor else {
        // Every lookup answered all it had: one page.
        let cursor = fetched.iter().map(|_| None).collect();
        let mut shown: Vec<Value> = fetched.into_iter().flat_map(|f| f.events).collect();
        sort_newest_first(&mut shown);
        return (shown, cursor);
    };
    // The floor's own second goes whole to the next page, where every lookup reads it
    // afresh: a rotation's events in one second are not split between pages.
    if fetched
        .iter()
        .flat_map(|f| &f.events)
        .any(|e| event_secs(e) > w)
    {
        return split(fetched, |t| t > w, |_| None, Some((w + 1) * 1000 - 1));
    }
    // The floor's second alone fills a page (a burst): it is shown, and the lookup with more
    // goes on with its NextToken.
    split(fetched, |t| t >= w, |f| f.next.clone(), Some(w * 1000 - 1))
}

/// The events `shown` (by their second); a lookup left with more goes on with `token` (with
/// the range it was issued for), or else afresh from `before` (epoch ms, inclusive).
fn split(
    fetched: Vec<Fetched>,
    shown: impl Fn(i64) -> bool,
    token: impl Fn(&Fetched) -> Option<String>,
    before: Option<i64>,
) -> (Vec<Value>, Cursor) {
    let mut page = Vec::new();
    let mut cursor = Vec::new();
    for f in fetched {
        let all = f.events.len();
        let (end_ms, token) = (f.end_ms, token(&f));
        let kept: Vec<Value> = f
            .events
            .into_iter()
            .filter(|e| shown(event_secs(e)))
            .collect();
        cursor.push(match (kept.len() == all, token, f.next.is_some()) {
            (true, Some(token), _) => Some(Resume {
                end_ms,
                token: Some(token),
            }),
            (true, None, false) => None,
            _ => Some(Resume {
                end_ms: before,
                token: None,
            }),
        });
        page.extend(kept);
    }
    sort_newest_first(&mut page);
    (page, cursor)
}

/// A timeline page from one LookupEvents per event name in `names` (as the signed-in
/// principal), merged newest first and filtered by `keep`; up to `rounds` rounds while
/// fewer than a page's entries were kept. The cursor of the older entries, if any.
async fn lookup_merged(
    state: &AppState,
    ctx: &Ctx,
    names: &[&str],
    range: Range,
    keep: impl Fn(&Value) -> bool,
    rounds: usize,
) -> Result<(Vec<Value>, Option<Cursor>), Refusal> {
    let mut cursor = range.cursor;
    let mut shown = Vec::new();
    for _ in 0..rounds {
        let mut fetched = Vec::new();
        for (name, resume) in names.iter().zip(&cursor) {
            let Some(r) = resume else {
                fetched.push(Fetched {
                    events: Vec::new(),
                    next: None,
                    end_ms: None,
                });
                continue;
            };
            let mut input = json!({
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
                "MaxResults": 50,
            });
            if let Some(s) = range.start_ms {
                input["StartTime"] = json!(s as f64 / 1000.0);
            }
            if let Some(e) = r.end_ms {
                input["EndTime"] = json!(e as f64 / 1000.0);
            }
            if let Some(t) = &r.token {
                input["NextToken"] = json!(t);
            }
            let out = ctx.call(state, CloudTrail, "LookupEvents", input).await?;
            fetched.push(Fetched {
                events: out["Events"].as_array().cloned().unwrap_or_default(),
                next: out["NextToken"].as_str().map(str::to_string),
                end_ms: r.end_ms,
            });
        }
        let (events, next) = cut(fetched);
        shown.extend(events.into_iter().filter(|e| keep(e)));
        cursor = next;
        if cursor.iter().all(Option::is_none) {
            return Ok((shown, None));
        }
        if shown.len() >= SECRET_PAGE_ENTRIES {
            break;
        }
    }
    Ok((shown, Some(cursor)))
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
        let e = entries_of(out["Events"].as_array().unwrap().iter());
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
        let mut events = vec![
            ev("RotationStarted", 10, a),
            ev("RotationStarted", 30, b),
            ev("RotationSucceeded", 20, a),
            ev("RotationFailed", 40, b),
        ];
        sort_newest_first(&mut events);
        let e = entries_of(events.iter());
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

    fn at(name: &str, t: i64) -> Value {
        json!({"EventName": name, "EventTime": t, "CloudTrailEvent": "{}"})
    }

    fn times(events: &[Value]) -> Vec<(String, i64)> {
        events
            .iter()
            .map(|e| (e["EventName"].as_str().unwrap().to_string(), event_secs(e)))
            .collect()
    }

    #[test]
    fn a_merged_page_stops_where_a_lookup_has_more_and_resumes_each_lookup_there() {
        let fetched = vec![
            // Has more (its token): its oldest here, second 50, is as far as the page can go.
            Fetched {
                events: vec![at("A", 90), at("A", 70), at("A", 50)],
                next: Some("tokA".into()),
                end_ms: Some(100_000),
            },
            // All it has, older ones included: those wait for the next page.
            Fetched {
                events: vec![at("B", 80), at("B", 50), at("B", 40), at("B", 10)],
                next: None,
                end_ms: Some(100_000),
            },
            // All it has, all on this page.
            Fetched {
                events: vec![at("C", 60)],
                next: None,
                end_ms: Some(100_000),
            },
        ];
        let (shown, cursor) = cut(fetched);
        let names = |events: &[Value]| -> Vec<String> {
            times(events)
                .iter()
                .map(|(n, t)| format!("{n}{t}"))
                .collect()
        };
        // Second 50 goes whole to the next page (A50 and B50 together).
        assert_eq!(names(&shown), vec!["A90", "B80", "A70", "C60"]);
        let from_50 = Some(Resume {
            end_ms: Some(50_999),
            token: None,
        });
        assert_eq!(cursor, vec![from_50.clone(), from_50, None]);
        // A cursor survives its link.
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Some(cursor));
        assert_eq!(decode_cursor("not a cursor"), None);

        // A burst: more events in one second than a lookup's page. That second is shown;
        // the lookup with more goes on with its token (and its range), the others afresh
        // from before that second.
        let (shown, cursor) = cut(vec![
            Fetched {
                events: vec![at("A", 50), at("A", 50)],
                next: Some("tokA".into()),
                end_ms: Some(100_000),
            },
            Fetched {
                events: vec![at("B", 50), at("B", 20)],
                next: None,
                end_ms: Some(100_000),
            },
        ]);
        assert_eq!(names(&shown), vec!["A50", "A50", "B50"]);
        assert_eq!(
            cursor,
            vec![
                Some(Resume {
                    end_ms: Some(100_000),
                    token: Some("tokA".into())
                }),
                Some(Resume {
                    end_ms: Some(49_999),
                    token: None
                }),
            ]
        );

        // Within one second, a rotation's steps in the order they happen, newest first.
        let mut same = vec![
            at("RotateSecret", 7),
            at("RotationStarted", 7),
            at("RotationSucceeded", 7),
        ];
        sort_newest_first(&mut same);
        assert_eq!(
            names(&same),
            vec!["RotationSucceeded7", "RotationStarted7", "RotateSecret7"]
        );
        // Nothing more anywhere: everything, and no next page.
        let (shown, cursor) = cut(vec![Fetched {
            events: vec![at("A", 5), at("A", 3)],
            next: None,
            end_ms: None,
        }]);
        assert_eq!(shown.len(), 2);
        assert_eq!(cursor, vec![None]);
    }

    #[test]
    fn a_range_comes_from_the_form_or_the_page_before() {
        let q = |pairs: &[(&str, &str)]| -> Params {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let r = Range::of(
            &q(&[
                ("start", "2023-11-14T22:13:20"),
                ("end", "2023-11-14T23:00"),
            ]),
            2,
        )
        .unwrap();
        assert_eq!(r.start_ms, Some(1_700_000_000_000));
        let first = Some(Resume {
            end_ms: Some(1_700_002_800_000),
            token: None,
        });
        assert_eq!(r.cursor, vec![first.clone(), first]);
        let next = encode_cursor(&[None, None]);
        assert_eq!(
            Range::of(&q(&[("next", &next)]), 2).unwrap().cursor,
            vec![None, None]
        );
        // A cursor of another page (another number of lookups) or a bad time is refused.
        assert!(Range::of(&q(&[("next", &next)]), 4).is_err());
        assert!(
            Range::of(&q(&[("end", "yesterday")]), 4)
                .unwrap_err()
                .starts_with("EndTime")
        );
    }

    #[test]
    fn a_secrets_events_are_told_by_its_name_or_arn() {
        let e = json!({"Resources": [{"ResourceName":
            "arn:aws:secretsmanager:us-east-1:1:secret:db-prod-AbCdEf"}]});
        assert!(names_secret(&e, "db-prod"));
        assert!(names_secret(
            &e,
            "arn:aws:secretsmanager:us-east-1:1:secret:db-prod-AbCdEf"
        ));
        assert!(!names_secret(&e, "db"));
        assert!(!names_secret(&e, ""));
        assert!(!names_secret(&json!({}), "db-prod"));
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
