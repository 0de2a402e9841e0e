//! Root credentials and the principals requests run as.
//!
//! Until the IAM issue adds users and roles, only the root principal exists; like AWS's root
//! user it may do everything.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// AWS's documented example keys: well known, used only by `--dev`.
pub const DEV_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const DEV_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

const FILE_NAME: &str = "root-credentials.json";

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct RootCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for RootCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl RootCredentials {
    pub fn dev() -> Self {
        Self {
            access_key_id: DEV_ACCESS_KEY_ID.into(),
            secret_access_key: DEV_SECRET_ACCESS_KEY.into(),
        }
    }

    /// AKIA + 16 base32 characters, and a 40-character secret, shaped like AWS's.
    pub fn generate() -> Result<Self, String> {
        const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET_ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let rng = SystemRandom::new();
        let mut bytes = [0u8; 56];
        rng.fill(&mut bytes)
            .map_err(|_| "the system random generator failed".to_string())?;
        // Both alphabets have power-of-two sizes, so masking is unbiased.
        let id: String = bytes[..16]
            .iter()
            .map(|b| ID_ALPHABET[(*b & 31) as usize] as char)
            .collect();
        let secret: String = bytes[16..]
            .iter()
            .map(|b| SECRET_ALPHABET[(*b & 63) as usize] as char)
            .collect();
        bytes.zeroize();
        Ok(Self {
            access_key_id: format!("AKIA{id}"),
            secret_access_key: secret,
        })
    }

    /// Load from the data dir, or generate and save (0600). Returns whether they were created.
    pub fn load_or_create(dir: &Path) -> Result<(Self, bool), String> {
        let path = dir.join(FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let c: Self = serde_json::from_str(&text)
                    .map_err(|e| format!("{} is malformed: {e}", path.display()))?;
                Ok((c, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let c = Self::generate()?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts
                    .open(&path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                let text = zeroize::Zeroizing::new(
                    serde_json::to_string_pretty(&c).map_err(|e| e.to_string())?,
                );
                f.write_all(text.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok((c, true))
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Who a request runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub arn: String,
    pub access_key_id: String,
    pub kind: PrincipalKind,
    /// When the temporary credentials the request was signed with were issued (ms since the
    /// epoch): `aws:TokenIssueTime`. `None` for long-term access keys.
    pub session_issued_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root: all-powerful, as AWS's root user.
    Root,
    /// An IAM user: no permission unless a policy grants it.
    User { name: String, id: String },
    /// A role session from STS AssumeRole: the role's policies, narrowed by the session policy.
    AssumedRole {
        role_name: String,
        role_arn: String,
        /// `ROLEID:SESSIONNAME`, the session's aws:userid and principalId.
        principal_id: String,
        session_name: String,
        session_policy: Option<std::sync::Arc<strongroom_policy::Policy>>,
        /// Session tags given to AssumeRole: the session's `aws:PrincipalTag/*`.
        session_tags: Vec<(String, String)>,
        /// The tag keys a chained AssumeRole passes on (`sts:TransitiveTagKeys`).
        transitive_tag_keys: Vec<String>,
        /// AssumeRole's SourceIdentity (`aws:SourceIdentity`), kept through role chaining.
        source_identity: Option<String>,
    },
}

impl Principal {
    /// The account root in `partition` (IAM's: the home region's).
    pub fn root_in(partition: &str, account_id: &str, access_key_id: &str) -> Self {
        Self {
            account_id: account_id.to_string(),
            arn: format!("arn:{partition}:iam::{account_id}:root"),
            access_key_id: access_key_id.to_string(),
            kind: PrincipalKind::Root,
            session_issued_ms: None,
        }
    }

    /// The root of an `aws` partition account, for tests.
    #[cfg(test)]
    pub fn root(account_id: &str, access_key_id: &str) -> Self {
        Self::root_in("aws", account_id, access_key_id)
    }

    pub fn is_root(&self) -> bool {
        self.kind == PrincipalKind::Root
    }

    /// The UserId GetCallerIdentity reports (the account id for root, as AWS does).
    pub fn user_id(&self) -> &str {
        match &self.kind {
            PrincipalKind::Root => &self.account_id,
            PrincipalKind::User { id, .. } => id,
            PrincipalKind::AssumedRole { principal_id, .. } => principal_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_look_like_aws() {
        let c = RootCredentials::generate().unwrap();
        assert!(c.access_key_id.starts_with("AKIA"));
        assert_eq!(c.access_key_id.len(), 20);
        assert_eq!(c.secret_access_key.len(), 40);
        assert_ne!(
            c.secret_access_key,
            RootCredentials::generate().unwrap().secret_access_key
        );
        assert!(!format!("{c:?}").contains(&c.secret_access_key));
    }
}
