//! Calls to the server (GetSecretValue, GetParameter) and the bodies the agent serves: AWS
//! Secrets Manager Agent's JSON for secrets, the Lambda extension's GetParameter JSON for
//! parameters. Values move from the SDK's output into zeroizing buffers; the body is written
//! into a buffer sized exactly first, so no reallocation leaves an unwiped copy behind.

use std::io::Write;

use aws_sdk_secretsmanager::Client as SecretsManager;
use aws_sdk_ssm::Client as Ssm;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use zeroize::Zeroizing;

use super::cache::Body;

/// A fetched body and what it is about.
pub struct Fetched {
    pub body: Body,
    pub arn: Option<String>,
    pub name: Option<String>,
}

/// An answer that is not a value: the HTTP status and body AWS's agent sends for it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub body: String,
    /// Timeouts, I/O errors, 5xx: a cached value may be served instead.
    pub transient: bool,
}

impl Failure {
    pub fn internal() -> Self {
        Self {
            status: 500,
            body: r#"{"__type":"InternalFailure"}"#.into(),
            transient: false,
        }
    }

    fn shaped(status: u16, code: &str, message: &str, transient: bool) -> Self {
        Self {
            status,
            body: serde_json::json!({"__type": code, "message": message}).to_string(),
            transient,
        }
    }
}

/// AWS's agent's mapping: service errors with their own status, code and message; timeouts
/// 504, connection errors 502, anything else 500 InternalFailure.
fn failure<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            match (s.err().code(), s.err().message()) {
                (Some(code), Some(message)) => {
                    Failure::shaped(status, code, message, status >= 500)
                }
                _ => Failure {
                    transient: status >= 500,
                    ..Failure::internal()
                },
            }
        }
        SdkError::TimeoutError(_) => Failure::shaped(504, "TimeoutError", "Timeout", true),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Failure::shaped(504, "TimeoutError", "Timeout", true)
        }
        SdkError::DispatchFailure(d) if d.is_io() => {
            Failure::shaped(502, "ConnectionError", "Read Error", true)
        }
        SdkError::ResponseError(_) => {
            Failure::shaped(502, "ConnectionError", "Response Error", true)
        }
        _ => Failure::internal(),
    }
}

/// AWS's agent's GetSecretValue body (its field order; CreatedDate as a string of epoch
/// seconds).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SecretBody<'a> {
    #[serde(rename = "ARN")]
    arn: Option<&'a str>,
    name: Option<&'a str>,
    version_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_string: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_binary: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_stages: Option<&'a [String]>,
    created_date: Option<String>,
}

/// The Lambda extension's GetParameter body: the output as the extension serialises it
/// (every member, nulls included, `ResultMetadata`, RFC 3339 dates).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ParameterBody<'a> {
    parameter: ParameterFields<'a>,
    result_metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ParameterFields<'a> {
    #[serde(rename = "ARN")]
    arn: Option<&'a str>,
    data_type: Option<&'a str>,
    last_modified_date: Option<String>,
    name: Option<&'a str>,
    selector: Option<&'a str>,
    source_result: Option<&'a str>,
    #[serde(rename = "Type")]
    kind: Option<&'a str>,
    value: Option<&'a str>,
    version: i64,
}

/// Serialise into a zeroizing buffer of exactly the right size (measured first).
fn exact_json<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, Failure> {
    struct Count(usize);
    impl Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_err(|_| Failure::internal())?;
    let mut out = Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *out, value).map_err(|_| Failure::internal())?;
    Ok(out)
}

pub async fn secret(
    sm: &SecretsManager,
    id: &str,
    version_id: Option<&str>,
    version_stage: Option<&str>,
) -> Result<Fetched, Failure> {
    let mut out = sm
        .get_secret_value()
        .secret_id(id)
        .set_version_id(version_id.map(str::to_string))
        .set_version_stage(version_stage.map(str::to_string))
        .send()
        .await
        .map_err(|e| failure(&e))?;
    let string = out.secret_string.take().map(Zeroizing::new);
    let binary = out
        .secret_binary
        .take()
        .map(|b| Zeroizing::new(b.into_inner()));
    let binary_b64 = binary
        .as_ref()
        .map(|b| Zeroizing::new(aws_smithy_types::base64::encode(&**b)));
    let body = SecretBody {
        arn: out.arn.as_deref(),
        name: out.name.as_deref(),
        version_id: out.version_id.as_deref(),
        secret_string: string.as_deref().map(String::as_str),
        secret_binary: binary_b64.as_deref().map(String::as_str),
        version_stages: out.version_stages.as_deref(),
        created_date: out.created_date.map(|d| d.as_secs_f64().to_string()),
    };
    let bytes = exact_json(&body)?;
    Ok(Fetched {
        body: Body::new(bytes),
        arn: out.arn.take(),
        name: out.name.take(),
    })
}

pub async fn parameter(
    ssm: &Ssm,
    name: &str,
    selector: Option<&str>,
    decrypt: bool,
) -> Result<Fetched, Failure> {
    let asked = match selector {
        Some(s) => format!("{name}:{s}"),
        None => name.to_string(),
    };
    let out = ssm
        .get_parameter()
        .name(asked)
        .with_decryption(decrypt)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    let Some(mut p) = out.parameter else {
        return Err(Failure::internal());
    };
    let value = p.value.take().map(Zeroizing::new);
    // For /aws/reference/secretsmanager/ parameters this is the secret's whole answer.
    let source = p.source_result.take().map(Zeroizing::new);
    let body = ParameterBody {
        parameter: ParameterFields {
            arn: p.arn.as_deref(),
            data_type: p.data_type.as_deref(),
            last_modified_date: p
                .last_modified_date
                .and_then(|d| d.fmt(Format::DateTime).ok()),
            name: p.name.as_deref(),
            selector: p.selector.as_deref(),
            source_result: source.as_deref().map(String::as_str),
            kind: p.r#type.as_ref().map(|t| t.as_str()),
            value: value.as_deref().map(String::as_str),
            version: p.version,
        },
        result_metadata: Default::default(),
    };
    let bytes = exact_json(&body)?;
    Ok(Fetched {
        body: Body::new(bytes),
        arn: p.arn.take(),
        name: p.name.take(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_sized_exactly() {
        let body = SecretBody {
            arn: Some("arn"),
            name: Some("n"),
            version_id: Some("v"),
            secret_string: Some("line\n\"quoted\"\u{1}"),
            secret_binary: None,
            version_stages: None,
            created_date: Some("1700000000.5".into()),
        };
        let bytes = exact_json(&body).unwrap();
        assert_eq!(bytes.len(), bytes.capacity());
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["SecretString"], "line\n\"quoted\"\u{1}");
        assert_eq!(v["CreatedDate"], "1700000000.5");
        assert!(v.get("SecretBinary").is_none());
        // AWS's agent's order.
        let text = std::str::from_utf8(&bytes).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(at("ARN") < at("Name") && at("Name") < at("VersionId"));
        assert!(at("VersionId") < at("SecretString") && at("SecretString") < at("CreatedDate"));
    }
}
