//! Resource-based policies on secrets: PutResourcePolicy, GetResourcePolicy,
//! DeleteResourcePolicy, ValidateResourcePolicy.

use strongroom_policy::document::{Effect, Policy, PolicyKind};

use super::shapes::{
    DeleteResourcePolicyRequest, DeleteResourcePolicyResponse, GetResourcePolicyRequest,
    GetResourcePolicyResponse, PutResourcePolicyRequest, PutResourcePolicyResponse,
    ValidateResourcePolicyRequest, ValidateResourcePolicyResponse, ValidationErrorsEntry,
};
use super::{SecretsManager, SmError, validate};

fn finding(check: &str, message: String) -> ValidationErrorsEntry {
    ValidationErrorsEntry {
        check_name: Some(check.into()),
        error_message: Some(message),
    }
}

fn parse(doc: &str) -> Result<Policy, SmError> {
    validate::length("resourcePolicy", doc, 1, 20_480)?;
    strongroom_policy::parse(doc, PolicyKind::Resource)
        .map_err(|e| SmError::MalformedPolicyDocument(e.0))
}

/// Allow statements that reach beyond this account: `*`, NotPrincipal, or another
/// account's principals (an ARN of another partition is another account), with no
/// condition narrowing them.
fn broad_grants(policy: &Policy, partition: &str, account: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, st) in policy.statements.iter().enumerate() {
        if st.effect != Effect::Allow || !st.conditions.is_empty() {
            continue;
        }
        let Some(p) = &st.principal else { continue };
        let foreign = p.aws.iter().any(|a| {
            let (part, acct) = if a.starts_with("arn:") {
                let mut f = a.split(':');
                (f.nth(1).unwrap_or(""), f.nth(2).unwrap_or(""))
            } else {
                (partition, a.as_str())
            };
            part != partition || acct != account
        });
        if p.anyone || p.negated || foreign {
            let sid = st.sid.clone().unwrap_or_else(|| format!("#{}", i + 1));
            out.push(format!(
                "Statement {sid} allows principals outside account {account} (a wildcard, NotPrincipal or another account) without a condition narrowing them."
            ));
        }
    }
    out
}

/// Least-privilege findings (seed 002: no wildcard actions, no wildcard resources, no
/// public principals).
fn findings(policy: &Policy, partition: &str, account: &str) -> Vec<ValidationErrorsEntry> {
    let mut out: Vec<ValidationErrorsEntry> = broad_grants(policy, partition, account)
        .into_iter()
        .map(|m| finding("PUBLIC_ACCESS", m))
        .collect();
    for (i, st) in policy.statements.iter().enumerate() {
        if st.effect != Effect::Allow {
            continue;
        }
        let sid = st.sid.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let wild_action = st.action.negated
            || st
                .action
                .values
                .iter()
                .any(|a| a == "*" || a.ends_with(":*"));
        if wild_action {
            out.push(finding(
                "WILDCARD_ACTION",
                format!(
                    "Statement {sid} allows every action of a service (a wildcard or NotAction): list the actions the principal needs."
                ),
            ));
        }
        let wild_resource = st.resource.as_ref().is_some_and(|r| {
            r.negated
                || r.values
                    .iter()
                    .any(|v| v != "*" && (v.contains('*') || v.contains('?')))
        });
        if wild_resource {
            out.push(finding(
                "WILDCARD_RESOURCE",
                format!(
                    "Statement {sid} names resources by wildcard or NotResource: in a secret's policy use \"*\" (this secret) or its ARN."
                ),
            ));
        }
    }
    out
}

impl SecretsManager {
    pub(super) async fn put_resource_policy(
        &self,
        input: PutResourcePolicyRequest,
    ) -> Result<PutResourcePolicyResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let doc = validate::required("resourcePolicy", input.resource_policy)?;
        let policy = parse(&doc)?;
        if input.block_public_policy.unwrap_or(false)
            && !broad_grants(&policy, self.partition(), &self.account_id).is_empty()
        {
            return Err(SmError::PublicPolicy(
                "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.".into(),
            ));
        }
        let now = self.clock.now_ms();
        let (secret, ()) = self
            .modify(&id, |s| {
                if s.is_scheduled_for_deletion() {
                    return Err(SmError::marked_for_deletion());
                }
                s.resource_policy = Some(doc.clone());
                s.last_changed_ms = now;
                Ok(((), Vec::new()))
            })
            .await?;
        Ok(PutResourcePolicyResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
            policy_name: None,
        })
    }

    pub(super) async fn get_resource_policy(
        &self,
        input: GetResourcePolicyRequest,
    ) -> Result<GetResourcePolicyResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let secret = self.resolve(&id).await?;
        Ok(GetResourcePolicyResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
            resource_policy: secret.resource_policy,
            policy_name: None,
        })
    }

    pub(super) async fn delete_resource_policy(
        &self,
        input: DeleteResourcePolicyRequest,
    ) -> Result<DeleteResourcePolicyResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let now = self.clock.now_ms();
        let (secret, ()) = self
            .modify(&id, |s| {
                if s.resource_policy.take().is_some() {
                    s.last_changed_ms = now;
                }
                Ok(((), Vec::new()))
            })
            .await?;
        Ok(DeleteResourcePolicyResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
            policy_name: None,
        })
    }

    pub(super) async fn validate_resource_policy(
        &self,
        input: ValidateResourcePolicyRequest,
    ) -> Result<ValidateResourcePolicyResponse, SmError> {
        let doc = validate::required("resourcePolicy", input.resource_policy)?;
        if let Some(id) = &input.secret_id {
            self.resolve(id).await?;
        }
        let policy = parse(&doc)?;
        let errors = findings(&policy, self.partition(), &self.account_id);
        Ok(ValidateResourcePolicyResponse {
            policy_validation_passed: Some(errors.is_empty()),
            validation_errors: Some(errors),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(doc: &str) -> Policy {
        parse(doc).unwrap()
    }

    #[test]
    fn broad_and_narrow_grants() {
        let public = p(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        );
        assert_eq!(broad_grants(&public, "aws", "123456789012").len(), 1);
        let other = p(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        );
        assert_eq!(broad_grants(&other, "aws", "123456789012").len(), 1);
        let ours = p(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        );
        assert!(broad_grants(&ours, "aws", "123456789012").is_empty());
        assert!(findings(&ours, "aws", "123456789012").is_empty());
        let conditioned = p(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"123456789012"}}}}"#,
        );
        assert!(broad_grants(&conditioned, "aws", "123456789012").is_empty());
        // The same account in another partition is another account.
        assert_eq!(broad_grants(&ours, "aws-cn", "123456789012").len(), 1);
        let china = p(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws-cn:iam::123456789012:user/app","123456789012"]},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        );
        assert!(broad_grants(&china, "aws-cn", "123456789012").is_empty());
    }

    #[test]
    fn least_privilege_findings() {
        let loose = p(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"secretsmanager:*","Resource":"arn:aws:secretsmanager:*:*:secret:*"}]}"#,
        );
        let names: Vec<String> = findings(&loose, "aws", "123456789012")
            .into_iter()
            .filter_map(|f| f.check_name)
            .collect();
        assert_eq!(
            names,
            vec!["PUBLIC_ACCESS", "WILDCARD_ACTION", "WILDCARD_RESOURCE"]
        );
    }
}
