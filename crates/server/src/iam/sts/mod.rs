//! AWS STS (Query protocol, `Version=2011-06-15`): GetCallerIdentity, AssumeRole,
//! GetSessionToken. Temporary credentials are sealed session tokens (see `crate::iam::sessions`),
//! verified on every request and refused once expired. Inputs and outputs are the model's
//! shapes (`shapes.rs`, generated).

pub(crate) mod api;
mod error;
pub mod ops;
pub mod shapes;

use crate::pipeline::Operation as _;
use ops::Op;
use shapes::*;

pub use error::StsError;

use std::sync::Arc;

use strongroom_policy::PolicyKind;

use crate::credentials::{Principal, PrincipalKind};
use crate::http::query::Params;
use crate::http::shapes::Timestamp;
use crate::iam::authz::{Authorizer, RequestInfo};
use crate::iam::directory::Directory;
use crate::iam::sessions::{Session, SessionGrant, Subject};
use crate::sensitive::Sensitive;

pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// AWS's limits for packed session policies (plain text).
const MAX_SESSION_POLICY_CHARS: usize = 2048;

pub struct Sts {
    directory: Arc<Directory>,
}

/// The operation's typed input, from its Query form (types and required members from the model).
fn input<T: serde::de::DeserializeOwned>(op: Op, p: &Params) -> Result<T, StsError> {
    MODEL
        .query_input(op.name(), p)
        .map_err(|e| StsError::Validation(e.validation_message()))
}

/// The operation's typed output as the inside of `<{Action}Result>`.
fn xml<T: serde::Serialize>(op: Op, out: T) -> Option<String> {
    MODEL.output_xml(op.name(), &out)
}

fn credentials(s: &Session, token: &str) -> Credentials {
    Credentials {
        access_key_id: s.access_key_id.clone(),
        secret_access_key: Sensitive::new(s.secret_access_key.to_string()),
        session_token: token.to_string(),
        expiration: Timestamp(s.expires_ms),
    }
}

/// The audit record's `responseElements` of AssumeRole and GetSessionToken, as CloudTrail
/// writes them (IAM User Guide, "Logging IAM and AWS STS API calls with AWS CloudTrail",
/// its AssumeRole example): the access key id and expiration of the credentials, the assumed
/// role user. Never the secret access key, and not the session token (AWS's example shows it;
/// Strongroom's token is a bearer credential together with the key id and is kept out).
fn response_elements(
    credentials: Option<&Credentials>,
    assumed: Option<&AssumedRoleUser>,
    source_identity: Option<&str>,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Some(c) = credentials {
        out.insert(
            "credentials".into(),
            serde_json::json!({
                "accessKeyId": c.access_key_id,
                "expiration": cloudtrail_time(c.expiration.0),
            }),
        );
    }
    if let Some(a) = assumed {
        out.insert(
            "assumedRoleUser".into(),
            serde_json::json!({
                "assumedRoleId": a.assumed_role_id,
                "arn": a.arn,
            }),
        );
    }
    if let Some(si) = source_identity {
        out.insert("sourceIdentity".into(), si.into());
    }
    serde_json::Value::Object(out)
}

/// CloudTrail's rendering of STS credential expirations in `responseElements`
/// (`"Jan 23, 2020, 9:17:59 PM"`, UTC, as in AWS's AssumeRole record examples).
fn cloudtrail_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // 2020-01-23T21:17:59Z
    let iso = crate::clock::iso8601(ms);
    let num = |r: std::ops::Range<usize>| iso.get(r).and_then(|s| s.parse::<usize>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return iso;
    };
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{} {d}, {y}, {h12}:{mi:02}:{s:02} {half}",
        MONTHS[(mo.clamp(1, 12)) - 1]
    )
}

fn duration(requested: Option<i64>, min: i64, max: i64, default: i64) -> Result<i64, StsError> {
    match requested {
        None => Ok(default.min(max)),
        Some(d) if (min..=max).contains(&d) => Ok(d),
        Some(d) => Err(StsError::Validation(format!(
            "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {min} and {max}"
        ))),
    }
}

/// What a new role session carries besides its role: tags (inherited transitive ones and
/// requested ones), transitive tag keys, and the source identity, which once set never
/// changes.
struct SessionContents {
    tags: Vec<(String, String)>,
    requested: Vec<(String, String)>,
    transitive: Vec<String>,
    transitive_all: Vec<String>,
    source_identity: Option<String>,
}

