//! AWS IAM (Query protocol, `Action=...&Version=2010-05-08`): users, groups, access keys,
//! roles (trust policies), inline policies, customer managed policies (with versions) attached
//! to users, groups and roles; SimulatePrincipalPolicy. Permission boundaries answer with an
//! error naming what is missing.

pub(crate) mod api;
mod groups;
mod keys;
pub mod ops;
mod policies;
mod roles;
mod users;

use crate::pipeline::Operation as _;
use ops::Op;

use std::collections::HashMap;
use std::sync::Arc;

use http::StatusCode;

use crate::clock::Clock;
use crate::clock::iso8601;
use crate::credentials::{Principal, PrincipalKind};
use crate::error::ApiError;
use crate::identity::{AccessKeyInfo, Directory, DirectoryError};
use crate::xml::escape;
use strongroom_store::{
    IamUser, StoredGroup, StoredManagedPolicy, StoredPolicyVersion, StoredRole,
};

pub const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

pub type Params = HashMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamError {
    NoSuchEntity(String),
    EntityAlreadyExists(String),
    DeleteConflict(String),
    LimitExceeded(String),
    MalformedPolicyDocument(String),
    Validation(String),
    InvalidAction(String),
    Internal,
}

impl From<IamError> for ApiError {
    fn from(e: IamError) -> Self {
        let (status, code, msg) = match e {
            IamError::NoSuchEntity(m) => (StatusCode::NOT_FOUND, "NoSuchEntity", m),
            IamError::EntityAlreadyExists(m) => (StatusCode::CONFLICT, "EntityAlreadyExists", m),
            IamError::DeleteConflict(m) => (StatusCode::CONFLICT, "DeleteConflict", m),
            IamError::LimitExceeded(m) => (StatusCode::CONFLICT, "LimitExceeded", m),
            IamError::MalformedPolicyDocument(m) => {
                (StatusCode::BAD_REQUEST, "MalformedPolicyDocument", m)
            }
            IamError::Validation(m) => (StatusCode::BAD_REQUEST, "ValidationError", m),
            IamError::InvalidAction(m) => (StatusCode::BAD_REQUEST, "InvalidAction", m),
            IamError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceFailure",
                "The request processing has failed because of an unknown error.".to_string(),
            ),
        };
        ApiError::new(status, code, msg)
    }
}

impl From<DirectoryError> for IamError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NoSuchEntity(m) => IamError::NoSuchEntity(m),
            DirectoryError::EntityAlreadyExists(m) => IamError::EntityAlreadyExists(m),
            DirectoryError::DeleteConflict(m) => IamError::DeleteConflict(m),
            DirectoryError::LimitExceeded(m) => IamError::LimitExceeded(m),
            DirectoryError::MalformedPolicyDocument(m) => IamError::MalformedPolicyDocument(m),
            DirectoryError::Internal => IamError::Internal,
        }
    }
}

pub struct Iam {
    directory: Arc<Directory>,
    clock: Arc<dyn Clock>,
}

fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, IamError> {
    p.get(name).map(String::as_str).ok_or_else(|| {
        IamError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// IAM names: 1–64 (users) / 1–128 (policies) of `[\w+=,.@-]`.
fn name(p: &Params, member: &str, max: usize) -> Result<String, IamError> {
    let v = required(p, member)?;
    let ok = !v.is_empty()
        && v.chars().count() <= max
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !ok {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length between 1 and {max} and satisfy regular expression pattern: [\\w+=,.@-]+",
            lower_first(member)
        )));
    }
    Ok(v.to_string())
}

fn user_xml(u: &IamUser) -> String {
    format!(
        "<Path>{}</Path><UserName>{}</UserName><UserId>{}</UserId><Arn>{}</Arn><CreateDate>{}</CreateDate>{}",
        escape(&u.path),
        escape(&u.name),
        u.id,
        escape(&u.arn),
        iso8601(u.created_ms),
        boundary_xml(u.permissions_boundary.as_deref())
    )
}

fn boundary_xml(arn: Option<&str>) -> String {
    arn.map(|a| {
        format!(
            "<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>{}</PermissionsBoundaryArn></PermissionsBoundary>",
            escape(a)
        )
    })
    .unwrap_or_default()
}

