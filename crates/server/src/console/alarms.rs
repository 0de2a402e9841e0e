//! CloudWatch alarms: the list (DescribeAlarms), create / edit (PutMetricAlarm), delete
//! (DeleteAlarms), and an alarm's page: its metric as a chart with the threshold line
//! (GetMetricStatistics, drawn by [`super::charts`]) and its state history
//! (DescribeAlarmHistory). Every call as the signed-in principal.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::audit::{Choice, choices};
use super::charts::{self, number};
use super::secrets::{date, encode};
use super::{Ctx, Nav, Refusal, html, redirect};
use crate::http::AppState;
use crate::http::query::Params;
use crate::pipeline::front::JsonService::CloudWatch;
use crate::services::cloudwatch::alarms::{COMPARISONS, compare};

const NAMESPACES: [&str; 2] = ["AWS/SecretsManager", "AWS/SSM"];
const STATISTICS: [&str; 5] = ["Sum", "SampleCount", "Average", "Minimum", "Maximum"];
const MISSING: [&str; 4] = ["missing", "notBreaching", "breaching", "ignore"];
/// Periods drawn on an alarm's chart.
const CHART_PERIODS: i64 = 60;

pub fn alarm_href(name: &str) -> String {
    format!("/console/alarm?name={}", encode(name))
}

fn edit_href(name: &str) -> String {
    format!("/console/alarms/edit?name={}", encode(name))
}

/// An alarm as the pages show it (and as the form holds it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alarm {
    pub name: String,
    pub href: String,
    pub edit_href: String,
    pub description: String,
    pub namespace: String,
    pub metric: String,
    pub statistic: String,
    pub period: String,
    pub evaluation_periods: String,
    pub threshold: String,
    pub comparison: String,
    pub treat_missing: String,
    /// SNS topic ARNs, one per line.
    pub actions: String,
    pub state: String,
    pub reason: String,
    pub updated: String,
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn num(v: &Value) -> String {
    v.as_f64().map(number).unwrap_or_default()
}

/// DescribeAlarms' MetricAlarm as shown.
pub fn alarm_of(a: &Value) -> Alarm {
    let name = text(a, "AlarmName");
    Alarm {
        href: alarm_href(&name),
        edit_href: edit_href(&name),
        description: text(a, "AlarmDescription"),
        namespace: text(a, "Namespace"),
        metric: text(a, "MetricName"),
        statistic: text(a, "Statistic"),
        period: num(&a["Period"]),
        evaluation_periods: num(&a["EvaluationPeriods"]),
        threshold: num(&a["Threshold"]),
        comparison: text(a, "ComparisonOperator"),
        treat_missing: text(a, "TreatMissingData"),
        actions: a["AlarmActions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        state: text(a, "StateValue"),
        reason: text(a, "StateReason"),
        updated: date(&a["StateUpdatedTimestamp"]),
        name,
    }
}

/// PutMetricAlarm's input from the form; a field that is not a number is the form's message
/// (the rest, e.g. the name's length or an unknown statistic, CloudWatch itself checks).
pub fn put_input(form: &Params) -> Result<Value, String> {
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or_default();
    let int = |k: &str, what: &str| {
        field(k)
            .parse::<i64>()
            .map_err(|_| format!("{what} must be a whole number."))
    };
    let threshold: f64 = field("threshold")
        .parse()
        .ok()
        .filter(|t: &f64| t.is_finite())
        .ok_or("The threshold must be a number.")?;
    let mut input = json!({
        "AlarmName": field("name"),
        "Namespace": field("namespace"),
        "MetricName": field("metric"),
        "Statistic": field("statistic"),
        "Period": int("period", "The period")?,
        "EvaluationPeriods": int("evaluation_periods", "Evaluation periods")?,
        "Threshold": threshold,
        "ComparisonOperator": field("comparison"),
        "AlarmActions": field("actions").split_whitespace().collect::<Vec<_>>(),
    });
    if !field("description").is_empty() {
        input["AlarmDescription"] = json!(field("description"));
    }
    if !field("treat_missing").is_empty() {
        input["TreatMissingData"] = json!(field("treat_missing"));
    }
    Ok(input)
}

/// The alarm's metric over its last [`CHART_PERIODS`] periods (ending now), each period's
/// statistic a bar, breaching ones flagged, and the threshold line.
pub fn chart(alarm: &Alarm, points: &Value, now_s: i64) -> charts::Chart {
    let period = alarm.period.parse::<i64>().unwrap_or(60).max(1);
    let (start, end) = chart_range(period, now_s);
    let threshold = alarm.threshold.parse::<f64>().unwrap_or_default();
    let values: Vec<(i64, f64)> = points["Datapoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["Timestamp"].as_f64()? as i64,
                p[&alarm.statistic].as_f64()?,
            ))
        })
        .collect();
    let mut c = charts::bucket_values(&values, start, end, period, |v| {
        compare(&alarm.comparison, v, threshold)
    });
    c.title = format!(
        "{} {} per {} seconds, threshold {}",
        alarm.metric, alarm.statistic, period, alarm.threshold
    );
    c.threshold = Some(threshold);
    c
}

