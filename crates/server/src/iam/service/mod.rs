//! AWS IAM (Query protocol, `Action=...&Version=2010-05-08`): users, groups, access keys,
//! roles (trust policies), inline policies, customer managed policies (with versions) attached
//! to users, groups and roles; SimulatePrincipalPolicy; console passwords (login profiles,
//! ChangePassword, the account password policy). Permission boundaries answer with an
//! error naming what is missing.

pub(crate) mod api;
mod error;
mod groups;
mod keys;
mod logins;
pub mod ops;
mod policies;
mod roles;
pub mod shapes;
pub(crate) mod simulate;
mod users;

use crate::pipeline::Operation as _;
use ops::Op;

pub use error::IamError;

use std::sync::Arc;

use crate::clock::Clock;
use crate::credentials::{Principal, PrincipalKind};
use crate::http::shapes::{Timestamp, lower_first};
use crate::iam::directory::{AccessKeyInfo, Directory};
use shapes::*;
use strongroom_store::{
    IamUser, StoredGroup, StoredManagedPolicy, StoredPolicyVersion, StoredRole,
};

pub const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

pub use crate::http::query::Params;

pub struct Iam {
    directory: Arc<Directory>,
    clock: Arc<dyn Clock>,
}

/// The operation's typed input, from its Query form (types and required members from the model).
fn input<T: serde::de::DeserializeOwned>(op: Op, p: &Params) -> Result<T, IamError> {
    shapes::MODEL
        .query_input(op.name(), p)
        .map_err(|e| IamError::Validation(e.validation_message()))
}

/// The operation's typed output as the inside of `<{Action}Result>`.
fn xml<T: serde::Serialize>(op: Op, out: T) -> Option<String> {
    shapes::MODEL.output_xml(op.name(), &out)
}

/// IAM names: 1–64 (users) / 1–128 (policies) of `[\w+=,.@-]`.
fn name(v: &str, member: &str, max: usize) -> Result<String, IamError> {
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

fn user(u: &IamUser) -> User {
    User {
        path: u.path.clone(),
        user_name: u.name.clone(),
        user_id: u.id.clone(),
        arn: u.arn.clone(),
        create_date: Timestamp(u.created_ms),
        permissions_boundary: boundary(u.permissions_boundary.as_deref()),
        ..Default::default()
    }
}

fn boundary(arn: Option<&str>) -> Option<AttachedPermissionsBoundary> {
    arn.map(|a| AttachedPermissionsBoundary {
        permissions_boundary_type: Some("Policy".into()),
        permissions_boundary_arn: Some(a.to_string()),
    })
}

/// IAM's default page size.
const DEFAULT_MAX_ITEMS: i64 = 100;

/// One page of a list: its items, `IsTruncated`, and the `Marker` of the next page.
type Page<T> = (Vec<T>, Option<bool>, Option<String>);

/// A List* result cut to the window `Marker`/`MaxItems` name: (items, IsTruncated, Marker).
/// Markers are opaque to clients: ours encode the offset into the (deterministically
/// ordered) full list. One place for every List operation.
fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<T>, IamError> {
    let (offset, max) = page_window(marker, max_items)?;
    let total = items.len();
    let end = offset.saturating_add(max).min(total);
    let window: Vec<T> = items
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    let truncated = end < total;
    let next = truncated.then(|| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("offset:{end}"),
        )
    });
    Ok((window, Some(truncated), next))
}

