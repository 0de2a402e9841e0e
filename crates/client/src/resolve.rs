//! Fetch the values references name, in as few round trips as the APIs allow:
//! BatchGetSecretValue (20 secrets a call) for current secret values, GetParameters (10
//! names a call, `name:version` selectors) per decryption mode, and single calls only for what
//! the batch APIs cannot express (a secret's other stages or version ids, and Parameter Store's
//! `/aws/reference/secretsmanager/` paths). Values stay in zeroizing strings; errors name the
//! reference and why, never a value.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_secretsmanager::Client as SecretsManager;
use aws_sdk_ssm::Client as Ssm;
use zeroize::Zeroizing;

use crate::aws::{code, describe};
use crate::reference::{Reference, SecretVersion};

pub type Value = Zeroizing<String>;

/// What a reference resolved to, or why it did not.
pub type Outcome = Result<Value, String>;

pub struct Resolver {
    pub sm: SecretsManager,
    pub ssm: Ssm,
}

/// Counts of API calls made, for `--check` and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub batch_get_secret_value: usize,
    pub get_secret_value: usize,
    pub get_parameters: usize,
    pub get_parameter: usize,
}

impl Calls {
    pub fn total(&self) -> usize {
        self.batch_get_secret_value
            + self.get_secret_value
            + self.get_parameters
            + self.get_parameter
    }
}

const SECRETS_PER_BATCH: usize = 20;
const PARAMETERS_PER_CALL: usize = 10;
const REFERENCE_PREFIX: &str = "/aws/reference/secretsmanager/";

/// A secret's value as fetched, before a JSON key is applied.
enum Fetched {
    String(Value),
    /// Binary only: references can use only SecretString.
    Binary,
}