/// `[start, end)` of the chart: whole periods, the current one last.
pub fn chart_range(period: i64, now_s: i64) -> (i64, i64) {
    let end = (now_s.div_euclid(period) + 1) * period;
    (end - CHART_PERIODS * period, end)
}

/// One item of DescribeAlarmHistory.
pub struct HistoryItem {
    pub time: String,
    pub kind: String,
    pub summary: String,
}

pub fn history(out: &Value) -> Vec<HistoryItem> {
    out["AlarmHistoryItems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| HistoryItem {
            time: date(&h["Timestamp"]),
            kind: text(h, "HistoryItemType"),
            summary: text(h, "HistorySummary"),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "alarms.html")]
struct ListPage {
    nav: Option<Nav>,
    alarms: Vec<Alarm>,
    refusal: Option<Refusal>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, _) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = ListPage {
        nav: Some(ctx.nav()),
        alarms: Vec::new(),
        refusal: None,
    };
    match ctx
        .call(&state, CloudWatch, "DescribeAlarms", json!({}))
        .await
    {
        Ok(out) => {
            page.alarms = out["MetricAlarms"]
                .as_array()
                .into_iter()
                .flatten()
                .map(alarm_of)
                .collect()
        }
        Err(r) => page.refusal = Some(r),
    }
    html(&page)
}

#[derive(Template)]
#[template(path = "alarm_form.html")]
struct FormPage {
    nav: Option<Nav>,
    csrf: String,
    /// Editing an existing alarm (its name is fixed).
    editing: bool,
    alarm: Alarm,
    namespaces: Vec<Choice>,
    statistics: Vec<Choice>,
    comparisons: Vec<Choice>,
    missing: Vec<Choice>,
    /// The metric with the threshold, as the form holds them.
    chart: String,
    error: Option<String>,
    refusal: Option<Refusal>,
}

impl FormPage {
    fn new(ctx: &Ctx, editing: bool, alarm: Alarm) -> Self {
        Self {
            nav: Some(ctx.nav()),
            csrf: ctx.csrf.clone(),
            editing,
            namespaces: choices(&NAMESPACES, &alarm.namespace),
            statistics: choices(&STATISTICS, &alarm.statistic),
            comparisons: choices(COMPARISONS, &alarm.comparison),
            missing: choices(&MISSING, &alarm.treat_missing),
            alarm,
            chart: String::new(),
            error: None,
            refusal: None,
        }
    }

    /// The chart of the metric and threshold the form holds (a refusal to read the metric
    /// is shown instead).
    async fn with_chart(&mut self, state: &AppState, ctx: &Ctx) {
        match metric_chart(state, ctx, &self.alarm).await {
            Ok(svg) => self.chart = svg,
            Err(r) => self.refusal = Some(r),
        }
    }
}

