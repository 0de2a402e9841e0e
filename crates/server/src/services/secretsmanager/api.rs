//! Secrets Manager behind the request pipeline ([`crate::pipeline::Service`]).

use std::sync::Arc;

use strongroom_domain::secret::Secret;

use super::ops::Op;
use super::shapes::Input;
use super::{SecretsManager, SmError, TargetRequest};
use crate::audit::{Call, CallResource, SECRET_RESOURCE_TYPE};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire, json_body};
use crate::services::Check;

impl Service for SecretsManager {
    type Op = Op;
    type Input = Input;
    /// The secret the request names, resolved while authorizing (read once).
    type Resolved = Option<Arc<Secret>>;
    const EVENT_SOURCE: &'static str = "secretsmanager.amazonaws.com";

    fn parse(&self, op: Op, wire: Wire) -> Result<Input, ApiError> {
        Input::parse(op, &json_body(wire)).map_err(|m| SmError::Serialization(m).into())
    }

    async fn checks(
        &self,
        op: Op,
        input: &Input,
        principal: &Principal,
    ) -> Authorization<Option<Arc<Secret>>> {
        let named = |secret: Option<Arc<Secret>>, checks| Authorization {
            checks,
            // A refused call is still recorded against the secret it named (by its ARN).
            resource: secret.as_ref().map(|s| CallResource {
                arn: s.arn.clone(),
                kind: SECRET_RESOURCE_TYPE,
                name: Some(s.name.clone()),
            }),
            resolved: secret,
        };
        // Root may do everything: its hot path builds no policy context. The secret the
        // request names is still resolved here, once, as for everyone else: the operation
        // uses it, and the record names it without parsing the response again (for
        // GetSecretValue, a response holding the value).
        if principal.is_root() {
            let secret = match target(op, input).secret_id {
                Some(id) => self.resolve_shared(id).await.ok(),
                None => None,
            };
            return named(secret, Vec::new());
        }
        let mut t = self.authorization_target(&target(op, input)).await;
        let secret = t.secret.take();
        let check = Check {
            action: t.action,
            resource: t.resource,
            keys: t.keys,
            policy: t.resource_policy,
            grantees: Vec::new(),
        };
        named(secret, vec![check])
    }

    async fn execute(
        &self,
        _op: Op,
        input: &Input,
        resolved: Option<Arc<Secret>>,
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let gate = ctx.gate;
        let check = |a: &str, r: &str, p: Option<&str>, k, g: &[String]| gate.check(a, r, p, k, g);
        let out = self
            .call(input, &check, resolved, &mut ctx.events)
            .await
            .map_err(ApiError::from)?;
        if let Some(event) = deletion_event(input, &out) {
            ctx.events.push(event);
        }
        Ok(Output::Json(out))
    }

    async fn audit(
        &self,
        op: Op,
        input: &Input,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        let mut named = call
            .resource
            .take()
            .map(|r| (r.arn, r.name.unwrap_or_default()));
        if named.is_none() && result.is_ok() {
            named = self.touched(input).await;
        }
        let response = match result {
            Ok(Output::Json(b)) => Some(b.as_slice()),
            _ => None,
        };
        super::audit_details(op.name(), input.to_json(), response, named, call);
    }
}

/// The members of a request its authorization depends on.
fn target<'a>(op: Op, input: &'a Input) -> TargetRequest<'a> {
    let mut t = TargetRequest {
        operation: op.name(),
        ..Default::default()
    };
    match input {
        Input::CreateSecret(i) => {
            t.name = i.name.as_deref();
            t.tags = i.tags.as_deref();
        }
        Input::TagResource(i) => {
            t.secret_id = i.secret_id.as_deref();
            t.tags = i.tags.as_deref();
        }
        Input::GetSecretValue(i) => {
            t.secret_id = i.secret_id.as_deref();
            t.version_id = i.version_id.as_deref();
            t.version_stage = i.version_stage.as_deref();
        }
        Input::UpdateSecretVersionStage(i) => {
            t.secret_id = i.secret_id.as_deref();
            t.version_stage = i.version_stage.as_deref();
        }
        Input::DescribeSecret(i) => t.secret_id = i.secret_id.as_deref(),
        Input::UpdateSecret(i) => t.secret_id = i.secret_id.as_deref(),
        Input::DeleteSecret(i) => t.secret_id = i.secret_id.as_deref(),
        Input::RestoreSecret(i) => t.secret_id = i.secret_id.as_deref(),
        Input::PutSecretValue(i) => t.secret_id = i.secret_id.as_deref(),
        Input::ListSecretVersionIds(i) => t.secret_id = i.secret_id.as_deref(),
        Input::UntagResource(i) => t.secret_id = i.secret_id.as_deref(),
        Input::RotateSecret(i) => t.secret_id = i.secret_id.as_deref(),
        Input::CancelRotateSecret(i) => t.secret_id = i.secret_id.as_deref(),
        Input::PutResourcePolicy(i) => t.secret_id = i.secret_id.as_deref(),
        Input::GetResourcePolicy(i) => t.secret_id = i.secret_id.as_deref(),
        Input::DeleteResourcePolicy(i) => t.secret_id = i.secret_id.as_deref(),
        Input::ValidateResourcePolicy(i) => t.secret_id = i.secret_id.as_deref(),
        Input::ReplicateSecretToRegions(i) => t.secret_id = i.secret_id.as_deref(),
        Input::RemoveRegionsFromReplication(i) => t.secret_id = i.secret_id.as_deref(),
        Input::StopReplicationToReplica(i) => t.secret_id = i.secret_id.as_deref(),
        // A peer deployment's delivery names the replica by its name.
        Input::PutReplicaSecret(i) => t.secret_id = i.name.as_deref(),
        Input::DeleteReplicaSecret(i) => t.secret_id = i.name.as_deref(),
        Input::NotOffered(_, v) => t.secret_id = v.get("SecretId").and_then(|id| id.as_str()),
        Input::ListSecrets(_) | Input::BatchGetSecretValue(_) | Input::GetRandomPassword(_) => {}
    }
    t
}

/// Secrets Manager records the start, cancellation and end of a secret's deletion as service
/// events beside the API calls that cause them: StartSecretVersionDelete (DeleteSecret with a
/// recovery window), EndSecretVersionDelete (forced), CancelSecretVersionDelete (RestoreSecret).
fn deletion_event(input: &Input, out: &[u8]) -> Option<crate::audit::ServiceEvent> {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(rename = "ARN")]
        arn: String,
        #[serde(rename = "Name")]
        name: String,
    }
    let name = match input {
        Input::DeleteSecret(i) if i.force_delete_without_recovery == Some(true) => {
            "EndSecretVersionDelete"
        }
        Input::DeleteSecret(_) => "StartSecretVersionDelete",
        Input::RestoreSecret(_) => "CancelSecretVersionDelete",
        _ => return None,
    };
    let secret: Named = serde_json::from_slice(out).ok()?;
    Some(crate::audit::ServiceEvent {
        service: "secretsmanager",
        name,
        details: serde_json::json!({"secretArn": secret.arn}),
        resource: Some(CallResource {
            arn: secret.arn,
            kind: SECRET_RESOURCE_TYPE,
            name: Some(secret.name),
        }),
    })
}