/// IAM's default page size, and its limit.
const DEFAULT_MAX_ITEMS: usize = 100;

/// (offset, max items) from `Marker` and `MaxItems`. Markers are opaque to clients: ours
/// encode the offset into the (deterministically ordered) full list.
fn page_window(p: &Params) -> Result<(usize, usize), IamError> {
    let max = match p.get("MaxItems") {
        None => DEFAULT_MAX_ITEMS,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(IamError::Validation(
                    "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000".into(),
                ));
            }
        },
    };
    let offset = match p.get("Marker") {
        None => 0,
        Some(m) => base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, m)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| t.strip_prefix("offset:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| {
                IamError::Validation("Invalid Marker: it was not returned by this server.".into())
            })?,
    };
    Ok((offset, max))
}

/// Apply `Marker`/`MaxItems` to a List* result: its list element's `<member>`s are cut to
/// the window and `IsTruncated`/`Marker` set. One place for every List operation.
fn paginate(xml: String, p: &Params) -> Result<String, IamError> {
    const FLAG: &str = "<IsTruncated>false</IsTruncated>";
    let Some(flag_at) = xml.find(FLAG) else {
        return Ok(xml);
    };
    let (offset, max) = page_window(p)?;
    // The list element is the one closing right before the flag.
    let head = &xml[..flag_at];
    let Some(close_at) = head.rfind("</") else {
        return Ok(xml);
    };
    let tag = &head[close_at + 2..head.len() - 1];
    let open = format!("<{tag}>");
    let Some(open_at) = head[..close_at].rfind(&open) else {
        return Ok(xml);
    };
    let body = &head[open_at + open.len()..close_at];
    let members = split_members(body);
    let end = (offset + max).min(members.len());
    let window = members
        .get(offset.min(members.len())..end)
        .unwrap_or(&[])
        .concat();
    let truncated = end < members.len();
    let flag = if truncated {
        let marker = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("offset:{end}"),
        );
        format!("<IsTruncated>true</IsTruncated><Marker>{marker}</Marker>")
    } else {
        FLAG.to_string()
    };
    Ok(format!(
        "{}{open}{window}</{tag}>{flag}{}",
        &xml[..open_at],
        &xml[flag_at + FLAG.len()..]
    ))
}

