//! Amazon CloudWatch, the subset Strongroom needs: alarms on its own API-call metrics
//! (seed 003: `aws cloudwatch put-metric-alarm --metric-name GetSecretValue --namespace
//! AWS/SecretsManager ...`). Served in the JSON 1.0 protocol (`X-Amz-Target:
//! GraniteServiceVersion20100801.<Op>`, `x-amzn-query-mode: true`), which today's AWS CLI and
//! boto3 send; the CBOR and Query protocols are not offered yet.
//!
//! [`metrics`] counts calls per minute; [`alarms`] decides states; this module holds the
//! alarms, answers the operations, evaluates alarms on a timer and fires their actions
//! (SNS topic ARNs mapped to webhooks in the server's configuration, Slack's payload).

pub mod alarms;
mod error;
pub use error::CwError;
mod api;
mod history;
pub mod metrics;
pub mod ops;

use crate::pipeline::Operation as _;
use ops::Op;
pub mod protocol;
mod shapes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::Deserialize;
use serde_json::{Value, json};

use strongroom_store::Store;

use crate::audit::Auditor;
use crate::clock::Clock;
use alarms::{Alarm, State};
use metrics::{MetricKey, MetricStore};

pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
pub const NAMESPACE_SECRETS_MANAGER: &str = "AWS/SecretsManager";
pub const NAMESPACE_SSM: &str = "AWS/SSM";

/// An SNS topic ARN and where its notifications go.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Webhook {
    pub topic_arn: String,
    /// `https://` (or, on a trusted network, `http://`) URL.
    pub url: String,
    /// PEM certificates to trust for an `https://` URL instead of the system's roots (a
    /// private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// `slack` (an incoming-webhook `{"text": ...}` payload) or `json` (the alarm state).
    #[serde(default = "slack")]
    pub format: String,
}

fn slack() -> String {
    "slack".into()
}

pub struct CloudWatch {
    metrics: Mutex<MetricStore>,
    alarms: RwLock<BTreeMap<String, Alarm>>,
    /// Bumped by every change this node makes to `alarms`: a re-read (another node's change)
    /// that began before one is not installed over it.
    generation: std::sync::atomic::AtomicU64,
    clock: Arc<dyn Clock>,
    region: String,
    account_id: String,
    webhooks: Vec<Webhook>,
    audit: Arc<Auditor>,
    /// Where alarms persist (datapoints are in memory only).
    store: Arc<dyn Store>,
    /// One save at a time, each writing the alarms it names as they are when it runs: the
    /// store always ends with the newest copy (requests and the evaluation loop both save).
    save_lock: tokio::sync::Mutex<()>,
}

fn invalid(m: impl Into<String>) -> CwError {
    CwError::InvalidParameterValue(m.into())
}

fn missing(member: &str) -> CwError {
    CwError::MissingParameter(format!("The parameter {member} is required."))
}

use crate::services::input::epoch_seconds as ts;

fn dimensions(v: Option<&Value>) -> Result<Vec<(String, String)>, CwError> {
    let mut out = Vec::new();
    for d in v.and_then(Value::as_array).into_iter().flatten() {
        let name = d
            .get("Name")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("Dimensions.Name"))?;
        let value = d
            .get("Value")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("Dimensions.Value"))?;
        out.push((name.to_string(), value.to_string()));
    }
    out.sort();
    Ok(out)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

