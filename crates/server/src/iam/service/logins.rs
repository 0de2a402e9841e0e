//! Console passwords: login profiles (create, get, update, delete), ChangePassword, and the
//! account password policy. Passwords go straight to the directory, which keeps only hashes;
//! the audit record never has them (the models mark them sensitive, see `crate::audit`).

use super::*;
use crate::iam::directory::LoginProfileInfo;
use crate::sensitive::Sensitive;
use strongroom_domain::console_passwords::PasswordPolicy as Rules;

/// A password as the model constrains it: 1–128 characters of tab, line feed, carriage return
/// or U+0020–U+00FF. The value is never in the message.
fn password<'a>(v: Option<&'a Sensitive>, member: &str) -> Result<&'a str, IamError> {
    let member = lower_first(member);
    let v = v.ok_or_else(|| {
        IamError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })?;
    let n = v.chars().count();
    let ok = (1..=128).contains(&n)
        && v.chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'));
    if !ok {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length between 1 and 128 and satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
        )));
    }
    Ok(v)
}

fn login_profile(p: &LoginProfileInfo) -> LoginProfile {
    LoginProfile {
        user_name: p.user_name.clone(),
        create_date: Timestamp(p.created_ms),
        password_reset_required: Some(p.reset_required),
    }
}

