//! IAM users, their access keys and inline policies.

use super::*;

impl Directory {
    pub fn user(&self, name: &str) -> Result<IamUser, DirectoryError> {
        self.read()
            .users
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_user(name))
    }

    pub fn users(&self) -> Vec<IamUser> {
        self.read().users.values().cloned().collect()
    }

    pub async fn create_user(
        &self,
        name: &str,
        path: &str,
        boundary: Option<String>,
        now: i64,
    ) -> Result<IamUser, DirectoryError> {
        if self.read().users.contains_key(name) {
            return Err(user_exists(name));
        }
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        let user = IamUser {
            name: name.to_string(),
            id: format!("AIDA{}", random_id(16)),
            arn: format!(
                "arn:{}:iam::{}:user{}{}",
                self.partition, self.account_id, path, name
            ),
            path: path.to_string(),
            created_ms: now,
            permissions_boundary: boundary,
        };
        match self.store.insert_iam_user(&user).await {
            Err(StoreError::NameTaken) => return Err(user_exists(name)),
            other => other?,
        }
        self.write().users.insert(name.to_string(), user.clone());
        Ok(user)
    }

    /// A permissions boundary must be a managed policy that exists.
    pub(super) fn boundary_exists(&self, arn: &str) -> Result<(), DirectoryError> {
        if self.read().managed.contains_key(arn) {
            Ok(())
        } else {
            Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} does not exist or is not attachable."
            )))
        }
    }

    /// Set (`Some`) or remove (`None`) a user's permissions boundary.
    pub async fn set_user_boundary(
        &self,
        name: &str,
        boundary: Option<String>,
    ) -> Result<(), DirectoryError> {
        self.user(name)?;
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        if !self
            .store
            .set_user_boundary(name, boundary.as_deref())
            .await?
        {
            return Err(no_such_user(name));
        }
        if let Some(u) = self.write().users.get_mut(name) {
            u.permissions_boundary = boundary;
        }
        Ok(())
    }

    /// Set (`Some`) or remove (`None`) a role's permissions boundary.
    pub async fn set_role_boundary(
        &self,
        name: &str,
        boundary: Option<String>,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.role(name)?;
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        stored.permissions_boundary = boundary;
        self.replace_role(stored).await
    }

    pub async fn delete_user(&self, name: &str) -> Result<(), DirectoryError> {
        {
            let s = self.read();
            if !s.users.contains_key(name) {
                return Err(no_such_user(name));
            }
            if s.logins.contains_key(name) {
                return Err(DirectoryError::DeleteConflict(
                    "Cannot delete entity, must delete login profile first.".into(),
                ));
            }
            if s.keys.values().any(|k| k.user_name == name)
                || s.policies.keys().any(|(u, _)| u == name)
            {
                return Err(DirectoryError::DeleteConflict(
                    "Cannot delete entity, must delete access keys and policies first.".into(),
                ));
            }
        }
        self.store.delete_iam_user(name).await?;
        self.write().users.remove(name);
        Ok(())
    }

    /// A new access key; the only time its secret is returned.
    pub async fn create_access_key(
        &self,
        user_name: &str,
        now: i64,
    ) -> Result<(AccessKeyInfo, Zeroizing<String>), DirectoryError> {
        let user = self.user(user_name)?;
        if self
            .read()
            .keys
            .values()
            .filter(|k| k.user_name == user_name)
            .count()
            >= MAX_ACCESS_KEYS_PER_USER
        {
            return Err(DirectoryError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
            )));
        }
        let creds = RootCredentials::generate().map_err(|_| DirectoryError::Internal)?;
        let id = creds.access_key_id.clone();
        let secret = Zeroizing::new(creds.secret_access_key.clone());
        let sealed = self
            .barrier
            .seal(&self.key_id, &binding(&user.arn, &id), secret.as_bytes())
            .map_err(|_| DirectoryError::Internal)?;
        self.store
            .insert_access_key(&StoredAccessKey {
                id: id.clone(),
                user_name: user_name.to_string(),
                status: "Active".into(),
                secret: sealed,
                created_ms: now,
            })
            .await?;
        self.write().keys.insert(
            id.clone(),
            KeyEntry {
                user_name: user_name.to_string(),
                active: true,
                secret: secret.clone(),
                created_ms: now,
            },
        );
        Ok((
            AccessKeyInfo {
                id,
                user_name: user_name.to_string(),
                active: true,
                created_ms: now,
            },
            secret,
        ))
    }

    pub fn access_keys(&self, user_name: &str) -> Result<Vec<AccessKeyInfo>, DirectoryError> {
        self.user(user_name)?;
        let mut keys: Vec<AccessKeyInfo> = self
            .read()
            .keys
            .iter()
            .filter(|(_, k)| k.user_name == user_name)
            .map(|(id, k)| AccessKeyInfo {
                id: id.clone(),
                user_name: k.user_name.clone(),
                active: k.active,
                created_ms: k.created_ms,
            })
            .collect();
        keys.sort_by_key(|k| k.created_ms);
        Ok(keys)
    }

    pub(super) fn key_owner(
        &self,
        id: &str,
        user_name: Option<&str>,
    ) -> Result<String, DirectoryError> {
        let s = self.read();
        match s.keys.get(id) {
            Some(k) if user_name.is_none_or(|u| u == k.user_name) => Ok(k.user_name.clone()),
            _ => Err(DirectoryError::NoSuchEntity(format!(
                "The Access Key with id {id} cannot be found."
            ))),
        }
    }

    pub async fn set_access_key_active(
        &self,
        id: &str,
        user_name: Option<&str>,
        active: bool,
    ) -> Result<(), DirectoryError> {
        self.key_owner(id, user_name)?;
        self.store
            .set_access_key_status(id, if active { "Active" } else { "Inactive" })
            .await?;
        if let Some(k) = self.write().keys.get_mut(id) {
            k.active = active;
        }
        Ok(())
    }

    pub async fn delete_access_key(
        &self,
        id: &str,
        user_name: Option<&str>,
    ) -> Result<(), DirectoryError> {
        self.key_owner(id, user_name)?;
        self.store.delete_access_key(id).await?;
        self.write().keys.remove(id);
        Ok(())
    }

    pub async fn put_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        self.user(user_name)?;
        let others: usize = self
            .read()
            .policies
            .iter()
            .filter(|((u, p), _)| u == user_name && p != policy_name)
            .map(|(_, p)| policy_size(&p.document))
            .sum();
        if others + policy_size(document) > MAX_INLINE_USER_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Maximum policy size of {MAX_INLINE_USER_POLICY_CHARS} bytes exceeded for user {user_name}"
            )));
        }
        let compiled = strongroom_policy::parse(document, PolicyKind::Identity)
            .map_err(|e| DirectoryError::MalformedPolicyDocument(e.0))?;
        self.store
            .put_user_policy(&StoredUserPolicy {
                user_name: user_name.to_string(),
                policy_name: policy_name.to_string(),
                document: document.to_string(),
            })
            .await?;
        self.write().policies.insert(
            (user_name.to_string(), policy_name.to_string()),
            InlinePolicy::new(user_name, policy_name, document.to_string(), compiled),
        );
        Ok(())
    }

    pub fn user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<String, DirectoryError> {
        self.user(user_name)?;
        self.read()
            .policies
            .get(&(user_name.to_string(), policy_name.to_string()))
            .map(|p| p.document.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "The user policy with name {policy_name} cannot be found."
                ))
            })
    }

    pub fn user_policy_names(&self, user_name: &str) -> Result<Vec<String>, DirectoryError> {
        self.user(user_name)?;
        Ok(self
            .read()
            .policies
            .keys()
            .filter(|(u, _)| u == user_name)
            .map(|(_, p)| p.clone())
            .collect())
    }

    pub async fn delete_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<(), DirectoryError> {
        self.user_policy(user_name, policy_name)?;
        self.store
            .delete_user_policy(user_name, policy_name)
            .await?;
        self.write()
            .policies
            .remove(&(user_name.to_string(), policy_name.to_string()));
        Ok(())
    }
}
