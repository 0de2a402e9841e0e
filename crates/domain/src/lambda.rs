//! Lambda's rules for a function's environment variables (`Environment.Variables`), which
//! Strongroom's rotation functions follow: AWS's rotation templates are configured through
//! them (`EXCLUDE_CHARACTERS`, `PASSWORD_LENGTH`, `USERNAME_CHARACTER_LIMIT`, …).
//!
//! As in Lambda: a name matches the model's `[a-zA-Z]([a-zA-Z0-9_])+`; the keys Lambda's
//! runtime sets itself are reserved; all names and values together fit in 4 KB.

use std::collections::BTreeMap;

/// The keys Lambda reserves: its runtime sets them (the function's identity, the execution
/// role's credentials, the region, the time zone), so a configuration may not.
pub const RESERVED: [&str; 19] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
];

/// Lambda's limit on a function's environment variables, names and values together.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

/// Whether `name` matches Lambda's `EnvironmentVariableName` pattern.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Check a function's environment as Lambda checks `Environment.Variables`. The error names
/// keys only, never a value (Lambda treats the values as sensitive).
pub fn check_environment(vars: &BTreeMap<String, String>) -> Result<(), String> {
    let bad: Vec<&str> = vars
        .keys()
        .filter(|k| !valid_name(k))
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "environment variable names must match [a-zA-Z]([a-zA-Z0-9_])+: {}",
            bad.join(", ")
        ));
    }
    let reserved: Vec<&str> = vars
        .keys()
        .filter(|k| RESERVED.contains(&k.as_str()))
        .map(String::as_str)
        .collect();
    if !reserved.is_empty() {
        // Lambda's InvalidParameterValueException text.
        return Err(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        ));
    }
    let size: usize = vars.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ENVIRONMENT_BYTES {
        return Err(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {size} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_templates_settings_are_accepted() {
        let vars = env(&[
            ("EXCLUDE_CHARACTERS", "/@\"'\\"),
            ("PASSWORD_LENGTH", "40"),
            ("USERNAME_CHARACTER_LIMIT", "32"),
            ("PATH", "/opt/bin:/usr/bin"),
        ]);
        assert_eq!(check_environment(&vars), Ok(()));
        assert_eq!(check_environment(&BTreeMap::new()), Ok(()));
    }

    #[test]
    fn names_follow_the_model_pattern() {
        for ok in ["AB", "a1", "Password_Length", "x_"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "A", "1A", "_A", "A-B", "A B", "É_X"] {
            assert!(!valid_name(bad), "{bad}");
        }
        let err = check_environment(&env(&[("GOOD", "1"), ("BAD-NAME", "2")])).unwrap_err();
        assert!(err.contains("BAD-NAME") && !err.contains("GOOD"), "{err}");
    }

    #[test]
    fn reserved_keys_are_refused_by_name_without_values() {
        let err = check_environment(&env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_SECRET_ACCESS_KEY", "hunter2-value"),
            ("OK_KEY", "x"),
        ]))
        .unwrap_err();
        assert!(err.contains("reserved keys"), "{err}");
        assert!(
            err.contains("AWS_REGION") && err.contains("AWS_SECRET_ACCESS_KEY"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2") && !err.contains("eu-west-1"),
            "{err}"
        );
        for key in RESERVED {
            assert!(check_environment(&env(&[(key, "v")])).is_err(), "{key}");
        }
    }

    #[test]
    fn at_most_4_kb_in_all() {
        let fits = "v".repeat(MAX_ENVIRONMENT_BYTES - 2);
        assert_eq!(check_environment(&env(&[("AB", &fits)])), Ok(()));
        let over = "v".repeat(MAX_ENVIRONMENT_BYTES - 1);
        let err = check_environment(&env(&[("AB", &over)])).unwrap_err();
        assert!(err.contains("4KB") && !err.contains(&over), "{err}");
    }
}