/// The form: blank (seed 003's alarm on GetSecretValue as the example) or an alarm's.
pub async fn form(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = q.get("name").cloned().unwrap_or_default();
    if name.is_empty() {
        let blank = Alarm {
            namespace: "AWS/SecretsManager".into(),
            metric: "GetSecretValue".into(),
            statistic: "Sum".into(),
            period: "300".into(),
            evaluation_periods: "1".into(),
            threshold: "100".into(),
            comparison: "GreaterThanThreshold".into(),
            treat_missing: "notBreaching".into(),
            ..Default::default()
        };
        let mut page = FormPage::new(&ctx, false, blank);
        page.with_chart(&state, &ctx).await;
        return html(&page);
    }
    match describe(&state, &ctx, &name).await {
        Ok(Some(a)) => {
            let mut page = FormPage::new(&ctx, true, a);
            page.with_chart(&state, &ctx).await;
            html(&page)
        }
        Ok(None) => {
            let mut p = FormPage::new(&ctx, false, Alarm::default());
            p.error = Some(format!("No alarm is named {name}."));
            html(&p)
        }
        Err(r) => {
            let mut p = FormPage::new(&ctx, false, Alarm::default());
            p.refusal = Some(r);
            html(&p)
        }
    }
}

/// The alarm of this name, if any.
async fn describe(state: &AppState, ctx: &Ctx, name: &str) -> Result<Option<Alarm>, Refusal> {
    let out = ctx
        .call(
            state,
            CloudWatch,
            "DescribeAlarms",
            json!({"AlarmNames": [name]}),
        )
        .await?;
    Ok(out["MetricAlarms"]
        .as_array()
        .and_then(|a| a.first())
        .map(alarm_of))
}

/// The alarm's metric as an SVG chart with its threshold (GetMetricStatistics as the caller).
async fn metric_chart(state: &AppState, ctx: &Ctx, alarm: &Alarm) -> Result<String, Refusal> {
    let now = state.clock.now_ms().div_euclid(1000);
    let period = alarm.period.parse::<i64>().unwrap_or(60).max(1);
    let (start, end) = chart_range(period, now);
    let stats = json!({
        "Namespace": alarm.namespace, "MetricName": alarm.metric,
        "StartTime": start, "EndTime": end, "Period": period,
        "Statistics": [alarm.statistic],
    });
    let points = ctx
        .call(state, CloudWatch, "GetMetricStatistics", stats)
        .await?;
    Ok(charts::svg(&chart(alarm, &points, now)))
}

/// The alarm the form describes, as typed.
fn typed(form: &Params) -> Alarm {
    let field = |k: &str| super::form_field(form, k);
    Alarm {
        name: field("name"),
        description: field("description"),
        namespace: field("namespace"),
        metric: field("metric"),
        statistic: field("statistic"),
        period: field("period"),
        evaluation_periods: field("evaluation_periods"),
        threshold: field("threshold"),
        comparison: field("comparison"),
        treat_missing: field("treat_missing"),
        actions: field("actions"),
        ..Default::default()
    }
}

/// The form again with the chart of what it describes (a POST only so the CSRF token stays
/// out of the URL; nothing is changed).
pub async fn preview(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = FormPage::new(&ctx, form.contains_key("editing"), typed(&form));
    page.with_chart(&state, &ctx).await;
    html(&page)
}

/// Create or update (PutMetricAlarm replaces an alarm of the same name).
pub async fn save(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // What was typed, to show again if refused.
    let typed = typed(&form);
    let editing = form.contains_key("editing");
    let input = match put_input(&form) {
        Ok(i) => i,
        Err(e) => {
            let mut p = FormPage::new(&ctx, editing, typed);
            p.error = Some(e);
            return html(&p);
        }
    };
    match ctx.call(&state, CloudWatch, "PutMetricAlarm", input).await {
        Ok(_) => redirect(&alarm_href(&typed.name)),
        Err(r) => {
            let mut p = FormPage::new(&ctx, editing, typed);
            p.refusal = Some(r);
            html(&p)
        }
    }
}

#[derive(Template)]
#[template(path = "alarm.html")]
struct DetailPage {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    alarm: Option<Alarm>,
    chart: String,
    history: Vec<HistoryItem>,
    /// A refusal of the alarm itself, its metric, or its history.
    refusal: Option<Refusal>,
}

