//! RotateSecret and CancelRotateSecret, and the bookkeeping the rotation runner
//! (`crate::rotation`) asks of the service. The rules (schedule, in-progress) live in
//! `strongroom_domain::rotation`; running a rotation function's steps lives in the runner.

use strongroom_domain::rotation::{self, Begin, RotationError, RotationRules};
use strongroom_domain::secret::Millis;

use super::shapes::{
    CancelRotateSecretRequest, CancelRotateSecretResponse, DescribeSecretResponse,
    GetSecretValueRequest, PutSecretValueRequest, RotateSecretRequest, RotateSecretResponse,
    RotationRulesType, UpdateSecretVersionStageRequest,
};
use super::ts;
use super::values::new_version_id;
use super::{SecretsManager, SmError, validate};
use strongroom_store::SecretKey;

/// A rotation for the runner to carry out: the function's steps for this secret and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationJob {
    pub secret_arn: String,
    pub secret_name: String,
    pub token: String,
    pub lambda_arn: String,
    /// RotateImmediately=false: only the function's testSecret step, against an AWSPENDING
    /// copy of the current value that is removed afterwards (AWS's configuration test).
    pub test_only: bool,
}

/// How a rotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    /// A manual write made another version AWSCURRENT while it ran.
    Abandoned,
}

/// Failed rotations are tried again this long after the failure.
pub const RETRY_MS: Millis = 60 * 60 * 1000;

impl From<RotationError> for SmError {
    fn from(e: RotationError) -> Self {
        match e {
            RotationError::Invalid(m) => SmError::InvalidParameter(m),
            other => SmError::InvalidRequest(other.to_string()),
        }
    }
}

/// The rotation members of DescribeSecret / ListSecrets.
pub(super) fn describe(r: &rotation::Rotation) -> DescribeSecretResponse {
    let configured = r.lambda_arn.is_some();
    DescribeSecretResponse {
        rotation_enabled: configured.then_some(r.enabled),
        rotation_lambda_arn: r.lambda_arn.clone(),
        rotation_rules: r.rules.as_ref().map(|x| RotationRulesType {
            automatically_after_days: x.automatically_after_days,
            duration: x.duration.clone(),
            schedule_expression: x.schedule_expression.clone(),
        }),
        last_rotated_date: r.last_rotated_ms.map(ts),
        next_rotation_date: r.next_rotation_date().map(ts),
        ..Default::default()
    }
}

/// Where RotateSecret sends the rotations it starts, and which rotation functions exist
/// (configured on the server; see `crate::rotation`).
pub struct RotationQueue {
    pub functions: Vec<String>,
    pub jobs: tokio::sync::mpsc::UnboundedSender<RotationJob>,
    /// The longest a run of a rotation's four steps may take (every function's step timeout,
    /// four times, and a margin): how long a started run claims its rotation.
    pub run_bound_ms: Millis,
    /// This node's id: whose claim a run's is.
    pub node: String,
}

/// Values a write seals: (version id, sealed value).
type NewValues = Vec<(String, strongroom_store::StoredValue)>;

impl SecretsManager {
    /// Connect the rotation runner; until then RotateSecret names no function as known.
    pub fn set_rotation_queue(&self, queue: RotationQueue) {
        let _ = self.rotation_queue.set(queue);
    }

    fn rotation_function_known(&self, arn: &str) -> bool {
        self.rotation_queue
            .get()
            .is_some_and(|q| q.functions.iter().any(|f| f == arn))
    }

    fn queue_rotation(&self, job: RotationJob) {
        match self.rotation_queue.get() {
            Some(q) => {
                let _ = q.jobs.send(job);
            }
            None => {
                tracing::warn!(secret_arn = %job.secret_arn, "no rotation runner: rotation not started")
            }
        }
    }

