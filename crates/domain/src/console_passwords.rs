//! IAM console passwords, the pure rules: the account password policy (UpdateAccountPasswordPolicy
//! and its defaults), whether a candidate password meets it (PasswordPolicyViolation's
//! messages), when a password has expired (MaxPasswordAge), and sign-in lockout arithmetic.
//!
//! Hashing and storage are the server's; nothing here sees a clock or a random source.

use serde::{Deserialize, Serialize};

/// Milliseconds in a day (MaxPasswordAge is in days).
const DAY_MS: i64 = 86_400_000;

/// The characters IAM counts as symbols (UpdateAccountPasswordPolicy's RequireSymbols).
pub const SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";

/// The account password policy as UpdateAccountPasswordPolicy sets it. Every member missing
/// from the request takes its default (AWS: "This operation does not support partial
/// updates").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// 6–128, default 6.
    pub minimum_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allow_users_to_change: bool,
    /// 1–1095 days; `None`: passwords never expire.
    pub max_age_days: Option<u32>,
    /// 1–24 previous passwords that may not be used again.
    pub reuse_prevention: Option<u32>,
    pub hard_expiry: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            minimum_length: 6,
            require_symbols: false,
            require_numbers: false,
            require_uppercase: false,
            require_lowercase: false,
            allow_users_to_change: false,
            max_age_days: None,
            reuse_prevention: None,
            hard_expiry: false,
        }
    }
}

/// What one character class requires, as IAM words it.
const UPPER: &str = "Password should have at least one uppercase letter";
const LOWER: &str = "Password should have at least one lowercase letter";
const NUMBER: &str = "Password should have at least one number";
const SYMBOL: &str = "Password should have at least one symbol";

/// Which classes a password draws from: (uppercase, lowercase, number, symbol).
fn classes(password: &str) -> [bool; 4] {
    [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| SYMBOLS.contains(c)),
    ]
}

/// Whether `password` meets the account's policy — or, with none set, IAM's default policy
/// (at least 8 characters and three of the four character classes). `Err` is
/// PasswordPolicyViolation's message.
pub fn check_password(policy: Option<&PasswordPolicy>, password: &str) -> Result<(), String> {
    let length = password.chars().count();
    let has = classes(password);
    let Some(p) = policy else {
        if length < 8 {
            return Err("Password should have a minimum length of 8".into());
        }
        let missing: Vec<&str> = [UPPER, LOWER, NUMBER, SYMBOL]
            .iter()
            .zip(has)
            .filter(|(_, present)| !present)
            .map(|(m, _)| *m)
            .collect();
        let present = 4 - missing.len();
        if present < 3 {
            return Err(format!(
                "Password should meet {} more of the following requirements: {}",
                3 - present,
                missing.join(", ")
            ));
        }
        return Ok(());
    };
    if length < p.minimum_length as usize {
        return Err(format!(
            "Password should have a minimum length of {}",
            p.minimum_length
        ));
    }
    let required = [
        p.require_uppercase,
        p.require_lowercase,
        p.require_numbers,
        p.require_symbols,
    ];
    // The first unmet requirement, in the order the console lists them.
    for ((message, need), present) in [UPPER, LOWER, NUMBER, SYMBOL].iter().zip(required).zip(has) {
        if need && !present {
            return Err((*message).to_string());
        }
    }
    Ok(())
}

/// PasswordPolicyViolation's message for a password among the last `n` the user had.
pub fn reused_message(n: u32) -> String {
    format!("Password should not be one of your previous {n} passwords")
}

/// How many password hashes to keep for a user (the current one included) so the policy's
/// PasswordReusePrevention can be enforced; none without it.
pub fn hashes_to_keep(policy: Option<&PasswordPolicy>) -> usize {
    policy.and_then(|p| p.reuse_prevention).unwrap_or(0) as usize
}

/// Whether a password set at `set_ms` has expired at `now_ms` under the policy's MaxPasswordAge.
pub fn password_expired(policy: Option<&PasswordPolicy>, set_ms: i64, now_ms: i64) -> bool {
    match policy.and_then(|p| p.max_age_days) {
        Some(days) => now_ms >= set_ms.saturating_add(i64::from(days) * DAY_MS),
        None => false,
    }
}

/// The sign-in lockout: after `max_failures` consecutive failed sign-ins a user is locked for
/// `period_ms`, whatever password it then presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub max_failures: u32,
    pub period_ms: i64,
}