impl Resolver {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            sm: SecretsManager::new(config),
            ssm: Ssm::new(config),
        }
    }

    /// Resolve every distinct reference once.
    pub async fn resolve(&self, refs: &[Reference]) -> (BTreeMap<Reference, Outcome>, Calls) {
        let mut calls = Calls::default();
        let distinct: BTreeSet<&Reference> = refs.iter().collect();
        let mut out = BTreeMap::new();

        // Secrets: (id, version) -> value.
        let mut wanted: BTreeSet<(String, SecretVersion)> = BTreeSet::new();
        for r in &distinct {
            if let Reference::Secret {
                secret_id, version, ..
            } = r
            {
                wanted.insert((secret_id.clone(), version.clone()));
            }
        }
        let secrets = self.fetch_secrets(&wanted, &mut calls).await;

        // Parameters: (name, version, secure) -> value.
        let params: BTreeSet<(String, Option<u64>, bool)> = distinct
            .iter()
            .filter_map(|r| match r {
                Reference::Parameter {
                    name,
                    version,
                    secure,
                } => Some((name.clone(), *version, *secure)),
                _ => None,
            })
            .collect();
        let parameters = self.fetch_parameters(&params, &mut calls).await;

        for r in distinct {
            let outcome = match r {
                Reference::Secret { secret_id, json_key, version } => {
                    match secrets.get(&(secret_id.clone(), version.clone())) {
                        Some(Ok(Fetched::String(v))) => select_key(v, json_key.as_deref()),
                        Some(Ok(Fetched::Binary)) => Err(
                            "the secret has no SecretString (only SecretBinary), which references cannot use".into(),
                        ),
                        Some(Err(e)) => Err(e.clone()),
                        None => Err("not resolved".into()),
                    }
                }
                Reference::Parameter { name, version, secure } => parameters
                    .get(&(name.clone(), *version, *secure))
                    .cloned()
                    .unwrap_or_else(|| Err("not resolved".into())),
            };
            out.insert(r.clone(), outcome);
        }
        (out, calls)
    }

    async fn fetch_secrets(
        &self,
        wanted: &BTreeSet<(String, SecretVersion)>,
        calls: &mut Calls,
    ) -> BTreeMap<(String, SecretVersion), Result<Fetched, String>> {
        let mut out = BTreeMap::new();
        let current: Vec<&String> = wanted
            .iter()
            .filter(|(_, v)| *v == SecretVersion::default())
            .map(|(id, _)| id)
            .collect();
        let mut single: Vec<(String, SecretVersion)> = wanted
            .iter()
            .filter(|(_, v)| *v != SecretVersion::default())
            .cloned()
            .collect();
        for chunk in current.chunks(SECRETS_PER_BATCH) {
            calls.batch_get_secret_value += 1;
            let reply = self
                .sm
                .batch_get_secret_value()
                .set_secret_id_list(Some(chunk.iter().map(|s| s.to_string()).collect()))
                .send()
                .await;
            let reply = match reply {
                Ok(r) => r,
                Err(e) => {
                    // The whole batch refused (e.g. no BatchGetSecretValue permission): each
                    // secret is asked for on its own, so each gets its own answer.
                    tracing::debug!(error = %describe(&e), "BatchGetSecretValue failed; falling back to GetSecretValue");
                    single.extend(
                        chunk
                            .iter()
                            .map(|id| (id.to_string(), SecretVersion::default())),
                    );
                    continue;
                }
            };
            let mut found: BTreeSet<&str> = BTreeSet::new();
            for entry in reply.secret_values() {
                let arn = entry.arn().unwrap_or_default();
                let name = entry.name().unwrap_or_default();
                for id in chunk {
                    if id.as_str() == name || id.as_str() == arn || partial_arn_of(id, arn) {
                        let value = match entry.secret_string() {
                            Some(s) => Fetched::String(Zeroizing::new(s.to_string())),
                            None => Fetched::Binary,
                        };
                        out.insert(((*id).clone(), SecretVersion::default()), Ok(value));
                        found.insert(id.as_str());
                    }
                }
            }
            for err in reply.errors() {
                if let Some(id) = err.secret_id() {
                    let why = match (err.error_code(), err.message()) {
                        (Some(c), Some(m)) => format!("{c}: {m}"),
                        (Some(c), None) => c.to_string(),
                        _ => "refused".into(),
                    };
                    out.insert((id.to_string(), SecretVersion::default()), Err(why));
                    found.insert(id);
                }
            }
            // Anything the batch neither returned nor explained: ask for it alone.
            for id in chunk {
                if !found.contains(id.as_str()) {
                    single.push(((*id).clone(), SecretVersion::default()));
                }
            }
        }
        for (id, version) in single {
            calls.get_secret_value += 1;
            let mut req = self.sm.get_secret_value().secret_id(&id);
            req = match &version {
                SecretVersion::Stage(s) => req.version_stage(s),
                SecretVersion::Id(v) => req.version_id(v),
            };
            let outcome = match req.send().await {
                Ok(r) => Ok(match r.secret_string() {
                    Some(s) => Fetched::String(Zeroizing::new(s.to_string())),
                    None => Fetched::Binary,
                }),
                Err(e) => Err(describe(&e)),
            };
            out.insert((id, version), outcome);
        }
        out
    }

    async fn fetch_parameters(
        &self,
        wanted: &BTreeSet<(String, Option<u64>, bool)>,
        calls: &mut Calls,
    ) -> BTreeMap<(String, Option<u64>, bool), Outcome> {
        let mut out = BTreeMap::new();
        for secure in [false, true] {
            let group: Vec<&(String, Option<u64>, bool)> = wanted
                .iter()
                .filter(|(name, _, s)| *s == secure && !name.starts_with(REFERENCE_PREFIX))
                .collect();
            for chunk in group.chunks(PARAMETERS_PER_CALL) {
                calls.get_parameters += 1;
                let names: Vec<String> = chunk.iter().map(|(n, v, _)| selector(n, *v)).collect();
                match self
                    .ssm
                    .get_parameters()
                    .set_names(Some(names.clone()))
                    .with_decryption(secure)
                    .send()
                    .await
                {
                    Ok(reply) => {
                        for (key, asked) in chunk.iter().zip(&names) {
                            let (name, version, _) = key;
                            let hit = reply.parameters().iter().find(|p| {
                                let same_name = p.name() == Some(name.as_str())
                                    || p.arn() == Some(name.as_str());
                                same_name && version.is_none_or(|v| p.version() == v as i64)
                            });
                            let outcome = match hit {
                                Some(p) => typed(p, secure),
                                None if reply.invalid_parameters().iter().any(|i| i == asked) => {
                                    Err("ParameterNotFound: the parameter (or that version of it) does not exist".into())
                                }
                                None => Err("ParameterNotFound".into()),
                            };
                            out.insert((*key).clone(), outcome);
                        }
                    }
                    Err(e) => {
                        let why = describe(&e);
                        for key in chunk {
                            out.insert((*key).clone(), Err(why.clone()));
                        }
                    }
                }
            }
            // /aws/reference/secretsmanager/...: GetParameter alone (it always decrypts).
            for key in wanted
                .iter()
                .filter(|(name, _, s)| *s == secure && name.starts_with(REFERENCE_PREFIX))
            {
                calls.get_parameter += 1;
                let (name, version, _) = key;
                let outcome = match self
                    .ssm
                    .get_parameter()
                    .name(selector(name, *version))
                    .with_decryption(secure)
                    .send()
                    .await
                {
                    Ok(reply) => match reply.parameter() {
                        Some(p) => typed(p, secure),
                        None => Err("ParameterNotFound".into()),
                    },
                    Err(e) => Err(match code(&e).as_deref() {
                        Some("ParameterNotFound") => {
                            "ParameterNotFound: the secret it references does not exist".into()
                        }
                        _ => describe(&e),
                    }),
                };
                out.insert(key.clone(), outcome);
            }
        }
        out
    }
}

