//! Roles (trust policies, inline and attached policies) and STS sessions.

use super::*;

impl Directory {
    pub async fn create_role(
        &self,
        new: NewRole<'_>,
        now: i64,
    ) -> Result<StoredRole, DirectoryError> {
        let NewRole {
            name,
            path,
            trust_policy,
            description,
            max_session_secs,
            boundary,
        } = new;
        if self.read().roles.contains_key(name) {
            return Err(role_exists(name));
        }
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        let stored = StoredRole {
            name: name.to_string(),
            id: format!("AROA{}", random_id(17)),
            arn: format!(
                "arn:{}:iam::{}:role{path}{name}",
                self.partition, self.account_id
            ),
            path: path.to_string(),
            description,
            trust_policy: trust_policy.to_string(),
            max_session_secs,
            created_ms: now,
            inline_policies: Vec::new(),
            permissions_boundary: boundary,
        };
        let role = Role::new(stored.clone())?;
        match self.store.put_role(&stored, false).await {
            Err(StoreError::NameTaken) => return Err(role_exists(name)),
            other => other?,
        }
        self.write().roles.insert(name.to_string(), role);
        Ok(stored)
    }

    pub fn role(&self, name: &str) -> Result<StoredRole, DirectoryError> {
        self.read()
            .roles
            .get(name)
            .map(|r| r.stored.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!("The role with name {name} cannot be found."))
            })
    }

    pub fn roles(&self) -> Vec<StoredRole> {
        self.read()
            .roles
            .values()
            .map(|r| r.stored.clone())
            .collect()
    }

    /// Replace a role's stored form (trust or inline policies changed), validating it first.
    pub(super) async fn replace_role(&self, stored: StoredRole) -> Result<(), DirectoryError> {
        let role = Role::new(stored.clone())?;
        self.store.put_role(&stored, true).await?;
        self.write().roles.insert(stored.name.clone(), role);
        Ok(())
    }

    pub async fn update_trust_policy(
        &self,
        name: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.role(name)?;
        stored.trust_policy = document.to_string();
        self.replace_role(stored).await
    }

    pub async fn put_role_policy(
        &self,
        role: &str,
        policy: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.role(role)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        let total: usize = stored
            .inline_policies
            .iter()
            .map(|(_, d)| policy_size(d))
            .sum::<usize>()
            + policy_size(document);
        if total > MAX_INLINE_ROLE_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Maximum policy size of {MAX_INLINE_ROLE_POLICY_CHARS} bytes exceeded for role {role}"
            )));
        }
        stored
            .inline_policies
            .push((policy.to_string(), document.to_string()));
        self.replace_role(stored).await
    }

    pub fn role_policy(&self, role: &str, policy: &str) -> Result<String, DirectoryError> {
        self.role(role)?
            .inline_policies
            .into_iter()
            .find(|(n, _)| n == policy)
            .map(|(_, d)| d)
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "The role policy with name {policy} cannot be found."
                ))
            })
    }

    pub async fn delete_role_policy(&self, role: &str, policy: &str) -> Result<(), DirectoryError> {
        self.role_policy(role, policy)?;
        let mut stored = self.role(role)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        self.replace_role(stored).await
    }

    pub async fn attach_role_policy(&self, role: &str, arn: &str) -> Result<(), DirectoryError> {
        self.role(role)?;
        self.policy(arn)?;
        self.store.attach_role_policy(role, arn).await?;
        self.write()
            .role_attachments
            .insert((role.to_string(), arn.to_string()));
        Ok(())
    }

    pub async fn detach_role_policy(&self, role: &str, arn: &str) -> Result<(), DirectoryError> {
        self.role(role)?;
        if !self.store.detach_role_policy(role, arn).await? {
            return Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        self.write()
            .role_attachments
            .remove(&(role.to_string(), arn.to_string()));
        Ok(())
    }

    pub fn attached_role_policies(
        &self,
        role: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        self.role(role)?;
        let s = self.read();
        Ok(s.role_attachments
            .iter()
            .filter(|(r, _)| r == role)
            .filter_map(|(_, arn)| {
                s.managed
                    .get(arn)
                    .map(|m| (m.stored.name.clone(), arn.clone()))
            })
            .collect())
    }

    pub async fn delete_role(&self, name: &str) -> Result<(), DirectoryError> {
        let stored = self.role(name)?;
        if !stored.inline_policies.is_empty()
            || self.read().role_attachments.iter().any(|(r, _)| r == name)
        {
            return Err(DirectoryError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        self.store.delete_role(name).await?;
        self.write().roles.remove(name);
        Ok(())
    }

    /// The role's trust policy, compiled.
    pub fn trust_policy(&self, name: &str) -> Option<Arc<Policy>> {
        self.read().roles.get(name).map(|r| r.trust.clone())
    }

    /// Issue temporary credentials: (access key id, secret, session token).
    pub fn issue_session(
        &self,
        subject: Subject,
        grant: SessionGrant,
        now: i64,
        duration_secs: i64,
    ) -> Result<(Session, String), DirectoryError> {
        let creds = RootCredentials::generate().map_err(|_| DirectoryError::Internal)?;
        let session = Session {
            access_key_id: format!("ASIA{}", &creds.access_key_id[4..]),
            secret_access_key: creds.secret_access_key.clone(),
            issued_ms: now,
            expires_ms: now + duration_secs * 1000,
            subject,
            policy: grant.policy,
            tags: grant.tags,
            transitive_tag_keys: grant.transitive_tag_keys,
            source_identity: grant.source_identity,
        };
        let token = sessions::issue(&self.barrier, &self.key_id, &session)
            .ok_or(DirectoryError::Internal)?;
        Ok((session, token))
    }

    /// The principal and secret for temporary credentials presented with `token`.
    pub fn session_credentials(
        &self,
        token: &str,
        access_key_id: &str,
        now_ms: i64,
    ) -> Result<(Principal, Zeroizing<String>), SessionError> {
        let session = sessions::open(&self.barrier, token).ok_or(SessionError::Invalid)?;
        if session.access_key_id != access_key_id {
            return Err(SessionError::Invalid);
        }
        if now_ms >= session.expires_ms {
            return Err(SessionError::Expired);
        }
        let secret = Zeroizing::new(session.secret_access_key.clone());
        let state = self.read();
        let principal = match &session.subject {
            Subject::User { name } => {
                let user = state.users.get(name).ok_or(SessionError::Invalid)?;
                Principal {
                    account_id: self.account_id.clone(),
                    arn: user.arn.clone(),
                    access_key_id: access_key_id.to_string(),
                    kind: PrincipalKind::User {
                        name: user.name.clone(),
                        id: user.id.clone(),
                    },
                    session_issued_ms: Some(session.issued_ms),
                }
            }
            Subject::Role { name, session_name } => {
                let role = state.roles.get(name).ok_or(SessionError::Invalid)?;
                let session_policy = match &session.policy {
                    Some(doc) => Some(Arc::new(
                        strongroom_policy::parse(doc, PolicyKind::Session)
                            .map_err(|_| SessionError::Invalid)?,
                    )),
                    None => None,
                };
                Principal {
                    account_id: self.account_id.clone(),
                    arn: format!(
                        "arn:{}:sts::{}:assumed-role/{name}/{session_name}",
                        self.partition, self.account_id
                    ),
                    access_key_id: access_key_id.to_string(),
                    kind: PrincipalKind::AssumedRole {
                        role_name: name.clone(),
                        role_arn: role.stored.arn.clone(),
                        principal_id: format!("{}:{session_name}", role.stored.id),
                        session_name: session_name.clone(),
                        session_policy,
                        session_tags: session.tags.clone(),
                        transitive_tag_keys: session.transitive_tag_keys.clone(),
                        source_identity: session.source_identity.clone(),
                    },
                    session_issued_ms: Some(session.issued_ms),
                }
            }
        };
        Ok((principal, secret))
    }
}
