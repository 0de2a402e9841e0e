//! SimulatePrincipalPolicy: evaluate the policies of a user, group or role for each action
//! and resource, reporting the decision and the statements that made it.

use super::*;

use crate::iam::authz::{Authorizer, RequestInfo};
use strongroom_policy::{Outcome, PolicyKind};

/// The policies a simulation adds to the subject's own: (name cited in answers, policy).
type ExtraPolicies = Vec<(Arc<str>, Arc<strongroom_policy::Policy>)>;

impl Iam {
    /// SimulatePrincipalPolicy.
    pub(super) fn simulate(
        &self,
        i: SimulatePrincipalPolicyRequest,
        authz: &Authorizer,
        info: &RequestInfo,
    ) -> Result<SimulatePolicyResponse, IamError> {
        let (principal, mut extra) = self.simulated_principal(&i.policy_source_arn)?;
        for (n, doc) in i.policy_input_list.iter().flatten().enumerate() {
            let policy = strongroom_policy::parse(doc, PolicyKind::Identity)
                .map_err(|e| IamError::MalformedPolicyDocument(e.0))?;
            extra.push((
                Arc::from(format!("PolicyInputList.{}", n + 1)),
                Arc::new(policy),
            ));
        }
        if i.action_names.is_empty() {
            return Err(IamError::Validation(
                "ActionNames must name at least one action.".into(),
            ));
        }
        let resources = match i.resource_arns {
            Some(r) if !r.is_empty() => r,
            _ => vec!["*".into()],
        };
        let resource_policy = match &i.resource_policy {
            Some(doc) => Some(
                strongroom_policy::parse(doc, PolicyKind::Resource)
                    .map_err(|e| IamError::MalformedPolicyDocument(e.0))?,
            ),
            None => None,
        };
        let mut keys = strongroom_policy::matching::Keys::new();
        for entry in i.context_entries.iter().flatten() {
            if let Some(name) = &entry.context_key_name {
                keys.insert(
                    name.to_ascii_lowercase(),
                    entry.context_key_values.clone().unwrap_or_default(),
                );
            }
        }
        let mut results = Vec::new();
        for action in &i.action_names {
            for resource in &resources {
                let d = authz.decide_with(
                    &principal,
                    &extra,
                    action,
                    resource,
                    resource_policy.as_ref(),
                    keys.clone(),
                    info,
                );
                results.push(EvaluationResult {
                    eval_action_name: action.clone(),
                    eval_resource_name: Some(resource.clone()),
                    eval_decision: match d.outcome {
                        Outcome::Allowed => "allowed",
                        Outcome::ExplicitDeny => "explicitDeny",
                        Outcome::ImplicitDeny => "implicitDeny",
                    }
                    .into(),
                    matched_statements: Some(
                        d.statements
                            .iter()
                            .map(|st| Statement {
                                source_policy_id: Some(match &st.sid {
                                    Some(sid) => format!("{} statement {sid}", st.policy),
                                    None => format!("{} statement #{}", st.policy, st.index + 1),
                                }),
                                source_policy_type: Some(source_type(&st.policy).into()),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    missing_context_values: Some(Vec::new()),
                    ..Default::default()
                });
            }
        }
        let (evaluation_results, is_truncated, marker) =
            page(results, i.marker.as_deref(), i.max_items)?;
        Ok(SimulatePolicyResponse {
            evaluation_results: Some(evaluation_results),
            is_truncated,
            marker,
        })
    }

    /// The principal a simulation evaluates, and the policies it adds (a group's).
    fn simulated_principal(&self, source: &str) -> Result<(Principal, ExtraPolicies), IamError> {
        let (partition, account) = (self.directory.partition(), self.directory.account_id());
        let principal = |arn: String, kind: PrincipalKind| Principal {
            account_id: account.to_string(),
            arn,
            access_key_id: String::new(),
            kind,
            session_issued_ms: None,
        };
        let last = |path: &'_ str| path.rsplit('/').next().unwrap_or(path).to_string();
        if let Some(user) = source.strip_prefix(&format!("arn:{partition}:iam::{account}:user/")) {
            let u = self.directory.user(&last(user))?;
            let kind = PrincipalKind::User {
                name: u.name.clone(),
                id: u.id.clone(),
            };
            return Ok((principal(u.arn.clone(), kind), Vec::new()));
        }
        if let Some(role) = source.strip_prefix(&format!("arn:{partition}:iam::{account}:role/")) {
            let r = self.directory.role(&last(role))?;
            let kind = PrincipalKind::AssumedRole {
                role_name: r.name.clone(),
                role_arn: r.arn.clone(),
                principal_id: format!("{}:simulation", r.id),
                session_name: "simulation".into(),
                session_policy: None,
                session_tags: Vec::new(),
                transitive_tag_keys: Vec::new(),
                source_identity: None,
            };
            let arn = format!(
                "arn:{partition}:sts::{account}:assumed-role/{}/simulation",
                r.name
            );
            return Ok((principal(arn, kind), Vec::new()));
        }
        if let Some(group) = source.strip_prefix(&format!("arn:{partition}:iam::{account}:group/"))
        {
            let g = last(group);
            let policies = self.directory.group_policies(&g)?;
            // A stand-in member: no user may have this name, so only the group's policies
            // apply.
            let kind = PrincipalKind::User {
                name: format!("<group {g}>"),
                id: String::new(),
            };
            return Ok((principal(source.to_string(), kind), policies));
        }
        Err(IamError::Validation(format!(
            "PolicySourceArn must be the ARN of a user, group or role in account {account}, not {source}."
        )))
    }
}

/// SimulatePrincipalPolicy's SourcePolicyType of a statement's policy, by the name the
/// evaluation cites it with.
pub(crate) fn source_type(cited: &str) -> &'static str {
    if cited.starts_with("user/") {
        "user"
    } else if cited.starts_with("group/") {
        "group"
    } else if cited.starts_with("role/") {
        "role"
    } else if cited.starts_with("managed policy") {
        "user-managed"
    } else if cited.starts_with("resource") {
        "resource"
    } else if cited.starts_with("PolicyInputList") {
        "IAM Policy"
    } else {
        "none"
    }
}
