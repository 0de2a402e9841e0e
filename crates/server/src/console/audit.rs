//! The audit search page: CloudTrail's LookupEvents (one lookup attribute and a time range,
//! as AWS allows), paged with its NextToken, each record expandable. Also the paged lookup
//! the access page uses.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::secrets::{date, encode};
use super::{Ctx, Nav, Refusal, html};
use crate::http::AppState;
use crate::http::query::Params;
use crate::pipeline::front::JsonService::CloudTrail;

/// LookupEvents' attribute keys (CloudTrail's LookupAttributeKey).
pub const KEYS: [&str; 8] = [
    "EventName",
    "Username",
    "ResourceName",
    "ResourceType",
    "EventSource",
    "AccessKeyId",
    "ReadOnly",
    "EventId",
];

/// Events per search page (LookupEvents' maximum).
const PAGE: u32 = 50;

/// LookupEvents pages until `max_pages` or the end, newest first; whether more were left.
pub async fn lookup_pages(
    state: &AppState,
    ctx: &Ctx,
    mut input: Value,
    max_pages: usize,
) -> Result<(Vec<Value>, bool), Refusal> {
    input["MaxResults"] = json!(PAGE);
    let mut events = Vec::new();
    for _ in 0..max_pages {
        let out = ctx
            .call(state, CloudTrail, "LookupEvents", input.clone())
            .await?;
        events.extend(out["Events"].as_array().into_iter().flatten().cloned());
        match out["NextToken"].as_str() {
            Some(t) => input["NextToken"] = json!(t),
            None => return Ok((events, false)),
        }
    }
    Ok((events, true))
}

/// A `datetime-local` value (`2026-12-05T22:28` or with seconds), read as UTC, in epoch
/// seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let with_secs = if s.len() == 16 {
        format!("{s}:00")
    } else {
        s.to_string()
    };
    time::PrimitiveDateTime::parse(
        &with_secs,
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()
    .map(|t| t.assume_utc().unix_timestamp())
}

/// LookupEvents' input from the search form: attribute key and value, start and end, page
/// token. A bad field is the form's message.
pub fn search_input(q: &Params) -> Result<Value, String> {
    let field = |k: &str| q.get(k).map(|v| v.trim()).unwrap_or_default();
    let mut input = json!({"MaxResults": PAGE});
    let (key, value) = (field("key"), field("value"));
    if !value.is_empty() {
        if !KEYS.contains(&key) {
            return Err(format!("Choose an attribute among {}.", KEYS.join(", ")));
        }
        input["LookupAttributes"] = json!([{"AttributeKey": key, "AttributeValue": value}]);
    }
    for (f, member) in [("start", "StartTime"), ("end", "EndTime")] {
        let v = field(f);
        if v.is_empty() {
            continue;
        }
        let t = parse_time(v).ok_or_else(|| {
            format!("{member} must be a date and time such as 2026-01-31T13:45 (UTC).")
        })?;
        input[member] = json!(t);
    }
    if let Some(t) = q.get("next").filter(|t| !t.is_empty()) {
        input["NextToken"] = json!(t);
    }
    Ok(input)
}

/// One event as the search page shows it.
pub struct Row {
    pub time: String,
    pub event: String,
    pub who: String,
    pub resource: String,
    pub source: String,
    pub error: String,
    /// The whole record, indented (escaped by the template).
    pub record: String,
}

