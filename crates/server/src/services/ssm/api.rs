//! Parameter Store behind the request pipeline ([`crate::pipeline::Service`]).

use serde::Serialize;
use strongroom_audit::redact;
use zeroize::Zeroizing;

use super::ops::Op;
use super::shapes::{Input, PutParameterRequest};
use super::{Ssm, SsmError};
use crate::audit::{Call, CallResource, PARAMETER_RESOURCE_TYPE};
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire, json_body};

impl Service for Ssm {
    type Op = Op;
    type Input = Input;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "ssm.amazonaws.com";

    fn parse(&self, op: Op, wire: Wire) -> Result<Input, ApiError> {
        Input::parse(op, &json_body(wire)).map_err(|m| SsmError::Serialization(m).into())
    }

    /// The operation on every parameter it names (GetParameters: each of them).
    async fn checks(&self, op: Op, input: &Input, _principal: &Principal) -> Authorization<()> {
        let checks = self.authorization_checks(op, input).await;
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
        _op: Op,
        input: &Input,
        _: (),
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let gate = ctx.gate;
        let gate = &|a: &str, r: &str, p: Option<&str>, k, g: &[String]| gate.check(a, r, p, k, g);
        let out = match input {
            Input::NotOffered(op, _) => {
                return Err(SsmError::UnknownOperation(format!(
                    "{} is a Systems Manager operation Strongroom does not offer: it offers Parameter Store's parameter and tag operations.",
                    op.name()
                ))
                .into());
            }
            Input::PutParameter(i) => json(self.put_parameter(i, ctx.principal, gate).await),
            Input::GetParameter(i) => json(self.get_parameter(i, gate).await),
            Input::GetParameters(i) => json(self.get_parameters(i, gate).await),
            Input::GetParametersByPath(i) => json(self.get_parameters_by_path(i, gate).await),
            Input::DeleteParameter(i) => json(self.delete_parameter(i).await),
            Input::DeleteParameters(i) => json(self.delete_parameters(i).await),
            Input::DescribeParameters(i) => json(self.describe_parameters(i).await),
            Input::GetParameterHistory(i) => json(self.get_parameter_history(i, gate).await),
            Input::LabelParameterVersion(i) => json(self.label_parameter_version(i).await),
            Input::UnlabelParameterVersion(i) => json(self.unlabel_parameter_version(i).await),
            Input::AddTagsToResource(i) => json(self.add_tags_to_resource(i).await),
            Input::RemoveTagsFromResource(i) => json(self.remove_tags_from_resource(i).await),
            Input::ListTagsForResource(i) => json(self.list_tags_for_resource(i).await),
        };
        Ok(Output::Json(out?))
    }

    /// The parameters also when the call is refused; a parameter's `Value` never (the
    /// redaction removes SSM's sensitive members).
    async fn audit(
        &self,
        op: Op,
        input: &Input,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        let parameters = match input {
            // The value never enters the JSON document (plain memory) the record is made of.
            Input::PutParameter(i) => serde_json::to_value(PutParameterRequest {
                value: None,
                ..i.clone()
            })
            .unwrap_or_default(),
            other => other.to_json(),
        };
        call.request_parameters = Some(redact::for_record(Self::EVENT_SOURCE, parameters));
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

/// An operation's answer as JSON, in a zeroizing buffer (it may carry a parameter's value).
fn json<O: Serialize>(out: Result<O, SsmError>) -> Result<Zeroizing<Vec<u8>>, SsmError> {
    crate::sensitive::to_json(&out?).map_err(|_| SsmError::Internal)
}
