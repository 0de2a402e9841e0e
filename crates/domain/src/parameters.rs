//! SSM Parameter Store rules: names and hierarchies, selectors (`name:3`, `name:label`),
//! labels, the 100-version history, path listing and DescribeParameters filters. Pure; the
//! SSM service applies them.

use serde::{Deserialize, Serialize};

use crate::secret::Millis;
use crate::validation::{self, Shown, Violations};

/// AWS keeps at most 100 versions of a parameter.
pub const MAX_VERSIONS: usize = 100;
pub const MAX_LABELS_PER_VERSION: usize = 10;
pub const MAX_DEPTH: usize = 15;
/// The name a caller may give: 1011 characters including the parameter ARN before it.
pub const MAX_NAME_WITH_ARN: usize = 1011;
pub const MAX_STANDARD_VALUE: usize = 4096;
pub const MAX_ADVANCED_VALUE: usize = 8192;
/// Parameters that name a Secrets Manager secret (`GetParameter` only, WithDecryption).
pub const SECRETS_MANAGER_REFERENCE: &str = "/aws/reference/secretsmanager/";

/// One version's metadata (its value is stored sealed, apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterVersion {
    pub version: i64,
    /// String | StringList | SecureString.
    pub kind: String,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    /// Key id (not ARN) of the KMS key a SecureString is encrypted with; the alias the
    /// caller used is kept in `key_alias` to report back as AWS does.
    pub key_id: Option<String>,
    #[serde(default)]
    pub key_alias: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub modified_ms: Millis,
    /// ARN of the principal that wrote the version.
    pub modified_by: String,
    pub labels: Vec<String>,
    /// Parameter policies in force from this version on (advanced parameters; absent in data
    /// written before policies existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<crate::parameter_policies::Policy>,
    /// The notification policies already acted on for this version (type names), so a sweep
    /// announces each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies_done: Vec<String>,
}

/// A parameter with its version history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    /// Optimistic-concurrency revision, as secrets have.
    pub revision: i64,
    pub tags: Vec<(String, String)>,
    pub versions: Vec<ParameterVersion>,
}

impl Parameter {
    /// The newest version. A parameter always has one: `new_version` never removes the last,
    /// and the store refuses to write or load a parameter without versions.
    pub fn latest(&self) -> &ParameterVersion {
        self.versions
            .last()
            .expect("a parameter has at least one version")
    }
    pub fn version(&self, v: i64) -> Option<&ParameterVersion> {
        self.versions.iter().find(|x| x.version == v)
    }
    pub fn labelled(&self, label: &str) -> Option<&ParameterVersion> {
        self.versions
            .iter()
            .find(|x| x.labels.iter().any(|l| l == label))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// ValidationException.
    Validation(String),
    /// HierarchyLevelLimitExceededException.
    HierarchyLevel(String),
    /// ParameterMaxVersionLimitExceeded.
    MaxVersions(String),
    /// ParameterVersionLabelLimitExceeded.
    LabelLimit(String),
    /// ParameterVersionNotFound.
    VersionNotFound(String),
    /// The `/aws/` hierarchy belongs to AWS (AccessDeniedException).
    Reserved(String),
}

/// AWS's answer to a name with a character outside `a-zA-Z0-9_.-/`, a path without its
/// leading slash or an empty sub-path: despite its first words it is the general one (seen
/// from real AWS in aws/aws-sdk-php#1952, boto/boto3#1499, localstack#7712 and #11538).
pub const BAD_NAME: &str = "Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";

/// A one-level name starting with `aws` or `ssm` (any case), with or without its slash
/// (moto's recorded wording, moto/ssm/models.py `put_parameter`).
pub const RESERVED_PREFIX: &str =
    "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).";

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.-/".contains(&b)
}

/// The name AWS keeps a parameter under: a one-level name is the same parameter with or
/// without its leading slash (`/name` is `name`), and AWS stores it without (DescribeParameters
/// answers `name` for a parameter created as `/name`: hashicorp/terraform-provider-aws#49116,
/// #49339). Paths (`/a/b`) are kept as given; a selector (`:3`) is kept.
pub fn canonical(name: &str) -> &str {
    match name.strip_prefix('/') {
        Some(rest) if !rest.is_empty() && !rest.split(':').next().unwrap_or("").contains('/') => {
            rest
        }
        _ => name,
    }
}

