//! CloudWatch's three wire protocols, as AWS offers them (the model's `protocols`:
//! `smithy-rpc-v2-cbor`, `json`, `query`). The operations are written once, against JSON 1.0
//! documents; the other two are translated to and from it here, guided by the model's shapes
//! ([`super::shapes`], generated from `aws-models/cloudwatch.json`):
//!
//! - **Smithy RPC v2 CBOR** (`POST /service/GraniteServiceVersion20100801/operation/<Op>`,
//!   `smithy-protocol: rpc-v2-cbor`): CBOR maps with the JSON member names; timestamps are
//!   tag 1 (epoch seconds). Sent by SDKs generated from the current model.
//! - **Query** (`Action=<Op>&Version=2010-08-01`, form-encoded; XML replies): lists as
//!   `Name.member.N`, nested members as `Outer.Inner`, timestamps ISO 8601. Sent by older
//!   SDKs and CLIs (the JavaScript SDK v2, botocore before CloudWatch moved to JSON).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::CwError;
use super::shapes::MODEL;
use crate::http::shapes::{ShapeError, Ty};

/// The XML namespace of CloudWatch's Query replies.
pub const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// The input and output structures of an operation this server offers.
pub fn operation(name: &str) -> Option<(Option<&'static str>, Option<&'static str>)> {
    MODEL.operation(name)
}

// ------------------------------------------------------------------------------ Query

/// A Query request's parameters as the JSON document the operation reads.
pub fn query_to_json(
    operation_name: &str,
    params: &HashMap<String, String>,
) -> Result<Value, CwError> {
    MODEL
        .query_to_json(operation_name, params)
        .map_err(|e| match e {
            ShapeError::Invalid {
                member,
                value,
                expected,
            } => CwError::InvalidParameterValue(format!(
                "The value {value:?} of parameter {member} is not a valid {expected}."
            )),
            missing @ ShapeError::Missing { .. } => {
                CwError::InvalidParameterValue(missing.validation_message())
            }
        })
}

/// An operation's JSON output as the inside of its Query `<OpResult>` element (`None` for
/// operations without output).
pub fn json_to_query_xml(operation_name: &str, output: &Value) -> Option<String> {
    MODEL.json_to_xml(operation_name, output)
}

// ------------------------------------------------------------------------------ CBOR

/// A CBOR request body as the JSON document the operation reads. An empty body is an
/// empty input, as Smithy RPC v2 allows.
pub fn cbor_to_json(body: &[u8]) -> Result<Value, CwError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let v: ciborium::Value = ciborium::from_reader(body)
        .map_err(|e| CwError::Serialization(format!("The request body is not valid CBOR: {e}")))?;
    cbor_value_to_json(v)
}

fn cbor_value_to_json(v: ciborium::Value) -> Result<Value, CwError> {
    use ciborium::Value as C;
    let bad = |what: &str| CwError::Serialization(format!("Unexpected CBOR {what}."));
    Ok(match v {
        C::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i)
                .map(Value::from)
                .map_err(|_| bad("integer out of range"))?
        }
        C::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| bad("non-finite number"))?,
        C::Text(s) => Value::String(s),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        C::Bytes(b) => {
            use base64::Engine as _;
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        // Tag 1: epoch-seconds timestamp; JSON 1.0 carries the same number.
        C::Tag(1, inner) => cbor_value_to_json(*inner)?,
        C::Array(items) => Value::Array(
            items
                .into_iter()
                .map(cbor_value_to_json)
                .collect::<Result<_, _>>()?,
        ),
        C::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let C::Text(k) = k else {
                    return Err(bad("map key (keys must be text)"));
                };
                let v = cbor_value_to_json(v)?;
                // Smithy RPC v2 may send null for absent members.
                if !v.is_null() {
                    map.insert(k, v);
                }
            }
            Value::Object(map)
        }
        _ => return Err(bad("item")),
    })
}

