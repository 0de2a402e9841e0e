//! AWS Systems Manager Parameter Store (JSON 1.1, `X-Amz-Target: AmazonSSM.<Operation>`):
//! the 13 parameter and tag operations.
//!
//! One function per operation: [`parameters`] (put, get, list, delete, history, labels) and
//! [`tags`]. The rules (names, selectors, labels, the 100-version history, filters) live in
//! `strongroom_domain::parameters`. Every value — String and StringList too — is sealed by the
//! barrier before it reaches the store: SecureString under the KMS key the caller chose
//! (default `alias/aws/ssm`), the others under `alias/aws/ssm`.
//!
//! `/aws/reference/secretsmanager/NAME` parameters read Secrets Manager secrets, authorized
//! as a GetSecretValue of the caller's.

mod api;
mod error;
pub mod ops;
pub mod shapes;

use crate::pipeline::Operation as _;
use ops::Op;
mod parameters;
pub mod policies;
mod tags;
#[cfg(test)]
mod tests;
mod validate;

use shapes::Input;

pub use error::SsmError;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strongroom_barrier::{Barrier, ValueBinding};
use strongroom_domain::kms::KeyManager;
use strongroom_domain::parameters::{Parameter, SECRETS_MANAGER_REFERENCE};
use strongroom_policy::matching::Keys;
use strongroom_store::Store;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::services::Check;
use crate::services::kms::{Kms, SSM_KEY, ServiceKey, ServiceKeyError};
use crate::services::secretsmanager::{Gate, SecretsManager};

/// How often a write re-reads and re-applies after losing an optimistic-concurrency race.
const COMMIT_ATTEMPTS: usize = 5;

pub struct Ssm {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    kms: Arc<Kms>,
    secrets_manager: Arc<SecretsManager>,
    clock: Arc<dyn Clock>,
    region: String,
    account_id: String,
    /// Serialises this process's read-modify-write cycles (the revision check still guards
    /// against other processes).
    write_lock: tokio::sync::Mutex<()>,
}

