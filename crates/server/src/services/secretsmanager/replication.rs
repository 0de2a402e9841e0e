//! Multi-Region secrets between the regions of this deployment: ReplicateSecretToRegions,
//! RemoveRegionsFromReplication, StopReplicationToReplica, CreateSecret's AddReplicaRegions,
//! and keeping replicas in step with their primary.
//!
//! A replica is its primary's whole state — metadata, versions and staging labels, tags,
//! description, resource policy — under the replica region's ARN, each value opened from the
//! primary and sealed again under the replica region's key (its own `aws/secretsmanager`
//! unless the replica names a key). After every committed write to a primary its replicas are
//! brought up to date in the same request; a replica that could not be (a same-named secret in
//! its region, a key it cannot use) is `Failed` with the reason, and the region's background
//! sweep tries again. Replicas are read-only: writes answer as AWS does.

use std::sync::{Arc, Weak};

use strongroom_domain::replication::{self, Replica, ReplicaStatus, ReplicationError};
use strongroom_domain::secret::Secret;
use strongroom_store::{SecretKey, SecretWrite, StoreError};

use super::shapes::{
    RemoveRegionsFromReplicationRequest, RemoveRegionsFromReplicationResponse, ReplicaRegionType,
    ReplicateSecretToRegionsRequest, ReplicateSecretToRegionsResponse, ReplicationStatusType,
    StopReplicationToReplicaRequest, StopReplicationToReplicaResponse,
};
use super::{SecretsManager, SmError, ts, validate};

impl From<ReplicationError> for SmError {
    fn from(e: ReplicationError) -> Self {
        match e {
            ReplicationError::NameTaken => SmError::ResourceExists(e.to_string()),
            e => SmError::InvalidParameter(e.to_string()),
        }
    }
}

impl SecretsManager {
    /// Connect each region's Secrets Manager to the others (once, at start).
    pub fn connect_regions(all: &[Arc<SecretsManager>]) {
        for sm in all {
            let peers = all
                .iter()
                .filter(|p| !Arc::ptr_eq(p, sm))
                .map(Arc::downgrade)
                .collect();
            let _ = sm.peers.set(peers);
        }
    }

    fn peer(&self, region: &str) -> Option<Arc<SecretsManager>> {
        self.peers
            .get()?
            .iter()
            .filter_map(Weak::upgrade)
            .find(|p| p.region == region)
    }

    /// This deployment's regions.
    pub(super) fn local_regions(&self) -> Vec<String> {
        let mut all = vec![self.region.clone()];
        if let Some(peers) = self.peers.get() {
            all.extend(
                peers
                    .iter()
                    .filter_map(Weak::upgrade)
                    .map(|p| p.region.clone()),
            );
        }
        all
    }

    /// The regions a secret here may be replicated to: this deployment's and its peers'.
    pub(super) fn served_regions(&self) -> Vec<String> {
        let mut all = self.local_regions();
        all.extend(self.remote_regions().map(str::to_string));
        all
    }

