//! Parse and validate a policy document once, into a [`Policy`] ready to evaluate.

use serde_json::{Map, Value};

use crate::condition::{Condition, Operator};

/// What the policy is attached to decides which elements it must and must not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role (or a managed policy): no Principal.
    Identity,
    /// Attached to a resource (a secret): Principal required.
    Resource,
    /// A role's trust policy: Principal required, Resource not needed.
    Trust,
    /// An STS session policy: like an identity policy.
    Session,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action`/`NotAction`, `Resource`/`NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub negated: bool,
    pub values: Vec<String>,
    /// Each value compiled once at parse time, unless it holds a policy variable (those
    /// depend on the request and are compiled when evaluated).
    pub compiled: Vec<Option<Vec<crate::matching::Tok>>>,
}

/// `Principal`/`NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principals {
    pub negated: bool,
    /// `"Principal": "*"` or `{"AWS": "*"}`.
    pub anyone: bool,
    /// ARNs or 12-digit account ids.
    pub aws: Vec<String>,
    pub service: Vec<String>,
    pub federated: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Principals>,
    pub action: Patterns,
    /// `None` only where allowed (trust policies).
    pub resource: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub version: String,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Policy variables (`${aws:username}`) exist only in version 2012-10-17.
    pub fn has_variables(&self) -> bool {
        self.version == "2012-10-17"
    }
}

/// MalformedPolicyDocument: the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(msg.into()))
}

/// Parse a policy document of the given kind.
pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        PolicyError(format!(
            "Syntax errors in policy: not valid JSON at line {}, column {}.",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(doc) = doc else {
        return err("Syntax errors in policy: the document must be a JSON object.");
    };
    for key in doc.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return err(format!(
                "Syntax errors in policy: unknown element '{key}' at the top level."
            ));
        }
    }
    let version = match doc.get("Version") {
        None => "2008-10-17".to_string(),
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => v.clone(),
        Some(_) => {
            return err(
                "The policy must contain a valid version string: 2012-10-17 (or 2008-10-17).",
            );
        }
    };
    let id = match doc.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return err("Syntax errors in policy: Id must be a string."),
    };
    let raw: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(Value::Array(_)) | None => {
            return err("Missing required field Statement: a policy needs at least one statement.");
        }
        Some(_) => {
            return err(
                "Syntax errors in policy: Statement must be an object or a list of objects.",
            );
        }
    };
    let mut statements = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        let Value::Object(s) = s else {
            return err(format!(
                "Syntax errors in policy: statement {} is not an object.",
                i + 1
            ));
        };
        statements.push(statement(s, kind, i + 1)?);
    }
    let mut sids: Vec<&str> = statements.iter().filter_map(|s| s.sid.as_deref()).collect();
    sids.sort_unstable();
    if let Some(w) = sids.windows(2).find(|w| w[0] == w[1]) {
        return err(format!(
            "Statement IDs (SID) in a single policy must be unique: '{}' repeats.",
            w[0]
        ));
    }
    Ok(Policy {
        version,
        id,
        statements,
    })
}