/// Top-level `<member>…</member>` elements (members may nest members).
fn split_members(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
    while i < body.len() {
        let rest = &body[i..];
        if rest.starts_with("<member>") {
            if depth == 0 {
                start = i;
            }
            depth += 1;
            i += "<member>".len();
        } else if rest.starts_with("</member>") {
            depth = depth.saturating_sub(1);
            i += "</member>".len();
            if depth == 0 {
                out.push(&body[start..i]);
            }
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// `PermissionsBoundary`: a managed policy ARN (20–2048 characters, as the model says).
fn boundary_param(p: &Params) -> Result<Option<String>, IamError> {
    match p.get("PermissionsBoundary") {
        None => Ok(None),
        Some(v) if (20..=2048).contains(&v.len()) && v.starts_with("arn:") => Ok(Some(v.clone())),
        Some(_) => Err(IamError::Validation(
            "1 validation error detected: Value at 'permissionsBoundary' failed to satisfy constraint: Member must be a policy ARN of 20 to 2048 characters".into(),
        )),
    }
}

fn missing(member: &str) -> IamError {
    IamError::Validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(member)
    ))
}

fn key_meta_xml(k: &AccessKeyInfo) -> String {
    format!(
        "<UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status><CreateDate>{}</CreateDate>",
        escape(&k.user_name),
        k.id,
        if k.active { "Active" } else { "Inactive" },
        iso8601(k.created_ms)
    )
}

fn group_xml(g: &StoredGroup) -> String {
    format!(
        "<Path>{}</Path><GroupName>{}</GroupName><GroupId>{}</GroupId><Arn>{}</Arn><CreateDate>{}</CreateDate>",
        escape(&g.path),
        escape(&g.name),
        g.id,
        escape(&g.arn),
        iso8601(g.created_ms)
    )
}

fn attached_xml(list: &[(String, String)]) -> String {
    let members: String = list
        .iter()
        .map(|(n, arn)| {
            format!(
                "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                escape(n),
                escape(arn)
            )
        })
        .collect();
    format!("<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>")
}

fn role_xml(r: &StoredRole) -> String {
    format!(
        "<Path>{}</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn><CreateDate>{}</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>{}<MaxSessionDuration>{}</MaxSessionDuration>",
        escape(&r.path),
        escape(&r.name),
        r.id,
        escape(&r.arn),
        iso8601(r.created_ms),
        encoded_document(&r.trust_policy),
        r.description
            .as_deref()
            .map(|d| format!("<Description>{}</Description>", escape(d)))
            .unwrap_or_default(),
        r.max_session_secs
    ) + &boundary_xml(r.permissions_boundary.as_deref())
}

fn policy_xml(p: &StoredManagedPolicy, attachments: usize) -> String {
    format!(
        "<PolicyName>{}</PolicyName><PolicyId>{}</PolicyId><Arn>{}</Arn><Path>{}</Path><DefaultVersionId>{}</DefaultVersionId><AttachmentCount>{attachments}</AttachmentCount><PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount><IsAttachable>true</IsAttachable>{}<CreateDate>{}</CreateDate><UpdateDate>{}</UpdateDate>",
        escape(&p.name),
        p.id,
        escape(&p.arn),
        escape(&p.path),
        p.default_version,
        p.description
            .as_deref()
            .map(|d| format!("<Description>{}</Description>", escape(d)))
            .unwrap_or_default(),
        iso8601(p.created_ms),
        iso8601(p.updated_ms)
    )
}

/// IAM returns policy documents URL-encoded (RFC 3986); SDKs decode them.
fn encoded_document(doc: &str) -> String {
    escape(
        &percent_encoding::utf8_percent_encode(doc, percent_encoding::NON_ALPHANUMERIC).to_string(),
    )
}

fn version_xml(v: &StoredPolicyVersion, default: &str, with_document: bool) -> String {
    format!(
        "{}<VersionId>{}</VersionId><IsDefaultVersion>{}</IsDefaultVersion><CreateDate>{}</CreateDate>",
        if with_document {
            format!("<Document>{}</Document>", encoded_document(&v.document))
        } else {
            String::new()
        },
        v.id,
        v.id == default,
        iso8601(v.created_ms)
    )
}

/// A Query list: `Prefix.member.1`, `Prefix.member.2`, ... in index order.
fn members(p: &Params, prefix: &str) -> Vec<String> {
    let head = format!("{prefix}.member.");
    let mut items: Vec<(u32, String)> = p
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&head)?.parse().ok()?, v.clone())))
        .collect();
    items.sort();
    items.into_iter().map(|(_, v)| v).collect()
}

/// Which kind of policy a decision cites, in SimulatePrincipalPolicy's vocabulary.
fn source_type(cited: &str) -> &'static str {
    if cited.starts_with("user/") {
        "user"
    } else if cited.starts_with("group/") {
        "group"
    } else if cited.starts_with("role/") {
        "role"
    } else if cited.starts_with("managed policy") {
        "user-managed"
    } else if cited.starts_with("resource") {
        "resource"
    } else if cited.starts_with("PolicyInputList") {
        "IAM Policy"
    } else {
        "none"
    }
}

