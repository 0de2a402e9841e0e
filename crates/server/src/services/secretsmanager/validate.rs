//! Input constraints from secretsmanager.json. Violations of a modeled constraint (length,
//! range) answer as Coral does: ValidationException, "1 validation error detected: ...".
//! Values are never echoed back: they may be secret.

use super::SmError;

fn violation(member: &str, constraint: String) -> SmError {
    SmError::Validation(format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

/// Lengths of strings count characters, as Coral does.
pub fn length(member: &str, value: &str, min: usize, max: usize) -> Result<(), SmError> {
    byte_length(member, value.chars().count(), min, max)
}

/// A length already measured: bytes of a value, or items of a list.
pub fn byte_length(member: &str, len: usize, min: usize, max: usize) -> Result<(), SmError> {
    if len < min {
        return Err(violation(
            member,
            format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        return Err(violation(
            member,
            format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

pub fn range(member: &str, value: i64, min: i64, max: i64) -> Result<(), SmError> {
    if value < min {
        return Err(violation(
            member,
            format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(violation(
            member,
            format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

pub fn list_len(member: &str, len: usize, min: usize, max: usize) -> Result<(), SmError> {
    byte_length(member, len, min, max)
}

pub fn required<T>(member: &str, value: Option<T>) -> Result<T, SmError> {
    value.ok_or_else(|| violation(member, "Member must not be null".into()))
}

pub fn client_request_token(token: Option<&str>) -> Result<(), SmError> {
    match token {
        Some(t) => length("clientRequestToken", t, 32, 64),
        None => Ok(()),
    }
}

pub fn description(d: Option<&str>) -> Result<(), SmError> {
    match d {
        Some(d) => length("description", d, 0, 2048),
        None => Ok(()),
    }
}

pub fn kms_key_id(k: Option<&str>) -> Result<(), SmError> {
    match k {
        Some(k) => length("kmsKeyId", k, 0, 2048),
        None => Ok(()),
    }
}

pub fn secret_type(t: Option<&str>) -> Result<(), SmError> {
    match t {
        Some(t) => length("type", t, 0, 256),
        None => Ok(()),
    }
}

pub fn max_results(v: Option<i64>, max: i64) -> Result<Option<usize>, SmError> {
    match v {
        Some(n) => {
            range("maxResults", n, 1, max)?;
            Ok(Some(n as usize))
        }
        None => Ok(None),
    }
}

pub fn version_stages(stages: &[String]) -> Result<(), SmError> {
    list_len("versionStages", stages.len(), 1, 20)?;
    for s in stages {
        length("versionStages.member", s, 1, 256)?;
    }
    Ok(())
}

/// Secret names: 1–512 characters of `[A-Za-z0-9/_+=.@-]`; both violations are
/// ValidationException with AWS's wording (the rule lives in the domain crate).
pub fn name(name: &str) -> Result<(), SmError> {
    strongroom_domain::names::validate_secret_name(name)?;
    Ok(())
}
