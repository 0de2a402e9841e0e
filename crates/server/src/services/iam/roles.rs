//! Roles: create, read, list, delete; trust policies, inline and attached policies, permissions boundaries.

use super::*;

impl Iam {
    /// CreateRole.
    pub(super) async fn create_role(&self, p: &Params) -> Result<Option<String>, IamError> {
        let now = self.clock.now_ms();
        let d = &self.directory;
        Ok({
            let role = name(p, "RoleName", 64)?;
            let path = p.get("Path").cloned().unwrap_or_else(|| "/".into());
            let trust = required(p, "AssumeRolePolicyDocument")?;
            let max = match p.get("MaxSessionDuration") {
                None => 3600,
                Some(v) => match v.parse::<i64>() {
                    Ok(d) if (3600..=43_200).contains(&d) => d,
                    _ => {
                        return Err(IamError::Validation(
                            "1 validation error detected: Value at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200".into(),
                        ));
                    }
                },
            };
            let boundary = boundary_param(p)?;
            let r = d
                .create_role(
                    crate::identity::NewRole {
                        name: &role,
                        path: &path,
                        trust_policy: trust,
                        description: p.get("Description").cloned(),
                        max_session_secs: max,
                        boundary,
                    },
                    now,
                )
                .await?;
            Some(format!("<Role>{}</Role>", role_xml(&r)))
        })
    }

    /// PutRolePermissionsBoundary.
    pub(super) async fn put_role_permissions_boundary(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let role = name(p, "RoleName", 64)?;
            let boundary = boundary_param(p)?.ok_or_else(|| missing("PermissionsBoundary"))?;
            d.set_role_boundary(&role, Some(boundary)).await?;
            None
        })
    }

    /// DeleteRolePermissionsBoundary.
    pub(super) async fn delete_role_permissions_boundary(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.set_role_boundary(&name(p, "RoleName", 64)?, None).await?;
            None
        })
    }

    /// GetRole.
    pub(super) async fn get_role(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok(Some(format!(
            "<Role>{}</Role>",
            role_xml(&d.role(&name(p, "RoleName", 64)?)?)
        )))
    }

    /// ListRoles.
    pub(super) async fn list_roles(
        &self,
        _p: &Params,
        _caller: &Principal,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let members: String = d
                .roles()
                .iter()
                .map(|r| format!("<member>{}</member>", role_xml(r)))
                .collect();
            Some(format!(
                "<Roles>{members}</Roles><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// DeleteRole.
    pub(super) async fn delete_role(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.delete_role(&name(p, "RoleName", 64)?).await?;
            None
        })
    }

    /// UpdateAssumeRolePolicy.
    pub(super) async fn update_assume_role_policy(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.update_trust_policy(&name(p, "RoleName", 64)?, required(p, "PolicyDocument")?)
                .await?;
            None
        })
    }

    /// PutRolePolicy.
    pub(super) async fn put_role_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.put_role_policy(
                &name(p, "RoleName", 64)?,
                &name(p, "PolicyName", 128)?,
                required(p, "PolicyDocument")?,
            )
            .await?;
            None
        })
    }

    /// GetRolePolicy.
    pub(super) async fn get_role_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let role = name(p, "RoleName", 64)?;
            let policy = name(p, "PolicyName", 128)?;
            let doc = d.role_policy(&role, &policy)?;
            Some(format!(
                "<RoleName>{}</RoleName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                escape(&role),
                escape(&policy),
                encoded_document(&doc)
            ))
        })
    }

    /// ListRolePolicies.
    pub(super) async fn list_role_policies(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let members: String = d
                .role(&name(p, "RoleName", 64)?)?
                .inline_policies
                .iter()
                .map(|(n, _)| format!("<member>{}</member>", escape(n)))
                .collect();
            Some(format!(
                "<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// DeleteRolePolicy.
    pub(super) async fn delete_role_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.delete_role_policy(&name(p, "RoleName", 64)?, &name(p, "PolicyName", 128)?)
                .await?;
            None
        })
    }

    /// AttachRolePolicy.
    pub(super) async fn attach_role_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.attach_role_policy(&name(p, "RoleName", 64)?, required(p, "PolicyArn")?)
                .await?;
            None
        })
    }

    /// DetachRolePolicy.
    pub(super) async fn detach_role_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.detach_role_policy(&name(p, "RoleName", 64)?, required(p, "PolicyArn")?)
                .await?;
            None
        })
    }

    /// ListAttachedRolePolicies.
    pub(super) async fn list_attached_role_policies(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let members: String = d
                .attached_role_policies(&name(p, "RoleName", 64)?)?
                .iter()
                .map(|(n, arn)| {
                    format!(
                        "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                        escape(n),
                        escape(arn)
                    )
                })
                .collect();
            Some(format!(
                "<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>"
            ))
        })
    }
}
