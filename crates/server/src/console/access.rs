//! Access to a secret, from the audit log: who read it and when (GetSecretValue, and
//! BatchGetSecretValue calls naming it), reads over time as a chart, denied attempts with
//! who and why. Looked up with LookupEvents as the signed-in principal: a caller who may not
//! read the audit log sees CloudTrail's refusal.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::audit::lookup_pages;
use super::charts::{self, DAY, HOUR};
use super::secrets::{date, detail_href, encode};
use super::{Ctx, Nav, Refusal, html};
use crate::http::AppState;

/// The ranges offered, their length in seconds.
const RANGES: [(&str, i64); 3] = [("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)];
/// LookupEvents pages read for one secret (50 events each) and for batch reads.
const SECRET_PAGES: usize = 10;
const BATCH_PAGES: usize = 4;

pub fn access_href(id: &str) -> String {
    format!("/console/secret/access?id={}", encode(id))
}

/// One read of the secret (or attempt).
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub time_s: i64,
    pub time: String,
    pub event: String,
    pub who: String,
    /// The principal's ARN, as recorded.
    pub arn: String,
    pub source_ip: String,
    pub console: bool,
    /// `AccessDenied...`: refused by authorization.
    pub denied: bool,
    /// The error code, empty when the read succeeded.
    pub error: String,
    /// AWS's message for a refusal (which says why).
    pub reason: String,
}

/// A principal's successful reads.
#[derive(Debug, PartialEq)]
pub struct Reader {
    pub arn: String,
    pub who: String,
    pub reads: usize,
    pub last: String,
}

/// A secret's name from its ARN (`...:secret:NAME-AbCdEf` → `NAME`).
pub fn short_name(arn: &str) -> Option<&str> {
    let name = arn.split(":secret:").nth(1)?;
    let (base, suffix) = name.rsplit_once('-')?;
    (suffix.len() == 6).then_some(base)
}

/// Whether a `SecretIdList` entry names the secret `id` (its name or ARN; `arns` are the
/// secret's ARNs seen in its own records).
fn names(entry: &str, id: &str, arns: &[&str]) -> bool {
    entry == id
        || arns.contains(&entry)
        || short_name(entry) == Some(id)
        || short_name(id) == Some(entry)
}

fn record(e: &Value) -> Value {
    e["CloudTrailEvent"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

fn read_of(e: &Value, r: &Value) -> Read {
    let error = r["errorCode"].as_str().unwrap_or_default().to_string();
    Read {
        time_s: e["EventTime"].as_f64().unwrap_or_default() as i64,
        time: date(&e["EventTime"]),
        event: e["EventName"].as_str().unwrap_or_default().into(),
        who: e["Username"].as_str().unwrap_or_default().into(),
        arn: r["userIdentity"]["arn"].as_str().unwrap_or_default().into(),
        source_ip: r["sourceIPAddress"].as_str().unwrap_or_default().into(),
        console: r["sessionCredentialFromConsole"].as_str() == Some("true"),
        denied: error.starts_with("AccessDenied"),
        reason: if error.is_empty() {
            String::new()
        } else {
            r["errorMessage"].as_str().unwrap_or_default().into()
        },
        error,
    }
}

/// The reads of secret `id`: GetSecretValue among its own events, and the BatchGetSecretValue
/// calls whose `SecretIdList` names it (a batch by filters names no secret: not counted).
/// Newest first.
pub fn reads(own: &[Value], batches: &[Value], id: &str) -> Vec<Read> {
    let arns: Vec<&str> = own
        .iter()
        .filter_map(|e| e["Resources"][0]["ResourceName"].as_str())
        .filter(|a| a.starts_with("arn:"))
        .collect();
    let mut out: Vec<Read> = own
        .iter()
        .filter(|e| e["EventName"] == "GetSecretValue")
        .map(|e| read_of(e, &record(e)))
        .collect();
    for e in batches {
        let r = record(e);
        let named = r["requestParameters"]["secretIdList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|entry| names(entry, id, &arns));
        if named {
            out.push(read_of(e, &r));
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.time_s));
    out
}

/// Who read it (successfully): each principal's count and last read, most reads first.
pub fn readers(reads: &[Read]) -> Vec<Reader> {
    let mut by: BTreeMap<&str, Reader> = BTreeMap::new();
    for r in reads.iter().filter(|r| r.error.is_empty()) {
        let key = if r.arn.is_empty() { &r.who } else { &r.arn };
        let e = by.entry(key).or_insert_with(|| Reader {
            arn: r.arn.clone(),
            who: r.who.clone(),
            reads: 0,
            last: r.time.clone(),
        });
        // Newest first: the first seen is the last read.
        e.reads += 1;
    }
    let mut v: Vec<Reader> = by.into_values().collect();
    v.sort_by(|a, b| b.reads.cmp(&a.reads).then(a.arn.cmp(&b.arn)));
    v
}

/// The chart of reads over `[now - span, now)`: one bar per hour or day, denied attempts
/// flagged.
pub fn chart(reads: &[Read], now_s: i64, span_s: i64) -> charts::Chart {
    let events: Vec<(i64, bool)> = reads.iter().map(|r| (r.time_s, r.denied)).collect();
    let width = charts::bucket_width(span_s);
    let mut c = charts::bucket_events(&events, now_s - span_s, now_s + 1, width);
    c.title = format!(
        "Reads per {} (denied attempts flagged)",
        if width == HOUR { "hour" } else { "day" }
    );
    c
}

pub struct RangeLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    nav: Option<Nav>,
    id: String,
    detail_href: String,
    ranges: Vec<RangeLink>,
    per: &'static str,
    chart: String,
    readers: Vec<Reader>,
    denied: Vec<Read>,
    reads: Vec<Read>,
    truncated: bool,
    refusal: Option<Refusal>,
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = q.get("id").cloned().unwrap_or_default();
    let range = q
        .get("range")
        .and_then(|r| RANGES.iter().find(|(l, _)| l == r))
        .unwrap_or(&RANGES[1]);
    let span = range.1;
    let now = state.clock.now_ms().div_euclid(1000);
    let mut page = AccessPage {
        nav: Some(ctx.nav()),
        detail_href: detail_href(&id),
        ranges: RANGES
            .iter()
            .map(|(l, _)| RangeLink {
                label: l,
                href: format!("{}&range={l}", access_href(&id)),
                current: *l == range.0,
            })
            .collect(),
        per: if charts::bucket_width(span) == HOUR {
            "hour"
        } else {
            "day"
        },
        id: id.clone(),
        chart: String::new(),
        readers: Vec::new(),
        denied: Vec::new(),
        reads: Vec::new(),
        truncated: false,
        refusal: None,
    };
    let window = |attr: &str, value: &str| {
        json!({
            "LookupAttributes": [{"AttributeKey": attr, "AttributeValue": value}],
            "StartTime": now - span,
            "EndTime": now + 1,
        })
    };
    let looked = async {
        let own = lookup_pages(&state, &ctx, window("ResourceName", &id), SECRET_PAGES).await?;
        let batches = lookup_pages(
            &state,
            &ctx,
            window("EventName", "BatchGetSecretValue"),
            BATCH_PAGES,
        )
        .await?;
        Ok::<_, Refusal>((own, batches))
    };
    match looked.await {
        Ok(((own, more_own), (batches, more_batches))) => {
            let reads = reads(&own, &batches, &id);
            page.chart = charts::svg(&chart(&reads, now, span));
            page.readers = readers(&reads);
            page.truncated = more_own || more_batches;
            page.denied = reads.iter().filter(|r| r.denied).cloned().collect();
            page.reads = reads;
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-prod-AbCdEf";

    fn event(name: &str, t: i64, user: &str, record: Value) -> Value {
        json!({"EventName": name, "EventTime": t, "Username": user,
               "Resources": [{"ResourceName": ARN}], "CloudTrailEvent": record.to_string()})
    }

    fn identity(user: &str) -> Value {
        json!({"arn": format!("arn:aws:iam::123456789012:user/{user}")})
    }

    #[test]
    fn reads_are_get_secret_value_and_batches_naming_the_secret_newest_first() {
        let own = vec![
            event(
                "GetSecretValue",
                100,
                "alice",
                json!({"userIdentity": identity("alice")}),
            ),
            event("DescribeSecret", 150, "alice", json!({})),
            event(
                "GetSecretValue",
                200,
                "dev",
                json!({"userIdentity": identity("dev"), "errorCode": "AccessDeniedException",
                       "errorMessage": "User: dev is not authorized ... because no identity-based policy allows"}),
            ),
        ];
        let batch = |t: i64, list: Value| {
            json!({"EventName": "BatchGetSecretValue", "EventTime": t, "Username": "bob",
                   "Resources": [], "CloudTrailEvent": json!({"userIdentity": identity("bob"),
                   "requestParameters": {"secretIdList": list}}).to_string()})
        };
        let batches = vec![
            batch(300, json!(["other", "db-prod"])),
            batch(250, json!([ARN])),
            batch(240, json!(["db-prod-other"])),
            // By filters: no list.
            json!({"EventName": "BatchGetSecretValue", "EventTime": 260,
                   "CloudTrailEvent": "{\"requestParameters\":{\"filters\":[]}}"}),
        ];
        let r = reads(&own, &batches, "db-prod");
        let got: Vec<(i64, &str, bool)> = r
            .iter()
            .map(|r| (r.time_s, r.who.as_str(), r.denied))
            .collect();
        assert_eq!(
            got,
            vec![
                (300, "bob", false),
                (250, "bob", false),
                (200, "dev", true),
                (100, "alice", false)
            ]
        );
        assert!(
            r[2].reason
                .contains("because no identity-based policy allows")
        );
        assert_eq!(r[2].error, "AccessDeniedException");

        let who = readers(&r);
        assert_eq!(who.len(), 2, "the denied attempt is no read");
        assert_eq!(
            (who[0].arn.as_str(), who[0].reads),
            ("arn:aws:iam::123456789012:user/bob", 2)
        );
        assert_eq!(who[0].last, date(&json!(300)));
    }

    #[test]
    fn the_chart_counts_reads_per_hour_with_the_denied_flagged() {
        let now = 1_700_000_000; // 22:13:20
        let mk = |t: i64, denied: bool| Read {
            time_s: t,
            time: String::new(),
            event: "GetSecretValue".into(),
            who: String::new(),
            arn: String::new(),
            source_ip: String::new(),
            console: false,
            denied,
            error: if denied {
                "AccessDenied".into()
            } else {
                String::new()
            },
            reason: String::new(),
        };
        let r = vec![
            mk(now, false),
            mk(now - 10, true),
            mk(now - 2 * HOUR, false),
        ];
        let c = chart(&r, now, DAY);
        assert_eq!(c.width_s, HOUR);
        assert_eq!(c.buckets.iter().filter(|b| b.0 > 0.0).count(), 2);
        assert_eq!(c.buckets.last(), Some(&(2.0, 1.0)));
        assert_eq!(chart(&r, now, 7 * DAY).width_s, DAY);
        assert_eq!(short_name(ARN), Some("db-prod"));
        assert_eq!(short_name("db-prod"), None);
    }
}
