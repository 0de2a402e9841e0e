//! IAM users: create, read, list, delete; their inline and attached policies and permissions boundaries.

use super::*;

impl Iam {
    /// CreateUser.
    pub(super) async fn create_user(&self, p: &Params) -> Result<Option<String>, IamError> {
        let now = self.clock.now_ms();
        let d = &self.directory;
        Ok({
            let user_name = name(p, "UserName", 64)?;
            let path = p.get("Path").cloned().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 {
                return Err(IamError::Validation(
                    "Path must begin and end with a slash (/), e.g. /division/.".into(),
                ));
            }
            let boundary = boundary_param(p)?;
            let u = d.create_user(&user_name, &path, boundary, now).await?;
            Some(format!("<User>{}</User>", user_xml(&u)))
        })
    }

    /// GetUser.
    pub(super) async fn get_user(
        &self,
        p: &Params,
        caller: &Principal,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let u = match (p.get("UserName"), &caller.kind) {
                (None, PrincipalKind::Root) => {
                    return Ok(Some(format!(
                        "<User><UserId>{0}</UserId><Arn>{1}</Arn><CreateDate>{2}</CreateDate></User>",
                        caller.account_id,
                        escape(&caller.arn),
                        iso8601(0)
                    )));
                }
                _ => d.user(&self.user_or_caller(p, caller)?)?,
            };
            Some(format!("<User>{}</User>", user_xml(&u)))
        })
    }

    /// ListUsers.
    pub(super) async fn list_users(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let prefix = p.get("PathPrefix").cloned().unwrap_or_else(|| "/".into());
            let members: String = d
                .users()
                .iter()
                .filter(|u| u.path.starts_with(&prefix))
                .map(|u| format!("<member>{}</member>", user_xml(u)))
                .collect();
            Some(format!(
                "<Users>{members}</Users><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// DeleteUser.
    pub(super) async fn delete_user(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.delete_user(&name(p, "UserName", 64)?).await?;
            None
        })
    }

    /// PutUserPolicy.
    pub(super) async fn put_user_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let user = name(p, "UserName", 64)?;
            let policy = name(p, "PolicyName", 128)?;
            let doc = required(p, "PolicyDocument")?;
            d.put_user_policy(&user, &policy, doc).await?;
            None
        })
    }

    /// GetUserPolicy.
    pub(super) async fn get_user_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let user = name(p, "UserName", 64)?;
            let policy = name(p, "PolicyName", 128)?;
            let doc = d.user_policy(&user, &policy)?;
            // IAM returns the document URL-encoded (RFC 3986); SDKs decode it.
            let encoded =
                percent_encoding::utf8_percent_encode(&doc, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            Some(format!(
                "<UserName>{}</UserName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                escape(&user),
                escape(&policy),
                escape(&encoded)
            ))
        })
    }

    /// ListUserPolicies.
    pub(super) async fn list_user_policies(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let user = name(p, "UserName", 64)?;
            let members: String = d
                .user_policy_names(&user)?
                .iter()
                .map(|n| format!("<member>{}</member>", escape(n)))
                .collect();
            Some(format!(
                "<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// DeleteUserPolicy.
    pub(super) async fn delete_user_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let user = name(p, "UserName", 64)?;
            let policy = name(p, "PolicyName", 128)?;
            d.delete_user_policy(&user, &policy).await?;
            None
        })
    }

    /// AttachUserPolicy.
    pub(super) async fn attach_user_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.attach_user_policy(&name(p, "UserName", 64)?, required(p, "PolicyArn")?)
                .await?;
            None
        })
    }

    /// DetachUserPolicy.
    pub(super) async fn detach_user_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.detach_user_policy(&name(p, "UserName", 64)?, required(p, "PolicyArn")?)
                .await?;
            None
        })
    }

    /// ListAttachedUserPolicies.
    pub(super) async fn list_attached_user_policies(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let user = name(p, "UserName", 64)?;
            let members: String = d
                .attached_user_policies(&user)?
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

    /// PutUserPermissionsBoundary.
    pub(super) async fn put_user_permissions_boundary(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let user = name(p, "UserName", 64)?;
            let boundary = boundary_param(p)?.ok_or_else(|| missing("PermissionsBoundary"))?;
            d.set_user_boundary(&user, Some(boundary)).await?;
            None
        })
    }

    /// DeleteUserPermissionsBoundary.
    pub(super) async fn delete_user_permissions_boundary(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.set_user_boundary(&name(p, "UserName", 64)?, None).await?;
            None
        })
    }
}
