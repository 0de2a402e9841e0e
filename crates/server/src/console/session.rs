//! Console sessions: a random 256-bit id in the browser's cookie, kept here only as its
//! SHA-256 (a memory dump or a log of this map opens no session), with the principal, a CSRF
//! token, and idle and absolute expiry judged by the server's clock. Sign-out removes it.
//!
//! Kept in this process's memory: several nodes behind a load balancer need stickiness
//! (HAProxy `cookie`/`stick on`) for the console.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::credentials::Principal;

/// The session cookie's name.
pub const COOKIE: &str = "strongroom_console";

/// A signed-in session, as the handlers see it.
#[derive(Clone)]
pub struct Session {
    pub principal: Principal,
    /// Required with every state-changing request of this session.
    pub csrf: String,
    /// Opened with a console password that must be changed first (PasswordResetRequired, or
    /// older than the policy's MaxPasswordAge): nothing but the change and sign-out until then.
    pub password_change: bool,
}

struct Entry {
    session: Session,
    created_ms: i64,
    last_ms: i64,
}

pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Entry>>,
    idle_ms: i64,
    absolute_ms: i64,
}

/// 256 random bits, URL-safe base64.
fn random_token() -> String {
    let mut b = [0u8; 32];
    // The system RNG failing is not something to serve through.
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system random number generator failed");
    URL_SAFE_NO_PAD.encode(b)
}

fn hash(id: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Sessions {
    pub fn new(idle_secs: u64, absolute_secs: u64) -> Self {
        Self {
            by_hash: Mutex::new(HashMap::new()),
            idle_ms: (idle_secs as i64).saturating_mul(1000),
            absolute_ms: (absolute_secs as i64).saturating_mul(1000),
        }
    }

    /// A new session for `principal`: its id (for the cookie only) and the session.
    pub fn create(
        &self,
        principal: Principal,
        password_change: bool,
        now_ms: i64,
    ) -> (String, Session) {
        let id = random_token();
        let session = Session {
            principal,
            csrf: random_token(),
            password_change,
        };
        let mut map = self.lock();
        // Expired sessions go when new ones come, so the map stays as large as the live ones.
        map.retain(|_, e| self.live(e, now_ms));
        map.insert(
            hash(&id),
            Entry {
                session: session.clone(),
                created_ms: now_ms,
                last_ms: now_ms,
            },
        );
        (id, session)
    }

    /// The live session with this id (its idle clock restarted), or `None` — an expired one
    /// is removed.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let key = hash(id);
        let mut map = self.lock();
        let entry = map.get_mut(&key)?;
        if !self.live(entry, now_ms) {
            map.remove(&key);
            return None;
        }
        entry.last_ms = now_ms;
        Some(entry.session.clone())
    }

    /// The password was changed: the session may do what its principal may.
    pub fn password_changed(&self, id: &str) {
        if let Some(e) = self.lock().get_mut(&hash(id)) {
            e.session.password_change = false;
        }
    }

    /// Sign-out: the id opens nothing any more.
    pub fn revoke(&self, id: &str) {
        self.lock().remove(&hash(id));
    }

    fn live(&self, e: &Entry, now_ms: i64) -> bool {
        now_ms - e.last_ms < self.idle_ms && now_ms - e.created_ms < self.absolute_ms
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.by_hash.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Principal {
        Principal::root("123456789012", "AKIAROOT")
    }

    #[test]
    fn a_session_lives_while_used_and_dies_when_idle() {
        let s = Sessions::new(10, 100);
        let (id, session) = s.create(root(), false, 0);
        assert_eq!(id.len(), 43, "256 bits in URL-safe base64");
        assert_ne!(id, session.csrf);
        assert!(s.get(&id, 9_000).is_some());
        // Used at 9 s: idle until 19 s.
        assert!(s.get(&id, 18_000).is_some());
        assert!(s.get(&id, 28_001).is_none());
        // Gone for good, not just refused once.
        assert!(s.get(&id, 28_002).is_none());
    }

    #[test]
    fn a_session_ends_at_its_absolute_limit_however_active() {
        let s = Sessions::new(10, 25);
        let (id, _) = s.create(root(), false, 0);
        for t in [8_000, 16_000, 24_000] {
            assert!(s.get(&id, t).is_some());
        }
        assert!(s.get(&id, 25_000).is_none());
    }

    #[test]
    fn revoked_and_unknown_ids_open_nothing() {
        let s = Sessions::new(10, 100);
        let (id, _) = s.create(root(), false, 0);
        assert!(s.get("not-a-session", 1).is_none());
        s.revoke(&id);
        assert!(s.get(&id, 1).is_none());
    }

    #[test]
    fn only_the_hash_of_an_id_is_kept() {
        let s = Sessions::new(10, 100);
        let (id, _) = s.create(root(), false, 0);
        let map = s.lock();
        assert!(map.contains_key(&hash(&id)));
        assert!(!map.keys().any(|k| k.as_slice() == id.as_bytes()));
    }
}
