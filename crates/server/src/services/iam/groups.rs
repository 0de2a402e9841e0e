//! Groups, their members, and their inline and attached policies.

use super::*;

impl Iam {
    /// CreateGroup.
    pub(super) async fn create_group(&self, p: &Params) -> Result<Option<String>, IamError> {
        let now = self.clock.now_ms();
        let d = &self.directory;
        Ok({
            let group = name(p, "GroupName", 128)?;
            let path = p.get("Path").cloned().unwrap_or_else(|| "/".into());
            Some(format!(
                "<Group>{}</Group>",
                group_xml(&d.create_group(&group, &path, now).await?)
            ))
        })
    }

    /// GetGroup.
    pub(super) async fn get_group(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let group = name(p, "GroupName", 128)?;
            let g = d.group(&group)?;
            let users: String = d
                .group_members(&group)?
                .iter()
                .map(|u| format!("<member>{}</member>", user_xml(u)))
                .collect();
            Some(format!(
                "<Group>{}</Group><Users>{users}</Users><IsTruncated>false</IsTruncated>",
                group_xml(&g)
            ))
        })
    }

    /// ListGroups.
    pub(super) async fn list_groups(
        &self,
        _p: &Params,
        _caller: &Principal,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let members: String = d
                .groups()
                .iter()
                .map(|g| format!("<member>{}</member>", group_xml(g)))
                .collect();
            Some(format!(
                "<Groups>{members}</Groups><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// ListGroupsForUser.
    pub(super) async fn list_groups_for_user(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let members: String = d
                .groups_for_user(&name(p, "UserName", 64)?)?
                .iter()
                .map(|g| format!("<member>{}</member>", group_xml(g)))
                .collect();
            Some(format!(
                "<Groups>{members}</Groups><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// DeleteGroup.
    pub(super) async fn delete_group(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.delete_group(&name(p, "GroupName", 128)?).await?;
            None
        })
    }

    /// AddUserToGroup.
    pub(super) async fn add_user_to_group(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.add_user_to_group(&name(p, "GroupName", 128)?, &name(p, "UserName", 64)?)
                .await?;
            None
        })
    }

    /// RemoveUserFromGroup.
    pub(super) async fn remove_user_from_group(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.remove_user_from_group(&name(p, "GroupName", 128)?, &name(p, "UserName", 64)?)
                .await?;
            None
        })
    }

    /// PutGroupPolicy.
    pub(super) async fn put_group_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.put_group_policy(
                &name(p, "GroupName", 128)?,
                &name(p, "PolicyName", 128)?,
                required(p, "PolicyDocument")?,
            )
            .await?;
            None
        })
    }

    /// GetGroupPolicy.
    pub(super) async fn get_group_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let group = name(p, "GroupName", 128)?;
            let policy = name(p, "PolicyName", 128)?;
            let doc = d.group_policy(&group, &policy)?;
            Some(format!(
                "<GroupName>{}</GroupName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                escape(&group),
                escape(&policy),
                encoded_document(&doc)
            ))
        })
    }

    /// ListGroupPolicies.
    pub(super) async fn list_group_policies(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let members: String = d
                .group(&name(p, "GroupName", 128)?)?
                .inline_policies
                .iter()
                .map(|(n, _)| format!("<member>{}</member>", escape(n)))
                .collect();
            Some(format!(
                "<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// DeleteGroupPolicy.
    pub(super) async fn delete_group_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.delete_group_policy(&name(p, "GroupName", 128)?, &name(p, "PolicyName", 128)?)
                .await?;
            None
        })
    }

    /// AttachGroupPolicy.
    pub(super) async fn attach_group_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.attach_group_policy(&name(p, "GroupName", 128)?, required(p, "PolicyArn")?)
                .await?;
            None
        })
    }

    /// DetachGroupPolicy.
    pub(super) async fn detach_group_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.detach_group_policy(&name(p, "GroupName", 128)?, required(p, "PolicyArn")?)
                .await?;
            None
        })
    }

    /// ListAttachedGroupPolicies.
    pub(super) async fn list_attached_group_policies(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok(Some(attached_xml(&d.attached_group_policies(&name(
            p,
            "GroupName",
            128,
        )?)?)))
    }
}
