//! KMS grants: what a grant is, which requests it allows (operation, grantee, encryption
//! context constraints) and which grants a grant may create. Pure; the KMS service stores
//! grants with their key and the authorizer consults them beside key policies and IAM.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::Millis;

/// The model's `GrantOperation` enum.
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "Encapsulate",
    "Decapsulate",
];

/// The grant operations a symmetric encryption key (`ENCRYPT_DECRYPT`, `SYMMETRIC_DEFAULT`,
/// the only kind Strongroom has) supports.
pub const SYMMETRIC_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

/// Operations an encryption context constraint does not apply to (AWS: a grant with a
/// constraint may include DescribeKey and RetireGrant, "but the constraint doesn't apply to
/// these operations"; CreateGrant has its own rule, [`Grant::may_create`]).
const CONTEXT_FREE: &[&str] = &["DescribeKey", "RetireGrant", "CreateGrant"];

/// Most pairs one constraint may hold (AWS: "up to 8 encryption context pairs").
pub const MAX_CONSTRAINT_PAIRS: usize = 8;
/// Longest value in a constraint (AWS: "cannot exceed 384 characters").
pub const MAX_CONSTRAINT_VALUE: usize = 384;

/// A grant's encryption context constraint (at most one of the two is set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<BTreeMap<String, String>>,
    /// Allows the grant only for requests a service makes on behalf of this resource: no
    /// direct request ever is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        self.subset.is_none() && self.equals.is_none() && self.source_arn.is_none()
    }

    /// Whether a request's encryption context satisfies the constraint (case-sensitive keys
    /// and values, as the context itself is).
    pub fn context_holds(&self, context: &BTreeMap<String, String>) -> bool {
        if let Some(subset) = &self.subset
            && !subset.iter().all(|(k, v)| context.get(k) == Some(v))
        {
            return false;
        }
        if let Some(equals) = &self.equals
            && equals != context
        {
            return false;
        }
        true
    }

    /// Whether `child` is as strict as `self` or stricter: every context `child` allows,
    /// `self` allows too.
    pub fn covers(&self, child: &Constraints) -> bool {
        if self.source_arn.is_some() && self.source_arn != child.source_arn {
            return false;
        }
        match (&self.subset, &self.equals) {
            (None, None) => true,
            (Some(parent), _) => match (&child.subset, &child.equals) {
                (_, Some(eq)) => parent.iter().all(|(k, v)| eq.get(k) == Some(v)),
                (Some(sub), None) => parent.iter().all(|(k, v)| sub.get(k) == Some(v)),
                (None, None) => false,
            },
            (None, Some(parent)) => child.equals.as_ref() == Some(parent),
        }
    }
}

/// One grant on a key, stored with the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub created_ms: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantee_principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantee_service_principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_service_principal: Option<String>,
    /// The account that created the grant (`arn:PARTITION:iam::ACCOUNT:root`).
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
}

impl Grant {
    /// Whether the grant names this principal as its grantee: the principal's own ARN, or for
    /// an assumed-role session the role's ARN (`aliases`).
    pub fn is_grantee(&self, principal_arn: &str, aliases: &[String]) -> bool {
        self.grantee_principal
            .as_deref()
            .is_some_and(|g| principal_matches(g, principal_arn, aliases))
    }

    /// Whether the grant allows `operation` (a GrantOperation name) for a request with this
    /// encryption context, whoever its grantee is.
    pub fn allows(&self, operation: &str, context: &BTreeMap<String, String>) -> bool {
        if !self.operations.iter().any(|o| o == operation) {
            return false;
        }
        match &self.constraints {
            None => true,
            Some(c) if CONTEXT_FREE.contains(&operation) => {
                // SourceArn applies to DescribeKey too (never satisfied by a direct call);
                // CreateGrant's constraint rule is [`Self::may_create`]'s.
                !(operation == "DescribeKey" && c.source_arn.is_some())
            }
            Some(c) => c.source_arn.is_none() && c.context_holds(context),
        }
    }

