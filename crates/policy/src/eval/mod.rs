//! AWS's policy evaluation logic for one request.
//!
//! 1. Any applicable explicit `Deny` — in an identity, resource, boundary or session
//!    policy — decides: denied.
//! 2. Otherwise the request is allowed when, within one account, an identity-based policy
//!    allows it (and every permissions boundary / session policy present allows it too) or a
//!    resource-based policy allows it for this principal directly; across accounts, both the
//!    identity side and the resource policy must allow.
//! 3. Otherwise: implicitly denied.
//!
//! A resource policy that names an *account* (`"AWS": "123456789012"` or `...:root`)
//! delegates to that account's identity policies: it does not grant on its own.
//!
//! Some resource policies are not optional: a role's trust policy (for `sts:AssumeRole`,
//! `sts:TagSession`, `sts:SetSourceIdentity`) and a KMS key policy must allow the request
//! themselves, in any account ([`ResourceRule::Required`]). There an identity-policy allow is
//! an additional requirement when the resource policy names the account, never a substitute.
//!
//! Which principal a resource policy named also matters (AWS's table "resource-based
//! policies and permissions boundaries / session policies"): a grant to the user's ARN or to
//! the exact role session ARN is not limited by a permissions boundary or a session policy;
//! a grant to the *role* ARN a session belongs to is limited by both.

use std::borrow::Cow;

use crate::document::{Effect, Policy, Principals, Statement};
use crate::matching::{self, KeyLookup, Keys, Values};

/// Everything the evaluation looks at. Condition keys are lowercase. The names are borrowed
/// where the caller has them (a request's are: no copies per authorization).
#[derive(Debug, Clone, Default)]
pub struct RequestContext<'a> {
    /// `service:Operation`, e.g. `secretsmanager:GetSecretValue`.
    pub action: Cow<'a, str>,
    /// The resource ARN (or `*` for actions without one).
    pub resource: Cow<'a, str>,
    /// The caller's ARN: a user, an assumed-role session, or the account root.
    pub principal_arn: Cow<'a, str>,
    /// Other ARNs the caller answers to in a `Principal` (an assumed role's role ARN).
    pub principal_aliases: Vec<String>,
    pub principal_account: Cow<'a, str>,
    pub resource_account: Cow<'a, str>,
    /// The request's own condition keys (a service's, or SimulatePrincipalPolicy's context
    /// entries): they win over `facts`.
    pub keys: Keys,
    /// The keys every request has (the global condition keys), read only where a policy
    /// looks at one.
    pub facts: Option<&'a dyn KeyLookup>,
}

impl KeyLookup for RequestContext<'_> {
    fn lookup(&self, key: &str) -> Option<Values<'_>> {
        self.keys
            .lookup(key)
            .or_else(|| self.facts.and_then(|f| f.lookup(key)))
    }
}

/// A policy with the name the decision will cite.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub name: &'a str,
    pub policy: &'a Policy,
}

/// How a resource policy combines with the identity side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResourceRule {
    /// A secret's resource policy: within one account, an allow from either side suffices.
    #[default]
    EitherSide,
    /// A role's trust policy, a KMS key policy: the resource policy must allow — on its own
    /// when it names the principal, with the identity side when it names the account.
    Required,
}

/// The policies that apply to one request.
#[derive(Debug, Clone, Default)]
pub struct PolicySet<'a> {
    pub identity: Vec<Named<'a>>,
    pub resource: Option<Named<'a>>,
    pub resource_rule: ResourceRule,
    /// `Some` when the principal has a permissions boundary.
    pub boundary: Option<Vec<Named<'a>>>,
    /// `Some` when the session was created with session policies.
    pub session: Option<Vec<Named<'a>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    pub policy: String,
    /// 0-based position in the policy.
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

/// Which kind of policy decided (for AWS's AccessDenied wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Identity,
    Resource,
    Boundary,
    Session,
}

impl Source {
    fn phrase(self) -> &'static str {
        match self {
            Source::Identity => "identity-based policy",
            Source::Resource => "resource-based policy",
            Source::Boundary => "permissions boundary",
            Source::Session => "session policy",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Source::Identity => "an",
            _ => "a",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The statements that decided: the denying ones, or the allowing ones.
    pub statements: Vec<StatementRef>,
    /// For a denial, which kind of policy is responsible (explicit) or missing (implicit).
    pub source: Option<Source>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }

    /// The end of AWS's AccessDenied message: "because no identity-based policy allows the
    /// secretsmanager:GetSecretValue action" / "with an explicit deny in a resource-based policy".
    pub fn reason(&self, action: &str) -> String {
        let source = self.source.unwrap_or(Source::Identity);
        match self.outcome {
            Outcome::Allowed => String::new(),
            Outcome::ExplicitDeny => format!(
                "with an explicit deny in {} {}",
                source.article(),
                source.phrase()
            ),
            Outcome::ImplicitDeny => {
                format!("because no {} allows the {action} action", source.phrase())
            }
        }
    }
}

/// How a statement's principal element relates to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrincipalMatch {
    No,
    /// Names the caller (or everyone).
    Direct,
    /// Names the role the caller's session belongs to: a grant limited by the session's
    /// policies and the role's permissions boundary.
    Role,
    /// Names the caller's account: a delegation, not a grant.
    Account,
}

/// The partition field of a principal ARN; `aws` for a service principal, which has none.
fn partition_of_arn(arn: &str) -> &str {
    match arn.split(':').nth(1) {
        Some(p) if arn.starts_with("arn:") && !p.is_empty() => p,
        _ => "aws",
    }
}

fn principal_match(p: &Principals, ctx: &RequestContext) -> PrincipalMatch {
    let plain = if p.anyone {
        PrincipalMatch::Direct
    } else {
        // The account shorthand means the account's root in the caller's partition.
        let root = format!(
            "arn:{}:iam::{}:root",
            partition_of_arn(&ctx.principal_arn),
            ctx.principal_account
        );
        let mut m = PrincipalMatch::No;
        for a in &p.aws {
            if a == ctx.principal_arn.as_ref() {
                m = PrincipalMatch::Direct;
                break;
            }
            if ctx.principal_aliases.iter().any(|x| x == a) {
                m = PrincipalMatch::Role;
                continue;
            }
            if m == PrincipalMatch::Role {
                continue;
            }
            if a == ctx.principal_account.as_ref() || a == &root {
                m = if ctx.principal_arn == root {
                    PrincipalMatch::Direct
                } else {
                    PrincipalMatch::Account
                };
            }
        }
        if m == PrincipalMatch::No && p.service.iter().any(|s| s == ctx.principal_arn.as_ref()) {
            m = PrincipalMatch::Direct;
        }
        m
    };
    if p.negated {
        match plain {
            PrincipalMatch::No => PrincipalMatch::Direct,
            _ => PrincipalMatch::No,
        }
    } else {
        plain
    }
}

/// Whether the statement's Action, Resource and Condition elements match the request.
fn applies(st: &Statement, variables: bool, ctx: &RequestContext) -> bool {
    let action_hit = st
        .action
        .compiled
        .iter()
        .zip(&st.action.values)
        .any(|(c, p)| match c {
            Some(toks) => matching::matches(toks, &ctx.action, true),
            None => matching::action_matches(p, &ctx.action),
        });
    if action_hit == st.action.negated {
        return false;
    }
    if let Some(r) = &st.resource {
        let hit = r.compiled.iter().zip(&r.values).any(|(c, p)| match c {
            // `${` is literal text in 2008-10-17 policies: compile those at evaluation too.
            Some(toks) => matching::arn_matches(toks, &ctx.resource),
            None => matching::compile(p, ctx, variables)
                .is_some_and(|toks| matching::arn_matches(&toks, &ctx.resource)),
        });
        if hit == r.negated {
            return false;
        }
    }
    st.conditions.iter().all(|c| c.holds(ctx, variables))
}

#[derive(Default)]
struct Tally {
    deny: Vec<(StatementRef, Source)>,
    /// Allows naming the caller itself (or no principal: identity-side policies).
    allow: Vec<StatementRef>,
    /// Allows naming the role of the caller's session.
    role_allow: Vec<StatementRef>,
    /// Allows naming the caller's account: delegations to its identity policies.
    account_allow: Vec<StatementRef>,
}

