//! PutParameter, GetParameter, GetParameters, GetParametersByPath, DeleteParameter,
//! DeleteParameters, DescribeParameters, GetParameterHistory, LabelParameterVersion,
//! UnlabelParameterVersion.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strongroom_domain::parameter_policies::{self as policy_rules, Policy, PolicyError};
use strongroom_domain::parameters::{
    self as rules, Filter, FilterError, MAX_ADVANCED_VALUE, MAX_STANDARD_VALUE, ParamError,
    Parameter, ParameterVersion, RawFilter, SECRETS_MANAGER_REFERENCE, Selector,
};
use strongroom_domain::validation as v;
use strongroom_store::{ParameterCursor, ParameterWrite, StoreError};

use super::shapes::{
    self, DeleteParameterRequest, DeleteParameterResult, DeleteParametersRequest,
    DeleteParametersResult, DescribeParametersRequest, DescribeParametersResult,
    GetParameterHistoryRequest, GetParameterHistoryResult, GetParameterRequest, GetParameterResult,
    GetParametersByPathRequest, GetParametersByPathResult, GetParametersRequest,
    GetParametersResult, LabelParameterVersionRequest, LabelParameterVersionResult,
    ParameterHistory, ParameterMetadata, PutParameterRequest, PutParameterResult,
    UnlabelParameterVersionRequest, UnlabelParameterVersionResult,
};
use super::{COMMIT_ATTEMPTS, Ssm, SsmError, token_for, token_start, validate};
use crate::credentials::Principal;
use crate::sensitive::Sensitive;
use crate::services::input::epoch_seconds;
use crate::services::kms::SSM_KEY;
use crate::services::secretsmanager::Gate;

fn too_many_updates() -> SsmError {
    SsmError::TooManyUpdates(
        "There are concurrent updates for a resource that supports one update at a time.".into(),
    )
}

fn not_found(name: &str) -> SsmError {
    SsmError::ParameterNotFound(format!("Parameter {name} not found."))
}

fn max_results(given: Option<i64>, max: i64) -> usize {
    given.map_or(max, |n| n.clamp(1, max)) as usize
}

/// Filters whose model constraints held ([`super::validate`]), checked as AWS does.
fn filters(raw: &[RawFilter], by_path: bool) -> Result<Vec<Filter>, SsmError> {
    rules::check_filters(raw, by_path).map_err(|e| match e {
        FilterError::Validation(m) => SsmError::Validation(m),
        FilterError::Key(m) => SsmError::InvalidFilterKey(m),
        FilterError::Option(m) => SsmError::InvalidFilterOption(m),
        FilterError::Value(m) => SsmError::InvalidFilterValue(m),
    })
}

/// `(items from the token on, next token)`, names sorted.
fn page<T>(
    items: Vec<(String, T)>,
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), SsmError> {
    let start = token_start(token)?;
    let mut items = items;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(n, _)| start.as_ref().is_none_or(|s| n >= s))
        .collect();
    let next = (rest.len() > max).then(|| token_for(&rest[max].0));
    rest.truncate(max);
    Ok((rest.into_iter().map(|(_, t)| t).collect(), next))
}

/// Parameters a listing call examines at most: SSM documents that a page may hold fewer than
/// MaxResults, with a NextToken, when "the service reaches an internal limit", so a selective
/// filter over a large store costs bounded work per call.
const SCAN_BUDGET: usize = 2_000;
/// Parameters read from the store at a time by a listing.
const SCAN_BATCH: usize = 250;

/// A listing's NextToken: where the next page starts.
fn listing_token(c: &ParameterCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "v2:{}",
        serde_json::to_string(c).unwrap_or_default()
    ))
}

fn listing_cursor(token: Option<&str>) -> Result<Option<ParameterCursor>, SsmError> {
    let Some(token) = token else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| serde_json::from_str(t.strip_prefix("v2:")?).ok())
        .map(Some)
        .ok_or_else(|| SsmError::InvalidNextToken("The specified token isn't valid.".into()))
}

/// The index range of the parameters under `path` (`None`: all of them, for `/`). Names
/// under a path below the root are stored as given, so their canonical name is the name.
fn path_prefix(path: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    (!path.is_empty()).then(|| format!("{path}/"))
}

