//! AWS STS (Query protocol, `Version=2011-06-15`): GetCallerIdentity. AssumeRole and
//! GetSessionToken answer with an error naming what is missing.

use crate::credentials::Principal;
use crate::error::ApiError;
use crate::http::query::escape;

pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub fn call(action: &str, caller: &Principal) -> Result<Option<String>, ApiError> {
    match action {
        // Needs no permission, as in AWS.
        "GetCallerIdentity" => Ok(Some(format!(
            "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
            escape(&caller.arn),
            escape(caller.user_id()),
            caller.account_id
        ))),
        other => Err(ApiError::bad_request(
            "InvalidAction",
            format!(
                "STS action {other} is not available in this Strongroom version: temporary credentials are not implemented yet."
            ),
        )),
    }
}
