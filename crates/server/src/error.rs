//! The wire form of an error, shared by every service and protocol codec.
//! Each service has its own error enum mapping to this in one place.

use http::StatusCode;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// The AWS error code: JSON `__type`, Query `<Code>`.
    pub code: &'static str,
    /// A message a person can act on. Never contains secret material.
    pub message: String,
}

impl ApiError {
    /// Who is at fault, as the Query protocol says it: `Receiver` for 5xx, else `Sender`.
    pub fn fault(&self) -> &'static str {
        if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }
}

impl From<strongroom_sigv4::SigV4Error> for ApiError {
    fn from(e: strongroom_sigv4::SigV4Error) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, e.code(), e.to_string())
    }
}