/// The value a caller sees: plaintext, or for a SecureString read without decryption a KMS
/// ciphertext of it (bound to the parameter's ARN, as AWS), which `kms decrypt` opens.
struct Shown {
    value: Sensitive,
}

impl Ssm {
    /// One page of the parameters `keep` accepts, in listing order, within `prefix`, from
    /// `token` on; with the next page's token when there may be more. Read from the store's
    /// index in batches, examining at most [`SCAN_BUDGET`] parameters.
    async fn listing(
        &self,
        prefix: Option<&str>,
        token: Option<&str>,
        max: usize,
        keep: impl Fn(&Parameter) -> bool,
    ) -> Result<(Vec<Parameter>, Option<String>), SsmError> {
        let mut after = listing_cursor(token)?;
        let mut out: Vec<Parameter> = Vec::new();
        let mut examined = 0;
        // The first batch is one more than a page: enough when nothing is filtered out (most
        // listings), and each row read beyond it is a random read in a big store (250 rows
        // made a page of 10 take 1.8x as long at a million parameters as at a thousand).
        let mut size = (max + 1).min(SCAN_BATCH);
        loop {
            let batch = self
                .store
                .parameters_page(after.as_ref(), prefix, size)
                .await?;
            let exhausted = batch.len() < size;
            size = SCAN_BATCH;
            for p in batch {
                if keep(&p) {
                    if out.len() == max {
                        return Ok((out, after.as_ref().map(listing_token)));
                    }
                    after = Some(ParameterCursor::of(&p));
                    out.push(p);
                } else {
                    after = Some(ParameterCursor::of(&p));
                }
                examined += 1;
            }
            if exhausted {
                return Ok((out, None));
            }
            if out.len() == max || examined >= SCAN_BUDGET {
                return Ok((out, after.as_ref().map(listing_token)));
            }
        }
    }

