//! The model's constraints (ssm.json: lengths, ranges, enums, required members) on each
//! operation's input, checked together before anything else as AWS's front end does: every
//! violation is reported, counted, in one ValidationException. A parameter's value is never
//! echoed.

use strongroom_domain::parameters::{self as rules, RawFilter};
use strongroom_domain::validation::{self as v, Shown, Violations};

use super::SsmError;
use super::shapes::{
    AddTagsToResourceRequest, DeleteParameterRequest, DeleteParametersRequest,
    DescribeParametersRequest, GetParameterHistoryRequest, GetParameterRequest,
    GetParametersByPathRequest, GetParametersRequest, LabelParameterVersionRequest,
    ListTagsForResourceRequest, PutParameterRequest, RemoveTagsFromResourceRequest, Tag,
    UnlabelParameterVersionRequest,
};

const NAME_MAX: usize = 2048;
const TYPES: &[&str] = &["SecureString", "StringList", "String"];
const TIERS: &[&str] = &["Advanced", "Intelligent-Tiering", "Standard"];
const RESOURCE_TYPES: &[&str] = &[
    "Document",
    "ManagedInstance",
    "MaintenanceWindow",
    "Parameter",
    "PatchBaseline",
    "OpsItem",
    "OpsMetadata",
    "Automation",
    "Association",
    "CloudConnector",
];
const KEY_ID_PATTERN: &str = "^([a-zA-Z0-9:/_-]+)$";
const TAG_PATTERN: &str = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$";

fn done(v: Violations) -> Result<(), SsmError> {
    v.check().map_err(SsmError::Validation)
}

/// A required PSParameterName (1–2048).
fn name(v: &mut Violations, given: Option<&str>, member: &str) {
    match given {
        None => v.add(Shown::Null, member, v::not_null()),
        Some(n) => v.length(n, Shown::text(n), member, 1, NAME_MAX),
    }
}

/// A list of 1–`max` names, each a PSParameterName.
fn names(v: &mut Violations, given: Option<&[String]>, member: &str, max: usize) {
    let Some(names) = given else {
        v.add(Shown::Null, member, v::not_null());
        return;
    };
    if names.is_empty() {
        v.add(Shown::list(names), member, v::min_length(1));
    } else if names.len() > max {
        v.add(Shown::list(names), member, v::max_length(max));
    }
    if names
        .iter()
        .any(|n| n.is_empty() || n.chars().count() > NAME_MAX)
    {
        v.add(
            Shown::list(names),
            member,
            v::members_satisfy(&[v::max_length(NAME_MAX), v::min_length(1)]),
        );
    }
}

fn max_results(v: &mut Violations, given: Option<i64>, max: i64) {
    if let Some(n) = given {
        if n < 1 {
            v.add(Shown::number(n), "maxResults", v::min_value(1));
        } else if n > max {
            v.add(Shown::number(n), "maxResults", v::max_value(max));
        }
    }
}

fn one_of(v: &mut Violations, given: Option<&str>, member: &str, set: &[&str]) {
    if let Some(x) = given
        && !set.contains(&x)
    {
        v.add(Shown::text(x), member, v::one_of(set));
    }
}

fn labels(v: &mut Violations, given: Option<&[String]>) {
    let Some(labels) = given else {
        v.add(Shown::Null, "labels", v::not_null());
        return;
    };
    if labels.is_empty() {
        v.add(Shown::list(labels), "labels", v::min_length(1));
    } else if labels.len() > 10 {
        v.add(Shown::list(labels), "labels", v::max_length(10));
    }
    if labels
        .iter()
        .any(|l| l.is_empty() || l.chars().count() > 100)
    {
        v.add(
            Shown::list(labels),
            "labels",
            v::members_satisfy(&[v::max_length(100), v::min_length(1)]),
        );
    }
}

fn tags(v: &mut Violations, given: Option<&[Tag]>, member: &str) {
    let Some(tags) = given else { return };
    if tags.len() > 1000 {
        v.add(Shown::Hidden, member, v::max_length(1000));
    }
    for (i, t) in tags.iter().enumerate() {
        let at = |m: &str| format!("{member}.{}.member.{m}", i + 1);
        v.length(&t.key, Shown::text(&t.key), &at("key"), 1, 128);
        if !tag_text(&t.key) {
            v.add(Shown::text(&t.key), &at("key"), v::pattern(TAG_PATTERN));
        }
        v.length(&t.value, Shown::text(&t.value), &at("value"), 0, 256);
        if !tag_text(&t.value) {
            v.add(Shown::text(&t.value), &at("value"), v::pattern(TAG_PATTERN));
        }
    }
}