impl Iam {
    /// SimulatePrincipalPolicy: evaluate the policies of a user or role for each action and
    /// resource, reporting the decision and the statements that made it.
    pub fn simulate(
        &self,
        p: &Params,
        authz: &crate::authz::Authorizer,
        info: &crate::authz::RequestInfo,
    ) -> Result<Option<String>, IamError> {
        let source = required(p, "PolicySourceArn")?;
        let account = self.directory.account_id();
        let mut extra = Vec::new();
        let principal = if let Some(user) =
            source.strip_prefix(&format!("arn:aws:iam::{account}:user/"))
        {
            let u = self
                .directory
                .user(user.rsplit('/').next().unwrap_or(user))?;
            Principal {
                account_id: account.to_string(),
                arn: u.arn.clone(),
                access_key_id: String::new(),
                kind: PrincipalKind::User {
                    name: u.name.clone(),
                    id: u.id.clone(),
                },
            }
        } else if let Some(role) = source.strip_prefix(&format!("arn:aws:iam::{account}:role/")) {
            let r = self
                .directory
                .role(role.rsplit('/').next().unwrap_or(role))?;
            Principal {
                account_id: account.to_string(),
                arn: format!("arn:aws:sts::{account}:assumed-role/{}/simulation", r.name),
                access_key_id: String::new(),
                kind: PrincipalKind::AssumedRole {
                    role_name: r.name.clone(),
                    role_arn: r.arn.clone(),
                    principal_id: format!("{}:simulation", r.id),
                    session_name: "simulation".into(),
                    session_policy: None,
                    session_tags: Vec::new(),
                    transitive_tag_keys: Vec::new(),
                    source_identity: None,
                },
            }
        } else if let Some(group) = source.strip_prefix(&format!("arn:aws:iam::{account}:group/")) {
            let g = group.rsplit('/').next().unwrap_or(group);
            extra = self.directory.group_policies(g)?;
            // A stand-in member: no user may have this name, so only the group's policies
            // (added below) apply.
            Principal {
                account_id: account.to_string(),
                arn: source.to_string(),
                access_key_id: String::new(),
                kind: PrincipalKind::User {
                    name: format!("<group {g}>"),
                    id: String::new(),
                },
            }
        } else {
            return Err(IamError::Validation(format!(
                "PolicySourceArn must be the ARN of a user, group or role in account {account}, not {}.",
                escape(source)
            )));
        };
        for (i, doc) in members(p, "PolicyInputList").iter().enumerate() {
            let policy = strongroom_policy::parse(doc, strongroom_policy::PolicyKind::Identity)
                .map_err(|e| IamError::MalformedPolicyDocument(e.0))?;
            extra.push((
                Arc::from(format!("PolicyInputList.{}", i + 1)),
                Arc::new(policy),
            ));
        }
        let actions = members(p, "ActionNames");
        if actions.is_empty() {
            return Err(IamError::Validation(
                "ActionNames must name at least one action.".into(),
            ));
        }
        let mut resources = members(p, "ResourceArns");
        if resources.is_empty() {
            resources.push("*".into());
        }
        let resource_policy = match p.get("ResourcePolicy") {
            Some(doc) => Some(
                strongroom_policy::parse(doc, strongroom_policy::PolicyKind::Resource)
                    .map_err(|e| IamError::MalformedPolicyDocument(e.0))?,
            ),
            None => None,
        };
        let mut keys = strongroom_policy::matching::Keys::new();
        for i in 1.. {
            let Some(name) = p.get(&format!("ContextEntries.member.{i}.ContextKeyName")) else {
                break;
            };
            let values = members(p, &format!("ContextEntries.member.{i}.ContextKeyValues"));
            keys.insert(name.to_ascii_lowercase(), values);
        }
        let mut out = String::new();
        for action in &actions {
            for resource in &resources {
                let d = authz.decide_with(
                    &principal,
                    &extra,
                    action,
                    resource,
                    resource_policy.as_ref(),
                    keys.clone(),
                    info,
                );
                let decision = match d.outcome {
                    strongroom_policy::Outcome::Allowed => "allowed",
                    strongroom_policy::Outcome::ExplicitDeny => "explicitDeny",
                    strongroom_policy::Outcome::ImplicitDeny => "implicitDeny",
                };
                let matched: String = d
                    .statements
                    .iter()
                    .map(|st| {
                        format!(
                            "<member><SourcePolicyId>{}</SourcePolicyId><SourcePolicyType>{}</SourcePolicyType></member>",
                            escape(&match &st.sid {
                                Some(sid) => format!("{} statement {sid}", st.policy),
                                None => format!("{} statement #{}", st.policy, st.index + 1),
                            }),
                            source_type(&st.policy)
                        )
                    })
                    .collect();
                out.push_str(&format!(
                    "<member><EvalActionName>{}</EvalActionName><EvalResourceName>{}</EvalResourceName><EvalDecision>{decision}</EvalDecision><MatchedStatements>{matched}</MatchedStatements><MissingContextValues/></member>",
                    escape(action),
                    escape(resource)
                ));
            }
        }
        Ok(Some(format!(
            "<EvaluationResults>{out}</EvaluationResults><IsTruncated>false</IsTruncated>"
        )))
    }

