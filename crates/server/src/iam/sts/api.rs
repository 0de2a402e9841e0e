//! STS behind the request pipeline ([`crate::pipeline::Service`]).

use super::Sts;
use super::ops::Op;
use crate::audit::{Call, CallResource, ROLE_RESOURCE_TYPE, USER_RESOURCE_TYPE};
use crate::credentials::Principal;
use crate::credentials::PrincipalKind;
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
    /// The record names the role AssumeRole asks for (also when refused) and the user whose
    /// session GetSessionToken issues, as CloudTrail's `resources` do, so lookups by
    /// ResourceName find them.
    async fn checks(&self, op: Op, params: &Params, principal: &Principal) -> Authorization<()> {
        let mut a = Authorization::none();
        a.resource = match op {
            Op::AssumeRole => params
                .get("RoleArn")
                .filter(|arn| !arn.is_empty())
                .map(|arn| CallResource {
                    arn: arn.clone(),
                    kind: ROLE_RESOURCE_TYPE,
                    name: None,
                }),
            Op::GetSessionToken => {
                matches!(principal.kind, PrincipalKind::User { .. }).then(|| CallResource {
                    arn: principal.arn.clone(),
                    kind: USER_RESOURCE_TYPE,
                    name: None,
                })
            }
            _ => None,
        };
        a
    }

    async fn execute(
        &self,
        op: Op,
        params: &Params,
        _: (),
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        self.call(
            op,
            params,
            ctx.principal,
            ctx.authz,
            ctx.info,
            &mut ctx.response_elements,
        )
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
