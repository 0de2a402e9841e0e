//! KMS behind the request pipeline ([`crate::pipeline::Service`]).

use serde::Serialize;
use strongroom_audit::redact;
use zeroize::Zeroizing;

use super::ops::Op;
use super::shapes::Input;
use super::{KeyEvent, Kms, KmsError};
use crate::audit::{Call, CallResource, KMS_KEY_RESOURCE_TYPE, ServiceEvent};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire, json_body};

impl Service for Kms {
    type Op = Op;
    type Input = Input;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "kms.amazonaws.com";

    fn parse(&self, op: Op, wire: Wire) -> Result<Input, ApiError> {
        Input::parse(op, &json_body(wire)).map_err(|m| KmsError::Serialization(m).into())
    }

    /// Every check the request needs: the key, and for alias operations the alias;
    /// ReEncrypt's source and destination.
    async fn checks(&self, op: Op, input: &Input, _principal: &Principal) -> Authorization<()> {
        let checks = self.authorization_checks(op, input);
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
        _op: Op,
        input: &Input,
        _: (),
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let mut events = Vec::new();
        let out = self.dispatch(input, &mut events).await;
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
        input: &Input,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        let mut parameters = input.to_json();
        // Ciphertexts are not secret but are bulky and say nothing to an auditor.
        if let Some(o) = parameters.as_object_mut() {
            o.remove("CiphertextBlob");
        }
        call.request_parameters = Some(redact::for_record(Self::EVENT_SOURCE, parameters));
        if op == Op::CreateKey
            && let Ok(Output::Json(out)) = result
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(out)
        {
            if let Some(arn) = v.pointer("/KeyMetadata/Arn").and_then(|a| a.as_str()) {
                call.resource = Some(key_resource(arn.to_string()));
            }
            call.response_elements = Some(redact::for_record(Self::EVENT_SOURCE, v));
        }
        // CloudTrail records CreateGrant's grant id; its token only identifies the grant
        // (permission always comes from the caller's identity) and is left out as AWS does.
        if op == Op::CreateGrant
            && let Ok(Output::Json(out)) = result
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(out)
            && let Some(id) = v.get("GrantId")
        {
            call.response_elements = Some(serde_json::json!({ "grantId": id }));
        }
    }
}

impl Kms {
    /// Run one operation on its parsed input: its answer as JSON (`{}` for an operation
    /// without output); `events` receives the service events it caused.
    pub(crate) async fn dispatch(
        &self,
        input: &Input,
        events: &mut Vec<KeyEvent>,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        match input {
            Input::NotOffered(op, _) => Err(KmsError::UnknownOperation(format!(
                "{} is a KMS operation Strongroom does not offer.",
                op.name()
            ))),
            Input::CreateKey(i) => respond(self.create_key(i).await),
            Input::DescribeKey(i) => respond(self.describe_key(i)),
            Input::ListKeys(i) => respond(self.list_keys(i)),
            Input::EnableKey(i) => empty(self.enable_key(i).await),
            Input::DisableKey(i) => empty(self.disable_key(i).await),
            Input::ScheduleKeyDeletion(i) => respond(self.schedule_key_deletion(i).await),
            Input::CancelKeyDeletion(i) => respond(self.cancel_key_deletion(i).await),
            Input::UpdateKeyDescription(i) => empty(self.update_key_description(i).await),
            Input::EnableKeyRotation(i) => empty(self.enable_key_rotation(i).await),
            Input::DisableKeyRotation(i) => empty(self.disable_key_rotation(i).await),
            Input::GetKeyRotationStatus(i) => respond(self.get_key_rotation_status(i)),
            Input::RotateKeyOnDemand(i) => respond(self.rotate_key_on_demand(i, events).await),
            Input::ListKeyRotations(i) => respond(self.list_key_rotations(i)),
            Input::TagResource(i) => empty(self.tag_resource(i).await),
            Input::UntagResource(i) => empty(self.untag_resource(i).await),
            Input::ListResourceTags(i) => respond(self.list_resource_tags(i)),
            Input::GetKeyPolicy(i) => respond(self.get_key_policy(i)),
            Input::ListKeyPolicies(i) => respond(self.list_key_policies(i)),
            Input::PutKeyPolicy(i) => empty(self.put_key_policy(i).await),
            Input::CreateAlias(i) => empty(self.create_alias(i).await),
            Input::UpdateAlias(i) => empty(self.update_alias(i).await),
            Input::DeleteAlias(i) => empty(self.delete_alias(i).await),
            Input::ListAliases(i) => respond(self.list_aliases(i)),
            Input::Encrypt(i) => respond(self.encrypt(i)),
            Input::Decrypt(i) => respond(self.decrypt(i)),
            Input::ReEncrypt(i) => respond(self.re_encrypt(i)),
            Input::GenerateDataKey(i) => respond(self.generate_data_key(i)),
            Input::GenerateDataKeyWithoutPlaintext(i) => {
                respond(self.generate_data_key_without_plaintext(i))
            }
            Input::GenerateRandom(i) => respond(self.generate_random(i)),
            Input::CreateGrant(i) => respond(self.create_grant(i).await),
            Input::ListGrants(i) => respond(self.list_grants(i)),
            Input::ListRetirableGrants(i) => respond(self.list_retirable_grants(i)),
            Input::RetireGrant(i) => empty(self.retire_grant(i).await),
            Input::RevokeGrant(i) => empty(self.revoke_grant(i).await),
        }
    }
}

/// An operation's output shape as JSON, in a zeroizing buffer (Decrypt, GenerateDataKey and
/// GenerateRandom answer plaintext).
fn respond<O: Serialize>(out: Result<O, KmsError>) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    crate::sensitive::to_json(&out?).map_err(|_| KmsError::Internal)
}

/// An operation without an output shape answers `{}`.
fn empty(out: Result<(), KmsError>) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    out?;
    Ok(Zeroizing::new(b"{}".to_vec()))
}

fn key_resource(arn: String) -> CallResource {
    CallResource {
        arn,
        kind: KMS_KEY_RESOURCE_TYPE,
        name: None,
    }
}