    pub fn new(directory: Arc<Directory>, clock: Arc<dyn Clock>) -> Self {
        Self { directory, clock }
    }

    /// The IAM action and resource ARN a request is authorized against.
    pub fn authorization_target(
        &self,
        action: &str,
        params: &Params,
        caller: &Principal,
    ) -> (String, String) {
        let account = self.directory.account_id();
        if action == "SimulatePrincipalPolicy" {
            let source = params
                .get("PolicySourceArn")
                .cloned()
                .unwrap_or_else(|| "*".into());
            return (format!("iam:{action}"), source);
        }
        if let Some(group) = params.get("GroupName") {
            return (
                format!("iam:{action}"),
                format!("arn:aws:iam::{account}:group/{group}"),
            );
        }
        if let Some(role) = params.get("RoleName") {
            return (
                format!("iam:{action}"),
                format!("arn:aws:iam::{account}:role/{role}"),
            );
        }
        let resource = match params.get("UserName") {
            _ if action == "CreatePolicy" => {
                let path = params.get("Path").map(String::as_str).unwrap_or("/");
                let name = params.get("PolicyName").map(String::as_str).unwrap_or("");
                format!("arn:aws:iam::{account}:policy{path}{name}")
            }
            _ if !action.ends_with("UserPolicy") && params.contains_key("PolicyArn") => {
                params["PolicyArn"].clone()
            }
            Some(u) => format!("arn:aws:iam::{account}:user/{u}"),
            None if action.contains("User") || action.contains("AccessKey") => caller.arn.clone(),
            None => "*".to_string(),
        };
        (format!("iam:{action}"), resource)
    }

    /// The caller's own user name, for operations whose UserName defaults to the caller.
    fn user_or_caller(&self, p: &Params, caller: &Principal) -> Result<String, IamError> {
        match (p.get("UserName"), &caller.kind) {
            (Some(_), _) => name(p, "UserName", 64),
            (None, PrincipalKind::User { name, .. }) => Ok(name.clone()),
            (None, _) => Err(IamError::Validation(
                "UserName is required unless the caller is an IAM user.".into(),
            )),
        }
    }

    /// Run one action; returns the XML inside `<{Action}Result>`, if the action has one.
    pub async fn call(
        &self,
        op: Op,
        p: &Params,
        caller: &Principal,
    ) -> Result<Option<String>, IamError> {
        let action = op.name();
        if action.starts_with("List") {
            // Validate paging input before doing anything.
            page_window(p)?;
        }
        let result = self.run(op, p, caller).await?;
        match result {
            Some(xml) if action.starts_with("List") => paginate(xml, p).map(Some),
            other => Ok(other),
        }
    }