/// `Value 'v' at 'member' failed to satisfy constraint: ...` for an integer out of its range.
fn range_error(member: &str, v: i64, min: i64, max: i64) -> Option<String> {
    let member = lower_first(member);
    if v < min {
        Some(format!(
            "Value '{v}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        ))
    } else if v > max {
        Some(format!(
            "Value '{v}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        ))
    } else {
        None
    }
}

/// UpdateAccountPasswordPolicy's request as the policy it sets: omitted members take their
/// defaults (no partial updates), out-of-range numbers are AWS's validation errors.
fn policy_from_request(i: &UpdateAccountPasswordPolicyRequest) -> Result<Rules, IamError> {
    let errors: Vec<String> = [
        i.minimum_password_length
            .and_then(|v| range_error("MinimumPasswordLength", v, 6, 128)),
        i.max_password_age
            .and_then(|v| range_error("MaxPasswordAge", v, 1, 1095)),
        i.password_reuse_prevention
            .and_then(|v| range_error("PasswordReusePrevention", v, 1, 24)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !errors.is_empty() {
        let n = errors.len();
        return Err(IamError::Validation(format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            errors.join("; ")
        )));
    }
    let d = Rules::default();
    // In range (checked above): the conversions cannot fail.
    let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(Rules {
        minimum_length: i.minimum_password_length.map_or(d.minimum_length, small),
        require_symbols: i.require_symbols.unwrap_or(false),
        require_numbers: i.require_numbers.unwrap_or(false),
        require_uppercase: i.require_uppercase_characters.unwrap_or(false),
        require_lowercase: i.require_lowercase_characters.unwrap_or(false),
        allow_users_to_change: i.allow_users_to_change_password.unwrap_or(false),
        max_age_days: i.max_password_age.map(small),
        reuse_prevention: i.password_reuse_prevention.map(small),
        hard_expiry: i.hard_expiry.unwrap_or(false),
    })
}

impl Iam {
    /// Whether the account's password policy lets every IAM user change its own password
    /// (AllowUsersToChangePassword: iam:ChangePassword on itself and
    /// iam:GetAccountPasswordPolicy without an identity policy).
    pub(super) fn users_may_change_passwords(&self) -> bool {
        self.directory
            .password_policy()
            .is_some_and(|p| p.allow_users_to_change)
    }

    /// CreateLoginProfile.
    pub(super) async fn create_login_profile(
        &self,
        i: CreateLoginProfileRequest,
        caller: &Principal,
    ) -> Result<CreateLoginProfileResponse, IamError> {
        let user = self.user_or_caller(i.user_name.as_deref(), caller)?;
        let pw = password(i.password.as_ref(), "Password")?;
        let p = self
            .directory
            .create_login_profile(
                &user,
                pw,
                i.password_reset_required.unwrap_or(false),
                self.clock.now_ms(),
            )
            .await?;
        Ok(CreateLoginProfileResponse {
            login_profile: login_profile(&p),
        })
    }

    /// GetLoginProfile.
    pub(super) async fn get_login_profile(
        &self,
        i: GetLoginProfileRequest,
        caller: &Principal,
    ) -> Result<GetLoginProfileResponse, IamError> {
        let user = self.user_or_caller(i.user_name.as_deref(), caller)?;
        let p = self.directory.login_profile(&user)?;
        Ok(GetLoginProfileResponse {
            login_profile: login_profile(&p),
        })
    }

    /// UpdateLoginProfile.
    pub(super) async fn update_login_profile(
        &self,
        i: UpdateLoginProfileRequest,
    ) -> Result<(), IamError> {
        let user = name(&i.user_name, "UserName", 64)?;
        let pw = match &i.password {
            Some(_) => Some(password(i.password.as_ref(), "Password")?),
            None => None,
        };
        self.directory
            .update_login_profile(&user, pw, i.password_reset_required, self.clock.now_ms())
            .await?;
        Ok(())
    }

    /// DeleteLoginProfile.
    pub(super) async fn delete_login_profile(
        &self,
        i: DeleteLoginProfileRequest,
        caller: &Principal,
    ) -> Result<(), IamError> {
        let user = self.user_or_caller(i.user_name.as_deref(), caller)?;
        self.directory.delete_login_profile(&user).await?;
        Ok(())
    }

    /// ChangePassword: an IAM user's own password, never root's or a role session's.
    pub(super) async fn change_password(
        &self,
        i: ChangePasswordRequest,
        caller: &Principal,
    ) -> Result<(), IamError> {
        let PrincipalKind::User { name: user, .. } = &caller.kind else {
            return Err(IamError::InvalidUserType(
                "Only IAM users can change their own password with ChangePassword.".into(),
            ));
        };
        let old = password(Some(&i.old_password), "OldPassword")?;
        let new = password(Some(&i.new_password), "NewPassword")?;
        self.directory
            .change_password(user, old, new, self.clock.now_ms())
            .await?;
        Ok(())
    }

    /// UpdateAccountPasswordPolicy.
    pub(super) async fn update_account_password_policy(
        &self,
        i: UpdateAccountPasswordPolicyRequest,
    ) -> Result<(), IamError> {
        let policy = policy_from_request(&i)?;
        self.directory.set_password_policy(Some(policy)).await?;
        Ok(())
    }

    /// GetAccountPasswordPolicy.
    pub(super) async fn get_account_password_policy(
        &self,
    ) -> Result<GetAccountPasswordPolicyResponse, IamError> {
        let p = self.directory.password_policy().ok_or_else(|| {
            IamError::NoSuchEntity(format!(
                "The Password Policy with domain name {} cannot be found.",
                self.directory.account_id()
            ))
        })?;
        Ok(GetAccountPasswordPolicyResponse {
            password_policy: PasswordPolicy {
                minimum_password_length: Some(i64::from(p.minimum_length)),
                require_symbols: Some(p.require_symbols),
                require_numbers: Some(p.require_numbers),
                require_uppercase_characters: Some(p.require_uppercase),
                require_lowercase_characters: Some(p.require_lowercase),
                allow_users_to_change_password: Some(p.allow_users_to_change),
                expire_passwords: Some(p.max_age_days.is_some()),
                max_password_age: p.max_age_days.map(i64::from),
                password_reuse_prevention: p.reuse_prevention.map(i64::from),
                hard_expiry: Some(p.hard_expiry),
            },
        })
    }

    /// DeleteAccountPasswordPolicy.
    pub(super) async fn delete_account_password_policy(&self) -> Result<(), IamError> {
        self.directory.set_password_policy(None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_request_takes_defaults_and_checks_ranges() {
        let p = policy_from_request(&UpdateAccountPasswordPolicyRequest::default()).unwrap();
        assert_eq!(p, Rules::default());
        let e = policy_from_request(&UpdateAccountPasswordPolicyRequest {
            minimum_password_length: Some(5),
            max_password_age: Some(1096),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e,
            IamError::Validation("2 validation errors detected: Value '5' at 'minimumPasswordLength' failed to satisfy constraint: Member must have value greater than or equal to 6; Value '1096' at 'maxPasswordAge' failed to satisfy constraint: Member must have value less than or equal to 1095".into())
        );
    }

    #[test]
    fn passwords_are_checked_against_the_model_without_echoing_them() {
        let long = Sensitive::new("x".repeat(129));
        let e = password(Some(&long), "Password").unwrap_err();
        assert!(!format!("{e:?}").contains("xxxx"));
        assert!(password(Some(&Sensitive::new("ok\tÿ".into())), "Password").is_ok());
        assert!(password(Some(&Sensitive::new("snow☃".into())), "Password").is_err());
        assert!(password(None, "Password").is_err());
    }
}
