//! Parameter Store errors, mapped to AWS `__type`s in one place.

use http::StatusCode;
use strongroom_domain::parameters::ParamError;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsmError {
    AccessDenied(String),
    ParameterNotFound(String),
    ParameterVersionNotFound(String),
    ParameterAlreadyExists(String),
    ParameterMaxVersionLimitExceeded(String),
    ParameterVersionLabelLimitExceeded(String),
    HierarchyLevelLimitExceeded(String),
    InvalidAllowedPattern(String),
    ParameterPatternMismatch(String),
    UnsupportedParameterType(String),
    InvalidKeyId(String),
    InvalidPolicyType(String),
    InvalidPolicyAttribute(String),
    PoliciesLimitExceeded(String),
    InvalidFilterKey(String),
    InvalidFilterOption(String),
    InvalidFilterValue(String),
    InvalidNextToken(String),
    InvalidResourceType(String),
    InvalidResourceId(String),
    TooManyTags(String),
    TooManyUpdates(String),
    Validation(String),
    Serialization(String),
    UnknownOperation(String),
    Internal,
}

impl SsmError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::ParameterNotFound(_) => "ParameterNotFound",
            Self::ParameterVersionNotFound(_) => "ParameterVersionNotFound",
            Self::ParameterAlreadyExists(_) => "ParameterAlreadyExists",
            Self::ParameterMaxVersionLimitExceeded(_) => "ParameterMaxVersionLimitExceeded",
            Self::ParameterVersionLabelLimitExceeded(_) => "ParameterVersionLabelLimitExceeded",
            Self::HierarchyLevelLimitExceeded(_) => "HierarchyLevelLimitExceededException",
            Self::InvalidAllowedPattern(_) => "InvalidAllowedPatternException",
            Self::ParameterPatternMismatch(_) => "ParameterPatternMismatchException",
            Self::UnsupportedParameterType(_) => "UnsupportedParameterType",
            Self::InvalidKeyId(_) => "InvalidKeyId",
            Self::InvalidPolicyType(_) => "InvalidPolicyTypeException",
            Self::InvalidPolicyAttribute(_) => "InvalidPolicyAttributeException",
            Self::PoliciesLimitExceeded(_) => "PoliciesLimitExceededException",
            Self::InvalidFilterKey(_) => "InvalidFilterKey",
            Self::InvalidFilterOption(_) => "InvalidFilterOption",
            Self::InvalidFilterValue(_) => "InvalidFilterValue",
            Self::InvalidNextToken(_) => "InvalidNextToken",
            Self::InvalidResourceType(_) => "InvalidResourceType",
            Self::InvalidResourceId(_) => "InvalidResourceId",
            Self::TooManyTags(_) => "TooManyTagsError",
            Self::TooManyUpdates(_) => "TooManyUpdates",
            Self::Validation(_) => "ValidationException",
            Self::Serialization(_) => "SerializationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Internal => "InternalServerError",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::AccessDenied(m)
            | Self::ParameterNotFound(m)
            | Self::ParameterVersionNotFound(m)
            | Self::ParameterAlreadyExists(m)
            | Self::ParameterMaxVersionLimitExceeded(m)
            | Self::ParameterVersionLabelLimitExceeded(m)
            | Self::HierarchyLevelLimitExceeded(m)
            | Self::InvalidAllowedPattern(m)
            | Self::ParameterPatternMismatch(m)
            | Self::UnsupportedParameterType(m)
            | Self::InvalidKeyId(m)
            | Self::InvalidPolicyType(m)
            | Self::InvalidPolicyAttribute(m)
            | Self::PoliciesLimitExceeded(m)
            | Self::InvalidFilterKey(m)
            | Self::InvalidFilterOption(m)
            | Self::InvalidFilterValue(m)
            | Self::InvalidNextToken(m)
            | Self::InvalidResourceType(m)
            | Self::InvalidResourceId(m)
            | Self::TooManyTags(m)
            | Self::TooManyUpdates(m)
            | Self::Validation(m)
            | Self::Serialization(m)
            | Self::UnknownOperation(m) => m,
            Self::Internal => "An error occurred on the server side.",
        }
    }
}

impl From<SsmError> for ApiError {
    fn from(e: SsmError) -> Self {
        let status = match e {
            SsmError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.message().to_string())
    }
}

impl From<ParamError> for SsmError {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::Validation(m) => Self::Validation(m),
            ParamError::HierarchyLevel(m) => Self::HierarchyLevelLimitExceeded(m),
            ParamError::MaxVersions(m) => Self::ParameterMaxVersionLimitExceeded(m),
            ParamError::LabelLimit(m) => Self::ParameterVersionLabelLimitExceeded(m),
            ParamError::VersionNotFound(m) => Self::ParameterVersionNotFound(m),
            ParamError::Reserved(m) => Self::AccessDenied(m),
        }
    }
}

impl From<strongroom_store::StoreError> for SsmError {
    fn from(e: strongroom_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::Internal
    }
}
