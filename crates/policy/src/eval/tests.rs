//! Evaluation tables after AWS's documented examples, and the invariant that an explicit
//! Deny can never be overridden.

use proptest::prelude::*;

use super::*;
use crate::document::{PolicyKind, parse};

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";

fn secret(name: &str) -> String {
    format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf")
}

fn ctx(user: &str, action: &str, resource: &str) -> RequestContext<'static> {
    let mut keys = Keys::new();
    keys.insert("aws:username".into(), vec![user.into()]);
    RequestContext {
        action: action.to_string().into(),
        resource: resource.to_string().into(),
        principal_arn: format!("arn:aws:iam::{ACCOUNT}:user/{user}").into(),
        principal_aliases: vec![],
        principal_account: ACCOUNT.into(),
        resource_account: ACCOUNT.into(),
        keys,
        facts: None,
    }
}

fn identity(doc: &str) -> Policy {
    parse(doc, PolicyKind::Identity).unwrap()
}

fn decide(c: &RequestContext, ids: &[&Policy], res: Option<&Policy>) -> Decision {
    let set = PolicySet {
        identity: ids
            .iter()
            .enumerate()
            .map(|(i, p)| Named {
                name: ["p0", "p1", "p2", "p3"][i.min(3)],
                policy: p,
            })
            .collect(),
        resource: res.map(|p| Named {
            name: "resource",
            policy: p,
        }),
        resource_rule: ResourceRule::EitherSide,
        boundary: None,
        session: None,
    };
    evaluate(c, &set)
}

const TASK_ROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":["secretsmanager:GetSecretValue","kms:Decrypt"],
  "Resource":["arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-*"]}]}"#;

const DEV_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":["secretsmanager:GetSecretValue","secretsmanager:UpdateSecret"],
  "Resource":["arn:aws:secretsmanager:us-east-1:123456789012:secret:*-test-*",
              "arn:aws:secretsmanager:us-east-1:123456789012:secret:*-stage-*"]}]}"#;

#[test]
fn seed_003_task_execution_role() {
    let p = identity(TASK_ROLE);
    let get = "secretsmanager:GetSecretValue";
    assert!(
        decide(
            &ctx("t", get, &secret("auth-service-prod-config")),
            &[&p],
            None
        )
        .is_allowed()
    );
    let d = decide(
        &ctx("t", get, &secret("payment-service-prod-config")),
        &[&p],
        None,
    );
    assert_eq!(d.outcome, Outcome::ImplicitDeny);
    assert_eq!(
        d.reason(get),
        "because no identity-based policy allows the secretsmanager:GetSecretValue action"
    );
    let put = "secretsmanager:PutSecretValue";
    assert!(
        !decide(
            &ctx("t", put, &secret("auth-service-prod-config")),
            &[&p],
            None
        )
        .is_allowed()
    );
}

#[test]
fn seed_003_development_access() {
    let p = identity(DEV_ACCESS);
    for (name, action, allowed) in [
        ("svc-test-config", "secretsmanager:GetSecretValue", true),
        ("svc-stage-config", "secretsmanager:UpdateSecret", true),
        ("svc-prod-config", "secretsmanager:GetSecretValue", false),
        ("svc-test-config", "secretsmanager:DeleteSecret", false),
    ] {
        let d = decide(&ctx("dev", action, &secret(name)), &[&p], None);
        assert_eq!(d.is_allowed(), allowed, "{name} {action}");
    }
}

#[test]
fn explicit_deny_beats_any_allow() {
    let allow = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let deny = identity(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"NoProd","Effect":"Deny","Action":"secretsmanager:*","Resource":"arn:aws:secretsmanager:*:*:secret:*-prod-*"}}"#,
    );
    let c = ctx("a", "secretsmanager:GetSecretValue", &secret("x-prod-y"));
    let d = decide(&c, &[&allow, &deny], None);
    assert_eq!(d.outcome, Outcome::ExplicitDeny);
    assert_eq!(d.statements[0].sid.as_deref(), Some("NoProd"));
    assert_eq!(
        d.reason(&c.action),
        "with an explicit deny in an identity-based policy"
    );
    assert!(
        decide(
            &ctx("a", "secretsmanager:GetSecretValue", &secret("x-test-y")),
            &[&allow, &deny],
            None
        )
        .is_allowed()
    );
}

