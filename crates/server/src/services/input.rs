//! Decoding JSON request bodies, shared by the JSON 1.1 services.

use serde::de::DeserializeOwned;

/// Parse an operation's input; an empty body is the empty input. The error message says where
/// the body is wrong but never quotes it (serde's own messages can quote a secret value).
pub fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            format!(
                "The request body is not valid JSON (line {}, column {}).",
                inner.line(),
                inner.column()
            )
        } else {
            format!(
                "The request body does not match the operation's input: member '{path}' has the wrong type or shape."
            )
        }
    })
}

pub use crate::clock::epoch_seconds;