/// An operation's JSON output as its CBOR reply body (an empty map for operations without
/// output).
pub fn json_to_cbor(operation_name: &str, output: &Value) -> Vec<u8> {
    let value = match (operation(operation_name), output) {
        (Some((_, Some(structure))), Value::Object(map)) => cbor_struct(map, structure),
        _ => ciborium::Value::Map(Vec::new()),
    };
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ciborium::into_writer(&value, &mut out);
    out
}

/// The `__type` of a JSON 1.0 or CBOR error: the model's shape id for an error its Query
/// `code` names (`InvalidParameterValue` → `…#InvalidParameterValueException`); errors the
/// model does not list (authentication, unknown operations) keep their code.
pub fn error_type(code: &str) -> String {
    let shape = MODEL.error_shape(code).unwrap_or(code);
    format!("com.amazonaws.cloudwatch#{shape}")
}

/// An error reply body: `__type` (the shape id) and `message`.
pub fn cbor_error(code: &str, message: &str) -> Vec<u8> {
    let value = ciborium::Value::Map(vec![
        ("__type".into(), error_type(code).into()),
        ("message".into(), message.into()),
    ]);
    let mut out = Vec::new();
    let _ = ciborium::into_writer(&value, &mut out);
    out
}

fn cbor_struct(map: &Map<String, Value>, structure: &str) -> ciborium::Value {
    let entries = MODEL
        .structure(structure)
        .iter()
        .filter_map(|(name, ty)| {
            let v = map.get(*name).filter(|v| !v.is_null())?;
            Some(((*name).into(), cbor_value(v, *ty)))
        })
        .collect();
    ciborium::Value::Map(entries)
}

