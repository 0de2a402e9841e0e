//! The AWS SDK for Rust, configured exactly as the AWS CLI would be from the environment:
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_PROFILE` with
//! `~/.aws/config` and `~/.aws/credentials` (including `role_arn` + `source_profile`, assumed
//! through STS), `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` and the per-service
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL_STS` — all
//! read by `aws-config` itself. `AWS_CA_BUNDLE` (which `aws-config` does not read) is honoured
//! here: its certificates are trusted in addition to the system's roots.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// Options a command line may set over the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// Use this profile from ~/.aws/config and ~/.aws/credentials (as AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The region (as AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// The endpoint of every service (as AWS_ENDPOINT_URL).
    #[arg(long = "endpoint-url", global = true)]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("AWS_CA_BUNDLE {path}: {reason}")]
    CaBundle { path: String, reason: String },
    #[error("no region: set AWS_REGION (or AWS_DEFAULT_REGION, a profile's region, or --region)")]
    NoRegion,
}

/// The SDK configuration every client command uses.
pub async fn load(args: &AwsArgs) -> Result<SdkConfig, ConfigError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &args.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(e) = &args.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let shown = path.to_string_lossy().into_owned();
        let pem = std::fs::read(&path).map_err(|e| ConfigError::CaBundle {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let trust = tls::TrustStore::default()
            .with_native_roots(true)
            .with_pem_certificate(pem);
        let context = tls::TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| ConfigError::CaBundle {
                path: shown,
                reason: e.to_string(),
            })?;
        let client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https();
        loader = loader.http_client(client);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(ConfigError::NoRegion);
    }
    Ok(config)
}

/// An SDK error as `Code: message` (service errors) or the SDK's own description. Server
/// messages never carry secret values; this adds none.
pub fn describe<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let e = e.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => e.to_string(),
            }
        }
        other => {
            // The SDK's chain of causes: "dispatch failure: io error: connection refused".
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// The error code of a service error (`ResourceNotFoundException`, ...), if it is one.
pub fn code<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<String>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match err {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(e) => {
            e.err().code().map(str::to_string)
        }
        _ => None,
    }
}
