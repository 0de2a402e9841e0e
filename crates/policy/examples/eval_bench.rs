//! Policy evaluation alone, without a server: the request `scripts/bench-pinned.sh`'s
//! "IAM user with 10 policies" makes (GetSecretValue against 10 managed policies, 20
//! statements, all with conditions, the allowing one last), evaluated a million times.
//! Noise-free next to the HTTP benchmark, for changes to the policy engine:
//!
//!     cargo run --release -p strongroom-policy --example eval_bench
use strongroom_policy::eval::{Named, PolicySet, RequestContext};
use strongroom_policy::matching::Keys;
fn main() {
    let mut pols = Vec::new();
    for i in 0..10 {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"secretsmanager:Delete*","Resource":"*","Condition":{{"StringEquals":{{"aws:username":"x{i}"}}}}}},{{"Effect":"Allow","Action":"secretsmanager:{}","Resource":"arn:aws:secretsmanager:*:*:secret:bench-*","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.0/8"}}}}}}]}}"#,
            if i == 9 {
                "GetSecretValue"
            } else {
                "Describe*"
            }
        );
        pols.push((
            format!("bench-p{i}"),
            strongroom_policy::parse(&doc, strongroom_policy::PolicyKind::Identity).unwrap(),
        ));
    }
    let mut keys = Keys::new();
    for (k, v) in [
        (
            "aws:principalarn",
            "arn:aws:iam::123456789012:user/bench-user",
        ),
        ("aws:username", "bench-user"),
        ("aws:sourceip", "127.0.0.1"),
        ("aws:securetransport", "false"),
        ("aws:currenttime", "2026-12-06T15:00:00Z"),
        ("aws:epochtime", "1796000000"),
        ("aws:userid", "AIDAXXXXXXXX"),
        ("aws:principaltype", "User"),
        ("aws:principalaccount", "123456789012"),
        ("aws:viaawsservice", "false"),
        ("secretsmanager:secretid", "bench-secret"),
    ] {
        keys.insert(k.to_string(), vec![v.to_string()]);
    }
    let ctx = RequestContext {
        action: "secretsmanager:GetSecretValue".into(),
        resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-secret-AbCdEf".into(),
        principal_arn: "arn:aws:iam::123456789012:user/bench-user".into(),
        principal_aliases: vec![],
        principal_account: "123456789012".into(),
        resource_account: "123456789012".into(),
        keys,
        facts: None,
    };
    let set = PolicySet {
        identity: pols
            .iter()
            .map(|(n, p)| Named { name: n, policy: p })
            .collect(),
        ..Default::default()
    };
    let n = 1_000_000;
    for _ in 0..3 {
        // Every evaluation must allow: a change that breaks matching shows here as a count.
        let t = std::time::Instant::now();
        let mut ok = 0;
        for _ in 0..n {
            if strongroom_policy::evaluate(std::hint::black_box(&ctx), &set).is_allowed() {
                ok += 1;
            }
        }
        println!(
            "{:.0} ns/eval ({ok})",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
}
