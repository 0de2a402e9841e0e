//! What `GET /ready` answers: whether a node can serve requests now, and if not, which part
//! fails — so a load balancer stops sending it traffic and an operator sees why.

use serde_json::{Value, json};

/// The facts a node gathered for one readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Each region's store (by region name) and whether it answered in time.
    pub stores: Vec<(String, bool)>,
    /// Whether the audit log takes records: without them every request is refused.
    pub audit_writable: bool,
    /// Whether this node holds the background lease. Informative only: a standby serves
    /// requests as well as the leader.
    pub leader: bool,
}

impl Readiness {
    /// Ready when every store answers and the audit log is writable.
    pub fn is_ready(&self) -> bool {
        self.failing().is_empty()
    }

    /// The parts that fail, by name: `store:<region>`, `audit`.
    pub fn failing(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .stores
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(region, _)| format!("store:{region}"))
            .collect();
        if !self.audit_writable {
            out.push("audit".into());
        }
        out
    }

    /// `{"status":"ready"|"unavailable","store":{region:"ok"|"unreachable"},
    /// "audit":"writable"|"unwritable","background":"leader"|"standby","failing":[...]}`
    pub fn to_json(&self) -> Value {
        let stores: serde_json::Map<String, Value> = self
            .stores
            .iter()
            .map(|(r, ok)| {
                let state = if *ok { "ok" } else { "unreachable" };
                (r.clone(), Value::from(state))
            })
            .collect();
        json!({
            "status": if self.is_ready() { "ready" } else { "unavailable" },
            "store": stores,
            "audit": if self.audit_writable { "writable" } else { "unwritable" },
            "background": if self.leader { "leader" } else { "standby" },
            "failing": self.failing(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(stores: &[(&str, bool)], audit: bool, leader: bool) -> Readiness {
        Readiness {
            stores: stores.iter().map(|(r, ok)| (r.to_string(), *ok)).collect(),
            audit_writable: audit,
            leader,
        }
    }

    #[test]
    fn ready_when_every_store_answers_and_the_audit_log_is_writable() {
        let r = facts(&[("us-east-1", true), ("us-west-2", true)], true, false);
        assert!(r.is_ready());
        let j = r.to_json();
        assert_eq!(j["status"], "ready");
        assert_eq!(j["store"]["us-west-2"], "ok");
        assert_eq!(j["background"], "standby");
        assert_eq!(j["failing"], json!([]));
    }

    #[test]
    fn a_standby_is_as_ready_as_the_leader() {
        assert!(facts(&[("us-east-1", true)], true, false).is_ready());
        assert_eq!(
            facts(&[("us-east-1", true)], true, true).to_json()["background"],
            "leader"
        );
    }

    #[test]
    fn an_unreachable_store_is_named() {
        let r = facts(&[("us-east-1", true), ("us-west-2", false)], true, true);
        assert!(!r.is_ready());
        let j = r.to_json();
        assert_eq!(j["status"], "unavailable");
        assert_eq!(j["store"]["us-west-2"], "unreachable");
        assert_eq!(j["failing"], json!(["store:us-west-2"]));
    }

    #[test]
    fn an_unwritable_audit_log_is_named() {
        let r = facts(&[("us-east-1", false)], false, false);
        assert_eq!(r.failing(), vec!["store:us-east-1", "audit"]);
        assert_eq!(r.to_json()["audit"], "unwritable");
    }
}
