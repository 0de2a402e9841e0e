//! IAM's errors, mapped to AWS's Query error codes in one place.

use http::StatusCode;

use crate::error::ApiError;
use crate::iam::directory::DirectoryError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamError {
    NoSuchEntity(String),
    EntityAlreadyExists(String),
    DeleteConflict(String),
    LimitExceeded(String),
    MalformedPolicyDocument(String),
    PasswordPolicyViolation(String),
    InvalidUserType(String),
    AccessDenied(String),
    Validation(String),
    InvalidAction(String),
    Internal,
}

impl From<IamError> for ApiError {
    fn from(e: IamError) -> Self {
        let (status, code, msg) = match e {
            IamError::NoSuchEntity(m) => (StatusCode::NOT_FOUND, "NoSuchEntity", m),
            IamError::EntityAlreadyExists(m) => (StatusCode::CONFLICT, "EntityAlreadyExists", m),
            IamError::DeleteConflict(m) => (StatusCode::CONFLICT, "DeleteConflict", m),
            IamError::LimitExceeded(m) => (StatusCode::CONFLICT, "LimitExceeded", m),
            IamError::MalformedPolicyDocument(m) => {
                (StatusCode::BAD_REQUEST, "MalformedPolicyDocument", m)
            }
            IamError::PasswordPolicyViolation(m) => {
                (StatusCode::BAD_REQUEST, "PasswordPolicyViolation", m)
            }
            IamError::InvalidUserType(m) => (StatusCode::BAD_REQUEST, "InvalidUserType", m),
            IamError::AccessDenied(m) => (StatusCode::FORBIDDEN, "AccessDenied", m),
            IamError::Validation(m) => (StatusCode::BAD_REQUEST, "ValidationError", m),
            IamError::InvalidAction(m) => (StatusCode::BAD_REQUEST, "InvalidAction", m),
            IamError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceFailure",
                "The request processing has failed because of an unknown error.".to_string(),
            ),
        };
        ApiError::new(status, code, msg)
    }
}

impl From<DirectoryError> for IamError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NoSuchEntity(m) => IamError::NoSuchEntity(m),
            DirectoryError::EntityAlreadyExists(m) => IamError::EntityAlreadyExists(m),
            DirectoryError::DeleteConflict(m) => IamError::DeleteConflict(m),
            DirectoryError::LimitExceeded(m) => IamError::LimitExceeded(m),
            DirectoryError::MalformedPolicyDocument(m) => IamError::MalformedPolicyDocument(m),
            DirectoryError::PasswordPolicyViolation(m) => IamError::PasswordPolicyViolation(m),
            DirectoryError::AccessDenied(m) => IamError::AccessDenied(m),
            DirectoryError::Internal => IamError::Internal,
        }
    }
}
