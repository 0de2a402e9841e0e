//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.
//!
//! A grant lives in its key's metadata (stored with the key). Which requests a grant allows
//! is `strongroom_domain::grants`' rule; [`Kms::authorization_checks`] names the grantees
//! that allow a request and the authorizer lets them through unless a policy denies.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use strongroom_domain::grants::{self, Constraints, Grant, OperationsError};
use strongroom_domain::kms::KeyState;

use super::crypto::dry_run;
use super::keys::{ALIASES_LIMITS, customer_managed, key_id, page};
use super::shapes::{
    CreateGrantRequest, CreateGrantResponse, GrantConstraints, GrantListEntry, ListGrantsRequest,
    ListGrantsResponse, ListRetirableGrantsRequest, RetireGrantRequest, RevokeGrantRequest,
};
use super::{KeyRecord, Kms, KmsError, read};
use crate::services::input::epoch_seconds;

/// AWS's quota of grants on one key.
const MAX_GRANTS_PER_KEY: usize = 50_000;
const TOKEN_VERSION: &str = "sr1";

/// What a grant token names: the key and the grant (a token is unique per CreateGrant call;
/// every token of a grant works alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenRef {
    pub key_id: String,
    pub grant_id: String,
}

pub(super) fn parse_token(token: &str) -> Option<TokenRef> {
    let bytes = B64.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != TOKEN_VERSION {
        return None;
    }
    let key_id = parts.next()?.to_string();
    let grant_id = parts.next()?.to_string();
    let _nonce = parts.next()?;
    if parts.next().is_some() || uuid::Uuid::parse_str(&key_id).is_err() || grant_id.is_empty() {
        return None;
    }
    Some(TokenRef { key_id, grant_id })
}

fn random_hex(bytes: usize) -> Result<String, KmsError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| KmsError::Internal)?;
    Ok(hex::encode(buf))
}

fn new_token(key_id: &str, grant_id: &str) -> Result<String, KmsError> {
    let nonce = random_hex(16)?;
    Ok(B64.encode(format!("{TOKEN_VERSION}:{key_id}:{grant_id}:{nonce}")))
}

/// The request's constraints in the domain's form (absent or empty is none).
pub(super) fn constraints(given: Option<&GrantConstraints>) -> Option<Constraints> {
    let c = given?;
    let c = Constraints {
        subset: c.encryption_context_subset.clone(),
        equals: c.encryption_context_equals.clone(),
        source_arn: c.source_arn.clone(),
    };
    (!c.is_empty()).then_some(c)
}

fn principal_member(value: Option<&str>, member: &str) -> Result<(), KmsError> {
    let Some(v) = value else { return Ok(()) };
    let ok = (1..=256).contains(&v.chars().count())
        && v.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || "+=,.@:/-".contains(c));
    if !ok {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$"
        )));
    }
    Ok(())
}

fn grant_id_member(value: &str) -> Result<(), KmsError> {
    if !(1..=128).contains(&value.chars().count()) {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{value}' at 'grantId' failed to satisfy constraint: Member must have length less than or equal to 128"
        )));
    }
    Ok(())
}

fn entry(record: &KeyRecord, g: &Grant) -> GrantListEntry {
    GrantListEntry {
        key_id: Some(record.arn.clone()),
        grant_id: Some(g.grant_id.clone()),
        name: g.name.clone(),
        creation_date: Some(epoch_seconds(g.created_ms)),
        grantee_principal: g.grantee_principal.clone(),
        retiring_principal: g.retiring_principal.clone(),
        issuing_account: Some(g.issuing_account.clone()),
        operations: Some(g.operations.clone()),
        constraints: g.constraints.as_ref().map(|c| GrantConstraints {
            encryption_context_subset: c.subset.clone(),
            encryption_context_equals: c.equals.clone(),
            source_arn: c.source_arn.clone(),
        }),
        grantee_service_principal: g.grantee_service_principal.clone(),
        retiring_service_principal: g.retiring_service_principal.clone(),
    }
}

fn listed(
    entries: Vec<GrantListEntry>,
    limit: Option<i64>,
    marker: Option<&str>,
) -> Result<ListGrantsResponse, KmsError> {
    let (start, end) = page(limit, marker, entries.len(), &ALIASES_LIMITS)?;
    let truncated = end < entries.len();
    Ok(ListGrantsResponse {
        grants: Some(entries[start..end].to_vec()),
        next_marker: truncated.then(|| end.to_string()),
        truncated: Some(truncated),
    })
}

