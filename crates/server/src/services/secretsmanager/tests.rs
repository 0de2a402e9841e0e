//! Service tests on an in-memory store with a manual clock: the time-dependent rules
//! (version pruning's 24-hour grace, recovery windows, LastAccessedDate) without waiting.

use crate::pipeline::Operation as _;
use std::sync::Arc;

use serde_json::{Value, json};
use strongroom_domain::secret::MS_PER_DAY;

use super::{SecretsManager, SmError};
use crate::clock::ManualClock;
use crate::test_support::{self as ts, START};

async fn service() -> (SecretsManager, Arc<ManualClock>) {
    let (store, barrier, clock) = (ts::store().await, ts::barrier(), ts::clock());
    let kms = crate::services::kms::Kms::load(
        store.clone(),
        barrier.clone(),
        clock.clone(),
        ts::REGION.into(),
        ts::ACCOUNT.into(),
    )
    .await
    .unwrap();
    let default_key = kms
        .managed_key_id(crate::services::kms::SECRETS_MANAGER_KEY)
        .unwrap();
    let sm = SecretsManager::new(
        store,
        barrier,
        clock.clone(),
        ts::REGION.into(),
        ts::ACCOUNT.into(),
        default_key,
        Arc::new(kms),
    );
    (sm, clock)
}