impl Default for Lockout {
    /// Five failures, fifteen minutes.
    fn default() -> Self {
        Self {
            max_failures: 5,
            period_ms: 15 * 60 * 1000,
        }
    }
}

impl Lockout {
    /// Whether a user locked until `locked_until_ms` is still locked at `now_ms`.
    pub fn is_locked(&self, locked_until_ms: Option<i64>, now_ms: i64) -> bool {
        locked_until_ms.is_some_and(|until| now_ms < until)
    }

    /// After a failure that brought the consecutive count to `failures`: until when the
    /// user is now locked, if this failure locks it.
    pub fn lock_after(&self, failures: i64, now_ms: i64) -> Option<i64> {
        (self.max_failures > 0 && failures >= i64::from(self.max_failures))
            .then(|| now_ms.saturating_add(self.period_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: 10,
            require_symbols: true,
            require_numbers: true,
            require_uppercase: true,
            require_lowercase: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_default_policy_wants_eight_characters_and_three_classes() {
        assert_eq!(
            check_password(None, "Ab1!"),
            Err("Password should have a minimum length of 8".into())
        );
        assert_eq!(
            check_password(None, "abcdefgh1"),
            Err("Password should meet 1 more of the following requirements: Password should have at least one uppercase letter, Password should have at least one symbol".into())
        );
        assert_eq!(
            check_password(None, "abcdefghij"),
            Err("Password should meet 2 more of the following requirements: Password should have at least one uppercase letter, Password should have at least one number, Password should have at least one symbol".into())
        );
        assert_eq!(check_password(None, "Abcdefgh1"), Ok(()));
        assert_eq!(check_password(None, "abcdefg1!"), Ok(()));
    }

    #[test]
    fn a_set_policy_names_the_first_requirement_missed() {
        let p = strict();
        assert_eq!(
            check_password(Some(&p), "Ab1!"),
            Err("Password should have a minimum length of 10".into())
        );
        assert_eq!(
            check_password(Some(&p), "abcdefgh1!"),
            Err("Password should have at least one uppercase letter".into())
        );
        assert_eq!(
            check_password(Some(&p), "ABCDEFGH1!"),
            Err("Password should have at least one lowercase letter".into())
        );
        assert_eq!(
            check_password(Some(&p), "Abcdefghi!"),
            Err("Password should have at least one number".into())
        );
        // A dot is not one of IAM's symbols.
        assert_eq!(
            check_password(Some(&p), "Abcdefgh1."),
            Err("Password should have at least one symbol".into())
        );
        assert_eq!(check_password(Some(&p), "Abcdefgh1|"), Ok(()));
        // The default-valued policy is lenient: six characters of anything.
        assert_eq!(
            check_password(Some(&PasswordPolicy::default()), "aaaaaa"),
            Ok(())
        );
        assert!(check_password(Some(&PasswordPolicy::default()), "aaaaa").is_err());
    }

    #[test]
    fn passwords_expire_after_max_age_days() {
        let p = PasswordPolicy {
            max_age_days: Some(2),
            ..Default::default()
        };
        assert!(!password_expired(Some(&p), 0, 2 * DAY_MS - 1));
        assert!(password_expired(Some(&p), 0, 2 * DAY_MS));
        assert!(!password_expired(None, 0, i64::MAX));
        assert!(!password_expired(
            Some(&PasswordPolicy::default()),
            0,
            i64::MAX
        ));
    }

    #[test]
    fn reuse_prevention_decides_the_history_kept() {
        assert_eq!(hashes_to_keep(None), 0);
        let p = PasswordPolicy {
            reuse_prevention: Some(3),
            ..Default::default()
        };
        assert_eq!(hashes_to_keep(Some(&p)), 3);
    }

    #[test]
    fn lockout_after_k_failures_for_the_period() {
        let l = Lockout {
            max_failures: 3,
            period_ms: 1000,
        };
        assert_eq!(l.lock_after(1, 50), None);
        assert_eq!(l.lock_after(2, 50), None);
        assert_eq!(l.lock_after(3, 50), Some(1050));
        assert!(l.is_locked(Some(1050), 1049));
        assert!(!l.is_locked(Some(1050), 1050));
        assert!(!l.is_locked(None, 0));
        // Zero failures allowed means lockout is off.
        let off = Lockout {
            max_failures: 0,
            period_ms: 1000,
        };
        assert_eq!(off.lock_after(100, 0), None);
    }
}