/// Validate a name for a new or updated parameter (`arn_prefix` is
/// `arn:PARTITION:ssm:REGION:ACCOUNT:parameter`, which counts toward the length limit).
pub fn validate_name(name: &str, arn_prefix: &str) -> Result<(), ParamError> {
    let first = name.trim_start_matches('/');
    let lower = first.to_ascii_lowercase();
    // The reserved prefixes come first, as in AWS (moto records these three answers): `/aws…`
    // paths are AWS's own hierarchy, refused as access to it; other `/ssm…` paths get the
    // general answer; one-level names the short one.
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        let is_path = name.matches('/').count() > 1;
        if is_path && name.to_ascii_lowercase().starts_with("/aws") {
            return Err(ParamError::Reserved(format!(
                "No access to reserved parameter name: {name}."
            )));
        }
        return Err(ParamError::Validation(
            if is_path { BAD_NAME } else { RESERVED_PREFIX }.into(),
        ));
    }
    if name.contains('/') && !name.starts_with('/') && name.bytes().all(name_char) {
        return Err(ParamError::Validation(
            "Parameter name must be a fully qualified name.".into(),
        ));
    }
    validate_name_syntax(name)?;
    let with_arn = arn_prefix.len() + if name.starts_with('/') { 0 } else { 1 } + name.len();
    if with_arn > MAX_NAME_WITH_ARN {
        return Err(ParamError::Validation(format!(
            "Parameter name, including its ARN ({arn_prefix}/...), must be at most {MAX_NAME_WITH_ARN} characters."
        )));
    }
    Ok(())
}

/// Characters, slashes and depth (no reserved-prefix check: reads of `/aws/reference/...`
/// and of missing names go through this).
pub fn validate_name_syntax(name: &str) -> Result<(), ParamError> {
    if name.is_empty() || !name.bytes().all(name_char) {
        return Err(ParamError::Validation(BAD_NAME.into()));
    }
    if name.contains('/') && (!name.starts_with('/') || name.ends_with('/') || name.contains("//"))
    {
        return Err(ParamError::Validation(BAD_NAME.into()));
    }
    if depth(name) > MAX_DEPTH {
        return Err(ParamError::HierarchyLevel(format!(
            "A hierarchy can have a maximum of {MAX_DEPTH} levels. Parameter name {name} exceeds it."
        )));
    }
    Ok(())
}

fn depth(name: &str) -> usize {
    name.trim_start_matches('/').split('/').count()
}

/// AWS's answer to a malformed path (GetParametersByPath's Path, a Path filter's value). Its
/// quotes around aws and ssm do carry backslashes: real answers show them (aws-samples/
/// resource-autotagger#1, pahud/cdk-remote-stack#605).
pub const BAD_PATH: &str = "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \\\"aws\\\" or \\\"ssm\\\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.";

/// A path for GetParametersByPath: `/` or `/a/b` (a trailing slash is allowed).
pub fn validate_path(path: &str) -> Result<(), ParamError> {
    if path == "/" {
        return Ok(());
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if !trimmed.starts_with('/')
        || trimmed == "/"
        || !trimmed.bytes().all(name_char)
        || trimmed.contains("//")
    {
        return Err(ParamError::Validation(BAD_PATH.into()));
    }
    if depth(trimmed) > MAX_DEPTH {
        return Err(ParamError::HierarchyLevel(format!(
            "A hierarchy can have a maximum of {MAX_DEPTH} levels."
        )));
    }
    Ok(())
}

/// Whether `name` lies under `path`: directly (one level) or at any depth (`recursive`). A
/// one-level name (`name`, kept without its slash) lies directly under `/`.
pub fn in_path(name: &str, path: &str, recursive: bool) -> bool {
    let name = if name.starts_with('/') {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!("/{name}"))
    };
    let prefix = if path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    };
    let Some(rest) = name.strip_prefix(&prefix) else {
        return false;
    };
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

/// What a name with a selector asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(i64),
    Label(String),
}

/// Split `name:3` / `name:label` (names never contain ':').
pub fn parse_selector(given: &str) -> Result<(&str, Selector), ParamError> {
    let Some((name, sel)) = given.split_once(':') else {
        return Ok((given, Selector::Latest));
    };
    if sel.is_empty() || sel.contains(':') {
        return Err(ParamError::Validation(format!(
            "Invalid parameter name or selector: {given}"
        )));
    }
    if sel.bytes().all(|b| b.is_ascii_digit()) {
        let v = sel
            .parse::<i64>()
            .map_err(|_| ParamError::VersionNotFound(format!("Version {sel} not found.")))?;
        return Ok((name, Selector::Version(v)));
    }
    Ok((name, Selector::Label(sel.to_string())))
}