pub async fn detail(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, q) = match Ctx::get(&state, peer, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = q.get("name").cloned().unwrap_or_default();
    let mut page = DetailPage {
        nav: Some(ctx.nav()),
        csrf: ctx.csrf.clone(),
        name: name.clone(),
        alarm: None,
        chart: String::new(),
        history: Vec::new(),
        refusal: None,
    };
    let alarm = match describe(&state, &ctx, &name).await {
        Ok(Some(a)) => a,
        Ok(None) => return html(&page),
        Err(r) => {
            page.refusal = Some(r);
            return html(&page);
        }
    };
    match metric_chart(&state, &ctx, &alarm).await {
        Ok(svg) => page.chart = svg,
        Err(r) => page.refusal = Some(r),
    }
    match ctx
        .call(
            &state,
            CloudWatch,
            "DescribeAlarmHistory",
            json!({"AlarmName": name, "MaxRecords": 50}),
        )
        .await
    {
        Ok(out) => page.history = history(&out),
        Err(r) => page.refusal = page.refusal.or(Some(r)),
    }
    page.alarm = Some(alarm);
    html(&page)
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&state, peer, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = form.get("name").cloned().unwrap_or_default();
    match ctx
        .call(
            &state,
            CloudWatch,
            "DeleteAlarms",
            json!({"AlarmNames": [name]}),
        )
        .await
    {
        Ok(_) => redirect("/console/alarms"),
        Err(r) => html(&ListPage {
            nav: Some(ctx.nav()),
            alarms: Vec::new(),
            refusal: Some(r),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_form_becomes_put_metric_alarm_input() {
        let f = form(&[
            ("name", "too-many-reads"),
            ("namespace", "AWS/SecretsManager"),
            ("metric", "GetSecretValue"),
            ("statistic", "Sum"),
            ("period", "300"),
            ("evaluation_periods", " 2 "),
            ("threshold", "42.5"),
            ("comparison", "GreaterThanThreshold"),
            ("treat_missing", "notBreaching"),
            (
                "actions",
                "arn:aws:sns:us-east-1:1:a\r\narn:aws:sns:us-east-1:1:b",
            ),
        ]);
        let i = put_input(&f).unwrap();
        assert_eq!(i["Period"], json!(300));
        assert_eq!(i["EvaluationPeriods"], json!(2));
        assert_eq!(i["Threshold"], json!(42.5));
        assert_eq!(i["TreatMissingData"], json!("notBreaching"));
        assert_eq!(
            i["AlarmActions"],
            json!(["arn:aws:sns:us-east-1:1:a", "arn:aws:sns:us-east-1:1:b"])
        );
        assert!(i.get("AlarmDescription").is_none());
        let mut bad = f.clone();
        bad.insert("threshold".into(), "lots".into());
        assert!(put_input(&bad).unwrap_err().contains("threshold"));
        bad.insert("threshold".into(), "NaN".into());
        assert!(put_input(&bad).is_err());
        let mut bad = f;
        bad.insert("period".into(), "5m".into());
        assert!(put_input(&bad).unwrap_err().contains("period"));
    }

    #[test]
    fn the_chart_places_datapoints_in_periods_and_flags_the_breaching() {
        let a = Alarm {
            metric: "GetSecretValue".into(),
            statistic: "Sum".into(),
            period: "60".into(),
            threshold: "2".into(),
            comparison: "GreaterThanThreshold".into(),
            ..Default::default()
        };
        let now = 1_700_000_000; // 22:13:20: the current minute is 22:13
        let (start, end) = chart_range(60, now);
        assert_eq!((end - start, end % 60, end > now), (3600, 0, true));
        let points = json!({"Datapoints": [
            {"Timestamp": 1_699_999_980.0, "Sum": 3.0},
            {"Timestamp": 1_699_999_920.0, "Sum": 1.0},
        ]});
        let c = chart(&a, &points, now);
        assert_eq!(c.buckets.len(), 60);
        assert_eq!(c.buckets[59], (3.0, 3.0));
        assert_eq!(c.buckets[58], (1.0, 0.0));
        assert_eq!(c.threshold, Some(2.0));
        assert!(charts::svg(&c).contains("data-threshold=\"2\""));
    }

    #[test]
    fn an_alarm_reads_from_describe_alarms() {
        let a = alarm_of(
            &json!({"AlarmName": "a b", "Period": 300, "Threshold": 100.0,
            "EvaluationPeriods": 1, "AlarmActions": ["x", "y"], "StateValue": "OK"}),
        );
        assert_eq!(
            (a.period.as_str(), a.threshold.as_str(), a.actions.as_str()),
            ("300", "100", "x\ny")
        );
        assert_eq!(a.href, "/console/alarm?name=a%20b");
    }
}
