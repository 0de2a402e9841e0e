//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use serde::{Deserialize, Serialize};
use strongroom_domain::kms::{AliasRule, KeyState, check_customer_alias, validate_alias_name};
use strongroom_store::{StoreError, StoredAlias};

use super::keys::{ALIASES_LIMITS, customer_managed, page};
use super::{Empty, KeyRecord, Kms, KmsError, read, write};
use crate::services::input::epoch_seconds;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct AliasInput {
    alias_name: String,
    target_key_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct ListAliasesInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListAliasesOutput {
    aliases: Vec<AliasEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasEntry {
    alias_name: String,
    alias_arn: String,
    target_key_id: String,
    creation_date: f64,
    last_updated_date: f64,
}

impl Kms {
    /// The alias name rules, then the key it is to point at (a customer key not being deleted).
    fn alias_target_key(&self, input: &AliasInput) -> Result<KeyRecord, KmsError> {
        validate_alias_name(&input.alias_name).map_err(KmsError::Validation)?;
        check_customer_alias(&input.alias_name).map_err(alias_error)?;
        let target = input.target_key_id.as_deref().unwrap_or_default();
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

    pub(super) async fn create_alias(&self, input: AliasInput) -> Result<Empty, KmsError> {
        let _serialised = self.write_lock.lock().await;
        let key = self.alias_target_key(&input)?;
        let now = self.clock.now_ms();
        let alias = StoredAlias {
            name: input.alias_name.clone(),
            key_id: key.key_id,
            created_ms: now,
            updated_ms: now,
        };
        match self.store.put_kms_alias(&alias, false).await {
            Ok(()) => {}
            Err(StoreError::NameTaken) => {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {} already exists",
                    self.alias_arn(&input.alias_name)
                )));
            }
            Err(e) => return Err(e.into()),
        }
        write(&self.aliases).insert(alias.name.clone(), alias);
        Ok(Empty {})
    }

    pub(super) async fn update_alias(&self, input: AliasInput) -> Result<Empty, KmsError> {
        let _serialised = self.write_lock.lock().await;
        let key = self.alias_target_key(&input)?;
        let Some(mut alias) = read(&self.aliases).get(&input.alias_name).cloned() else {
            return Err(self.alias_not_found(&input.alias_name));
        };
        alias.key_id = key.key_id;
        alias.updated_ms = self.clock.now_ms();
        self.store.put_kms_alias(&alias, true).await?;
        write(&self.aliases).insert(alias.name.clone(), alias);
        Ok(Empty {})
    }

    pub(super) async fn delete_alias(&self, input: AliasInput) -> Result<Empty, KmsError> {
        let _serialised = self.write_lock.lock().await;
        validate_alias_name(&input.alias_name).map_err(KmsError::Validation)?;
        check_customer_alias(&input.alias_name).map_err(alias_error)?;
        if !self.store.delete_kms_alias(&input.alias_name).await? {
            return Err(self.alias_not_found(&input.alias_name));
        }
        write(&self.aliases).remove(&input.alias_name);
        Ok(Empty {})
    }

    fn alias_not_found(&self, name: &str) -> KmsError {
        KmsError::NotFound(format!("Alias {} is not found.", self.alias_arn(name)))
    }

    pub(super) fn list_aliases(
        &self,
        input: ListAliasesInput,
    ) -> Result<ListAliasesOutput, KmsError> {
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
        Ok(ListAliasesOutput {
            aliases: all[start..end]
                .iter()
                .map(|a| AliasEntry {
                    alias_arn: self.alias_arn(&a.name),
                    alias_name: a.name.clone(),
                    target_key_id: a.key_id.clone(),
                    creation_date: epoch_seconds(a.created_ms),
                    last_updated_date: epoch_seconds(a.updated_ms),
                })
                .collect(),
            next_marker: truncated.then(|| end.to_string()),
            truncated,
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
