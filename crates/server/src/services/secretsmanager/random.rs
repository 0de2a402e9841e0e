//! GetRandomPassword: the generator itself is pure domain code.

use strongroom_domain::password::{PasswordSpec, generate_password};

use super::shapes::{GetRandomPasswordRequest, GetRandomPasswordResponse};
use super::{SecretsManager, SmError};

impl SecretsManager {
    pub(super) fn get_random_password(
        &self,
        input: GetRandomPasswordRequest,
    ) -> Result<GetRandomPasswordResponse, SmError> {
        let spec = PasswordSpec {
            length: input.password_length,
            exclude_characters: input.exclude_characters,
            exclude_numbers: input.exclude_numbers.unwrap_or(false),
            exclude_punctuation: input.exclude_punctuation.unwrap_or(false),
            exclude_uppercase: input.exclude_uppercase.unwrap_or(false),
            exclude_lowercase: input.exclude_lowercase.unwrap_or(false),
            include_space: input.include_space.unwrap_or(false),
            require_each_included_type: input.require_each_included_type,
        };
        let random_password = generate_password(&spec)?;
        Ok(GetRandomPasswordResponse {
            random_password: Some(random_password.into()),
        })
    }
}
