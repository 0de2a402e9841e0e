//! Authorization: every operation of every service is evaluated against the caller's
//! policies with its IAM action name and resource ARN. Root is all-powerful (as AWS's root
//! user); every other principal starts with no permissions.

use std::cell::OnceCell;
use std::sync::Arc;

use strongroom_policy::eval::{Named, PolicySet, RequestContext, ResourceRule};
use strongroom_policy::matching::{KeyLookup, Keys, Values};

use crate::credentials::{Principal, PrincipalKind};
use crate::iam::directory::Directory;

/// Facts about the connection that policies can test (aws:SourceIp, aws:SecureTransport).
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub source_ip: Option<std::net::IpAddr>,
    pub secure_transport: bool,
    pub now_ms: i64,
}

/// A refusal as the authorizer made it: AWS's AccessDenied message (all the caller is told)
/// and the decision behind it, for the console to say which statement decided.
#[derive(Debug, Clone)]
pub struct Denial {
    pub message: String,
    pub action: String,
    pub decision: strongroom_policy::Decision,
}

pub struct Authorizer {
    directory: Arc<Directory>,
    /// Resource policies compiled once per distinct document (they were validated when
    /// stored; a document that no longer parses grants nothing).
    compiled: std::sync::RwLock<
        std::collections::HashMap<String, Option<Arc<strongroom_policy::Policy>>>,
    >,
}

const COMPILED_LIMIT: usize = 10_000;

impl Authorizer {
    pub fn new(directory: Arc<Directory>) -> Self {
        Self {
            directory,
            compiled: Default::default(),
        }
    }

    fn resource_policy(&self, doc: &str) -> Option<Arc<strongroom_policy::Policy>> {
        if let Some(p) = self
            .compiled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(doc)
        {
            return p.clone();
        }
        let parsed = strongroom_policy::parse(doc, strongroom_policy::PolicyKind::Resource)
            .ok()
            .map(Arc::new);
        let mut map = self.compiled.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= COMPILED_LIMIT {
            map.clear();
        }
        map.insert(doc.to_string(), parsed.clone());
        parsed
    }

    /// [`Self::authorize`] for a resource that may carry a resource-based policy.
    pub fn authorize_with(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        resource_policy: Option<&str>,
        extra_keys: Keys,
        info: &RequestInfo,
    ) -> Result<(), String> {
        self.authorize_granted(
            principal,
            action,
            resource,
            resource_policy,
            &[],
            extra_keys,
            info,
        )
    }

    /// [`Self::authorize_with`] for a KMS key with grants: `grantees` are the principals a
    /// grant allows this request. As in AWS KMS, a grant allows what the key policy and IAM
    /// do not, but never what a policy explicitly denies.
    #[allow(clippy::too_many_arguments)]
    pub fn authorize_granted(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        resource_policy: Option<&str>,
        grantees: &[String],
        extra_keys: Keys,
        info: &RequestInfo,
    ) -> Result<(), String> {
        self.check_granted(
            principal,
            action,
            resource,
            resource_policy,
            grantees,
            extra_keys,
            info,
        )
        .map_err(|d| d.message)
    }

    /// [`Self::authorize_granted`], a refusal keeping the decision that made it (what the
    /// console shows as the deciding statements).
    #[allow(clippy::too_many_arguments)]
    pub fn check_granted(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        resource_policy: Option<&str>,
        grantees: &[String],
        extra_keys: Keys,
        info: &RequestInfo,
    ) -> Result<(), Denial> {
        if principal.is_root() {
            return Ok(());
        }
        let compiled = resource_policy.and_then(|d| self.resource_policy(d));
        let decision = self.decide(
            principal,
            action,
            resource,
            compiled.as_deref(),
            extra_keys,
            info,
        );
        if !decision.is_allowed()
            && decision.outcome != strongroom_policy::Outcome::ExplicitDeny
            && grantees.iter().any(|g| {
                strongroom_domain::grants::principal_matches(
                    g,
                    &principal.arn,
                    &principal_aliases(principal),
                )
            })
        {
            tracing::debug!(principal = %principal.arn, action, resource, "allowed by a KMS grant");
            return Ok(());
        }
        self.verdict(principal, action, resource, decision)
    }