    pub(super) async fn rotate_secret(
        &self,
        input: RotateSecretRequest,
        gate: &super::Gate<'_>,
    ) -> Result<RotateSecretResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        validate::client_request_token(input.client_request_token.as_deref())?;
        if input.external_secret_rotation_metadata.is_some() {
            return Err(SmError::not_available(
                "RotateSecret",
                "managed external rotation",
            ));
        }
        let rules = input.rotation_rules.map(|r| RotationRules {
            automatically_after_days: r.automatically_after_days,
            duration: r.duration,
            schedule_expression: r.schedule_expression,
        });
        if let Some(r) = &rules {
            rotation::check(r)?;
        }
        if let Some(arn) = &input.rotation_lambda_arn {
            validate::length("rotationLambdaARN", arn, 1, 2048)?;
            if !self.rotation_function_known(arn) {
                return Err(SmError::InvalidRequest(format!(
                    "Strongroom has no rotation function {arn}: configure it as a [[rotation-function]] in the server's config file."
                )));
            }
        }
        // As AWS: the caller also needs lambda:InvokeFunction on the rotation function.
        let function = match &input.rotation_lambda_arn {
            Some(arn) => Some(arn.clone()),
            None => self.resolve(&id).await?.rotation.lambda_arn,
        };
        if let Some(function) = &function {
            gate(
                "lambda:InvokeFunction",
                function,
                None,
                Default::default(),
                &[],
            )
            .map_err(SmError::AccessDenied)?;
        }
        let immediately = input.rotate_immediately.unwrap_or(true);
        let token = new_version_id(input.client_request_token);
        let now = self.clock.now_ms();
        // Not rotating now: AWS tests the configuration by running testSecret against an
        // AWSPENDING version holding the current value, removed afterwards. The value is read
        // here and used only if AWSCURRENT has not moved meanwhile.
        let test_value = if immediately {
            None
        } else {
            let current = self.resolve(&id).await?;
            match current.version_with_stage(strongroom_domain::secret::AWSCURRENT) {
                Some(v) => {
                    let vid = v.id.clone();
                    self.open(&current.arn, &vid)
                        .await?
                        .map(|value| (vid, value))
                }
                None => None,
            }
        };

