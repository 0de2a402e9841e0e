//! STS errors, mapped to AWS's Query error codes in one place.

use http::StatusCode;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StsError {
    /// 403: the caller may not (trust policy, identity policy, root assuming a role).
    AccessDenied(String),
    InvalidAction(String),
    InvalidParameterValue(String),
    MalformedPolicyDocument(String),
    PackedPolicyTooLarge(String),
    /// The model's constraint messages (`1 validation error detected: ...`).
    Validation(String),
    Internal,
}

impl StsError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDenied",
            Self::InvalidAction(_) => "InvalidAction",
            Self::InvalidParameterValue(_) => "InvalidParameterValue",
            Self::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            Self::PackedPolicyTooLarge(_) => "PackedPolicyTooLarge",
            Self::Validation(_) => "ValidationError",
            Self::Internal => "InternalFailure",
        }
    }
}

impl From<StsError> for ApiError {
    fn from(e: StsError) -> Self {
        let code = e.code();
        match e {
            StsError::AccessDenied(m) => ApiError::new(StatusCode::FORBIDDEN, code, m),
            StsError::Internal => ApiError::internal(),
            StsError::InvalidAction(m)
            | StsError::InvalidParameterValue(m)
            | StsError::MalformedPolicyDocument(m)
            | StsError::PackedPolicyTooLarge(m)
            | StsError::Validation(m) => ApiError::bad_request(code, m),
        }
    }
}
