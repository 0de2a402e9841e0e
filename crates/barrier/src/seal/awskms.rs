//! The AWS KMS seal: the root key is encrypted with KMS Encrypt under a symmetric key and
//! decrypted with Decrypt at start, through AWS or any KMS-compatible endpoint (another
//! Strongroom). The encryption context names the deployment, so the ciphertext opens only for
//! it (and a key policy can require it: `kms:EncryptionContext:strongroom:deployment`).
//!
//! Credentials and region come from the AWS SDK's standard chain (environment, profiles, web
//! identity, container and instance roles); the seal may name the region and the endpoint.
//! `aws-sdk-kms` with the same features as crates/client and crates/sdk-tests, so the
//! workspace compiles the AWS crates once.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use zeroize::Zeroizing;

use super::spec::KmsSpec;
use super::{AWSKMS, Seal, SealInfo, WrappedRootKey};
use crate::{BarrierError, RootKey};

/// The encryption context's keys: which deployment, and what the ciphertext is.
const CONTEXT_DEPLOYMENT: &str = "strongroom:deployment";
const CONTEXT_PURPOSE: &str = "strongroom:purpose";
const PURPOSE: &str = "root-key";

pub struct KmsSeal {
    client: aws_sdk_kms::Client,
    key: String,
    region: String,
    endpoint: Option<String>,
    deployment: String,
}

fn err(msg: String) -> BarrierError {
    BarrierError::RootKey(msg)
}

impl KmsSeal {
    /// The seal `spec` names, with the AWS SDK's standard configuration chain.
    pub async fn connect(spec: &KmsSpec, deployment: &str) -> Result<Self, BarrierError> {
        Self::connect_with(
            spec,
            deployment,
            aws_config::defaults(BehaviorVersion::latest()),
        )
        .await
    }

    /// The same, from a configuration loader the caller prepared (e.g. explicit credentials).
    pub async fn connect_with(
        spec: &KmsSpec,
        deployment: &str,
        mut loader: aws_config::ConfigLoader,
    ) -> Result<Self, BarrierError> {
        if let Some(r) = &spec.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(e) = &spec.endpoint {
            loader = loader.endpoint_url(e);
        }
        // A KMS that does not answer must not hang the start forever.
        loader = loader.timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(15))
                .operation_timeout(Duration::from_secs(45))
                .build(),
        );
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            err(
                "the awskms seal needs a region: a key ARN names it, or region=, or AWS_REGION"
                    .into(),
            )
        })?;
        Ok(Self {
            client: aws_sdk_kms::Client::new(&config),
            key: spec.key.clone(),
            region,
            endpoint: spec.endpoint.clone(),
            deployment: deployment.to_string(),
        })
    }

    fn where_(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{} (region {}, endpoint {e})", self.key, self.region),
            None => format!("{} (region {})", self.key, self.region),
        }
    }
}

/// A KMS error in the operator's terms: the service's code and message, or why it was not
/// reached. Neither carries the plaintext.
fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> String {
    match e {
        SdkError::ServiceError(s) => format!(
            "{}: {}",
            s.err().code().unwrap_or("error"),
            s.err().message().unwrap_or("no message")
        ),
        other => DisplayErrorContext(other).to_string(),
    }
}

#[async_trait::async_trait]
impl Seal for KmsSeal {
    fn kind(&self) -> &'static str {
        AWSKMS
    }

    fn describe(&self) -> String {
        format!("the AWS KMS key {}", self.where_())
    }

    async fn wrap(&self, root: &RootKey) -> Result<WrappedRootKey, BarrierError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key)
            .plaintext(Blob::new(root.bytes()))
            .encryption_context(CONTEXT_DEPLOYMENT, &self.deployment)
            .encryption_context(CONTEXT_PURPOSE, PURPOSE)
            .send()
            .await
            .map_err(|e| {
                err(format!(
                    "KMS Encrypt with the key {} failed: {}",
                    self.where_(),
                    sdk_error(&e)
                ))
            })?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| err("KMS Encrypt answered without a CiphertextBlob".into()))?;
        // The key's ARN as KMS reports it: an alias may later point elsewhere.
        let key = out.key_id.unwrap_or_else(|| self.key.clone());
        let mut params = vec![
            ("key", key.as_str()),
            ("region", self.region.as_str()),
            ("context-deployment", self.deployment.as_str()),
        ];
        if let Some(e) = &self.endpoint {
            params.push(("endpoint", e));
        }
        Ok(WrappedRootKey {
            seal: SealInfo::new(AWSKMS, &params),
            wrapped: blob.into_inner(),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedRootKey) -> Result<RootKey, BarrierError> {
        let deployment = wrapped
            .seal
            .param("context-deployment")
            .ok_or_else(|| err("the KMS-sealed root key has no encryption context".into()))?;
        let context = HashMap::from([
            (CONTEXT_DEPLOYMENT.to_string(), deployment.to_string()),
            (CONTEXT_PURPOSE.to_string(), PURPOSE.to_string()),
        ]);
        let out = self
            .client
            .decrypt()
            .key_id(&self.key)
            .ciphertext_blob(Blob::new(wrapped.wrapped.clone()))
            .set_encryption_context(Some(context))
            .send()
            .await
            .map_err(|e| {
                let why = sdk_error(&e);
                let hint = match e.as_service_error().and_then(|s| s.code()) {
                    Some("IncorrectKeyException" | "InvalidCiphertextException") => format!(
                        ": the key does not open the root key (it was sealed by {})",
                        wrapped.seal
                    ),
                    _ => String::new(),
                };
                err(format!(
                    "KMS Decrypt with the key {} failed: {why}{hint}",
                    self.where_()
                ))
            })?;
        let plain = Zeroizing::new(
            out.plaintext
                .ok_or_else(|| err("KMS Decrypt answered without a Plaintext".into()))?
                .into_inner(),
        );
        RootKey::from_slice(&plain)
    }
}
