//! CloudFormation's dynamic references, `{{resolve:SERVICE:...}}`, found in any text.
//!
//! The grammar, as CloudFormation documents it:
//! - `{{resolve:secretsmanager:secret-id:SecretString:json-key:version-stage:version-id}}` —
//!   `secret-id` a name or a (full or partial) ARN; every later part optional, trailing ones
//!   may be left out, empty ones mean "default": `SecretString` (the only supported value),
//!   the whole string, AWSCURRENT. A version stage and a version id exclude each other.
//! - `{{resolve:ssm:name[:version]}}` (String / StringList) and
//!   `{{resolve:ssm-secure:name[:version]}}` (SecureString), `name` possibly an ARN or a
//!   `/aws/reference/secretsmanager/...` path; `version` a positive integer.
//!
//! Pure: parsing only, positions for error messages; resolution is in [`crate::render`].

use std::fmt;

/// Where a reference starts in its text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Which version of a secret a reference asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretVersion {
    Stage(String),
    Id(String),
}

impl Default for SecretVersion {
    fn default() -> Self {
        Self::Stage("AWSCURRENT".into())
    }
}

/// One dynamic reference, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    Secret {
        secret_id: String,
        /// `None`: the whole SecretString.
        json_key: Option<String>,
        version: SecretVersion,
    },
    Parameter {
        name: String,
        version: Option<u64>,
        /// `ssm-secure`: must be a SecureString; `ssm`: must not be.
        secure: bool,
    },
}

impl Reference {
    /// The name the value is stored under, for messages (never the value).
    pub fn target(&self) -> &str {
        match self {
            Reference::Secret { secret_id, .. } => secret_id,
            Reference::Parameter { name, .. } => name,
        }
    }
}

/// A reference found in a text: its source spelling, position and byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub text: String,
    pub position: Position,
    pub range: std::ops::Range<usize>,
    pub reference: Result<Reference, String>,
}

const OPEN: &str = "{{resolve:";
const CLOSE: &str = "}}";

/// Every `{{resolve:...}}` in `text`, in order, each parsed (or with why it cannot be). An
/// opening without its `}}` is reported as malformed and ends the scan.
pub fn find_all(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(OPEN) {
        let start = from + i;
        let position = position_of(text, start);
        let body_start = start + OPEN.len();
        match text[body_start..].find(CLOSE) {
            Some(j) => {
                let end = body_start + j + CLOSE.len();
                let body = &text[body_start..body_start + j];
                out.push(Found {
                    text: text[start..end].to_string(),
                    position,
                    range: start..end,
                    reference: parse_body(body),
                });
                from = end;
            }
            None => {
                let shown: String = text[start..].chars().take(60).collect();
                out.push(Found {
                    text: shown,
                    position,
                    range: start..text.len(),
                    reference: Err("the reference has no closing '}}'".into()),
                });
                break;
            }
        }
    }
    out
}

fn position_of(text: &str, byte: usize) -> Position {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    Position {
        line,
        column: text[line_start..byte].chars().count() + 1,
    }
}

/// Parse one reference given without its braces' `{{resolve:` and `}}`.
pub fn parse_body(body: &str) -> Result<Reference, String> {
    let (service, rest) = body
        .split_once(':')
        .ok_or_else(|| "expected {{resolve:SERVICE:...}}".to_string())?;
    match service {
        "secretsmanager" => parse_secret(rest),
        "ssm" => parse_parameter(rest, false),
        "ssm-secure" => parse_parameter(rest, true),
        other => Err(format!(
            "unknown service '{other}' (expected secretsmanager, ssm or ssm-secure)"
        )),
    }
}

/// Parse a whole reference, braces included.
pub fn parse(reference: &str) -> Result<Reference, String> {
    let body = reference
        .strip_prefix(OPEN)
        .and_then(|r| r.strip_suffix(CLOSE))
        .ok_or_else(|| "expected {{resolve:SERVICE:...}}".to_string())?;
    parse_body(body)
}

/// Split off an ARN of `fields` colon-separated fields (the last one may hold `/`), or the
/// first field of a plain name.
fn split_id(rest: &str, arn_fields: usize) -> (String, Vec<&str>) {
    let parts: Vec<&str> = rest.split(':').collect();
    if rest.starts_with("arn:") && parts.len() >= arn_fields {
        (parts[..arn_fields].join(":"), parts[arn_fields..].to_vec())
    } else {
        (parts[0].to_string(), parts[1..].to_vec())
    }
}

