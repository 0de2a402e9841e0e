//! Parameter policies (PutParameter's `Policies`, advanced parameters only): a JSON array of
//! `{"Type", "Version": "1.0", "Attributes"}` objects, as the Systems Manager user guide
//! ("Assigning parameter policies in Parameter Store") describes them:
//! - `Expiration` — `Attributes.Timestamp` (ISO_INSTANT or ISO_OFFSET_DATE_TIME): the
//!   parameter is deleted then;
//! - `ExpirationNotification` — `Before` N `Unit` (Days | Hours) of that expiration, an event;
//! - `NoChangeNotification` — `After` N `Unit` without a new version, an event.
//!
//! Pure: parsing, validation and what is due when. The message texts are ours where AWS's are
//! not on record; the error kinds are the model's.

use serde::{Deserialize, Serialize};

use crate::secret::Millis;

/// PoliciesLimitExceededException beyond this many (the user guide: up to ten per parameter).
pub const MAX_POLICIES: usize = 10;
const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 24 * HOUR_MS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyKind {
    /// The parameter is deleted at `at_ms`.
    Expiration { at_ms: Millis },
    /// An event `before_ms` ahead of the expiration.
    ExpirationNotification { before_ms: Millis },
    /// An event when no version was written for `after_ms`.
    NoChangeNotification { after_ms: Millis },
}

impl PolicyKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            PolicyKind::Expiration { .. } => "Expiration",
            PolicyKind::ExpirationNotification { .. } => "ExpirationNotification",
            PolicyKind::NoChangeNotification { .. } => "NoChangeNotification",
        }
    }
}

/// One policy: its text as given (shown back as PolicyText) and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub text: String,
    pub kind: PolicyKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// InvalidPolicyTypeException.
    Type(String),
    /// InvalidPolicyAttributeException.
    Attribute(String),
    /// PoliciesLimitExceededException.
    Limit(String),
    /// ValidationException (not a JSON array of policies, or not an advanced parameter).
    Validation(String),
}

/// The answer to policies on a standard parameter.
pub const STANDARD_TIER: &str = "Parameter policies are supported only by parameters in the advanced-parameter tier. Use the Advanced or Intelligent-Tiering tier to assign policies.";

fn attribute(msg: impl Into<String>) -> PolicyError {
    PolicyError::Attribute(msg.into())
}

