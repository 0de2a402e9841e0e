//! Groups, their members, and their inline and attached policies.

use super::*;

impl Iam {
    /// CreateGroup.
    pub(super) async fn create_group(
        &self,
        i: CreateGroupRequest,
    ) -> Result<CreateGroupResponse, IamError> {
        let name = name(&i.group_name, "GroupName", 128)?;
        let path = path(i.path.as_deref())?;
        let now = self.clock.now_ms();
        let g = self.directory.create_group(&name, &path, now).await?;
        Ok(CreateGroupResponse { group: group(&g) })
    }

    /// GetGroup: the group and its members.
    pub(super) async fn get_group(&self, i: GetGroupRequest) -> Result<GetGroupResponse, IamError> {
        let d = &self.directory;
        let name = name(&i.group_name, "GroupName", 128)?;
        let g = d.group(&name)?;
        let users = d.group_members(&name)?.iter().map(user).collect();
        let (users, is_truncated, marker) = page(users, i.marker.as_deref(), i.max_items)?;
        Ok(GetGroupResponse {
            group: group(&g),
            users,
            is_truncated,
            marker,
        })
    }

    /// ListGroups.
    pub(super) async fn list_groups(
        &self,
        i: ListGroupsRequest,
    ) -> Result<ListGroupsResponse, IamError> {
        let prefix = i.path_prefix.as_deref().unwrap_or("/");
        let groups = self
            .directory
            .groups()
            .iter()
            .filter(|g| g.path.starts_with(prefix))
            .map(group)
            .collect();
        let (groups, is_truncated, marker) = page(groups, i.marker.as_deref(), i.max_items)?;
        Ok(ListGroupsResponse {
            groups,
            is_truncated,
            marker,
        })
    }

    /// ListGroupsForUser.
    pub(super) async fn list_groups_for_user(
        &self,
        i: ListGroupsForUserRequest,
    ) -> Result<ListGroupsForUserResponse, IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let groups = self
            .directory
            .groups_for_user(&user)?
            .iter()
            .map(group)
            .collect();
        let (groups, is_truncated, marker) = page(groups, i.marker.as_deref(), i.max_items)?;
        Ok(ListGroupsForUserResponse {
            groups,
            is_truncated,
            marker,
        })
    }

    /// DeleteGroup.
    pub(super) async fn delete_group(&self, i: DeleteGroupRequest) -> Result<(), IamError> {
        self.directory
            .delete_group(&name(&i.group_name, "GroupName", 128)?)
            .await?;
        Ok(())
    }

    /// AddUserToGroup.
    pub(super) async fn add_user_to_group(&self, i: AddUserToGroupRequest) -> Result<(), IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        let user = name(&i.user_name, "UserName", 64)?;
        self.directory.add_user_to_group(&group, &user).await?;
        Ok(())
    }

    /// RemoveUserFromGroup.
    pub(super) async fn remove_user_from_group(
        &self,
        i: RemoveUserFromGroupRequest,
    ) -> Result<(), IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        let user = name(&i.user_name, "UserName", 64)?;
        self.directory.remove_user_from_group(&group, &user).await?;
        Ok(())
    }

    /// PutGroupPolicy.
    pub(super) async fn put_group_policy(&self, i: PutGroupPolicyRequest) -> Result<(), IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        let policy = name(&i.policy_name, "PolicyName", 128)?;
        self.directory
            .put_group_policy(&group, &policy, &i.policy_document)
            .await?;
        Ok(())
    }

    /// GetGroupPolicy.
    pub(super) async fn get_group_policy(
        &self,
        i: GetGroupPolicyRequest,
    ) -> Result<GetGroupPolicyResponse, IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        let policy = name(&i.policy_name, "PolicyName", 128)?;
        let doc = self.directory.group_policy(&group, &policy)?;
        Ok(GetGroupPolicyResponse {
            group_name: group,
            policy_name: policy,
            policy_document: encoded(&doc),
        })
    }

    /// ListGroupPolicies.
    pub(super) async fn list_group_policies(
        &self,
        i: ListGroupPoliciesRequest,
    ) -> Result<ListGroupPoliciesResponse, IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        let names = self
            .directory
            .group(&group)?
            .inline_policies
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let (policy_names, is_truncated, marker) = page(names, i.marker.as_deref(), i.max_items)?;
        Ok(ListGroupPoliciesResponse {
            policy_names,
            is_truncated,
            marker,
        })
    }

    /// DeleteGroupPolicy.
    pub(super) async fn delete_group_policy(
        &self,
        i: DeleteGroupPolicyRequest,
    ) -> Result<(), IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        let policy = name(&i.policy_name, "PolicyName", 128)?;
        self.directory.delete_group_policy(&group, &policy).await?;
        Ok(())
    }

    /// AttachGroupPolicy.
    pub(super) async fn attach_group_policy(
        &self,
        i: AttachGroupPolicyRequest,
    ) -> Result<(), IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        self.directory
            .attach_group_policy(&group, &i.policy_arn)
            .await?;
        Ok(())
    }

    /// DetachGroupPolicy.
    pub(super) async fn detach_group_policy(
        &self,
        i: DetachGroupPolicyRequest,
    ) -> Result<(), IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        self.directory
            .detach_group_policy(&group, &i.policy_arn)
            .await?;
        Ok(())
    }

    /// ListAttachedGroupPolicies.
    pub(super) async fn list_attached_group_policies(
        &self,
        i: ListAttachedGroupPoliciesRequest,
    ) -> Result<ListAttachedGroupPoliciesResponse, IamError> {
        let group = name(&i.group_name, "GroupName", 128)?;
        let list = attached(&self.directory.attached_group_policies(&group)?);
        let (list, is_truncated, marker) = page(list, i.marker.as_deref(), i.max_items)?;
        Ok(ListAttachedGroupPoliciesResponse {
            attached_policies: Some(list),
            is_truncated,
            marker,
        })
    }
}
