//! KMS errors, mapped to AWS `__type`s in one place.

use http::StatusCode;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsError {
    AccessDenied(String),
    MalformedPolicyDocument(String),
    NotAuthorized(String),
    NotFound(String),
    AlreadyExists(String),
    InvalidAliasName(String),
    InvalidArn(String),
    InvalidCiphertext(String),
    IncorrectKey(String),
    InvalidKeyUsage(String),
    InvalidMarker(String),
    InvalidGrantId(String),
    InvalidGrantToken(String),
    Disabled(String),
    InvalidState(String),
    LimitExceeded(String),
    Tag(String),
    UnsupportedOperation(String),
    DryRun(String),
    Validation(String),
    Serialization(String),
    UnknownOperation(String),
    Internal,
}

impl KmsError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            Self::NotAuthorized(_) => "NotAuthorizedException",
            Self::NotFound(_) => "NotFoundException",
            Self::AlreadyExists(_) => "AlreadyExistsException",
            Self::InvalidAliasName(_) => "InvalidAliasNameException",
            Self::InvalidArn(_) => "InvalidArnException",
            Self::InvalidCiphertext(_) => "InvalidCiphertextException",
            Self::IncorrectKey(_) => "IncorrectKeyException",
            Self::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            Self::InvalidMarker(_) => "InvalidMarkerException",
            Self::InvalidGrantId(_) => "InvalidGrantIdException",
            Self::InvalidGrantToken(_) => "InvalidGrantTokenException",
            Self::Disabled(_) => "DisabledException",
            Self::InvalidState(_) => "KMSInvalidStateException",
            Self::LimitExceeded(_) => "LimitExceededException",
            Self::Tag(_) => "TagException",
            Self::UnsupportedOperation(_) => "UnsupportedOperationException",
            Self::DryRun(_) => "DryRunOperationException",
            Self::Validation(_) => "ValidationException",
            Self::Serialization(_) => "SerializationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Internal => "KMSInternalException",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::AccessDenied(m)
            | Self::MalformedPolicyDocument(m)
            | Self::NotAuthorized(m)
            | Self::NotFound(m)
            | Self::AlreadyExists(m)
            | Self::InvalidAliasName(m)
            | Self::InvalidArn(m)
            | Self::InvalidCiphertext(m)
            | Self::IncorrectKey(m)
            | Self::InvalidKeyUsage(m)
            | Self::InvalidMarker(m)
            | Self::InvalidGrantId(m)
            | Self::InvalidGrantToken(m)
            | Self::Disabled(m)
            | Self::InvalidState(m)
            | Self::LimitExceeded(m)
            | Self::Tag(m)
            | Self::UnsupportedOperation(m)
            | Self::DryRun(m)
            | Self::Validation(m)
            | Self::Serialization(m)
            | Self::UnknownOperation(m) => m,
            Self::Internal => "An internal error occurred.",
        }
    }
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> Self {
        let status = match e {
            KmsError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.message().to_string())
    }
}

impl From<strongroom_store::StoreError> for KmsError {
    fn from(e: strongroom_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::Internal
    }
}
