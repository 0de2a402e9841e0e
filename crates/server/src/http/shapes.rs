//! Model-driven codecs for AWS's Query protocol (IAM, STS, CloudWatch), guided by each
//! service's generated `services/<svc>/shapes.rs` (`scripts/gen-shapes.py`, from botocore's
//! models): element order, list and map wrappers and timestamp formats come from the model,
//! never from templates.
//!
//! - **Query in**: form fields (`Name.member.N` lists, `Outer.Inner` members, `.entry.N.key`
//!   maps, ISO 8601 timestamps) → a JSON document typed by the model → the service's input
//!   struct (serde).
//! - **Query XML out**: the service's output struct (serde) → JSON → the inside of
//!   `<ActionResult>`, members in model order.
//!
//! The JSON document in between is what CloudWatch's operations read and write directly (its
//! three wire protocols meet there); IAM and STS see only their typed structs.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A member's wire type, as the codecs need it.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Int,
    Float,
    Bool,
    /// Epoch seconds in JSON, tag 1 in CBOR, ISO 8601 in Query.
    Time,
    List(&'static Ty),
    /// String keys.
    Map(&'static Ty),
    Struct(&'static str),
}

/// What a service's generated `shapes.rs` gives the codecs.
pub struct Model {
    /// (operation, input structure, output structure)
    pub operations: &'static [(&'static str, Option<&'static str>, Option<&'static str>)],
    /// The offered operations' errors: (Query code, shape name).
    pub errors: &'static [(&'static str, &'static str)],
    /// Each structure's members, in model order.
    pub structures: &'static [(&'static str, &'static [(&'static str, Ty)])],
    /// Query timestamps with milliseconds (CloudWatch: `…:00.250Z`) or whole seconds (IAM,
    /// STS: `…:00Z`), as each service answers.
    pub milliseconds: bool,
}

/// A request the model's types refuse. Each service words it in its own error enum.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeError {
    /// A value that is not of its member's type (`MaxItems=five`).
    Invalid {
        member: String,
        value: String,
        expected: &'static str,
    },
    /// A member the model requires is absent.
    Missing { member: String },
}

impl ShapeError {
    /// AWS's validation wording (Smithy services' "1 validation error detected").
    pub fn validation_message(&self) -> String {
        match self {
            ShapeError::Missing { member } => format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(member)
            ),
            ShapeError::Invalid {
                member,
                value,
                expected,
            } => format!(
                "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must be a valid {expected}",
                value,
                lower_first(member)
            ),
        }
    }
}

/// `UserName` → `userName`, as AWS names members in validation messages.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// A model timestamp: epoch milliseconds here, epoch seconds in the JSON document, ISO 8601
/// on the Query wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0 as f64 / 1000.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Timestamp((secs * 1000.0).round() as i64))
    }
}