    pub(super) async fn put_parameter(
        &self,
        input: &PutParameterRequest,
        principal: &Principal,
        gate: &Gate<'_>,
    ) -> Result<PutParameterResult, SsmError> {
        validate::put_parameter(input)?;
        let given = input.name.as_deref().unwrap_or_default().trim();
        rules::validate_name(given, &self.arn_prefix())?;
        // `/name` and `name` are one parameter, kept as `name`.
        let name = rules::canonical(given).to_string();
        let Checked {
            value,
            overwrite,
            data_type,
            tags,
            policies,
        } = check_put(input)?;
        let _serialised = self.write_lock.lock().await;
        for _ in 0..COMMIT_ATTEMPTS {
            let current = self.load(&name).await?;
            if current.is_some() && !overwrite {
                return Err(SsmError::ParameterAlreadyExists(
                    "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.".into(),
                ));
            }
            let previous = current.as_ref().map(|p| p.latest().clone());
            let kind = match (&input.type_, &previous) {
                (Some(k), _) => k.clone(),
                (None, Some(p)) => p.kind.clone(),
                (None, None) => {
                    return Err(SsmError::Validation(
                        "A parameter type is required when you create a parameter.".into(),
                    ));
                }
            };
            // Policies not given stay as they were ("updating a parameter doesn't affect the
            // expiration date or time of the policy attached to it", the user guide).
            let (policies, policies_done) = match (&policies, &previous) {
                (Some(given), _) => (given.clone(), Vec::new()),
                (None, Some(p)) => (
                    p.policies.clone(),
                    // A new version restarts NoChangeNotification's wait.
                    p.policies_done
                        .iter()
                        .filter(|d| *d != "NoChangeNotification")
                        .cloned()
                        .collect(),
                ),
                (None, None) => (Vec::new(), Vec::new()),
            };
            let tier = tier(
                input.tier.as_deref(),
                previous.as_ref(),
                value,
                !policies.is_empty(),
            )?;
            check_value_size(&tier, value)?;
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
                check_pattern(pattern, value)?;
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
                    policies,
                    policies_done,
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
                Ok(()) => {
                    return Ok(PutParameterResult {
                        version: Some(version),
                        tier: Some(tier),
                    });
                }
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
                value: Sensitive::new(String::from_utf8_lossy(&plaintext).into_owned()),
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
                value: Sensitive::new(String::from_utf8_lossy(&plaintext).into_owned()),
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
            value: Sensitive::new(B64.encode(blob)),
        })
    }

    async fn parameter_out(
        &self,
        p: &Parameter,
        version: &ParameterVersion,
        selector: Option<String>,
        decrypt: bool,
        gate: &Gate<'_>,
    ) -> Result<shapes::Parameter, SsmError> {
        let shown = self.shown(p, version, decrypt, gate).await?;
        Ok(shapes::Parameter {
            name: Some(rules::canonical(&p.name).to_string()),
            type_: Some(version.kind.clone()),
            value: Some(shown.value),
            version: Some(version.version),
            selector,
            source_result: None,
            last_modified_date: Some(epoch_seconds(version.modified_ms)),
            arn: Some(self.arn(&p.name)),
            data_type: Some(version.data_type.clone()),
        })
    }

    /// One name (with an optional selector) as GetParameter and GetParameters read it.
    async fn read_one(
        &self,
        given: &str,
        decrypt: bool,
        gate: &Gate<'_>,
    ) -> Result<shapes::Parameter, SsmError> {
        let named = self.named(given);
        if Self::is_reference(&named) {
            return self.read_reference(&named, decrypt, gate).await;
        }
        let (as_named, selector) = rules::parse_selector(&named)?;
        rules::validate_name_syntax(as_named).map_err(|e| match e {
            ParamError::Validation(m) => SsmError::Validation(m),
            _ => not_found(as_named),
        })?;
        let name = rules::canonical(as_named);
        let given = named.as_str();
        let p = self.load(name).await?.ok_or_else(|| not_found(as_named))?;
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
        // AWS answers the name as the request wrote it (`/name` or `name`): GetParameter's Name
        // "always preserves the leading slash" (hashicorp/terraform-provider-aws#49339).
        let mut out = self
            .parameter_out(&p, version, selector, decrypt, gate)
            .await?;
        out.name = Some(as_named.to_string());
        Ok(out)
    }

    /// `/aws/reference/secretsmanager/NAME[:stage-or-version-id]`: the secret's value,
    /// read as the caller (secretsmanager:GetSecretValue, kms:Decrypt).
    async fn read_reference(
        &self,
        given: &str,
        decrypt: bool,
        gate: &Gate<'_>,
    ) -> Result<shapes::Parameter, SsmError> {
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
                // AWS wraps Secrets Manager's answer and names the reference without its
                // leading slash, e.g. "... Secret aws/reference/secretsmanager/x not found."
                // (aws/aws-cli#10518, aws/aws-dotnet-extensions-configuration#199; both also
                // show a stray "null" after the name, an AWS defect not reproduced here).
                "ResourceNotFoundException" => SsmError::ParameterNotFound(format!(
                    "An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret {} not found.",
                    given.trim_start_matches('/')
                )),
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
            (Some(s), _) => s.clone(),
            (None, Some(b)) => b.clone(),
            _ => Sensitive::default(),
        };
        // Serialized into a zeroizing buffer and moved, not copied, into the answer.
        let mut source = crate::sensitive::to_json(&out).map_err(|_| SsmError::Internal)?;
        let source =
            String::from_utf8(std::mem::take(&mut *source)).map_err(|_| SsmError::Internal)?;
        Ok(shapes::Parameter {
            name: Some(given.split(':').next().unwrap_or(given).to_string()),
            type_: Some("SecureString".into()),
            value: Some(value),
            version: Some(0),
            selector: selector.map(|s| format!(":{s}")),
            source_result: Some(Sensitive::new(source)),
            last_modified_date: out.created_date,
            arn: out.arn.clone(),
            data_type: Some("text".into()),
        })
    }

    pub(super) async fn get_parameter(
        &self,
        input: &GetParameterRequest,
        gate: &Gate<'_>,
    ) -> Result<GetParameterResult, SsmError> {
        validate::get_parameter(input)?;
        let name = input.name.as_deref().unwrap_or_default();
        let parameter = self
            .read_one(name, input.with_decryption.unwrap_or(false), gate)
            .await?;
        Ok(GetParameterResult {
            parameter: Some(parameter),
        })
    }

    pub(super) async fn get_parameters(
        &self,
        input: &GetParametersRequest,
        gate: &Gate<'_>,
    ) -> Result<GetParametersResult, SsmError> {
        validate::get_parameters(input)?;
        let names = input.names.as_deref().unwrap_or_default();
        let decrypt = input.with_decryption.unwrap_or(false);
        let mut parameters = Vec::new();
        let mut invalid_parameters = Vec::new();
        // A name given twice is answered once, as AWS does (issue 14 §4).
        let mut seen = std::collections::HashSet::new();
        for name in names.iter().filter(|n| seen.insert(n.as_str())) {
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
        Ok(GetParametersResult {
            parameters: Some(parameters),
            invalid_parameters: Some(invalid_parameters),
        })
    }

    pub(super) async fn get_parameters_by_path(
        &self,
        input: &GetParametersByPathRequest,
        gate: &Gate<'_>,
    ) -> Result<GetParametersByPathResult, SsmError> {
        let raw_filters = validate::get_parameters_by_path(input)?;
        let path = input.path.as_deref().unwrap_or_default();
        // Too deep a path is a ValidationException here (the operation models no hierarchy
        // error).
        rules::validate_path(path).map_err(|e| match e {
            ParamError::HierarchyLevel(m) => SsmError::Validation(m),
            other => other.into(),
        })?;
        let max = max_results(input.max_results, 10);
        let filters = filters(&raw_filters, true)?;
        let recursive = input.recursive.unwrap_or(false);
        let decrypt = input.with_decryption.unwrap_or(false);
        let prefix = path_prefix(path);
        let (found, next_token) = self
            .listing(prefix.as_deref(), input.next_token.as_deref(), max, |p| {
                rules::in_path(&p.name, path, recursive)
                    && filters.iter().all(|f| rules::matches(p, f))
            })
            .await?;
        let mut parameters = Vec::with_capacity(found.len());
        for p in &found {
            parameters.push(
                self.parameter_out(p, p.latest(), None, decrypt, gate)
                    .await?,
            );
        }
        Ok(GetParametersByPathResult {
            parameters: Some(parameters),
            next_token,
        })
    }

    pub(super) async fn delete_parameter(
        &self,
        input: &DeleteParameterRequest,
    ) -> Result<DeleteParameterResult, SsmError> {
        validate::delete_parameter(input)?;
        let given = input.name.as_deref().unwrap_or_default();
        let name = self.target(given);
        let _serialised = self.write_lock.lock().await;
        if !self.delete_stored(&name).await? {
            return Err(not_found(&self.named(given)));
        }
        Ok(DeleteParameterResult {})
    }

    /// Delete the parameter `name` (canonical) under the name it is stored by.
    async fn delete_stored(&self, name: &str) -> Result<bool, SsmError> {
        match self.load(name).await? {
            Some(p) => Ok(self.store.delete_parameter(&p.name).await?),
            None => Ok(false),
        }
    }

    pub(super) async fn delete_parameters(
        &self,
        input: &DeleteParametersRequest,
    ) -> Result<DeleteParametersResult, SsmError> {
        validate::delete_parameters(input)?;
        let names = input.names.as_deref().unwrap_or_default();
        let _serialised = self.write_lock.lock().await;
        let mut deleted_parameters = Vec::new();
        let mut invalid_parameters = Vec::new();
        for given in names {
            let name = self.target(given);
            if self.delete_stored(&name).await? {
                deleted_parameters.push(given.clone());
            } else {
                invalid_parameters.push(given.clone());
            }
        }
        Ok(DeleteParametersResult {
            deleted_parameters: Some(deleted_parameters),
            invalid_parameters: Some(invalid_parameters),
        })
    }

    fn metadata(&self, p: &Parameter) -> ParameterMetadata {
        let v = p.latest();
        ParameterMetadata {
            // The name AWS keeps: `name` for a parameter created as `/name`.
            name: Some(rules::canonical(&p.name).to_string()),
            arn: Some(self.arn(&p.name)),
            type_: Some(v.kind.clone()),
            key_id: v.key_alias.clone(),
            last_modified_date: Some(epoch_seconds(v.modified_ms)),
            last_modified_user: Some(v.modified_by.clone()),
            description: v.description.clone(),
            allowed_pattern: v.allowed_pattern.clone(),
            version: Some(v.version),
            tier: Some(v.tier.clone()),
            policies: Some(inline_policies(v)),
            data_type: Some(v.data_type.clone()),
        }
    }

    pub(super) async fn describe_parameters(
        &self,
        input: &DescribeParametersRequest,
    ) -> Result<DescribeParametersResult, SsmError> {
        let raw_filters = validate::describe_parameters(input)?;
        if input.filters.is_some() && input.parameter_filters.is_some() {
            return Err(SsmError::Validation(
                "You can use either Filters or ParameterFilters in a single request.".into(),
            ));
        }
        let _ = input.shared;
        let max = max_results(input.max_results, 50);
        let mut all_filters = filters(&raw_filters, false)?;
        for f in input.filters.as_deref().unwrap_or_default() {
            all_filters.push(Filter {
                key: f.key.clone(),
                option: Some("Equals".into()),
                values: f.values.clone(),
            });
        }
        // One Path value narrows the listing to its index range.
        let prefix =
            all_filters
                .iter()
                .find(|f| f.key == "Path")
                .and_then(|f| match f.values.as_slice() {
                    [path] => path_prefix(path),
                    _ => None,
                });
        let (found, next_token) = self
            .listing(prefix.as_deref(), input.next_token.as_deref(), max, |p| {
                all_filters.iter().all(|f| rules::matches(p, f))
            })
            .await?;
        Ok(DescribeParametersResult {
            parameters: Some(found.iter().map(|p| self.metadata(p)).collect()),
            next_token,
        })
    }

    pub(super) async fn get_parameter_history(
        &self,
        input: &GetParameterHistoryRequest,
        gate: &Gate<'_>,
    ) -> Result<GetParameterHistoryResult, SsmError> {
        validate::get_parameter_history(input)?;
        let given = input.name.as_deref().unwrap_or_default();
        let max = max_results(input.max_results, 50);
        let decrypt = input.with_decryption.unwrap_or(false);
        let name = self.target(given);
        let p = self
            .load(&name)
            .await?
            .ok_or_else(|| not_found(&self.named(given)))?;
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
            parameters.push(ParameterHistory {
                // The name AWS keeps, as DescribeParameters shows it.
                name: Some(rules::canonical(&p.name).to_string()),
                type_: Some(v.kind.clone()),
                key_id: v.key_alias.clone(),
                last_modified_date: Some(epoch_seconds(v.modified_ms)),
                last_modified_user: Some(v.modified_by.clone()),
                description: v.description.clone(),
                value: Some(shown.value),
                allowed_pattern: v.allowed_pattern.clone(),
                version: Some(v.version),
                labels: Some(v.labels.clone()),
                tier: Some(v.tier.clone()),
                policies: Some(inline_policies(v)),
                data_type: Some(v.data_type.clone()),
            });
        }
        Ok(GetParameterHistoryResult {
            parameters: Some(parameters),
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
        input: &LabelParameterVersionRequest,
    ) -> Result<LabelParameterVersionResult, SsmError> {
        validate::label_parameter_version(input)?;
        let given = input.name.as_deref().unwrap_or_default();
        let labels = input.labels.as_deref().unwrap_or_default();
        let name = self.target(given);
        self.modify(
            &name,
            || not_found(&self.named(given)),
            |p| {
                let version = input.parameter_version.unwrap_or(p.latest().version);
                let invalid_labels = rules::label_version(p, version, labels)?;
                Ok(LabelParameterVersionResult {
                    invalid_labels: Some(invalid_labels),
                    parameter_version: Some(version),
                })
            },
        )
        .await
    }

    pub(super) async fn unlabel_parameter_version(
        &self,
        input: &UnlabelParameterVersionRequest,
    ) -> Result<UnlabelParameterVersionResult, SsmError> {
        validate::unlabel_parameter_version(input)?;
        let given = input.name.as_deref().unwrap_or_default();
        let labels = input.labels.as_deref().unwrap_or_default();
        let version = input.parameter_version.unwrap_or_default();
        let name = self.target(given);
        self.modify(
            &name,
            || not_found(&self.named(given)),
            |p| {
                let (removed_labels, invalid_labels) = rules::unlabel_version(p, version, labels)?;
                Ok(UnlabelParameterVersionResult {
                    removed_labels: Some(removed_labels),
                    invalid_labels: Some(invalid_labels),
                })
            },
        )
        .await
    }
}

/// A version's policies as DescribeParameters and GetParameterHistory show them: Pending until
/// acted on, then Finished.
fn inline_policies(v: &ParameterVersion) -> Vec<shapes::ParameterInlinePolicy> {
    v.policies
        .iter()
        .map(|p| {
            let kind = p.kind.type_name();
            shapes::ParameterInlinePolicy {
                policy_text: Some(p.text.clone()),
                policy_type: Some(kind.to_string()),
                policy_status: Some(
                    if v.policies_done.iter().any(|d| d == kind) {
                        "Finished"
                    } else {
                        "Pending"
                    }
                    .to_string(),
                ),
            }
        })
        .collect()
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

/// AllowedPattern is a regular expression the whole value must match. The pattern is not
/// secret; the value is never quoted.
fn check_pattern(pattern: &str, value: &str) -> Result<(), SsmError> {
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
struct Checked<'a> {
    /// A SecureString's plaintext, borrowed from the (zeroizing) input: never copied.
    value: &'a str,
    overwrite: bool,
    data_type: String,
    tags: Vec<(String, String)>,
    /// As given (`Some(vec![])`: `[]`, which removes them); `None`: the previous version's.
    policies: Option<Vec<Policy>>,
}

/// PutParameter's stateless checks, in AWS's order: value present, policies well formed, a known type,
/// tags only on creation, description length, data type, no `{{…}}` references in values.
fn check_put(input: &PutParameterRequest) -> Result<Checked<'_>, SsmError> {
    // Present: the model's constraints were checked first (validate::put_parameter).
    let value: &str = input.value.as_deref().unwrap_or_default();
    let policies = input
        .policies
        .as_deref()
        .map(policy_rules::parse)
        .transpose()
        .map_err(|e| match e {
            PolicyError::Type(m) => SsmError::InvalidPolicyType(m),
            PolicyError::Attribute(m) => SsmError::InvalidPolicyAttribute(m),
            PolicyError::Limit(m) => SsmError::PoliciesLimitExceeded(m),
            PolicyError::Validation(m) => SsmError::Validation(m),
        })?;
    let overwrite = input.overwrite.unwrap_or(false);
    if overwrite && input.tags.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(SsmError::Validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.".into(),
        ));
    }
    let data_type = input.data_type.clone().unwrap_or_else(|| "text".into());
    check_data_type(&data_type, value)?;
    if value.contains("{{") && value.contains("}}") {
        return Err(SsmError::Validation(
            "Parameter values can't reference or nest other parameters: values wrapped in double brackets {{}} are not allowed.".into(),
        ));
    }
    let tags = match &input.tags {
        Some(t) => super::tags::from_input(t)?,
        None => Vec::new(),
    };
    Ok(Checked {
        value,
        overwrite,
        data_type,
        tags,
        policies,
    })
}