impl Ssm {
    pub fn new(
        store: Arc<dyn Store>,
        barrier: Arc<Barrier>,
        kms: Arc<Kms>,
        secrets_manager: Arc<SecretsManager>,
        clock: Arc<dyn Clock>,
        region: String,
        account_id: String,
    ) -> Self {
        Self {
            store,
            barrier,
            kms,
            secrets_manager,
            clock,
            region,
            account_id,
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// `arn:PARTITION:ssm:REGION:ACCOUNT:parameter` (a name's ARN appends `/name`, its leading
    /// slash not doubled), the partition the region's.
    fn arn_prefix(&self) -> String {
        let partition = strongroom_domain::partition_of(&self.region);
        format!(
            "arn:{partition}:ssm:{}:{}:parameter",
            self.region, self.account_id
        )
    }

    pub fn arn(&self, name: &str) -> String {
        if name.starts_with('/') {
            format!("{}{name}", self.arn_prefix())
        } else {
            format!("{}/{name}", self.arn_prefix())
        }
    }

    /// What a request must be allowed: the operation on every parameter it names (tag
    /// operations and GetParametersByPath on the named resource or path; DescribeParameters
    /// account-wide). Selectors are stripped: `name:2` is the parameter `name`.
    pub async fn authorization_checks(&self, op: Op, input: &Input) -> Vec<Check> {
        let action = format!("ssm:{}", op.name());
        let mut request_keys = Keys::new();
        let tags = match input {
            Input::PutParameter(i) => i.tags.as_deref(),
            Input::AddTagsToResource(i) => i.tags.as_deref(),
            _ => None,
        };
        if let Some(tags) = tags {
            let tags: Vec<(String, String)> = tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            crate::services::insert_request_tags(&mut request_keys, &tags);
        }
        let name = |n: &Option<String>| {
            n.as_deref()
                .map(|n| vec![self.target_without_selector(n)])
                .unwrap_or_default()
        };
        let names = |n: &Option<Vec<String>>| {
            n.as_deref()
                .unwrap_or_default()
                .iter()
                .map(|n| self.target_without_selector(n))
                .collect()
        };
        let resource = |r: &Option<String>| {
            r.as_deref()
                .map(|r| vec![self.target(r)])
                .unwrap_or_default()
        };
        let names: Vec<String> = match input {
            Input::DescribeParameters(_) => {
                return vec![Check::anywhere(action, request_keys)];
            }
            Input::GetParameters(i) => names(&i.names),
            Input::DeleteParameters(i) => names(&i.names),
            Input::GetParametersByPath(i) => {
                let path = i.path.as_deref().unwrap_or("/");
                vec![path.trim_end_matches('/').to_string()]
            }
            Input::AddTagsToResource(i) => resource(&i.resource_id),
            Input::RemoveTagsFromResource(i) => resource(&i.resource_id),
            Input::ListTagsForResource(i) => resource(&i.resource_id),
            Input::PutParameter(i) => name(&i.name),
            Input::GetParameter(i) => name(&i.name),
            Input::DeleteParameter(i) => name(&i.name),
            Input::GetParameterHistory(i) => name(&i.name),
            Input::LabelParameterVersion(i) => name(&i.name),
            Input::UnlabelParameterVersion(i) => name(&i.name),
            // Authorized as the parameter it names, then refused by `execute`.
            Input::NotOffered(_, v) => {
                name(&v.get("Name").and_then(|n| n.as_str()).map(str::to_string))
            }
        };
        if names.is_empty() {
            return vec![Check::anywhere(action, request_keys)];
        }
        let mut checks = Vec::with_capacity(names.len());
        for name in names {
            let mut keys = request_keys.clone();
            if let Ok(Some(p)) = self.load(&name).await {
                for (k, val) in &p.tags {
                    keys.insert(
                        format!("aws:resourcetag/{}", k.to_ascii_lowercase()),
                        vec![val.clone()],
                    );
                }
            }
            checks.push(Check {
                action: action.clone(),
                resource: if name.is_empty() {
                    format!("{}/", self.arn_prefix())
                } else {
                    self.arn(&name)
                },
                keys,
                policy: None,
                grantees: Vec::new(),
            });
        }
        checks
    }

    /// The parameter a request names, exactly as the operation will find it: surrounding
    /// spaces removed (as AWS does), this account's parameter ARN reduced to the name, and a
    /// one-level name without its leading slash (`/name` is `name`,
    /// [`strongroom_domain::parameters::canonical`]). Authorization uses the same function,
    /// so a check and its operation never disagree on which parameter is meant. Any selector
    /// (`:3`, `:label`) is kept.
    pub(super) fn target(&self, given: &str) -> String {
        strongroom_domain::parameters::canonical(&self.named(given)).to_string()
    }

    /// The name as the caller wrote it (spaces and this account's ARN prefix removed, a
    /// leading slash kept): what GetParameter and GetParameters answer as the Name.
    pub(super) fn named(&self, given: &str) -> String {
        let id = given.trim();
        match id.strip_prefix(&self.arn_prefix()) {
            Some(rest) if rest.matches('/').count() > 1 => rest.to_string(),
            Some(rest) => rest.trim_start_matches('/').to_string(),
            None => id.to_string(),
        }
    }

    /// [`Self::target`] without its selector: the parameter a policy is checked against.
    fn target_without_selector(&self, given: &str) -> String {
        let name = self.target(given);
        match name.split_once(':') {
            Some((n, _)) => n.to_string(),
            None => name,
        }
    }

    /// The key a SecureString is encrypted with (the caller's KeyId, else aws/ssm), checked
    /// usable and, for customer keys, allowed to the caller.
    fn key_for_write(
        &self,
        key_id: Option<&str>,
        gate: &Gate<'_>,
        parameter_arn: &str,
    ) -> Result<ServiceKey, SsmError> {
        let key = self
            .kms
            .key_for_service(key_id, SSM_KEY)
            .map_err(|e| match e {
                ServiceKeyError::NotFound => SsmError::InvalidKeyId(format!(
                    "Invalid KeyId: {} does not name a KMS key.",
                    key_id.unwrap_or_default()
                )),
                ServiceKeyError::Unusable(_) => SsmError::InvalidKeyId(format!(
                    "The KMS key {} is disabled or pending deletion.",
                    key_id.unwrap_or(SSM_KEY)
                )),
            })?;
        self.kms_allowed(gate, "kms:Encrypt", &key, parameter_arn)?;
        Ok(key)
    }

    /// The caller's permission for KMS use on its behalf, with the condition keys AWS gives
    /// such calls: the calling service, the caller's account and the encryption context
    /// Parameter Store uses (`PARAMETER_ARN`).
    fn kms_allowed(
        &self,
        gate: &Gate<'_>,
        action: &str,
        key: &ServiceKey,
        parameter_arn: &str,
    ) -> Result<(), SsmError> {
        if key.manager == KeyManager::Aws {
            return Ok(());
        }
        let context = [("PARAMETER_ARN", parameter_arn)];
        let keys = key.use_keys(
            format!("ssm.{}.amazonaws.com", self.region),
            &self.account_id,
            &context,
        );
        let grantees = key.grantees(action, &context);
        gate(action, &key.arn, key.policy.as_deref(), keys, &grantees)
            .map_err(SsmError::AccessDenied)
    }

    fn binding<'a>(arn: &'a str, version: &'a str) -> ValueBinding<'a> {
        ValueBinding {
            secret_arn: arn,
            version_id: version,
            kind: "parameter",
        }
    }

    /// A version's plaintext value.
    async fn open(&self, name: &str, version: i64) -> Result<Zeroizing<Vec<u8>>, SsmError> {
        let sealed = self
            .store
            .parameter_value(name, version)
            .await?
            .ok_or(SsmError::Internal)?;
        let arn = self.arn(name);
        let v = version.to_string();
        self.barrier
            .open(&sealed, &Self::binding(&arn, &v))
            .map_err(|e| {
                tracing::error!(parameter = name, version, error = %e, "a parameter value does not open");
                // As SSM reports a KMS decryption failure (a 4xx naming the cause), not a 500:
                // a value moved or altered in the store fails its binding and is refused.
                SsmError::InvalidKeyId(format!(
                    "The value of parameter {name} version {version} cannot be decrypted: its ciphertext is invalid for this parameter (InvalidCiphertextException)."
                ))
            })
    }

    fn seal(
        &self,
        key_id: &str,
        name: &str,
        version: i64,
        value: &[u8],
    ) -> Result<strongroom_barrier::Sealed, SsmError> {
        let arn = self.arn(name);
        let v = version.to_string();
        self.barrier
            .seal(key_id, &Self::binding(&arn, &v), value)
            .map_err(|_| SsmError::Internal)
    }

    /// How many parameters exist (ResourceCount, for metrics).
    pub async fn count(&self) -> Result<usize, SsmError> {
        Ok(self.store.parameter_count().await?)
    }

    fn is_reference(name: &str) -> bool {
        name.starts_with(SECRETS_MANAGER_REFERENCE)
    }

    /// The parameter under its canonical name. A one-level parameter an earlier Strongroom
    /// stored as `/name` is found as well: it is the same parameter, and writes keep it under
    /// the name it is stored by (its `name` field).
    async fn load(&self, name: &str) -> Result<Option<Parameter>, SsmError> {
        if let Some(p) = self.store.parameter(name).await? {
            return Ok(Some(p));
        }
        if name.is_empty() || name.contains('/') {
            return Ok(None);
        }
        Ok(self.store.parameter(&format!("/{name}")).await?)
    }
}

/// NextToken: the name to resume at, opaque to callers.
fn token_for(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

fn token_start(token: Option<&str>) -> Result<Option<String>, SsmError> {
    token
        .map(|t| {
            URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    SsmError::InvalidNextToken("The specified token isn't valid.".into())
                })
        })
        .transpose()
}
