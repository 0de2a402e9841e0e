//! CloudWatch's errors, mapped to AWS's codes in one place (JSON 1.0 and CBOR name the
//! model's shape as `__type`; Query and query-compatible clients read the code).

use http::StatusCode;

use crate::error::ApiError;

#[derive(Debug)]
pub enum CwError {
    InvalidParameterValue(String),
    MissingParameter(String),
    ResourceNotFound(String),
    Serialization(String),
    UnknownOperation(String),
    InvalidNextToken(String),
    Internal,
}

impl From<CwError> for ApiError {
    fn from(e: CwError) -> Self {
        // JSON 1.0 with awsQueryCompatible: the shape name is the __type; the Query code goes
        // in x-amzn-query-error (set by the HTTP front from `code`).
        let (status, code, message) = match e {
            CwError::InvalidParameterValue(m) => (400, "InvalidParameterValue", m),
            CwError::MissingParameter(m) => (400, "MissingParameter", m),
            CwError::ResourceNotFound(m) => (404, "ResourceNotFound", m),
            CwError::Serialization(m) => (400, "SerializationException", m),
            CwError::UnknownOperation(m) => (400, "UnknownOperationException", m),
            CwError::InvalidNextToken(m) => (400, "InvalidNextToken", m),
            CwError::Internal => return ApiError::internal(),
        };
        ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message,
        )
    }
}
