//! AWS STS (Query protocol, `Version=2011-06-15`): GetCallerIdentity, AssumeRole,
//! GetSessionToken. Temporary credentials are sealed session tokens (see `crate::sessions`),
//! verified on every request and refused once expired.

use std::sync::Arc;

use http::StatusCode;
use strongroom_policy::PolicyKind;

use crate::authz::{Authorizer, RequestInfo, iso8601};
use crate::credentials::{Principal, PrincipalKind};
use crate::error::ApiError;
use crate::http::query::escape;
use crate::identity::Directory;
use crate::services::iam::Params;
use crate::sessions::{Session, Subject};

pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// AWS's limits for packed session policies (plain text).
const MAX_SESSION_POLICY_CHARS: usize = 2048;

pub struct Sts {
    directory: Arc<Directory>,
}

fn bad(code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, msg)
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

fn duration(p: &Params, min: i64, max: i64, default: i64) -> Result<i64, ApiError> {
    match p.get("DurationSeconds") {
        None => Ok(default.min(max)),
        Some(v) => match v.parse::<i64>() {
            Ok(d) if (min..=max).contains(&d) => Ok(d),
            _ => Err(bad(
                "ValidationError",
                format!(
                    "1 validation error detected: Value '{}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {min} and {max}",
                    escape(v)
                ),
            )),
        },
    }
}

impl Sts {
    pub fn new(directory: Arc<Directory>) -> Self {
        Self { directory }
    }

    pub fn call(
        &self,
        action: &str,
        p: &Params,
        caller: &Principal,
        authz: &Authorizer,
        info: &RequestInfo,
    ) -> Result<Option<String>, ApiError> {
        match action {
            // Needs no permission, as in AWS.
            "GetCallerIdentity" => Ok(Some(format!(
                "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
                escape(&caller.arn),
                escape(caller.user_id()),
                caller.account_id
            ))),
            "AssumeRole" => self.assume_role(p, caller, authz, info).map(Some),
            "GetSessionToken" => {
                let PrincipalKind::User { name, .. } = &caller.kind else {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "AccessDenied",
                        "Cannot call GetSessionToken with session credentials or as the account root in Strongroom; call it as an IAM user.",
                    ));
                };
                let secs = duration(p, 900, 129_600, 43_200)?;
                let (session, token) = self
                    .directory
                    .issue_session(
                        Subject::User { name: name.clone() },
                        None,
                        Vec::new(),
                        info.now_ms,
                        secs,
                    )
                    .map_err(|_| ApiError::internal())?;
                Ok(Some(credentials_xml(&session, &token)))
            }
            other => Err(bad(
                "InvalidAction",
                format!("STS action {other} is not available in this Strongroom version."),
            )),
        }
    }

    fn assume_role(
        &self,
        p: &Params,
        caller: &Principal,
        authz: &Authorizer,
        info: &RequestInfo,
    ) -> Result<String, ApiError> {
        let missing = |m: &str| {
            bad(
                "ValidationError",
                format!(
                    "1 validation error detected: Value null at '{m}' failed to satisfy constraint: Member must not be null"
                ),
            )
        };
        let role_arn = p.get("RoleArn").ok_or_else(|| missing("roleArn"))?;
        let session_name = p
            .get("RoleSessionName")
            .ok_or_else(|| missing("roleSessionName"))?;
        let name_ok = (2..=64).contains(&session_name.len())
            && session_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !name_ok {
            return Err(bad(
                "ValidationError",
                "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*",
            ));
        }
        if caller.is_root() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Roles may not be assumed by root accounts.",
            ));
        }
        let denied = |m: String| ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", m);
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let role = self
            .directory
            .role(role_name)
            .ok()
            .filter(|r| &r.arn == role_arn)
            .ok_or_else(|| {
                denied(format!(
                    "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                    caller.arn
                ))
            })?;
        let trust = self
            .directory
            .trust_policy(role_name)
            .ok_or_else(ApiError::internal)?;
        authz
            .evaluate(
                caller,
                "sts:AssumeRole",
                role_arn,
                Some(&trust),
                Default::default(),
                info,
            )
            .map_err(denied)?;
        let tags = session_tags(p)?;
        if !tags.is_empty() {
            // Passing session tags is its own permission, granted by the trust policy (and
            // the caller's policies) as on AWS.
            let mut keys = strongroom_policy::matching::Keys::new();
            for (k, v) in &tags {
                keys.insert(
                    format!("aws:requesttag/{}", k.to_ascii_lowercase()),
                    vec![v.clone()],
                );
            }
            keys.insert(
                "aws:tagkeys".into(),
                tags.iter().map(|(k, _)| k.clone()).collect(),
            );
            authz
                .evaluate(caller, "sts:TagSession", role_arn, Some(&trust), keys, info)
                .map_err(denied)?;
        }
        // Role chaining is limited to one hour, as in AWS.
        let max = if matches!(caller.kind, PrincipalKind::AssumedRole { .. }) {
            3600
        } else {
            role.max_session_secs
        };
        let secs = match p.get("DurationSeconds") {
            Some(v) if v.parse::<i64>().is_ok_and(|d| d > max && d <= 43_200) => {
                return Err(bad(
                    "ValidationError",
                    format!(
                        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({max} seconds)."
                    ),
                ));
            }
            _ => duration(p, 900, 43_200, 3600)?,
        };
        let policy = p.get("Policy").cloned();
        if let Some(doc) = &policy {
            if doc.chars().filter(|c| !c.is_whitespace()).count() > MAX_SESSION_POLICY_CHARS {
                return Err(bad(
                    "PackedPolicyTooLarge",
                    "Packed policy consumes more than 100 percent of the allotted size.",
                ));
            }
            strongroom_policy::parse(doc, PolicyKind::Session)
                .map_err(|e| bad("MalformedPolicyDocument", e.0))?;
        }
        let (session, token) = self
            .directory
            .issue_session(
                Subject::Role {
                    name: role_name.to_string(),
                    session_name: session_name.clone(),
                },
                policy,
                tags,
                info.now_ms,
                secs,
            )
            .map_err(|_| ApiError::internal())?;
        Ok(format!(
            "{}<AssumedRoleUser><AssumedRoleId>{}:{}</AssumedRoleId><Arn>arn:aws:sts::{}:assumed-role/{}/{}</Arn></AssumedRoleUser>",
            credentials_xml(&session, &token),
            role.id,
            escape(session_name),
            caller.account_id,
            escape(role_name),
            escape(session_name)
        ))
    }
}

/// `Tags.member.N.Key` / `.Value`: at most 50, keys 1–128 characters, values at most 256, keys
/// unique ignoring case (AWS's session tag rules). `TransitiveTagKeys` is accepted: tags do
/// not pass through role chaining here, so it changes nothing.
fn session_tags(p: &Params) -> Result<Vec<(String, String)>, ApiError> {
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
            return Err(bad(
                "ValidationError",
                "1 validation error detected: Value at 'tags' failed to satisfy constraint: tag keys must be 1 to 128 characters and values at most 256",
            ));
        }
        if tags
            .iter()
            .any(|(k, _): &(String, String)| k.eq_ignore_ascii_case(key))
        {
            return Err(bad(
                "InvalidParameterValue",
                format!(
                    "Duplicate tag keys found. Please note that Tag keys are case insensitive: {key}"
                ),
            ));
        }
        tags.push((key.clone(), value));
    }
    if tags.len() > 50 {
        return Err(bad(
            "ValidationError",
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50",
        ));
    }
    Ok(tags)
}