async fn call(sm: &SecretsManager, op: &str, body: Value) -> Result<Value, SmError> {
    let op = super::ops::Op::from_name(op).expect("a Secrets Manager operation");
    let input = super::shapes::Input::parse(op, body.to_string().as_bytes())
        .map_err(SmError::Serialization)?;
    let out = sm
        .call(&input, &super::open_gate, None, &mut Vec::new())
        .await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

#[tokio::test]
async fn pruning_keeps_100_versions_but_spares_young_ones() {
    let (sm, clock) = service().await;
    call(
        &sm,
        "CreateSecret",
        json!({"Name": "p", "SecretString": "v0"}),
    )
    .await
    .unwrap();
    // 100 versions in total are fine.
    for i in 1..100 {
        call(
            &sm,
            "PutSecretValue",
            json!({"SecretId": "p", "SecretString": format!("v{i}")}),
        )
        .await
        .unwrap();
    }
    // The 101st within 24 hours cannot prune anything: refused, nothing stored.
    let err = call(
        &sm,
        "PutSecretValue",
        json!({"SecretId": "p", "SecretString": "v100"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "LimitExceededException");
    let cur = call(&sm, "GetSecretValue", json!({"SecretId": "p"}))
        .await
        .unwrap();
    assert_eq!(cur["SecretString"], "v99");

    // A day later the oldest deprecated version goes.
    clock.advance(MS_PER_DAY + 1);
    call(
        &sm,
        "PutSecretValue",
        json!({"SecretId": "p", "SecretString": "v100"}),
    )
    .await
    .unwrap();
    let all = call(
        &sm,
        "ListSecretVersionIds",
        json!({"SecretId": "p", "IncludeDeprecated": true}),
    )
    .await
    .unwrap();
    assert_eq!(all["Versions"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn purge_runs_only_after_the_recovery_window() {
    let (sm, clock) = service().await;
    call(
        &sm,
        "CreateSecret",
        json!({"Name": "gone", "SecretString": "x"}),
    )
    .await
    .unwrap();
    let d = call(
        &sm,
        "DeleteSecret",
        json!({"SecretId": "gone", "RecoveryWindowInDays": 7}),
    )
    .await
    .unwrap();
    assert_eq!(
        d["DeletionDate"].as_f64().unwrap(),
        (START + 7 * MS_PER_DAY) as f64 / 1000.0
    );
    clock.advance(7 * MS_PER_DAY - 1);
    assert!(sm.purge_expired().await.unwrap().is_empty());
    call(&sm, "DescribeSecret", json!({"SecretId": "gone"}))
        .await
        .unwrap();
    clock.advance(1);
    assert_eq!(sm.purge_expired().await.unwrap().len(), 1);
    let err = call(&sm, "DescribeSecret", json!({"SecretId": "gone"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ResourceNotFoundException");
    // The name is free again.
    call(
        &sm,
        "CreateSecret",
        json!({"Name": "gone", "SecretString": "y"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn dates_are_maintained() {
    let (sm, clock) = service().await;
    call(
        &sm,
        "CreateSecret",
        json!({"Name": "d", "SecretString": "x"}),
    )
    .await
    .unwrap();
    let d = call(&sm, "DescribeSecret", json!({"SecretId": "d"}))
        .await
        .unwrap();
    assert!(d.get("LastAccessedDate").is_none(), "never read yet");
    assert_eq!(d["CreatedDate"].as_f64().unwrap(), START as f64 / 1000.0);

    clock.advance(3 * MS_PER_DAY + 5_000);
    call(&sm, "GetSecretValue", json!({"SecretId": "d"}))
        .await
        .unwrap();
    let d = call(&sm, "DescribeSecret", json!({"SecretId": "d"}))
        .await
        .unwrap();
    let day = strongroom_domain::secret::day_floor(START + 3 * MS_PER_DAY + 5_000);
    assert_eq!(d["LastAccessedDate"].as_f64().unwrap(), day as f64 / 1000.0);
    assert_eq!(
        d["LastChangedDate"].as_f64().unwrap(),
        START as f64 / 1000.0
    );

    call(
        &sm,
        "TagResource",
        json!({"SecretId": "d", "Tags": [{"Key": "k", "Value": "v"}]}),
    )
    .await
    .unwrap();
    let d = call(&sm, "DescribeSecret", json!({"SecretId": "d"}))
        .await
        .unwrap();
    assert_eq!(
        d["LastChangedDate"].as_f64().unwrap(),
        (START + 3 * MS_PER_DAY + 5_000) as f64 / 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_no_update() {
    let (sm, _clock) = service().await;
    let sm = Arc::new(sm);
    let created = call(
        &sm,
        "CreateSecret",
        json!({"Name": "c", "SecretString": "0"}),
    )
    .await
    .unwrap();
    let arn = created["ARN"].as_str().unwrap().to_string();
    call(
        &sm,
        "CreateSecret",
        json!({"Name": "other", "SecretString": "0"}),
    )
    .await
    .unwrap();
    // One secret named by its name and by its ARN (one lock), while another secret is
    // written at the same time (its own lock).
    let mut tasks = Vec::new();
    for i in 0..32 {
        let sm = sm.clone();
        let id = if i % 2 == 0 {
            "c".to_string()
        } else {
            arn.clone()
        };
        tasks.push(tokio::spawn(async move {
            call(
                &sm,
                "TagResource",
                json!({"SecretId": id, "Tags": [{"Key": format!("k{i}"), "Value": "v"}]}),
            )
            .await
            .unwrap();
            call(
                &sm,
                "PutSecretValue",
                json!({"SecretId": "other", "SecretString": format!("v{i}")}),
            )
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let d = call(&sm, "DescribeSecret", json!({"SecretId": "c"}))
        .await
        .unwrap();
    assert_eq!(d["Tags"].as_array().unwrap().len(), 32);
    // Every write made its version (AWS keeps unlabelled versions younger than 24 h).
    let v = call(
        &sm,
        "ListSecretVersionIds",
        json!({"SecretId": "other", "IncludeDeprecated": true}),
    )
    .await
    .unwrap();
    assert_eq!(v["Versions"].as_array().unwrap().len(), 33);
}

#[tokio::test]
async fn error_messages_never_echo_secret_values() {
    let (sm, _clock) = service().await;
    let secret = "hunter2-very-secret-value";
    let cases = [
        (
            "CreateSecret",
            json!({"Name": "bad name", "SecretString": secret}),
        ),
        (
            "CreateSecret",
            json!({"Name": "ok", "SecretString": secret, "SecretBinary": "aGk="}),
        ),
        (
            "CreateSecret",
            json!({"Name": "ok2", "SecretString": secret.repeat(3000)}),
        ),
        (
            "PutSecretValue",
            json!({"SecretId": "missing", "SecretString": secret}),
        ),
        (
            "CreateSecret",
            json!({"Name": "ok3", "SecretString": [secret]}),
        ),
    ];
    for (op, body) in cases {
        let err = call(&sm, op, body).await.unwrap_err();
        assert!(
            !err.message().contains("hunter2"),
            "{op}: {}",
            err.message()
        );
    }
}

/// A selective filter over more secrets than one call examines: pages may be short (even
/// empty) while a NextToken is present, as AWS documents, and following the tokens lists every
/// match once, in order. By name, the name filter is an index range: one full answer.
#[tokio::test]
async fn filtered_listings_page_with_bounded_work() {
    let (sm, clock) = service().await;
    let mut wanted = Vec::new();
    for i in 0..2_600 {
        let name = if i % 52 == 0 {
            wanted.push(format!("want/{i:04}"));
            format!("want/{i:04}")
        } else {
            format!("other/{i:04}")
        };
        // Distinct creation times: the default order is by creation.
        clock.advance(1);
        call(
            &sm,
            "CreateSecret",
            json!({"Name": name, "SecretString": "x"}),
        )
        .await
        .unwrap();
    }
    let filters = json!([{"Key": "name", "Values": ["want/"]}]);
    let mut listed = Vec::new();
    let mut short_pages_with_token = 0;
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut input = json!({"MaxResults": 100, "Filters": filters});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = call(&sm, "ListSecrets", input).await.unwrap();
        let page: Vec<String> = out["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Name"].as_str().unwrap().to_string())
            .collect();
        token = out["NextToken"].as_str().map(str::to_string);
        if token.is_some() && page.len() < 100 {
            short_pages_with_token += 1;
        }
        listed.extend(page);
        if token.is_none() {
            break;
        }
    }
    assert!(token.is_none(), "the listing ends");
    assert_eq!(listed, wanted);
    assert!(
        short_pages_with_token > 0,
        "2,600 secrets take more than one call's scan"
    );

    let out = call(
        &sm,
        "ListSecrets",
        json!({"MaxResults": 100, "Filters": filters, "SortBy": "name", "SortOrder": "desc"}),
    )
    .await
    .unwrap();
    let by_name: Vec<&str> = out["SecretList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = wanted.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(by_name, expected);
    assert!(out.get("NextToken").is_none_or(Value::is_null));

    // A token of another query, or of the old offset form, is refused.
    let other = call(&sm, "ListSecrets", json!({"MaxResults": 1}))
        .await
        .unwrap();
    let t = other["NextToken"].as_str().unwrap();
    let err = call(
        &sm,
        "ListSecrets",
        json!({"MaxResults": 1, "Filters": filters, "NextToken": t}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "InvalidNextTokenException");
    let old = super::paging::encode(1, 0);
    let err = call(&sm, "ListSecrets", json!({"NextToken": old}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidNextTokenException");
}

/// The console's sorts are not ListSecrets values (its wire enum stays AWS's); the console's
/// listing takes them, pages them, and filters on rotation.
#[tokio::test]
async fn the_consoles_listing_sorts_by_description_and_filters_rotation() {
    let (sm, _) = service().await;
    for (name, description) in [("a", Some("zz")), ("b", Some("Mm")), ("c", None)] {
        let mut input = json!({"Name": name, "SecretString": "v"});
        if let Some(d) = description {
            input["Description"] = json!(d);
        }
        call(&sm, "CreateSecret", input).await.unwrap();
    }
    let err = call(&sm, "ListSecrets", json!({"SortBy": "description"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");
    let list = |sort: &str, order: &str, token: Option<String>, rotation: Option<bool>| {
        let input = super::shapes::ListSecretsRequest {
            sort_by: Some(sort.into()),
            sort_order: Some(order.into()),
            max_results: Some(1),
            next_token: token,
            ..Default::default()
        };
        let sm = &sm;
        async move { sm.console_list_secrets(input, rotation).await.unwrap() }
    };
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = list("description", "asc", token, None).await;
        names.extend(
            out.secret_list
                .unwrap()
                .into_iter()
                .map(|s| s.name.unwrap()),
        );
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    // None sorts as "", then bytes: "Mm" < "zz".
    assert_eq!(names, ["c", "b", "a"]);
    let out = list("next-rotation-date", "desc", None, Some(true)).await;
    assert!(out.secret_list.unwrap().is_empty());
    let out = list("next-rotation-date", "asc", None, Some(false)).await;
    assert_eq!(out.secret_list.unwrap()[0].name.as_deref(), Some("a"));
    assert!(
        sm.console_list_secrets(
            super::shapes::ListSecretsRequest {
                sort_by: Some("tags".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .is_err()
    );
}