/// The version a selector picks, if any.
pub fn select<'a>(p: &'a Parameter, selector: &Selector) -> Option<&'a ParameterVersion> {
    match selector {
        Selector::Latest => Some(p.latest()),
        Selector::Version(v) => p.version(*v),
        Selector::Label(l) => p.labelled(l),
    }
}

/// AWS's label rules: 1–100 of letters, digits, `.-_`; not starting with a digit, `aws` or
/// `ssm` (any case).
pub fn valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    !label.is_empty()
        && label.len() <= 100
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !label.as_bytes()[0].is_ascii_digit()
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

/// Attach `labels` to `version`, moving any already on another version. Returns the labels
/// that broke the rules (not attached), as LabelParameterVersion's InvalidLabels.
pub fn label_version(
    p: &mut Parameter,
    version: i64,
    labels: &[String],
) -> Result<Vec<String>, ParamError> {
    if p.version(version).is_none() {
        return Err(ParamError::VersionNotFound(format!(
            "Systems Manager could not find version {version} of {}. Verify the version and try again.",
            p.name
        )));
    }
    let (valid, invalid): (Vec<&String>, Vec<&String>) =
        labels.iter().partition(|l| valid_label(l));
    let target = p
        .version(version)
        .map(|v| v.labels.clone())
        .unwrap_or_default();
    let mut after = target.clone();
    for l in &valid {
        if !after.contains(l) {
            after.push((*l).clone());
        }
    }
    if after.len() > MAX_LABELS_PER_VERSION {
        return Err(ParamError::LabelLimit(format!(
            "A parameter version can have maximum {MAX_LABELS_PER_VERSION} labels.Move one or more labels to another version and try again."
        )));
    }
    for v in &mut p.versions {
        if v.version == version {
            v.labels = after.clone();
        } else {
            v.labels.retain(|l| !valid.contains(&l));
        }
    }
    Ok(invalid.into_iter().cloned().collect())
}

/// Remove `labels` from `version`: (removed, not on that version).
pub fn unlabel_version(
    p: &mut Parameter,
    version: i64,
    labels: &[String],
) -> Result<(Vec<String>, Vec<String>), ParamError> {
    let name = p.name.clone();
    let v = p
        .versions
        .iter_mut()
        .find(|v| v.version == version)
        .ok_or_else(|| {
            ParamError::VersionNotFound(format!(
                "Systems Manager could not find version {version} of {name}. Verify the version and try again."
            ))
        })?;
    let (removed, invalid): (Vec<String>, Vec<String>) =
        labels.iter().cloned().partition(|l| v.labels.contains(l));
    v.labels.retain(|l| !removed.contains(l));
    Ok((removed, invalid))
}

/// Append a version (number = previous + 1). At 100 versions the oldest goes, unless it has a
/// label: then ParameterMaxVersionLimitExceeded, as AWS. Returns the removed version number.
pub fn push_version(
    p: &mut Parameter,
    mut next: ParameterVersion,
) -> Result<Option<i64>, ParamError> {
    let mut removed = None;
    if p.versions.len() >= MAX_VERSIONS {
        let oldest = &p.versions[0];
        if !oldest.labels.is_empty() {
            return Err(ParamError::MaxVersions(format!(
                "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                p.name, oldest.version
            )));
        }
        removed = Some(oldest.version);
        p.versions.remove(0);
    }
    next.version = p.versions.last().map_or(1, |v| v.version + 1);
    p.versions.push(next);
    Ok(removed)
}

/// A ParameterStringFilter (DescribeParameters, GetParametersByPath).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub key: String,
    pub option: Option<String>,
    pub values: Vec<String>,
}

/// A ParameterStringFilter as the request gave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawFilter {
    pub key: String,
    pub option: Option<String>,
    pub values: Option<Vec<String>>,
}

/// How a filter is refused, past the model's constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// ValidationException.
    Validation(String),
    /// InvalidFilterKey.
    Key(String),
    /// InvalidFilterOption.
    Option(String),
    /// InvalidFilterValue.
    Value(String),
}

/// ParameterStringFilterKey's pattern, as the model writes it.
pub const FILTER_KEY_PATTERN: &str = "^(tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType)$";