#[test]
fn resource_policy_grants_within_the_account() {
    let res = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},
            "Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
        PolicyKind::Resource,
    )
    .unwrap();
    let c = ctx("bob", "secretsmanager:GetSecretValue", &secret("shared"));
    assert!(
        decide(&c, &[], Some(&res)).is_allowed(),
        "named principal, same account"
    );
    assert!(
        !decide(
            &ctx("eve", "secretsmanager:GetSecretValue", &secret("shared")),
            &[],
            Some(&res)
        )
        .is_allowed()
    );

    // Naming the account only delegates to identity policies.
    let acct = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"secretsmanager:*","Resource":"*"}]}"#,
        PolicyKind::Resource,
    )
    .unwrap();
    assert!(!decide(&c, &[], Some(&acct)).is_allowed());
}

#[test]
fn cross_account_needs_both_sides() {
    let mut c = ctx("x", "secretsmanager:GetSecretValue", &secret("shared"));
    c.principal_account = OTHER.into();
    c.principal_arn = format!("arn:aws:iam::{OTHER}:user/x").into();
    let id = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
    );
    let res = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        PolicyKind::Resource,
    )
    .unwrap();
    assert!(decide(&c, &[&id], Some(&res)).is_allowed());
    assert_eq!(decide(&c, &[&id], None).source, Some(Source::Resource));
    assert!(!decide(&c, &[], Some(&res)).is_allowed());
}

#[test]
fn not_action_and_not_resource() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","NotAction":"secretsmanager:DeleteSecret","Resource":"*"},
            {"Effect":"Deny","Action":"*","NotResource":"arn:aws:secretsmanager:*:*:secret:team-*"}]}"#,
    );
    assert!(
        decide(
            &ctx("a", "secretsmanager:GetSecretValue", &secret("team-a")),
            &[&p],
            None
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &ctx("a", "secretsmanager:DeleteSecret", &secret("team-a")),
            &[&p],
            None
        )
        .is_allowed()
    );
    let d = decide(
        &ctx("a", "secretsmanager:GetSecretValue", &secret("other")),
        &[&p],
        None,
    );
    assert_eq!(d.outcome, Outcome::ExplicitDeny);
}

#[test]
fn policy_variables_scope_resources_per_user() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"arn:aws:secretsmanager:*:*:secret:home/${aws:username}/*"}}"#,
    );
    assert!(
        decide(
            &ctx(
                "alice",
                "secretsmanager:GetSecretValue",
                &secret("home/alice/db")
            ),
            &[&p],
            None
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &ctx(
                "alice",
                "secretsmanager:GetSecretValue",
                &secret("home/bob/db")
            ),
            &[&p],
            None
        )
        .is_allowed()
    );
}

#[test]
fn conditions_on_tags_and_source_ip() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*",
            "Condition":{"StringEquals":{"secretsmanager:ResourceTag/team":"${aws:PrincipalTag/team}"},
                         "IpAddress":{"aws:SourceIp":["127.0.0.0/8","10.0.0.0/8"]}}}}"#,
    );
    let mut c = ctx("a", "secretsmanager:GetSecretValue", &secret("s"));
    c.keys
        .insert("aws:principaltag/team".into(), vec!["blue".into()]);
    c.keys.insert(
        "secretsmanager:resourcetag/team".into(),
        vec!["blue".into()],
    );
    c.keys
        .insert("aws:sourceip".into(), vec!["127.0.0.1".into()]);
    assert!(decide(&c, &[&p], None).is_allowed());
    c.keys
        .insert("aws:sourceip".into(), vec!["192.168.1.1".into()]);
    assert!(!decide(&c, &[&p], None).is_allowed());
    c.keys
        .insert("aws:sourceip".into(), vec!["10.9.9.9".into()]);
    c.keys
        .insert("secretsmanager:resourcetag/team".into(), vec!["red".into()]);
    assert!(!decide(&c, &[&p], None).is_allowed());
}

#[test]
fn boundaries_and_session_policies_intersect() {
    let all = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}"#,
    );
    let only_get = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
    );
    let c_get = ctx("a", "secretsmanager:GetSecretValue", &secret("s"));
    let c_put = ctx("a", "secretsmanager:PutSecretValue", &secret("s"));
    let with = |boundary: Option<&Policy>, session: Option<&Policy>, c: &RequestContext| {
        evaluate(
            c,
            &PolicySet {
                identity: vec![Named {
                    name: "id",
                    policy: &all,
                }],
                resource: None,
                resource_rule: ResourceRule::EitherSide,
                boundary: boundary.map(|b| {
                    vec![Named {
                        name: "boundary",
                        policy: b,
                    }]
                }),
                session: session.map(|s| {
                    vec![Named {
                        name: "session",
                        policy: s,
                    }]
                }),
            },
        )
    };
    assert!(with(Some(&only_get), None, &c_get).is_allowed());
    let d = with(Some(&only_get), None, &c_put);
    assert_eq!(
        (d.outcome, d.source),
        (Outcome::ImplicitDeny, Some(Source::Boundary))
    );
    assert!(with(None, Some(&only_get), &c_get).is_allowed());
    let d = with(None, Some(&only_get), &c_put);
    assert_eq!(d.source, Some(Source::Session));
}

