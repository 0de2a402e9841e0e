//! CloudWatch behind the request pipeline ([`crate::pipeline::Service`]), whichever protocol
//! carried the call: its input is parsed into a JSON 1.0 document (see [`super::protocol`]),
//! and `http/` encodes the JSON answer back into the request's protocol.

use super::ops::Op;
use super::{CloudWatch, protocol};
use crate::audit::Call;
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire};
use zeroize::Zeroizing;

impl Service for CloudWatch {
    type Op = Op;
    /// A JSON 1.0 document.
    type Input = Zeroizing<Vec<u8>>;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "monitoring.amazonaws.com";

    /// CBOR and Query inputs are converted by the offered operations' shapes; an operation
    /// of the model that is not offered here has none, and is refused before authorization
    /// as it was named (JSON 1.0 inputs reach the service, which refuses it).
    fn parse(&self, op: Op, wire: Wire) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let offered = protocol::operation(op.name()).is_some();
        let value = match wire {
            Wire::Json(body) => return Ok(body),
            Wire::Cbor(_) if !offered => {
                return Err(ApiError::bad_request(
                    "UnknownOperationException",
                    format!(
                        "{} is not a CloudWatch operation this server offers.",
                        op.name()
                    ),
                ));
            }
            Wire::Query(_) if !offered => {
                return Err(ApiError::bad_request(
                    "InvalidAction",
                    format!(
                        "The action {} is not valid for this web service.",
                        op.name()
                    ),
                ));
            }
            Wire::Cbor(body) => protocol::cbor_to_json(&body)?,
            Wire::Query(params) => protocol::query_to_json(op.name(), &params)?,
        };
        serde_json::to_vec(&value)
            .map(Zeroizing::new)
            .map_err(|_| ApiError::internal())
    }

    async fn checks(
        &self,
        op: Op,
        input: &Zeroizing<Vec<u8>>,
        _principal: &Principal,
    ) -> Authorization<()> {
        let (action, resource) = self.authorization_target(op.name(), input);
        Authorization::one(action, resource)
    }

    async fn execute(
        &self,
        op: Op,
        input: &Zeroizing<Vec<u8>>,
        _: (),
        _ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        Ok(Output::Json(Zeroizing::new(self.call(op, input).await?)))
    }

    /// The parameters also when the call is refused.
    async fn audit(
        &self,
        op: Op,
        input: &Zeroizing<Vec<u8>>,
        _result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        let params: Option<serde_json::Value> = serde_json::from_slice(input).ok();
        // The alarm a configuration call names is its resource: DescribeAlarmHistory (and
        // LookupEvents by ResourceName) find it by the alarm.
        let named = match op {
            Op::PutMetricAlarm => params.as_ref().and_then(|p| p["AlarmName"].as_str()),
            Op::DeleteAlarms => params
                .as_ref()
                .and_then(|p| p["AlarmNames"].as_array())
                .filter(|n| n.len() == 1)
                .and_then(|n| n[0].as_str()),
            _ => None,
        };
        call.resource = named.map(|n| crate::audit::CallResource {
            arn: self.alarm_arn(n),
            kind: "AWS::CloudWatch::Alarm",
            name: Some(n.to_string()),
        });
        call.request_parameters =
            params.map(|v| strongroom_audit::redact::for_record(Self::EVENT_SOURCE, v));
    }
}
