//! CloudTrail's event history behind the request pipeline ([`crate::pipeline::Service`]).

use super::ops::Op;
use super::shapes::Input;
use super::{CloudTrail, CloudTrailError};
use crate::audit::Call;
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire, json_body};
use zeroize::Zeroizing;

impl Service for CloudTrail {
    type Op = Op;
    type Input = Input;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "cloudtrail.amazonaws.com";

    fn parse(&self, op: Op, wire: Wire) -> Result<Input, ApiError> {
        Input::parse(op, &json_body(wire)).map_err(|m| CloudTrailError::Serialization(m).into())
    }

    /// Event history is account-wide.
    async fn checks(&self, op: Op, _input: &Input, _principal: &Principal) -> Authorization<()> {
        Authorization::one(format!("cloudtrail:{}", op.name()), "*".to_string())
    }

    async fn execute(
        &self,
        _op: Op,
        input: &Input,
        _: (),
        _ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let out = match input {
            Input::LookupEvents(i) => serde_json::to_vec(&self.lookup_events(i).await?),
            Input::NotOffered(op, _) => {
                return Err(CloudTrailError::UnknownOperation(format!(
                    "CloudTrail operation {} is not offered by this server; LookupEvents is.",
                    op.name()
                ))
                .into());
            }
        };
        Ok(Output::Json(Zeroizing::new(
            out.map_err(|_| CloudTrailError::Internal)?,
        )))
    }

    /// The parameters also when the call is refused.
    async fn audit(
        &self,
        _op: Op,
        input: &Input,
        _result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        call.request_parameters = Some(strongroom_audit::redact::for_record(
            Self::EVENT_SOURCE,
            input.to_json(),
        ));
    }
}