        let (secret, job) = self
            .modify(&id, |s| {
                if s.is_scheduled_for_deletion() {
                    return Err(SmError::marked_for_deletion());
                }
                let lambda_arn = input
                    .rotation_lambda_arn
                    .clone()
                    .or_else(|| s.rotation.lambda_arn.clone())
                    .ok_or_else(|| {
                        SmError::InvalidRequest(
                            "No Lambda rotation function ARN is associated with this secret."
                                .into(),
                        )
                    })?;
                let rules = rules.clone().or_else(|| s.rotation.rules.clone());
                if let Some(r) = &rules {
                    rotation::next_after(r, now)?;
                }
                // A configuration test still running is a rotation in progress (refused);
                // the same test request again is answered as the first was.
                if !rotation::before_start(
                    &mut s.versions,
                    &mut s.rotation,
                    &token,
                    !immediately,
                    now,
                )? {
                    return Ok((None, Vec::new()));
                }
                s.rotation.enabled = true;
                s.rotation.lambda_arn = Some(lambda_arn.clone());
                s.rotation.rules = rules;
                if !immediately {
                    s.rotation.schedule_from(now);
                    return self.begin_test(s, &token, lambda_arn, test_value.as_ref(), now);
                }
                let job = self.begin_rotation(s, &token, lambda_arn, now, true)?;
                Ok((job, Vec::new()))
            })
            .await?;
        let version_id = immediately.then(|| token.clone());
        if let Some(job) = job {
            self.queue_rotation(job);
        }
        Ok(RotateSecretResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
            version_id,
        })
    }

    /// RotateImmediately=false: the schedule is set, and AWS tests the configuration by running
    /// testSecret against an AWSPENDING copy of the current value (`test_value`, read before
    /// the write and used only if AWSCURRENT has not moved meanwhile), removed afterwards.
    fn begin_test(
        &self,
        s: &mut strongroom_domain::Secret,
        token: &str,
        lambda_arn: String,
        test_value: Option<&(String, super::SecretValue)>,
        now: Millis,
    ) -> Result<(Option<RotationJob>, NewValues), SmError> {
        let current = s
            .version_with_stage(strongroom_domain::secret::AWSCURRENT)
            .map(|v| v.id.clone());
        let Some((_, value)) =
            test_value.filter(|(vid, _)| current.as_deref() == Some(vid.as_str()))
        else {
            return Ok((None, Vec::new()));
        };
        // Only a new version: a token naming a rotation in progress (or anything else) must
        // not be overwritten by the test's copy.
        if rotation::begin(&s.versions, token)? != Begin::New {
            return Err(RotationError::InProgress.into());
        }
        // The test claims the secret as a run does: while it runs, its copy is a rotation in
        // progress to RotateSecret, on every node.
        let (bound, node) = self.run_claim();
        rotation::claim_run(&mut s.rotation, Begin::New, now, bound, node);
        s.rotation.test_token = Some(token.to_string());
        let key_id = self.key_id_for(s.kms_key_id.as_deref())?;
        s.versions
            .push(super::values::new_version(token, now, &key_id));
        strongroom_domain::labels::attach_to_new_version(
            &mut s.versions,
            token,
            Some(&[strongroom_domain::secret::AWSPENDING.to_string()]),
        )?;
        let sealed = self.seal(&key_id, &s.arn, token, value)?;
        let job = RotationJob {
            secret_arn: s.arn.clone(),
            secret_name: s.name.clone(),
            token: token.to_string(),
            lambda_arn,
            test_only: true,
        };
        Ok((Some(job), vec![(token.to_string(), sealed)]))
    }

    /// How long a run's claim lasts, and this node's id (see `rotation::claim_run`).
    fn run_claim(&self) -> (Millis, &str) {
        self.rotation_queue
            .get()
            .map_or((0, ""), |q| (q.run_bound_ms, q.node.as_str()))
    }

    /// Start (or resume) the rotation `token` on `s` (`requested`: by RotateSecret, else by
    /// the schedule): the value-less AWSPENDING version if it is new, and a retry time until
    /// the rotation ends (the runner then sets the next one from its outcome), so a rotation
    /// the server stopped in the middle of is resumed.
    fn begin_rotation(
        &self,
        s: &mut strongroom_domain::Secret,
        token: &str,
        lambda_arn: String,
        now: Millis,
        requested: bool,
    ) -> Result<Option<RotationJob>, SmError> {
        // A running configuration test is a rotation in progress; a leftover one goes.
        rotation::before_start(&mut s.versions, &mut s.rotation, token, false, now)?;
        let begin = rotation::begin(&s.versions, token)?;
        let (bound, node) = self.run_claim();
        if !rotation::claim_run(&mut s.rotation, begin, now, bound, node) {
            tracing::debug!(secret_arn = %s.arn, token, "rotation already running (claimed by a run elsewhere)");
            return Ok(None);
        }
        if begin == Begin::New {
            let key_id = self.key_id_for(s.kms_key_id.as_deref())?;
            s.versions
                .push(rotation::pending_version(token, now, Some(key_id)));
            strongroom_domain::labels::attach_to_new_version(
                &mut s.versions,
                token,
                Some(&[strongroom_domain::secret::AWSPENDING.to_string()]),
            )?;
        }
        s.rotation.start(now, RETRY_MS, requested);
        Ok(Some(RotationJob {
            secret_arn: s.arn.clone(),
            secret_name: s.name.clone(),
            token: token.to_string(),
            lambda_arn,
            test_only: false,
        }))
    }

    /// A write that made `new_current` AWSCURRENT during a rotation abandons it (see
    /// `rotation::abandon`); the schedule goes back to the rules rather than the retry.
    pub(super) fn abandon_rotation(
        &self,
        s: &mut strongroom_domain::Secret,
        new_current: &str,
        now: Millis,
    ) -> Option<String> {
        // A configuration test's copy goes quietly: no rotation was abandoned.
        rotation::discard_test(&mut s.versions, &mut s.rotation);
        let token = rotation::abandon(&mut s.versions, new_current)?;
        if s.rotation.enabled {
            s.rotation.schedule_from(now);
        } else {
            s.rotation.stop();
        }
        Some(token)
    }

    pub(super) async fn cancel_rotate_secret(
        &self,
        input: CancelRotateSecretRequest,
    ) -> Result<CancelRotateSecretResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let (secret, ()) = self
            .modify(&id, |s| {
                if s.is_scheduled_for_deletion() {
                    return Err(SmError::marked_for_deletion());
                }
                // As AWS: rotation is turned off; labels a cancelled rotation left are the
                // caller's to tidy (DescribeSecret shows them).
                s.rotation.stop();
                Ok(((), Vec::new()))
            })
            .await?;
        Ok(CancelRotateSecretResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
            version_id: None,
        })
    }

    /// Rotations the schedule says are due now, started (each with a new value-less AWSPENDING
    /// version, or resuming the one a failed rotation left).
    pub async fn start_due_rotations(&self) -> Vec<RotationJob> {
        let now = self.clock.now_ms();
        // Only the secrets the index says are due: a tick never loads every secret.
        let Ok(due) = self.store.due_for_rotation(now).await else {
            return Vec::new();
        };
        let mut jobs = Vec::new();
        for arn in due {
            let Ok(Some(s)) = self.store.secret(SecretKey::Arn(&arn)).await else {
                continue;
            };
            // A configuration test running is no rotation's time.
            if !(s.rotation.enabled
                && !s.is_scheduled_for_deletion()
                && s.rotation.next_rotation_ms.is_some_and(|t| t <= now))
                || rotation::test_running(&s.rotation, now)
            {
                continue;
            }
            let token = rotation::in_progress(&s.versions)
                .filter(|v| s.rotation.test_token.as_deref() != Some(v.id.as_str()))
                .map(|v| v.id.clone())
                .unwrap_or_else(strongroom_domain::names::random_uuid);
            let started = self
                .modify(&s.arn, |s| {
                    let Some(lambda_arn) = s.rotation.lambda_arn.clone() else {
                        return Ok((None, Vec::new()));
                    };
                    let job = self.begin_rotation(s, &token, lambda_arn, now, false)?;
                    Ok((job, Vec::new()))
                })
                .await;
            match started {
                Ok((_, Some(job))) => jobs.push(job),
                Ok((_, None)) => {}
                Err(e) => {
                    tracing::warn!(secret_arn = %s.arn, error = ?e, "could not start a scheduled rotation")
                }
            }
        }
        jobs
    }

    /// After a configuration test: remove its AWSPENDING copy (unless a write made it more).
    pub async fn end_test(&self, job: &RotationJob) {
        let result = self
            .modify(&job.secret_arn, |s| {
                if s.rotation.test_token.as_deref() == Some(job.token.as_str()) {
                    rotation::discard_test(&mut s.versions, &mut s.rotation);
                    s.rotation.running_until_ms = None;
                    s.rotation.running_on = None;
                }
                Ok(((), Vec::new()))
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(secret_arn = %job.secret_arn, error = ?e, "could not remove a rotation test's AWSPENDING version");
        }
    }

    /// Record how a rotation ended: whether its version became AWSCURRENT (the function's
    /// finishSecret step), and when the next one is due.
    pub async fn finish_rotation(&self, job: &RotationJob, steps_ok: bool) -> Outcome {
        let now = self.clock.now_ms();
        if let Ok(s) = self.resolve(&job.secret_arn).await
            && rotation::abandoned(&s.versions, &job.token)
        {
            // A manual write took over (its RotationAbandoned event is recorded); the schedule
            // was already reset by it.
            return Outcome::Abandoned;
        }
        let result = self
            .modify(&job.secret_arn, |s| {
                let ok = steps_ok && rotation::succeeded(&s.versions, &job.token);
                s.rotation.running_until_ms = None;
                s.rotation.running_on = None;
                if ok {
                    s.rotation.last_rotated_ms = Some(now);
                    s.rotation.schedule_from(now);
                } else {
                    s.rotation.failed(now, RETRY_MS);
                }
                Ok((ok, Vec::new()))
            })
            .await;
        match result {
            Ok((_, true)) => Outcome::Succeeded,
            Ok((_, false)) => Outcome::Failed,
            Err(e) => {
                tracing::warn!(secret_arn = %job.secret_arn, error = ?e, "could not record a rotation's outcome");
                Outcome::Failed
            }
        }
    }
}