fn filter_key_matches(key: &str) -> bool {
    matches!(
        key,
        "Name" | "Type" | "KeyId" | "Path" | "Label" | "Tier" | "DataType"
    ) || key.strip_prefix("tag:").is_some_and(|t| !t.is_empty())
}

/// The model's constraints on ParameterStringFilters (key 1–132 matching its pattern, option
/// 1–10, 1–50 values of 1–1024 characters), as violations of `member`
/// (`parameterFilters.N.member.key`, ...).
pub fn filter_constraints(filters: &[RawFilter], member: &str, v: &mut Violations) {
    for (i, f) in filters.iter().enumerate() {
        let at = |m: &str| format!("{member}.{}.member.{m}", i + 1);
        let key = Shown::text(&f.key);
        if !filter_key_matches(&f.key) {
            v.add(
                key.clone(),
                &at("key"),
                validation::pattern(FILTER_KEY_PATTERN),
            );
        }
        v.length(&f.key, key, &at("key"), 1, 132);
        if let Some(o) = &f.option {
            v.length(o, Shown::text(o), &at("option"), 1, 10);
        }
        if let Some(values) = &f.values {
            if values.is_empty() {
                v.add(
                    Shown::list(values),
                    &at("values"),
                    validation::min_length(1),
                );
            } else if values.len() > 50 {
                v.add(
                    Shown::list(values),
                    &at("values"),
                    validation::max_length(50),
                );
            }
            if values
                .iter()
                .any(|x| x.is_empty() || x.chars().count() > 1024)
            {
                v.add(
                    Shown::list(values),
                    &at("values"),
                    validation::members_satisfy(&[
                        validation::max_length(1024),
                        validation::min_length(1),
                    ]),
                );
            }
        }
    }
}

const TYPES: &[&str] = &["String", "StringList", "SecureString"];
const TIERS: &[&str] = &["Standard", "Advanced", "Intelligent-Tiering"];
const DATA_TYPES: &[&str] = &["text", "aws:ec2:image", "aws:ssm:integration"];

/// AWS's checks of filters whose constraints hold, filter by filter in the order given, in
/// the order moto records AWS's answers (moto/ssm/models.py `_validate_parameter_filters`;
/// its tests pin the texts): keys the operation does not take, missing values, a key given
/// twice, Path's options and values, Tier/Type/DataType values, options. `by_path`:
/// GetParametersByPath (which takes Type, KeyId and Label), else DescribeParameters (all
/// but Label).
pub fn check_filters(filters: &[RawFilter], by_path: bool) -> Result<Vec<Filter>, FilterError> {
    let mut out: Vec<Filter> = Vec::with_capacity(filters.len());
    for f in filters {
        let key = f.key.as_str();
        if !by_path && key == "Label" {
            return Err(FilterError::Key(
                "The following filter key is not valid: Label. Valid filter keys include: [Path, Name, Type, KeyId, Tier].".into(),
            ));
        }
        if by_path && !matches!(key, "Type" | "KeyId" | "Label") {
            return Err(FilterError::Key(format!(
                "The following filter key is not valid: {key}. Valid filter keys include: [Type, KeyId]."
            )));
        }
        let values = f.values.clone().unwrap_or_default();
        if values.is_empty() && !key.starts_with("tag:") {
            return Err(FilterError::Value(format!(
                "The following filter values are missing : null for filter key {key}."
            )));
        }
        if out.iter().any(|o| o.key == key) {
            return Err(FilterError::Key(format!(
                "The following filter is duplicated in the request: {key}. A request can contain only one occurrence of a specific filter."
            )));
        }
        let option = f.option.clone();
        let invalid_value =
            |valid: &[&str]| {
                values.iter().find(|v| !valid.contains(&v.as_str())).map(|v| {
                FilterError::Value(format!(
                    "The following filter value is not valid: {v}. Valid values include: {}.",
                    validation::list(valid)
                ))
            })
            };
        match key {
            "Path" => {
                if let Some(o) = option.as_deref()
                    && !matches!(o, "Recursive" | "OneLevel")
                {
                    return Err(FilterError::Option(format!(
                        "The following filter option is not valid: {o}. Valid options include: [Recursive, OneLevel]."
                    )));
                }
                for p in &values {
                    let lower = p.to_ascii_lowercase();
                    if lower.starts_with("/aws") || lower.starts_with("/ssm") {
                        return Err(FilterError::Validation(
                            "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). When using global parameters, please specify within a global namespace.".into(),
                        ));
                    }
                    if validate_path(p).is_err() {
                        return Err(FilterError::Validation(BAD_PATH.into()));
                    }
                }
            }
            "Tier" | "Type" | "DataType" => {
                let valid = match key {
                    "Tier" => TIERS,
                    "Type" => TYPES,
                    _ => DATA_TYPES,
                };
                if let Some(e) = invalid_value(valid) {
                    return Err(e);
                }
            }
            _ => {}
        }
        if key != "Path"
            && let Some(o) = option.as_deref()
        {
            let allowed: &[&str] = match key {
                // GetParametersByPath takes Label with Equals only (the model's words).
                "Label" => &["Equals"],
                "Name" => &["Equals", "BeginsWith", "Contains"],
                _ => &["Equals", "BeginsWith"],
            };
            if !allowed.contains(&o) {
                return Err(FilterError::Option(if key == "Label" {
                    format!(
                        "The following filter option is not valid: {o}. Valid options include: [Equals]."
                    )
                } else {
                    // moto records AWS naming these two, also for Name (which takes Contains).
                    format!(
                        "The following filter option is not valid: {o}. Valid options include: [BeginsWith, Equals]."
                    )
                }));
            }
        }
        out.push(Filter {
            key: key.to_string(),
            option,
            values,
        });
    }
    Ok(out)
}

