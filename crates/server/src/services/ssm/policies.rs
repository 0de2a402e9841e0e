//! Parameter policies enforced (the rules are `strongroom_domain::parameter_policies`): the
//! region's background sweep deletes a parameter when its Expiration comes, and announces each
//! ExpirationNotification and NoChangeNotification once per version. What it did comes back as
//! [`PolicyAction`]s, which the sweep records as audit service events and counts as `AWS/SSM`
//! metrics (`Expiration`, `ExpirationNotification`, `NoChangeNotification`) alarms can watch —
//! Strongroom's stand-in for the EventBridge events AWS sends ("Parameter Store Policy Action").

use strongroom_domain::parameter_policies::{self, Due};
use strongroom_store::{ParameterWrite, StoreError};

use super::Ssm;

/// One policy acted on.
#[derive(Debug, Clone)]
pub struct PolicyAction {
    pub name: String,
    pub arn: String,
    /// The policy type: `Expiration` (the parameter was deleted) or a notification's.
    pub policy_type: &'static str,
    /// The parameter's version the policy belongs to.
    pub version: i64,
    /// When the parameter expires (or expired), if it has an Expiration policy.
    pub expires_ms: Option<i64>,
}

impl Ssm {
    /// Act on every policy due now.
    pub async fn sweep_policies(&self) -> Vec<PolicyAction> {
        let Ok(parameters) = self.store.parameters_with_policies().await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for p in parameters {
            if p.latest().policies.is_empty() {
                continue;
            }
            match self.apply_due(&p.name).await {
                Ok(mut done) => out.append(&mut done),
                Err(e) => {
                    tracing::warn!(parameter = %p.name, error = %e, "parameter policy sweep failed")
                }
            }
        }
        out
    }

    /// Re-read `name` under the write lock (a new version may have come) and act on it.
    async fn apply_due(&self, name: &str) -> Result<Vec<PolicyAction>, StoreError> {
        let _serialised = self.write_lock.lock().await;
        let Some(p) = self.store.parameter(name).await? else {
            return Ok(Vec::new());
        };
        let now = self.clock.now_ms();
        let latest = p.latest();
        let expires_ms = parameter_policies::expires_at(&latest.policies);
        let due = parameter_policies::due(
            &latest.policies,
            latest.modified_ms,
            now,
            &latest.policies_done,
        );
        let action = |policy_type| PolicyAction {
            name: p.name.clone(),
            arn: self.arn(&p.name),
            policy_type,
            version: latest.version,
            expires_ms,
        };
        if due.contains(&Due::Delete) {
            if self.store.delete_parameter(&p.name).await? {
                tracing::info!(parameter = %p.name, "parameter expired and was deleted");
                return Ok(vec![action("Expiration")]);
            }
            return Ok(Vec::new());
        }
        let notified: Vec<&'static str> = due
            .iter()
            .filter_map(|d| match d {
                Due::Notify(kind) => Some(*kind),
                Due::Delete => None,
            })
            .collect();
        if notified.is_empty() {
            return Ok(Vec::new());
        }
        let mut next = p.clone();
        if let Some(v) = next.versions.last_mut() {
            v.policies_done
                .extend(notified.iter().map(|k| (*k).to_string()));
        }
        next.revision += 1;
        self.store
            .commit_parameter(ParameterWrite {
                expected_revision: Some(p.revision),
                parameter: next,
                new_values: Vec::new(),
            })
            .await?;
        Ok(notified.into_iter().map(action).collect())
    }
}