fn cbor_value(v: &Value, ty: Ty) -> ciborium::Value {
    use ciborium::Value as C;
    match (ty, v) {
        (Ty::List(member), Value::Array(items)) => {
            C::Array(items.iter().map(|i| cbor_value(i, *member)).collect())
        }
        (Ty::Map(value), Value::Object(map)) => C::Map(
            map.iter()
                .map(|(k, i)| (k.as_str().into(), cbor_value(i, *value)))
                .collect(),
        ),
        (Ty::Struct(structure), Value::Object(map)) => cbor_struct(map, structure),
        (Ty::Time, Value::Number(n)) => C::Tag(1, Box::new(C::Float(n.as_f64().unwrap_or(0.0)))),
        (Ty::Float, Value::Number(n)) => C::Float(n.as_f64().unwrap_or(0.0)),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) => C::Integer(i.into()),
            None => C::Float(n.as_f64().unwrap_or(0.0)),
        },
        (_, Value::String(s)) => C::Text(s.clone()),
        (_, Value::Bool(b)) => C::Bool(*b),
        _ => C::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_params_become_the_json_input() {
        let p = params(&[
            ("AlarmName", "prod-secret-access-alert"),
            ("MetricName", "GetSecretValue"),
            ("Namespace", "AWS/SecretsManager"),
            ("Period", "300"),
            ("Threshold", "10"),
            ("ActionsEnabled", "false"),
            ("ComparisonOperator", "GreaterThanThreshold"),
            ("EvaluationPeriods", "1"),
            (
                "AlarmActions.member.1",
                "arn:aws:sns:us-east-1:123456789012:a",
            ),
            (
                "AlarmActions.member.2",
                "arn:aws:sns:us-east-1:123456789012:b",
            ),
            ("Dimensions.member.1.Name", "Operation"),
            ("Dimensions.member.1.Value", "GetSecretValue"),
            ("OKActions", ""),
        ]);
        let v = query_to_json("PutMetricAlarm", &p).unwrap();
        assert_eq!(
            v,
            json!({
                "AlarmName": "prod-secret-access-alert",
                "MetricName": "GetSecretValue",
                "Namespace": "AWS/SecretsManager",
                "Period": 300,
                "Threshold": 10.0,
                "ActionsEnabled": false,
                "ComparisonOperator": "GreaterThanThreshold",
                "EvaluationPeriods": 1,
                "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:a",
                                 "arn:aws:sns:us-east-1:123456789012:b"],
                "Dimensions": [{"Name": "Operation", "Value": "GetSecretValue"}],
                "OKActions": [],
            })
        );
    }

    #[test]
    fn query_rejects_badly_typed_values_and_parses_timestamps() {
        let e = query_to_json("PutMetricAlarm", &params(&[("Period", "five")])).unwrap_err();
        assert!(matches!(e, CwError::InvalidParameterValue(m) if m.contains("Period")));
        let v = query_to_json(
            "GetMetricStatistics",
            &params(&[
                ("StartTime", "2026-12-02T00:00:00Z"),
                ("EndTime", "2026-12-02T00:05:00.500Z"),
            ]),
        )
        .unwrap();
        assert_eq!(v["StartTime"], json!(1_796_169_600.0));
        assert_eq!(v["EndTime"], json!(1_796_169_900.5));
    }

    #[test]
    fn json_output_becomes_query_xml_in_model_order() {
        let out = json!({"MetricAlarms": [{
            "StateValue": "ALARM",
            "AlarmName": "a<b",
            "Threshold": 10.0,
            "StateUpdatedTimestamp": 1_796_169_600.25,
            "Dimensions": [],
        }], "CompositeAlarms": []});
        let xml = json_to_query_xml("DescribeAlarms", &out).unwrap();
        assert_eq!(
            xml,
            "<CompositeAlarms></CompositeAlarms><MetricAlarms><member><AlarmName>a&lt;b</AlarmName>\
             <StateValue>ALARM</StateValue><StateUpdatedTimestamp>2026-12-02T00:00:00.250Z\
             </StateUpdatedTimestamp><Dimensions></Dimensions><Threshold>10.0</Threshold>\
             </member></MetricAlarms>"
        );
        assert_eq!(json_to_query_xml("PutMetricAlarm", &json!({})), None);
    }

    #[test]
    fn error_types_are_the_models_shape_ids() {
        assert_eq!(
            error_type("InvalidParameterValue"),
            "com.amazonaws.cloudwatch#InvalidParameterValueException"
        );
        assert_eq!(
            error_type("MissingParameter"),
            "com.amazonaws.cloudwatch#MissingRequiredParameterException"
        );
        assert_eq!(
            error_type("ResourceNotFound"),
            "com.amazonaws.cloudwatch#ResourceNotFound"
        );
        assert_eq!(
            error_type("AccessDenied"),
            "com.amazonaws.cloudwatch#AccessDenied"
        );
    }

    #[test]
    fn cbor_round_trips_with_tagged_timestamps() {
        use ciborium::Value as C;
        let mut body = Vec::new();
        ciborium::into_writer(
            &C::Map(vec![
                ("AlarmNames".into(), C::Array(vec!["x".into()])),
                ("MaxRecords".into(), C::Integer(5.into())),
                ("Gone".into(), C::Null),
                ("StartTime".into(), C::Tag(1, Box::new(C::Float(12.5)))),
            ]),
            &mut body,
        )
        .unwrap();
        assert_eq!(
            cbor_to_json(&body).unwrap(),
            json!({"AlarmNames": ["x"], "MaxRecords": 5, "StartTime": 12.5})
        );
        assert!(cbor_to_json(b"\xff\x00").is_err());
        assert_eq!(cbor_to_json(b"").unwrap(), json!({}));

        let out = json_to_cbor(
            "DescribeAlarms",
            &json!({"MetricAlarms": [{"AlarmName": "a", "Threshold": 10, "StateUpdatedTimestamp": 7}]}),
        );
        let back: C = ciborium::from_reader(out.as_slice()).unwrap();
        let C::Map(top) = back else { panic!() };
        let C::Array(alarms) = &top[0].1 else {
            panic!()
        };
        let C::Map(alarm) = &alarms[0] else { panic!() };
        let get = |k: &str| {
            alarm
                .iter()
                .find(|(n, _)| n == &C::Text(k.into()))
                .map(|(_, v)| v)
        };
        assert_eq!(get("Threshold"), Some(&C::Float(10.0)));
        assert_eq!(
            get("StateUpdatedTimestamp"),
            Some(&C::Tag(1, Box::new(C::Float(7.0))))
        );
    }
}
