//! IAM behind the request pipeline ([`crate::pipeline::Service`]): Query protocol forms in,
//! the inside of `<ActionResult>` out.

use super::ops::Op;
use super::{Iam, Params};
use crate::audit::Call;
use crate::credentials::{Principal, PrincipalKind};
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire};

impl Service for Iam {
    type Op = Op;
    type Input = Params;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "iam.amazonaws.com";

    fn parse(&self, _op: Op, wire: Wire) -> Result<Params, ApiError> {
        Ok(query_params(wire))
    }

    async fn checks(&self, op: Op, params: &Params, principal: &Principal) -> Authorization<()> {
        let (action, resource) = self.authorization_target(op.name(), params, principal);
        // AllowUsersToChangePassword grants every IAM user ChangePassword (on itself: the
        // operation knows no other user) and GetAccountPasswordPolicy, as a grant does: what
        // no policy allows, though never what one explicitly denies.
        if matches!(op, Op::ChangePassword | Op::GetAccountPasswordPolicy)
            && matches!(principal.kind, PrincipalKind::User { .. })
            && self.users_may_change_passwords()
        {
            let mut a = Authorization::one(action, resource);
            a.checks[0].grantees = vec![principal.arn.clone()];
            return a;
        }
        Authorization::one(action, resource)
    }

    async fn execute(
        &self,
        op: Op,
        params: &Params,
        _: (),
        ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let result = self
            .call(op, params, ctx.principal, ctx.authz, ctx.info)
            .await?;
        Ok(Output::Xml(result))
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

/// A Query service's input: the form fields (JSON bodies carry none).
pub(crate) fn query_params(wire: Wire) -> Params {
    match wire {
        Wire::Query(params) => params,
        Wire::Json(_) | Wire::Cbor(_) => Params::new(),
    }
}