    /// `Ok` when allowed; otherwise AWS's AccessDenied message ("User: ARN is not authorized
    /// to perform: ACTION on resource: ARN because ..."). The deciding statements are logged
    /// for the operator, never sent to the caller.
    pub fn authorize(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        extra_keys: Keys,
        info: &RequestInfo,
    ) -> Result<(), String> {
        if principal.is_root() {
            return Ok(());
        }
        self.evaluate(principal, action, resource, None, extra_keys, info)
    }

    /// Evaluate with a resource-based policy too (a role's trust policy for AssumeRole, a
    /// secret's resource policy). Root gets no bypass here.
    pub fn evaluate(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        resource_policy: Option<&strongroom_policy::Policy>,
        extra_keys: Keys,
        info: &RequestInfo,
    ) -> Result<(), String> {
        let decision = self.decide(
            principal,
            action,
            resource,
            resource_policy,
            extra_keys,
            info,
        );
        self.verdict(principal, action, resource, decision)
            .map_err(|d| d.message)
    }

    /// `Ok` for an allowing decision, else AWS's AccessDenied message with the decision (the
    /// deciding statements logged for the operator).
    fn verdict(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        decision: strongroom_policy::Decision,
    ) -> Result<(), Denial> {
        if decision.is_allowed() {
            tracing::debug!(principal = %principal.arn, action, resource, statements = ?decision.statements, "allowed");
            return Ok(());
        }
        tracing::info!(
            principal = %principal.arn,
            action,
            resource,
            outcome = ?decision.outcome,
            deciding_statements = ?decision.statements,
            "access denied"
        );
        Err(Denial {
            message: format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} {}",
                principal.arn,
                decision.reason(action)
            ),
            action: action.to_string(),
            decision,
        })
    }

    /// The full decision, with the statements that made it.
    pub fn decide(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        resource_policy: Option<&strongroom_policy::Policy>,
        extra_keys: Keys,
        info: &RequestInfo,
    ) -> strongroom_policy::Decision {
        self.decide_with(
            principal,
            &[],
            action,
            resource,
            resource_policy,
            extra_keys,
            info,
        )
    }

    /// [`Self::decide`] with identity policies beyond the principal's own
    /// (SimulatePrincipalPolicy's PolicyInputList, or a group's policies).
    #[allow(clippy::too_many_arguments)]
    pub fn decide_with(
        &self,
        principal: &Principal,
        extra_policies: &[(Arc<str>, Arc<strongroom_policy::Policy>)],
        action: &str,
        resource: &str,
        resource_policy: Option<&strongroom_policy::Policy>,
        extra_keys: Keys,
        info: &RequestInfo,
    ) -> strongroom_policy::Decision {
        let aliases = principal_aliases(principal);
        let session_policy = match &principal.kind {
            PrincipalKind::AssumedRole { session_policy, .. } => session_policy.clone(),
            _ => None,
        };
        let facts = RequestFacts::new(principal, info);
        let ctx = RequestContext {
            action: action.into(),
            resource: resource.into(),
            principal_arn: principal.arn.as_str().into(),
            principal_aliases: aliases,
            principal_account: principal.account_id.as_str().into(),
            resource_account: self.directory.account_id().into(),
            keys: extra_keys,
            facts: Some(&facts),
        };
        let effective = self.directory.effective(principal);
        let boundary = &effective.boundary;
        let set = PolicySet {
            identity: effective
                .policies
                .iter()
                .chain(extra_policies)
                .map(|(name, p)| Named {
                    name,
                    policy: p.as_ref(),
                })
                .collect(),
            resource: resource_policy.map(|p| Named {
                name: "resource policy",
                policy: p,
            }),
            // No policy stored (a key created without one) means AWS's default key policy,
            // which only delegates to the account: the identity side decides.
            resource_rule: if resource_policy.is_some() {
                resource_rule(resource)
            } else {
                ResourceRule::EitherSide
            },
            session: session_policy.as_deref().map(|p| {
                vec![Named {
                    name: "session policy",
                    policy: p,
                }]
            }),
            boundary: boundary.as_ref().map(|(name, p)| {
                vec![Named {
                    name,
                    policy: p.as_ref(),
                }]
            }),
        };
        strongroom_policy::evaluate(&ctx, &set)
    }
}

