//! Roles: create, read, list, delete; trust policies, inline and attached policies, permissions boundaries.

use super::*;

impl Iam {
    /// CreateRole.
    pub(super) async fn create_role(
        &self,
        i: CreateRoleRequest,
    ) -> Result<CreateRoleResponse, IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        let path = path(i.path.as_deref())?;
        let max_session_secs = match i.max_session_duration {
            None => 3600,
            Some(d) if (3600..=43_200).contains(&d) => d,
            Some(_) => {
                return Err(IamError::Validation(
                    "1 validation error detected: Value at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200".into(),
                ));
            }
        };
        let boundary = boundary_param(i.permissions_boundary.as_deref())?;
        let now = self.clock.now_ms();
        let r = self
            .directory
            .create_role(
                crate::iam::directory::NewRole {
                    name: &name,
                    path: &path,
                    trust_policy: &i.assume_role_policy_document,
                    description: i.description,
                    max_session_secs,
                    boundary,
                },
                now,
            )
            .await?;
        Ok(CreateRoleResponse { role: role(&r) })
    }

    /// PutRolePermissionsBoundary.
    pub(super) async fn put_role_permissions_boundary(
        &self,
        i: PutRolePermissionsBoundaryRequest,
    ) -> Result<(), IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        let boundary = boundary_param(Some(&i.permissions_boundary))?;
        self.directory.set_role_boundary(&name, boundary).await?;
        Ok(())
    }

    /// DeleteRolePermissionsBoundary.
    pub(super) async fn delete_role_permissions_boundary(
        &self,
        i: DeleteRolePermissionsBoundaryRequest,
    ) -> Result<(), IamError> {
        self.directory
            .set_role_boundary(&name(&i.role_name, "RoleName", 64)?, None)
            .await?;
        Ok(())
    }

    /// GetRole.
    pub(super) async fn get_role(&self, i: GetRoleRequest) -> Result<GetRoleResponse, IamError> {
        let r = self.directory.role(&name(&i.role_name, "RoleName", 64)?)?;
        Ok(GetRoleResponse { role: role(&r) })
    }

    /// ListRoles.
    pub(super) async fn list_roles(
        &self,
        i: ListRolesRequest,
    ) -> Result<ListRolesResponse, IamError> {
        let prefix = i.path_prefix.as_deref().unwrap_or("/");
        let roles = self
            .directory
            .roles()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .map(role)
            .collect();
        let (roles, is_truncated, marker) = page(roles, i.marker.as_deref(), i.max_items)?;
        Ok(ListRolesResponse {
            roles,
            is_truncated,
            marker,
        })
    }

    /// DeleteRole.
    pub(super) async fn delete_role(&self, i: DeleteRoleRequest) -> Result<(), IamError> {
        self.directory
            .delete_role(&name(&i.role_name, "RoleName", 64)?)
            .await?;
        Ok(())
    }

    /// UpdateAssumeRolePolicy: the role's trust policy.
    pub(super) async fn update_assume_role_policy(
        &self,
        i: UpdateAssumeRolePolicyRequest,
    ) -> Result<(), IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        self.directory
            .update_trust_policy(&name, &i.policy_document)
            .await?;
        Ok(())
    }

    /// PutRolePolicy.
    pub(super) async fn put_role_policy(&self, i: PutRolePolicyRequest) -> Result<(), IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        let policy = super::name(&i.policy_name, "PolicyName", 128)?;
        self.directory
            .put_role_policy(&name, &policy, &i.policy_document)
            .await?;
        Ok(())
    }

    /// GetRolePolicy.
    pub(super) async fn get_role_policy(
        &self,
        i: GetRolePolicyRequest,
    ) -> Result<GetRolePolicyResponse, IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        let policy = super::name(&i.policy_name, "PolicyName", 128)?;
        let doc = self.directory.role_policy(&name, &policy)?;
        Ok(GetRolePolicyResponse {
            role_name: name,
            policy_name: policy,
            policy_document: encoded(&doc),
        })
    }

    /// ListRolePolicies.
    pub(super) async fn list_role_policies(
        &self,
        i: ListRolePoliciesRequest,
    ) -> Result<ListRolePoliciesResponse, IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        let names = self
            .directory
            .role(&name)?
            .inline_policies
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let (policy_names, is_truncated, marker) = page(names, i.marker.as_deref(), i.max_items)?;
        Ok(ListRolePoliciesResponse {
            policy_names,
            is_truncated,
            marker,
        })
    }

    /// DeleteRolePolicy.
    pub(super) async fn delete_role_policy(
        &self,
        i: DeleteRolePolicyRequest,
    ) -> Result<(), IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        let policy = super::name(&i.policy_name, "PolicyName", 128)?;
        self.directory.delete_role_policy(&name, &policy).await?;
        Ok(())
    }

    /// AttachRolePolicy.
    pub(super) async fn attach_role_policy(
        &self,
        i: AttachRolePolicyRequest,
    ) -> Result<(), IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        self.directory
            .attach_role_policy(&name, &i.policy_arn)
            .await?;
        Ok(())
    }

    /// DetachRolePolicy.
    pub(super) async fn detach_role_policy(
        &self,
        i: DetachRolePolicyRequest,
    ) -> Result<(), IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        self.directory
            .detach_role_policy(&name, &i.policy_arn)
            .await?;
        Ok(())
    }

    /// ListAttachedRolePolicies.
    pub(super) async fn list_attached_role_policies(
        &self,
        i: ListAttachedRolePoliciesRequest,
    ) -> Result<ListAttachedRolePoliciesResponse, IamError> {
        let name = name(&i.role_name, "RoleName", 64)?;
        let list = attached(&self.directory.attached_role_policies(&name)?);
        let (list, is_truncated, marker) = page(list, i.marker.as_deref(), i.max_items)?;
        Ok(ListAttachedRolePoliciesResponse {
            attached_policies: Some(list),
            is_truncated,
            marker,
        })
    }
}
