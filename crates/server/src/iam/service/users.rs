//! IAM users: create, read, list, delete; their inline and attached policies and permissions boundaries.

use super::*;

impl Iam {
    /// CreateUser.
    pub(super) async fn create_user(
        &self,
        i: CreateUserRequest,
    ) -> Result<CreateUserResponse, IamError> {
        let user_name = name(&i.user_name, "UserName", 64)?;
        let path = path(i.path.as_deref())?;
        let boundary = boundary_param(i.permissions_boundary.as_deref())?;
        let now = self.clock.now_ms();
        let u = self
            .directory
            .create_user(&user_name, &path, boundary, now)
            .await?;
        Ok(CreateUserResponse {
            user: Some(user(&u)),
        })
    }

    /// GetUser: the named user, or the caller.
    pub(super) async fn get_user(
        &self,
        i: GetUserRequest,
        caller: &Principal,
    ) -> Result<GetUserReply, IamError> {
        if i.user_name.is_none() && matches!(caller.kind, PrincipalKind::Root) {
            return Ok(GetUserReply::Root(serde_json::json!({"User": {
                "UserId": caller.account_id,
                "Arn": caller.arn,
                "CreateDate": 0,
            }})));
        }
        let u = self
            .directory
            .user(&self.user_or_caller(i.user_name.as_deref(), caller)?)?;
        Ok(GetUserReply::User(GetUserResponse { user: user(&u) }))
    }

    /// ListUsers.
    pub(super) async fn list_users(
        &self,
        i: ListUsersRequest,
    ) -> Result<ListUsersResponse, IamError> {
        let prefix = i.path_prefix.as_deref().unwrap_or("/");
        let users: Vec<User> = self
            .directory
            .users()
            .iter()
            .filter(|u| u.path.starts_with(prefix))
            .map(user)
            .collect();
        let (users, is_truncated, marker) = page(users, i.marker.as_deref(), i.max_items)?;
        Ok(ListUsersResponse {
            users,
            is_truncated,
            marker,
        })
    }

    /// DeleteUser.
    pub(super) async fn delete_user(&self, i: DeleteUserRequest) -> Result<(), IamError> {
        self.directory
            .delete_user(&name(&i.user_name, "UserName", 64)?)
            .await?;
        Ok(())
    }

    /// PutUserPolicy.
    pub(super) async fn put_user_policy(&self, i: PutUserPolicyRequest) -> Result<(), IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let policy = name(&i.policy_name, "PolicyName", 128)?;
        self.directory
            .put_user_policy(&user, &policy, &i.policy_document)
            .await?;
        Ok(())
    }

    /// GetUserPolicy.
    pub(super) async fn get_user_policy(
        &self,
        i: GetUserPolicyRequest,
    ) -> Result<GetUserPolicyResponse, IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let policy = name(&i.policy_name, "PolicyName", 128)?;
        let doc = self.directory.user_policy(&user, &policy)?;
        Ok(GetUserPolicyResponse {
            user_name: user,
            policy_name: policy,
            policy_document: encoded(&doc),
        })
    }

    /// ListUserPolicies.
    pub(super) async fn list_user_policies(
        &self,
        i: ListUserPoliciesRequest,
    ) -> Result<ListUserPoliciesResponse, IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let names = self.directory.user_policy_names(&user)?;
        let (policy_names, is_truncated, marker) = page(names, i.marker.as_deref(), i.max_items)?;
        Ok(ListUserPoliciesResponse {
            policy_names,
            is_truncated,
            marker,
        })
    }

    /// DeleteUserPolicy.
    pub(super) async fn delete_user_policy(
        &self,
        i: DeleteUserPolicyRequest,
    ) -> Result<(), IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let policy = name(&i.policy_name, "PolicyName", 128)?;
        self.directory.delete_user_policy(&user, &policy).await?;
        Ok(())
    }

    /// AttachUserPolicy.
    pub(super) async fn attach_user_policy(
        &self,
        i: AttachUserPolicyRequest,
    ) -> Result<(), IamError> {
        self.directory
            .attach_user_policy(&name(&i.user_name, "UserName", 64)?, &i.policy_arn)
            .await?;
        Ok(())
    }

    /// DetachUserPolicy.
    pub(super) async fn detach_user_policy(
        &self,
        i: DetachUserPolicyRequest,
    ) -> Result<(), IamError> {
        self.directory
            .detach_user_policy(&name(&i.user_name, "UserName", 64)?, &i.policy_arn)
            .await?;
        Ok(())
    }

    /// ListAttachedUserPolicies.
    pub(super) async fn list_attached_user_policies(
        &self,
        i: ListAttachedUserPoliciesRequest,
    ) -> Result<ListAttachedUserPoliciesResponse, IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let list = attached(&self.directory.attached_user_policies(&user)?);
        let (list, is_truncated, marker) = page(list, i.marker.as_deref(), i.max_items)?;
        Ok(ListAttachedUserPoliciesResponse {
            attached_policies: Some(list),
            is_truncated,
            marker,
        })
    }

    /// PutUserPermissionsBoundary.
    pub(super) async fn put_user_permissions_boundary(
        &self,
        i: PutUserPermissionsBoundaryRequest,
    ) -> Result<(), IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let boundary = boundary_param(Some(&i.permissions_boundary))?;
        self.directory.set_user_boundary(&user, boundary).await?;
        Ok(())
    }

    /// DeleteUserPermissionsBoundary.
    pub(super) async fn delete_user_permissions_boundary(
        &self,
        i: DeleteUserPermissionsBoundaryRequest,
    ) -> Result<(), IamError> {
        self.directory
            .set_user_boundary(&name(&i.user_name, "UserName", 64)?, None)
            .await?;
        Ok(())
    }
}

/// GetUser's answer. For the account root AWS answers only `UserId`, `Arn` and `CreateDate`,
/// although the model marks a user's `Path` and `UserName` required.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub(super) enum GetUserReply {
    User(GetUserResponse),
    Root(serde_json::Value),
}