#[test]
fn trust_policy_principals() {
    let trust = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/ci"},"Action":"sts:AssumeRole"}}"#,
        PolicyKind::Trust,
    )
    .unwrap();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/deployer");
    assert!(decide(&ctx("ci", "sts:AssumeRole", &role), &[], Some(&trust)).is_allowed());
    assert!(!decide(&ctx("other", "sts:AssumeRole", &role), &[], Some(&trust)).is_allowed());
}

#[test]
fn allowed_decisions_cite_their_statements() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"secretsmanager:Get*","Resource":"*"}]}"#,
    );
    let d = decide(&ctx("a", "secretsmanager:GetSecretValue", "*"), &[&p], None);
    assert_eq!(
        d.statements,
        vec![StatementRef {
            policy: "p0".into(),
            index: 0,
            sid: Some("Read".into()),
            effect: Effect::Allow
        }]
    );
}

fn arb_statement() -> impl Strategy<Value = String> {
    let effect = prop_oneof![Just("Allow"), Just("Deny")];
    let action = prop_oneof![
        Just("\"*\""),
        Just("\"secretsmanager:*\""),
        Just("\"secretsmanager:GetSecretValue\""),
        Just("[\"kms:Decrypt\",\"secretsmanager:Get*\"]"),
    ];
    let resource = prop_oneof![
        Just("\"*\""),
        Just("\"arn:aws:secretsmanager:*:*:secret:*\""),
        Just("\"arn:aws:secretsmanager:us-east-1:123456789012:secret:app-*\""),
    ];
    (effect, any::<bool>(), action, resource).prop_map(|(e, not_action, a, r)| {
        let key = if not_action && e == "Allow" {
            "NotAction"
        } else {
            "Action"
        };
        format!(r#"{{"Effect":"{e}","{key}":{a},"Resource":{r}}}"#)
    })
}

proptest! {
    /// However many allows surround it, an applicable explicit Deny decides.
    #[test]
    fn explicit_deny_is_never_overridden(statements in prop::collection::vec(arb_statement(), 0..8), resource_allows in any::<bool>()) {
        let deny = identity(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#);
        let others: Vec<Policy> = statements
            .iter()
            .map(|s| identity(&format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#)))
            .collect();
        let res = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
            PolicyKind::Resource,
        ).unwrap();
        let c = ctx("p", "secretsmanager:GetSecretValue", &secret("app-1"));
        let mut refs: Vec<&Policy> = others.iter().collect();
        refs.insert(refs.len() / 2, &deny);
        let refs = &refs[..refs.len().min(4)];
        let d = decide(&c, refs, resource_allows.then_some(&res));
        if refs.iter().any(|p| std::ptr::eq(*p, &deny)) {
            prop_assert_eq!(d.outcome, Outcome::ExplicitDeny);
        }
    }
}

// ---- role trust policies and KMS key policies: the resource policy must allow ----

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn trust(principal: &str) -> Policy {
    parse(
        &format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}}}"#
        ),
        PolicyKind::Trust,
    )
    .unwrap()
}

fn assume(c: &RequestContext, ids: &[&Policy], trust: &Policy) -> Decision {
    let set = PolicySet {
        identity: ids
            .iter()
            .map(|p| Named {
                name: "id",
                policy: p,
            })
            .collect(),
        resource: Some(Named {
            name: "trust policy",
            policy: trust,
        }),
        resource_rule: ResourceRule::Required,
        boundary: None,
        session: None,
    };
    evaluate(c, &set)
}

fn may_assume_anything() -> Policy {
    identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
    )
}

