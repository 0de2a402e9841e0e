//! PutParameter, GetParameter, GetParameters, GetParametersByPath, DeleteParameter,
//! DeleteParameters, DescribeParameters, GetParameterHistory, LabelParameterVersion,
//! UnlabelParameterVersion.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use strongroom_domain::parameters::{
    self as rules, Filter, MAX_ADVANCED_VALUE, MAX_STANDARD_VALUE, ParamError, Parameter,
    ParameterVersion, SECRETS_MANAGER_REFERENCE, Selector,
};
use strongroom_store::{ParameterWrite, StoreError};
use zeroize::Zeroizing;

use super::{COMMIT_ATTEMPTS, Empty, Ssm, SsmError, token_for, token_start};
use crate::credentials::Principal;
use crate::services::input::epoch_seconds;
use crate::services::kms::SSM_KEY;
use crate::services::secretsmanager::Gate;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct PutParameterInput {
    name: String,
    description: Option<String>,
    value: Option<Zeroizing<String>>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    key_id: Option<String>,
    overwrite: Option<bool>,
    allowed_pattern: Option<String>,
    tags: Option<Vec<super::tags::TagShape>>,
    tier: Option<String>,
    policies: Option<String>,
    data_type: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct GetParameterInput {
    name: String,
    with_decryption: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct GetParametersInput {
    names: Vec<String>,
    with_decryption: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct FilterShape {
    key: String,
    option: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct OldFilterShape {
    key: String,
    values: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct GetParametersByPathInput {
    path: String,
    recursive: Option<bool>,
    parameter_filters: Option<Vec<FilterShape>>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct NameInput {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct NamesInput {
    names: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct DescribeParametersInput {
    filters: Option<Vec<OldFilterShape>>,
    parameter_filters: Option<Vec<FilterShape>>,
    max_results: Option<i64>,
    next_token: Option<String>,
    shared: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct GetParameterHistoryInput {
    name: String,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct LabelInput {
    name: String,
    parameter_version: Option<i64>,
    labels: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PutParameterOutput {
    version: i64,
    tier: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ParameterOut {
    name: String,
    #[serde(rename = "Type")]
    kind: String,
    value: Zeroizing<String>,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_result: Option<Zeroizing<String>>,
    last_modified_date: f64,
    #[serde(rename = "ARN")]
    arn: String,
    data_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetParameterOutput {
    parameter: ParameterOut,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetParametersOutput {
    parameters: Vec<ParameterOut>,
    invalid_parameters: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ParametersPage {
    parameters: Vec<ParameterOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeleteParametersOutput {
    deleted_parameters: Vec<String>,
    invalid_parameters: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MetadataOut {
    name: String,
    #[serde(rename = "ARN")]
    arn: String,
    #[serde(rename = "Type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    last_modified_date: f64,
    last_modified_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<String>,
    version: i64,
    tier: String,
    policies: Vec<()>,
    data_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeParametersOutput {
    parameters: Vec<MetadataOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HistoryOut {
    name: String,
    #[serde(rename = "Type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    last_modified_date: f64,
    last_modified_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    value: Zeroizing<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<String>,
    version: i64,
    labels: Vec<String>,
    tier: String,
    policies: Vec<()>,
    data_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HistoryOutput {
    parameters: Vec<HistoryOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct LabelOutput {
    invalid_labels: Vec<String>,
    parameter_version: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UnlabelOutput {
    removed_labels: Vec<String>,
    invalid_labels: Vec<String>,
}

fn too_many_updates() -> SsmError {
    SsmError::TooManyUpdates(
        "There are concurrent updates for a resource that supports one update at a time.".into(),
    )
}

fn not_found(name: &str) -> SsmError {
    SsmError::ParameterNotFound(format!("Parameter {name} not found."))
}

fn required(member: &str, value: &str) -> Result<(), SsmError> {
    if value.is_empty() {
        return Err(SsmError::Validation(format!(
            "1 validation error detected: Value '' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )));
    }
    Ok(())
}

fn max_results(given: Option<i64>, max: i64) -> Result<usize, SsmError> {
    match given {
        None => Ok(max as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(SsmError::Validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {max}"
        ))),
    }
}

fn names_list(names: &[String]) -> Result<(), SsmError> {
    if names.is_empty() || names.len() > 10 {
        return Err(SsmError::Validation(format!(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1 (got {})",
            names.len()
        )));
    }
    Ok(())
}

fn filters(given: Option<Vec<FilterShape>>, by_path: bool) -> Result<Vec<Filter>, SsmError> {
    let out: Vec<Filter> = given
        .unwrap_or_default()
        .into_iter()
        .map(|f| Filter {
            key: f.key,
            option: f.option,
            values: f.values,
        })
        .collect();
    for f in &out {
        rules::check_filter(f, by_path).map_err(|(code, m)| match code {
            "InvalidFilterKey" => SsmError::InvalidFilterKey(m),
            "InvalidFilterOption" => SsmError::InvalidFilterOption(m),
            _ => SsmError::InvalidFilterValue(m),
        })?;
    }
    Ok(out)
}

/// `(items from the token on, next token)`, names sorted.
fn page<T>(
    items: Vec<(String, T)>,
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), SsmError> {
    let start = token_start(token)?;
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(n, _)| start.as_ref().is_none_or(|s| n >= s))
        .collect();
    let next = (rest.len() > max).then(|| token_for(&rest[max].0));
    rest.truncate(max);
    Ok((rest.into_iter().map(|(_, t)| t).collect(), next))
}

/// The value a caller sees: plaintext, or for a SecureString read without decryption a KMS
/// ciphertext of it (bound to the parameter's ARN, as AWS), which `kms decrypt` opens.
struct Shown {
    value: Zeroizing<String>,
}

impl Ssm {
    pub(super) async fn put_parameter(
        &self,
        mut input: PutParameterInput,
        principal: &Principal,
        gate: &Gate<'_>,
    ) -> Result<PutParameterOutput, SsmError> {
        let name = input.name.trim().to_string();
        required("name", &name)?;
        rules::validate_name(&name, &self.arn_prefix())?;
        let Checked {
            value,
            overwrite,
            data_type,
            tags,
        } = check_put(&mut input)?;
        let _serialised = self.write_lock.lock().await;
        for _ in 0..COMMIT_ATTEMPTS {
            let current = self.load(&name).await?;
            if current.is_some() && !overwrite {
                return Err(SsmError::ParameterAlreadyExists(
                    "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.".into(),
                ));
            }
            let previous = current.as_ref().map(|p| p.latest().clone());
            let kind = match (&input.kind, &previous) {
                (Some(k), _) => k.clone(),
                (None, Some(p)) => p.kind.clone(),
                (None, None) => {
                    return Err(SsmError::Validation(
                        "A parameter type is required when you create a parameter.".into(),
                    ));
                }
            };
            let tier = tier(input.tier.as_deref(), previous.as_ref(), &value)?;
            check_value_size(&tier, &value)?;
            let description = input
                .description
                .clone()
                .or_else(|| previous.as_ref().and_then(|p| p.description.clone()));
            let allowed_pattern = input
                .allowed_pattern
                .clone()
                .or_else(|| previous.as_ref().and_then(|p| p.allowed_pattern.clone()))
                .filter(|p| !p.is_empty());
            if let Some(pattern) = &allowed_pattern {
                check_pattern(pattern, &value)?;
            }
            // SecureString: the caller's key (or the one it used before); others: aws/ssm.
            let (key, key_alias) = if kind == "SecureString" {
                let given = input.key_id.clone().or_else(|| {
                    previous
                        .as_ref()
                        .filter(|p| p.kind == "SecureString")
                        .and_then(|p| p.key_alias.clone())
                });
                let key = self.key_for_write(given.as_deref(), gate, &self.arn(&name))?;
                (key, Some(given.unwrap_or_else(|| SSM_KEY.to_string())))
            } else {
                (self.key_for_write(None, gate, &self.arn(&name))?, None)
            };
            let now = self.clock.now_ms();
            let mut next = current.clone().unwrap_or_else(|| Parameter {
                name: name.clone(),
                revision: 0,
                tags: tags.clone(),
                versions: Vec::new(),
            });
            rules::push_version(
                &mut next,
                ParameterVersion {
                    version: 0,
                    kind: kind.clone(),
                    description,
                    allowed_pattern,
                    key_id: (kind == "SecureString").then(|| key.key_id.clone()),
                    key_alias,
                    tier: tier.clone(),
                    data_type: data_type.clone(),
                    modified_ms: now,
                    modified_by: principal.arn.clone(),
                    labels: Vec::new(),
                },
            )?;
            let version = next.latest().version;
            let sealed = self.seal(&key.key_id, &name, version, value.as_bytes())?;
            next.revision += 1;
            let write = ParameterWrite {
                expected_revision: current.as_ref().map(|c| c.revision),
                parameter: next,
                new_values: vec![(version, sealed)],
            };
            match self.store.commit_parameter(write).await {
                Ok(()) => return Ok(PutParameterOutput { version, tier }),
                Err(StoreError::Conflict | StoreError::NameTaken) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_many_updates())
    }

    /// The value of `version` as the caller may see it.
    async fn shown(
        &self,
        p: &Parameter,
        version: &ParameterVersion,
        decrypt: bool,
        gate: &Gate<'_>,
    ) -> Result<Shown, SsmError> {
        let plaintext = self.open(&p.name, version.version).await?;
        if version.kind != "SecureString" {
            return Ok(Shown {
                value: Zeroizing::new(String::from_utf8_lossy(&plaintext).into_owned()),
            });
        }
        let key_id = version.key_id.as_deref().unwrap_or_default();
        if decrypt {
            // Only decryption involves the key (AWS makes no KMS call otherwise).
            let key = self.kms.usable_for_service(key_id).map_err(|_| {
                SsmError::InvalidKeyId(format!(
                    "The KMS key {} that encrypts this parameter is disabled, pending deletion or deleted.",
                    version.key_alias.as_deref().unwrap_or(key_id)
                ))
            })?;
            self.kms_allowed(gate, "kms:Decrypt", &key, &self.arn(&p.name))?;
            return Ok(Shown {
                value: Zeroizing::new(String::from_utf8_lossy(&plaintext).into_owned()),
            });
        }
        let mut context = std::collections::BTreeMap::new();
        context.insert("PARAMETER_ARN".to_string(), self.arn(&p.name));
        let blob = self
            .barrier
            .encrypt_blob(
                key_id,
                &strongroom_domain::kms::canonical_context(&context),
                &plaintext,
            )
            .map_err(|_| SsmError::Internal)?;
        Ok(Shown {
            value: Zeroizing::new(B64.encode(blob)),
        })
    }

    async fn parameter_out(
        &self,
        p: &Parameter,
        version: &ParameterVersion,
        selector: Option<String>,
        decrypt: bool,
        gate: &Gate<'_>,
    ) -> Result<ParameterOut, SsmError> {
        let shown = self.shown(p, version, decrypt, gate).await?;
        Ok(ParameterOut {
            name: p.name.clone(),
            kind: version.kind.clone(),
            value: shown.value,
            version: version.version,
            selector,
            source_result: None,
            last_modified_date: epoch_seconds(version.modified_ms),
            arn: self.arn(&p.name),
            data_type: version.data_type.clone(),
        })
    }

    /// One name (with an optional selector) as GetParameter and GetParameters read it.
    async fn read_one(
        &self,
        given: &str,
        decrypt: bool,
        gate: &Gate<'_>,
    ) -> Result<ParameterOut, SsmError> {
        let plain = self.target(given);
        let given = plain.as_str();
        if Self::is_reference(given) {
            return self.read_reference(given, decrypt, gate).await;
        }
        let (name, selector) = rules::parse_selector(given)?;
        rules::validate_name_syntax(name).map_err(|e| match e {
            ParamError::Validation(m) => SsmError::Validation(m),
            _ => not_found(name),
        })?;
        let p = self.load(name).await?.ok_or_else(|| not_found(name))?;
        let version = rules::select(&p, &selector).ok_or_else(|| {
            SsmError::ParameterVersionNotFound(format!(
                "Systems Manager could not find version {} of {name}. Verify the version and try again.",
                given.split_once(':').map_or("", |(_, s)| s)
            ))
        })?;
        let selector = match selector {
            Selector::Latest => None,
            _ => given.split_once(':').map(|(_, s)| format!(":{s}")),
        };
        self.parameter_out(&p, version, selector, decrypt, gate)
            .await
    }

    /// `/aws/reference/secretsmanager/NAME[:stage-or-version-id]`: the secret's value,
    /// read as the caller (secretsmanager:GetSecretValue, kms:Decrypt).
    async fn read_reference(
        &self,
        given: &str,
        decrypt: bool,
        gate: &Gate<'_>,
    ) -> Result<ParameterOut, SsmError> {
        if !decrypt {
            return Err(SsmError::Validation(
                "WithDecryption flag must be True for retrieving a Secret Manager secret.".into(),
            ));
        }
        let rest = &given[SECRETS_MANAGER_REFERENCE.len()..];
        let (secret_id, selector) = match rest.split_once(':') {
            Some((id, sel)) => (id, Some(sel)),
            None => (rest, None),
        };
        let mut input = crate::services::secretsmanager::shapes::GetSecretValueRequest {
            secret_id: Some(secret_id.to_string()),
            ..Default::default()
        };
        if let Some(sel) = selector {
            // Version ids are UUID-like (32–64 characters); anything else names a stage.
            if (32..=64).contains(&sel.len()) && sel.contains('-') {
                input.version_id = Some(sel.to_string());
            } else {
                input.version_stage = Some(sel.to_string());
            }
        }
        let out = self
            .secrets_manager
            .get_secret_value_for(input, gate)
            .await
            .map_err(|e| match e.code() {
                "ResourceNotFoundException" => not_found(given),
                "AccessDeniedException" => SsmError::AccessDenied(e.message().to_string()),
                "ValidationException" | "InvalidParameterException" => {
                    SsmError::Validation(e.message().to_string())
                }
                // A value that does not decrypt (a disabled key, or a ciphertext altered or
                // moved in the store): SSM's KMS error, as for its own SecureStrings.
                "DecryptionFailure" => SsmError::InvalidKeyId(e.message().to_string()),
                _ => SsmError::ParameterNotFound(e.message().to_string()),
            })?;
        let value = match (&out.secret_string, &out.secret_binary) {
            (Some(s), _) => s.to_string(),
            (None, Some(b)) => b.to_string(),
            _ => String::new(),
        };
        let source = serde_json::to_string(&out).map_err(|_| SsmError::Internal)?;
        Ok(ParameterOut {
            name: given.split(':').next().unwrap_or(given).to_string(),
            kind: "SecureString".into(),
            value: Zeroizing::new(value),
            version: 0,
            selector: selector.map(|s| format!(":{s}")),
            source_result: Some(Zeroizing::new(source)),
            last_modified_date: out.created_date.unwrap_or_default(),
            arn: out.arn.clone().unwrap_or_default(),
            data_type: "text".into(),
        })
    }

    pub(super) async fn get_parameter(
        &self,
        input: GetParameterInput,
        gate: &Gate<'_>,
    ) -> Result<GetParameterOutput, SsmError> {
        required("name", &input.name)?;
        let parameter = self
            .read_one(&input.name, input.with_decryption.unwrap_or(false), gate)
            .await?;
        Ok(GetParameterOutput { parameter })
    }

    pub(super) async fn get_parameters(
        &self,
        input: GetParametersInput,
        gate: &Gate<'_>,
    ) -> Result<GetParametersOutput, SsmError> {
        names_list(&input.names)?;
        let decrypt = input.with_decryption.unwrap_or(false);
        let mut parameters = Vec::new();
        let mut invalid_parameters = Vec::new();
        for name in &input.names {
            match self.read_one(name, decrypt, gate).await {
                Ok(p) => parameters.push(p),
                Err(
                    SsmError::ParameterNotFound(_)
                    | SsmError::ParameterVersionNotFound(_)
                    | SsmError::Validation(_),
                ) if !Self::is_reference(name) || decrypt => invalid_parameters.push(name.clone()),
                Err(e) => return Err(e),
            }
        }
        // AWS lists them in alphabetical order.
        parameters.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(GetParametersOutput {
            parameters,
            invalid_parameters,
        })
    }

    pub(super) async fn get_parameters_by_path(
        &self,
        input: GetParametersByPathInput,
        gate: &Gate<'_>,
    ) -> Result<ParametersPage, SsmError> {
        required("path", &input.path)?;
        // Too deep a path is a ValidationException here (the operation models no hierarchy
        // error).
        rules::validate_path(&input.path).map_err(|e| match e {
            ParamError::HierarchyLevel(m) => SsmError::Validation(m),
            other => other.into(),
        })?;
        let max = max_results(input.max_results, 10)?;
        let filters = filters(input.parameter_filters, true)?;
        let recursive = input.recursive.unwrap_or(false);
        let decrypt = input.with_decryption.unwrap_or(false);
        let matching: Vec<(String, Parameter)> = self
            .store
            .parameters()
            .await?
            .into_iter()
            .filter(|p| rules::in_path(&p.name, &input.path, recursive))
            .filter(|p| filters.iter().all(|f| rules::matches(p, f)))
            .map(|p| (p.name.clone(), p))
            .collect();
        let (found, next_token) = page(matching, input.next_token.as_deref(), max)?;
        let mut parameters = Vec::with_capacity(found.len());
        for p in &found {
            parameters.push(
                self.parameter_out(p, p.latest(), None, decrypt, gate)
                    .await?,
            );
        }
        Ok(ParametersPage {
            parameters,
            next_token,
        })
    }

    pub(super) async fn delete_parameter(&self, input: NameInput) -> Result<Empty, SsmError> {
        required("name", &input.name)?;
        let name = self.target(&input.name);
        let _serialised = self.write_lock.lock().await;
        if !self.store.delete_parameter(&name).await? {
            return Err(not_found(&name));
        }
        Ok(Empty {})
    }

    pub(super) async fn delete_parameters(
        &self,
        input: NamesInput,
    ) -> Result<DeleteParametersOutput, SsmError> {
        names_list(&input.names)?;
        let _serialised = self.write_lock.lock().await;
        let mut deleted_parameters = Vec::new();
        let mut invalid_parameters = Vec::new();
        for given in input.names {
            let name = self.target(&given);
            if self.store.delete_parameter(&name).await? {
                deleted_parameters.push(given);
            } else {
                invalid_parameters.push(given);
            }
        }
        Ok(DeleteParametersOutput {
            deleted_parameters,
            invalid_parameters,
        })
    }

    fn metadata(&self, p: &Parameter) -> MetadataOut {
        let v = p.latest();
        MetadataOut {
            name: p.name.clone(),
            arn: self.arn(&p.name),
            kind: v.kind.clone(),
            key_id: v.key_alias.clone(),
            last_modified_date: epoch_seconds(v.modified_ms),
            last_modified_user: v.modified_by.clone(),
            description: v.description.clone(),
            allowed_pattern: v.allowed_pattern.clone(),
            version: v.version,
            tier: v.tier.clone(),
            policies: Vec::new(),
            data_type: v.data_type.clone(),
        }
    }

    pub(super) async fn describe_parameters(
        &self,
        input: DescribeParametersInput,
    ) -> Result<DescribeParametersOutput, SsmError> {
        if input.filters.is_some() && input.parameter_filters.is_some() {
            return Err(SsmError::Validation(
                "You can use either Filters or ParameterFilters in a single request.".into(),
            ));
        }
        let _ = input.shared;
        let max = max_results(input.max_results, 50)?;
        let mut all_filters = filters(input.parameter_filters, false)?;
        for f in input.filters.unwrap_or_default() {
            if !matches!(f.key.as_str(), "Name" | "Type" | "KeyId") {
                return Err(SsmError::InvalidFilterKey(format!(
                    "The following filter key is not valid: {}",
                    f.key
                )));
            }
            all_filters.push(Filter {
                key: f.key,
                option: Some("Equals".into()),
                values: f.values,
            });
        }
        let matching: Vec<(String, Parameter)> = self
            .store
            .parameters()
            .await?
            .into_iter()
            .filter(|p| all_filters.iter().all(|f| rules::matches(p, f)))
            .map(|p| (p.name.clone(), p))
            .collect();
        let (found, next_token) = page(matching, input.next_token.as_deref(), max)?;
        Ok(DescribeParametersOutput {
            parameters: found.iter().map(|p| self.metadata(p)).collect(),
            next_token,
        })
    }

    pub(super) async fn get_parameter_history(
        &self,
        input: GetParameterHistoryInput,
        gate: &Gate<'_>,
    ) -> Result<HistoryOutput, SsmError> {
        required("name", &input.name)?;
        let max = max_results(input.max_results, 50)?;
        let decrypt = input.with_decryption.unwrap_or(false);
        let name = self.target(&input.name);
        let p = self.load(&name).await?.ok_or_else(|| not_found(&name))?;
        // Versions are zero-padded into the token's sort key so they page in order.
        let versions: Vec<(String, &ParameterVersion)> = p
            .versions
            .iter()
            .map(|v| (format!("{:020}", v.version), v))
            .collect();
        let (found, next_token) = page(versions, input.next_token.as_deref(), max)?;
        let mut parameters = Vec::with_capacity(found.len());
        for v in found {
            let shown = self.shown(&p, v, decrypt, gate).await?;
            parameters.push(HistoryOut {
                name: p.name.clone(),
                kind: v.kind.clone(),
                key_id: v.key_alias.clone(),
                last_modified_date: epoch_seconds(v.modified_ms),
                last_modified_user: v.modified_by.clone(),
                description: v.description.clone(),
                value: shown.value,
                allowed_pattern: v.allowed_pattern.clone(),
                version: v.version,
                labels: v.labels.clone(),
                tier: v.tier.clone(),
                policies: Vec::new(),
                data_type: v.data_type.clone(),
            });
        }
        Ok(HistoryOutput {
            parameters,
            next_token,
        })
    }

    /// Read-modify-write of one parameter's metadata (labels, tags).
    pub(super) async fn modify<T>(
        &self,
        name: &str,
        missing: impl Fn() -> SsmError,
        mut apply: impl FnMut(&mut Parameter) -> Result<T, SsmError>,
    ) -> Result<T, SsmError> {
        let _serialised = self.write_lock.lock().await;
        for _ in 0..COMMIT_ATTEMPTS {
            let current = self.load(name).await?.ok_or_else(&missing)?;
            let mut next = current.clone();
            let out = apply(&mut next)?;
            if next == current {
                return Ok(out);
            }
            next.revision = current.revision + 1;
            let write = ParameterWrite {
                expected_revision: Some(current.revision),
                parameter: next,
                new_values: Vec::new(),
            };
            match self.store.commit_parameter(write).await {
                Ok(()) => return Ok(out),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_many_updates())
    }

    pub(super) async fn label_parameter_version(
        &self,
        input: LabelInput,
    ) -> Result<LabelOutput, SsmError> {
        required("name", &input.name)?;
        check_labels(&input.labels)?;
        let name = self.target(&input.name);
        self.modify(
            &name,
            || not_found(&name),
            |p| {
                let version = input.parameter_version.unwrap_or(p.latest().version);
                let invalid_labels = rules::label_version(p, version, &input.labels)?;
                Ok(LabelOutput {
                    invalid_labels,
                    parameter_version: version,
                })
            },
        )
        .await
    }

    pub(super) async fn unlabel_parameter_version(
        &self,
        input: LabelInput,
    ) -> Result<UnlabelOutput, SsmError> {
        required("name", &input.name)?;
        check_labels(&input.labels)?;
        let version = input.parameter_version.ok_or_else(|| {
            SsmError::Validation(
                "1 validation error detected: Value null at 'parameterVersion' failed to satisfy constraint: Member must not be null".into(),
            )
        })?;
        let name = self.target(&input.name);
        self.modify(
            &name,
            || not_found(&name),
            |p| {
                let (removed_labels, invalid_labels) =
                    rules::unlabel_version(p, version, &input.labels)?;
                Ok(UnlabelOutput {
                    removed_labels,
                    invalid_labels,
                })
            },
        )
        .await
    }
}

/// The data types PutParameter accepts (the model's list); the ones with a checkable form are
/// checked. The value is never quoted in the error.
fn check_data_type(data_type: &str, value: &str) -> Result<(), SsmError> {
    let ok = match data_type {
        "text" | "aws:ssm:integration" | "binary" | "hostname" | "email" | "url" | "jsonc" => true,
        "aws:ec2:image" => value
            .strip_prefix("ami-")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric())),
        "aws:region" => {
            value.split('-').count() >= 3
                && value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }
        "aws:account:id" => value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()),
        "boolean" => matches!(value, "true" | "false"),
        "integer" => value.parse::<i64>().is_ok(),
        "float" => value.parse::<f64>().is_ok_and(f64::is_finite),
        "ipv4-address" => value.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6-address" => value.parse::<std::net::Ipv6Addr>().is_ok(),
        "json" => serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok(),
        other => {
            return Err(SsmError::Validation(format!(
                "The following data type is not supported: {other} (Data type names are all lowercase.)"
            )));
        }
    };
    if !ok {
        return Err(SsmError::Validation(format!(
            "The parameter value isn't valid for data type {data_type}."
        )));
    }
    Ok(())
}

fn check_labels(labels: &[String]) -> Result<(), SsmError> {
    if labels.is_empty() || labels.len() > 10 {
        return Err(SsmError::Validation(
            "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1".into(),
        ));
    }
    if let Some(l) = labels.iter().find(|l| l.is_empty() || l.len() > 100) {
        return Err(SsmError::Validation(format!(
            "1 validation error detected: Value '{l}' at 'labels' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1"
        )));
    }
    Ok(())
}

/// AllowedPattern is a regular expression the whole value must match. The pattern is not
/// secret; the value is never quoted.
fn check_pattern(pattern: &str, value: &str) -> Result<(), SsmError> {
    if pattern.len() > 1024 {
        return Err(SsmError::Validation(
            "1 validation error detected: Value at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 1024".into(),
        ));
    }
    let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
        SsmError::InvalidAllowedPattern(format!(
            "The allowed pattern {pattern} is not a valid regular expression."
        ))
    })?;
    if !re.is_match(value) {
        return Err(SsmError::ParameterPatternMismatch(format!(
            "Parameter value, cannot be validated against allowedPattern: {pattern}"
        )));
    }
    Ok(())
}

/// What PutParameter's input says on its own, checked before anything is read.
struct Checked {
    /// Zeroizing: a SecureString's plaintext.
    value: zeroize::Zeroizing<String>,
    overwrite: bool,
    data_type: String,
    tags: Vec<(String, String)>,
}

/// PutParameter's stateless checks, in AWS's order: value present, no policies, a known type,
/// tags only on creation, description length, data type, no `{{…}}` references in values.
fn check_put(input: &mut PutParameterInput) -> Result<Checked, SsmError> {
    let value = input.value.take().ok_or_else(|| {
        SsmError::Validation(
            "1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null".into(),
        )
    })?;
    if input.policies.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(SsmError::Validation(
            "Parameter policies are not supported by Strongroom.".into(),
        ));
    }
    if let Some(k) = input.kind.as_deref()
        && !matches!(k, "String" | "StringList" | "SecureString")
    {
        return Err(SsmError::Validation(format!(
            "1 validation error detected: Value '{k}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
        )));
    }
    let overwrite = input.overwrite.unwrap_or(false);
    if overwrite && input.tags.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(SsmError::Validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.".into(),
        ));
    }
    if let Some(d) = &input.description
        && d.len() > 1024
    {
        return Err(SsmError::Validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024".into(),
        ));
    }
    let data_type = input.data_type.clone().unwrap_or_else(|| "text".into());
    check_data_type(&data_type, &value)?;
    if value.contains("{{") && value.contains("}}") {
        return Err(SsmError::Validation(
            "Parameter values can't reference or nest other parameters: values wrapped in double brackets {{}} are not allowed.".into(),
        ));
    }
    let tags = match input.tags.take() {
        Some(t) => super::tags::from_input(t)?,
        None => Vec::new(),
    };
    Ok(Checked {
        value,
        overwrite,
        data_type,
        tags,
    })
}

/// The tier a write gets: as asked, or as before (never down from Advanced), Intelligent-
/// Tiering choosing Advanced when the value needs it.
fn tier(
    requested: Option<&str>,
    previous: Option<&ParameterVersion>,
    value: &str,
) -> Result<String, SsmError> {
    Ok(match (requested, previous) {
        (Some("Advanced"), _) => "Advanced".to_string(),
        (Some("Standard"), Some(p)) if p.tier == "Advanced" => {
            return Err(SsmError::Validation(
                "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.".into(),
            ));
        }
        // Never back from Advanced; up to it when the value needs it.
        (Some("Intelligent-Tiering"), Some(p)) if p.tier == "Advanced" => "Advanced".to_string(),
        (Some("Intelligent-Tiering"), _) if value.len() > MAX_STANDARD_VALUE => {
            "Advanced".to_string()
        }
        (None, Some(p)) => p.tier.clone(),
        (Some("Standard" | "Intelligent-Tiering") | None, _) => "Standard".to_string(),
        (Some(other), _) => {
            return Err(SsmError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
            )));
        }
    })
}

/// A value's size within its tier's limit (AWS words the two limits differently).
fn check_value_size(tier: &str, value: &str) -> Result<(), SsmError> {
    let limit = if tier == "Advanced" {
        MAX_ADVANCED_VALUE
    } else {
        MAX_STANDARD_VALUE
    };
    if value.is_empty() || value.len() > limit {
        return Err(SsmError::Validation(if tier == "Standard" {
            format!(
                "Standard tier parameters support a maximum parameter value of {MAX_STANDARD_VALUE} characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
            )
        } else {
            format!(
                "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length between 1 and {MAX_ADVANCED_VALUE}"
            )
        }));
    }
    Ok(())
}
