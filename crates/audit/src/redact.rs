//! What never enters a record: every member the AWS service models mark `sensitive`
//! (directly or through its shape), plus credentials the models leave unmarked. Matching is by
//! member name anywhere in the tree: removing a same-named harmless member is the safe error.
//!
//! The lists are generated from `aws-models/*.json` (botocore) by `scripts/gen-ops.py` into
//! [`crate::sensitive`]: for every structure member, is the member or its target shape
//! `sensitive`?

use serde_json::{Map, Value};

use crate::sensitive::{CLOUDTRAIL, CLOUDWATCH, IAM, KMS, SECRETSMANAGER, SSM, STS};

/// Unmarked in the models but credentials all the same (STS returns session tokens; SigV4
/// signatures are never useful to an auditor).
const ALWAYS: &[&str] = &[
    "SecretString",
    "SecretBinary",
    "SecretAccessKey",
    "SessionToken",
    "Signature",
];

fn sensitive_for(event_source: &str) -> &'static [&'static str] {
    match event_source {
        "secretsmanager.amazonaws.com" => SECRETSMANAGER,
        "iam.amazonaws.com" => IAM,
        "sts.amazonaws.com" => STS,
        "kms.amazonaws.com" => KMS,
        "ssm.amazonaws.com" => SSM,
        "monitoring.amazonaws.com" => CLOUDWATCH,
        "cloudtrail.amazonaws.com" => CLOUDTRAIL,
        _ => &[],
    }
}

/// Request or response members as CloudTrail shows them: sensitive members removed, keys in
/// lowerCamelCase (`SecretId` → `secretId`).
pub fn for_record(event_source: &str, value: Value) -> Value {
    let service = sensitive_for(event_source);
    clean(value, &|k: &str| {
        service
            .iter()
            .chain(ALWAYS)
            .any(|s| s.eq_ignore_ascii_case(k))
    })
}

fn clean(value: Value, sensitive: &dyn Fn(&str) -> bool) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                if sensitive(&k) {
                    continue;
                }
                out.insert(lower_first(&k), clean(v, sensitive));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| clean(v, sensitive)).collect())
        }
        other => other,
    }
}

/// `SecretId` → `secretId`, and a leading acronym whole: `ARN` → `arn`, `KMSKeyId` →
/// `kmsKeyId` (CloudTrail's spelling since 2024; it once wrote `aRN`).
pub fn lower_first(s: &str) -> String {
    // ASCII capitals are one byte each: the run is counted, lowered and copied bytewise
    // (a `Vec<char>` per key was most of a read's record parameters' cost).
    let upper_run = s.bytes().take_while(u8::is_ascii_uppercase).count();
    let lower = match upper_run {
        0 => return s.to_string(),
        n if n == s.len() => n,
        1 => 1,
        // In "KMSKeyId" the K of "Key" starts the next word.
        n => n - 1,
    };
    let mut out = String::with_capacity(s.len());
    out.extend(
        s[..lower]
            .bytes()
            .map(|b| char::from(b.to_ascii_lowercase())),
    );
    out.push_str(&s[lower..]);
    out
}

/// For flat form parameters (the Query protocol): `Tags.member.1.Key` is sensitive when any
/// dotted segment is.
pub fn form_key_is_sensitive(event_source: &str, key: &str) -> bool {
    let service = sensitive_for(event_source);
    key.split('.').any(|seg| {
        service
            .iter()
            .chain(ALWAYS)
            .any(|s| s.eq_ignore_ascii_case(seg))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_members_vanish_at_any_depth_and_keys_are_camel_cased() {
        let v = json!({
            "SecretId": "db",
            "SecretString": "hunter2",
            "ClientRequestToken": "t",
            "Nested": [{"SecretBinary": "aGk=", "Key": "k"}],
        });
        let out = for_record("secretsmanager.amazonaws.com", v);
        assert_eq!(
            out,
            json!({"secretId": "db", "clientRequestToken": "t", "nested": [{"key": "k"}]})
        );
        let sts = for_record(
            "sts.amazonaws.com",
            json!({"Credentials": {"AccessKeyId": "ASIA", "SecretAccessKey": "x", "SessionToken": "y"}}),
        );
        assert_eq!(sts, json!({"credentials": {"accessKeyId": "ASIA"}}));
    }

    #[test]
    fn keys_are_camel_cased_as_cloudtrail_spells_them() {
        for (k, want) in [
            ("SecretId", "secretId"),
            ("ARN", "arn"),
            ("KMSKeyId", "kmsKeyId"),
            ("VersionIdsToStages", "versionIdsToStages"),
            ("name", "name"),
            ("X", "x"),
            ("KMS", "kms"),
            ("", ""),
            ("ÄrgerId", "ÄrgerId"),
            ("IDÄ", "iDÄ"),
            ("SÄ", "sÄ"),
        ] {
            assert_eq!(lower_first(k), want);
        }
    }

    #[test]
    fn form_keys_match_by_segment() {
        assert!(form_key_is_sensitive("iam.amazonaws.com", "Password"));
        assert!(form_key_is_sensitive(
            "iam.amazonaws.com",
            "X.member.1.NewPassword"
        ));
        assert!(!form_key_is_sensitive("iam.amazonaws.com", "UserName"));
    }
}
