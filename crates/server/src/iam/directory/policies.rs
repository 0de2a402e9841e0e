//! Customer managed policies, their versions and attachments.

use super::*;
use strongroom_domain::policy_versions as versions;

impl Directory {
    pub(super) fn parse_managed(document: &str) -> Result<Policy, DirectoryError> {
        if policy_size(document) > MAX_MANAGED_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Cannot exceed quota for PolicySize: {MAX_MANAGED_POLICY_CHARS}"
            )));
        }
        strongroom_policy::parse(document, PolicyKind::Identity)
            .map_err(|e| DirectoryError::MalformedPolicyDocument(e.0))
    }

    pub async fn create_policy(
        &self,
        name: &str,
        path: &str,
        description: Option<String>,
        document: &str,
        now: i64,
    ) -> Result<StoredManagedPolicy, DirectoryError> {
        Self::parse_managed(document)?;
        let arn = format!(
            "arn:{}:iam::{}:policy{path}{name}",
            self.partition, self.account_id
        );
        if self.read().managed.values().any(|m| m.stored.name == name) {
            return Err(DirectoryError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let stored = StoredManagedPolicy {
            arn: arn.clone(),
            name: name.to_string(),
            id: format!("ANPA{}", random_id(17)),
            path: path.to_string(),
            description,
            default_version: "v1".into(),
            created_ms: now,
            updated_ms: now,
            versions: vec![StoredPolicyVersion {
                id: "v1".into(),
                document: document.to_string(),
                created_ms: now,
            }],
            highest_version: 1,
        };
        match self.store.put_managed_policy(&stored, false).await {
            Err(StoreError::NameTaken) => {
                return Err(DirectoryError::EntityAlreadyExists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            other => other?,
        }
        let m = Managed::new(stored.clone()).map_err(|_| DirectoryError::Internal)?;
        self.write().managed.insert(arn, m);
        Ok(stored)
    }

    pub fn policy(&self, arn: &str) -> Result<StoredManagedPolicy, DirectoryError> {
        self.read()
            .managed
            .get(arn)
            .map(|m| m.stored.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "Policy {arn} does not exist or is not attachable."
                ))
            })
    }

    pub fn policies(&self) -> Vec<StoredManagedPolicy> {
        self.read()
            .managed
            .values()
            .map(|m| m.stored.clone())
            .collect()
    }

    pub fn attachment_count(&self, arn: &str) -> usize {
        self.read()
            .attachments
            .iter()
            .filter(|(_, a)| a == arn)
            .count()
    }

    pub async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
        now: i64,
    ) -> Result<StoredPolicyVersion, DirectoryError> {
        Self::parse_managed(document)?;
        let mut stored = self.policy(arn)?;
        let (id, highest) = versions::next_version(&stored.versions, stored.highest_version)?;
        let version = StoredPolicyVersion {
            id,
            document: document.to_string(),
            created_ms: now,
        };
        stored.versions.push(version.clone());
        stored.highest_version = highest;
        if set_default {
            stored.default_version = version.id.clone();
        }
        self.replace_policy(stored).await?;
        Ok(version)
    }

    /// SetDefaultPolicyVersion: the version in effect for every principal the policy is
    /// attached to, from the next request on.
    pub async fn set_default_policy_version(
        &self,
        arn: &str,
        id: &str,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.policy(arn)?;
        versions::position(arn, &stored.versions, id)?;
        stored.default_version = id.to_string();
        self.replace_policy(stored).await
    }

    /// DeletePolicyVersion: any version but the default.
    pub async fn delete_policy_version(&self, arn: &str, id: &str) -> Result<(), DirectoryError> {
        let mut stored = self.policy(arn)?;
        let at = versions::deletable(arn, &stored.versions, &stored.default_version, id)?;
        stored.versions.remove(at);
        self.replace_policy(stored).await
    }

    /// Write a changed policy through and install it (its default version compiled again).
    async fn replace_policy(&self, mut stored: StoredManagedPolicy) -> Result<(), DirectoryError> {
        let dates: Vec<i64> = stored.versions.iter().map(|v| v.created_ms).collect();
        stored.updated_ms = versions::update_date(stored.created_ms, &dates);
        self.store.put_managed_policy(&stored, true).await?;
        let arn = stored.arn.clone();
        let m = Managed::new(stored).map_err(|_| DirectoryError::Internal)?;
        self.write().managed.insert(arn, m);
        Ok(())
    }

    pub async fn delete_policy(&self, arn: &str) -> Result<(), DirectoryError> {
        let stored = self.policy(arn)?;
        if self.attachment_count(arn) > 0 {
            return Err(DirectoryError::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        versions::policy_deletable(stored.versions.len())?;
        self.store.delete_managed_policy(arn).await?;
        self.write().managed.remove(arn);
        Ok(())
    }

    pub async fn attach_user_policy(
        &self,
        user_name: &str,
        arn: &str,
    ) -> Result<(), DirectoryError> {
        self.user(user_name)?;
        self.policy(arn)?;
        let attached = self
            .read()
            .attachments
            .iter()
            .filter(|(u, a)| u == user_name && a != arn)
            .count();
        if attached >= MAX_ATTACHED_PER_USER {
            return Err(DirectoryError::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED_PER_USER}"
            )));
        }
        self.store.attach_user_policy(user_name, arn).await?;
        self.write()
            .attachments
            .insert((user_name.to_string(), arn.to_string()));
        Ok(())
    }

    pub async fn detach_user_policy(
        &self,
        user_name: &str,
        arn: &str,
    ) -> Result<(), DirectoryError> {
        self.user(user_name)?;
        if !self
            .read()
            .attachments
            .contains(&(user_name.to_string(), arn.to_string()))
        {
            return Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        self.store.detach_user_policy(user_name, arn).await?;
        self.write()
            .attachments
            .remove(&(user_name.to_string(), arn.to_string()));
        Ok(())
    }

    /// (name, ARN) of the managed policies attached to a user.
    pub fn attached_user_policies(
        &self,
        user_name: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        self.user(user_name)?;
        let s = self.read();
        Ok(s.attachments
            .iter()
            .filter(|(u, _)| u == user_name)
            .filter_map(|(_, arn)| {
                s.managed
                    .get(arn)
                    .map(|m| (m.stored.name.clone(), arn.clone()))
            })
            .collect())
    }
}