#[test]
fn an_identity_allow_never_replaces_the_trust_policy() {
    let any = may_assume_anything();
    let c = ctx("untrusted", "sts:AssumeRole", &role_arn("r-trust"));
    for t in [
        trust(&format!(
            r#"{{"AWS":"arn:aws:iam::{ACCOUNT}:user/trusted"}}"#
        )),
        trust(&format!(r#"{{"AWS":"arn:aws:iam::{OTHER}:root"}}"#)),
        trust(&format!(r#"{{"AWS":"{OTHER}"}}"#)),
        trust(r#"{"Service":"lambda.amazonaws.com"}"#),
    ] {
        let d = assume(&c, &[&any], &t);
        assert_eq!(d.outcome, Outcome::ImplicitDeny);
        assert_eq!(d.source, Some(Source::Resource));
    }
}

#[test]
fn a_trust_naming_the_user_grants_alone_naming_the_account_needs_identity_too() {
    let c = ctx("trusted", "sts:AssumeRole", &role_arn("r"));
    let named = trust(&format!(
        r#"{{"AWS":"arn:aws:iam::{ACCOUNT}:user/trusted"}}"#
    ));
    assert!(assume(&c, &[], &named).is_allowed());
    for account in [
        format!(r#"{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}}"#),
        format!(r#"{{"AWS":"{ACCOUNT}"}}"#),
    ] {
        let t = trust(&account);
        let d = assume(&c, &[], &t);
        assert_eq!(d.outcome, Outcome::ImplicitDeny);
        assert_eq!(d.source, Some(Source::Identity));
        assert!(assume(&c, &[&may_assume_anything()], &t).is_allowed());
    }
    // Everyone, narrowed by a condition on the caller.
    let star = parse(
        &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:PrincipalAccount":"{ACCOUNT}","aws:username":"trusted"}}}}}}}}"#),
        PolicyKind::Trust,
    )
    .unwrap();
    let mut c = c;
    c.keys
        .insert("aws:principalaccount".into(), vec![ACCOUNT.into()]);
    assert!(assume(&c, &[], &star).is_allowed());
    let mut other = ctx("someone", "sts:AssumeRole", &role_arn("r"));
    other
        .keys
        .insert("aws:principalaccount".into(), vec![ACCOUNT.into()]);
    assert!(!assume(&other, &[&may_assume_anything()], &star).is_allowed());
}

#[test]
fn a_deny_in_identity_or_trust_wins_over_a_named_grant() {
    let c = ctx("trusted", "sts:AssumeRole", &role_arn("r"));
    let named = trust(&format!(
        r#"{{"AWS":"arn:aws:iam::{ACCOUNT}:user/trusted"}}"#
    ));
    let deny = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"sts:*","Resource":"*"}}"#,
    );
    assert_eq!(assume(&c, &[&deny], &named).outcome, Outcome::ExplicitDeny);
}

#[test]
fn a_grant_to_the_role_is_limited_by_the_session_policy_one_to_the_session_is_not() {
    let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/s1");
    let mut c = ctx("x", "sts:AssumeRole", &role_arn("next"));
    c.principal_arn = session_arn.clone().into();
    c.principal_aliases = vec![role_arn("app")];
    let nothing = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
    );
    let by_role = trust(&format!(r#"{{"AWS":"{}"}}"#, role_arn("app")));
    let by_session = trust(&format!(r#"{{"AWS":"{session_arn}"}}"#));
    let with_session = |t: &Policy| {
        evaluate(
            &c,
            &PolicySet {
                identity: vec![],
                resource: Some(Named {
                    name: "trust policy",
                    policy: t,
                }),
                resource_rule: ResourceRule::Required,
                boundary: None,
                session: Some(vec![Named {
                    name: "session policy",
                    policy: &nothing,
                }]),
            },
        )
    };
    assert!(!with_session(&by_role).is_allowed());
    assert!(with_session(&by_session).is_allowed());
    assert!(assume(&c, &[], &by_role).is_allowed());
}

#[test]
fn a_key_policy_delegating_to_the_account_with_a_condition_binds_iam_too() {
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/k1");
    let c = ctx("u", "kms:Decrypt", &key);
    let policy = parse(
        &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}}}}}}"#),
        PolicyKind::Resource,
    )
    .unwrap();
    let iam = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
    );
    let set = PolicySet {
        identity: vec![Named {
            name: "id",
            policy: &iam,
        }],
        resource: Some(Named {
            name: "key policy",
            policy: &policy,
        }),
        resource_rule: ResourceRule::Required,
        boundary: None,
        session: None,
    };
    assert_eq!(evaluate(&c, &set).source, Some(Source::Resource));
    let mut via = c.clone();
    via.keys.insert(
        "kms:viaservice".into(),
        vec!["secretsmanager.us-east-1.amazonaws.com".into()],
    );
    assert!(evaluate(&via, &set).is_allowed());
    // The same document as an optional resource policy would have let IAM alone decide.
    let either = PolicySet {
        resource_rule: ResourceRule::EitherSide,
        ..set
    };
    assert!(evaluate(&c, &either).is_allowed());
}