fn parse_secret(rest: &str) -> Result<Reference, String> {
    // arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME (7 fields).
    if rest.starts_with("arn:") && rest.split(':').nth(2) != Some("secretsmanager") {
        return Err(format!(
            "'{}' is not a Secrets Manager secret ARN",
            rest.split(':').take(6).collect::<Vec<_>>().join(":")
        ));
    }
    let (secret_id, fields) = split_id(rest, 7);
    if secret_id.is_empty() {
        return Err("the secret id is empty".into());
    }
    if secret_id.starts_with("arn:") && !secret_id.contains(":secret:") {
        return Err(format!("'{secret_id}' is not a Secrets Manager secret ARN"));
    }
    if fields.len() > 4 {
        return Err(
            "too many parts: expected secret-id:SecretString:json-key:version-stage:version-id"
                .into(),
        );
    }
    let get = |i: usize| fields.get(i).copied().filter(|s| !s.is_empty());
    if let Some(kind) = get(0)
        && kind != "SecretString"
    {
        return Err(format!(
            "'{kind}' is not supported: the only value of the secret-string part is SecretString"
        ));
    }
    let json_key = get(1).map(str::to_string);
    let version = match (get(2), get(3)) {
        (Some(_), Some(_)) => {
            return Err("give a version stage or a version id, not both".into());
        }
        (Some(stage), None) => SecretVersion::Stage(stage.to_string()),
        (None, Some(id)) => SecretVersion::Id(id.to_string()),
        (None, None) => SecretVersion::default(),
    };
    Ok(Reference::Secret {
        secret_id,
        json_key,
        version,
    })
}

