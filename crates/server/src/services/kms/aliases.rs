//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use strongroom_domain::kms::{AliasRule, KeyState, check_customer_alias, validate_alias_name};
use strongroom_store::{StoreError, StoredAlias};

use super::keys::{ALIASES_LIMITS, customer_managed, page};
use super::shapes::{
    AliasListEntry, CreateAliasRequest, DeleteAliasRequest, ListAliasesRequest,
    ListAliasesResponse, UpdateAliasRequest,
};
use super::{KeyRecord, Kms, KmsError, read};
use crate::services::input::epoch_seconds;

impl Kms {
    /// The alias name rules, then the key it is to point at (a customer key not being deleted).
    fn alias_target_key(
        &self,
        alias_name: &str,
        target: Option<&str>,
    ) -> Result<KeyRecord, KmsError> {
        validate_alias_name(alias_name).map_err(KmsError::Validation)?;
        check_customer_alias(alias_name).map_err(alias_error)?;
        let target = target.unwrap_or_default();
        if target.starts_with("alias/") || target.contains(":alias/") {
            return Err(KmsError::Validation(
                "Aliases must refer to keys. Not aliases".into(),
            ));
        }
        let key = self.find(target)?;
        customer_managed(&key)?;
        if key.meta.state == KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                key.arn
            )));
        }
        Ok(key)
    }

    pub(super) async fn create_alias(&self, input: &CreateAliasRequest) -> Result<(), KmsError> {
        let _serialised = self.write_lock.lock().await;
        let alias_name = input.alias_name.as_deref().unwrap_or_default();
        let key = self.alias_target_key(alias_name, input.target_key_id.as_deref())?;
        let now = self.clock.now_ms();
        let alias = StoredAlias {
            name: alias_name.to_string(),
            key_id: key.key_id,
            created_ms: now,
            updated_ms: now,
        };
        match self.store.put_kms_alias(&alias, false).await {
            Ok(()) => {}
            Err(StoreError::NameTaken) => {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {} already exists",
                    self.alias_arn(alias_name)
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.aliases_mut().insert(alias.name.clone(), alias);
        Ok(())
    }

    pub(super) async fn update_alias(&self, input: &UpdateAliasRequest) -> Result<(), KmsError> {
        let _serialised = self.write_lock.lock().await;
        let alias_name = input.alias_name.as_deref().unwrap_or_default();
        let key = self.alias_target_key(alias_name, input.target_key_id.as_deref())?;
        let Some(mut alias) = read(&self.aliases).get(alias_name).cloned() else {
            return Err(self.alias_not_found(alias_name));
        };
        alias.key_id = key.key_id;
        alias.updated_ms = self.clock.now_ms();
        self.store.put_kms_alias(&alias, true).await?;
        self.aliases_mut().insert(alias.name.clone(), alias);
        Ok(())
    }

    pub(super) async fn delete_alias(&self, input: &DeleteAliasRequest) -> Result<(), KmsError> {
        let _serialised = self.write_lock.lock().await;
        let alias_name = input.alias_name.as_deref().unwrap_or_default();
        validate_alias_name(alias_name).map_err(KmsError::Validation)?;
        check_customer_alias(alias_name).map_err(alias_error)?;
        if !self.store.delete_kms_alias(alias_name).await? {
            return Err(self.alias_not_found(alias_name));
        }
        self.aliases_mut().remove(alias_name);
        Ok(())
    }

    fn alias_not_found(&self, name: &str) -> KmsError {
        KmsError::NotFound(format!("Alias {} is not found.", self.alias_arn(name)))
    }

    pub(super) fn list_aliases(
        &self,
        input: &ListAliasesRequest,
    ) -> Result<ListAliasesResponse, KmsError> {
        let only = match input.key_id.as_deref() {
            Some(k) => Some(self.find(k)?.key_id),
            None => None,
        };
        let all: Vec<StoredAlias> = read(&self.aliases)
            .values()
            .filter(|a| only.as_ref().is_none_or(|k| *k == a.key_id))
            .cloned()
            .collect();
        let (start, end) = page(
            input.limit,
            input.marker.as_deref(),
            all.len(),
            &ALIASES_LIMITS,
        )?;
        let truncated = end < all.len();
        Ok(ListAliasesResponse {
            aliases: Some(
                all[start..end]
                    .iter()
                    .map(|a| AliasListEntry {
                        alias_arn: Some(self.alias_arn(&a.name)),
                        alias_name: Some(a.name.clone()),
                        target_key_id: Some(a.key_id.clone()),
                        creation_date: Some(epoch_seconds(a.created_ms)),
                        last_updated_date: Some(epoch_seconds(a.updated_ms)),
                    })
                    .collect(),
            ),
            next_marker: truncated.then(|| end.to_string()),
            truncated: Some(truncated),
        })
    }
}

fn alias_error(rule: AliasRule) -> KmsError {
    match rule {
        AliasRule::Prefix(m) => KmsError::Validation(m),
        AliasRule::Reserved(m) => KmsError::NotAuthorized(m),
        AliasRule::Invalid(m) => KmsError::InvalidAliasName(m),
    }
}
