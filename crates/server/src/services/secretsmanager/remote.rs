//! Multi-Region secrets whose replica region is **another Strongroom deployment** (a peer,
//! `[[peer-region]]` in the config): replication goes over the peer's own Secrets Manager
//! endpoint, SigV4-signed with credentials of an IAM identity there, authorized and audited by
//! the peer like any call.
//!
//! - Asynchronous: a write to a primary commits here and queues the secret; a delivery loop
//!   per region sends it. Until the replica holds the primary's current state its
//!   ReplicationStatus is `InProgress`; a delivery that failed is `Failed` with the reason, and
//!   is retried with backoff (1 s doubling to 30 s; per peer while it cannot be reached, per
//!   secret when it refuses) for as long as it takes.
//! - Nothing is lost and nothing goes back: each delivery (`PutReplicaSecret`, Strongroom's
//!   own operation, `scripts/extensions/secretsmanager.json`) carries the primary's whole
//!   replicated state — every version still present, its labels, tags, description, policy,
//!   rotation configuration — stamped with the primary's revision. The peer applies a delivery
//!   only if it is newer than what its replica has, so a peer that was away for an hour
//!   receives the latest state, with every version the primary kept, when it returns.
//! - Values travel only for versions the peer does not hold yet; the peer seals them under its
//!   own key (the replica's KmsKeyId or its own aws/secretsmanager). Use `https://` endpoints:
//!   values cross the network.
//! - On the peer the replica is read-only, shows `PrimaryRegion`, and can be promoted with
//!   StopReplicationToReplica there; after that the primary's deliveries fail with AWS's
//!   "Secret with this name already exists in this region" until the region is removed here.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;
use strongroom_domain::replication::{
    self, Replica, ReplicaStatus, ReplicaWrite, ReplicationError, remote_replica_write,
};
use strongroom_domain::secret::Secret;
use strongroom_store::{SecretKey, SecretWrite, StoreError};
use tokio::sync::watch;
use zeroize::Zeroizing;

use super::shapes::{
    DeleteReplicaSecretRequest, DeleteReplicaSecretResponse, PutReplicaSecretRequest,
    PutReplicaSecretResponse, ReplicaValueType,
};
use super::values::decode_value;
use super::{SecretsManager, SmError, ts, validate};
use crate::http::client::{Target, send};
use crate::sensitive::Sensitive;
use crate::services::secretsmanager::ValueKind;

/// `[[peer-region]]`: a region served by another Strongroom deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PeerRegion {
    /// The region name the peer serves (its `--region`/`--regions`).
    pub region: String,
    /// The peer's endpoint, e.g. `https://dr.example.net:8443`.
    pub endpoint: String,
    /// An access key of an IAM identity on the peer allowed `secretsmanager:PutReplicaSecret`
    /// and `secretsmanager:DeleteReplicaSecret`.
    pub access_key_id: String,
    /// A file holding that key's secret access key (one line).
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// Or an environment variable holding it.
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    /// CA certificates (PEM) to trust for an `https://` endpoint [default: the system's].
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl PeerRegion {
    /// The client for this peer, its secret key read now (so a missing file stops the start).
    pub fn connect(&self) -> Result<PeerClient, String> {
        let what = |m: &str| format!("[[peer-region]] {}: {m}", self.region);
        let target = Target::parse(&self.endpoint).map_err(|e| what(&format!("endpoint: {e}")))?;
        let secret = match (&self.secret_access_key_file, &self.secret_access_key_env) {
            (Some(path), None) => std::fs::read_to_string(path)
                .map_err(|e| what(&format!("cannot read {}: {e}", path.display())))?,
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| what(&format!("the environment variable {var} is not set")))?,
            _ => {
                return Err(what(
                    "give one of secret-access-key-file and secret-access-key-env",
                ));
            }
        };
        let secret = Zeroizing::new(secret.trim().to_string());
        if secret.is_empty() || self.access_key_id.is_empty() {
            return Err(what("the access key is empty"));
        }
        Ok(PeerClient {
            region: self.region.clone(),
            endpoint: self.endpoint.trim_end_matches('/').to_string(),
            target,
            access_key_id: self.access_key_id.clone(),
            secret_access_key: secret,
            ca_file: self.ca_file.clone(),
        })
    }
}

