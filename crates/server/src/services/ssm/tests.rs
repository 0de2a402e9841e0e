//! Parameter Store through the pipeline on an in-memory store: the input parsed once, the
//! checks from the typed input, the answers' wire members and the audit record's parameters.

use std::sync::Arc;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::Ssm;
use crate::audit::Call;
use crate::credentials::Principal;
use crate::error::ApiError;
use crate::iam::authz::{Authorizer, RequestInfo};
use crate::pipeline::{self, Output, Wire};
use crate::services::ssm::ops::Op;
use crate::services::ssm::shapes::Input;
use crate::test_support::{self as ts, ACCOUNT, REGION};

async fn service() -> (Ssm, Authorizer) {
    let (store, barrier, clock) = (ts::store().await, ts::barrier(), ts::clock());
    let kms = Arc::new(
        crate::services::kms::Kms::load(
            store.clone(),
            barrier.clone(),
            clock.clone(),
            REGION.into(),
            ACCOUNT.into(),
        )
        .await
        .unwrap(),
    );
    let default_key = kms
        .managed_key_id(crate::services::kms::SECRETS_MANAGER_KEY)
        .unwrap();
    let sm = Arc::new(crate::services::secretsmanager::SecretsManager::new(
        store.clone(),
        barrier.clone(),
        clock.clone(),
        REGION.into(),
        ACCOUNT.into(),
        default_key,
        kms.clone(),
    ));
    let directory = ts::directory(store.clone(), barrier.clone()).await;
    let ssm = Ssm::new(
        store,
        barrier,
        kms,
        sm,
        clock,
        REGION.into(),
        ACCOUNT.into(),
    );
    (ssm, Authorizer::new(Arc::new(directory)))
}

/// The answer (or error) and the audit record of one call by the account's root.
async fn call(
    ssm: &Ssm,
    authz: &Authorizer,
    op: &str,
    body: &str,
) -> (Result<Value, ApiError>, Call) {
    let info = RequestInfo {
        source_ip: None,
        secure_transport: false,
        now_ms: 0,
    };
    let mut call = Call::default();
    let root = Principal::root(ACCOUNT, "AKIAROOT");
    let wire = Wire::Json(Zeroizing::new(body.as_bytes().to_vec()));
    let out = pipeline::run(ssm, op, wire, &root, &info, authz, &mut call).await;
    let out = out.map(|o| match o {
        Output::Json(b) => serde_json::from_slice(&b).unwrap(),
        Output::Xml(_) => unreachable!("SSM answers JSON"),
    });
    (out, call)
}

#[tokio::test]
async fn unparsable_and_not_offered_inputs_keep_their_errors() {
    let (ssm, authz) = service().await;
    let (e, rec) = call(&ssm, &authz, "GetParameter", r#"{"Name": 42}"#).await;
    let e = e.unwrap_err();
    assert_eq!(e.code, "SerializationException");
    assert!(e.message.contains("Name"), "{}", e.message);
    assert!(rec.request_parameters.is_none());
    // Parsed as NotOffered (so its refusal is authorized and audited like any call), then
    // refused by execute.
    let (e, rec) = call(&ssm, &authz, "SendCommand", r#"{"InstanceIds": ["i-1"]}"#).await;
    let e = e.unwrap_err();
    assert!(rec.request_parameters.is_some());
    assert_eq!(e.code, "UnknownOperationException");
    assert_eq!(
        e.message,
        "SendCommand is a Systems Manager operation Strongroom does not offer: it offers Parameter Store's parameter and tag operations."
    );
    // Required members are the service's to check, with its own code.
    let (e, _) = call(&ssm, &authz, "GetParameter", "{}").await;
    assert_eq!(e.unwrap_err().code, "ValidationException");
}

#[tokio::test]
async fn answers_omit_absent_members_and_records_never_hold_the_value() {
    let (ssm, authz) = service().await;
    let (out, rec) = call(
        &ssm,
        &authz,
        "PutParameter",
        r#"{"Name":"/app/db","Value":"s3cr3t-value","Type":"SecureString","Tags":[{"Key":"team","Value":"a"}]}"#,
    )
    .await;
    assert_eq!(out.unwrap(), json!({"Version": 1, "Tier": "Standard"}));
    assert_eq!(
        rec.request_parameters,
        Some(json!({"name": "/app/db", "type": "SecureString",
                    "tags": [{"key": "team"}]})),
        "SSM's `Value` members are all removed (tag values too, as before)"
    );
    assert_eq!(
        rec.response_elements,
        Some(json!({"version": 1, "tier": "Standard"}))
    );
    assert_eq!(
        rec.resource.unwrap().arn,
        format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/db")
    );

    let (out, rec) = call(
        &ssm,
        &authz,
        "GetParameter",
        r#"{"Name":"/app/db","WithDecryption":true}"#,
    )
    .await;
    let p = out.unwrap()["Parameter"].clone();
    assert_eq!(p["Value"], "s3cr3t-value");
    assert_eq!(p["Type"], "SecureString");
    assert_eq!(p["Version"], 1);
    assert!(p["LastModifiedDate"].is_f64(), "{p}");
    assert!(
        p.get("Selector").is_none() && p.get("SourceResult").is_none(),
        "{p}"
    );
    assert!(
        rec.response_elements.is_none(),
        "read-only: no response elements"
    );

    let (out, rec) = call(&ssm, &authz, "DeleteParameter", r#"{"Name":"/app/db"}"#).await;
    assert_eq!(out.unwrap(), json!({}));
    assert!(rec.response_elements.is_none());
}

#[tokio::test]
async fn checks_come_from_the_typed_input() {
    let (ssm, _) = service().await;
    let arn = |n: &str| format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{n}");
    let input = |op, body: &str| Input::parse(op, body.as_bytes()).unwrap();

    let checks = ssm
        .authorization_checks(
            Op::GetParameters,
            &input(Op::GetParameters, r#"{"Names":["/a:2","b:label"]}"#),
        )
        .await;
    let got: Vec<_> = checks
        .iter()
        .map(|c| (c.action.as_str(), c.resource.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("ssm:GetParameters", arn("/a")),
            ("ssm:GetParameters", arn("/b"))
        ]
    );

    let checks = ssm
        .authorization_checks(
            Op::PutParameter,
            &input(
                Op::PutParameter,
                r#"{"Name":"x","Tags":[{"Key":"Team","Value":"a"}]}"#,
            ),
        )
        .await;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].resource, arn("/x"));
    assert_eq!(
        checks[0].keys.get("aws:requesttag/team"),
        Some(&vec!["a".to_string()])
    );
    assert_eq!(
        checks[0].keys.get("aws:tagkeys"),
        Some(&vec!["Team".to_string()])
    );

    let by_path = ssm
        .authorization_checks(
            Op::GetParametersByPath,
            &input(Op::GetParametersByPath, r#"{"Path":"/app/"}"#),
        )
        .await;
    assert_eq!(by_path[0].resource, arn("/app"));
    for (op, body) in [
        (Op::DescribeParameters, r#"{}"#),
        (Op::GetParameter, r#"{}"#),
    ] {
        let c = ssm.authorization_checks(op, &input(op, body)).await;
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].resource, "*");
    }
}
