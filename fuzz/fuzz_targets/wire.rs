//! The wire codecs: Query forms (IAM/STS bodies), XML escaping, Smithy RPC v2 CBOR
//! (CloudWatch) both ways, and JSON 1.1 bodies into Secrets Manager's typed inputs. The first
//! byte picks the codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom::services::secretsmanager::model as sm;

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) {
    let _ = serde_json::from_slice::<T>(body);
}

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
            json::<sm::CreateSecretInput>(body);
            json::<sm::SecretIdInput>(body);
            json::<sm::GetSecretValueInput>(body);
            json::<sm::BatchGetSecretValueInput>(body);
            json::<sm::PutSecretValueInput>(body);
            json::<sm::UpdateSecretInput>(body);
            json::<sm::UpdateSecretVersionStageInput>(body);
        }
        _ => {
            json::<sm::RotateSecretInput>(body);
            json::<sm::ListSecretsInput>(body);
            json::<sm::ListSecretVersionIdsInput>(body);
            json::<sm::DeleteSecretInput>(body);
            json::<sm::TagResourceInput>(body);
            json::<sm::UntagResourceInput>(body);
            json::<sm::GetRandomPasswordInput>(body);
        }
    }
});