    /// Whether this grant's CreateGrant permission covers a new grant with these operations
    /// and constraints: no operation the grant lacks, constraints at least as strict.
    pub fn may_create(&self, operations: &[String], constraints: Option<&Constraints>) -> bool {
        if !self.operations.iter().any(|o| o == "CreateGrant") {
            return false;
        }
        if !operations.iter().all(|o| self.operations.contains(o)) {
            return false;
        }
        match &self.constraints {
            None => true,
            Some(parent) => parent.covers(constraints.unwrap_or(&Constraints::default())),
        }
    }

    /// Who may retire the grant besides holders of kms:RetireGrant: its retiring principal,
    /// and its grantee when the grant includes RetireGrant.
    pub fn may_retire(&self, principal_arn: &str, aliases: &[String]) -> bool {
        self.retiring_principal
            .as_deref()
            .is_some_and(|r| principal_matches(r, principal_arn, aliases))
            || (self.operations.iter().any(|o| o == "RetireGrant")
                && self.is_grantee(principal_arn, aliases))
    }
}

/// Whether a principal named in a grant is this caller: the caller's ARN, or one of its
/// aliases (an assumed-role session's role ARN).
pub fn principal_matches(named: &str, principal_arn: &str, aliases: &[String]) -> bool {
    named == principal_arn || aliases.iter().any(|a| a == named)
}