fn statement(s: &Map<String, Value>, kind: PolicyKind, n: usize) -> Result<Statement, PolicyError> {
    for key in s.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return err(format!(
                "Syntax errors in policy: unknown element '{key}' in statement {n}."
            ));
        }
    }
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(v)) if v.chars().all(|c| c.is_ascii_alphanumeric()) => Some(v.clone()),
        Some(Value::String(v)) if kind == PolicyKind::Resource || kind == PolicyKind::Trust => {
            Some(v.clone())
        }
        Some(_) => {
            return err(format!(
                "Statement {n}: Sid must be a string of letters and digits."
            ));
        }
    };
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(Value::String(e)) => {
            return err(format!(
                "Statement {n}: Invalid effect: {e}. Use Allow or Deny."
            ));
        }
        _ => return err(format!("Missing required field Effect in statement {n}.")),
    };

    let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return err(format!(
                "Statement {n} cannot have both Principal and NotPrincipal."
            ));
        }
        (Some(p), None) => Some(principals(p, false, n)?),
        (None, Some(p)) => Some(principals(p, true, n)?),
        (None, None) => None,
    };
    match (kind, &principal) {
        (PolicyKind::Identity | PolicyKind::Session, Some(_)) => {
            return err("Policy document should not specify a principal.");
        }
        (PolicyKind::Resource | PolicyKind::Trust, None) => {
            return err(format!(
                "Missing required field Principal in statement {n}."
            ));
        }
        _ => {}
    }

    let action = match (s.get("Action"), s.get("NotAction")) {
        (Some(_), Some(_)) => {
            return err(format!(
                "Statement {n} cannot have both Action and NotAction."
            ));
        }
        (Some(a), None) => patterns(a, false, "Action", n)?,
        (None, Some(a)) => patterns(a, true, "NotAction", n)?,
        (None, None) => {
            return err(format!(
                "Policy statement must contain actions (statement {n})."
            ));
        }
    };
    for a in &action.values {
        let valid = a == "*"
            || a.split_once(':').is_some_and(|(svc, op)| {
                !svc.is_empty()
                    && !op.is_empty()
                    && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return err(format!(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.: '{a}' in statement {n}."
            ));
        }
    }

    let resource = match (s.get("Resource"), s.get("NotResource")) {
        (Some(_), Some(_)) => {
            return err(format!(
                "Statement {n} cannot have both Resource and NotResource."
            ));
        }
        (Some(r), None) => Some(patterns(r, false, "Resource", n)?),
        (None, Some(r)) => Some(patterns(r, true, "NotResource", n)?),
        (None, None) if kind == PolicyKind::Trust => None,
        (None, None) => {
            return err(format!(
                "Policy statement must contain resources (statement {n})."
            ));
        }
    };
    if let Some(r) = &resource {
        for v in &r.values {
            if v != "*" && !v.starts_with("arn:") {
                return err(format!(
                    "Resource {v} must be in ARN format or \"*\" (statement {n})."
                ));
            }
        }
    }

    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(c)) => conditions(c, n)?,
        Some(_) => {
            return err(format!(
                "Syntax errors in policy: Condition in statement {n} must be an object."
            ));
        }
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn strings(v: &Value, what: &str, n: usize) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        _ => err(format!(
            "Syntax errors in policy: {what} in statement {n} must be a string or a list of strings."
        )),
    };
    match v {
        Value::Array(a) if a.is_empty() => {
            err(format!("{what} in statement {n} must not be empty."))
        }
        Value::Array(a) => a.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn patterns(v: &Value, negated: bool, what: &str, n: usize) -> Result<Patterns, PolicyError> {
    let values = strings(v, what, n)?;
    let compiled = values
        .iter()
        .map(|p| {
            if p.contains("${") {
                None
            } else {
                crate::matching::compile(p, &(), false)
            }
        })
        .collect();
    Ok(Patterns {
        negated,
        values,
        compiled,
    })
}

fn principals(v: &Value, negated: bool, n: usize) -> Result<Principals, PolicyError> {
    let mut p = Principals {
        negated,
        anyone: false,
        aws: Vec::new(),
        service: Vec::new(),
        federated: Vec::new(),
    };
    match v {
        Value::String(s) if s == "*" => p.anyone = true,
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let values = strings(v, "Principal", n)?;
                match k.as_str() {
                    "AWS" => {
                        for a in values {
                            if a == "*" {
                                p.anyone = true;
                            } else if (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                                || a.starts_with("arn:")
                            {
                                p.aws.push(a);
                            } else {
                                return err(format!(
                                    "Invalid principal in policy: \"AWS\":\"{a}\" (statement {n})."
                                ));
                            }
                        }
                    }
                    "Service" => p.service.extend(values),
                    "Federated" => p.federated.extend(values),
                    "CanonicalUser" => {}
                    other => {
                        return err(format!(
                            "Invalid principal in policy: unknown principal type '{other}' (statement {n})."
                        ));
                    }
                }
            }
        }
        _ => {
            return err(format!(
                "Invalid principal in policy: statement {n} must name \"*\" or an object like {{\"AWS\": ...}}."
            ));
        }
    }
    Ok(p)
}