impl CloudWatch {
    /// Alarms from the store. A data directory from before alarms moved into the store has
    /// them in `alarms.json`: they are imported once (the file is then renamed
    /// `alarms.json.imported`).
    pub async fn load(
        clock: Arc<dyn Clock>,
        region: String,
        account_id: String,
        webhooks: Vec<Webhook>,
        audit: Arc<Auditor>,
        store: Arc<dyn Store>,
        data_dir: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let mut alarms = BTreeMap::new();
        for (name, doc) in store.alarms().await.map_err(|e| e.to_string())? {
            let alarm: Alarm = serde_json::from_str(&doc)
                .map_err(|e| format!("stored alarm {name:?} is malformed: {e}"))?;
            alarms.insert(name, alarm);
        }
        if let Some(legacy) = data_dir.map(|d| d.join("alarms.json")) {
            match tokio::fs::read(&legacy).await {
                Ok(bytes) => {
                    let old: BTreeMap<String, Alarm> = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("{} is malformed: {e}", legacy.display()))?;
                    let mut put = Vec::new();
                    for (name, alarm) in old {
                        if let std::collections::btree_map::Entry::Vacant(slot) =
                            alarms.entry(name.clone())
                        {
                            put.push((
                                name,
                                serde_json::to_string(&alarm).map_err(|e| e.to_string())?,
                            ));
                            slot.insert(alarm);
                        }
                    }
                    store
                        .write_alarms(&put, &[])
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::fs::rename(&legacy, legacy.with_extension("json.imported"))
                        .await
                        .map_err(|e| format!("cannot rename {}: {e}", legacy.display()))?;
                    tracing::info!(alarms = put.len(), "imported alarms.json into the store");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", legacy.display())),
            }
        }
        Ok(Self {
            metrics: Mutex::default(),
            alarms: RwLock::new(alarms),
            generation: Default::default(),
            clock,
            region,
            account_id,
            webhooks,
            audit,
            store,
            save_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Persist the named alarms as they are now (an absent one is deleted).
    async fn save(&self, names: &[String]) -> Result<(), CwError> {
        let _saving = self.save_lock.lock().await;
        let (put, delete) = {
            let alarms = self.read();
            let mut put = Vec::new();
            let mut delete = Vec::new();
            for name in names {
                match alarms.get(name) {
                    Some(a) => put.push((
                        name.clone(),
                        serde_json::to_string(a)
                            .map_err(|e| CwError::Serialization(e.to_string()))?,
                    )),
                    None => delete.push(name.clone()),
                }
            }
            (put, delete)
        };
        self.store.write_alarms(&put, &delete).await.map_err(|e| {
            tracing::error!(error = %e, "could not save alarms");
            CwError::Internal
        })
    }

    /// Count one API call (the HTTP front calls this for every Secrets Manager and SSM operation).
    pub fn record_call(&self, namespace: &str, operation: &str, at_ms: i64) {
        let key = MetricKey {
            namespace: namespace.to_string(),
            name: operation.to_string(),
            dimensions: Vec::new(),
        };
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(key, at_ms);
    }

    /// IAM action and resource: alarms by ARN, everything else account-wide.
    pub fn authorization_target(&self, operation: &str, body: &[u8]) -> (String, String) {
        let resource = match operation {
            "PutMetricAlarm" | "SetAlarmState" => serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("AlarmName")?.as_str().map(|n| self.alarm_arn(n)))
                .unwrap_or_else(|| "*".into()),
            _ => "*".into(),
        };
        (format!("cloudwatch:{operation}"), resource)
    }

    fn alarm_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:cloudwatch:{}:{}:alarm:{name}",
            strongroom_domain::partition_of(&self.region),
            self.region,
            self.account_id
        )
    }

