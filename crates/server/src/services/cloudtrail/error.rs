//! CloudTrail's errors, mapped to AWS's codes in one place.

use http::StatusCode;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudTrailError {
    InvalidLookupAttributes(String),
    InvalidTimeRange(String),
    InvalidMaxResults(String),
    InvalidNextToken(String),
    InvalidEventCategory(String),
    Serialization(String),
    UnknownOperation(String),
    Internal,
}

impl From<CloudTrailError> for ApiError {
    fn from(e: CloudTrailError) -> Self {
        use CloudTrailError::*;
        let (code, message) = match e {
            InvalidLookupAttributes(m) => ("InvalidLookupAttributesException", m),
            InvalidTimeRange(m) => ("InvalidTimeRangeException", m),
            InvalidMaxResults(m) => ("InvalidMaxResultsException", m),
            InvalidNextToken(m) => ("InvalidNextTokenException", m),
            InvalidEventCategory(m) => ("InvalidEventCategoryException", m),
            Serialization(m) => ("SerializationException", m),
            UnknownOperation(m) => ("UnknownOperationException", m),
            Internal => return ApiError::internal(),
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}