/// (offset, max items) from `Marker` and `MaxItems`, validated before anything is done.
fn page_window(marker: Option<&str>, max_items: Option<i64>) -> Result<(usize, usize), IamError> {
    let max = match max_items {
        None => DEFAULT_MAX_ITEMS,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return Err(IamError::Validation(
                "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000".into(),
            ));
        }
    } as usize;
    let offset = match marker {
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

/// `PermissionsBoundary`: a managed policy ARN (20–2048 characters, as the model says).
fn boundary_param(v: Option<&str>) -> Result<Option<String>, IamError> {
    match v {
        None => Ok(None),
        Some(v) if (20..=2048).contains(&v.len()) && v.starts_with("arn:") => Ok(Some(v.into())),
        Some(_) => Err(IamError::Validation(
            "1 validation error detected: Value at 'permissionsBoundary' failed to satisfy constraint: Member must be a policy ARN of 20 to 2048 characters".into(),
        )),
    }
}

/// A path: begins and ends with a slash, at most 512 characters; `/` when absent.
fn path(v: Option<&str>) -> Result<String, IamError> {
    let path = v.unwrap_or("/");
    if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 {
        return Err(IamError::Validation(
            "Path must begin and end with a slash (/), e.g. /division/.".into(),
        ));
    }
    Ok(path.to_string())
}

fn key_meta(k: &AccessKeyInfo) -> AccessKeyMetadata {
    AccessKeyMetadata {
        user_name: Some(k.user_name.clone()),
        access_key_id: Some(k.id.clone()),
        status: Some(if k.active { "Active" } else { "Inactive" }.into()),
        create_date: Some(Timestamp(k.created_ms)),
    }
}

fn group(g: &StoredGroup) -> Group {
    Group {
        path: g.path.clone(),
        group_name: g.name.clone(),
        group_id: g.id.clone(),
        arn: g.arn.clone(),
        create_date: Timestamp(g.created_ms),
    }
}

fn attached(list: &[(String, String)]) -> Vec<AttachedPolicy> {
    list.iter()
        .map(|(n, arn)| AttachedPolicy {
            policy_name: Some(n.clone()),
            policy_arn: Some(arn.clone()),
        })
        .collect()
}

fn role(r: &StoredRole) -> Role {
    Role {
        path: r.path.clone(),
        role_name: r.name.clone(),
        role_id: r.id.clone(),
        arn: r.arn.clone(),
        create_date: Timestamp(r.created_ms),
        assume_role_policy_document: Some(encoded(&r.trust_policy)),
        description: r.description.clone(),
        max_session_duration: Some(r.max_session_secs),
        permissions_boundary: boundary(r.permissions_boundary.as_deref()),
        ..Default::default()
    }
}

fn policy(p: &StoredManagedPolicy, attachments: usize) -> Policy {
    Policy {
        policy_name: Some(p.name.clone()),
        policy_id: Some(p.id.clone()),
        arn: Some(p.arn.clone()),
        path: Some(p.path.clone()),
        default_version_id: Some(p.default_version.clone()),
        attachment_count: Some(attachments as i64),
        permissions_boundary_usage_count: Some(0),
        is_attachable: Some(true),
        description: p.description.clone(),
        create_date: Some(Timestamp(p.created_ms)),
        update_date: Some(Timestamp(p.updated_ms)),
        tags: None,
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); SDKs decode them.
fn encoded(doc: &str) -> String {
    percent_encoding::utf8_percent_encode(doc, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn version(v: &StoredPolicyVersion, default: &str, with_document: bool) -> PolicyVersion {
    PolicyVersion {
        document: with_document.then(|| encoded(&v.document)),
        version_id: Some(v.id.clone()),
        is_default_version: Some(v.id == default),
        create_date: Some(Timestamp(v.created_ms)),
    }
}

impl Iam {
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
        let (partition, account) = (self.directory.partition(), self.directory.account_id());
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
                format!("arn:{partition}:iam::{account}:group/{group}"),
            );
        }
        if let Some(role) = params.get("RoleName") {
            return (
                format!("iam:{action}"),
                format!("arn:{partition}:iam::{account}:role/{role}"),
            );
        }
        let resource = match params.get("UserName") {
            _ if action == "CreatePolicy" => {
                let path = params.get("Path").map(String::as_str).unwrap_or("/");
                let name = params.get("PolicyName").map(String::as_str).unwrap_or("");
                format!("arn:{partition}:iam::{account}:policy{path}{name}")
            }
            _ if !action.ends_with("UserPolicy") && params.contains_key("PolicyArn") => {
                params["PolicyArn"].clone()
            }
            Some(u) => format!("arn:{partition}:iam::{account}:user/{u}"),
            None if action.contains("User")
                || action.contains("AccessKey")
                || action.contains("LoginProfile")
                || action == "ChangePassword" =>
            {
                caller.arn.clone()
            }
            None => "*".to_string(),
        };
        (format!("iam:{action}"), resource)
    }

    /// The caller's own user name, for operations whose UserName defaults to the caller.
    fn user_or_caller(&self, user: Option<&str>, caller: &Principal) -> Result<String, IamError> {
        match (user, &caller.kind) {
            (Some(u), _) => name(u, "UserName", 64),
            (None, PrincipalKind::User { name, .. }) => Ok(name.clone()),
            (None, _) => Err(IamError::Validation(
                "UserName is required unless the caller is an IAM user.".into(),
            )),
        }
    }

    /// One action: its typed input from the form, its function (in the file of its family:
    /// users, keys, policies, groups, roles, simulate), its typed output as XML.
    pub async fn call(
        &self,
        op: Op,
        p: &Params,
        caller: &Principal,
        authz: &crate::iam::authz::Authorizer,
        info: &crate::iam::authz::RequestInfo,
    ) -> Result<Option<String>, IamError> {
        let none = |()| None;
        Ok(match op {
            Op::CreateUser => xml(op, self.create_user(input(op, p)?).await?),
            Op::GetUser => xml(op, self.get_user(input(op, p)?, caller).await?),
            Op::ListUsers => xml(op, self.list_users(input(op, p)?).await?),
            Op::DeleteUser => none(self.delete_user(input(op, p)?).await?),
            Op::CreateAccessKey => xml(op, self.create_access_key(input(op, p)?, caller).await?),
            Op::ListAccessKeys => xml(op, self.list_access_keys(input(op, p)?, caller).await?),
            Op::UpdateAccessKey => none(self.update_access_key(input(op, p)?).await?),
            Op::DeleteAccessKey => none(self.delete_access_key(input(op, p)?).await?),
            Op::PutUserPolicy => none(self.put_user_policy(input(op, p)?).await?),
            Op::GetUserPolicy => xml(op, self.get_user_policy(input(op, p)?).await?),
            Op::ListUserPolicies => xml(op, self.list_user_policies(input(op, p)?).await?),
            Op::DeleteUserPolicy => none(self.delete_user_policy(input(op, p)?).await?),
            Op::CreatePolicy => xml(op, self.create_policy(input(op, p)?).await?),
            Op::GetPolicy => xml(op, self.get_policy(input(op, p)?).await?),
            Op::ListPolicies => xml(op, self.list_policies(input(op, p)?).await?),
            Op::DeletePolicy => none(self.delete_policy(input(op, p)?).await?),
            Op::CreatePolicyVersion => xml(op, self.create_policy_version(input(op, p)?).await?),
            Op::GetPolicyVersion => xml(op, self.get_policy_version(input(op, p)?).await?),
            Op::ListPolicyVersions => xml(op, self.list_policy_versions(input(op, p)?).await?),
            Op::SetDefaultPolicyVersion => {
                none(self.set_default_policy_version(input(op, p)?).await?)
            }
            Op::DeletePolicyVersion => none(self.delete_policy_version(input(op, p)?).await?),
            Op::AttachUserPolicy => none(self.attach_user_policy(input(op, p)?).await?),
            Op::DetachUserPolicy => none(self.detach_user_policy(input(op, p)?).await?),
            Op::ListAttachedUserPolicies => {
                xml(op, self.list_attached_user_policies(input(op, p)?).await?)
            }
            Op::CreateGroup => xml(op, self.create_group(input(op, p)?).await?),
            Op::GetGroup => xml(op, self.get_group(input(op, p)?).await?),
            Op::ListGroups => xml(op, self.list_groups(input(op, p)?).await?),
            Op::ListGroupsForUser => xml(op, self.list_groups_for_user(input(op, p)?).await?),
            Op::DeleteGroup => none(self.delete_group(input(op, p)?).await?),
            Op::AddUserToGroup => none(self.add_user_to_group(input(op, p)?).await?),
            Op::RemoveUserFromGroup => none(self.remove_user_from_group(input(op, p)?).await?),
            Op::PutGroupPolicy => none(self.put_group_policy(input(op, p)?).await?),
            Op::GetGroupPolicy => xml(op, self.get_group_policy(input(op, p)?).await?),
            Op::ListGroupPolicies => xml(op, self.list_group_policies(input(op, p)?).await?),
            Op::DeleteGroupPolicy => none(self.delete_group_policy(input(op, p)?).await?),
            Op::AttachGroupPolicy => none(self.attach_group_policy(input(op, p)?).await?),
            Op::DetachGroupPolicy => none(self.detach_group_policy(input(op, p)?).await?),
            Op::ListAttachedGroupPolicies => {
                xml(op, self.list_attached_group_policies(input(op, p)?).await?)
            }
            Op::CreateRole => xml(op, self.create_role(input(op, p)?).await?),
            Op::PutUserPermissionsBoundary => {
                none(self.put_user_permissions_boundary(input(op, p)?).await?)
            }
            Op::DeleteUserPermissionsBoundary => {
                none(self.delete_user_permissions_boundary(input(op, p)?).await?)
            }
            Op::PutRolePermissionsBoundary => {
                none(self.put_role_permissions_boundary(input(op, p)?).await?)
            }
            Op::DeleteRolePermissionsBoundary => {
                none(self.delete_role_permissions_boundary(input(op, p)?).await?)
            }
            Op::GetRole => xml(op, self.get_role(input(op, p)?).await?),
            Op::ListRoles => xml(op, self.list_roles(input(op, p)?).await?),
            Op::DeleteRole => none(self.delete_role(input(op, p)?).await?),
            Op::UpdateAssumeRolePolicy => {
                none(self.update_assume_role_policy(input(op, p)?).await?)
            }
            Op::PutRolePolicy => none(self.put_role_policy(input(op, p)?).await?),
            Op::GetRolePolicy => xml(op, self.get_role_policy(input(op, p)?).await?),
            Op::ListRolePolicies => xml(op, self.list_role_policies(input(op, p)?).await?),
            Op::DeleteRolePolicy => none(self.delete_role_policy(input(op, p)?).await?),
            Op::AttachRolePolicy => none(self.attach_role_policy(input(op, p)?).await?),
            Op::DetachRolePolicy => none(self.detach_role_policy(input(op, p)?).await?),
            Op::ListAttachedRolePolicies => {
                xml(op, self.list_attached_role_policies(input(op, p)?).await?)
            }
            Op::SimulatePrincipalPolicy => xml(op, self.simulate(input(op, p)?, authz, info)?),
            Op::CreateLoginProfile => {
                xml(op, self.create_login_profile(input(op, p)?, caller).await?)
            }
            Op::GetLoginProfile => xml(op, self.get_login_profile(input(op, p)?, caller).await?),
            Op::UpdateLoginProfile => none(self.update_login_profile(input(op, p)?).await?),
            Op::DeleteLoginProfile => none(self.delete_login_profile(input(op, p)?, caller).await?),
            Op::ChangePassword => none(self.change_password(input(op, p)?, caller).await?),
            Op::UpdateAccountPasswordPolicy => {
                none(self.update_account_password_policy(input(op, p)?).await?)
            }
            Op::GetAccountPasswordPolicy => xml(op, self.get_account_password_policy().await?),
            Op::DeleteAccountPasswordPolicy => none(self.delete_account_password_policy().await?),
            other => {
                return Err(IamError::InvalidAction(format!(
                    "IAM action {} is not available in this Strongroom version: users, groups, access keys, console passwords, roles, inline and managed policies, permissions boundaries and SimulatePrincipalPolicy are.",
                    other.name()
                )));
            }
        })
    }
}

#[cfg(test)]
mod paging_tests {
    use super::*;

    #[test]
    fn lists_are_cut_into_pages_with_markers() {
        let items = vec![1, 2, 3];
        let (first, truncated, marker) = page(items.clone(), None, Some(2)).unwrap();
        assert_eq!((first, truncated), (vec![1, 2], Some(true)));
        let (second, truncated, none) = page(items.clone(), marker.as_deref(), Some(2)).unwrap();
        assert_eq!((second, truncated, none), (vec![3], Some(false), None));
        assert_eq!(page(items.clone(), None, None).unwrap().0, items);
        assert!(page(items.clone(), None, Some(0)).is_err());
        assert!(page(items.clone(), None, Some(1001)).is_err());
        assert!(page(items, Some("bogus"), None).is_err());
    }
}
