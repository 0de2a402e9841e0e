//! Request authentication: SigV4 (header or presigned) against known credentials.

use std::time::{Duration, SystemTime};

use http::request::Parts;
use strongroom_sigv4::{ParsedAuth, SigV4Error, SigningKeyCache};

use crate::credentials::{Principal, RootCredentials};

/// AWS accepts requests signed up to 5 minutes before or after its own clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

pub struct Authenticator {
    root: RootCredentials,
    account_id: String,
    region: String,
    /// `--dev`: any well-formed signature is accepted, as emulators do.
    permissive: bool,
    keys: SigningKeyCache,
}

impl Authenticator {
    pub fn new(
        root: RootCredentials,
        account_id: String,
        region: String,
        permissive: bool,
    ) -> Self {
        Self {
            root,
            account_id,
            region,
            permissive,
            keys: SigningKeyCache::new(),
        }
    }

    /// Verify the request's signature for `service` and return who sent it.
    pub fn authenticate(
        &self,
        parts: &Parts,
        body: &[u8],
        service: &str,
        now: SystemTime,
    ) -> Result<Principal, SigV4Error> {
        let auth: ParsedAuth = strongroom_sigv4::parse(&parts.method, &parts.uri, &parts.headers)?;
        if auth.scope.service != service {
            return Err(strongroom_sigv4::wrong_service(service));
        }
        if auth.scope.region != self.region {
            return Err(strongroom_sigv4::wrong_region(&auth.scope.region));
        }
        if self.permissive {
            auth.check_time(now, MAX_CLOCK_SKEW)?;
            return Ok(Principal::root(&self.account_id, &auth.access_key_id));
        }
        // Only root exists until IAM arrives; session tokens are not issued yet.
        if auth.access_key_id != self.root.access_key_id || auth.session_token.is_some() {
            return Err(strongroom_sigv4::unrecognized_client());
        }
        let key = self.keys.get_or_derive(
            &auth.access_key_id,
            &self.root.secret_access_key,
            &auth.scope,
        );
        auth.verify(&parts.method, &parts.uri, &parts.headers, body, &key)?;
        auth.check_time(now, MAX_CLOCK_SKEW)?;
        Ok(Principal::root(&self.account_id, &auth.access_key_id))
    }
}