    pub async fn call(&self, op: Op, body: &[u8]) -> Result<Vec<u8>, CwError> {
        let input: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| CwError::Serialization(format!("The request body is not JSON: {e}")))?
        };
        let out = match op {
            Op::PutMetricAlarm => self.put_metric_alarm(&input).await?,
            Op::DescribeAlarms => self.describe_alarms(&input)?,
            Op::DeleteAlarms => self.delete_alarms(&input).await?,
            Op::SetAlarmState => self.set_alarm_state(&input).await?,
            Op::GetMetricStatistics => self.get_metric_statistics(&input)?,
            Op::GetMetricData => self.get_metric_data(&input)?,
            Op::ListMetrics => self.list_metrics(&input),
            Op::DescribeAlarmHistory => self.describe_alarm_history(&input).await?,
            other => {
                return Err(CwError::UnknownOperation(format!(
                    "CloudWatch operation {} is not offered by this server (alarms on its API-call metrics are).",
                    other.name()
                )));
            }
        };
        serde_json::to_vec(&out).map_err(|e| CwError::Serialization(e.to_string()))
    }

    async fn put_metric_alarm(&self, v: &Value) -> Result<Value, CwError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let name = s("AlarmName").ok_or_else(|| missing("AlarmName"))?;
        if name.is_empty() || name.chars().count() > 255 {
            return Err(invalid("AlarmName must be 1 to 255 characters."));
        }
        let metric_name = s("MetricName").ok_or_else(|| missing("MetricName"))?;
        let namespace = s("Namespace").ok_or_else(|| missing("Namespace"))?;
        let period = v
            .get("Period")
            .and_then(Value::as_i64)
            .ok_or_else(|| missing("Period"))?;
        if period < 10 || (period > 30 && period % 60 != 0) {
            return Err(invalid(
                "The parameter Period must be 10, 20, 30 or a multiple of 60.",
            ));
        }
        let evaluation_periods = v
            .get("EvaluationPeriods")
            .and_then(Value::as_i64)
            .ok_or_else(|| missing("EvaluationPeriods"))?;
        if evaluation_periods < 1 || period * evaluation_periods > 7 * 86_400 {
            return Err(invalid(
                "EvaluationPeriods must be at least 1 and Period × EvaluationPeriods at most 7 days.",
            ));
        }
        let threshold = v
            .get("Threshold")
            .and_then(Value::as_f64)
            .ok_or_else(|| missing("Threshold"))?;
        let comparison = s("ComparisonOperator").ok_or_else(|| missing("ComparisonOperator"))?;
        if !alarms::COMPARISONS.contains(&comparison) {
            return Err(invalid(format!(
                "Invalid value for ComparisonOperator: {comparison}; use one of {}.",
                alarms::COMPARISONS.join(", ")
            )));
        }
        // The seed omits --statistic: Sum.
        let statistic = s("Statistic").unwrap_or("Sum");
        if !["Sum", "SampleCount", "Average", "Minimum", "Maximum"].contains(&statistic) {
            return Err(invalid(format!(
                "Invalid value for Statistic: {statistic}."
            )));
        }
        let now = self.clock.now_ms();
        let previous = self.read().get(name).cloned();
        let alarm = Alarm {
            name: name.to_string(),
            arn: self.alarm_arn(name),
            description: s("AlarmDescription").map(str::to_owned),
            actions_enabled: v
                .get("ActionsEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            ok_actions: strings(v.get("OKActions")),
            alarm_actions: strings(v.get("AlarmActions")),
            insufficient_data_actions: strings(v.get("InsufficientDataActions")),
            metric: MetricKey {
                namespace: namespace.to_string(),
                name: metric_name.to_string(),
                dimensions: dimensions(v.get("Dimensions"))?,
            },
            statistic: statistic.to_string(),
            period_secs: period,
            evaluation_periods,
            threshold,
            comparison: comparison.to_string(),
            treat_missing_data: s("TreatMissingData").map(str::to_owned),
            // Updating an alarm keeps its state until the next evaluation.
            state: previous
                .as_ref()
                .map_or(State::InsufficientData, |p| p.state),
            state_reason: previous.as_ref().map_or_else(
                || "Unchecked: Initial alarm creation".into(),
                |p| p.state_reason.clone(),
            ),
            state_updated_ms: previous.as_ref().map_or(now, |p| p.state_updated_ms),
            configuration_updated_ms: now,
        };
        for arn in alarm
            .alarm_actions
            .iter()
            .chain(&alarm.ok_actions)
            .chain(&alarm.insufficient_data_actions)
        {
            // A topic of this region's partition, as AWS accepts no other.
            let sns = format!("arn:{}:sns:", strongroom_domain::partition_of(&self.region));
            if !arn.starts_with(&sns) {
                return Err(invalid(format!(
                    "Invalid action {arn}: only SNS topic ARNs (mapped to webhooks) are supported."
                )));
            }
        }
        self.write().insert(name.to_string(), alarm);
        self.save(&[name.to_string()]).await?;
        // Evaluate at once, as CloudWatch does shortly after creation.
        self.evaluate_one(name).await;
        Ok(json!({}))
    }

    /// Several nodes: this node's API-call counts changed since last time, to share.
    pub fn take_unshared(&self) -> Vec<metrics::Datapoint> {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_unshared()
    }

    /// Several nodes: counts that could not be shared, to try again.
    pub fn unshare(&self, points: &[metrics::Datapoint]) {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unshare(points);
    }

    /// Several nodes: the other nodes' counts.
    pub fn set_others(&self, points: Vec<metrics::Datapoint>) {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_others(points);
    }

    /// Several nodes: read the alarms again (another node changed them).
    pub async fn refresh(&self) -> Result<(), String> {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            let seen = self.generation.load(SeqCst);
            let mut alarms = BTreeMap::new();
            for (name, doc) in self.store.alarms().await.map_err(|e| e.to_string())? {
                let alarm: Alarm = serde_json::from_str(&doc)
                    .map_err(|e| format!("stored alarm {name:?} is malformed: {e}"))?;
                alarms.insert(name, alarm);
            }
            let mut live = self.alarms.write().unwrap_or_else(|e| e.into_inner());
            // A change of this node's own since the read began: read again.
            if self.generation.load(SeqCst) == seen {
                *live = alarms;
                return Ok(());
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Alarm>> {
        self.alarms.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Alarm>> {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.alarms.write().unwrap_or_else(|e| e.into_inner())
    }

    fn describe_alarms(&self, v: &Value) -> Result<Value, CwError> {
        let names = strings(v.get("AlarmNames"));
        let prefix = v.get("AlarmNamePrefix").and_then(Value::as_str);
        let state = match v.get("StateValue").and_then(Value::as_str) {
            Some(s) => {
                Some(State::parse(s).ok_or_else(|| invalid(format!("Invalid StateValue {s}.")))?)
            }
            None => None,
        };
        let alarms: Vec<Value> = self
            .read()
            .values()
            .filter(|a| names.is_empty() || names.contains(&a.name))
            .filter(|a| prefix.is_none_or(|p| a.name.starts_with(p)))
            .filter(|a| state.is_none_or(|s| a.state == s))
            .map(alarm_json)
            .collect();
        Ok(json!({ "MetricAlarms": alarms, "CompositeAlarms": [] }))
    }

    async fn delete_alarms(&self, v: &Value) -> Result<Value, CwError> {
        let names = strings(v.get("AlarmNames"));
        {
            let mut alarms = self.write();
            if let Some(missing) = names.iter().find(|n| !alarms.contains_key(*n)) {
                return Err(CwError::ResourceNotFound(format!(
                    "An alarm named {missing} does not exist."
                )));
            }
            for n in &names {
                alarms.remove(n);
            }
        }
        self.save(&names).await?;
        Ok(json!({}))
    }

    async fn set_alarm_state(&self, v: &Value) -> Result<Value, CwError> {
        let name = v
            .get("AlarmName")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("AlarmName"))?;
        let state = v
            .get("StateValue")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("StateValue"))?;
        let state =
            State::parse(state).ok_or_else(|| invalid(format!("Invalid StateValue {state}.")))?;
        let reason = v
            .get("StateReason")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("StateReason"))?;
        if !self.read().contains_key(name) {
            return Err(CwError::ResourceNotFound(format!(
                "An alarm named {name} does not exist."
            )));
        }
        self.transition(name, state, reason.to_string()).await;
        Ok(json!({}))
    }

    fn get_metric_statistics(&self, v: &Value) -> Result<Value, CwError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let namespace = s("Namespace").ok_or_else(|| missing("Namespace"))?;
        let name = s("MetricName").ok_or_else(|| missing("MetricName"))?;
        let start = v
            .get("StartTime")
            .and_then(Value::as_f64)
            .ok_or_else(|| missing("StartTime"))?;
        let end = v
            .get("EndTime")
            .and_then(Value::as_f64)
            .ok_or_else(|| missing("EndTime"))?;
        let period = v
            .get("Period")
            .and_then(Value::as_i64)
            .ok_or_else(|| missing("Period"))?;
        if period < 1 || (period >= 60 && period % 60 != 0) {
            return Err(invalid("The parameter Period must be a multiple of 60."));
        }
        let statistics = strings(v.get("Statistics"));
        if statistics.is_empty() {
            return Err(CwError::InvalidParameterValue(
                "Statistics or ExtendedStatistics must be specified.".into(),
            ));
        }
        let (start_ms, end_ms) = ((start * 1000.0) as i64, (end * 1000.0) as i64);
        if end_ms <= start_ms {
            return Err(invalid(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        if (end_ms - start_ms) / (period * 1000) > 1440 {
            return Err(invalid(
                "You have requested up to 1,440 datapoints, which exceeds the limit of 1,440.",
            ));
        }
        let key = MetricKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions: dimensions(v.get("Dimensions"))?,
        };
        let metrics = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        let mut points = Vec::new();
        let mut t = start_ms;
        while t < end_ms {
            let stats = metrics.stats(&key, t, (t + period * 1000).min(end_ms));
            // Periods without calls have no datapoint, as in CloudWatch.
            if stats.sample_count > 0 {
                let mut p = serde_json::Map::new();
                p.insert("Timestamp".into(), json!(ts(t)));
                for st in &statistics {
                    let value = stats
                        .get(st)
                        .ok_or_else(|| invalid(format!("Invalid statistic {st}.")))?;
                    p.insert(st.clone(), json!(value));
                }
                p.insert("Unit".into(), json!("Count"));
                points.push(Value::Object(p));
            }
            t += period * 1000;
        }
        Ok(json!({ "Label": name, "Datapoints": points }))
    }

    /// GetMetricData over the API-call metrics: `MetricStat` queries (metric math
    /// expressions are refused, not approximated). Periods without calls have no value.
    fn get_metric_data(&self, v: &Value) -> Result<Value, CwError> {
        let time = |k: &str| {
            v.get(k)
                .and_then(Value::as_f64)
                .map(|t| (t * 1000.0) as i64)
                .ok_or_else(|| missing(k))
        };
        let (start_ms, end_ms) = (time("StartTime")?, time("EndTime")?);
        if end_ms <= start_ms {
            return Err(invalid(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let ascending = match v.get("ScanBy").and_then(Value::as_str) {
            None | Some("TimestampDescending") => false,
            Some("TimestampAscending") => true,
            Some(other) => return Err(invalid(format!("Invalid ScanBy {other:?}."))),
        };
        let queries = v
            .get("MetricDataQueries")
            .and_then(Value::as_array)
            .filter(|q| !q.is_empty())
            .ok_or_else(|| missing("MetricDataQueries"))?;
        if queries.len() > 500 {
            return Err(invalid(
                "The collection MetricDataQueries must not have more than 500 members.",
            ));
        }
        let metrics = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        let mut results = Vec::new();
        for q in queries {
            let id = q
                .get("Id")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("MetricDataQueries.member.N.Id"))?;
            let mut chars = id.chars();
            if !chars.next().is_some_and(|c| c.is_ascii_lowercase())
                || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(invalid(format!(
                    "The value {id} for parameter MetricDataQueries.member.N.Id is invalid: it must start with a lowercase letter and contain only letters, numbers and underscores."
                )));
            }
            if q.get("Expression").is_some() {
                return Err(invalid(format!(
                    "Query {id}: metric math expressions are not supported by this server; use MetricStat."
                )));
            }
            let stat = q.get("MetricStat").ok_or_else(|| {
                invalid(format!(
                    "Query {id} must have either an Expression or a MetricStat."
                ))
            })?;
            let metric = stat
                .get("Metric")
                .ok_or_else(|| missing("MetricStat.Metric"))?;
            let field = |k: &str| {
                metric
                    .get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(k))
            };
            let key = MetricKey {
                namespace: field("Namespace")?.to_string(),
                name: field("MetricName")?.to_string(),
                dimensions: dimensions(metric.get("Dimensions"))?,
            };
            let period = stat
                .get("Period")
                .and_then(Value::as_i64)
                .ok_or_else(|| missing("MetricStat.Period"))?;
            if period < 1 || (period >= 60 && period % 60 != 0) {
                return Err(invalid("The parameter Period must be a multiple of 60."));
            }
            let name = stat
                .get("Stat")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("MetricStat.Stat"))?;
            if (end_ms - start_ms) / (period * 1000) > 100_800 {
                return Err(invalid("Too many datapoints requested."));
            }
            let mut points = Vec::new();
            let mut t = start_ms;
            while t < end_ms {
                let stats = metrics.stats(&key, t, (t + period * 1000).min(end_ms));
                if stats.sample_count > 0 {
                    let value = stats
                        .get(name)
                        .ok_or_else(|| invalid(format!("Invalid statistic {name}.")))?;
                    points.push((ts(t), value));
                }
                t += period * 1000;
            }
            if !ascending {
                points.reverse();
            }
            if q.get("ReturnData").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            results.push(json!({
                "Id": id,
                "Label": q.get("Label").and_then(Value::as_str).unwrap_or(&key.name),
                "Timestamps": points.iter().map(|p| p.0).collect::<Vec<_>>(),
                "Values": points.iter().map(|p| p.1).collect::<Vec<_>>(),
                "StatusCode": "Complete",
            }));
        }
        Ok(json!({ "MetricDataResults": results, "Messages": [] }))
    }

    fn list_metrics(&self, v: &Value) -> Value {
        let namespace = v.get("Namespace").and_then(Value::as_str);
        let name = v.get("MetricName").and_then(Value::as_str);
        let metrics: Vec<Value> = self
            .metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|k| namespace.is_none_or(|n| k.namespace == n))
            .filter(|k| name.is_none_or(|n| k.name == n))
            .map(|k| {
                json!({
                    "Namespace": k.namespace,
                    "MetricName": k.name,
                    "Dimensions": k.dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "Metrics": metrics })
    }

    /// Re-evaluate every alarm (the server runs this on a timer).
    pub async fn evaluate_all(&self) {
        let names: Vec<String> = self.read().keys().cloned().collect();
        for n in names {
            self.evaluate_one(&n).await;
        }
        let now = self.clock.now_ms();
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prune(now);
    }

    async fn evaluate_one(&self, name: &str) {
        let now = self.clock.now_ms();
        let decided = {
            let alarms = self.read();
            let Some(a) = alarms.get(name) else { return };
            let metrics = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
            let (state, reason) = alarms::evaluate(a, &metrics, now);
            (state != a.state).then_some((state, reason))
        };
        if let Some((state, reason)) = decided {
            self.transition(name, state, reason).await;
        }
    }

    /// Move an alarm to `state`: record it in the audit trail and fire the actions.
    async fn transition(&self, name: &str, state: State, reason: String) {
        let now = self.clock.now_ms();
        let (alarm, old) = {
            let mut alarms = self.write();
            let Some(a) = alarms.get_mut(name) else {
                return;
            };
            let old = a.state;
            a.state = state;
            a.state_reason = reason.clone();
            a.state_updated_ms = now;
            (a.clone(), old)
        };
        if old == state {
            return;
        }
        let saved = self.save(&[name.to_string()]).await;
        if saved.is_err() && strongroom_store::fence::current().is_some() {
            // Evaluated as the background lease's holder but not saved (this node may have
            // lost the lease: its write fenced off): undone, and nobody notified — the
            // holder's own evaluation makes the change and notifies once.
            if let Some(a) = self.write().get_mut(name) {
                a.state = old;
            }
            return;
        }
        tracing::info!(
            alarm = name,
            from = old.as_str(),
            to = state.as_str(),
            "alarm state changed"
        );
        self.audit
            .service_event(
                &self.region,
                "monitoring",
                "AlarmStateChange",
                json!({"alarmName": name, "previousState": old.as_str(), "state": state.as_str(), "reason": reason}),
                Some(crate::audit::CallResource {
                    arn: alarm.arn.clone(),
                    kind: "AWS::CloudWatch::Alarm",
                    name: Some(name.to_string()),
                }),
                now,
            )
            .await;
        if !alarm.actions_enabled {
            return;
        }
        let actions = match state {
            State::Alarm => &alarm.alarm_actions,
            State::Ok => &alarm.ok_actions,
            State::InsufficientData => &alarm.insufficient_data_actions,
        };
        for arn in actions {
            for hook in self.webhooks.iter().filter(|h| &h.topic_arn == arn) {
                let payload = match hook.format.as_str() {
                    "json" => json!({
                        "AlarmName": name, "AlarmArn": alarm.arn, "OldStateValue": old.as_str(),
                        "NewStateValue": state.as_str(), "NewStateReason": reason,
                        "Region": self.region, "AWSAccountId": self.account_id,
                    }),
                    _ => json!({
                        "text": format!(
                            ":rotating_light: CloudWatch alarm *{name}* is now {} (was {}) in {}: {reason}",
                            state.as_str(), old.as_str(), self.region
                        )
                    }),
                };
                if let Err(e) = post_json(hook, &payload).await {
                    // Not the URL: a Slack webhook URL is a credential.
                    tracing::warn!(alarm = name, topic = %hook.topic_arn, error = %e, "alarm webhook failed");
                }
            }
        }
    }
}