fn parse_parameter(rest: &str, secure: bool) -> Result<Reference, String> {
    // arn:aws:ssm:REGION:ACCOUNT:parameter/NAME (6 fields).
    let (name, fields) = split_id(rest, 6);
    if name.is_empty() {
        return Err("the parameter name is empty".into());
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || "_.-/".contains(c);
    if !name.starts_with("arn:") && !name.chars().all(valid) {
        return Err(format!(
            "'{name}' is not a parameter name (letters, digits, '_', '.', '-', '/')"
        ));
    }
    let version = match fields.as_slice() {
        [] => None,
        [v] => Some(
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("version '{v}' is not a positive integer"))?,
        ),
        _ => return Err("too many parts: expected name[:version]".into()),
    };
    Ok(Reference::Parameter {
        name,
        version,
        secure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str, key: Option<&str>, version: SecretVersion) -> Reference {
        Reference::Secret {
            secret_id: id.into(),
            json_key: key.map(Into::into),
            version,
        }
    }

    fn stage(s: &str) -> SecretVersion {
        SecretVersion::Stage(s.into())
    }

    #[test]
    fn secretsmanager_references_as_cloudformation_documents_them() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret-a1b2c3";
        let cases = [
            (
                "{{resolve:secretsmanager:MySecret}}",
                secret("MySecret", None, SecretVersion::default()),
            ),
            (
                "{{resolve:secretsmanager:MySecret:SecretString}}",
                secret("MySecret", None, SecretVersion::default()),
            ),
            (
                "{{resolve:secretsmanager:MySecret:SecretString:username}}",
                secret("MySecret", Some("username"), SecretVersion::default()),
            ),
            (
                "{{resolve:secretsmanager:MySecret::password}}",
                secret("MySecret", Some("password"), SecretVersion::default()),
            ),
            (
                "{{resolve:secretsmanager:MySecret:SecretString:password:AWSPREVIOUS}}",
                secret("MySecret", Some("password"), stage("AWSPREVIOUS")),
            ),
            (
                "{{resolve:secretsmanager:MySecret:SecretString::AWSPENDING}}",
                secret("MySecret", None, stage("AWSPENDING")),
            ),
            (
                "{{resolve:secretsmanager:MySecret:SecretString:::0f6b8c1e-aaaa}}",
                secret("MySecret", None, SecretVersion::Id("0f6b8c1e-aaaa".into())),
            ),
            (
                &format!("{{{{resolve:secretsmanager:{arn}}}}}"),
                secret(arn, None, SecretVersion::default()),
            ),
            (
                &format!("{{{{resolve:secretsmanager:{arn}:SecretString:password}}}}"),
                secret(arn, Some("password"), SecretVersion::default()),
            ),
            // A partial ARN (no random suffix) goes to Secrets Manager as written.
            (
                "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret:SecretString:k}}",
                secret(
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret",
                    Some("k"),
                    SecretVersion::default(),
                ),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_secret_references_say_why() {
        for (text, why) in [
            ("{{resolve:secretsmanager:}}", "empty"),
            ("{{resolve:secretsmanager:S:SecretBinary}}", "only value"),
            (
                "{{resolve:secretsmanager:S:SecretString:k:AWSCURRENT:v1}}",
                "not both",
            ),
            (
                "{{resolve:secretsmanager:S:SecretString:k:AWSCURRENT:v1:x}}",
                "too many",
            ),
            (
                "{{resolve:secretsmanager:arn:aws:ssm:us-east-1:123456789012:parameter/x}}",
                "not a Secrets Manager",
            ),
            ("{{resolve:s3:bucket}}", "unknown service"),
            ("{{resolve:ssm}}", "expected"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn parameter_references() {
        assert_eq!(
            parse("{{resolve:ssm:/app/dev/db-host}}"),
            Ok(Reference::Parameter {
                name: "/app/dev/db-host".into(),
                version: None,
                secure: false
            })
        );
        assert_eq!(
            parse("{{resolve:ssm-secure:/app/dev/db-password:3}}"),
            Ok(Reference::Parameter {
                name: "/app/dev/db-password".into(),
                version: Some(3),
                secure: true
            })
        );
        assert_eq!(
            parse("{{resolve:ssm-secure:/aws/reference/secretsmanager/slack-credentials}}"),
            Ok(Reference::Parameter {
                name: "/aws/reference/secretsmanager/slack-credentials".into(),
                version: None,
                secure: true
            })
        );
        assert_eq!(
            parse("{{resolve:ssm:arn:aws:ssm:us-east-1:123456789012:parameter/app/x:2}}"),
            Ok(Reference::Parameter {
                name: "arn:aws:ssm:us-east-1:123456789012:parameter/app/x".into(),
                version: Some(2),
                secure: false
            })
        );
        assert!(
            parse("{{resolve:ssm:/a:0}}")
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            parse("{{resolve:ssm:/a:latest}}")
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            parse("{{resolve:ssm:has space}}")
                .unwrap_err()
                .contains("not a parameter name")
        );
        assert!(
            parse("{{resolve:ssm:/a:1:2}}")
                .unwrap_err()
                .contains("too many")
        );
    }

    #[test]
    fn references_to_arns_of_another_partition() {
        let arn = "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf";
        assert_eq!(
            parse(&format!(
                "{{{{resolve:secretsmanager:{arn}:SecretString:k}}}}"
            )),
            Ok(Reference::Secret {
                secret_id: arn.into(),
                json_key: Some("k".into()),
                version: SecretVersion::default(),
            })
        );
        assert_eq!(
            parse("{{resolve:ssm:arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/x:3}}"),
            Ok(Reference::Parameter {
                name: "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/x".into(),
                version: Some(3),
                secure: false
            })
        );
        assert!(
            parse("{{resolve:secretsmanager:arn:aws-cn:ssm:cn-north-1:123456789012:parameter/x}}")
                .is_err()
        );
    }

    #[test]
    fn references_are_found_with_their_line_and_column() {
        let text = "host: {{resolve:ssm:/h}}\npassword: \"{{resolve:secretsmanager:db::password}}\"\n  é {{resolve:nope:x}} {{resolve:ssm:/open";
        let found = find_all(text);
        assert_eq!(found.len(), 4);
        assert_eq!(found[0].position, Position { line: 1, column: 7 });
        assert_eq!(&text[found[0].range.clone()], "{{resolve:ssm:/h}}");
        assert_eq!(
            found[1].position,
            Position {
                line: 2,
                column: 12
            }
        );
        assert!(found[1].reference.is_ok());
        assert_eq!(found[2].position, Position { line: 3, column: 5 });
        assert!(found[2].reference.is_err());
        assert!(found[3].reference.as_ref().unwrap_err().contains("closing"));
        assert!(find_all("no references {{ here }}").is_empty());
    }
}