/// TAG_PATTERN by hand: letters, separators (spaces), numbers and `_.:/=+-@`.
fn tag_text(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

fn filters(
    v: &mut Violations,
    given: Option<&[super::shapes::ParameterStringFilter]>,
) -> Vec<RawFilter> {
    let raw: Vec<RawFilter> = given
        .unwrap_or_default()
        .iter()
        .map(|f| RawFilter {
            key: f.key.clone(),
            option: f.option.clone(),
            values: f.values.clone(),
        })
        .collect();
    rules::filter_constraints(&raw, "parameterFilters", v);
    raw
}

pub(super) fn put_parameter(i: &PutParameterRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    name(&mut v, i.name.as_deref(), "name");
    if let Some(d) = &i.description {
        v.length(d, Shown::Hidden, "description", 0, 1024);
    }
    match i.value.as_deref() {
        None => v.add(Shown::Null, "value", v::not_null()),
        // The model now leaves Value unconstrained, but AWS refuses an empty one in these
        // words (moto records them: test_put_parameter_empty_string_value).
        Some("") => v.add(Shown::text(""), "value", v::min_length(1)),
        Some(_) => {}
    }
    one_of(&mut v, i.type_.as_deref(), "type", TYPES);
    if let Some(k) = &i.key_id {
        v.length(k, Shown::text(k), "keyId", 1, 256);
        if !k.is_empty()
            && !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
        {
            v.add(Shown::text(k), "keyId", v::pattern(KEY_ID_PATTERN));
        }
    }
    if let Some(p) = &i.allowed_pattern {
        v.length(p, Shown::Hidden, "allowedPattern", 0, 1024);
    }
    tags(&mut v, i.tags.as_deref(), "tags");
    one_of(&mut v, i.tier.as_deref(), "tier", TIERS);
    if let Some(p) = &i.policies {
        v.length(p, Shown::Hidden, "policies", 1, 4096);
    }
    if let Some(d) = &i.data_type {
        v.length(d, Shown::text(d), "dataType", 0, 128);
    }
    done(v)
}

pub(super) fn get_parameter(i: &GetParameterRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    name(&mut v, i.name.as_deref(), "name");
    done(v)
}

pub(super) fn get_parameters(i: &GetParametersRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    names(&mut v, i.names.as_deref(), "names", 10);
    done(v)
}

pub(super) fn delete_parameter(i: &DeleteParameterRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    name(&mut v, i.name.as_deref(), "name");
    done(v)
}

pub(super) fn delete_parameters(i: &DeleteParametersRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    names(&mut v, i.names.as_deref(), "names", 10);
    done(v)
}

/// The filters as given, once their constraints hold.
pub(super) fn get_parameters_by_path(
    i: &GetParametersByPathRequest,
) -> Result<Vec<RawFilter>, SsmError> {
    let mut v = Violations::new();
    name(&mut v, i.path.as_deref(), "path");
    let raw = filters(&mut v, i.parameter_filters.as_deref());
    max_results(&mut v, i.max_results, 10);
    done(v)?;
    Ok(raw)
}

/// The filters as given, once their constraints hold.
pub(super) fn describe_parameters(
    i: &DescribeParametersRequest,
) -> Result<Vec<RawFilter>, SsmError> {
    let mut v = Violations::new();
    for (n, f) in i.filters.as_deref().unwrap_or_default().iter().enumerate() {
        let at = |m: &str| format!("filters.{}.member.{m}", n + 1);
        one_of(&mut v, Some(&f.key), &at("key"), &["Name", "Type", "KeyId"]);
        if f.values.is_empty() {
            v.add(Shown::list(&f.values), &at("values"), v::min_length(1));
        } else if f.values.len() > 50 {
            v.add(Shown::list(&f.values), &at("values"), v::max_length(50));
        }
        if f.values
            .iter()
            .any(|x| x.is_empty() || x.chars().count() > 1024)
        {
            v.add(
                Shown::list(&f.values),
                &at("values"),
                v::members_satisfy(&[v::max_length(1024), v::min_length(1)]),
            );
        }
    }
    let raw = filters(&mut v, i.parameter_filters.as_deref());
    max_results(&mut v, i.max_results, 50);
    done(v)?;
    Ok(raw)
}

pub(super) fn get_parameter_history(i: &GetParameterHistoryRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    name(&mut v, i.name.as_deref(), "name");
    max_results(&mut v, i.max_results, 50);
    done(v)
}

pub(super) fn label_parameter_version(i: &LabelParameterVersionRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    name(&mut v, i.name.as_deref(), "name");
    labels(&mut v, i.labels.as_deref());
    done(v)
}

pub(super) fn unlabel_parameter_version(
    i: &UnlabelParameterVersionRequest,
) -> Result<(), SsmError> {
    let mut v = Violations::new();
    name(&mut v, i.name.as_deref(), "name");
    if i.parameter_version.is_none() {
        v.add(Shown::Null, "parameterVersion", v::not_null());
    }
    labels(&mut v, i.labels.as_deref());
    done(v)
}

fn resource(v: &mut Violations, resource_type: Option<&str>, resource_id: Option<&str>) {
    match resource_type {
        None => v.add(Shown::Null, "resourceType", v::not_null()),
        Some(t) => one_of(v, Some(t), "resourceType", RESOURCE_TYPES),
    }
    if resource_id.is_none() {
        v.add(Shown::Null, "resourceId", v::not_null());
    }
}

pub(super) fn add_tags_to_resource(i: &AddTagsToResourceRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    resource(&mut v, i.resource_type.as_deref(), i.resource_id.as_deref());
    match i.tags.as_deref() {
        None => v.add(Shown::Null, "tags", v::not_null()),
        Some(t) => tags(&mut v, Some(t), "tags"),
    }
    done(v)
}

pub(super) fn remove_tags_from_resource(i: &RemoveTagsFromResourceRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    resource(&mut v, i.resource_type.as_deref(), i.resource_id.as_deref());
    if i.tag_keys.is_none() {
        v.add(Shown::Null, "tagKeys", v::not_null());
    }
    done(v)
}

pub(super) fn list_tags_for_resource(i: &ListTagsForResourceRequest) -> Result<(), SsmError> {
    let mut v = Violations::new();
    resource(&mut v, i.resource_type.as_deref(), i.resource_id.as_deref());
    done(v)
}