/// The tier a write gets: as asked, or as before (never down from Advanced), Intelligent-
/// Tiering choosing Advanced when the value needs it.
fn tier(
    requested: Option<&str>,
    previous: Option<&ParameterVersion>,
    value: &str,
    has_policies: bool,
) -> Result<String, SsmError> {
    let tier = tier_for_value(requested, previous, value, has_policies)?;
    // Policies are an advanced-tier feature (the user guide); Intelligent-Tiering chose
    // Advanced for them already.
    if has_policies && tier != "Advanced" {
        return Err(SsmError::Validation(policy_rules::STANDARD_TIER.into()));
    }
    Ok(tier)
}

fn tier_for_value(
    requested: Option<&str>,
    previous: Option<&ParameterVersion>,
    value: &str,
    has_policies: bool,
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
        (Some("Intelligent-Tiering"), _) if value.len() > MAX_STANDARD_VALUE || has_policies => {
            "Advanced".to_string()
        }
        (None, Some(p)) => p.tier.clone(),
        (Some("Standard" | "Intelligent-Tiering") | None, _) => "Standard".to_string(),
        (Some(other), _) => {
            return Err(SsmError::Validation(v::one(
                v::Shown::text(other),
                "tier",
                v::one_of(&["Advanced", "Intelligent-Tiering", "Standard"]),
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
    if value.len() > limit {
        return Err(SsmError::Validation(if tier == "Standard" {
            format!(
                "Standard tier parameters support a maximum parameter value of {MAX_STANDARD_VALUE} characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
            )
        } else {
            v::one(v::Shown::Hidden, "value", v::max_length(MAX_ADVANCED_VALUE))
        }));
    }
    Ok(())
}