fn grant_not_found(grant_id: &str) -> KmsError {
    KmsError::NotFound(format!("Grant ID {grant_id} not found"))
}

impl Kms {
    pub(super) async fn create_grant(
        &self,
        input: &CreateGrantRequest,
    ) -> Result<CreateGrantResponse, KmsError> {
        let operations = input.operations.clone().unwrap_or_default();
        if input.operations.is_none() {
            return Err(KmsError::Validation(
                "1 validation error detected: Value null at 'operations' failed to satisfy constraint: Member must not be null".into(),
            ));
        }
        principal_member(input.grantee_principal.as_deref(), "granteePrincipal")?;
        principal_member(input.retiring_principal.as_deref(), "retiringPrincipal")?;
        if input.grantee_principal.is_none() && input.grantee_service_principal.is_none() {
            return Err(KmsError::Validation(
                "1 validation error detected: Value null at 'granteePrincipal' failed to satisfy constraint: Member must not be null".into(),
            ));
        }
        if input.grantee_principal.is_some() && input.grantee_service_principal.is_some() {
            return Err(KmsError::Validation(
                "Specify either GranteePrincipal or GranteeServicePrincipal, not both.".into(),
            ));
        }
        if input.retiring_principal.is_some() && input.retiring_service_principal.is_some() {
            return Err(KmsError::Validation(
                "Specify either RetiringPrincipal or RetiringServicePrincipal, not both.".into(),
            ));
        }
        if let Some(name) = input.name.as_deref()
            && (!(1..=256).contains(&name.len())
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c)))
        {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
            )));
        }
        if input.grant_tokens.as_ref().is_some_and(|t| t.len() > 10) {
            return Err(KmsError::Validation(
                "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10".into(),
            ));
        }
        grants::check_operations(&operations).map_err(|e| match e {
            OperationsError::Invalid(m) => KmsError::Validation(m),
            OperationsError::NotForKeyType(ops) => KmsError::Validation(format!(
                "Grant operations [{ops}] are not valid for a symmetric encryption KMS key (KeyUsage ENCRYPT_DECRYPT)."
            )),
        })?;
        let constraints = constraints(input.constraints.as_ref());
        if let Some(c) = &constraints {
            grants::check_constraints(c).map_err(KmsError::Validation)?;
        }

        let _serialised = self.write_lock.lock().await;
        let mut record = self.find(key_id(&input.key_id))?;
        customer_managed(&record)?;
        if record.meta.state == KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                record.arn
            )));
        }
        dry_run(input.dry_run)?;
        let mut grant = Grant {
            grant_id: String::new(),
            name: input.name.clone(),
            created_ms: self.clock.now_ms(),
            grantee_principal: input.grantee_principal.clone(),
            grantee_service_principal: input.grantee_service_principal.clone(),
            retiring_principal: input.retiring_principal.clone(),
            retiring_service_principal: input.retiring_service_principal.clone(),
            issuing_account: self.account_root(),
            operations,
            constraints,
        };
        // A named grant asked for again with the same parameters is the same grant (with a
        // new token).
        if grant.name.is_some()
            && let Some(existing) = record
                .meta
                .grants
                .iter()
                .find(|g| grants::same_request(g, &grant))
        {
            return Ok(CreateGrantResponse {
                grant_token: Some(new_token(&record.key_id, &existing.grant_id)?),
                grant_id: Some(existing.grant_id.clone()),
            });
        }
        if record.meta.grants.len() >= MAX_GRANTS_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "The key {} has the maximum number of grants ({MAX_GRANTS_PER_KEY}).",
                record.arn
            )));
        }
        grant.grant_id = random_hex(32)?;
        let grant_id = grant.grant_id.clone();
        record.meta.grants.push(grant);
        let record = self.save(record, None).await?;
        Ok(CreateGrantResponse {
            grant_token: Some(new_token(&record.key_id, &grant_id)?),
            grant_id: Some(grant_id),
        })
    }

    pub(super) fn list_grants(
        &self,
        input: &ListGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        principal_member(input.grantee_principal.as_deref(), "granteePrincipal")?;
        if let Some(id) = input.grant_id.as_deref() {
            grant_id_member(id)?;
        }
        let record = self.find(key_id(&input.key_id))?;
        let entries = record
            .meta
            .grants
            .iter()
            .filter(|g| input.grant_id.as_ref().is_none_or(|id| *id == g.grant_id))
            .filter(|g| {
                input
                    .grantee_principal
                    .as_ref()
                    .is_none_or(|p| g.grantee_principal.as_ref() == Some(p))
            })
            .filter(|g| {
                input
                    .grantee_service_principal
                    .as_ref()
                    .is_none_or(|p| g.grantee_service_principal.as_ref() == Some(p))
            })
            .map(|g| entry(&record, g))
            .collect();
        listed(entries, input.limit, input.marker.as_deref())
    }

    pub(super) fn list_retirable_grants(
        &self,
        input: &ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        principal_member(input.retiring_principal.as_deref(), "retiringPrincipal")?;
        if input.retiring_principal.is_none() && input.retiring_service_principal.is_none() {
            return Err(KmsError::Validation(
                "1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null".into(),
            ));
        }
        let mut keys: Vec<KeyRecord> = read(&self.keys).values().cloned().collect();
        keys.sort_by(|a, b| (a.created_ms, &a.key_id).cmp(&(b.created_ms, &b.key_id)));
        let mut entries = Vec::new();
        for record in &keys {
            for g in &record.meta.grants {
                let by_principal = input.retiring_principal.is_some()
                    && g.retiring_principal == input.retiring_principal;
                let by_service = input.retiring_service_principal.is_some()
                    && g.retiring_service_principal == input.retiring_service_principal;
                if by_principal || by_service {
                    entries.push(entry(record, g));
                }
            }
        }
        listed(entries, input.limit, input.marker.as_deref())
    }

    /// The key and grant a RetireGrant names (by its token, or by KeyId and GrantId).
    pub(super) fn retire_target(
        &self,
        input: &RetireGrantRequest,
    ) -> Result<(String, String), KmsError> {
        if let Some(token) = input.grant_token.as_deref() {
            let t = parse_token(token).ok_or_else(|| {
                KmsError::InvalidGrantToken("The grant token is not valid.".into())
            })?;
            if input.grant_id.as_ref().is_some_and(|id| *id != t.grant_id) {
                return Err(KmsError::InvalidGrantId(
                    "The grant ID does not match the grant token.".into(),
                ));
            }
            return Ok((t.key_id, t.grant_id));
        }
        match (input.key_id.as_deref(), input.grant_id.as_deref()) {
            (Some(k), Some(g)) => {
                grant_id_member(g)?;
                Ok((k.to_string(), g.to_string()))
            }
            _ => Err(KmsError::Validation(
                "Either GrantToken, or both KeyId and GrantId, must be specified.".into(),
            )),
        }
    }

    pub(super) async fn retire_grant(&self, input: &RetireGrantRequest) -> Result<(), KmsError> {
        let (key, grant_id) = self.retire_target(input)?;
        self.remove_grant(&key, &grant_id, input.dry_run, false)
            .await
    }

    pub(super) async fn revoke_grant(&self, input: &RevokeGrantRequest) -> Result<(), KmsError> {
        let grant_id = input.grant_id.as_deref().ok_or_else(|| {
            KmsError::Validation(
                "1 validation error detected: Value null at 'grantId' failed to satisfy constraint: Member must not be null".into(),
            )
        })?;
        grant_id_member(grant_id)?;
        self.remove_grant(key_id(&input.key_id), grant_id, input.dry_run, true)
            .await
    }

    async fn remove_grant(
        &self,
        key: &str,
        grant_id: &str,
        dry: Option<bool>,
        revoke: bool,
    ) -> Result<(), KmsError> {
        let _serialised = self.write_lock.lock().await;
        let mut record = self.find(key)?;
        if revoke {
            customer_managed(&record)?;
        }
        let before = record.meta.grants.len();
        record.meta.grants.retain(|g| g.grant_id != grant_id);
        if record.meta.grants.len() == before {
            return Err(grant_not_found(grant_id));
        }
        dry_run(dry)?;
        self.save(record, None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_key_and_grant_and_differ_each_time() {
        let key = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let a = new_token(key, "g1").unwrap();
        let b = new_token(key, "g1").unwrap();
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert_eq!(
                parse_token(t),
                Some(TokenRef {
                    key_id: key.into(),
                    grant_id: "g1".into()
                })
            );
        }
        assert_eq!(parse_token("not a token"), None);
        assert_eq!(parse_token(&B64.encode("sr1:not-a-uuid:g:n")), None);
        assert_eq!(parse_token(&B64.encode(format!("v0:{key}:g:n"))), None);
    }
}
