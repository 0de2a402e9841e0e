//! STS behind the request pipeline ([`crate::pipeline::Service`]).

use super::Sts;
use super::ops::Op;
use crate::audit::Call;
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::http::query::Params;
use crate::pipeline::{Authorization, Ctx, Output, Service, Wire};

impl Service for Sts {
    type Op = Op;
    type Input = Params;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "sts.amazonaws.com";

    fn parse(&self, _op: Op, wire: Wire) -> Result<Params, ApiError> {
        Ok(crate::iam::service::api::query_params(wire))
    }

    /// STS authorizes inside its operations: GetCallerIdentity needs no permission, and
    /// AssumeRole's decision is the role's trust policy together with the caller's policies.
    async fn checks(&self, _op: Op, _params: &Params, _principal: &Principal) -> Authorization<()> {
        Authorization::none()
    }

    async fn execute(
        &self,
        op: Op,
        params: &Params,
        _: (),
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        self.call(op, params, ctx.principal, ctx.authz, ctx.info)
            .map(Output::Xml)
            .map_err(ApiError::from)
    }

    async fn audit(
        &self,
        _op: Op,
        params: &Params,
        _result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        call.request_parameters = Some(crate::audit::form_parameters(Self::EVENT_SOURCE, params));
    }

    fn denied(&self, message: String) -> ApiError {
        crate::pipeline::query_denied(message)
    }
}