fn selector(name: &str, version: Option<u64>) -> String {
    match version {
        Some(v) => format!("{name}:{v}"),
        None => name.to_string(),
    }
}

/// CloudFormation's rule: `ssm` resolves String and StringList, `ssm-secure` SecureString only.
fn typed(p: &aws_sdk_ssm::types::Parameter, secure: bool) -> Outcome {
    use aws_sdk_ssm::types::ParameterType;
    let is_secure = p.r#type() == Some(&ParameterType::SecureString);
    match (secure, is_secure) {
        (false, true) => {
            Err("the parameter is a SecureString: use {{resolve:ssm-secure:...}}".into())
        }
        (true, false) => Err("the parameter is not a SecureString: use {{resolve:ssm:...}}".into()),
        _ => Ok(Zeroizing::new(p.value().unwrap_or_default().to_string())),
    }
}

/// `id` is `arn` without its `-XXXXXX` suffix: a partial ARN Secrets Manager resolves.
fn partial_arn_of(id: &str, arn: &str) -> bool {
    id.starts_with("arn:")
        && arn.len() == id.len() + 7
        && arn.starts_with(id)
        && arn.as_bytes()[id.len()] == b'-'
}

/// The whole string, or one key of its JSON object (strings as they are, other values as JSON).
pub fn select_key(value: &str, key: Option<&str>) -> Outcome {
    let Some(key) = key else {
        return Ok(Zeroizing::new(value.to_string()));
    };
    // Borrowed from the (zeroizing) value: only the selected member is copied.
    let not_object =
        || format!("the secret's value is not a JSON object, so it has no key '{key}'");
    let object: std::collections::HashMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(value).map_err(|_| not_object())?;
    let raw = object
        .get(key)
        .ok_or_else(|| format!("the secret's JSON has no key '{key}'"))?;
    match serde_json::from_str::<String>(raw.get()) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(_) => Ok(Zeroizing::new(raw.get().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_are_selected_and_errors_never_show_the_value() {
        let v = r#"{"user":"app","port":5432,"tags":["a"],"password":"hunter2-XYZ"}"#;
        assert_eq!(*select_key(v, Some("user")).unwrap(), "app");
        assert_eq!(*select_key(v, Some("port")).unwrap(), "5432");
        assert_eq!(*select_key(v, Some("tags")).unwrap(), r#"["a"]"#);
        assert_eq!(*select_key(v, None).unwrap(), v);
        let e = select_key(v, Some("missing")).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = select_key("hunter2-plain", Some("k")).unwrap_err();
        assert!(
            e.contains("not a JSON object") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(
            select_key("[1]", Some("k"))
                .unwrap_err()
                .contains("not a JSON object")
        );
    }

    #[test]
    fn partial_arns_match_their_full_arn() {
        let full = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-config-AbCdEf";
        assert!(partial_arn_of(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-config",
            full
        ));
        assert!(!partial_arn_of(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app",
            full
        ));
        assert!(!partial_arn_of("app-config", full));
        let cn = "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:app-config";
        assert!(partial_arn_of(cn, &format!("{cn}-AbCdEf")));
        assert!(!partial_arn_of(
            &cn.replace("arn:aws-cn:", "arn:aws:"),
            &format!("{cn}-AbCdEf")
        ));
    }
}