/// The ARNs a principal also answers to in policies and grants: an assumed-role session's
/// role.
fn principal_aliases(principal: &Principal) -> Vec<String> {
    match &principal.kind {
        PrincipalKind::AssumedRole { role_arn, .. } => vec![role_arn.clone()],
        _ => Vec::new(),
    }
}

/// Whether a resource's policy must allow a request itself, per AWS's rule for its service:
/// a role's trust policy (AssumeRole, TagSession, SetSourceIdentity on `arn:aws:iam::A:role/R`)
/// and a KMS key policy do; a secret's resource policy only adds to the identity side.
fn resource_rule(resource: &str) -> ResourceRule {
    let mut parts = resource.splitn(6, ':');
    let service = parts.nth(2).unwrap_or_default();
    let path = parts.nth(2).unwrap_or_default();
    match service {
        "kms" => ResourceRule::Required,
        "iam" if path.starts_with("role/") => ResourceRule::Required,
        _ => ResourceRule::EitherSide,
    }
}

/// The global condition keys of a request, answered where a policy looks at one: most
/// policies look at none, and building them all for every request was ~30 allocations.
/// Keys the request itself carries win (RequestContext::keys): SimulatePrincipalPolicy's
/// context entries replace the live request's facts, and a check a service makes with the
/// caller's identity sets aws:ViaAWSService (services never supply the other names).
#[derive(Debug)]
struct RequestFacts<'a> {
    principal: &'a Principal,
    info: &'a RequestInfo,
    /// The formatted values, made on first use.
    token_issue_time: OnceCell<String>,
    current_time: OnceCell<String>,
    epoch_time: OnceCell<String>,
    source_ip: OnceCell<crate::address::IpText>,
}

impl<'a> RequestFacts<'a> {
    fn new(principal: &'a Principal, info: &'a RequestInfo) -> Self {
        Self {
            principal,
            info,
            token_issue_time: OnceCell::new(),
            current_time: OnceCell::new(),
            epoch_time: OnceCell::new(),
            source_ip: OnceCell::new(),
        }
    }
}

