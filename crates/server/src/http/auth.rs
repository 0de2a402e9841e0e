//! Request authentication: SigV4 (header or presigned) against known credentials.

use std::time::Duration;

use http::request::Parts;
use strongroom_domain::partition;
use strongroom_sigv4::{ParsedAuth, SigV4Error, SigningKeyCache};

use std::sync::Arc;

use crate::clock::Clock;
use crate::credentials::Principal;
use crate::iam::directory::{Directory, SessionError};

/// AWS accepts requests signed up to 5 minutes before or after its own clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

pub struct Authenticator {
    directory: Arc<Directory>,
    account_id: String,
    /// The regions served (`--regions`): a request signed for another is refused.
    regions: Vec<String>,
    /// `--dev`: any well-formed signature is accepted, as emulators do.
    permissive: bool,
    keys: SigningKeyCache,
    /// The server's clock (tests inject one): request times and session expiry are judged
    /// by it, like everything else that depends on "now".
    clock: Arc<dyn Clock>,
}

/// Services signed for here. IAM is global: AWS clients sign it for the partition's global
/// region (us-east-1, cn-north-1, us-gov-west-1, ...) whatever region they are configured with.
fn region_ok(service: &str, region: &str, ours: &[String]) -> bool {
    ours.iter().any(|r| r == region)
        || (service == "iam"
            && ours.first().is_some_and(|home| {
                region == partition::global_region(partition::partition_of(home))
            }))
}

/// Who sent a request, and the service and region it was signed for.
pub struct Signed {
    pub principal: Principal,
    /// The SigV4 scope's service, e.g. `secretsmanager`.
    pub service: String,
    /// The SigV4 scope's region: where the request is served.
    pub region: String,
}

impl Authenticator {
    pub fn new(
        directory: Arc<Directory>,
        account_id: String,
        regions: Vec<String>,
        permissive: bool,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            directory,
            account_id,
            regions,
            permissive,
            keys: SigningKeyCache::new(),
            clock,
        }
    }

    /// The principal an access key pair signs in as (the console's sign-in), if the pair is
    /// right. The secret is compared in constant time and not kept.
    pub fn verify_key_pair(
        &self,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Option<Principal> {
        let (principal, secret) = self.directory.credentials(access_key_id)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(
            secret.as_bytes(),
            secret_access_key.as_bytes(),
        )
        .ok()
        .map(|()| principal)
    }

    /// An IAM user's console password sign-in (lockout and expiry rules included).
    pub async fn verify_password(
        &self,
        user_name: &str,
        password: &str,
    ) -> Result<crate::iam::directory::PasswordSignIn, crate::iam::directory::SignInError> {
        self.directory
            .sign_in_with_password(user_name, password, self.clock.now_ms())
            .await
    }

    /// Who a password-opened console session acts as now (`None`: the user or its console
    /// password is gone).
    pub fn principal_of_console_user(&self, user_name: &str) -> Option<Principal> {
        self.directory.console_user(user_name)
    }

    /// Who a long-term access key belongs to now (`None`: deleted or deactivated).
    pub fn principal_of_key(&self, access_key_id: &str) -> Option<Principal> {
        self.directory.credentials(access_key_id).map(|(p, _)| p)
    }

    /// Verify the request's signature and return who sent it and the service it was signed
    /// for. `service` fixes the expected signing name; `None` accepts any of `allowed`.
    pub fn authenticate(
        &self,
        parts: &Parts,
        body: &[u8],
        service: Option<&str>,
        allowed: &[&str],
    ) -> Result<Signed, SigV4Error> {
        let now_ms = self.clock.now_ms();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(now_ms.max(0) as u64);
        let auth: ParsedAuth = strongroom_sigv4::parse(&parts.method, &parts.uri, &parts.headers)?;
        let scoped = auth.scope.service.as_str();
        match service {
            Some(s) if s != scoped => return Err(strongroom_sigv4::wrong_service(s)),
            None if !allowed.contains(&scoped) => {
                return Err(strongroom_sigv4::wrong_service(
                    allowed.first().copied().unwrap_or("sts"),
                ));
            }
            _ => {}
        }
        if !region_ok(scoped, &auth.scope.region, &self.regions) {
            return Err(strongroom_sigv4::wrong_region(&auth.scope.region));
        }
        if self.permissive {
            auth.check_time(now, MAX_CLOCK_SKEW)?;
            let principal = match self.directory.credentials(&auth.access_key_id) {
                Some((p, _)) => p,
                None => Principal::root_in(
                    self.directory.partition(),
                    &self.account_id,
                    &auth.access_key_id,
                ),
            };
            return Ok(Signed {
                principal,
                service: scoped.to_string(),
                region: auth.scope.region.clone(),
            });
        }
        let (principal, secret) = match &auth.session_token {
            // Temporary credentials: the token carries the session, sealed.
            Some(token) => self
                .directory
                .session_credentials(token, &auth.access_key_id, now_ms)
                .map_err(|e| match e {
                    SessionError::Expired => SigV4Error::ExpiredToken,
                    SessionError::Invalid => strongroom_sigv4::unrecognized_client(),
                })?,
            None => self
                .directory
                .credentials(&auth.access_key_id)
                .ok_or_else(strongroom_sigv4::unrecognized_client)?,
        };
        let key = self
            .keys
            .get_or_derive(&auth.access_key_id, &secret, &auth.scope);
        auth.verify(&parts.method, &parts.uri, &parts.headers, body, &key)?;
        auth.check_time(now, MAX_CLOCK_SKEW)?;
        Ok(Signed {
            principal,
            service: scoped.to_string(),
            region: auth.scope.region.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::region_ok;

    #[test]
    fn iam_is_signed_for_the_partitions_global_region() {
        let aws = ["us-west-2".to_string()];
        assert!(region_ok("iam", "us-east-1", &aws));
        assert!(!region_ok("secretsmanager", "us-east-1", &aws));
        assert!(!region_ok("iam", "cn-north-1", &aws));
        let china = ["cn-northwest-1".to_string()];
        assert!(region_ok("iam", "cn-north-1", &china));
        assert!(region_ok("sts", "cn-northwest-1", &china));
        assert!(!region_ok("iam", "us-east-1", &china));
        assert!(region_ok(
            "iam",
            "us-gov-west-1",
            &["us-gov-east-1".to_string()]
        ));
    }
}