fn alarm_json(a: &Alarm) -> Value {
    json!({
        "AlarmName": a.name,
        "AlarmArn": a.arn,
        "AlarmDescription": a.description,
        "AlarmConfigurationUpdatedTimestamp": ts(a.configuration_updated_ms),
        "ActionsEnabled": a.actions_enabled,
        "OKActions": a.ok_actions,
        "AlarmActions": a.alarm_actions,
        "InsufficientDataActions": a.insufficient_data_actions,
        "StateValue": a.state.as_str(),
        "StateReason": a.state_reason,
        "StateUpdatedTimestamp": ts(a.state_updated_ms),
        "StateTransitionedTimestamp": ts(a.state_updated_ms),
        "MetricName": a.metric.name,
        "Namespace": a.metric.namespace,
        "Statistic": a.statistic,
        "Dimensions": a.metric.dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
        "Period": a.period_secs,
        "EvaluationPeriods": a.evaluation_periods,
        "Threshold": a.threshold,
        "ComparisonOperator": a.comparison,
        "TreatMissingData": a.treat_missing_data,
    })
}

/// POST a JSON payload to a webhook (`https://`, verified against the system's roots or the
/// hook's `ca-file`; or `http://`), with a bounded wait.
async fn post_json(hook: &Webhook, payload: &Value) -> Result<(), String> {
    use crate::http::client::{Target, send};
    let target = Target::parse(&hook.url).map_err(|e| format!("webhook: {e}"))?;
    let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let req = http::Request::post(target.path.as_str())
        .header(http::header::HOST, target.authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(bytes::Bytes::from(body))
        .map_err(|e| e.to_string())?;
    let (status, _) = send(
        &target,
        hook.ca_file.as_deref(),
        req,
        std::time::Duration::from_secs(10),
    )
    .await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {status}"))
    }
}
