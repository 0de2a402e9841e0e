//! Secrets Manager behind the request pipeline ([`crate::pipeline::Service`]).

use strongroom_domain::secret::Secret;
use zeroize::Zeroizing;

use super::SecretsManager;
use super::ops::Op;
use crate::audit::{Call, CallResource, SECRET_RESOURCE_TYPE};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire};
use crate::services::Check;

impl Service for SecretsManager {
    type Op = Op;
    /// The JSON body as sent: each operation deserializes its own typed input.
    type Input = Zeroizing<Vec<u8>>;
    /// The secret the request names, resolved while authorizing (read once).
    type Resolved = Option<Secret>;
    const EVENT_SOURCE: &'static str = "secretsmanager.amazonaws.com";

    fn parse(&self, _op: Op, wire: Wire) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        Ok(crate::pipeline::json_body(wire))
    }

    async fn checks(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        principal: &Principal,
    ) -> Authorization<Option<Secret>> {
        // Root may do everything: its hot path skips building the policy context.
        if principal.is_root() {
            return Authorization::none();
        }
        let mut t = self.authorization_target(op.name(), body).await;
        let secret = t.secret.take();
        Authorization {
            checks: vec![Check {
                action: t.action,
                resource: t.resource,
                keys: t.keys,
                policy: t.resource_policy,
            }],
            // A refused call is still recorded against the secret it named (by its ARN).
            resource: secret.as_ref().map(|s| CallResource {
                arn: s.arn.clone(),
                kind: SECRET_RESOURCE_TYPE,
                name: Some(s.name.clone()),
            }),
            resolved: secret,
        }
    }

    async fn execute(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        resolved: Option<Secret>,
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let gate = ctx.gate;
        let check = |a: &str, r: &str, p: Option<&str>, k| gate.check(a, r, p, k);
        let out = self
            .call_with(op, ctx.principal, body, &check, resolved, &mut ctx.events)
            .await
            .map_err(ApiError::from)?;
        if let Some(event) = deletion_event(op, body, &out) {
            ctx.events.push(event);
        }
        Ok(Output::Json(out))
    }

    async fn audit(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        let mut named = call
            .resource
            .take()
            .map(|r| (r.arn, r.name.unwrap_or_default()));
        if named.is_none() && result.is_ok() {
            named = self.touched(op.name(), body).await;
        }
        let response = match result {
            Ok(Output::Json(b)) => Some(b.as_slice()),
            _ => None,
        };
        super::audit_details(op.name(), body, response, named, call);
    }
}

/// Secrets Manager records the start, cancellation and end of a secret's deletion as service
/// events beside the API calls that cause them: StartSecretVersionDelete (DeleteSecret with a
/// recovery window), EndSecretVersionDelete (forced), CancelSecretVersionDelete (RestoreSecret).
fn deletion_event(op: Op, body: &[u8], out: &[u8]) -> Option<crate::audit::ServiceEvent> {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Forced {
        force_delete_without_recovery: Option<bool>,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(rename = "ARN")]
        arn: String,
        #[serde(rename = "Name")]
        name: String,
    }
    let name = match op {
        Op::DeleteSecret => {
            let forced = serde_json::from_slice::<Forced>(body)
                .unwrap_or_default()
                .force_delete_without_recovery
                == Some(true);
            if forced {
                "EndSecretVersionDelete"
            } else {
                "StartSecretVersionDelete"
            }
        }
        Op::RestoreSecret => "CancelSecretVersionDelete",
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