fn scan(named: &Named<'_>, ctx: &RequestContext, source: Source, tally: &mut Tally) {
    let variables = named.policy.has_variables();
    for (index, st) in named.policy.statements.iter().enumerate() {
        let pm = match &st.principal {
            Some(p) => principal_match(p, ctx),
            None => PrincipalMatch::Direct,
        };
        if pm == PrincipalMatch::No || !applies(st, variables, ctx) {
            continue;
        }
        let r = StatementRef {
            policy: named.name.to_string(),
            index,
            sid: st.sid.clone(),
            effect: st.effect,
        };
        match (st.effect, pm) {
            (Effect::Deny, _) => tally.deny.push((r, source)),
            (Effect::Allow, PrincipalMatch::Account) => tally.account_allow.push(r),
            (Effect::Allow, PrincipalMatch::Role) => tally.role_allow.push(r),
            (Effect::Allow, _) => tally.allow.push(r),
        }
    }
}

/// Evaluate one request against the policies that apply to it.
pub fn evaluate(ctx: &RequestContext, set: &PolicySet<'_>) -> Decision {
    let mut deny: Vec<(StatementRef, Source)> = Vec::new();
    let mut run = |policies: &[Named<'_>], source: Source| {
        let mut t = Tally::default();
        for p in policies {
            scan(p, ctx, source, &mut t);
        }
        deny.append(&mut t.deny);
        t
    };
    // Identity-side policies have no Principal element: everything they allow is "direct".
    let identity_allows = run(&set.identity, Source::Identity).allow;
    let resource = set
        .resource
        .as_ref()
        .map(|r| run(std::slice::from_ref(r), Source::Resource))
        .unwrap_or_default();
    let boundary_allows = set
        .boundary
        .as_deref()
        .map(|b| run(b, Source::Boundary).allow);
    let session_allows = set
        .session
        .as_deref()
        .map(|s| run(s, Source::Session).allow);

    if !deny.is_empty() {
        let source = deny.first().map(|(_, s)| *s);
        return Decision {
            outcome: Outcome::ExplicitDeny,
            statements: deny.into_iter().map(|(r, _)| r).collect(),
            source,
        };
    }

    let denied = |source: Source| Decision {
        outcome: Outcome::ImplicitDeny,
        statements: Vec::new(),
        source: Some(source),
    };
    let boundary_blocks = boundary_allows.as_ref().is_some_and(Vec::is_empty);
    let session_blocks = session_allows.as_ref().is_some_and(Vec::is_empty);
    let mut identity_ok = !identity_allows.is_empty();
    let mut missing = Source::Identity;
    if identity_ok && boundary_blocks {
        identity_ok = false;
        missing = Source::Boundary;
    }
    if identity_ok && session_blocks {
        identity_ok = false;
        missing = Source::Session;
    }
    // A grant to the caller's own ARN stands alone; one to its session's role is limited
    // by the session policy and the boundary, as the identity side is.
    let role_grant_ok = !resource.role_allow.is_empty() && !boundary_blocks && !session_blocks;
    let direct_ok = !resource.allow.is_empty() || role_grant_ok;
    let delegated = !resource.account_allow.is_empty();

    let same_account = ctx.principal_account == ctx.resource_account;
    // Whether the grant includes the identity side's statements (else only the resource
    // policy's direct ones).
    let with_identity = match (set.resource_rule, same_account) {
        (ResourceRule::EitherSide, true) => {
            if !(identity_ok || direct_ok) {
                return denied(missing);
            }
            identity_ok
        }
        // The resource policy must allow; naming the account delegates to identity policies.
        (ResourceRule::Required, true) => {
            if direct_ok {
                false
            } else if delegated && identity_ok {
                true
            } else if delegated {
                return denied(missing);
            } else {
                return denied(Source::Resource);
            }
        }
        // Across accounts both sides must allow, whatever the resource policy's kind.
        (_, false) => {
            if !identity_ok {
                return denied(missing);
            }
            if !(direct_ok || delegated) {
                return denied(Source::Resource);
            }
            true
        }
    };
    // The deciding statements, moved (not copied) out of the tallies.
    let Tally {
        allow: mut resource_allow,
        role_allow: mut resource_role_allow,
        account_allow: mut resource_account_allow,
        ..
    } = resource;
    let mut statements = if with_identity {
        identity_allows
    } else {
        Vec::new()
    };
    statements.append(&mut resource_allow);
    if role_grant_ok {
        statements.append(&mut resource_role_allow);
    }
    if with_identity {
        statements.append(&mut resource_account_allow);
    }
    Decision {
        outcome: Outcome::Allowed,
        statements,
        source: None,
    }
}

#[cfg(test)]
mod tests;
