//! Groups, their members and policies.

use super::*;

impl Directory {
    pub async fn create_group(
        &self,
        name: &str,
        path: &str,
        now: i64,
    ) -> Result<StoredGroup, DirectoryError> {
        let exists = || {
            DirectoryError::EntityAlreadyExists(format!("Group with name {name} already exists."))
        };
        if self.read().groups.contains_key(name) {
            return Err(exists());
        }
        let stored = StoredGroup {
            name: name.to_string(),
            id: format!("AGPA{}", random_id(17)),
            arn: format!(
                "arn:{}:iam::{}:group{path}{name}",
                self.partition, self.account_id
            ),
            path: path.to_string(),
            created_ms: now,
            inline_policies: Vec::new(),
        };
        match self.store.put_group(&stored, false).await {
            Err(StoreError::NameTaken) => return Err(exists()),
            other => other?,
        }
        let g = Group::new(stored.clone())?;
        self.write().groups.insert(name.to_string(), g);
        Ok(stored)
    }

    pub fn group(&self, name: &str) -> Result<StoredGroup, DirectoryError> {
        self.read()
            .groups
            .get(name)
            .map(|g| g.stored.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!("The group with name {name} cannot be found."))
            })
    }

    pub fn groups(&self) -> Vec<StoredGroup> {
        self.read()
            .groups
            .values()
            .map(|g| g.stored.clone())
            .collect()
    }

    pub fn group_members(&self, name: &str) -> Result<Vec<IamUser>, DirectoryError> {
        self.group(name)?;
        let s = self.read();
        Ok(s.members
            .iter()
            .filter(|(g, _)| g == name)
            .filter_map(|(_, u)| s.users.get(u).cloned())
            .collect())
    }

    pub fn groups_for_user(&self, user: &str) -> Result<Vec<StoredGroup>, DirectoryError> {
        self.user(user)?;
        let s = self.read();
        Ok(s.members
            .iter()
            .filter(|(_, u)| u == user)
            .filter_map(|(g, _)| s.groups.get(g).map(|g| g.stored.clone()))
            .collect())
    }

    pub async fn add_user_to_group(&self, group: &str, user: &str) -> Result<(), DirectoryError> {
        self.group(group)?;
        self.user(user)?;
        self.store.add_group_member(group, user).await?;
        self.write()
            .members
            .insert((group.to_string(), user.to_string()));
        Ok(())
    }

    pub async fn remove_user_from_group(
        &self,
        group: &str,
        user: &str,
    ) -> Result<(), DirectoryError> {
        self.group(group)?;
        self.user(user)?;
        self.store.remove_group_member(group, user).await?;
        self.write()
            .members
            .remove(&(group.to_string(), user.to_string()));
        Ok(())
    }

    pub(super) async fn replace_group(&self, stored: StoredGroup) -> Result<(), DirectoryError> {
        let g = Group::new(stored.clone())?;
        self.store.put_group(&stored, true).await?;
        self.write().groups.insert(stored.name.clone(), g);
        Ok(())
    }

    pub async fn put_group_policy(
        &self,
        group: &str,
        policy: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.group(group)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        let total: usize = stored
            .inline_policies
            .iter()
            .map(|(_, d)| policy_size(d))
            .sum::<usize>()
            + policy_size(document);
        if total > MAX_INLINE_GROUP_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Maximum policy size of {MAX_INLINE_GROUP_POLICY_CHARS} bytes exceeded for group {group}"
            )));
        }
        stored
            .inline_policies
            .push((policy.to_string(), document.to_string()));
        self.replace_group(stored).await
    }

    pub fn group_policy(&self, group: &str, policy: &str) -> Result<String, DirectoryError> {
        self.group(group)?
            .inline_policies
            .into_iter()
            .find(|(n, _)| n == policy)
            .map(|(_, d)| d)
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "The group policy with name {policy} cannot be found."
                ))
            })
    }

    pub async fn delete_group_policy(
        &self,
        group: &str,
        policy: &str,
    ) -> Result<(), DirectoryError> {
        self.group_policy(group, policy)?;
        let mut stored = self.group(group)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        self.replace_group(stored).await
    }

    pub async fn attach_group_policy(&self, group: &str, arn: &str) -> Result<(), DirectoryError> {
        self.group(group)?;
        self.policy(arn)?;
        self.store.attach_group_policy(group, arn).await?;
        self.write()
            .group_attachments
            .insert((group.to_string(), arn.to_string()));
        Ok(())
    }

    pub async fn detach_group_policy(&self, group: &str, arn: &str) -> Result<(), DirectoryError> {
        self.group(group)?;
        if !self.store.detach_group_policy(group, arn).await? {
            return Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        self.write()
            .group_attachments
            .remove(&(group.to_string(), arn.to_string()));
        Ok(())
    }

    pub fn attached_group_policies(
        &self,
        group: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        self.group(group)?;
        let s = self.read();
        Ok(s.group_attachments
            .iter()
            .filter(|(g, _)| g == group)
            .filter_map(|(_, arn)| {
                s.managed
                    .get(arn)
                    .map(|m| (m.stored.name.clone(), arn.clone()))
            })
            .collect())
    }

    pub async fn delete_group(&self, name: &str) -> Result<(), DirectoryError> {
        let stored = self.group(name)?;
        let busy = {
            let s = self.read();
            !stored.inline_policies.is_empty()
                || s.members.iter().any(|(g, _)| g == name)
                || s.group_attachments.iter().any(|(g, _)| g == name)
        };
        if busy {
            return Err(DirectoryError::DeleteConflict(
                "Cannot delete entity, must remove users from group and delete policies first."
                    .into(),
            ));
        }
        self.store.delete_group(name).await?;
        self.write().groups.remove(name);
        Ok(())
    }
}
