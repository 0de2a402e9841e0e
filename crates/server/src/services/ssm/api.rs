//! Parameter Store behind the request pipeline ([`crate::pipeline::Service`]).

use strongroom_audit::redact;
use zeroize::Zeroizing;

use super::Ssm;
use super::ops::Op;
use crate::audit::{Call, CallResource, PARAMETER_RESOURCE_TYPE};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire};

impl Service for Ssm {
    type Op = Op;
    /// The JSON body as sent: each operation deserializes its own typed input.
    type Input = Zeroizing<Vec<u8>>;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "ssm.amazonaws.com";

    fn parse(&self, _op: Op, wire: Wire) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        Ok(crate::pipeline::json_body(wire))
    }

    /// The operation on every parameter it names (GetParameters: each of them).
    async fn checks(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        _principal: &Principal,
    ) -> Authorization<()> {
        let checks = self.authorization_checks(op.name(), body).await;
        let resource = checks
            .first()
            .filter(|c| c.resource != "*")
            .map(|c| CallResource {
                arn: c.resource.clone(),
                kind: PARAMETER_RESOURCE_TYPE,
                name: None,
            });
        Authorization {
            checks,
            resource,
            resolved: (),
        }
    }

    /// The call authorizes, through the gate, the KMS and Secrets Manager use it makes.
    async fn execute(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        _: (),
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let gate = ctx.gate;
        let check = |a: &str, r: &str, p: Option<&str>, k, g: &[String]| gate.check(a, r, p, k, g);
        Ok(Output::Json(
            self.call(op, ctx.principal, body, &check).await?,
        ))
    }

    async fn audit(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        call.request_parameters = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .map(|v| redact::for_record(Self::EVENT_SOURCE, v));
        if let Ok(Output::Json(out)) = result
            && !op.read_only()
        {
            call.response_elements = serde_json::from_slice::<serde_json::Value>(out)
                .ok()
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                .map(|v| redact::for_record(Self::EVENT_SOURCE, v));
        }
    }
}
