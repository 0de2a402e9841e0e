//! DescribeAlarmHistory, read from the audit log (which keeps it after an alarm is deleted,
//! as CloudWatch does): state changes are the `AlarmStateChange` events the evaluation
//! records, configuration updates the successful PutMetricAlarm and DeleteAlarms calls.
//! Actions fired are not recorded as history items (webhook deliveries are logged only).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use strongroom_audit::{Attribute, Lookup};

use super::{CloudWatch, CwError, invalid, ts};

const TYPES: [&str; 5] = [
    "ConfigurationUpdate",
    "StateUpdate",
    "Action",
    "AlarmContributorStateUpdate",
    "AlarmContributorAction",
];
/// Records read from the audit log per round while looking for history items.
const BATCH: usize = 200;
/// Records one call reads at most before answering with what it found and a NextToken.
const SCAN_LIMIT: usize = 5000;

/// The history items one audit record makes (none for records that are not alarm history):
/// (alarm name, item type, summary, data).
pub fn items_of(event_name: &str, record: &Value) -> Vec<(String, &'static str, String, Value)> {
    if record["errorCode"].is_string() {
        return Vec::new();
    }
    match event_name {
        "AlarmStateChange" => {
            let d = &record["serviceEventDetails"];
            let (Some(name), Some(old), Some(new)) = (
                d["alarmName"].as_str(),
                d["previousState"].as_str(),
                d["state"].as_str(),
            ) else {
                return Vec::new();
            };
            let reason = d["reason"].as_str().unwrap_or_default();
            vec![(
                name.to_string(),
                "StateUpdate",
                format!("Alarm updated from {old} to {new}"),
                json!({"version": "1.0",
                       "oldState": {"stateValue": old},
                       "newState": {"stateValue": new, "stateReason": reason}}),
            )]
        }
        "PutMetricAlarm" => {
            let p = &record["requestParameters"];
            let Some(name) = p["alarmName"].as_str().or(p["AlarmName"].as_str()) else {
                return Vec::new();
            };
            vec![(
                name.to_string(),
                "ConfigurationUpdate",
                format!("Alarm \"{name}\" updated"),
                json!({"version": "1.0", "type": "Update", "updatedAlarm": p}),
            )]
        }
        "DeleteAlarms" => {
            let p = &record["requestParameters"];
            p["alarmNames"]
                .as_array()
                .or(p["AlarmNames"].as_array())
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|name| {
                    (
                        name.to_string(),
                        "ConfigurationUpdate",
                        format!("Alarm \"{name}\" deleted"),
                        json!({"version": "1.0", "type": "Delete"}),
                    )
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// A token is valid only with the parameters that produced it.
fn fingerprint(v: &Value) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for k in [
        "AlarmName",
        "HistoryItemType",
        "StartDate",
        "EndDate",
        "ScanBy",
    ] {
        ctx.update(
            v.get(k)
                .map(Value::to_string)
                .unwrap_or_default()
                .as_bytes(),
        );
        ctx.update(b"\0");
    }
    hex::encode(&ctx.finish().as_ref()[..8])
}

fn bad_token() -> CwError {
    CwError::InvalidNextToken("The NextToken is not valid for this request.".into())
}

impl CloudWatch {
    pub(super) async fn describe_alarm_history(&self, v: &Value) -> Result<Value, CwError> {
        let name = v.get("AlarmName").and_then(Value::as_str);
        let kind = v.get("HistoryItemType").and_then(Value::as_str);
        if let Some(k) = kind
            && !TYPES.contains(&k)
        {
            return Err(invalid(format!("Invalid HistoryItemType {k}.")));
        }
        // Only metric alarms exist here; asking for other types alone finds nothing.
        if let Some(types) = v.get("AlarmTypes").and_then(Value::as_array)
            && !types.iter().any(|t| t == "MetricAlarm")
        {
            return Ok(json!({"AlarmHistoryItems": []}));
        }
        let max = v.get("MaxRecords").and_then(Value::as_i64).unwrap_or(100);
        if !(1..=100).contains(&max) {
            return Err(invalid(
                "The parameter MaxRecords must be between 1 and 100.",
            ));
        }
        let ascending = match v.get("ScanBy").and_then(Value::as_str) {
            None | Some("TimestampDescending") => false,
            Some("TimestampAscending") => true,
            Some(other) => return Err(invalid(format!("Invalid ScanBy {other:?}."))),
        };
        let time = |k: &str| {
            v.get(k)
                .and_then(Value::as_f64)
                .map(|t| (t * 1000.0) as i64)
        };
        let fp = fingerprint(v);
        let mut pos = match v.get("NextToken").and_then(Value::as_str) {
            None => None,
            Some(t) => {
                let text = URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(bad_token)?;
                let (p, f) = text.split_once(':').ok_or_else(bad_token)?;
                if f != fp {
                    return Err(bad_token());
                }
                Some(p.parse::<i64>().map_err(|_| bad_token())?)
            }
        };
        let attribute = match name {
            // An alarm's records carry its ARN as their resource (the name is indexed too, but
            // not for records re-indexed from the segments or migrated).
            Some(n) => Attribute::ResourceName(self.alarm_arn(n)),
            None => Attribute::EventSource("monitoring.amazonaws.com".into()),
        };
        let mut items = Vec::new();
        let mut scanned = 0;
        let mut more = false;
        'scan: loop {
            if scanned >= SCAN_LIMIT {
                more = true;
                break;
            }
            let found = self
                .audit
                .log
                .lookup(&Lookup {
                    attribute: Some(attribute.clone()),
                    start_ms: time("StartDate"),
                    end_ms: time("EndDate"),
                    before_pos: if ascending { None } else { pos },
                    after_pos: if ascending { pos } else { None },
                    ascending,
                    limit: BATCH,
                    region: Some(self.region.clone()),
                })
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "alarm history lookup failed");
                    CwError::Internal
                })?;
            let last_batch = found.len() < BATCH;
            for f in found {
                if items.len() as i64 >= max {
                    more = true;
                    break 'scan;
                }
                scanned += 1;
                pos = Some(f.pos);
                let record: Value = serde_json::from_str(&f.record).unwrap_or_default();
                for (alarm, item_type, summary, data) in items_of(&f.event_name, &record) {
                    if name.is_some_and(|n| n != alarm) || kind.is_some_and(|k| k != item_type) {
                        continue;
                    }
                    items.push(json!({
                        "AlarmName": alarm,
                        "AlarmType": "MetricAlarm",
                        "Timestamp": ts(f.time_ms),
                        "HistoryItemType": item_type,
                        "HistorySummary": summary,
                        "HistoryData": data.to_string(),
                    }));
                }
            }
            if last_batch {
                break;
            }
        }
        let mut out = json!({ "AlarmHistoryItems": items });
        if more && let Some(p) = pos {
            out["NextToken"] = json!(URL_SAFE_NO_PAD.encode(format!("{p}:{fp}")));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_and_configuration_calls_are_history_the_rest_is_not() {
        let state = json!({"serviceEventDetails": {"alarmName": "a", "previousState": "OK",
            "state": "ALARM", "reason": "Threshold crossed"}});
        let i = items_of("AlarmStateChange", &state);
        assert_eq!(i.len(), 1);
        assert_eq!((i[0].0.as_str(), i[0].1), ("a", "StateUpdate"));
        assert_eq!(i[0].2, "Alarm updated from OK to ALARM");
        assert_eq!(i[0].3["newState"]["stateReason"], "Threshold crossed");

        let put = json!({"requestParameters": {"alarmName": "a", "threshold": 5.0}});
        let i = items_of("PutMetricAlarm", &put);
        assert_eq!(
            (i[0].1, i[0].2.as_str()),
            ("ConfigurationUpdate", "Alarm \"a\" updated")
        );
        let del = json!({"requestParameters": {"alarmNames": ["a", "b"]}});
        let names: Vec<String> = items_of("DeleteAlarms", &del)
            .into_iter()
            .map(|i| i.0)
            .collect();
        assert_eq!(names, ["a", "b"]);
        // A refused call changed nothing; other calls are no history.
        let refused = json!({"errorCode": "AccessDenied", "requestParameters": {"alarmName": "a"}});
        assert!(items_of("PutMetricAlarm", &refused).is_empty());
        assert!(items_of("DescribeAlarms", &json!({})).is_empty());
    }
}
