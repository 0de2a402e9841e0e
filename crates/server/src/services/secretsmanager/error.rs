//! Secrets Manager errors, mapped to AWS `__type`s in one place.

use http::StatusCode;
use strongroom_domain::filters::FilterError;
use strongroom_domain::labels::LabelError;
use strongroom_domain::names::NameError;
use strongroom_domain::password::PasswordError;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmError {
    AccessDenied(String),
    MalformedPolicyDocument(String),
    PublicPolicy(String),
    ResourceNotFound(String),
    ResourceExists(String),
    InvalidParameter(String),
    InvalidRequest(String),
    InvalidNextToken(String),
    LimitExceeded(String),
    DecryptionFailure(String),
    EncryptionFailure(String),
    /// A modeled constraint (length, range, pattern) was violated: Coral's ValidationException.
    Validation(String),
    /// The body is not JSON or does not fit the operation's input shape.
    Serialization(String),
    Internal,
}

impl SmError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            Self::PublicPolicy(_) => "PublicPolicyException",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::ResourceExists(_) => "ResourceExistsException",
            Self::InvalidParameter(_) => "InvalidParameterException",
            Self::InvalidRequest(_) => "InvalidRequestException",
            Self::InvalidNextToken(_) => "InvalidNextTokenException",
            Self::LimitExceeded(_) => "LimitExceededException",
            Self::DecryptionFailure(_) => "DecryptionFailure",
            Self::EncryptionFailure(_) => "EncryptionFailure",
            Self::Validation(_) => "ValidationException",
            Self::Serialization(_) => "SerializationException",
            Self::Internal => "InternalServiceError",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::AccessDenied(m)
            | Self::MalformedPolicyDocument(m)
            | Self::PublicPolicy(m)
            | Self::ResourceNotFound(m)
            | Self::ResourceExists(m)
            | Self::InvalidParameter(m)
            | Self::InvalidRequest(m)
            | Self::InvalidNextToken(m)
            | Self::LimitExceeded(m)
            | Self::DecryptionFailure(m)
            | Self::EncryptionFailure(m)
            | Self::Validation(m)
            | Self::Serialization(m) => m,
            Self::Internal => "An error occurred on the server side.",
        }
    }

    pub fn not_found() -> Self {
        Self::ResourceNotFound("Secrets Manager can't find the specified secret.".into())
    }

    pub fn marked_for_deletion() -> Self {
        Self::InvalidRequest(
            "You can't perform this operation on the secret because it was marked for deletion."
                .into(),
        )
    }

    pub fn decryption_failure() -> Self {
        Self::DecryptionFailure(
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
                .into(),
        )
    }

    /// Operations of later issues answer with this rather than a fake success.
    pub fn not_available(op: &str, what: &str) -> Self {
        Self::InvalidRequest(format!(
            "{op} is not available in this Strongroom version: {what} is not implemented yet."
        ))
    }
}

impl From<SmError> for ApiError {
    fn from(e: SmError) -> Self {
        let status = match e {
            SmError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.message().to_string())
    }
}

impl From<LabelError> for SmError {
    fn from(e: LabelError) -> Self {
        match e {
            LabelError::TooManyLabels(_) | LabelError::TooManyVersions => {
                Self::LimitExceeded(e.to_string())
            }
            _ => Self::InvalidParameter(e.to_string()),
        }
    }
}

impl From<strongroom_store::StoreError> for SmError {
    fn from(e: strongroom_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::Internal
    }
}

// The domain crate's errors are typed; which AWS code each answers with is decided here.

impl From<PasswordError> for SmError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::LengthTooSmall(_)
            | PasswordError::LengthTooLarge(_)
            | PasswordError::ExcludeCharactersTooLong => Self::Validation(e.to_string()),
            PasswordError::RequiredClassExcluded { .. }
            | PasswordError::EmptyPool
            | PasswordError::TooShortForRequiredTypes { .. } => {
                Self::InvalidParameter(e.to_string())
            }
        }
    }
}

impl From<FilterError> for SmError {
    fn from(e: FilterError) -> Self {
        match e {
            FilterError::MissingKey | FilterError::MissingValues { .. } => {
                Self::InvalidParameter(e.to_string())
            }
            FilterError::TooManyFilters
            | FilterError::UnknownKey { .. }
            | FilterError::TooManyValues { .. }
            | FilterError::InvalidValue { .. }
            | FilterError::UnknownSortBy(_)
            | FilterError::UnknownSortOrder(_) => Self::Validation(e.to_string()),
        }
    }
}

impl From<NameError> for SmError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::TooShort { .. }
            | NameError::TooLong { .. }
            | NameError::InvalidNameCharacters => Self::Validation(e.to_string()),
            NameError::ReservedTagKey(_) | NameError::TooManyTags { .. } => {
                Self::InvalidParameter(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: SmError) -> &'static str {
        ApiError::from(e).code
    }

    #[test]
    fn domain_errors_answer_with_aws_codes() {
        assert_eq!(
            code(PasswordError::LengthTooSmall(0).into()),
            "ValidationException"
        );
        assert_eq!(
            code(PasswordError::EmptyPool.into()),
            "InvalidParameterException"
        );
        assert_eq!(
            code(FilterError::MissingKey.into()),
            "InvalidParameterException"
        );
        assert_eq!(
            code(FilterError::UnknownSortBy("CreatedDate".into()).into()),
            "ValidationException"
        );
        assert_eq!(
            code(NameError::InvalidNameCharacters.into()),
            "ValidationException"
        );
        assert_eq!(
            code(NameError::ReservedTagKey("aws:x".into()).into()),
            "InvalidParameterException"
        );
    }
}