// ---- partitions: the same account in `aws-cn` is not the one in `aws` ----

#[test]
fn principals_and_resources_match_in_their_partition_only() {
    let cn = |arn: String| arn.replacen("arn:aws:", "arn:aws-cn:", 1);
    let mut c = ctx("trusted", "sts:AssumeRole", &cn(role_arn("r")));
    c.principal_arn = cn(c.principal_arn.into_owned()).into();
    let any = may_assume_anything();
    // The account shorthand and the account root ARN of the caller's partition delegate.
    for account in [
        format!(r#"{{"AWS":"{ACCOUNT}"}}"#),
        format!(r#"{{"AWS":"arn:aws-cn:iam::{ACCOUNT}:root"}}"#),
    ] {
        assert!(
            assume(&c, &[&any], &trust(&account)).is_allowed(),
            "{account}"
        );
    }
    // The same account's root, user and role in `aws` are someone else.
    for other in [
        format!(r#"{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}}"#),
        format!(r#"{{"AWS":"arn:aws:iam::{ACCOUNT}:user/trusted"}}"#),
    ] {
        assert!(!assume(&c, &[&any], &trust(&other)).is_allowed(), "{other}");
    }
    assert!(
        assume(
            &c,
            &[],
            &trust(&format!(
                r#"{{"AWS":"arn:aws-cn:iam::{ACCOUNT}:user/trusted"}}"#
            ))
        )
        .is_allowed()
    );
    // The account root calling is the shorthand's principal itself.
    let mut root = c.clone();
    root.principal_arn = format!("arn:aws-cn:iam::{ACCOUNT}:root").into();
    assert!(assume(&root, &[], &trust(&format!(r#"{{"AWS":"{ACCOUNT}"}}"#))).is_allowed());

    // Resources: `arn:aws:` never matches an `arn:aws-cn:` ARN; `arn:*:` matches both.
    let mut read = ctx("app", "secretsmanager:GetSecretValue", &cn(secret("db")));
    read.principal_arn = cn(read.principal_arn.into_owned()).into();
    let allow = |resource: &str| {
        identity(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"{resource}"}}}}"#
        ))
    };
    for (resource, allowed) in [
        (
            format!("arn:aws-cn:secretsmanager:us-east-1:{ACCOUNT}:secret:db-*"),
            true,
        ),
        (
            format!("arn:*:secretsmanager:us-east-1:{ACCOUNT}:secret:db-*"),
            true,
        ),
        (
            format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-*"),
            false,
        ),
        ("arn:aws:secretsmanager:*:*:secret:*".to_string(), false),
    ] {
        assert_eq!(
            decide(&read, &[&allow(&resource)], None).is_allowed(),
            allowed,
            "{resource}"
        );
    }
}

/// The global keys a request lends (`facts`) are read where a policy looks — conditions and
/// policy variables alike — and a key of the same name in the request's own keys wins.
#[test]
fn facts_are_read_where_the_request_has_no_key_of_that_name() {
    #[derive(Debug)]
    struct Facts;
    impl KeyLookup for Facts {
        fn lookup(&self, key: &str) -> Option<Values<'_>> {
            match key {
                "aws:principaltag/team" => Some(Values::One("blue")),
                "aws:sourceip" => Some(Values::One("10.1.2.3")),
                _ => None,
            }
        }
    }
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue",
            "Resource":"arn:aws:secretsmanager:*:*:secret:${aws:PrincipalTag/team}-*",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
    );
    let get = "secretsmanager:GetSecretValue";
    let mut c = ctx("a", get, &secret("blue"));
    assert!(
        !decide(&c, &[&p], None).is_allowed(),
        "no facts: no tag, no address"
    );
    c.facts = Some(&Facts);
    assert!(decide(&c, &[&p], None).is_allowed());
    let mut red = ctx("a", get, &secret("red"));
    red.facts = Some(&Facts);
    assert!(
        !decide(&red, &[&p], None).is_allowed(),
        "the variable is the fact's value"
    );
    c.keys
        .insert("aws:sourceip".into(), vec!["192.168.0.1".into()]);
    assert!(
        !decide(&c, &[&p], None).is_allowed(),
        "the request's own key wins"
    );
    c.keys.insert("aws:sourceip".into(), vec![]);
    assert!(
        !decide(&c, &[&p], None).is_allowed(),
        "an empty list hides the fact too"
    );
}
