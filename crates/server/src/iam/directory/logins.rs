//! Console passwords (IAM login profiles), the account password policy, and the password
//! sign-in the console calls ([`Directory::sign_in_with_password`]).
//!
//! Passwords are kept only as Argon2id PHC strings (random salt each); the rules (policy,
//! expiry, lockout arithmetic) are `strongroom_domain::console_passwords`. Hashing is
//! CPU-heavy, so it runs on tokio's blocking pool, never on the async workers. Sign-in
//! failures are counted in the store, so a lockout holds on every node.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use strongroom_domain::console_passwords::{self as rules, Lockout, PasswordPolicy};
use strongroom_store::{SignInFailures, StoredLoginProfile};

use super::*;

/// What GetLoginProfile shows of a login profile (never its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProfileInfo {
    pub user_name: String,
    pub created_ms: i64,
    pub reset_required: bool,
}

/// A password sign-in that succeeded.
#[derive(Debug, Clone)]
pub struct PasswordSignIn {
    /// The user, as SigV4 authentication with one of its access keys would yield it (its
    /// `access_key_id` is empty: no key was used).
    pub principal: Principal,
    /// An administrator asked for a new password at the next sign-in (PasswordResetRequired):
    /// the console must have the user change it (ChangePassword) before anything else.
    pub password_reset_required: bool,
    /// The password is older than the policy's MaxPasswordAge: it must be changed first.
    pub password_expired: bool,
}

/// Why a password sign-in failed. One message for every failure — unknown user, no console
/// password, wrong password, locked — so an answer never tells which users exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("Your authentication information is incorrect. Please try again.")]
    Failed,
    /// The password was right but has expired under the policy's HardExpiry: only an
    /// administrator can set a new one (UpdateLoginProfile).
    #[error("Your password has expired. Contact your administrator to reset it.")]
    HardExpired,
    #[error("The sign-in could not be checked. Please try again later.")]
    Internal,
}

/// Where failed sign-ins that name no user with a console password (or a locked one) are
/// counted: no IAM user name is empty, so it is never a user's.
const UNKNOWN_SIGN_IN: &str = "";

/// Argon2id v19 with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's baseline).
fn hasher() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

/// What unknown users' passwords are verified against, so they cost the same work as known
/// ones: an Argon2id hash with [`hasher`]'s parameters (a unit test keeps them equal) of a
/// random password nobody kept — and an unknown user fails whatever it matches. A constant,
/// not computed at start: hashing it there allocated 19 MiB that the allocator kept (idle RSS,
/// and a restarted server's resident set varied by that much).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$71iBb0NkZRV6kEdRWB8iSg$4mWLWFmfJ59RJkXbD0L8ilRnngW/HfoNBA8U/cZD3Fk";

/// Hashes computed at once: each takes 19 MiB and a core for tens of milliseconds, so a flood
/// of sign-ins queues here instead of filling the blocking pool (and memory).
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores * 2)
    })
}

/// Run Argon2id work on the blocking pool, at most [`hashing_permits`] at once.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DirectoryError> {
    let _permit = hashing_permits()
        .acquire()
        .await
        .map_err(|_| DirectoryError::Internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| DirectoryError::Internal)
}

/// Hash a password (a PHC string with a fresh random salt), on the blocking pool.
async fn hash_password(password: Zeroizing<String>) -> Result<String, DirectoryError> {
    hashing(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|_| DirectoryError::Internal)
}

/// Whether `password` matches any of `hashes` (each one is verified, so the time taken does
/// not say which matched), on the blocking pool. No hashes: checked against the dummy hash.
async fn matches_any(
    password: Zeroizing<String>,
    hashes: Vec<String>,
) -> Result<bool, DirectoryError> {
    hashing(move || {
        if hashes.is_empty() {
            let _ = hasher().verify_password(password.as_bytes(), DUMMY_HASH);
            return false;
        }
        hashes.iter().fold(false, |found, h| {
            hasher()
                .verify_password(password.as_bytes(), h.as_str())
                .is_ok()
                | found
        })
    })
    .await
}