pub fn rows(events: &[Value]) -> Vec<Row> {
    events
        .iter()
        .map(|e| {
            let record: Value = e["CloudTrailEvent"]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            Row {
                time: date(&e["EventTime"]),
                event: e["EventName"].as_str().unwrap_or_default().into(),
                who: e["Username"].as_str().unwrap_or_default().into(),
                resource: e["Resources"][0]["ResourceName"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                source: e["EventSource"].as_str().unwrap_or_default().into(),
                error: record["errorCode"].as_str().unwrap_or_default().into(),
                record: serde_json::to_string_pretty(&record).unwrap_or_default(),
            }
        })
        .collect()
}

/// An option of a `<select>`.
pub struct Choice {
    pub value: &'static str,
    pub selected: bool,
}

pub fn choices(values: &[&'static str], chosen: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v,
            selected: *v == chosen,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "audit.html")]
struct SearchPage {
    nav: Option<Nav>,
    keys: Vec<Choice>,
    value: String,
    start: String,
    end: String,
    rows: Vec<Row>,
    next_href: Option<String>,
    error: Option<String>,
    refusal: Option<Refusal>,
}

pub async fn search(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    let mut page = SearchPage {
        nav: Some(ctx.nav()),
        keys: choices(&KEYS, &field("key")),
        value: field("value"),
        start: field("start"),
        end: field("end"),
        rows: Vec::new(),
        next_href: None,
        error: None,
        refusal: None,
    };
    let input = match search_input(&q) {
        Ok(i) => i,
        Err(e) => {
            page.error = Some(e);
            return html(&page);
        }
    };
    match ctx.call(&state, CloudTrail, "LookupEvents", input).await {
        Ok(out) => {
            let events: Vec<Value> = out["Events"].as_array().cloned().unwrap_or_default();
            page.rows = rows(&events);
            if let Some(t) = out["NextToken"].as_str() {
                let keep = ["key", "value", "start", "end"]
                    .iter()
                    .filter_map(|k| q.get(*k).map(|v| format!("{k}={}", encode(v))))
                    .chain([format!("next={}", encode(t))])
                    .collect::<Vec<_>>()
                    .join("&");
                page.next_href = Some(format!("/console/audit?{keep}"));
            }
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_form_becomes_lookup_events_input() {
        let i = search_input(&params(&[
            ("key", "EventName"),
            ("value", " GetSecretValue "),
            ("start", "2023-11-14T22:13"),
            ("end", "2023-11-14T23:00:30"),
            ("next", "tok"),
        ]))
        .unwrap();
        assert_eq!(
            i["LookupAttributes"],
            json!([{"AttributeKey": "EventName", "AttributeValue": "GetSecretValue"}])
        );
        assert_eq!(i["StartTime"], json!(1_699_999_980));
        assert_eq!(i["EndTime"], json!(1_699_999_980 + 47 * 60 + 30));
        assert_eq!(
            (i["NextToken"].as_str(), i["MaxResults"].as_u64()),
            (Some("tok"), Some(50))
        );
        // No value: no attribute (every event); an empty form is a plain lookup.
        let i = search_input(&params(&[("key", "EventName")])).unwrap();
        assert!(i.get("LookupAttributes").is_none() && i.get("StartTime").is_none());
    }

    #[test]
    fn a_bad_key_or_time_is_the_forms_message() {
        let e = search_input(&params(&[("key", "Nope"), ("value", "x")])).unwrap_err();
        assert!(e.contains("EventName"));
        let e = search_input(&params(&[("start", "yesterday")])).unwrap_err();
        assert!(e.starts_with("StartTime"));
        assert_eq!(parse_time("2023-11-14T22:13:20"), Some(1_700_000_000));
        assert_eq!(parse_time("2023-13-01T00:00"), None);
    }

    #[test]
    fn rows_carry_the_record_indented() {
        let record = json!({"eventName": "GetSecretValue", "errorCode": "AccessDeniedException",
                            "errorMessage": "<b>no</b>"});
        let events = vec![
            json!({"EventName": "GetSecretValue", "EventTime": 1700000000,
            "Username": "dev", "EventSource": "secretsmanager.amazonaws.com",
            "Resources": [{"ResourceName": "arn:x"}], "CloudTrailEvent": record.to_string()}),
        ];
        let r = rows(&events);
        assert_eq!(
            (r[0].who.as_str(), r[0].resource.as_str()),
            ("dev", "arn:x")
        );
        assert_eq!(r[0].error, "AccessDeniedException");
        assert!(r[0].record.contains("\n  \"errorMessage\": \"<b>no</b>\""));
    }
}
