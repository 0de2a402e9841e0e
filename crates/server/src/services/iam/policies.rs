//! Customer managed policies and their versions.

use super::*;

impl Iam {
    /// CreatePolicy.
    pub(super) async fn create_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let now = self.clock.now_ms();
        let d = &self.directory;
        Ok({
            let policy_name = name(p, "PolicyName", 128)?;
            let path = p.get("Path").cloned().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') || !path.ends_with('/') {
                return Err(IamError::Validation(
                    "Path must begin and end with a slash (/).".into(),
                ));
            }
            let doc = required(p, "PolicyDocument")?;
            let created = d
                .create_policy(&policy_name, &path, p.get("Description").cloned(), doc, now)
                .await?;
            Some(format!("<Policy>{}</Policy>", policy_xml(&created, 0)))
        })
    }

    /// GetPolicy.
    pub(super) async fn get_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let arn = required(p, "PolicyArn")?;
            let policy = d.policy(arn)?;
            Some(format!(
                "<Policy>{}</Policy>",
                policy_xml(&policy, d.attachment_count(arn))
            ))
        })
    }

    /// ListPolicies.
    pub(super) async fn list_policies(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            // Only customer managed policies exist here (no AWS managed ones).
            let only_attached = p.get("OnlyAttached").is_some_and(|v| v == "true");
            let scope_aws = p.get("Scope").is_some_and(|v| v == "AWS");
            let members: String = d
                .policies()
                .iter()
                .filter(|_| !scope_aws)
                .map(|pol| (pol, d.attachment_count(&pol.arn)))
                .filter(|(_, n)| !only_attached || *n > 0)
                .map(|(pol, n)| format!("<member>{}</member>", policy_xml(pol, n)))
                .collect();
            Some(format!(
                "<Policies>{members}</Policies><IsTruncated>false</IsTruncated>"
            ))
        })
    }

    /// DeletePolicy.
    pub(super) async fn delete_policy(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            d.delete_policy(required(p, "PolicyArn")?).await?;
            None
        })
    }

    /// CreatePolicyVersion.
    pub(super) async fn create_policy_version(
        &self,
        p: &Params,
    ) -> Result<Option<String>, IamError> {
        let now = self.clock.now_ms();
        let d = &self.directory;
        Ok({
            let arn = required(p, "PolicyArn")?;
            let doc = required(p, "PolicyDocument")?;
            let set_default = p.get("SetAsDefault").is_some_and(|v| v == "true");
            let v = d.create_policy_version(arn, doc, set_default, now).await?;
            let default = d.policy(arn)?.default_version;
            Some(format!(
                "<PolicyVersion>{}</PolicyVersion>",
                version_xml(&v, &default, false)
            ))
        })
    }

    /// GetPolicyVersion.
    pub(super) async fn get_policy_version(&self, p: &Params) -> Result<Option<String>, IamError> {
        let d = &self.directory;
        Ok({
            let arn = required(p, "PolicyArn")?;
            let vid = required(p, "VersionId")?;
            let policy = d.policy(arn)?;
            let v = policy
                .versions
                .iter()
                .find(|v| v.id == vid)
                .ok_or_else(|| {
                    IamError::NoSuchEntity(format!(
                        "Policy {arn} version {vid} does not exist or is not attachable."
                    ))
                })?;
            Some(format!(
                "<PolicyVersion>{}</PolicyVersion>",
                version_xml(v, &policy.default_version, true)
            ))
        })
    }
}
