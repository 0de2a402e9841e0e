//! AWS STS (Query protocol, `Version=2011-06-15`): GetCallerIdentity, AssumeRole,
//! GetSessionToken. Temporary credentials are sealed session tokens (see `crate::sessions`),
//! verified on every request and refused once expired.

pub(crate) mod api;
mod error;
pub mod ops;

use crate::pipeline::Operation as _;
use ops::Op;

pub use error::StsError;

use std::sync::Arc;

use strongroom_policy::PolicyKind;

use crate::authz::{Authorizer, RequestInfo};
use crate::clock::iso8601;
use crate::credentials::{Principal, PrincipalKind};
use crate::identity::Directory;
use crate::services::iam::Params;
use crate::sessions::{Session, SessionGrant, Subject};
use crate::xml::escape;

pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// AWS's limits for packed session policies (plain text).
const MAX_SESSION_POLICY_CHARS: usize = 2048;

pub struct Sts {
    directory: Arc<Directory>,
}

fn credentials_xml(s: &Session, token: &str) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        s.access_key_id,
        escape(&s.secret_access_key),
        escape(token),
        iso8601(s.expires_ms)
    )
}

fn duration(p: &Params, min: i64, max: i64, default: i64) -> Result<i64, StsError> {
    match p.get("DurationSeconds") {
        None => Ok(default.min(max)),
        Some(v) => match v.parse::<i64>() {
            Ok(d) if (min..=max).contains(&d) => Ok(d),
            _ => Err(StsError::Validation(format!(
                "1 validation error detected: Value '{}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {min} and {max}",
                escape(v)
            ))),
        },
    }
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
    ) -> Result<Option<String>, StsError> {
        match op {
            // Needs no permission, as in AWS.
            Op::GetCallerIdentity => Ok(Some(format!(
                "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
                escape(&caller.arn),
                escape(caller.user_id()),
                caller.account_id
            ))),
            Op::AssumeRole => self.assume_role(p, caller, authz, info).map(Some),
            Op::GetSessionToken => {
                let PrincipalKind::User { name, .. } = &caller.kind else {
                    return Err(StsError::AccessDenied("Cannot call GetSessionToken with session credentials or as the account root in Strongroom; call it as an IAM user.".into()));
                };
                let secs = duration(p, 900, 129_600, 43_200)?;
                let (session, token) = self
                    .directory
                    .issue_session(
                        Subject::User { name: name.clone() },
                        Default::default(),
                        info.now_ms,
                        secs,
                    )
                    .map_err(|_| StsError::Internal)?;
                Ok(Some(credentials_xml(&session, &token)))
            }
            other => Err(StsError::InvalidAction(format!(
                "STS action {} is not available in this Strongroom version.",
                other.name()
            ))),
        }
    }

    /// AssumeRole with AWS's rules: the role's trust policy must allow the caller — naming
    /// it (a grant on its own) or its account (then the caller's identity policies must
    /// allow too) — for `sts:AssumeRole`, and for `sts:TagSession` when the session gets tags
    /// and `sts:SetSourceIdentity` when it gets a source identity (also when inherited
    /// through role chaining). An identity-policy allow is never a substitute for the trust
    /// policy (`authz` evaluates role ARNs with `ResourceRule::Required`).
    fn assume_role(
        &self,
        p: &Params,
        caller: &Principal,
        authz: &Authorizer,
        info: &RequestInfo,
    ) -> Result<String, StsError> {
        let missing = |m: &str| {
            StsError::Validation(format!(
                "1 validation error detected: Value null at '{m}' failed to satisfy constraint: Member must not be null"
            ))
        };
        let role_arn = p.get("RoleArn").ok_or_else(|| missing("roleArn"))?;
        let session_name = p
            .get("RoleSessionName")
            .ok_or_else(|| missing("roleSessionName"))?;
        validate(session_name, "roleSessionName", 2, 64, "_+=,.@-")?;
        let external_id = p.get("ExternalId");
        if let Some(id) = external_id {
            validate(id, "externalId", 2, 1224, "_+=,.@:/-")?;
        }
        let source_identity = p.get("SourceIdentity");
        if let Some(si) = source_identity {
            validate(si, "sourceIdentity", 2, 64, "_+=,.@-")?;
            // Reserved for AWS, as in AWS.
            if si.to_ascii_lowercase().starts_with("aws:") {
                return Err(StsError::Validation(
                    "SourceIdentity cannot start with the prefix 'aws:'.".into(),
                ));
            }
        }
        if caller.is_root() {
            return Err(StsError::AccessDenied(
                "Roles may not be assumed by root accounts.".into(),
            ));
        }
        let denied = |m: String| StsError::AccessDenied(m);
        // AWS's words when the trust policy refuses (no "because ..."): the caller learns
        // nothing about the role, not even whether it exists.
        let not_authorized = |action: &str| {
            denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {role_arn}",
                caller.arn
            ))
        };
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let role = self
            .directory
            .role(role_name)
            .ok()
            .filter(|r| &r.arn == role_arn)
            .ok_or_else(|| not_authorized("sts:AssumeRole"))?;
        let trust = self
            .directory
            .trust_policy(role_name)
            .ok_or(StsError::Internal)?;

        // What the new session carries: the caller's transitive tags (role chaining), the
        // requested tags (which may not override a transitive one), and the source identity,
        // which once set never changes.
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
        let requested = session_tags(p)?;
        let transitive = transitive_keys(p, &requested)?;
        if let Some((k, _)) = requested.iter().find(|(k, _)| {
            inherited_tags
                .iter()
                .any(|(t, _)| t.eq_ignore_ascii_case(k))
        }) {
            return Err(StsError::InvalidParameterValue(format!(
                "One or more session tags conflict with transitive session tags from the role chain: {k}"
            )));
        }
        let source = match (&inherited_source, source_identity) {
            (Some(old), Some(new)) if old != new => {
                return Err(denied(format!(
                    "User: {} is not authorized to perform: sts:SetSourceIdentity on resource: {role_arn}: the source identity of a role session cannot be changed",
                    caller.arn
                )));
            }
            (Some(old), _) => Some(old.clone()),
            (None, new) => new.cloned(),
        };

        let mut keys = strongroom_policy::matching::Keys::new();
        keys.insert("sts:rolesessionname".into(), vec![session_name.clone()]);
        if let Some(id) = external_id {
            keys.insert("sts:externalid".into(), vec![id.clone()]);
        }
        if let Some(si) = &source {
            keys.insert("sts:sourceidentity".into(), vec![si.clone()]);
        }
        if !requested.is_empty() {
            for (k, v) in &requested {
                keys.insert(
                    format!("aws:requesttag/{}", k.to_ascii_lowercase()),
                    vec![v.clone()],
                );
            }
            keys.insert(
                "aws:tagkeys".into(),
                requested.iter().map(|(k, _)| k.clone()).collect(),
            );
        }
        if !transitive.is_empty() {
            keys.insert("sts:transitivetagkeys".into(), transitive.clone());
        }
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
                ) => not_authorized(action),
                _ => denied(format!(
                    "User: {} is not authorized to perform: {action} on resource: {role_arn} {}",
                    caller.arn,
                    d.reason(action)
                )),
            })
        };
        check("sts:AssumeRole")?;
        let mut tags = inherited_tags;
        tags.extend(requested);
        if !tags.is_empty() {
            check("sts:TagSession")?;
        }
        if source.is_some() {
            check("sts:SetSourceIdentity")?;
        }
        let mut transitive_all = inherited_transitive;
        for k in transitive {
            if !transitive_all.iter().any(|t| t.eq_ignore_ascii_case(&k)) {
                transitive_all.push(k);
            }
        }
        if tags.len() > 50 {
            return Err(StsError::Validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
            ));
        }

        // Role chaining is limited to one hour, as in AWS.
        let max = if matches!(caller.kind, PrincipalKind::AssumedRole { .. }) {
            3600
        } else {
            role.max_session_secs
        };
        let secs = match p.get("DurationSeconds") {
            Some(v) if v.parse::<i64>().is_ok_and(|d| d > max && d <= 43_200) => {
                return Err(StsError::Validation(format!(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({max} seconds)."
                )));
            }
            _ => duration(p, 900, 43_200, 3600)?,
        };
        let policy = p.get("Policy").cloned();
        if let Some(doc) = &policy {
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
                    policy,
                    tags,
                    transitive_tag_keys: transitive_all,
                    source_identity: source.clone(),
                },
                info.now_ms,
                secs,
            )
            .map_err(|_| StsError::Internal)?;
        Ok(format!(
            "{}<AssumedRoleUser><AssumedRoleId>{}:{}</AssumedRoleId><Arn>arn:aws:sts::{}:assumed-role/{}/{}</Arn></AssumedRoleUser>{}",
            credentials_xml(&session, &token),
            role.id,
            escape(session_name),
            caller.account_id,
            escape(role_name),
            escape(session_name),
            source
                .map(|s| format!("<SourceIdentity>{}</SourceIdentity>", escape(&s)))
                .unwrap_or_default()
        ))
    }
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