fn conditions(block: &Map<String, Value>, n: usize) -> Result<Vec<Condition>, PolicyError> {
    let mut out = Vec::new();
    for (op_name, entries) in block {
        let operator = Operator::parse(op_name).ok_or_else(|| {
            PolicyError(format!(
                "Invalid Condition type : {op_name} (statement {n})."
            ))
        })?;
        let Value::Object(entries) = entries else {
            return err(format!(
                "Syntax errors in policy: {op_name} in statement {n} must map condition keys to values."
            ));
        };
        for (key, v) in entries {
            if !key.contains(':') {
                return err(format!(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.: condition key '{key}' in statement {n}."
                ));
            }
            let scalar = |v: &Value| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(x) => Ok(x.to_string()),
                _ => err(format!(
                    "Syntax errors in policy: the values of {op_name}/{key} in statement {n} must be strings, numbers or booleans."
                )),
            };
            let values = match v {
                Value::Array(a) if a.is_empty() => {
                    return err(format!("{op_name}/{key} in statement {n} has no values."));
                }
                Value::Array(a) => a.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other)?],
            };
            out.push(Condition {
                operator: operator.clone(),
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_003_TASK_ROLE: &str = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {
          "Effect": "Allow",
          "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"],
          "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-*"]
        }
      ]
    }"#;

    #[test]
    fn seed_policy_parses() {
        let p = parse(SEED_003_TASK_ROLE, PolicyKind::Identity).unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].effect, Effect::Allow);
        assert_eq!(p.statements[0].action.values.len(), 2);
        assert!(p.has_variables());
    }

    #[test]
    fn single_statement_object_and_scalar_values() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"iam:*","NotResource":"*",
                "Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":10}}}}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        let s = &p.statements[0];
        assert!(s.action.negated && s.resource.as_ref().unwrap().negated);
        assert_eq!(s.conditions.len(), 2);
        assert!(
            s.conditions
                .iter()
                .any(|c| c.values == vec!["false".to_string()])
        );
    }

    #[test]
    fn malformed_documents_are_explained() {
        let cases: &[(&str, PolicyKind, &str)] = &[
            ("not json", PolicyKind::Identity, "Syntax errors"),
            ("[]", PolicyKind::Identity, "JSON object"),
            (
                r#"{"Version":"2020-01-01","Statement":[]}"#,
                PolicyKind::Identity,
                "valid version",
            ),
            (
                r#"{"Version":"2012-10-17"}"#,
                PolicyKind::Identity,
                "Missing required field Statement",
            ),
            (
                r#"{"Statement":[{"Action":"s3:*","Resource":"*"}]}"#,
                PolicyKind::Identity,
                "Missing required field Effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Permit","Action":"s3:*","Resource":"*"}]}"#,
                PolicyKind::Identity,
                "Invalid effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                PolicyKind::Identity,
                "must contain actions",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"GetSecretValue","Resource":"*"}]}"#,
                PolicyKind::Identity,
                "prefaced by a vendor",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
                PolicyKind::Identity,
                "must contain resources",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}"#,
                PolicyKind::Identity,
                "ARN format",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
                PolicyKind::Identity,
                "should not specify a principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
                PolicyKind::Resource,
                "Missing required field Principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:x":"y"}}}]}"#,
                PolicyKind::Identity,
                "Invalid Condition type : StringEqualz",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Extra":1}]}"#,
                PolicyKind::Identity,
                "unknown element 'Extra'",
            ),
            (
                r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
                PolicyKind::Identity,
                "must be unique",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
                PolicyKind::Identity,
                "must not be empty",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*","Resource":"*"}]}"#,
                PolicyKind::Resource,
                "Invalid principal",
            ),
        ];
        for (doc, kind, want) in cases {
            let e = parse(doc, *kind).unwrap_err();
            assert!(e.0.contains(want), "{doc}: got {:?}, want {want:?}", e.0);
        }
    }

    #[test]
    fn trust_policies_need_no_resource() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root","Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            PolicyKind::Trust,
        )
        .unwrap();
        let pr = p.statements[0].principal.as_ref().unwrap();
        assert_eq!(pr.aws, vec!["arn:aws:iam::123456789012:root".to_string()]);
        assert_eq!(pr.service, vec!["ecs-tasks.amazonaws.com".to_string()]);
        assert!(p.statements[0].resource.is_none());
    }
}