/// Calls to a peer's Secrets Manager. No Debug: it holds a secret key.
pub struct PeerClient {
    pub region: String,
    pub endpoint: String,
    /// The endpoint, parsed once (`connect`).
    target: Target,
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    ca_file: Option<PathBuf>,
}

/// Why a call to a peer failed.
#[derive(Debug)]
pub enum PeerError {
    /// No answer (connection refused, TLS, timeout).
    Unreachable(String),
    /// The peer answered with an AWS error.
    Refused { code: String, message: String },
}

impl PeerError {
    /// The StatusMessage a replica shows for this failure.
    fn status_message(&self, peer: &PeerClient) -> String {
        match self {
            PeerError::Unreachable(e) => format!(
                "The deployment serving {} ({}) could not be reached: {e}",
                peer.region, peer.endpoint
            ),
            PeerError::Refused { code, message } => format!("{code}: {message}"),
        }
    }
}

const PEER_TIMEOUT: Duration = Duration::from_secs(15);
/// Retries after a failure: 1 s, doubling to 30 s.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl PeerClient {
    /// One Secrets Manager call on the peer, signed for the peer's region.
    async fn call<T: serde::Serialize>(
        &self,
        op: &str,
        input: &T,
    ) -> Result<serde_json::Value, PeerError> {
        let body = crate::sensitive::to_json(input)
            .map_err(|e| PeerError::Unreachable(format!("cannot encode the request: {e}")))?;
        let target = &self.target;
        let url = format!("{}/", self.endpoint);
        let mut req = http::Request::post(url.as_str())
            .header(http::header::HOST, target.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", format!("secretsmanager.{op}"))
            .body(())
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        let identity = aws_credential_types::Credentials::new(
            &self.access_key_id,
            self.secret_access_key.as_str(),
            None,
            None,
            "strongroom-peer",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("secretsmanager")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| PeerError::Unreachable(format!("cannot sign: {e}")))?
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| PeerError::Unreachable(format!("cannot sign: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| PeerError::Unreachable(format!("cannot sign: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        // Sent with the path only (the Host header names the peer).
        let (mut parts, ()) = req.into_parts();
        parts.uri = target
            .path
            .parse()
            .map_err(|e| PeerError::Unreachable(format!("bad URL: {e}")))?;
        let req = http::Request::from_parts(parts, Bytes::copy_from_slice(&body));
        let (status, answer) = send(target, self.ca_file.as_deref(), req, PEER_TIMEOUT)
            .await
            .map_err(PeerError::Unreachable)?;
        let json: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        if status.is_success() {
            return Ok(json);
        }
        let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let code = field("__type")
            .map(|t| t.rsplit('#').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        let message = field("message")
            .or_else(|| field("Message"))
            .unwrap_or_default();
        Err(PeerError::Refused { code, message })
    }
}

/// What a region needs to replicate to peers: the clients and the queue of secrets to send.
#[derive(Default)]
pub struct Outbox {
    peers: Vec<Arc<PeerClient>>,
    /// ARNs of primaries that may have something to deliver.
    queue: std::sync::Mutex<BTreeSet<String>>,
    wake: tokio::sync::Notify,
}

/// A digest of what a replica must equal ([`replication::replicated_state`]).
pub(super) fn state_digest(s: &Secret) -> String {
    let state = serde_json::to_vec(&replication::replicated_state(s)).unwrap_or_default();
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &state,
    ))
}

impl SecretsManager {
    /// Give this region the peers it may replicate to (once, at start).
    pub fn connect_peers(&self, peers: Vec<Arc<PeerClient>>) {
        let _ = self.outbox.set(Outbox {
            peers,
            ..Default::default()
        });
    }

    pub(super) fn remote(&self, region: &str) -> Option<&Arc<PeerClient>> {
        self.outbox.get()?.peers.iter().find(|p| p.region == region)
    }

    pub(super) fn remote_regions(&self) -> impl Iterator<Item = &str> {
        self.outbox
            .get()
            .into_iter()
            .flat_map(|o| o.peers.iter().map(|p| p.region.as_str()))
    }

    /// Queue `arn` for delivery to its peer replicas.
    pub(super) fn enqueue(&self, arn: &str) {
        if let Some(o) = self.outbox.get() {
            o.queue.lock().unwrap().insert(arn.to_string());
            o.wake.notify_one();
        }
    }

    /// ReplicationStatus of a replica in a peer: `InSync` only while the peer holds the
    /// primary's current state.
    pub(super) fn remote_status(&self, primary: &Secret, r: &Replica) -> ReplicaStatus {
        match r.status {
            ReplicaStatus::Failed => ReplicaStatus::Failed,
            _ if r.synced_state.as_deref() == Some(state_digest(primary).as_str()) => {
                ReplicaStatus::InSync
            }
            _ => ReplicaStatus::InProgress,
        }
    }

    /// The delivery loop of this region: sends queued primaries to their peers, retries
    /// failures with backoff, and rescans every primary each minute (nothing queued is lost
    /// to a restart: a primary whose replica is behind is found by the scan).
    pub async fn deliver_to_peers(
        self: Arc<Self>,
        leadership: Arc<crate::cluster::Leadership>,
        mut stop: watch::Receiver<bool>,
    ) {
        let Some(outbox) = self.outbox.get() else {
            return;
        };
        if outbox.peers.is_empty() {
            return;
        }
        let mut backoff: HashMap<String, (Instant, Duration)> = HashMap::new();
        let mut last_scan: Option<Instant> = None;
        loop {
            // One node of a cluster delivers (the others' queues drain on its scan).
            while !leadership.is_leader() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
                last_scan = None;
            }
            // Fenced: the delivery status it writes to secrets is the lease holder's to write.
            leadership
                .fenced(async {
                    if last_scan.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        self.scan_for_peers().await;
                        last_scan = Some(Instant::now());
                    }
                    let queued = std::mem::take(&mut *outbox.queue.lock().unwrap());
                    for arn in queued {
                        if let Err(region) = self.deliver(&arn, &mut backoff).await {
                            // Kept for the next pass; that peer is waited for.
                            tracing::debug!(secret_arn = %arn, region, "delivery to a peer deferred");
                            outbox.queue.lock().unwrap().insert(arn);
                        }
                    }
                })
                .await;
            let pending = !outbox.queue.lock().unwrap().is_empty();
            let wait = if pending {
                backoff
                    .values()
                    .map(|(at, _)| at.saturating_duration_since(Instant::now()))
                    .min()
                    .unwrap_or(Duration::from_secs(1))
                    .max(Duration::from_millis(100))
            } else {
                Duration::from_secs(60)
            };
            tokio::select! {
                _ = outbox.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Queue every primary with a peer replica that is behind or failed.
    async fn scan_for_peers(&self) {
        let Ok(secrets) = self.store.secrets_with_replicas().await else {
            return;
        };
        for s in secrets {
            let behind = s.replication.replicas.iter().any(|r| {
                self.remote(&r.region).is_some()
                    && self.remote_status(&s, r) != ReplicaStatus::InSync
            });
            if behind {
                self.enqueue(&s.arn);
            }
        }
    }

    /// Deliver `arn` to each of its peer replicas that is behind. `Err(region)`: a peer still
    /// to be tried again.
    async fn deliver(
        &self,
        arn: &str,
        backoff: &mut HashMap<String, (Instant, Duration)>,
    ) -> Result<(), String> {
        let Ok(Some(primary)) = self.store.secret(SecretKey::Arn(arn)).await else {
            return Ok(());
        };
        let mut statuses = Vec::new();
        let mut deferred = None;
        for r in &primary.replication.replicas {
            let Some(peer) = self.remote(&r.region) else {
                continue;
            };
            if self.remote_status(&primary, r) == ReplicaStatus::InSync {
                continue;
            }
            // A peer that cannot be reached waits as a whole; a refusal only for this secret.
            let own = format!("{} {arn}", r.region);
            if [&r.region, &own]
                .iter()
                .any(|k| backoff.get(*k).is_some_and(|(at, _)| *at > Instant::now()))
            {
                deferred = Some(r.region.clone());
                continue;
            }
            let mut r = r.clone();
            match self.put_to_peer(&primary, &r, peer).await {
                Ok(answer) => {
                    backoff.remove(&r.region);
                    backoff.remove(&own);
                    r.status = ReplicaStatus::InSync;
                    r.status_message = None;
                    r.synced_ms = Some(self.clock.now_ms());
                    r.synced_state = Some(state_digest(&primary));
                    r.synced_versions = answer.held;
                    r.last_accessed_ms = answer.last_accessed_ms;
                    r.overwrite = false;
                    tracing::info!(secret_arn = %primary.arn, region = %r.region, "replica in a peer deployment updated");
                }
                Err(e) => {
                    let key = match e {
                        PeerError::Unreachable(_) => r.region.clone(),
                        PeerError::Refused { .. } => own,
                    };
                    let next = backoff
                        .get(&key)
                        .map_or(MIN_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
                    backoff.insert(key, (Instant::now() + next, next));
                    let message = e.status_message(peer);
                    tracing::warn!(secret_arn = %primary.arn, region = %r.region, reason = %message, "replication to a peer deployment failed");
                    r.status = ReplicaStatus::Failed;
                    r.status_message = Some(message);
                    if matches!(e, PeerError::Refused { .. }) {
                        // Maybe the peer lost values it had: send them all next time.
                        r.synced_versions.clear();
                    }
                    deferred = Some(r.region.clone());
                }
            }
            statuses.push(r);
        }
        if !statuses.is_empty() {
            self.record_statuses(primary, statuses).await;
        }
        deferred.map_or(Ok(()), Err)
    }

    /// One PutReplicaSecret to `peer`; sent again with every value if the peer lacks some.
    async fn put_to_peer(
        &self,
        primary: &Secret,
        r: &Replica,
        peer: &PeerClient,
    ) -> Result<PeerAnswer, PeerError> {
        let state = serde_json::to_string(&replication::replicated_state(primary))
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        let mut held = r.synced_versions.clone();
        for _ in 0..2 {
            let mut values = Vec::new();
            for v in primary
                .versions
                .iter()
                .filter(|v| v.has_value && !held.contains(&v.id))
            {
                let Some(value) = self
                    .open(&primary.arn, &v.id)
                    .await
                    .map_err(|e| PeerError::Unreachable(e.message().to_string()))?
                else {
                    continue;
                };
                let (string, binary) = match value.kind {
                    ValueKind::String => (
                        Some(Sensitive::new(
                            String::from_utf8_lossy(&value.bytes).into_owned(),
                        )),
                        None,
                    ),
                    ValueKind::Binary => {
                        (None, Some(Sensitive::new(STANDARD.encode(&*value.bytes))))
                    }
                };
                values.push(ReplicaValueType {
                    version_id: v.id.clone(),
                    secret_string: string,
                    secret_binary: binary,
                });
            }
            let input = PutReplicaSecretRequest {
                name: Some(primary.name.clone()),
                primary_region: Some(self.region.clone()),
                sequence: Some(primary.revision),
                kms_key_id: r.kms_key_id.clone(),
                force_overwrite_replica_secret: r.overwrite.then_some(true),
                state: Some(state.clone()),
                values: Some(values),
            };
            let answer: PutReplicaSecretResponse =
                serde_json::from_value(peer.call("PutReplicaSecret", &input).await?)
                    .map_err(|e| PeerError::Unreachable(format!("unexpected answer: {e}")))?;
            let missing = answer.missing_values.unwrap_or_default();
            if missing.is_empty() {
                return Ok(PeerAnswer {
                    held: primary
                        .versions
                        .iter()
                        .filter(|v| v.has_value)
                        .map(|v| v.id.clone())
                        .collect(),
                    last_accessed_ms: answer.last_accessed_date.map(|s| (s * 1000.0) as i64),
                });
            }
            held.retain(|id| !missing.contains(id));
        }
        Err(PeerError::Refused {
            code: "InvalidRequestException".into(),
            message: "The peer kept asking for values it was sent.".into(),
        })
    }

    /// RemoveRegionsFromReplication of a peer region: the peer deletes its replica first, so a
    /// peer that cannot be reached keeps the region listed (and the call can be repeated).
    pub(super) async fn remove_from_peer(
        &self,
        primary: &Secret,
        peer: &PeerClient,
    ) -> Result<(), SmError> {
        let input = DeleteReplicaSecretRequest {
            name: Some(primary.name.clone()),
            primary_region: Some(self.region.clone()),
        };
        match peer.call("DeleteReplicaSecret", &input).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SmError::InvalidRequest(format!(
                "The replica in {} was not removed: {}",
                peer.region,
                e.status_message(peer)
            ))),
        }
    }

    /// PutReplicaSecret, on the peer: create or bring up to date the replica of another
    /// deployment's primary.
    pub(super) async fn put_replica_secret(
        &self,
        input: &PutReplicaSecretRequest,
    ) -> Result<PutReplicaSecretResponse, SmError> {
        let name = validate::required("name", input.name.clone())?;
        let primary_region = validate::required("primaryRegion", input.primary_region.clone())?;
        let sequence = validate::required("sequence", input.sequence)?;
        let state = validate::required("state", input.state.clone())?;
        if self.local_regions().contains(&primary_region) {
            return Err(ReplicationError::OwnRegion(primary_region).into());
        }
        let incoming: Secret = serde_json::from_str(&state).map_err(|e| {
            SmError::InvalidParameter(format!("The replicated state is not valid: {e}"))
        })?;
        if incoming.name != name {
            return Err(SmError::InvalidParameter(
                "The replicated state is of another secret.".into(),
            ));
        }
        let Some(suffix) = incoming
            .arn
            .split_once(":secret:")
            .map(|(_, suffix)| suffix.to_string())
        else {
            return Err(SmError::InvalidParameter(
                "The replicated state has no secret ARN.".into(),
            ));
        };
        let mut given: HashMap<String, _> = HashMap::new();
        for v in input.values.iter().flatten() {
            let value = decode_value(v.secret_string.clone(), v.secret_binary.clone())?
                .ok_or_else(|| {
                    SmError::InvalidParameter(format!("Version {} has no value.", v.version_id))
                })?;
            given.insert(v.version_id.clone(), value);
        }
        let key_id = self.key_id_for(input.kms_key_id.as_deref().filter(|k| !k.is_empty()))?;
        let _serialised = self.lock_secret(&name).await;
        let existing = self.store.secret(SecretKey::Name(&name)).await?;
        let decision = remote_replica_write(
            existing.as_ref(),
            &primary_region,
            sequence,
            input.force_overwrite_replica_secret == Some(true),
        )?;
        let mut answer = PutReplicaSecretResponse {
            arn: existing.as_ref().map(|e| e.arn.clone()),
            name: Some(name.clone()),
            applied: Some(false),
            last_accessed_date: existing.as_ref().and_then(|e| e.last_accessed_ms).map(ts),
            missing_values: None,
        };
        let keep = match decision {
            ReplicaWrite::Stale => return Ok(answer),
            ReplicaWrite::Replace => existing,
            ReplicaWrite::Create | ReplicaWrite::Overwrite => None,
        };
        let mut replica = incoming;
        replica.arn = keep.as_ref().map_or_else(
            || format!("{}{suffix}", self.arn_prefix()),
            |e| e.arn.clone(),
        );
        replica.kms_key_id = input.kms_key_id.clone().filter(|k| !k.is_empty());
        replica.replication = replication::Replication {
            primary_region: Some(primary_region),
            replicas: Vec::new(),
            primary_sequence: Some(sequence),
        };
        // Rotation runs on the primary; the replica shows its configuration only.
        replica.rotation.next_rotation_ms = None;
        replica.last_accessed_ms = keep.as_ref().and_then(|e| e.last_accessed_ms);
        let (mut new_values, mut resealed, mut missing) = (Vec::new(), Vec::new(), Vec::new());
        for v in replica.versions.iter_mut() {
            let before = keep.as_ref().and_then(|e| e.version(&v.id));
            v.last_accessed_ms = before.and_then(|b| b.last_accessed_ms);
            if !v.has_value {
                v.kms_key_id = None;
                continue;
            }
            let held =
                before.is_some_and(|b| b.has_value && b.kms_key_id.as_deref() == Some(&key_id));
            v.kms_key_id = Some(key_id.clone());
            match given.get(&v.id) {
                Some(value) => {
                    let sealed = self.seal(&key_id, &replica.arn, &v.id, value)?;
                    if before.is_some_and(|b| b.has_value) {
                        resealed.push((v.id.clone(), sealed));
                    } else {
                        new_values.push((v.id.clone(), sealed));
                    }
                }
                None if held => {}
                None => missing.push(v.id.clone()),
            }
        }
        if !missing.is_empty() {
            answer.missing_values = Some(missing);
            return Ok(answer);
        }
        if decision == ReplicaWrite::Overwrite
            && let Some(other) = self.store.secret(SecretKey::Name(&name)).await?
        {
            self.store.purge(&other.arn).await?;
        }
        replica.revision = keep.as_ref().map_or(1, |e| e.revision + 1);
        self.store
            .commit(SecretWrite {
                expected_revision: keep.as_ref().map(|e| e.revision),
                secret: replica.clone(),
                new_values,
                resealed,
                stored_versions: None,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict => super::busy(),
                e => e.into(),
            })?;
        answer.arn = Some(replica.arn);
        answer.applied = Some(true);
        answer.last_accessed_date = replica.last_accessed_ms.map(ts);
        Ok(answer)
    }

    /// DeleteReplicaSecret, on the peer: remove the replica of `primaryRegion`'s primary (a
    /// secret of that name that is not its replica, e.g. one promoted since, stays).
    pub(super) async fn delete_replica_secret(
        &self,
        input: &DeleteReplicaSecretRequest,
    ) -> Result<DeleteReplicaSecretResponse, SmError> {
        let name = validate::required("name", input.name.clone())?;
        let primary_region = validate::required("primaryRegion", input.primary_region.clone())?;
        let _serialised = self.lock_secret(&name).await;
        let existing = self.store.secret(SecretKey::Name(&name)).await?;
        let mut out = DeleteReplicaSecretResponse {
            arn: existing.as_ref().map(|e| e.arn.clone()),
            name: Some(name),
            deleted: Some(false),
        };
        if let Some(e) = existing
            && e.replication.primary_region.as_deref() == Some(primary_region.as_str())
        {
            self.store.purge(&e.arn).await?;
            tracing::info!(secret_arn = %e.arn, "replica of a peer deployment's primary removed");
            out.deleted = Some(true);
        }
        Ok(out)
    }
}

/// What a successful delivery leaves the primary knowing.
struct PeerAnswer {
    /// Versions whose values the peer now holds.
    held: Vec<String>,
    last_accessed_ms: Option<i64>,
}