impl Sts {
    pub fn new(directory: Arc<Directory>) -> Self {
        Self { directory }
    }

    pub fn call(
        &self,
        op: Op,
        p: &Params,
        caller: &Principal,
        authz: &Authorizer,
        info: &RequestInfo,
        record: &mut Option<serde_json::Value>,
    ) -> Result<Option<String>, StsError> {
        Ok(match op {
            // Needs no permission, as in AWS.
            Op::GetCallerIdentity => xml(
                op,
                GetCallerIdentityResponse {
                    user_id: Some(caller.user_id().to_string()),
                    account: Some(caller.account_id.clone()),
                    arn: Some(caller.arn.clone()),
                },
            ),
            Op::AssumeRole => {
                let out = self.assume_role(input(op, p)?, caller, authz, info)?;
                *record = Some(response_elements(
                    out.credentials.as_ref(),
                    out.assumed_role_user.as_ref(),
                    out.source_identity.as_deref(),
                ));
                xml(op, out)
            }
            Op::GetSessionToken => {
                let out = self.get_session_token(input(op, p)?, caller, info)?;
                *record = Some(response_elements(out.credentials.as_ref(), None, None));
                xml(op, out)
            }
            other => {
                return Err(StsError::InvalidAction(format!(
                    "STS action {} is not available in this Strongroom version.",
                    other.name()
                )));
            }
        })
    }

    /// GetSessionToken: temporary credentials for an IAM user.
    fn get_session_token(
        &self,
        i: GetSessionTokenRequest,
        caller: &Principal,
        info: &RequestInfo,
    ) -> Result<GetSessionTokenResponse, StsError> {
        let PrincipalKind::User { name, .. } = &caller.kind else {
            return Err(StsError::AccessDenied("Cannot call GetSessionToken with session credentials or as the account root in Strongroom; call it as an IAM user.".into()));
        };
        let secs = duration(i.duration_seconds, 900, 129_600, 43_200)?;
        let (session, token) = self
            .directory
            .issue_session(
                Subject::User { name: name.clone() },
                Default::default(),
                info.now_ms,
                secs,
            )
            .map_err(|_| StsError::Internal)?;
        Ok(GetSessionTokenResponse {
            credentials: Some(credentials(&session, &token)),
            ..Default::default()
        })
    }

    /// AssumeRole with AWS's rules: the role's trust policy must allow the caller — naming
    /// it (a grant on its own) or its account (then the caller's identity policies must
    /// allow too) — for `sts:AssumeRole`, and for `sts:TagSession` when the session gets tags
    /// and `sts:SetSourceIdentity` when it gets a source identity (also when inherited
    /// through role chaining). An identity-policy allow is never a substitute for the trust
    /// policy (`authz` evaluates role ARNs with `ResourceRule::Required`).
    fn assume_role(
        &self,
        i: AssumeRoleRequest,
        caller: &Principal,
        authz: &Authorizer,
        info: &RequestInfo,
    ) -> Result<AssumeRoleResponse, StsError> {
        validate_assume_role(&i)?;
        if caller.is_root() {
            return Err(StsError::AccessDenied(
                "Roles may not be assumed by root accounts.".into(),
            ));
        }
        let role_arn = &i.role_arn;
        let session_name = &i.role_session_name;
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let role = self
            .directory
            .role(role_name)
            .ok()
            .filter(|r| &r.arn == role_arn)
            .ok_or_else(|| not_authorized(caller, "sts:AssumeRole", role_arn))?;
        let trust = self
            .directory
            .trust_policy(role_name)
            .ok_or(StsError::Internal)?;
        let contents = session_contents(&i, caller)?;
        let keys = condition_keys(&i, &contents);
        let check = |action: &str| -> Result<(), StsError> {
            let d = authz.decide(caller, action, role_arn, Some(&trust), keys.clone(), info);
            if d.is_allowed() {
                return Ok(());
            }
            tracing::info!(principal = %caller.arn, action, role = %role_arn, outcome = ?d.outcome, deciding_statements = ?d.statements, "access denied");
            Err(match (d.outcome, d.source) {
                (
                    strongroom_policy::Outcome::ImplicitDeny,
                    Some(strongroom_policy::eval::Source::Resource),
                ) => not_authorized(caller, action, role_arn),
                _ => StsError::AccessDenied(format!(
                    "User: {} is not authorized to perform: {action} on resource: {role_arn} {}",
                    caller.arn,
                    d.reason(action)
                )),
            })
        };
        check("sts:AssumeRole")?;
        if !contents.tags.is_empty() {
            check("sts:TagSession")?;
        }
        if contents.source_identity.is_some() {
            check("sts:SetSourceIdentity")?;
        }
        if contents.tags.len() > 50 {
            return Err(StsError::Validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
            ));
        }