/// A positive whole number given as a string (`"15"`) or a number.
fn count(
    attrs: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    kind: &str,
) -> Result<i64, PolicyError> {
    let n = match attrs.get(key) {
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    match n {
        Some(n) if n > 0 => Ok(n),
        _ => Err(attribute(format!(
            "The {kind} policy needs attribute {key}: a whole number greater than 0."
        ))),
    }
}

fn unit_ms(
    attrs: &serde_json::Map<String, serde_json::Value>,
    kind: &str,
) -> Result<Millis, PolicyError> {
    match attrs.get("Unit").and_then(|u| u.as_str()) {
        Some("Days") => Ok(DAY_MS),
        Some("Hours") => Ok(HOUR_MS),
        _ => Err(attribute(format!(
            "The {kind} policy needs attribute Unit: Days or Hours."
        ))),
    }
}

/// Parse and validate a Policies string. An empty array means "no policies".
pub fn parse(policies: &str) -> Result<Vec<Policy>, PolicyError> {
    let not_array = || {
        PolicyError::Validation(
            "Parameter policies must be a JSON array of policies, each with Type, Version and Attributes.".into(),
        )
    };
    let items: Vec<serde_json::Value> = serde_json::from_str(policies).map_err(|_| not_array())?;
    if items.len() > MAX_POLICIES {
        return Err(PolicyError::Limit(format!(
            "You specified more than the maximum number of allowed policies for the parameter. The maximum is {MAX_POLICIES}."
        )));
    }
    let mut out: Vec<Policy> = Vec::with_capacity(items.len());
    for item in &items {
        let obj = item.as_object().ok_or_else(not_array)?;
        let kind_name = obj.get("Type").and_then(|t| t.as_str()).unwrap_or_default();
        if !matches!(
            kind_name,
            "Expiration" | "ExpirationNotification" | "NoChangeNotification"
        ) {
            return Err(PolicyError::Type(format!(
                "The following policy type is not valid: {kind_name}. Valid policy types include: [Expiration, ExpirationNotification, NoChangeNotification]."
            )));
        }
        if obj.get("Version").and_then(|v| v.as_str()) != Some("1.0") {
            return Err(attribute(format!(
                "The {kind_name} policy needs Version 1.0."
            )));
        }
        let empty = serde_json::Map::new();
        let attrs = obj
            .get("Attributes")
            .and_then(|a| a.as_object())
            .unwrap_or(&empty);
        let kind = match kind_name {
            "Expiration" => {
                let at = attrs
                    .get("Timestamp")
                    .and_then(|t| t.as_str())
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .ok_or_else(|| {
                        attribute("The Expiration policy needs attribute Timestamp: a date and time in ISO_INSTANT or ISO_OFFSET_DATE_TIME format.")
                    })?;
                PolicyKind::Expiration {
                    at_ms: at.timestamp_millis(),
                }
            }
            "ExpirationNotification" => PolicyKind::ExpirationNotification {
                before_ms: count(attrs, "Before", kind_name)? * unit_ms(attrs, kind_name)?,
            },
            _ => PolicyKind::NoChangeNotification {
                after_ms: count(attrs, "After", kind_name)? * unit_ms(attrs, kind_name)?,
            },
        };
        if out.iter().any(|p| p.kind.type_name() == kind_name) {
            return Err(attribute(format!(
                "A parameter can have one {kind_name} policy."
            )));
        }
        out.push(Policy {
            text: item.to_string(),
            kind,
        });
    }
    let expires = out
        .iter()
        .any(|p| matches!(p.kind, PolicyKind::Expiration { .. }));
    if !expires
        && out
            .iter()
            .any(|p| matches!(p.kind, PolicyKind::ExpirationNotification { .. }))
    {
        return Err(attribute(
            "An ExpirationNotification policy needs an Expiration policy to notify of.",
        ));
    }
    Ok(out)
}

/// When the parameter expires, if a policy says so.
pub fn expires_at(policies: &[Policy]) -> Option<Millis> {
    policies.iter().find_map(|p| match p.kind {
        PolicyKind::Expiration { at_ms } => Some(at_ms),
        _ => None,
    })
}

/// What a sweep at `now` does for a parameter whose latest version was written at
/// `modified_ms`, given the policies' `done` set (type names already acted on for that
/// version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Expiration reached: delete the parameter.
    Delete,
    /// A notification is due (the policy's type name).
    Notify(&'static str),
}

pub fn due(policies: &[Policy], modified_ms: Millis, now: Millis, done: &[String]) -> Vec<Due> {
    let mut out = Vec::new();
    let expiry = expires_at(policies);
    if expiry.is_some_and(|at| now >= at) {
        return vec![Due::Delete];
    }
    for p in policies {
        let name = p.kind.type_name();
        if done.iter().any(|d| d == name) {
            continue;
        }
        let fire = match p.kind {
            PolicyKind::ExpirationNotification { before_ms } => {
                expiry.is_some_and(|at| now >= at - before_ms)
            }
            PolicyKind::NoChangeNotification { after_ms } => now >= modified_ms + after_ms,
            PolicyKind::Expiration { .. } => false,
        };
        if fire {
            out.push(Due::Notify(name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXP: &str = r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-02T00:00:00.000Z"}}"#;

    #[test]
    fn the_three_types_parse() {
        let text = format!(
            r#"[{EXP},{{"Type":"ExpirationNotification","Version":"1.0","Attributes":{{"Before":"2","Unit":"Days"}}}},{{"Type":"NoChangeNotification","Version":"1.0","Attributes":{{"After":"3","Unit":"Hours"}}}}]"#
        );
        let p = parse(&text).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2030-01-02T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(p[0].kind, PolicyKind::Expiration { at_ms: at });
        assert_eq!(
            p[1].kind,
            PolicyKind::ExpirationNotification {
                before_ms: 2 * DAY_MS
            }
        );
        assert_eq!(
            p[2].kind,
            PolicyKind::NoChangeNotification {
                after_ms: 3 * HOUR_MS
            }
        );
        assert_eq!(expires_at(&p), Some(at));
        // ISO_OFFSET_DATE_TIME too.
        let offset = parse(r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-02T10:30:00+10:30"}}]"#).unwrap();
        assert_eq!(expires_at(&offset), Some(at));
        assert_eq!(parse("[]").unwrap(), vec![]);
    }

    #[test]
    fn bad_policies_are_refused_with_the_models_errors() {
        assert!(matches!(parse("not json"), Err(PolicyError::Validation(_))));
        assert!(matches!(parse("[1]"), Err(PolicyError::Validation(_))));
        assert!(matches!(
            parse(r#"[{"Type":"Rotate","Version":"1.0","Attributes":{}}]"#),
            Err(PolicyError::Type(_))
        ));
        for bad in [
            r#"[{"Type":"Expiration","Version":"2.0","Attributes":{"Timestamp":"2030-01-02T00:00:00Z"}}]"#,
            r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"soon"}}]"#,
            r#"[{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"0","Unit":"Days"}}]"#,
            r#"[{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"1","Unit":"Weeks"}}]"#,
            r#"[{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"1","Unit":"Days"}}]"#,
        ] {
            assert!(
                matches!(parse(bad), Err(PolicyError::Attribute(_))),
                "{bad}"
            );
        }
        let twice = format!("[{EXP},{EXP}]");
        assert!(matches!(parse(&twice), Err(PolicyError::Attribute(_))));
        let many = format!("[{}]", [EXP; 11].join(","));
        assert!(matches!(parse(&many), Err(PolicyError::Limit(_))));
    }

    #[test]
    fn what_is_due_when() {
        let p = vec![
            Policy {
                text: String::new(),
                kind: PolicyKind::Expiration { at_ms: 10 * DAY_MS },
            },
            Policy {
                text: String::new(),
                kind: PolicyKind::ExpirationNotification { before_ms: DAY_MS },
            },
            Policy {
                text: String::new(),
                kind: PolicyKind::NoChangeNotification {
                    after_ms: 2 * DAY_MS,
                },
            },
        ];
        assert_eq!(due(&p, 0, DAY_MS, &[]), vec![]);
        assert_eq!(
            due(&p, 0, 2 * DAY_MS, &[]),
            vec![Due::Notify("NoChangeNotification")]
        );
        assert_eq!(
            due(&p, 0, 9 * DAY_MS, &["NoChangeNotification".into()]),
            vec![Due::Notify("ExpirationNotification")]
        );
        // A new version restarts NoChangeNotification's clock.
        assert_eq!(
            due(
                &p,
                8 * DAY_MS,
                9 * DAY_MS,
                &["ExpirationNotification".into()]
            ),
            vec![]
        );
        assert_eq!(due(&p, 0, 10 * DAY_MS, &[]), vec![Due::Delete]);
    }
}
