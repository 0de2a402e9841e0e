//! Customer managed policies and their versions.

use super::*;

impl Iam {
    /// CreatePolicy.
    pub(super) async fn create_policy(
        &self,
        i: CreatePolicyRequest,
    ) -> Result<CreatePolicyResponse, IamError> {
        let policy_name = name(&i.policy_name, "PolicyName", 128)?;
        let path = path(i.path.as_deref())?;
        let now = self.clock.now_ms();
        let created = self
            .directory
            .create_policy(&policy_name, &path, i.description, &i.policy_document, now)
            .await?;
        Ok(CreatePolicyResponse {
            policy: Some(policy(&created, 0)),
        })
    }

    /// GetPolicy.
    pub(super) async fn get_policy(
        &self,
        i: GetPolicyRequest,
    ) -> Result<GetPolicyResponse, IamError> {
        let d = &self.directory;
        let found = d.policy(&i.policy_arn)?;
        Ok(GetPolicyResponse {
            policy: Some(policy(&found, d.attachment_count(&i.policy_arn))),
        })
    }

    /// ListPolicies. Only customer managed policies exist here (no AWS managed ones).
    pub(super) async fn list_policies(
        &self,
        i: ListPoliciesRequest,
    ) -> Result<ListPoliciesResponse, IamError> {
        let d = &self.directory;
        let only_attached = i.only_attached == Some(true);
        let scope_aws = i.scope.as_deref() == Some("AWS");
        let prefix = i.path_prefix.as_deref().unwrap_or("/");
        let policies = d
            .policies()
            .iter()
            .filter(|p| !scope_aws && p.path.starts_with(prefix))
            .map(|p| (p, d.attachment_count(&p.arn)))
            .filter(|(_, n)| !only_attached || *n > 0)
            .map(|(p, n)| policy(p, n))
            .collect();
        let (policies, is_truncated, marker) = page(policies, i.marker.as_deref(), i.max_items)?;
        Ok(ListPoliciesResponse {
            policies: Some(policies),
            is_truncated,
            marker,
        })
    }

    /// DeletePolicy.
    pub(super) async fn delete_policy(&self, i: DeletePolicyRequest) -> Result<(), IamError> {
        self.directory.delete_policy(&i.policy_arn).await?;
        Ok(())
    }

    /// CreatePolicyVersion.
    pub(super) async fn create_policy_version(
        &self,
        i: CreatePolicyVersionRequest,
    ) -> Result<CreatePolicyVersionResponse, IamError> {
        let d = &self.directory;
        let set_default = i.set_as_default == Some(true);
        let now = self.clock.now_ms();
        let v = d
            .create_policy_version(&i.policy_arn, &i.policy_document, set_default, now)
            .await?;
        let default = d.policy(&i.policy_arn)?.default_version;
        Ok(CreatePolicyVersionResponse {
            policy_version: Some(version(&v, &default, false)),
        })
    }

    /// GetPolicyVersion.
    pub(super) async fn get_policy_version(
        &self,
        i: GetPolicyVersionRequest,
    ) -> Result<GetPolicyVersionResponse, IamError> {
        version_id(&i.version_id)?;
        let found = self.directory.policy(&i.policy_arn)?;
        let at = strongroom_domain::policy_versions::position(
            &i.policy_arn,
            &found.versions,
            &i.version_id,
        )
        .map_err(crate::iam::directory::DirectoryError::from)?;
        let v = &found.versions[at];
        Ok(GetPolicyVersionResponse {
            policy_version: Some(version(v, &found.default_version, true)),
        })
    }

    /// ListPolicyVersions: the newest first, without documents (as AWS answers).
    pub(super) async fn list_policy_versions(
        &self,
        i: ListPolicyVersionsRequest,
    ) -> Result<ListPolicyVersionsResponse, IamError> {
        let found = self.directory.policy(&i.policy_arn)?;
        let mut versions = found.versions.clone();
        strongroom_domain::policy_versions::newest_first(&mut versions);
        let versions = versions
            .iter()
            .map(|v| version(v, &found.default_version, false))
            .collect();
        let (versions, is_truncated, marker) = page(versions, i.marker.as_deref(), i.max_items)?;
        Ok(ListPolicyVersionsResponse {
            versions: Some(versions),
            is_truncated,
            marker,
        })
    }

    /// SetDefaultPolicyVersion.
    pub(super) async fn set_default_policy_version(
        &self,
        i: SetDefaultPolicyVersionRequest,
    ) -> Result<(), IamError> {
        version_id(&i.version_id)?;
        self.directory
            .set_default_policy_version(&i.policy_arn, &i.version_id)
            .await?;
        Ok(())
    }

    /// DeletePolicyVersion: any version but the default (DeletePolicy deletes that one).
    pub(super) async fn delete_policy_version(
        &self,
        i: DeletePolicyVersionRequest,
    ) -> Result<(), IamError> {
        version_id(&i.version_id)?;
        self.directory
            .delete_policy_version(&i.policy_arn, &i.version_id)
            .await?;
        Ok(())
    }
}

/// A `VersionId` as the model constrains it (ValidationError otherwise).
fn version_id(id: &str) -> Result<(), IamError> {
    strongroom_domain::policy_versions::check_id(id).map_err(IamError::Validation)
}
