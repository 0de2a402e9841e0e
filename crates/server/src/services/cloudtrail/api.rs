//! CloudTrail's event history behind the request pipeline ([`crate::pipeline::Service`]).

use super::CloudTrail;
use super::ops::Op;
use crate::audit::Call;
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire};
use zeroize::Zeroizing;

impl Service for CloudTrail {
    type Op = Op;
    /// The JSON body as sent.
    type Input = Zeroizing<Vec<u8>>;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "cloudtrail.amazonaws.com";

    fn parse(&self, _op: Op, wire: Wire) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        Ok(crate::pipeline::json_body(wire))
    }

    async fn checks(
        &self,
        op: Op,
        _body: &Zeroizing<Vec<u8>>,
        _principal: &Principal,
    ) -> Authorization<()> {
        let (action, resource) = CloudTrail::authorization_target(op.name());
        Authorization::one(action, resource)
    }

    async fn execute(
        &self,
        op: Op,
        body: &Zeroizing<Vec<u8>>,
        _: (),
        _ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        Ok(Output::Json(Zeroizing::new(self.call(op, body).await?)))
    }

    /// The parameters also when the call is refused.
    async fn audit(
        &self,
        _op: Op,
        body: &Zeroizing<Vec<u8>>,
        _result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        call.request_parameters = serde_json::from_slice(body)
            .ok()
            .map(|v| strongroom_audit::redact::for_record(Self::EVENT_SOURCE, v));
    }
}