        // Role chaining is limited to one hour, as in AWS.
        let max = if matches!(caller.kind, PrincipalKind::AssumedRole { .. }) {
            3600
        } else {
            role.max_session_secs
        };
        let secs = match i.duration_seconds {
            Some(d) if d > max && d <= 43_200 => {
                return Err(StsError::Validation(format!(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({max} seconds)."
                )));
            }
            requested => duration(requested, 900, 43_200, 3600)?,
        };
        if let Some(doc) = &i.policy {
            if doc.chars().filter(|c| !c.is_whitespace()).count() > MAX_SESSION_POLICY_CHARS {
                return Err(StsError::PackedPolicyTooLarge(
                    "Packed policy consumes more than 100 percent of the allotted size.".into(),
                ));
            }
            strongroom_policy::parse(doc, PolicyKind::Session)
                .map_err(|e| StsError::MalformedPolicyDocument(e.0))?;
        }
        let (session, token) = self
            .directory
            .issue_session(
                Subject::Role {
                    name: role_name.to_string(),
                    session_name: session_name.clone(),
                },
                SessionGrant {
                    policy: i.policy.clone(),
                    tags: contents.tags,
                    transitive_tag_keys: contents.transitive_all,
                    source_identity: contents.source_identity.clone(),
                },
                info.now_ms,
                secs,
            )
            .map_err(|_| StsError::Internal)?;
        Ok(AssumeRoleResponse {
            credentials: Some(credentials(&session, &token)),
            assumed_role_user: Some(AssumedRoleUser {
                assumed_role_id: format!("{}:{session_name}", role.id),
                arn: format!(
                    "arn:{}:sts::{}:assumed-role/{role_name}/{session_name}",
                    self.directory.partition(),
                    caller.account_id
                ),
            }),
            source_identity: contents.source_identity,
            ..Default::default()
        })
    }
}

/// AWS's words when the trust policy refuses (no "because ..."): the caller learns nothing
/// about the role, not even whether it exists.
fn not_authorized(caller: &Principal, action: &str, role_arn: &str) -> StsError {
    StsError::AccessDenied(format!(
        "User: {} is not authorized to perform: {action} on resource: {role_arn}",
        caller.arn
    ))
}

/// AssumeRole's member constraints (lengths and patterns of the model).
fn validate_assume_role(i: &AssumeRoleRequest) -> Result<(), StsError> {
    validate(&i.role_session_name, "roleSessionName", 2, 64, "_+=,.@-")?;
    if let Some(id) = &i.external_id {
        validate(id, "externalId", 2, 1224, "_+=,.@:/-")?;
    }
    if let Some(si) = &i.source_identity {
        validate(si, "sourceIdentity", 2, 64, "_+=,.@-")?;
        // Reserved for AWS, as in AWS.
        if si.to_ascii_lowercase().starts_with("aws:") {
            return Err(StsError::Validation(
                "SourceIdentity cannot start with the prefix 'aws:'.".into(),
            ));
        }
    }
    Ok(())
}

