//! The policy language: documents parsed as every kind (identity, resource, trust, session),
//! then evaluated against request contexts, checked against properties of AWS's evaluation
//! logic that any correct evaluator has (a slow reference for the parts that have one):
//! - no policy allows → implicit deny; an applicable explicit Deny anywhere → explicit deny;
//! - a resource policy that must allow (trust, key policy) never allows what the same
//!   document as an optional resource policy would deny;
//! - a permissions boundary or session policy can only take permissions away;
//! - evaluation is deterministic, and keys lent as facts decide as keys the request owns.
//! Input: `DOCUMENT\0ACTION\0RESOURCE\0KEY=VALUE...`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strongroom_policy::eval::{Named, Outcome, PolicySet, RequestContext, ResourceRule};
use strongroom_policy::{PolicyKind, evaluate, parse};

const ACCOUNT: &str = "123456789012";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let doc = parts.next().unwrap_or_default();
    let action = parts.next().unwrap_or("secretsmanager:GetSecretValue");
    let resource = parts.next().unwrap_or("*");
    let mut keys = strongroom_policy::matching::Keys::new();
    for kv in parts {
        if let Some((k, v)) = kv.split_once('=') {
            keys.entry(k.to_ascii_lowercase()).or_default().push(v.to_string());
        }
    }
    let parsed: Vec<_> = [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust, PolicyKind::Session]
        .into_iter()
        .map(|k| parse(doc, k).ok())
        .collect();
    let ctx = RequestContext {
        action: action.into(),
        resource: resource.into(),
        principal_arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/s1").into(),
        principal_aliases: vec![format!("arn:aws:iam::{ACCOUNT}:role/app")],
        principal_account: ACCOUNT.into(),
        resource_account: ACCOUNT.into(),
        keys,
        facts: None,
    };
    let allow_all = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    let deny_all = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    let named = |p| Named { name: "p", policy: p };

    // Nothing allows: implicit deny.
    let empty = evaluate(&ctx, &PolicySet::default());
    assert_eq!(empty.outcome, Outcome::ImplicitDeny);

    if let Some(identity) = &parsed[0] {
        let set = PolicySet { identity: vec![named(identity)], ..Default::default() };
        let d = evaluate(&ctx, &set);
        assert_eq!(d, evaluate(&ctx, &set), "not deterministic");
        // The same keys lent as the request's facts decide as the keys it owns.
        let lent = RequestContext { keys: Default::default(), facts: Some(&ctx.keys), ..ctx.clone() };
        assert_eq!(evaluate(&lent, &set), d, "lent and owned keys disagree");
        // A boundary or session policy only takes away.
        let bounded = PolicySet {
            identity: vec![named(identity)],
            boundary: Some(vec![named(&allow_all)]),
            session: Some(vec![named(identity)]),
            ..Default::default()
        };
        if evaluate(&ctx, &bounded).is_allowed() {
            assert!(d.is_allowed(), "a boundary or session policy added a permission");
        }
        // An applicable explicit Deny decides, whatever else allows.
        let with_deny = PolicySet { identity: vec![named(identity), named(&deny_all)], ..Default::default() };
        assert_eq!(evaluate(&ctx, &with_deny).outcome, Outcome::ExplicitDeny);
    }
    for resource_doc in [&parsed[1], &parsed[2]].into_iter().flatten() {
        let either = PolicySet {
            identity: vec![named(&allow_all)],
            resource: Some(named(resource_doc)),
            resource_rule: ResourceRule::EitherSide,
            ..Default::default()
        };
        let required = PolicySet { resource_rule: ResourceRule::Required, ..either.clone() };
        let (e, r) = (evaluate(&ctx, &either), evaluate(&ctx, &required));
        if r.is_allowed() {
            assert!(e.is_allowed(), "Required allowed what EitherSide denies");
        }
        // Without any identity allow, Required and EitherSide agree on direct grants only.
        let alone = PolicySet { identity: vec![], ..required };
        if evaluate(&ctx, &alone).is_allowed() {
            assert!(r.is_allowed());
        }
    }
});
