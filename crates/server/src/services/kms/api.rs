//! KMS behind the request pipeline ([`crate::pipeline::Service`]).

use strongroom_audit::redact;
use zeroize::Zeroizing;

use super::Kms;
use super::ops::Op;
use crate::audit::{Call, CallResource, KMS_KEY_RESOURCE_TYPE, ServiceEvent};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire};

impl Service for Kms {
    type Op = Op;
    /// The JSON body as sent: each operation deserializes its own typed input.
    type Input = Zeroizing<Vec<u8>>;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "kms.amazonaws.com";

    fn parse(&self, _op: Op, wire: Wire) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        Ok(crate::pipeline::json_body(wire))
    }

    /// Every check the request needs: the key, and for alias operations the alias;
    /// ReEncrypt's source and destination.
    async fn checks(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        _principal: &Principal,
    ) -> Authorization<()> {
        let checks = self.authorization_checks(op.name(), body);
        let resource = checks
            .iter()
            .map(|c| &c.resource)
            .find(|r| r.contains(":key/"))
            .map(|key| key_resource(key.clone()));
        Authorization {
            checks,
            resource,
            resolved: (),
        }
    }

    async fn execute(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        _: (),
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let mut events = Vec::new();
        let out = self.call(op, body, &mut events).await;
        // A key rotation or deletion the call caused, recorded after the call's own record.
        ctx.events.extend(events.into_iter().map(|e| ServiceEvent {
            service: "kms",
            name: e.name,
            details: e.details,
            resource: Some(key_resource(e.key_arn)),
        }));
        Ok(Output::Json(out?))
    }

    async fn audit(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        call.request_parameters =
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .map(|mut v| {
                    // Ciphertexts are not secret but are bulky and say nothing to an auditor.
                    if let Some(o) = v.as_object_mut() {
                        o.remove("CiphertextBlob");
                    }
                    redact::for_record(Self::EVENT_SOURCE, v)
                });
        if op == Op::CreateKey
            && let Ok(Output::Json(out)) = result
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(out)
        {
            if let Some(arn) = v.pointer("/KeyMetadata/Arn").and_then(|a| a.as_str()) {
                call.resource = Some(key_resource(arn.to_string()));
            }
            call.response_elements = Some(redact::for_record(Self::EVENT_SOURCE, v));
        }
    }
}

fn key_resource(arn: String) -> CallResource {
    CallResource {
        arn,
        kind: KMS_KEY_RESOURCE_TYPE,
        name: None,
    }
}