/// The new session's tags, transitive keys and source identity: the caller's transitive
/// tags (role chaining), the requested tags (which may not override a transitive one), and a
/// source identity that, once set, never changes.
fn session_contents(
    i: &AssumeRoleRequest,
    caller: &Principal,
) -> Result<SessionContents, StsError> {
    let (inherited_tags, inherited_transitive, inherited_source) = match &caller.kind {
        PrincipalKind::AssumedRole {
            session_tags,
            transitive_tag_keys,
            source_identity,
            ..
        } => (
            session_tags
                .iter()
                .filter(|(k, _)| {
                    transitive_tag_keys
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(k))
                })
                .cloned()
                .collect::<Vec<_>>(),
            transitive_tag_keys.clone(),
            source_identity.clone(),
        ),
        _ => (Vec::new(), Vec::new(), None),
    };
    let requested = session_tags(i.tags.as_deref().unwrap_or_default())?;
    let transitive = transitive_keys(
        i.transitive_tag_keys.as_deref().unwrap_or_default(),
        &requested,
    )?;
    if let Some((k, _)) = requested.iter().find(|(k, _)| {
        inherited_tags
            .iter()
            .any(|(t, _)| t.eq_ignore_ascii_case(k))
    }) {
        return Err(StsError::InvalidParameterValue(format!(
            "One or more session tags conflict with transitive session tags from the role chain: {k}"
        )));
    }
    let source_identity = match (inherited_source, &i.source_identity) {
        (Some(old), Some(new)) if &old != new => {
            return Err(StsError::AccessDenied(format!(
                "User: {} is not authorized to perform: sts:SetSourceIdentity on resource: {}: the source identity of a role session cannot be changed",
                caller.arn, i.role_arn
            )));
        }
        (Some(old), _) => Some(old),
        (None, new) => new.clone(),
    };
    let mut tags = inherited_tags;
    tags.extend(requested.iter().cloned());
    let mut transitive_all = inherited_transitive;
    for k in &transitive {
        if !transitive_all.iter().any(|t| t.eq_ignore_ascii_case(k)) {
            transitive_all.push(k.clone());
        }
    }
    Ok(SessionContents {
        tags,
        requested,
        transitive,
        transitive_all,
        source_identity,
    })
}

/// The condition keys the trust policy is evaluated with.
fn condition_keys(
    i: &AssumeRoleRequest,
    contents: &SessionContents,
) -> strongroom_policy::matching::Keys {
    let mut keys = strongroom_policy::matching::Keys::new();
    keys.insert(
        "sts:rolesessionname".into(),
        vec![i.role_session_name.clone()],
    );
    if let Some(id) = &i.external_id {
        keys.insert("sts:externalid".into(), vec![id.clone()]);
    }
    if let Some(si) = &contents.source_identity {
        keys.insert("sts:sourceidentity".into(), vec![si.clone()]);
    }
    if !contents.requested.is_empty() {
        for (k, v) in &contents.requested {
            keys.insert(
                format!("aws:requesttag/{}", k.to_ascii_lowercase()),
                vec![v.clone()],
            );
        }
        keys.insert(
            "aws:tagkeys".into(),
            contents.requested.iter().map(|(k, _)| k.clone()).collect(),
        );
    }
    if !contents.transitive.is_empty() {
        keys.insert("sts:transitivetagkeys".into(), contents.transitive.clone());
    }
    keys
}

/// A string member's length and AWS's pattern `[\w<extra>]*` (`\w`: ASCII letters, digits, `_`).
fn validate(
    value: &str,
    member: &str,
    min: usize,
    max: usize,
    extra: &str,
) -> Result<(), StsError> {
    let ok = (min..=max).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if ok {
        return Ok(());
    }
    Err(StsError::Validation(format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length between {min} and {max} and satisfy regular expression pattern: [\\w{}]*",
        extra.replace('/', "\\/")
    )))
}

/// `TransitiveTagKeys`: each must be one of the session tags passed (case-insensitive).
fn transitive_keys(keys: &[String], tags: &[(String, String)]) -> Result<Vec<String>, StsError> {
    for key in keys {
        if !tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(StsError::InvalidParameterValue(format!(
                "The transitive tag key {key} is not one of the session tags passed in the request."
            )));
        }
    }
    if keys.len() > 50 {
        return Err(StsError::Validation("1 validation error detected: Value at 'transitiveTagKeys' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
        ));
    }
    Ok(keys.to_vec())
}

/// `Tags`: at most 50, keys 1–128 characters, values at most 256, keys unique ignoring case
/// (AWS's session tag rules).
fn session_tags(requested: &[Tag]) -> Result<Vec<(String, String)>, StsError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for Tag { key, value } in requested {
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(StsError::Validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: tag keys must be 1 to 128 characters and values at most 256".into(),
            ));
        }
        if tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(StsError::InvalidParameterValue(format!(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive: {key}"
            )));
        }
        tags.push((key.clone(), value.clone()));
    }
    if tags.len() > 50 {
        return Err(StsError::Validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
        ));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cloudtrail_renders_expirations_as_aws_does() {
        // 2020-01-23T21:17:59Z
        assert_eq!(
            super::cloudtrail_time(1_579_814_279_000),
            "Jan 23, 2020, 9:17:59 PM"
        );
        assert_eq!(super::cloudtrail_time(0), "Jan 1, 1970, 12:00:00 AM");
        assert_eq!(
            super::cloudtrail_time(43_200_000 + 5_000),
            "Jan 1, 1970, 12:00:05 PM"
        );
    }
}
