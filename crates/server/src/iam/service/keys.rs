//! Access keys: create, list, activate/deactivate, delete.

use super::*;
use crate::sensitive::Sensitive;

impl Iam {
    /// CreateAccessKey. The secret is in the answer once, and never again.
    pub(super) async fn create_access_key(
        &self,
        i: CreateAccessKeyRequest,
        caller: &Principal,
    ) -> Result<CreateAccessKeyResponse, IamError> {
        let user = self.user_or_caller(i.user_name.as_deref(), caller)?;
        let now = self.clock.now_ms();
        let (k, secret) = self.directory.create_access_key(&user, now).await?;
        Ok(CreateAccessKeyResponse {
            access_key: AccessKey {
                user_name: k.user_name.clone(),
                access_key_id: k.id.clone(),
                status: "Active".into(),
                secret_access_key: Sensitive::new(secret.as_str().to_owned()),
                create_date: Some(Timestamp(k.created_ms)),
            },
        })
    }

    /// ListAccessKeys.
    pub(super) async fn list_access_keys(
        &self,
        i: ListAccessKeysRequest,
        caller: &Principal,
    ) -> Result<ListAccessKeysResponse, IamError> {
        let user = self.user_or_caller(i.user_name.as_deref(), caller)?;
        let keys = self
            .directory
            .access_keys(&user)?
            .iter()
            .map(key_meta)
            .collect();
        let (access_key_metadata, is_truncated, marker) =
            page(keys, i.marker.as_deref(), i.max_items)?;
        Ok(ListAccessKeysResponse {
            access_key_metadata,
            is_truncated,
            marker,
        })
    }

    /// UpdateAccessKey.
    pub(super) async fn update_access_key(
        &self,
        i: UpdateAccessKeyRequest,
    ) -> Result<(), IamError> {
        let active = match i.status.as_str() {
            "Active" => true,
            "Inactive" => false,
            other => {
                return Err(IamError::Validation(format!(
                    "1 validation error detected: Value '{}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]",
                    other
                )));
            }
        };
        self.directory
            .set_access_key_active(&i.access_key_id, i.user_name.as_deref(), active)
            .await?;
        Ok(())
    }

    /// DeleteAccessKey.
    pub(super) async fn delete_access_key(
        &self,
        i: DeleteAccessKeyRequest,
    ) -> Result<(), IamError> {
        self.directory
            .delete_access_key(&i.access_key_id, i.user_name.as_deref())
            .await?;
        Ok(())
    }
}