impl KeyLookup for RequestFacts<'_> {
    fn lookup(&self, key: &str) -> Option<Values<'_>> {
        let p = self.principal;
        let value: &str = match key {
            "aws:principalarn" => &p.arn,
            "aws:principalaccount" => &p.account_id,
            "aws:userid" => p.user_id(),
            "aws:username" => match &p.kind {
                PrincipalKind::User { name, .. } => name,
                _ => return None,
            },
            "aws:principaltype" => match &p.kind {
                PrincipalKind::User { .. } => "User",
                PrincipalKind::AssumedRole { .. } => "AssumedRole",
                PrincipalKind::Root => "Account",
            },
            "aws:sourceidentity" => match &p.kind {
                PrincipalKind::AssumedRole {
                    source_identity: Some(source),
                    ..
                } => source,
                _ => return None,
            },
            // Temporary credentials (AssumeRole, GetSessionToken) carry their issue time, the
            // key of AWS's "revoke active sessions" (a Deny on `DateLessThan
            // aws:TokenIssueTime`), and aws:MultiFactorAuthPresent, false as Strongroom issues
            // no session with MFA. AWS's "AWS global condition context keys" page:
            // MultiFactorAuthPresent "is not present when an API or CLI command is called with
            // long-term credentials", so neither is set for access keys. The issue time keeps
            // its milliseconds (the policy side may have them: the IAM console writes
            // `new Date().toISOString()`), so a session issued just before the Deny in the
            // same second is cut off too.
            "aws:tokenissuetime" => {
                let issued = p.session_issued_ms?;
                self.token_issue_time.get_or_init(|| {
                    format!(
                        "{}.{:03}Z",
                        crate::clock::iso8601(issued).trim_end_matches('Z'),
                        issued.rem_euclid(1000)
                    )
                })
            }
            "aws:multifactorauthpresent" => {
                p.session_issued_ms?;
                "false"
            }
            // Present on every request (AWS: "always included in the request context"); true
            // only for the checks a service makes with the caller's identity (the KmsGate
            // sets it among the request's keys).
            "aws:viaawsservice" => "false",
            "aws:securetransport" => {
                if self.info.secure_transport {
                    "true"
                } else {
                    "false"
                }
            }
            "aws:currenttime" => self
                .current_time
                .get_or_init(|| current_time(self.info.now_ms)),
            "aws:epochtime" => self
                .epoch_time
                .get_or_init(|| (self.info.now_ms / 1000).to_string()),
            "aws:sourceip" => {
                let ip = self.info.source_ip?;
                self.source_ip
                    .get_or_init(|| crate::address::IpText::new(ip))
                    .as_str()
            }
            _ => {
                // Session tags, by lowercase key; the first of two spellings of one key wins.
                let tag = key.strip_prefix("aws:principaltag/")?;
                let PrincipalKind::AssumedRole { session_tags, .. } = &p.kind else {
                    return None;
                };
                &session_tags
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(tag))?
                    .1
            }
        };
        Some(Values::One(value))
    }
}