impl Model {
    fn members(&self, structure: &str) -> &'static [(&'static str, Ty)] {
        self.structures
            .iter()
            .find(|(name, _)| *name == structure)
            .map_or(&[], |(_, m)| m)
    }

    /// The input and output structures of an operation the model lists.
    pub fn operation(&self, name: &str) -> Option<(Option<&'static str>, Option<&'static str>)> {
        self.operations
            .iter()
            .find(|(op, _, _)| *op == name)
            .map(|(_, input, output)| (*input, *output))
    }

    /// The shape name of the error a Query `code` names (for JSON 1.0 / CBOR `__type`).
    pub fn error_shape(&self, code: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, shape)| *shape)
    }

    /// A Query request's parameters as the JSON document of the operation's input.
    pub fn query_to_json(
        &self,
        operation: &str,
        params: &HashMap<String, String>,
    ) -> Result<Value, ShapeError> {
        let Some((Some(input), _)) = self.operation(operation) else {
            return Ok(Value::Object(Map::new()));
        };
        Ok(Value::Object(self.query_struct(params, "", input)?))
    }

    /// A Query request's parameters as the operation's typed input.
    pub fn query_input<T: DeserializeOwned>(
        &self,
        operation: &str,
        params: &HashMap<String, String>,
    ) -> Result<T, ShapeError> {
        from_json(self.query_to_json(operation, params)?)
    }

    /// An operation's typed output as the inside of its `<ActionResult>` element (`None`
    /// for operations without output).
    pub fn output_xml<T: Serialize>(&self, operation: &str, output: &T) -> Option<String> {
        // Serializing generated structs into a Value cannot fail (string keys, finite numbers).
        let value = serde_json::to_value(output).unwrap_or_default();
        self.json_to_xml(operation, &value)
    }

    fn query_struct(
        &self,
        params: &HashMap<String, String>,
        prefix: &str,
        structure: &str,
    ) -> Result<Map<String, Value>, ShapeError> {
        let mut out = Map::new();
        for (name, ty) in self.members(structure) {
            let key = format!("{prefix}{name}");
            if let Some(v) = self.query_value(params, &key, *ty)? {
                out.insert((*name).to_string(), v);
            }
        }
        Ok(out)
    }

    fn query_value(
        &self,
        params: &HashMap<String, String>,
        key: &str,
        ty: Ty,
    ) -> Result<Option<Value>, ShapeError> {
        let invalid = |expected: &'static str, v: &str| ShapeError::Invalid {
            member: key.to_string(),
            value: v.to_string(),
            expected,
        };
        Ok(Some(match ty {
            Ty::Str | Ty::Int | Ty::Float | Ty::Bool | Ty::Time => {
                let Some(v) = params.get(key) else {
                    return Ok(None);
                };
                match ty {
                    Ty::Str => Value::String(v.clone()),
                    Ty::Int => Value::from(v.parse::<i64>().map_err(|_| invalid("integer", v))?),
                    Ty::Float => v
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(|| invalid("number", v))?,
                    Ty::Bool => match v.as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => return Err(invalid("boolean", v)),
                    },
                    _ => Value::from(parse_iso8601(v).ok_or_else(|| invalid("timestamp", v))?),
                }
            }
            Ty::List(member) => {
                if !present(params, key) {
                    return Ok(None);
                }
                // `Name=` (no members) is how Query sends an empty list.
                let mut items = Vec::new();
                for n in 1.. {
                    let item_key = format!("{key}.member.{n}");
                    match self.query_value(params, &item_key, *member)? {
                        Some(v) => items.push(v),
                        None => break,
                    }
                }
                Value::Array(items)
            }
            Ty::Map(value) => {
                if !present(params, key) {
                    return Ok(None);
                }
                let mut map = Map::new();
                for n in 1.. {
                    let entry = format!("{key}.entry.{n}");
                    let Some(k) = params.get(&format!("{entry}.key")) else {
                        break;
                    };
                    if let Some(v) = self.query_value(params, &format!("{entry}.value"), *value)? {
                        map.insert(k.clone(), v);
                    }
                }
                Value::Object(map)
            }
            Ty::Struct(structure) => {
                if !present(params, key) {
                    return Ok(None);
                }
                Value::Object(self.query_struct(params, &format!("{key}."), structure)?)
            }
        }))
    }

    /// An operation's JSON output as the inside of its Query `<ActionResult>` element.
    pub fn json_to_xml(&self, operation: &str, output: &Value) -> Option<String> {
        let (_, Some(structure)) = self.operation(operation)? else {
            return None;
        };
        let mut xml = String::new();
        if let Value::Object(map) = output {
            self.xml_struct(&mut xml, map, structure);
        }
        Some(xml)
    }

    fn xml_struct(&self, out: &mut String, map: &Map<String, Value>, structure: &str) {
        for (name, ty) in self.members(structure) {
            if let Some(v) = map.get(*name).filter(|v| !v.is_null()) {
                out.push('<');
                out.push_str(name);
                out.push('>');
                self.xml_value(out, v, *ty);
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
        }
    }

    fn xml_value(&self, out: &mut String, v: &Value, ty: Ty) {
        match (ty, v) {
            (Ty::List(member), Value::Array(items)) => {
                for item in items {
                    out.push_str("<member>");
                    self.xml_value(out, item, *member);
                    out.push_str("</member>");
                }
            }
            (Ty::Map(value), Value::Object(map)) => {
                for (k, item) in map {
                    out.push_str("<entry><key>");
                    out.push_str(&crate::xml::escape(k));
                    out.push_str("</key><value>");
                    self.xml_value(out, item, *value);
                    out.push_str("</value></entry>");
                }
            }
            (Ty::Struct(structure), Value::Object(map)) => self.xml_struct(out, map, structure),
            (Ty::Time, Value::Number(n)) => out.push_str(&format_iso8601(
                n.as_f64().unwrap_or(0.0),
                self.milliseconds,
            )),
            (_, Value::String(s)) => out.push_str(&crate::xml::escape(s)),
            (_, other) => out.push_str(&other.to_string()),
        }
    }

    /// The member types of a structure, for codecs outside this module (CBOR).
    pub fn structure(&self, name: &str) -> &'static [(&'static str, Ty)] {
        self.members(name)
    }
}

/// A JSON document as a typed input; a member the type requires but the document lacks is
/// [`ShapeError::Missing`].
pub fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, ShapeError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        match text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(member) => ShapeError::Missing {
                member: member.to_string(),
            },
            None => ShapeError::Invalid {
                member: "input".into(),
                value: String::new(),
                expected: "value of its model type",
            },
        }
    })
}

fn present(params: &HashMap<String, String>, key: &str) -> bool {
    params.contains_key(key) || {
        let dotted = format!("{key}.");
        params.keys().any(|k| k.starts_with(&dotted))
    }
}