/// Validate a CreateGrant's operations: each from the model's enum (else a
/// ValidationException message), and each one this key type supports (else the operations
/// it does not).
pub fn check_operations(operations: &[String]) -> Result<(), OperationsError> {
    if operations.is_empty() {
        return Err(OperationsError::Invalid(
            "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ));
    }
    if operations
        .iter()
        .any(|op| !GRANT_OPERATIONS.contains(&op.as_str()))
    {
        return Err(OperationsError::Invalid(format!(
            "1 validation error detected: Value '[{}]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
            operations.join(", "),
            GRANT_OPERATIONS.join(", ")
        )));
    }
    let unsupported: Vec<&str> = operations
        .iter()
        .map(String::as_str)
        .filter(|o| !SYMMETRIC_OPERATIONS.contains(o))
        .collect();
    if !unsupported.is_empty() {
        return Err(OperationsError::NotForKeyType(unsupported.join(", ")));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationsError {
    /// Outside the model's constraints: a ValidationException with this message.
    Invalid(String),
    /// Operations a symmetric encryption key does not support (comma-separated).
    NotForKeyType(String),
}

/// Validate a grant's constraints: not both context forms; at most 8 pairs; values at most
/// 384 characters.
pub fn check_constraints(c: &Constraints) -> Result<(), String> {
    if c.subset.is_some() && c.equals.is_some() {
        return Err(
            "A grant constraint can specify EncryptionContextSubset or EncryptionContextEquals, not both."
                .into(),
        );
    }
    for ctx in [&c.subset, &c.equals].into_iter().flatten() {
        if ctx.len() > MAX_CONSTRAINT_PAIRS {
            return Err(format!(
                "A grant constraint can include at most {MAX_CONSTRAINT_PAIRS} encryption context pairs."
            ));
        }
        if ctx
            .values()
            .any(|v| v.chars().count() > MAX_CONSTRAINT_VALUE)
        {
            return Err(format!(
                "An encryption context value in a grant constraint cannot exceed {MAX_CONSTRAINT_VALUE} characters."
            ));
        }
    }
    Ok(())
}

/// Whether a new grant request repeats an existing named grant: same name, grantee, retiring
/// principal, operations (as a set) and constraints.
pub fn same_request(existing: &Grant, new: &Grant) -> bool {
    let ops = |g: &Grant| {
        let mut o = g.operations.clone();
        o.sort();
        o.dedup();
        o
    };
    existing.name == new.name
        && existing.grantee_principal == new.grantee_principal
        && existing.grantee_service_principal == new.grantee_service_principal
        && existing.retiring_principal == new.retiring_principal
        && existing.retiring_service_principal == new.retiring_service_principal
        && ops(existing) == ops(new)
        && existing.constraints.clone().filter(|c| !c.is_empty())
            == new.constraints.clone().filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn grant(ops: &[&str], constraints: Option<Constraints>) -> Grant {
        Grant {
            grant_id: "g".into(),
            name: None,
            created_ms: 0,
            grantee_principal: Some("arn:aws:iam::123456789012:user/app".into()),
            grantee_service_principal: None,
            retiring_principal: Some("arn:aws:iam::123456789012:role/ops".into()),
            retiring_service_principal: None,
            issuing_account: "arn:aws:iam::123456789012:root".into(),
            operations: ops.iter().map(|o| o.to_string()).collect(),
            constraints,
        }
    }

    fn subset(pairs: &[(&str, &str)]) -> Constraints {
        Constraints {
            subset: Some(ctx(pairs)),
            ..Default::default()
        }
    }

    fn equals(pairs: &[(&str, &str)]) -> Constraints {
        Constraints {
            equals: Some(ctx(pairs)),
            ..Default::default()
        }
    }

    #[test]
    fn subset_needs_every_pair_and_allows_more() {
        let c = subset(&[("app", "x")]);
        assert!(c.context_holds(&ctx(&[("app", "x")])));
        assert!(c.context_holds(&ctx(&[("app", "x"), ("env", "prod")])));
        assert!(!c.context_holds(&ctx(&[])));
        assert!(!c.context_holds(&ctx(&[("app", "y")])));
        // Keys and values are case-sensitive.
        assert!(!c.context_holds(&ctx(&[("App", "x")])));
        assert!(!c.context_holds(&ctx(&[("app", "X")])));
    }

    #[test]
    fn equals_needs_exactly_the_context() {
        let c = equals(&[("app", "x")]);
        assert!(c.context_holds(&ctx(&[("app", "x")])));
        assert!(!c.context_holds(&ctx(&[("app", "x"), ("env", "prod")])));
        assert!(!c.context_holds(&ctx(&[])));
        assert!(!c.context_holds(&ctx(&[("app", "X")])));
        // An empty Equals constraint allows only requests without a context.
        assert!(equals(&[]).context_holds(&ctx(&[])));
        assert!(!equals(&[]).context_holds(&ctx(&[("a", "b")])));
    }

    #[test]
    fn a_grant_allows_only_its_operations_under_its_constraints() {
        let g = grant(
            &["Encrypt", "Decrypt", "DescribeKey"],
            Some(subset(&[("app", "x")])),
        );
        assert!(g.allows("Encrypt", &ctx(&[("app", "x")])));
        assert!(g.allows("Decrypt", &ctx(&[("app", "x"), ("b", "c")])));
        assert!(!g.allows("Decrypt", &ctx(&[])));
        assert!(!g.allows("GenerateDataKey", &ctx(&[("app", "x")])));
        // The constraint does not apply to DescribeKey.
        assert!(g.allows("DescribeKey", &ctx(&[])));
        let open = grant(&["Encrypt"], None);
        assert!(open.allows("Encrypt", &ctx(&[])));
        // A SourceArn constraint is never met by a direct call.
        let via = grant(
            &["Decrypt", "DescribeKey"],
            Some(Constraints {
                source_arn: Some("arn:aws:s3:::b".into()),
                ..Default::default()
            }),
        );
        assert!(!via.allows("Decrypt", &ctx(&[])));
        assert!(!via.allows("DescribeKey", &ctx(&[])));
    }

    #[test]
    fn grantees_match_by_arn_and_assumed_roles_by_role() {
        let g = grant(&["Encrypt"], None);
        assert!(g.is_grantee("arn:aws:iam::123456789012:user/app", &[]));
        assert!(!g.is_grantee("arn:aws:iam::123456789012:user/other", &[]));
        assert!(!g.is_grantee("arn:aws:iam::123456789012:user/ap", &[]));
        let mut r = g.clone();
        r.grantee_principal = Some("arn:aws:iam::123456789012:role/worker".into());
        assert!(r.is_grantee(
            "arn:aws:sts::123456789012:assumed-role/worker/s1",
            &["arn:aws:iam::123456789012:role/worker".into()]
        ));
        assert!(!r.is_grantee(
            "arn:aws:sts::123456789012:assumed-role/other/s1",
            &["arn:aws:iam::123456789012:role/other".into()]
        ));
        // A grant to a session's ARN is for that session only.
        r.grantee_principal = Some("arn:aws:sts::123456789012:assumed-role/worker/s1".into());
        assert!(r.is_grantee(
            "arn:aws:sts::123456789012:assumed-role/worker/s1",
            &["arn:aws:iam::123456789012:role/worker".into()]
        ));
        assert!(!r.is_grantee(
            "arn:aws:sts::123456789012:assumed-role/worker/s2",
            &["arn:aws:iam::123456789012:role/worker".into()]
        ));
    }

    #[test]
    fn retiring_principal_or_grantee_with_retire_grant_may_retire() {
        let g = grant(&["Encrypt"], None);
        assert!(g.may_retire("arn:aws:iam::123456789012:role/ops", &[]));
        assert!(!g.may_retire("arn:aws:iam::123456789012:user/app", &[]));
        let g = grant(&["Encrypt", "RetireGrant"], None);
        assert!(g.may_retire("arn:aws:iam::123456789012:user/app", &[]));
        assert!(!g.may_retire("arn:aws:iam::123456789012:user/else", &[]));
    }

    #[test]
    fn created_grants_are_no_broader() {
        let g = grant(
            &["CreateGrant", "Decrypt", "Encrypt"],
            Some(subset(&[("app", "x")])),
        );
        let ops = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(g.may_create(&ops(&["Decrypt"]), Some(&subset(&[("app", "x")]))));
        assert!(g.may_create(
            &ops(&["Decrypt"]),
            Some(&subset(&[("app", "x"), ("e", "1")]))
        ));
        assert!(g.may_create(&ops(&["Decrypt"]), Some(&equals(&[("app", "x")]))));
        assert!(!g.may_create(&ops(&["Decrypt"]), None));
        assert!(!g.may_create(&ops(&["Decrypt"]), Some(&subset(&[("app", "y")]))));
        assert!(!g.may_create(&ops(&["GenerateDataKey"]), Some(&subset(&[("app", "x")]))));
        let eq = grant(&["CreateGrant", "Decrypt"], Some(equals(&[("a", "1")])));
        assert!(eq.may_create(&ops(&["Decrypt"]), Some(&equals(&[("a", "1")]))));
        assert!(!eq.may_create(&ops(&["Decrypt"]), Some(&subset(&[("a", "1")]))));
        assert!(!grant(&["Decrypt"], None).may_create(&ops(&["Decrypt"]), None));
    }

    #[test]
    fn operations_are_checked_against_the_enum_and_the_key_type() {
        let ops = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(check_operations(&ops(&["Encrypt", "Decrypt"])), Ok(()));
        assert!(matches!(
            check_operations(&ops(&["Encrypt", "Fly"])),
            Err(OperationsError::Invalid(m)) if m.contains("'[Encrypt, Fly]' at 'operations'")
        ));
        assert!(matches!(
            check_operations(&[]),
            Err(OperationsError::Invalid(_))
        ));
        assert_eq!(
            check_operations(&ops(&["Encrypt", "Sign", "GenerateMac"])),
            Err(OperationsError::NotForKeyType("Sign, GenerateMac".into()))
        );
    }

    #[test]
    fn constraints_are_validated() {
        assert!(check_constraints(&subset(&[("a", "b")])).is_ok());
        let both = Constraints {
            subset: Some(ctx(&[("a", "b")])),
            equals: Some(ctx(&[("a", "b")])),
            source_arn: None,
        };
        assert!(check_constraints(&both).is_err());
        let many: Vec<(String, String)> = (0..9).map(|i| (format!("k{i}"), "v".into())).collect();
        let many = Constraints {
            subset: Some(many.into_iter().collect()),
            ..Default::default()
        };
        assert!(check_constraints(&many).is_err());
        let long = "x".repeat(385);
        assert!(check_constraints(&subset(&[("a", &long)])).is_err());
    }

    #[test]
    fn a_named_request_repeats_only_with_the_same_parameters() {
        let mut a = grant(&["Encrypt", "Decrypt"], Some(subset(&[("app", "x")])));
        a.name = Some("n".into());
        let mut b = a.clone();
        b.grant_id = "other".into();
        b.operations = vec!["Decrypt".into(), "Encrypt".into()];
        assert!(same_request(&a, &b));
        b.operations.push("GenerateDataKey".into());
        assert!(!same_request(&a, &b));
        let mut c = a.clone();
        c.constraints = None;
        assert!(!same_request(&a, &c));
        let mut d = a.clone();
        d.retiring_principal = None;
        assert!(!same_request(&a, &d));
    }
}