/// Whether a parameter passes a filter (values are ORed, as AWS). `key_alias` is what the
/// latest version's key is called for the KeyId filter.
pub fn matches(p: &Parameter, f: &Filter) -> bool {
    let latest = p.latest();
    let option = f.option.as_deref().unwrap_or(match f.key.as_str() {
        "Path" => "OneLevel",
        _ => "Equals",
    });
    let test = |field: &str| {
        f.values.iter().any(|v| match option {
            "BeginsWith" => field.starts_with(v.as_str()),
            "Contains" => field.contains(v.as_str()),
            _ => field == v,
        })
    };
    match f.key.as_str() {
        "Name" => {
            // AWS matches Name with or without the leading slash.
            let bare = p.name.trim_start_matches('/');
            f.values.iter().any(|v| {
                let v = v.trim_start_matches('/');
                match option {
                    "BeginsWith" => bare.starts_with(v),
                    "Contains" => bare.contains(v),
                    _ => bare == v,
                }
            })
        }
        "Type" => test(&latest.kind),
        "Tier" => test(&latest.tier),
        "DataType" => test(&latest.data_type),
        "KeyId" => latest
            .key_alias
            .as_deref()
            .into_iter()
            .chain(latest.key_id.as_deref())
            .any(test),
        "Label" => p.versions.iter().flat_map(|v| &v.labels).any(|l| test(l)),
        "Path" => f
            .values
            .iter()
            .any(|path| in_path(&p.name, path, option == "Recursive")),
        key => match key.strip_prefix("tag:") {
            Some(tag) => p
                .tags
                .iter()
                .any(|(k, v)| k == tag && (f.values.is_empty() || test(v))),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(labels: &[&str]) -> ParameterVersion {
        ParameterVersion {
            version: 0,
            kind: "String".into(),
            description: None,
            allowed_pattern: None,
            key_id: None,
            key_alias: None,
            tier: "Standard".into(),
            data_type: "text".into(),
            modified_ms: 0,
            modified_by: "arn:aws:iam::123456789012:root".into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            policies: Vec::new(),
            policies_done: Vec::new(),
        }
    }

    fn param(n: usize) -> Parameter {
        let mut p = Parameter {
            name: "/app/db".into(),
            revision: 0,
            tags: vec![],
            versions: vec![],
        };
        for _ in 0..n {
            push_version(&mut p, version(&[])).unwrap();
        }
        p
    }

    const PREFIX: &str = "arn:aws:ssm:us-east-1:123456789012:parameter";

    #[test]
    fn names() {
        for ok in [
            "db",
            "/app/db",
            "/Dev/DBServer/MySQL/db-string13",
            "a.b_c-d",
            "/app/aws/ssm",
        ] {
            assert!(validate_name(ok, PREFIX).is_ok(), "{ok}");
        }
        let err = |n: &str| match validate_name(n, PREFIX) {
            Err(ParamError::Validation(m)) => m,
            other => panic!("{n}: {other:?}"),
        };
        for bad in ["", "a b", "/app/db/", "//x", "/a//b", "x:1", "x$", "/a/b@c"] {
            assert_eq!(err(bad), BAD_NAME, "{bad}");
        }
        assert_eq!(
            err("app/db"),
            "Parameter name must be a fully qualified name."
        );
        // One-level names with a reserved prefix get the short answer, `/ssm…` paths the
        // general one, `/aws…` paths are AWS's.
        for bad in ["aws-x", "/AWSx", "ssm", "/ssmx", "SSM_TEST"] {
            assert_eq!(err(bad), RESERVED_PREFIX, "{bad}");
        }
        assert_eq!(err("/ssm/x"), BAD_NAME);
        assert_eq!(err("/SSM_test/path"), BAD_NAME);
        for reserved in ["/AWS/x", "/aws_test/path/to/var", "/aws/x"] {
            assert_eq!(
                validate_name(reserved, PREFIX),
                Err(ParamError::Reserved(format!(
                    "No access to reserved parameter name: {reserved}."
                )))
            );
        }
        let fifteen = "/a".repeat(15);
        assert!(validate_name(&fifteen, PREFIX).is_ok());
        assert!(matches!(
            validate_name(&format!("{fifteen}/b"), PREFIX),
            Err(ParamError::HierarchyLevel(_))
        ));
        let long = format!("/{}", "a".repeat(MAX_NAME_WITH_ARN - PREFIX.len()));
        assert!(validate_name(&long, PREFIX).is_err());
        assert!(validate_name(&long[..long.len() - 1], PREFIX).is_ok());
        // Reads of reserved names are syntactically fine; malformed ones get the general answer.
        assert!(validate_name_syntax("/aws/reference/secretsmanager/db").is_ok());
        assert_eq!(
            validate_name_syntax("a/b"),
            Err(ParamError::Validation(BAD_NAME.into()))
        );
    }

    #[test]
    fn one_level_names_are_kept_without_their_slash() {
        assert_eq!(canonical("/db"), "db");
        assert_eq!(canonical("db"), "db");
        assert_eq!(canonical("/db:3"), "db:3");
        assert_eq!(canonical("/app/db"), "/app/db");
        assert_eq!(canonical("/app/db:prod"), "/app/db:prod");
        assert_eq!(canonical("/"), "/");
        assert_eq!(canonical(""), "");
    }

    #[test]
    fn paths() {
        assert!(in_path("/a/b", "/a", false));
        assert!(in_path("/a/b", "/a/", false));
        assert!(!in_path("/a/b/c", "/a", false));
        assert!(in_path("/a/b/c", "/a", true));
        assert!(!in_path("/ab/c", "/a", true));
        assert!(!in_path("/a", "/a", true));
        assert!(in_path("/a", "/", false));
        // One-level names, kept without their slash, lie directly under /.
        assert!(in_path("a", "/", false));
        assert!(in_path("a", "/", true));
        assert!(!in_path("a", "/a", true));
        assert!(!in_path("/a/b", "/", false));
        assert!(validate_path("/").is_ok());
        assert!(validate_path("/a/b/").is_ok());
        assert_eq!(
            validate_path("a/b"),
            Err(ParamError::Validation(BAD_PATH.into()))
        );
        assert!(BAD_PATH.contains(r#"It can't be prefixed with \"aws\" or \"ssm\" (case"#));
    }

    #[test]
    fn selectors() {
        assert_eq!(parse_selector("/a").unwrap(), ("/a", Selector::Latest));
        assert_eq!(
            parse_selector("/a:3").unwrap(),
            ("/a", Selector::Version(3))
        );
        assert_eq!(
            parse_selector("/a:prod").unwrap(),
            ("/a", Selector::Label("prod".into()))
        );
        assert!(parse_selector("/a:").is_err());
        assert!(parse_selector("/a:b:c").is_err());
        let mut p = param(3);
        label_version(&mut p, 2, &["prod".into()]).unwrap();
        assert_eq!(select(&p, &Selector::Latest).unwrap().version, 3);
        assert_eq!(select(&p, &Selector::Version(1)).unwrap().version, 1);
        assert_eq!(
            select(&p, &Selector::Label("prod".into())).unwrap().version,
            2
        );
        assert!(select(&p, &Selector::Version(9)).is_none());
    }

    #[test]
    fn labels_move_and_invalid_ones_are_reported() {
        let mut p = param(3);
        let invalid = label_version(
            &mut p,
            1,
            &[
                "prod".into(),
                "1st".into(),
                "awsx".into(),
                "SSM".into(),
                "a b".into(),
            ],
        )
        .unwrap();
        assert_eq!(invalid, vec!["1st", "awsx", "SSM", "a b"]);
        assert_eq!(p.version(1).unwrap().labels, vec!["prod"]);
        label_version(&mut p, 3, &["prod".into()]).unwrap();
        assert!(p.version(1).unwrap().labels.is_empty());
        assert_eq!(p.version(3).unwrap().labels, vec!["prod"]);
        assert!(matches!(
            label_version(&mut p, 7, &["x".into()]),
            Err(ParamError::VersionNotFound(_))
        ));
        let ten: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
        label_version(&mut p, 2, &ten).unwrap();
        assert!(matches!(
            label_version(&mut p, 2, &["one-more".into()]),
            Err(ParamError::LabelLimit(_))
        ));
        let (removed, invalid) = unlabel_version(&mut p, 2, &["l0".into(), "nope".into()]).unwrap();
        assert_eq!(
            (removed, invalid),
            (vec!["l0".to_string()], vec!["nope".to_string()])
        );
    }

    #[test]
    fn versions_written_before_policies_still_load() {
        let old = r#"{"version":1,"kind":"String","description":null,"allowed_pattern":null,"key_id":null,"tier":"Standard","data_type":"text","modified_ms":5,"modified_by":"x","labels":[]}"#;
        let v: ParameterVersion = serde_json::from_str(old).unwrap();
        assert!(v.policies.is_empty() && v.policies_done.is_empty());
        assert!(!serde_json::to_string(&v).unwrap().contains("policies"));
    }

    #[test]
    fn history_keeps_100_and_spares_labelled_oldest() {
        let mut p = param(100);
        assert_eq!(push_version(&mut p, version(&[])).unwrap(), Some(1));
        assert_eq!(p.versions.len(), 100);
        assert_eq!(p.latest().version, 101);
        label_version(&mut p, 2, &["keep".into()]).unwrap();
        assert!(matches!(
            push_version(&mut p, version(&[])),
            Err(ParamError::MaxVersions(_))
        ));
        assert_eq!(p.latest().version, 101, "nothing changed");
    }

    #[test]
    fn filters() {
        let mut p = param(1);
        p.tags.push(("env".into(), "prod".into()));
        let f = |key: &str, option: Option<&str>, values: &[&str]| Filter {
            key: key.into(),
            option: option.map(str::to_string),
            values: values.iter().map(|s| s.to_string()).collect(),
        };
        assert!(matches(&p, &f("Name", Some("BeginsWith"), &["app/"])));
        assert!(matches(&p, &f("Name", Some("Contains"), &["db"])));
        assert!(matches(&p, &f("Name", None, &["/app/db"])));
        assert!(!matches(&p, &f("Name", None, &["/app"])));
        assert!(matches(&p, &f("Type", None, &["SecureString", "String"])));
        assert!(matches(&p, &f("Path", None, &["/app"])));
        assert!(!matches(&p, &f("Path", None, &["/"])));
        assert!(matches(&p, &f("Path", Some("Recursive"), &["/"])));
        assert!(matches(&p, &f("tag:env", None, &["prod"])));
        assert!(matches(&p, &f("tag:env", None, &[])));
        assert!(!matches(&p, &f("tag:team", None, &[])));
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    fn raw(key: &str, option: Option<&str>, values: Option<&[&str]>) -> RawFilter {
        RawFilter {
            key: key.into(),
            option: option.map(str::to_string),
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn constraints(filters: &[RawFilter]) -> Option<String> {
        let mut v = Violations::new();
        filter_constraints(filters, "parameterFilters", &mut v);
        v.message()
    }

    #[test]
    fn model_constraints_are_counted_together() {
        assert_eq!(constraints(&[raw("Name", None, Some(&["x"]))]), None);
        assert_eq!(
            constraints(&[raw("key", None, None)]).unwrap(),
            "1 validation error detected: Value 'key' at 'parameterFilters.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType)$"
        );
        let long_tag = format!("tag:{}", "t".repeat(129));
        assert!(
            constraints(&[raw(&long_tag, None, None)])
                .unwrap()
                .ends_with("failed to satisfy constraint: Member must have length less than or equal to 132")
        );
        let fifty_one = vec!["test"; 51];
        assert!(
            constraints(&[raw("Name", None, Some(&fifty_one))])
                .unwrap()
                .ends_with("at 'parameterFilters.1.member.values' failed to satisfy constraint: Member must have length less than or equal to 50")
        );
        let long = "t".repeat(1025);
        assert!(
            constraints(&[raw("Name", None, Some(&[long.as_str()]))])
                .unwrap()
                .ends_with("Member must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1]")
        );
        assert_eq!(
            constraints(&[
                raw("Name", Some("over 10 chars"), None),
                raw("key", None, None)
            ])
            .unwrap()
            .split(": Value")
            .next()
            .unwrap(),
            "2 validation errors detected"
        );
        assert!(
            constraints(&[raw("Name", Some(""), Some(&[]))])
                .unwrap()
                .starts_with("2 validation errors detected: Value '' at 'parameterFilters.1.member.option' failed to satisfy constraint: Member must have length greater than or equal to 1; Value '[]' at 'parameterFilters.1.member.values'")
        );
    }

    #[track_caller]
    fn refused(filters: &[RawFilter], by_path: bool) -> FilterError {
        check_filters(filters, by_path).unwrap_err()
    }

    #[test]
    fn keys_values_and_options_are_checked() {
        assert_eq!(
            refused(&[raw("Label", None, Some(&["x"]))], false),
            FilterError::Key("The following filter key is not valid: Label. Valid filter keys include: [Path, Name, Type, KeyId, Tier].".into())
        );
        for key in ["Name", "Path", "Tier", "DataType", "tag:env"] {
            assert_eq!(
                refused(&[raw(key, None, Some(&["x"]))], true),
                FilterError::Key(format!(
                    "The following filter key is not valid: {key}. Valid filter keys include: [Type, KeyId]."
                ))
            );
        }
        assert_eq!(
            refused(&[raw("Type", None, None)], false),
            FilterError::Value(
                "The following filter values are missing : null for filter key Type.".into()
            )
        );
        assert_eq!(
            refused(
                &[raw("Name", None, Some(&["a"])), raw("Name", None, Some(&["b"]))],
                false
            ),
            FilterError::Key("The following filter is duplicated in the request: Name. A request can contain only one occurrence of a specific filter.".into())
        );
        assert!(matches!(
            refused(&[raw("Path", None, Some(&["/aws", "/ssm"]))], false),
            FilterError::Validation(m) if m.starts_with("Filters for common parameters can't be prefixed with \"aws\" or \"ssm\"")
        ));
        for bad in ["/###", "//", "test"] {
            assert_eq!(
                refused(&[raw("Path", None, Some(&[bad]))], false),
                FilterError::Validation(BAD_PATH.into())
            );
        }
        assert_eq!(
            refused(&[raw("Path", Some("Equals"), Some(&["/a"]))], false),
            FilterError::Option("The following filter option is not valid: Equals. Valid options include: [Recursive, OneLevel].".into())
        );
        assert_eq!(
            refused(&[raw("Tier", None, Some(&["test"]))], false),
            FilterError::Value("The following filter value is not valid: test. Valid values include: [Standard, Advanced, Intelligent-Tiering].".into())
        );
        assert_eq!(
            refused(&[raw("Type", None, Some(&["String", "test"]))], false),
            FilterError::Value("The following filter value is not valid: test. Valid values include: [String, StringList, SecureString].".into())
        );
        assert!(matches!(
            refused(&[raw("DataType", None, Some(&["json"]))], false),
            FilterError::Value(_)
        ));
        assert_eq!(
            refused(&[raw("Name", Some("option"), Some(&["x"]))], false),
            FilterError::Option("The following filter option is not valid: option. Valid options include: [BeginsWith, Equals].".into())
        );
        assert!(matches!(
            refused(&[raw("Label", Some("BeginsWith"), Some(&["x"]))], true),
            FilterError::Option(_)
        ));
        assert!(matches!(
            refused(&[raw("Type", Some("Contains"), Some(&["String"]))], false),
            FilterError::Option(_)
        ));
        // What passes.
        let ok = check_filters(
            &[
                raw("Name", Some("Contains"), Some(&["db"])),
                raw("Path", Some("Recursive"), Some(&["/app"])),
                raw("tag:env", None, None),
                raw("Tier", None, Some(&["Advanced"])),
            ],
            false,
        )
        .unwrap();
        assert_eq!(ok.len(), 4);
        assert!(
            check_filters(
                &[
                    raw("Label", None, Some(&["x"])),
                    raw("Type", Some("Equals"), Some(&["String"]))
                ],
                true
            )
            .is_ok()
        );
    }
}