/// ISO 8601 / RFC 3339 (what Query clients send) to epoch seconds.
fn parse_iso8601(s: &str) -> Option<f64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339)
        // Some clients leave out the zone: UTC, as AWS reads it.
        .or_else(|_| time::OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// Epoch seconds as ISO 8601 UTC, with milliseconds or in whole seconds (truncated).
fn format_iso8601(secs: f64, milliseconds: bool) -> String {
    // Milliseconds first: `secs * 1e9` loses the last digits of a 2026 timestamp.
    let ms = (secs * 1e3).round() as i128;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok();
    let format = if milliseconds {
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        )
    } else {
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")
    };
    t.and_then(|t| t.format(format).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static TEST: Model = Model {
        operations: &[("Op", Some("In"), Some("Out")), ("Bare", Some("In"), None)],
        errors: &[("Bad", "BadException")],
        structures: &[
            (
                "In",
                &[
                    ("Name", Ty::Str),
                    ("Count", Ty::Int),
                    ("On", Ty::Bool),
                    ("At", Ty::Time),
                    ("Tags", Ty::List(&Ty::Struct("Tag"))),
                    ("Attrs", Ty::Map(&Ty::Str)),
                ],
            ),
            ("Tag", &[("Key", Ty::Str), ("Value", Ty::Str)]),
            (
                "Out",
                &[
                    ("Items", Ty::List(&Ty::Str)),
                    ("When", Ty::Time),
                    ("Note", Ty::Str),
                ],
            ),
        ],
        milliseconds: false,
    };

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[derive(Debug, Deserialize)]
    struct In {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Count")]
        count: Option<i64>,
        #[serde(rename = "Tags", default)]
        tags: Option<Vec<Tag>>,
    }
    #[derive(Debug, Deserialize)]
    struct Tag {
        #[serde(rename = "Key")]
        key: String,
        #[serde(rename = "Value")]
        value: Option<String>,
    }

    #[test]
    fn forms_become_typed_inputs_and_required_members_are_enforced() {
        let p = params(&[
            ("Name", "n"),
            ("Count", "3"),
            ("On", "true"),
            ("At", "2026-12-02T00:00:00Z"),
            ("Tags.member.1.Key", "k1"),
            ("Tags.member.1.Value", "v1"),
            ("Tags.member.2.Key", "k2"),
            ("Attrs.entry.1.key", "a"),
            ("Attrs.entry.1.value", "b"),
        ]);
        assert_eq!(
            TEST.query_to_json("Op", &p).unwrap(),
            json!({"Name": "n", "Count": 3, "On": true, "At": 1_796_169_600.0,
                   "Tags": [{"Key": "k1", "Value": "v1"}, {"Key": "k2"}], "Attrs": {"a": "b"}})
        );
        let typed: In = TEST.query_input("Op", &p).unwrap();
        assert_eq!((typed.name.as_str(), typed.count), ("n", Some(3)));
        let tags = typed.tags.unwrap();
        assert_eq!((tags[1].key.as_str(), &tags[1].value), ("k2", &None));
        assert_eq!(tags[0].value.as_deref(), Some("v1"));

        let missing = TEST
            .query_input::<In>("Op", &params(&[("Count", "1")]))
            .unwrap_err();
        assert_eq!(
            missing.validation_message(),
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
        );
        let bad = TEST
            .query_input::<In>("Op", &params(&[("Name", "n"), ("Count", "five")]))
            .unwrap_err();
        assert!(matches!(&bad, ShapeError::Invalid { member, .. } if member == "Count"));
        // An empty list is `Tags=` on the wire.
        let empty: In = TEST
            .query_input("Op", &params(&[("Name", "n"), ("Tags", "")]))
            .unwrap();
        assert_eq!(empty.tags.map(|t| t.len()), Some(0));
    }

    #[derive(Serialize)]
    struct Out {
        #[serde(rename = "Note", skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        #[serde(rename = "Items")]
        items: Vec<String>,
        #[serde(rename = "When")]
        when: Timestamp,
    }

    #[test]
    fn typed_outputs_become_xml_in_model_order() {
        let out = Out {
            note: Some("a<b".into()),
            items: vec!["x".into(), "y&z".into()],
            when: Timestamp(1_796_169_600_000),
        };
        assert_eq!(
            TEST.output_xml("Op", &out).unwrap(),
            "<Items><member>x</member><member>y&amp;z</member></Items>\
             <When>2026-12-02T00:00:00Z</When><Note>a&lt;b</Note>"
        );
        let out = Out {
            note: None,
            items: vec![],
            when: Timestamp(1_796_169_600_250),
        };
        assert_eq!(
            TEST.output_xml("Op", &out).unwrap(),
            "<Items></Items><When>2026-12-02T00:00:00Z</When>"
        );
        let millis = Model {
            milliseconds: true,
            ..TEST
        };
        assert_eq!(
            millis.output_xml("Op", &out).unwrap(),
            "<Items></Items><When>2026-12-02T00:00:00.250Z</When>"
        );
        assert_eq!(TEST.output_xml("Bare", &out), None);
        assert_eq!(TEST.error_shape("Bad"), Some("BadException"));
    }
}
