//! STS session tokens: stateless and sealed.
//!
//! A token is the session itself (who, until when, its secret key, its session policy),
//! sealed by the barrier under the managed key with a binding of its own. The server keeps no
//! session table: a token opens only on a server holding the same root key, and any change to
//! it fails authentication. Like AWS's, a token cannot be revoked before it expires; deny
//! policies on `aws:TokenIssueTime` are the tool for that.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use strongroom_barrier::{Barrier, Sealed, ValueBinding};
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    Role { name: String, session_name: String },
    User { name: String },
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub issued_ms: i64,
    pub expires_ms: i64,
    pub subject: Subject,
    /// The inline session policy given to AssumeRole, if any.
    pub policy: Option<String>,
    /// Session tags given to AssumeRole (key, value).
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The keys of `tags` that pass on to sessions this one assumes (role chaining).
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
    /// AssumeRole's SourceIdentity: set once, kept through every chained session.
    #[serde(default)]
    pub source_identity: Option<String>,
}

/// What a new session carries besides who it is.
#[derive(Debug, Clone, Default)]
pub struct SessionGrant {
    pub policy: Option<String>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("access_key_id", &self.access_key_id)
            .field("subject", &self.subject)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

const BINDING: ValueBinding<'static> = ValueBinding {
    secret_arn: "strongroom:sts-session",
    version_id: "v1",
    kind: "session-token",
};

pub fn issue(barrier: &Barrier, key_id: &str, session: &Session) -> Option<String> {
    let json = Zeroizing::new(serde_json::to_vec(session).ok()?);
    let sealed = barrier.seal(key_id, &BINDING, &json).ok()?;
    let mut out = Vec::new();
    for part in [sealed.key_id().as_bytes(), sealed.wrapped_key()] {
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(sealed.ciphertext());
    Some(format!("SR1{}", URL_SAFE_NO_PAD.encode(out)))
}

/// `None` for anything that is not a token this server issued, unaltered.
pub fn open(barrier: &Barrier, token: &str) -> Option<Session> {
    let raw = URL_SAFE_NO_PAD.decode(token.strip_prefix("SR1")?).ok()?;
    let mut rest = raw.as_slice();
    let mut take = || -> Option<Vec<u8>> {
        let len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let part = rest.get(2..2 + len)?.to_vec();
        rest = &rest[2 + len..];
        Some(part)
    };
    let key_id = String::from_utf8(take()?).ok()?;
    let wrapped = take()?;
    let sealed = Sealed::from_stored_parts(key_id, wrapped, rest.to_vec());
    let json = barrier.open(&sealed, &BINDING).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strongroom_barrier::RootKey;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let b = Barrier::new(&RootKey::generate().unwrap());
        b.create_kms_key("k").unwrap();
        let s = Session {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            issued_ms: 1,
            expires_ms: 2,
            subject: Subject::Role {
                name: "r".into(),
                session_name: "s".into(),
            },
            policy: None,
            tags: vec![("team".into(), "payments".into())],
            transitive_tag_keys: vec!["team".into()],
            source_identity: Some("alice".into()),
        };
        let t = issue(&b, "k", &s).unwrap();
        assert!(!t.contains("secret"));
        let back = open(&b, &t).unwrap();
        assert_eq!(back.subject, s.subject);
        assert_eq!(back.secret_access_key, "secret");
        assert_eq!(back.tags, s.tags, "session tags travel sealed in the token");
        assert_eq!(back.transitive_tag_keys, s.transitive_tag_keys);
        assert_eq!(back.source_identity, s.source_identity);
        let mut bytes = t.into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        assert!(open(&b, &String::from_utf8(bytes).unwrap()).is_none());
        assert!(open(&b, "garbage").is_none());
        let other = Barrier::new(&RootKey::generate().unwrap());
        other.create_kms_key("k").unwrap();
        assert!(open(&other, &issue(&b, "k", &s).unwrap()).is_none());
    }
}
