//! Access keys: create, list, activate/deactivate, delete.

use super::*;

impl Iam {
    /// CreateAccessKey.
    pub(super) async fn create_access_key(
        &self,
        p: &Params,
        caller: &Principal,
    ) -> Result<Option<String>, IamError> {
        let now = self.clock.now_ms();
        let d = &self.directory;
        Ok({
            let user = self.user_or_caller(p, caller)?;
            let (k, secret) = d.create_access_key(&user, now).await?;
            Some(format!(
                "<AccessKey><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>Active</Status><SecretAccessKey>{}</SecretAccessKey><CreateDate>{}</CreateDate></AccessKey>",
                escape(&k.user_name),
                k.id,
                escape(&secret),
                iso8601(k.created_ms)
            ))
        })
    }

    /// ListAccessKeys.
    pub(super) async fn list_access_keys(
        &self,
        p: &Params,
        caller: &Principal,
    ) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let user = self.user_or_caller(p, caller)?;
            let members: String = d
                .access_keys(&user)?
                .iter()
                .map(|k| format!("<member>{}</member>", key_meta_xml(k)))
                .collect();
            Some(format!(
                "<UserName>{}</UserName><AccessKeyMetadata>{members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>",
                escape(&user)
            ))
        })
    }

    /// UpdateAccessKey.
    pub(super) async fn update_access_key(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let id = required(p, "AccessKeyId")?;
            let active = match required(p, "Status")? {
                "Active" => true,
                "Inactive" => false,
                other => {
                    return Err(IamError::Validation(format!(
                        "1 validation error detected: Value '{}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]",
                        escape(other)
                    )));
                }
            };
            d.set_access_key_active(id, p.get("UserName").map(String::as_str), active)
                .await?;
            None
        })
    }

    /// DeleteAccessKey.
    pub(super) async fn delete_access_key(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let id = required(p, "AccessKeyId")?;
            d.delete_access_key(id, p.get("UserName").map(String::as_str))
                .await?;
            None
        })
    }
}