/// What the built-in rotators (`crate::rotation::builtin`) do through the service, as a
/// rotation function would through the API.
impl SecretsManager {
    /// The SecretString of the version with `stage` (and `version_id`, if given); `None` if
    /// there is none (a value-less AWSPENDING version, say).
    pub async fn rotation_value(
        &self,
        arn: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<Option<zeroize::Zeroizing<String>>, SmError> {
        let input = GetSecretValueRequest {
            secret_id: Some(arn.to_string()),
            version_id: version_id.map(str::to_string),
            version_stage: Some(stage.to_string()),
        };
        match self.get_secret_value(input, None, &super::open_gate).await {
            Ok(out) => Ok(out
                .secret_string
                .map(|s| zeroize::Zeroizing::new(s.to_string()))),
            Err(SmError::ResourceNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The full ARN of the secret `id` (a name or an ARN) names.
    pub async fn secret_arn(&self, id: &str) -> Result<String, SmError> {
        Ok(self.resolve(id).await?.arn)
    }

    /// Fill the rotation's AWSPENDING version (createSecret).
    pub async fn set_pending_value(
        &self,
        arn: &str,
        token: &str,
        value: &str,
    ) -> Result<(), SmError> {
        self.put_secret_value(PutSecretValueRequest {
            secret_id: Some(arn.to_string()),
            client_request_token: Some(token.to_string()),
            secret_string: Some(value.to_string().into()),
            version_stages: Some(vec![strongroom_domain::secret::AWSPENDING.to_string()]),
            ..Default::default()
        })
        .await
        .map(|_| ())
    }

    /// Make the rotation's version AWSCURRENT (finishSecret).
    pub async fn promote(&self, arn: &str, token: &str) -> Result<(), SmError> {
        let secret = self.resolve(arn).await?;
        let current = secret
            .version_with_stage(strongroom_domain::secret::AWSCURRENT)
            .map(|v| v.id.clone());
        if current.as_deref() == Some(token) {
            return Ok(());
        }
        // A manual write abandoned the rotation meanwhile: its version must not come back.
        if rotation::abandoned(&secret.versions, token) {
            return Err(SmError::InvalidRequest(
                "the rotation was abandoned: a new AWSCURRENT version was written meanwhile".into(),
            ));
        }
        self.update_secret_version_stage(UpdateSecretVersionStageRequest {
            secret_id: Some(arn.to_string()),
            version_stage: Some(strongroom_domain::secret::AWSCURRENT.to_string()),
            remove_from_version_id: current,
            move_to_version_id: Some(token.to_string()),
        })
        .await
        .map(|_| ())
    }
}
