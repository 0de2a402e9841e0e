//! The wire codecs: Query forms (IAM/STS bodies), XML escaping, Smithy RPC v2 CBOR
//! (CloudWatch) both ways, and JSON 1.1 bodies into the JSON services' generated inputs
//! (`Input::parse`, then back to JSON for the audit record). The first byte picks the codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom::pipeline::Operation;
use strongroom::services::{kms, secretsmanager as sm, ssm};

/// Every operation the services offer (and a few they do not), as the pipeline parses them.
const SM_OPS: &[&str] = &[
    "CreateSecret", "DescribeSecret", "GetSecretValue", "BatchGetSecretValue", "PutSecretValue",
    "UpdateSecret", "UpdateSecretVersionStage", "RotateSecret", "ListSecrets",
    "ListSecretVersionIds", "DeleteSecret", "TagResource", "UntagResource", "GetRandomPassword",
    "PutResourcePolicy", "ValidateResourcePolicy", "ReplicateSecretToRegions",
    "ListResourcePolicies",
];
const OTHER_OPS: &[&str] = &[
    "PutParameter", "GetParameters", "GetParametersByPath", "DescribeParameters",
    "LabelParameterVersion", "AddTagsToResource", "Encrypt", "Decrypt", "ReEncrypt",
    "CreateKey", "CreateAlias", "GenerateDataKey", "ListGrants",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let form = strongroom::http::query::parse_form(body);
            for (k, v) in &form {
                let escaped = strongroom::http::query::escape(v);
                assert!(!escaped.contains('<') && !escaped.contains('>'), "{k}");
            }
        }
        1 => {
            if let Ok(v) = strongroom::services::cloudwatch::protocol::cbor_to_json(body) {
                for op in ["PutMetricAlarm", "DescribeAlarms", "GetMetricData", "GetMetricStatistics", "ListMetrics"] {
                    let _ = strongroom::services::cloudwatch::protocol::json_to_cbor(op, &v);
                }
            }
        }
        2 => {
            for name in SM_OPS {
                let op = sm::ops::Op::from_name(name).expect("a Secrets Manager operation");
                if let Ok(input) = sm::shapes::Input::parse(op, body) {
                    assert_eq!(input.op(), op);
                    let _ = input.to_json();
                }
            }
        }
        _ => {
            for name in OTHER_OPS {
                if let Some(op) = kms::ops::Op::from_name(name)
                    && let Ok(input) = kms::shapes::Input::parse(op, body)
                {
                    let _ = input.to_json();
                }
                if let Some(op) = ssm::ops::Op::from_name(name)
                    && let Ok(input) = ssm::shapes::Input::parse(op, body)
                {
                    let _ = input.to_json();
                }
            }
        }
    }
});