    /// One action: each is its own function, in the file of its family (users, keys,
    /// policies, groups, roles).
    async fn run(
        &self,
        op: Op,
        p: &Params,
        caller: &Principal,
    ) -> Result<Option<String>, IamError> {
        match op {
            Op::CreateUser => self.create_user(p).await,
            Op::GetUser => self.get_user(p, caller).await,
            Op::ListUsers => self.list_users(p).await,
            Op::DeleteUser => self.delete_user(p).await,
            Op::CreateAccessKey => self.create_access_key(p, caller).await,
            Op::ListAccessKeys => self.list_access_keys(p, caller).await,
            Op::UpdateAccessKey => self.update_access_key(p).await,
            Op::DeleteAccessKey => self.delete_access_key(p).await,
            Op::PutUserPolicy => self.put_user_policy(p).await,
            Op::GetUserPolicy => self.get_user_policy(p).await,
            Op::ListUserPolicies => self.list_user_policies(p).await,
            Op::DeleteUserPolicy => self.delete_user_policy(p).await,
            Op::CreatePolicy => self.create_policy(p).await,
            Op::GetPolicy => self.get_policy(p).await,
            Op::ListPolicies => self.list_policies(p).await,
            Op::DeletePolicy => self.delete_policy(p).await,
            Op::CreatePolicyVersion => self.create_policy_version(p).await,
            Op::GetPolicyVersion => self.get_policy_version(p).await,
            Op::AttachUserPolicy => self.attach_user_policy(p).await,
            Op::DetachUserPolicy => self.detach_user_policy(p).await,
            Op::ListAttachedUserPolicies => self.list_attached_user_policies(p).await,
            Op::CreateGroup => self.create_group(p).await,
            Op::GetGroup => self.get_group(p).await,
            Op::ListGroups => self.list_groups(p, caller).await,
            Op::ListGroupsForUser => self.list_groups_for_user(p).await,
            Op::DeleteGroup => self.delete_group(p).await,
            Op::AddUserToGroup => self.add_user_to_group(p).await,
            Op::RemoveUserFromGroup => self.remove_user_from_group(p).await,
            Op::PutGroupPolicy => self.put_group_policy(p).await,
            Op::GetGroupPolicy => self.get_group_policy(p).await,
            Op::ListGroupPolicies => self.list_group_policies(p).await,
            Op::DeleteGroupPolicy => self.delete_group_policy(p).await,
            Op::AttachGroupPolicy => self.attach_group_policy(p).await,
            Op::DetachGroupPolicy => self.detach_group_policy(p).await,
            Op::ListAttachedGroupPolicies => self.list_attached_group_policies(p).await,
            Op::CreateRole => self.create_role(p).await,
            Op::PutUserPermissionsBoundary => self.put_user_permissions_boundary(p).await,
            Op::DeleteUserPermissionsBoundary => self.delete_user_permissions_boundary(p).await,
            Op::PutRolePermissionsBoundary => self.put_role_permissions_boundary(p).await,
            Op::DeleteRolePermissionsBoundary => self.delete_role_permissions_boundary(p).await,
            Op::GetRole => self.get_role(p).await,
            Op::ListRoles => self.list_roles(p, caller).await,
            Op::DeleteRole => self.delete_role(p).await,
            Op::UpdateAssumeRolePolicy => self.update_assume_role_policy(p).await,
            Op::PutRolePolicy => self.put_role_policy(p).await,
            Op::GetRolePolicy => self.get_role_policy(p).await,
            Op::ListRolePolicies => self.list_role_policies(p).await,
            Op::DeleteRolePolicy => self.delete_role_policy(p).await,
            Op::AttachRolePolicy => self.attach_role_policy(p).await,
            Op::DetachRolePolicy => self.detach_role_policy(p).await,
            Op::ListAttachedRolePolicies => self.list_attached_role_policies(p).await,
            other => Err(IamError::InvalidAction(format!(
                "IAM action {} is not available in this Strongroom version: users, groups, access keys, roles, inline and managed policies, permissions boundaries and SimulatePrincipalPolicy are.",
                other.name()
            ))),
        }
    }
}

#[cfg(test)]
mod paging_tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> Params {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lists_are_cut_into_pages_with_markers() {
        let xml = "<UserName>u</UserName><Users><member><A><member>x</member></A></member><member>2</member><member>3</member></Users><IsTruncated>false</IsTruncated>".to_string();
        let first = paginate(xml.clone(), &params(&[("MaxItems", "2")])).unwrap();
        assert!(
            first.starts_with("<UserName>u</UserName><Users><member><A><member>x</member></A></member><member>2</member></Users><IsTruncated>true</IsTruncated><Marker>"),
            "{first}"
        );
        let marker = first
            .split("<Marker>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let second = paginate(
            xml.clone(),
            &params(&[("MaxItems", "2"), ("Marker", marker)]),
        )
        .unwrap();
        assert_eq!(
            second,
            "<UserName>u</UserName><Users><member>3</member></Users><IsTruncated>false</IsTruncated>"
        );
        assert_eq!(paginate(xml.clone(), &params(&[])).unwrap(), xml);
        assert!(paginate(xml.clone(), &params(&[("MaxItems", "0")])).is_err());
        assert!(paginate(xml, &params(&[("Marker", "bogus")])).is_err());
    }
}