/// [`iso8601`] for aws:CurrentTime on every request: formatted once per second per thread.
fn current_time(ms: i64) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let sec = ms.div_euclid(1000);
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != sec {
            *last = (sec, crate::clock::iso8601(ms));
        }
        last.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::{KeyLookup, Keys, RequestContext, ResourceRule, resource_rule};

    #[test]
    fn trust_and_key_policies_must_allow_themselves() {
        assert_eq!(
            resource_rule("arn:aws:iam::123456789012:role/app/r-trust"),
            ResourceRule::Required
        );
        assert_eq!(
            resource_rule("arn:aws:kms:us-east-1:123456789012:key/1234"),
            ResourceRule::Required
        );
        assert_eq!(
            resource_rule("arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf"),
            ResourceRule::EitherSide
        );
        assert_eq!(
            resource_rule("arn:aws:iam::123456789012:user/role/x"),
            ResourceRule::EitherSide
        );
        assert_eq!(resource_rule("*"), ResourceRule::EitherSide);
    }
    #[test]
    fn global_keys_by_principal() {
        use crate::credentials::{Principal, PrincipalKind};
        let info = super::RequestInfo {
            source_ip: None,
            secure_transport: false,
            now_ms: 1_700_000_000_000,
        };
        // What a policy reads: the request's own keys, then the request's facts.
        let read = |p: &Principal, given: Keys, name: &str| {
            let facts = super::RequestFacts::new(p, &info);
            let ctx = RequestContext {
                keys: given,
                facts: Some(&facts),
                ..Default::default()
            };
            ctx.lookup(name)
                .map(|v| v.iter().collect::<Vec<_>>().join(","))
        };
        let get = |p: &Principal, name: &str| read(p, Keys::new(), name);
        let root = Principal::root("123456789012", "AKIAROOT");
        assert_eq!(get(&root, "aws:userid").as_deref(), Some("123456789012"));
        assert_eq!(get(&root, "aws:principaltype").as_deref(), Some("Account"));
        assert_eq!(
            get(&root, "aws:principalaccount").as_deref(),
            Some("123456789012")
        );
        assert_eq!(get(&root, "aws:viaawsservice").as_deref(), Some("false"));
        assert_eq!(get(&root, "aws:securetransport").as_deref(), Some("false"));
        assert_eq!(get(&root, "aws:epochtime").as_deref(), Some("1700000000"));
        assert_eq!(
            get(&root, "aws:currenttime").as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(get(&root, "aws:username"), None);
        assert_eq!(get(&root, "aws:sourceip"), None);
        assert_eq!(get(&root, "aws:tokenissuetime"), None);
        assert_eq!(get(&root, "aws:multifactorauthpresent"), None);
        assert_eq!(get(&root, "aws:nosuchkey"), None);

        let mut user = Principal {
            account_id: "123456789012".into(),
            arn: "arn:aws:iam::123456789012:user/u".into(),
            access_key_id: "AKIAUSER".into(),
            kind: PrincipalKind::User {
                name: "u".into(),
                id: "AIDAUSER".into(),
            },
            session_issued_ms: None,
        };
        assert_eq!(get(&user, "aws:userid").as_deref(), Some("AIDAUSER"));
        assert_eq!(get(&user, "aws:username").as_deref(), Some("u"));
        assert_eq!(get(&user, "aws:principaltype").as_deref(), Some("User"));
        assert_eq!(
            get(&user, "aws:principalarn").as_deref(),
            Some("arn:aws:iam::123456789012:user/u")
        );
        assert_eq!(get(&user, "aws:tokenissuetime"), None);
        assert_eq!(get(&user, "aws:multifactorauthpresent"), None);

        user.session_issued_ms = Some(1_579_814_279_042);
        assert_eq!(
            get(&user, "aws:tokenissuetime").as_deref(),
            Some("2020-01-23T21:17:59.042Z")
        );
        assert_eq!(
            get(&user, "aws:multifactorauthpresent").as_deref(),
            Some("false")
        );
        // A key a caller supplies (SimulatePrincipalPolicy's context entries) wins.
        let mut given = Keys::new();
        given.insert("aws:viaawsservice".into(), vec!["true".into()]);
        assert_eq!(
            read(&user, given, "aws:viaawsservice").as_deref(),
            Some("true")
        );

        let session = Principal {
            account_id: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
            access_key_id: "ASIASESSION".into(),
            kind: PrincipalKind::AssumedRole {
                role_name: "r".into(),
                role_arn: "arn:aws:iam::123456789012:role/r".into(),
                principal_id: "AROAROLE:s".into(),
                session_name: "s".into(),
                transitive_tag_keys: Vec::new(),
                session_tags: vec![
                    ("Team".into(), "blue".into()),
                    ("TEAM".into(), "red".into()),
                ],
                source_identity: Some("alice".into()),
                session_policy: None,
            },
            session_issued_ms: Some(1_579_814_279_042),
        };
        let info_tls = super::RequestInfo {
            source_ip: Some("10.1.2.3".parse().unwrap()),
            secure_transport: true,
            now_ms: 1_700_000_000_000,
        };
        let facts = super::RequestFacts::new(&session, &info_tls);
        let fact = |name: &str| {
            facts
                .lookup(name)
                .and_then(|v| v.first())
                .map(str::to_string)
        };
        assert_eq!(fact("aws:principaltype").as_deref(), Some("AssumedRole"));
        assert_eq!(fact("aws:userid").as_deref(), Some("AROAROLE:s"));
        assert_eq!(fact("aws:sourceidentity").as_deref(), Some("alice"));
        // The first of two spellings of one tag key, as when the keys were a map.
        assert_eq!(fact("aws:principaltag/team").as_deref(), Some("blue"));
        assert_eq!(fact("aws:principaltag/other"), None);
        assert_eq!(fact("aws:username"), None);
        assert_eq!(fact("aws:sourceip").as_deref(), Some("10.1.2.3"));
        assert_eq!(fact("aws:securetransport").as_deref(), Some("true"));
    }

    #[test]
    fn current_time_is_cached_per_second_but_never_stale() {
        assert_eq!(super::current_time(1_000), "1970-01-01T00:00:01Z");
        assert_eq!(super::current_time(1_999), "1970-01-01T00:00:01Z");
        assert_eq!(super::current_time(2_000), "1970-01-01T00:00:02Z");
    }
}
