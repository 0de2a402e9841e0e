//! The web console's listing of secrets: ListSecrets plus what AWS's API has no values for —
//! SortBy `description` and `next-rotation-date` (secrets without rotation last), and a
//! `RotationEnabled` filter — paged from the store's indexes like ListSecrets' own sorts.
//!
//! ListSecrets' wire contract stays AWS's (its SortBy enum refuses these values): this is a
//! separate [`Service`] that only the console reaches (`pipeline::front::list_secrets_as`;
//! `http/` never dispatches to it). It runs through the same pipeline as ListSecrets and is
//! the same call to IAM and to the audit log: it authorizes `secretsmanager:ListSecrets` on
//! `*` as the signed-in principal and is recorded as a `ListSecrets` event (its request
//! parameters as asked, extensions included).

use serde::{Deserialize, Serialize};

use super::shapes::ListSecretsRequest;
use super::{SecretsManager, SmError};
use crate::audit::Call;
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::pipeline::{Authorization, Ctx, Operation, Output, Service, Wire, json_body};

/// The console's listing, over a region's Secrets Manager.
pub struct ConsoleListing<'a>(pub &'a SecretsManager);

/// Its one operation, named as the API call it is.
#[derive(Debug, Clone, Copy)]
pub struct ListSecrets;

impl Operation for ListSecrets {
    fn name(self) -> &'static str {
        "ListSecrets"
    }
    fn from_name(name: &str) -> Option<Self> {
        (name == "ListSecrets").then_some(ListSecrets)
    }
    fn read_only(self) -> bool {
        true
    }
}

/// ListSecrets' input; SortBy may also be `description` or `next-rotation-date`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConsoleListInput {
    #[serde(flatten)]
    pub request: ListSecretsRequest,
    /// Only secrets whose rotation is on (`true`) or off (`false`).
    #[serde(
        rename = "RotationEnabled",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotation_enabled: Option<bool>,
}

impl Service for ConsoleListing<'_> {
    type Op = ListSecrets;
    type Input = ConsoleListInput;
    type Resolved = ();
    const EVENT_SOURCE: &'static str = "secretsmanager.amazonaws.com";

    fn parse(&self, _op: ListSecrets, wire: Wire) -> Result<ConsoleListInput, ApiError> {
        crate::services::input::parse(&json_body(wire))
            .map_err(|m| SmError::Serialization(m).into())
    }

    async fn checks(
        &self,
        _op: ListSecrets,
        _input: &ConsoleListInput,
        principal: &Principal,
    ) -> Authorization<()> {
        if principal.is_root() {
            return Authorization::none();
        }
        // As SecretsManager::authorization_target authorizes ListSecrets.
        Authorization::one("secretsmanager:ListSecrets".into(), "*".into())
    }

    async fn execute(
        &self,
        _op: ListSecrets,
        input: &ConsoleListInput,
        _resolved: (),
        _ctx: &mut Ctx<'_>,
    ) -> Result<Output, ApiError> {
        let out = self
            .0
            .console_list_secrets(input.request.clone(), input.rotation_enabled)
            .await;
        super::respond(out)
            .map(Output::Json)
            .map_err(ApiError::from)
    }

    async fn audit(
        &self,
        op: ListSecrets,
        input: &ConsoleListInput,
        result: Result<&Output, &ApiError>,
        call: &mut Call,
    ) {
        let response = match result {
            Ok(Output::Json(b)) => Some(b.as_slice()),
            _ => None,
        };
        let params = serde_json::to_value(input).unwrap_or_default();
        super::audit_details(op.name(), params, response, None, call);
    }
}