    pub(super) async fn replicate_secret_to_regions(
        &self,
        input: ReplicateSecretToRegionsRequest,
    ) -> Result<ReplicateSecretToRegionsResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let regions = validate::required("addReplicaRegions", input.add_replica_regions)?;
        let (secret, statuses) = self
            .add_replicas(
                &id,
                &regions,
                input.force_overwrite_replica_secret == Some(true),
            )
            .await?;
        Ok(ReplicateSecretToRegionsResponse {
            arn: Some(secret.arn),
            replication_status: Some(statuses),
        })
    }

    /// Add replica regions to the primary `id` and replicate to them now.
    pub(super) async fn add_replicas(
        &self,
        id: &str,
        regions: &[ReplicaRegionType],
        force: bool,
    ) -> Result<(Secret, Vec<ReplicationStatusType>), SmError> {
        let names = replication::check_new_regions(
            regions
                .iter()
                .map(|r| r.region.as_deref().unwrap_or_default()),
            &self.region,
            &self.served_regions(),
        )?;
        let (secret, ()) = self
            .modify(id, |s| {
                if s.replication.is_replica() {
                    return Err(ReplicationError::IsReplica.into());
                }
                if s.is_scheduled_for_deletion() {
                    return Err(SmError::marked_for_deletion());
                }
                for (name, r) in names.iter().zip(regions) {
                    let mut replica =
                        Replica::new(name.clone(), r.kms_key_id.clone().filter(|k| !k.is_empty()));
                    // A peer's replica is created later, asynchronously: remember the choice.
                    replica.overwrite = force && self.remote(name).is_some();
                    match s
                        .replication
                        .replicas
                        .iter_mut()
                        .find(|x| &x.region == name)
                    {
                        Some(existing) => *existing = replica,
                        None => s.replication.replicas.push(replica),
                    }
                }
                Ok(((), Vec::new()))
            })
            .await?;
        // `modify` synced the replicas that already were; these get the overwrite choice.
        let secret = self.sync_replicas(secret, force, Some(&names)).await;
        let statuses = self.replication_status(&secret).await;
        Ok((secret, statuses))
    }

    pub(super) async fn remove_regions_from_replication(
        &self,
        input: RemoveRegionsFromReplicationRequest,
    ) -> Result<RemoveRegionsFromReplicationResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let regions = validate::required("removeReplicaRegions", input.remove_replica_regions)?;
        validate::list_len("removeReplicaRegions", regions.len(), 1, 10)?;
        // A peer deletes its replica first: one it cannot reach stays listed.
        let current = self.resolve(&id).await?;
        if !current.replication.is_replica() {
            for r in &regions {
                if let (Some(_), Some(peer)) = (current.replication.replica(r), self.remote(r)) {
                    self.remove_from_peer(&current, peer).await?;
                }
            }
        }
        let (secret, ()) = self
            .modify(&id, |s| {
                if s.replication.is_replica() {
                    return Err(ReplicationError::IsReplica.into());
                }
                for r in &regions {
                    if s.replication.replica(r).is_none() {
                        return Err(ReplicationError::NotReplicated(r.clone()).into());
                    }
                }
                s.replication
                    .replicas
                    .retain(|x| !regions.contains(&x.region));
                Ok(((), Vec::new()))
            })
            .await?;
        for region in &regions {
            if let Some(peer) = self.peer(region) {
                let arn = replication::replica_arn(&secret.arn, region);
                if let Ok(Some(replica)) = peer.store.secret(SecretKey::Arn(&arn)).await
                    && replica.replication.primary_region.as_deref() == Some(self.region.as_str())
                {
                    peer.store.purge(&arn).await?;
                    tracing::info!(secret_arn = %arn, "replica removed");
                }
            }
        }
        let statuses = self.replication_status(&secret).await;
        Ok(RemoveRegionsFromReplicationResponse {
            arn: Some(secret.arn),
            replication_status: Some(statuses),
        })
    }

    /// Called in the replica's region: the replica becomes a standalone secret there, and its
    /// primary stops replicating to this region.
    pub(super) async fn stop_replication_to_replica(
        &self,
        input: StopReplicationToReplicaRequest,
    ) -> Result<StopReplicationToReplicaResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let _serialised = self.lock_for(&id).await;
        let current = self.resolve(&id).await?;
        let Some(primary_region) = current.replication.primary_region.clone() else {
            return Err(SmError::InvalidRequest(
                "StopReplicationToReplica is called on a replica secret, in its region: this secret is not a replica.".into(),
            ));
        };
        let mut next = current.clone();
        next.replication = Default::default();
        next.revision = current.revision + 1;
        self.store
            .commit(SecretWrite {
                expected_revision: Some(current.revision),
                secret: next.clone(),
                new_values: Vec::new(),
                resealed: Vec::new(),
                stored_versions: None,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict => super::busy(),
                e => e.into(),
            })?;
        drop(_serialised);
        if let Some(primary) = self.peer(&primary_region) {
            let primary_arn = replication::replica_arn(&next.arn, &primary_region);
            let region = self.region.clone();
            let forgot = primary
                .modify(&primary_arn, |s| {
                    s.replication.replicas.retain(|r| r.region != region);
                    Ok(((), Vec::new()))
                })
                .await;
            if let Err(e) = forgot {
                tracing::warn!(secret_arn = %primary_arn, error = ?e, "the primary could not forget its promoted replica");
            }
        }
        Ok(StopReplicationToReplicaResponse {
            arn: Some(next.arn),
        })
    }

    /// ReplicationStatus as DescribeSecret (and the replication operations) show it; each
    /// replica's LastAccessedDate read from its region.
    pub(super) async fn replication_status(&self, s: &Secret) -> Vec<ReplicationStatusType> {
        let mut out = Vec::with_capacity(s.replication.replicas.len());
        for r in &s.replication.replicas {
            let status = match self.remote(&r.region) {
                Some(_) => self.remote_status(s, r),
                None => r.status,
            };
            let last_accessed = match self.peer(&r.region) {
                Some(peer) => {
                    let arn = replication::replica_arn(&s.arn, &r.region);
                    match peer.store.secret(SecretKey::Arn(&arn)).await {
                        Ok(Some(replica)) => replica.last_accessed_ms,
                        _ => None,
                    }
                }
                None => r.last_accessed_ms,
            };
            out.push(ReplicationStatusType {
                region: Some(r.region.clone()),
                kms_key_id: Some(
                    r.kms_key_id
                        .clone()
                        .unwrap_or_else(|| "alias/aws/secretsmanager".into()),
                ),
                status: Some(status.as_str().into()),
                status_message: r.status_message.clone(),
                last_accessed_date: last_accessed.map(ts),
            });
        }
        out
    }

    /// Bring `primary`'s replicas (all, or those in `only`) up to date, recording each
    /// one's status on the primary. `force`: a same-named secret that is not this primary's
    /// replica is replaced (ForceOverwriteReplicaSecret). Called with the primary's write
    /// serialised by the caller or not at all: the status write re-reads the revision.
    pub(super) async fn sync_replicas(
        &self,
        primary: Secret,
        force: bool,
        only: Option<&[String]>,
    ) -> Secret {
        if primary.replication.replicas.is_empty() {
            return primary;
        }
        let mut statuses = Vec::new();
        let mut to_peers = false;
        for r in &primary.replication.replicas {
            if self.remote(&r.region).is_some() {
                // Delivered asynchronously by the region's delivery loop.
                to_peers = true;
                statuses.push(r.clone());
                continue;
            }
            if only.is_some_and(|o| !o.contains(&r.region)) {
                statuses.push(r.clone());
                continue;
            }
            let result = self.sync_one(&primary, r, force).await;
            let mut r = r.clone();
            match result {
                Ok(()) => {
                    r.status = ReplicaStatus::InSync;
                    r.status_message = None;
                    r.synced_ms = Some(self.clock.now_ms());
                }
                Err(message) => {
                    tracing::warn!(secret_arn = %primary.arn, region = %r.region, reason = %message, "replication failed");
                    r.status = ReplicaStatus::Failed;
                    r.status_message = Some(message);
                }
            }
            statuses.push(r);
        }
        if to_peers {
            self.enqueue(&primary.arn);
        }
        self.record_statuses(primary, statuses).await
    }

    /// Store the replicas' statuses on the primary, if they changed (a plain commit: this is
    /// bookkeeping, not a change of the secret to replicate).
    pub(super) async fn record_statuses(&self, primary: Secret, statuses: Vec<Replica>) -> Secret {
        for _ in 0..super::COMMIT_ATTEMPTS {
            let Ok(current) = self.resolve(&primary.arn).await else {
                return primary;
            };
            let mut next = current.clone();
            for s in &statuses {
                if let Some(r) = next
                    .replication
                    .replicas
                    .iter_mut()
                    .find(|r| r.region == s.region)
                {
                    *r = s.clone();
                }
            }
            if next == current {
                return next;
            }
            next.revision = current.revision + 1;
            let write = SecretWrite {
                expected_revision: Some(current.revision),
                secret: next.clone(),
                new_values: Vec::new(),
                resealed: Vec::new(),
                stored_versions: None,
            };
            match self.store.commit(write).await {
                Ok(()) => return next,
                Err(StoreError::Conflict) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "could not record replication status");
                    return primary;
                }
            }
        }
        primary
    }

    /// Make the replica in `r.region` equal to `primary`: metadata as is, values opened here
    /// and sealed there under the replica's key.
    async fn sync_one(&self, primary: &Secret, r: &Replica, force: bool) -> Result<(), String> {
        let peer = self
            .peer(&r.region)
            .ok_or_else(|| format!("Region {} is not served by this deployment.", r.region))?;
        let key_id = peer
            .key_id_for(r.kms_key_id.as_deref())
            .map_err(|e| e.message().to_string())?;
        let arn = replication::replica_arn(&primary.arn, &r.region);
        // No lock of the replica region's: two regions replicating to each other would take
        // each other's in opposite orders. Only replication writes a replica, and a write that
        // lost a race to another fails on the revision and is retried by the sweep.
        let existing = match peer.store.secret(SecretKey::Name(&primary.name)).await {
            Ok(x) => x,
            Err(e) => return Err(format!("The replica region's store failed: {e}")),
        };
        let existing = match existing {
            Some(s)
                if s.arn == arn
                    && s.replication.primary_region.as_deref() == Some(&self.region) =>
            {
                Some(s)
            }
            Some(other) if force => {
                peer.store
                    .purge(&other.arn)
                    .await
                    .map_err(|e| format!("The replica region's store failed: {e}"))?;
                None
            }
            Some(_) => return Err("Secret with this name already exists in this region".into()),
            None => None,
        };
        let mut replica = primary.clone();
        replica.arn = arn.clone();
        replica.kms_key_id = r.kms_key_id.clone();
        replica.replication = replication::Replication {
            primary_region: Some(self.region.clone()),
            ..Default::default()
        };
        // Rotation runs on the primary; the replica shows its configuration only.
        replica.rotation.next_rotation_ms = None;
        replica.last_accessed_ms = existing.as_ref().and_then(|e| e.last_accessed_ms);
        let mut new_values = Vec::new();
        let mut resealed = Vec::new();
        for v in replica.versions.iter_mut() {
            let before = existing.as_ref().and_then(|e| e.version(&v.id));
            v.last_accessed_ms = before.and_then(|b| b.last_accessed_ms);
            if !v.has_value {
                v.kms_key_id = None;
                continue;
            }
            let already =
                before.is_some_and(|b| b.has_value && b.kms_key_id.as_deref() == Some(&key_id));
            v.kms_key_id = Some(key_id.clone());
            if already {
                continue;
            }
            let value = self
                .open(&primary.arn, &v.id)
                .await
                .map_err(|e| e.message().to_string())?
                .ok_or_else(|| {
                    "The primary's value changed during replication; retrying.".to_string()
                })?;
            let sealed = peer
                .seal(&key_id, &arn, &v.id, &value)
                .map_err(|e| e.message().to_string())?;
            if before.is_some_and(|b| b.has_value) {
                resealed.push((v.id.clone(), sealed));
            } else {
                new_values.push((v.id.clone(), sealed));
            }
        }
        replica.revision = existing.as_ref().map_or(1, |e| e.revision + 1);
        let write = SecretWrite {
            expected_revision: existing.as_ref().map(|e| e.revision),
            secret: replica,
            new_values,
            resealed,
            stored_versions: None,
        };
        peer.store
            .commit(write)
            .await
            .map_err(|e| format!("The replica region's store refused the write: {e}"))
    }

    /// The background sweep: replicas not in sync are tried again.
    pub async fn retry_replication(&self) {
        let Ok(secrets) = self.store.secrets_with_replicas().await else {
            return;
        };
        for s in secrets {
            if s.replication
                .replicas
                .iter()
                .any(|r| r.status != ReplicaStatus::InSync)
            {
                let _ = self.sync_replicas(s, false, None).await;
            }
        }
    }
}
