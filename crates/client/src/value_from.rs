//! ECS's `valueFrom` for container secrets, as the ECS agent reads it, plus one convenience.
//!
//! - A Secrets Manager ARN, either `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:ID`
//!   (the whole SecretString) or exactly `...:secret:ID:JSON-KEY:VERSION-STAGE:VERSION-ID` —
//!   ten colon-separated fields, trailing colons required, empty fields unset (seed 003's
//!   `...:auth-service-prod-config:MONGODB_URI::`). The ARN up to `ID` goes to Secrets Manager
//!   as written, so a partial ARN (no random suffix) resolves as Secrets Manager resolves it.
//! - An SSM parameter ARN (`arn:...:ssm:...:parameter/NAME`) or name: decrypted if a
//!   SecureString.
//! - Beyond ECS: a plain secret name with a JSON key and more, `NAME:JSON-KEY[:STAGE[:ID]]`
//!   (SSM names cannot contain `:`). A bare word without `/` or `:` is what ECS reads as an SSM
//!   parameter name; it is tried as one, and as a secret name only if no such parameter exists.

use crate::reference::{Reference, SecretVersion};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueFrom {
    /// A secret, and how to pick the value.
    Secret(Reference),
    /// An SSM parameter (any type, decrypted).
    Parameter(String),
    /// A bare word: an SSM parameter if one exists, else the secret of that name.
    ParameterOrSecret(String),
}

pub fn parse(value_from: &str) -> Result<ValueFrom, String> {
    let v = value_from.trim();
    if v.is_empty() {
        return Err("valueFrom is empty".into());
    }
    if v.starts_with("arn:") {
        let parts: Vec<&str> = v.split(':').collect();
        return match parts.get(2).copied() {
            Some("secretsmanager") => secret_arn(v, &parts),
            Some("ssm") if parts.len() == 6 && parts[5].starts_with("parameter/") => {
                Ok(ValueFrom::Parameter(v.to_string()))
            }
            _ => Err(format!(
                "'{v}' is neither a Secrets Manager secret ARN nor an SSM parameter ARN"
            )),
        };
    }
    if v.contains(':') {
        // NAME:JSON-KEY[:STAGE[:ID]]
        let parts: Vec<&str> = v.split(':').collect();
        if parts.len() > 4 {
            return Err(format!(
                "'{v}': expected NAME:JSON-KEY[:VERSION-STAGE[:VERSION-ID]]"
            ));
        }
        return secret(parts[0], &parts[1..]);
    }
    if v.starts_with('/') {
        return Ok(ValueFrom::Parameter(v.to_string()));
    }
    Ok(ValueFrom::ParameterOrSecret(v.to_string()))
}

fn secret_arn(v: &str, parts: &[&str]) -> Result<ValueFrom, String> {
    if parts.len() < 7 || parts[5] != "secret" || parts[6].is_empty() {
        return Err(format!("'{v}' is not a Secrets Manager secret ARN"));
    }
    match parts.len() {
        7 => secret(v, &[]),
        10 => secret(&parts[..7].join(":"), &parts[7..]),
        _ => Err(format!(
            "'{v}': a secret ARN with options must have exactly ten fields, ARN:JSON-KEY:VERSION-STAGE:VERSION-ID (trailing colons included)"
        )),
    }
}

fn secret(id: &str, options: &[&str]) -> Result<ValueFrom, String> {
    if id.is_empty() {
        return Err("the secret name is empty".into());
    }
    let get = |i: usize| options.get(i).copied().filter(|s| !s.is_empty());
    let version = match (get(1), get(2)) {
        (Some(_), Some(_)) => {
            return Err("give a version stage or a version id, not both".into());
        }
        (Some(stage), None) => SecretVersion::Stage(stage.to_string()),
        (None, Some(id)) => SecretVersion::Id(id.to_string()),
        (None, None) => SecretVersion::default(),
    };
    Ok(ValueFrom::Secret(Reference::Secret {
        secret_id: id.to_string(),
        json_key: get(0).map(str::to_string),
        version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_ref(id: &str, key: Option<&str>, version: SecretVersion) -> ValueFrom {
        ValueFrom::Secret(Reference::Secret {
            secret_id: id.into(),
            json_key: key.map(Into::into),
            version,
        })
    }

    #[test]
    fn ecs_value_from_forms() {
        let base = "arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-config";
        assert_eq!(
            parse(base),
            Ok(secret_ref(base, None, SecretVersion::default()))
        );
        // Seed 003's form: a partial ARN, a JSON key, trailing colons.
        assert_eq!(
            parse(&format!("{base}:MONGODB_URI::")),
            Ok(secret_ref(
                base,
                Some("MONGODB_URI"),
                SecretVersion::default()
            ))
        );
        assert_eq!(
            parse(&format!("{base}-AbCdEf::AWSPREVIOUS:")),
            Ok(secret_ref(
                &format!("{base}-AbCdEf"),
                None,
                SecretVersion::Stage("AWSPREVIOUS".into())
            ))
        );
        assert_eq!(
            parse(&format!("{base}:k::v-1")),
            Ok(secret_ref(base, Some("k"), SecretVersion::Id("v-1".into())))
        );
        // ECS requires all three option fields.
        assert!(
            parse(&format!("{base}:MONGODB_URI"))
                .unwrap_err()
                .contains("exactly ten")
        );
        assert!(
            parse(&format!("{base}:k:AWSCURRENT:v1"))
                .unwrap_err()
                .contains("not both")
        );
        assert!(parse("arn:aws:secretsmanager:us-east-1:123456789012:parameter/x").is_err());
        assert_eq!(
            parse("arn:aws:ssm:us-east-1:123456789012:parameter/app/db"),
            Ok(ValueFrom::Parameter(
                "arn:aws:ssm:us-east-1:123456789012:parameter/app/db".into()
            ))
        );
        assert_eq!(parse("/app/db"), Ok(ValueFrom::Parameter("/app/db".into())));
        assert_eq!(
            parse("db-host"),
            Ok(ValueFrom::ParameterOrSecret("db-host".into()))
        );
        assert_eq!(
            parse("app-config:password"),
            Ok(secret_ref(
                "app-config",
                Some("password"),
                SecretVersion::default()
            ))
        );
        assert_eq!(
            parse("app-config:password:AWSPENDING"),
            Ok(secret_ref(
                "app-config",
                Some("password"),
                SecretVersion::Stage("AWSPENDING".into())
            ))
        );
        assert!(parse("").is_err());
        assert!(parse("arn:aws:s3:::bucket").is_err());
    }

    #[test]
    fn arns_of_every_partition_are_read_alike() {
        // The server decides whether the partition is its own; the forms are the same.
        for partition in ["aws-cn", "aws-us-gov"] {
            let base = format!("arn:{partition}:secretsmanager:cn-north-1:123456789012:secret:app");
            assert_eq!(
                parse(&format!("{base}:k::")),
                Ok(secret_ref(&base, Some("k"), SecretVersion::default()))
            );
            let param = format!("arn:{partition}:ssm:cn-north-1:123456789012:parameter/app/db");
            assert_eq!(parse(&param), Ok(ValueFrom::Parameter(param.clone())));
            assert!(parse(&format!("arn:{partition}:s3:::bucket")).is_err());
        }
    }
}