/// `TransitiveTagKeys.member.N`: each must be one of the session tags passed (case-insensitive).
fn transitive_keys(p: &Params, tags: &[(String, String)]) -> Result<Vec<String>, StsError> {
    let mut keys = Vec::new();
    for n in 1.. {
        let Some(key) = p.get(&format!("TransitiveTagKeys.member.{n}")) else {
            break;
        };
        if !tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(StsError::InvalidParameterValue(format!(
                "The transitive tag key {key} is not one of the session tags passed in the request."
            )));
        }
        keys.push(key.clone());
    }
    if keys.len() > 50 {
        return Err(StsError::Validation("1 validation error detected: Value at 'transitiveTagKeys' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
        ));
    }
    Ok(keys)
}

/// `Tags.member.N.Key` / `.Value`: at most 50, keys 1–128 characters, values at most 256, keys
/// unique ignoring case (AWS's session tag rules).
fn session_tags(p: &Params) -> Result<Vec<(String, String)>, StsError> {
    let mut tags = Vec::new();
    for n in 1.. {
        let Some(key) = p.get(&format!("Tags.member.{n}.Key")) else {
            break;
        };
        let value = p
            .get(&format!("Tags.member.{n}.Value"))
            .cloned()
            .unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(StsError::Validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: tag keys must be 1 to 128 characters and values at most 256".into(),
            ));
        }
        if tags
            .iter()
            .any(|(k, _): &(String, String)| k.eq_ignore_ascii_case(key))
        {
            return Err(StsError::InvalidParameterValue(format!(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive: {key}"
            )));
        }
        tags.push((key.clone(), value));
    }
    if tags.len() > 50 {
        return Err(StsError::Validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
        ));
    }
    Ok(tags)
}