fn no_login_profile(user: &str) -> DirectoryError {
    DirectoryError::NoSuchEntity(format!("Login Profile for User {user} cannot be found."))
}

fn info(p: &StoredLoginProfile) -> LoginProfileInfo {
    LoginProfileInfo {
        user_name: p.user_name.clone(),
        created_ms: p.created_ms,
        reset_required: p.reset_required,
    }
}

impl Directory {
    /// The sign-in lockout this directory applies.
    pub fn with_lockout(mut self, lockout: Lockout) -> Self {
        self.lockout = lockout;
        self
    }

    /// GetLoginProfile.
    pub fn login_profile(&self, user_name: &str) -> Result<LoginProfileInfo, DirectoryError> {
        self.user(user_name)?;
        self.read()
            .logins
            .get(user_name)
            .map(info)
            .ok_or_else(|| no_login_profile(user_name))
    }

    /// Whether a user has a console password (DeleteUser refuses while it does).
    pub(super) fn has_login_profile(&self, user_name: &str) -> bool {
        self.read().logins.contains_key(user_name)
    }

    /// The account password policy, if one is set.
    pub fn password_policy(&self) -> Option<PasswordPolicy> {
        self.read().password_policy.clone()
    }

    /// UpdateAccountPasswordPolicy (`Some`) / DeleteAccountPasswordPolicy (`None`).
    pub async fn set_password_policy(
        &self,
        policy: Option<PasswordPolicy>,
    ) -> Result<(), DirectoryError> {
        let doc = policy
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| DirectoryError::Internal)?;
        let existed = self.store.put_password_policy(doc.as_deref()).await?;
        if policy.is_none() && !existed {
            return Err(DirectoryError::NoSuchEntity(format!(
                "The Password Policy with domain name {} cannot be found.",
                self.account_id
            )));
        }
        self.write().password_policy = policy;
        Ok(())
    }

    /// The hash of a new password for `current` (None: a first password), after the policy's
    /// checks, with the history PasswordReusePrevention needs.
    async fn new_password(
        &self,
        current: Option<&StoredLoginProfile>,
        password: &str,
    ) -> Result<(String, Vec<String>), DirectoryError> {
        let policy = self.password_policy();
        rules::check_password(policy.as_ref(), password)
            .map_err(DirectoryError::PasswordPolicyViolation)?;
        let keep = rules::hashes_to_keep(policy.as_ref());
        let history: Vec<String> = current
            .map(|p| {
                std::iter::once(p.password_hash.clone())
                    .chain(p.previous_hashes.iter().cloned())
                    .collect()
            })
            .unwrap_or_default();
        if keep > 0 && !history.is_empty() {
            let recent: Vec<String> = history.iter().take(keep).cloned().collect();
            if matches_any(Zeroizing::new(password.to_string()), recent).await? {
                return Err(DirectoryError::PasswordPolicyViolation(
                    rules::reused_message(keep as u32),
                ));
            }
        }
        let hash = hash_password(Zeroizing::new(password.to_string())).await?;
        let previous = history.into_iter().take(keep.saturating_sub(1)).collect();
        Ok((hash, previous))
    }

    /// CreateLoginProfile.
    pub async fn create_login_profile(
        &self,
        user_name: &str,
        password: &str,
        reset_required: bool,
        now: i64,
    ) -> Result<LoginProfileInfo, DirectoryError> {
        self.user(user_name)?;
        let exists = || {
            DirectoryError::EntityAlreadyExists(format!(
                "Login Profile for user {user_name} already exists."
            ))
        };
        if self.has_login_profile(user_name) {
            return Err(exists());
        }
        let (password_hash, previous_hashes) = self.new_password(None, password).await?;
        let profile = StoredLoginProfile {
            user_name: user_name.to_string(),
            password_hash,
            created_ms: now,
            password_set_ms: now,
            reset_required,
            previous_hashes,
        };
        match self.store.put_login_profile(&profile, false).await {
            Err(StoreError::NameTaken) => return Err(exists()),
            other => other?,
        }
        // A new password starts with a clean slate.
        self.store.clear_sign_in_failures(user_name).await?;
        let out = info(&profile);
        self.write().logins.insert(user_name.to_string(), profile);
        Ok(out)
    }

    /// UpdateLoginProfile: a new password (which also lifts a lockout) and/or the reset flag.
    pub async fn update_login_profile(
        &self,
        user_name: &str,
        password: Option<&str>,
        reset_required: Option<bool>,
        now: i64,
    ) -> Result<(), DirectoryError> {
        self.user(user_name)?;
        let mut profile = self
            .read()
            .logins
            .get(user_name)
            .cloned()
            .ok_or_else(|| no_login_profile(user_name))?;
        if let Some(password) = password {
            let (hash, previous) = self.new_password(Some(&profile), password).await?;
            profile.password_hash = hash;
            profile.previous_hashes = previous;
            profile.password_set_ms = now;
        }
        if let Some(r) = reset_required {
            profile.reset_required = r;
        }
        self.store.put_login_profile(&profile, true).await?;
        if password.is_some() {
            self.store.clear_sign_in_failures(user_name).await?;
        }
        self.write().logins.insert(user_name.to_string(), profile);
        Ok(())
    }

    /// DeleteLoginProfile.
    pub async fn delete_login_profile(&self, user_name: &str) -> Result<(), DirectoryError> {
        self.login_profile(user_name)?;
        self.store.delete_login_profile(user_name).await?;
        self.write().logins.remove(user_name);
        Ok(())
    }

    /// ChangePassword: the user's own password, given the current one (a wrong one counts
    /// toward the lockout, as a failed sign-in does).
    pub async fn change_password(
        &self,
        user_name: &str,
        old: &str,
        new: &str,
        now: i64,
    ) -> Result<(), DirectoryError> {
        self.login_profile(user_name)?;
        let (_, mut profile) = match self.check_password(user_name, old, now).await {
            Ok(found) => found,
            Err(SignInError::Internal) => return Err(DirectoryError::Internal),
            Err(_) => {
                return Err(DirectoryError::AccessDenied(
                    "The old password is incorrect.".into(),
                ));
            }
        };
        let (hash, previous) = self.new_password(Some(&profile), new).await?;
        profile.password_hash = hash;
        profile.previous_hashes = previous;
        profile.password_set_ms = now;
        profile.reset_required = false;
        self.store.put_login_profile(&profile, true).await?;
        self.write().logins.insert(user_name.to_string(), profile);
        Ok(())
    }

    /// The console's sign-in: the user's principal when `password` is its console password
    /// and the user is not locked out, with what the console must ask of it next.
    ///
    /// Every failure is the same [`SignInError::Failed`] and costs the same work (unknown
    /// users are checked against a dummy hash). `lockout.max_failures` consecutive failures
    /// lock the user for `lockout.period_ms`, even against the right password; a success
    /// starts the count again.
    pub async fn sign_in_with_password(
        &self,
        user_name: &str,
        password: &str,
        now_ms: i64,
    ) -> Result<PasswordSignIn, SignInError> {
        let (user, profile) = self.check_password(user_name, password, now_ms).await?;
        let policy = self.password_policy();
        let expired = rules::password_expired(policy.as_ref(), profile.password_set_ms, now_ms);
        if expired && policy.as_ref().is_some_and(|p| p.hard_expiry) {
            return Err(SignInError::HardExpired);
        }
        Ok(PasswordSignIn {
            principal: self.password_principal(&user),
            password_reset_required: profile.reset_required,
            password_expired: expired,
        })
    }

    /// A user signed in with its console password, as the requests it makes act.
    fn password_principal(&self, user: &IamUser) -> Principal {
        Principal {
            account_id: self.account_id.clone(),
            arn: user.arn.clone(),
            access_key_id: String::new(),
            kind: PrincipalKind::User {
                name: user.name.clone(),
                id: user.id.clone(),
            },
            session_issued_ms: None,
        }
    }

    /// The principal of a console session a password opened, as long as the user still has
    /// a console password (a deleted user or login profile ends its sessions).
    pub fn console_user(&self, user_name: &str) -> Option<Principal> {
        let user = self.user(user_name).ok()?;
        self.has_login_profile(user_name)
            .then(|| self.password_principal(&user))
    }

    /// Check a user's password with the lockout rules: the user and its profile when right.
    ///
    /// Every failure costs the same: one read of the user's failure count, one Argon2id
    /// verification, one counted failure (unknown users', users without a console password
    /// and locked users' under [`UNKNOWN_SIGN_IN`]), so time does not tell them apart.
    async fn check_password(
        &self,
        user_name: &str,
        password: &str,
        now_ms: i64,
    ) -> Result<(IamUser, StoredLoginProfile), SignInError> {
        let internal = |e: StoreError| {
            tracing::error!(error = %e, "identity store failure during a password check");
            SignInError::Internal
        };
        let found = {
            let s = self.read();
            s.users
                .get(user_name)
                .cloned()
                .zip(s.logins.get(user_name).cloned())
        };
        let failures: SignInFailures = self
            .store
            .sign_in_failures(user_name)
            .await
            .map_err(internal)?;
        let hashes = found.iter().map(|(_, p)| p.password_hash.clone()).collect();
        let right = matches_any(Zeroizing::new(password.to_string()), hashes)
            .await
            .map_err(|_| SignInError::Internal)?;
        let locked = self.lockout.is_locked(failures.locked_until_ms, now_ms);
        let Some((user, profile)) = found.filter(|_| !locked) else {
            if locked {
                tracing::info!(user = %user_name, "password sign-in refused: locked out");
            }
            self.store
                .add_sign_in_failure(UNKNOWN_SIGN_IN)
                .await
                .map_err(internal)?;
            return Err(SignInError::Failed);
        };
        if !right {
            let n = self
                .store
                .add_sign_in_failure(user_name)
                .await
                .map_err(internal)?;
            if let Some(until) = self.lockout.lock_after(n, now_ms) {
                self.store
                    .lock_sign_in(user_name, until)
                    .await
                    .map_err(internal)?;
                tracing::warn!(user = %user_name, failures = n, "user locked out after failed password sign-ins");
            }
            return Err(SignInError::Failed);
        }
        if failures != SignInFailures::default() {
            self.store
                .clear_sign_in_failures(user_name)
                .await
                .map_err(internal)?;
        }
        Ok((user, profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::test_support as ts;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = argon2::PasswordHash::new(DUMMY_HASH).unwrap();
        let real_hash = hasher().hash_password(b"any password").unwrap().to_string();
        let real = argon2::PasswordHash::new(&real_hash).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert!(
            hasher()
                .verify_password(b"any password", DUMMY_HASH)
                .is_err()
        );
    }

    const GOOD: &str = "Correct-Horse-9";

    async fn directory(lockout: Lockout) -> Directory {
        let d = ts::directory(ts::store().await, ts::barrier())
            .await
            .with_lockout(lockout);
        d.create_user("alice", "/", None, 0).await.unwrap();
        d.create_login_profile("alice", GOOD, false, ts::START)
            .await
            .unwrap();
        d
    }

    #[tokio::test]
    async fn the_right_password_signs_in_as_the_user() {
        let d = directory(Lockout::default()).await;
        let s = d
            .sign_in_with_password("alice", GOOD, ts::START)
            .await
            .unwrap();
        assert_eq!(s.principal.arn, "arn:aws:iam::123456789012:user/alice");
        assert!(
            matches!(s.principal.kind, PrincipalKind::User { ref name, .. } if name == "alice")
        );
        assert!(!s.password_reset_required && !s.password_expired);
        // Only a hash is stored.
        let stored = d.store.login_profiles().await.unwrap();
        assert!(stored[0].password_hash.starts_with("$argon2id$"));
        assert!(!stored[0].password_hash.contains(GOOD));
    }

    #[tokio::test]
    async fn wrong_passwords_and_unknown_users_fail_alike() {
        let d = directory(Lockout::default()).await;
        let wrong = d.sign_in_with_password("alice", "nope", ts::START).await;
        let unknown = d.sign_in_with_password("mallory", GOOD, ts::START).await;
        assert_eq!(wrong.unwrap_err(), SignInError::Failed);
        assert_eq!(unknown.unwrap_err(), SignInError::Failed);
        // Both counted a failure (the same store write): the user's, and the unknown one's
        // under the name no user has.
        assert_eq!(d.store.sign_in_failures("alice").await.unwrap().failures, 1);
        assert_eq!(
            d.store
                .sign_in_failures(UNKNOWN_SIGN_IN)
                .await
                .unwrap()
                .failures,
            1
        );
        assert_eq!(
            d.store.sign_in_failures("mallory").await.unwrap(),
            SignInFailures::default(),
            "nothing is stored under an unknown name"
        );
        assert_eq!(
            SignInError::Failed.to_string(),
            "Your authentication information is incorrect. Please try again."
        );
        // A user without a console password cannot sign in either.
        d.create_user("bob", "/", None, 0).await.unwrap();
        assert_eq!(
            d.sign_in_with_password("bob", GOOD, ts::START)
                .await
                .unwrap_err(),
            SignInError::Failed
        );
    }

    #[tokio::test]
    async fn lockout_after_k_failures_until_the_period_ends() {
        let clock = ts::clock();
        let lockout = Lockout {
            max_failures: 3,
            period_ms: 60_000,
        };
        let d = directory(lockout).await;
        // Two failures, then a success: the count starts again.
        for _ in 0..2 {
            assert!(
                d.sign_in_with_password("alice", "x", clock.now_ms())
                    .await
                    .is_err()
            );
        }
        d.sign_in_with_password("alice", GOOD, clock.now_ms())
            .await
            .unwrap();
        for _ in 0..2 {
            assert!(
                d.sign_in_with_password("alice", "x", clock.now_ms())
                    .await
                    .is_err()
            );
        }
        d.sign_in_with_password("alice", GOOD, clock.now_ms())
            .await
            .expect("two failures after a success do not lock");
        // Three in a row lock, even against the right password.
        for _ in 0..3 {
            assert!(
                d.sign_in_with_password("alice", "x", clock.now_ms())
                    .await
                    .is_err()
            );
        }
        assert_eq!(
            d.sign_in_with_password("alice", GOOD, clock.now_ms())
                .await
                .unwrap_err(),
            SignInError::Failed
        );
        clock.advance(59_999);
        assert!(
            d.sign_in_with_password("alice", GOOD, clock.now_ms())
                .await
                .is_err()
        );
        clock.advance(1);
        d.sign_in_with_password("alice", GOOD, clock.now_ms())
            .await
            .expect("the lock ends after its period");
        // The count is in the store: a second node's directory sees the lock.
        for _ in 0..3 {
            assert!(
                d.sign_in_with_password("alice", "x", clock.now_ms())
                    .await
                    .is_err()
            );
        }
        let other = ts::directory(d.store.clone(), d.barrier.clone())
            .await
            .with_lockout(lockout);
        assert!(
            other
                .sign_in_with_password("alice", GOOD, clock.now_ms())
                .await
                .is_err()
        );
        // An administrator's new password lifts the lock.
        other
            .update_login_profile("alice", Some("Another-Pass-7"), None, clock.now_ms())
            .await
            .unwrap();
        other
            .sign_in_with_password("alice", "Another-Pass-7", clock.now_ms())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn another_node_sees_passwords_and_the_policy_after_a_refresh() {
        let d = directory(Lockout::default()).await;
        let other = ts::directory(d.store.clone(), d.barrier.clone()).await;
        d.set_password_policy(Some(PasswordPolicy {
            minimum_length: 20,
            ..Default::default()
        }))
        .await
        .unwrap();
        d.update_login_profile("alice", None, Some(true), ts::START)
            .await
            .unwrap();
        other.refresh().await.unwrap();
        assert_eq!(other.password_policy().unwrap().minimum_length, 20);
        assert!(other.login_profile("alice").unwrap().reset_required);
        let s = other
            .sign_in_with_password("alice", GOOD, ts::START)
            .await
            .unwrap();
        assert!(s.password_reset_required);
        d.set_password_policy(None).await.unwrap();
        assert!(matches!(
            d.set_password_policy(None).await,
            Err(DirectoryError::NoSuchEntity(m)) if m == "The Password Policy with domain name 123456789012 cannot be found."
        ));
        d.delete_login_profile("alice").await.unwrap();
        other.refresh().await.unwrap();
        assert!(other.password_policy().is_none());
        assert!(matches!(
            other.login_profile("alice"),
            Err(DirectoryError::NoSuchEntity(m)) if m == "Login Profile for User alice cannot be found."
        ));
    }

    #[tokio::test]
    async fn reset_required_and_expiry_are_reported() {
        let d = directory(Lockout::default()).await;
        d.update_login_profile("alice", None, Some(true), ts::START)
            .await
            .unwrap();
        let s = d
            .sign_in_with_password("alice", GOOD, ts::START)
            .await
            .unwrap();
        assert!(s.password_reset_required);
        d.change_password("alice", GOOD, "Brand-New-Pass-1", ts::START)
            .await
            .unwrap();
        let s = d
            .sign_in_with_password("alice", "Brand-New-Pass-1", ts::START)
            .await
            .unwrap();
        assert!(!s.password_reset_required, "ChangePassword clears the flag");

        let day = 86_400_000;
        d.set_password_policy(Some(PasswordPolicy {
            max_age_days: Some(1),
            ..Default::default()
        }))
        .await
        .unwrap();
        let s = d
            .sign_in_with_password("alice", "Brand-New-Pass-1", ts::START + day)
            .await
            .unwrap();
        assert!(s.password_expired);
        d.set_password_policy(Some(PasswordPolicy {
            max_age_days: Some(1),
            hard_expiry: true,
            ..Default::default()
        }))
        .await
        .unwrap();
        assert_eq!(
            d.sign_in_with_password("alice", "Brand-New-Pass-1", ts::START + day)
                .await
                .unwrap_err(),
            SignInError::HardExpired
        );
    }

    #[tokio::test]
    async fn change_password_checks_the_old_one_and_reuse() {
        let d = directory(Lockout::default()).await;
        assert!(matches!(
            d.change_password("alice", "wrong", "Other-Pass-22", ts::START)
                .await,
            Err(DirectoryError::AccessDenied(_))
        ));
        d.set_password_policy(Some(PasswordPolicy {
            reuse_prevention: Some(2),
            ..Default::default()
        }))
        .await
        .unwrap();
        d.change_password("alice", GOOD, "Second-Pass-2", ts::START)
            .await
            .unwrap();
        assert_eq!(
            d.change_password("alice", "Second-Pass-2", GOOD, ts::START)
                .await,
            Err(DirectoryError::PasswordPolicyViolation(
                "Password should not be one of your previous 2 passwords".into()
            ))
        );
        d.change_password("alice", "Second-Pass-2", "Third-Pass-3", ts::START)
            .await
            .unwrap();
        // Two back is forgotten with a history of two.
        d.change_password("alice", "Third-Pass-3", GOOD, ts::START)
            .await
            .unwrap();
        // DeleteUser refuses while the console password exists.
        assert!(matches!(
            d.delete_user("alice").await,
            Err(DirectoryError::DeleteConflict(m)) if m == "Cannot delete entity, must delete login profile first."
        ));
        d.delete_login_profile("alice").await.unwrap();
        d.delete_user("alice").await.unwrap();
    }
}
