//! Every Secrets Manager operation of the foundation, driven by the AWS SDK for Rust against a
//! real server, including the label, idempotency, deletion and pagination edge cases.

use crate::common;

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SortOrderType, Tag};
use common::{TestServer, code, message};

const TOKEN_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TOKEN_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

#[tokio::test]
async fn create_get_put_describe_roundtrip() {
    let mut t = TestServer::start("roundtrip").await;
    let c = t.client();
    let created = c
        .create_secret()
        .name("MySecret")
        .description("seed 004")
        .secret_string(r#"{"username":"user","password":"password"}"#)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret-"),
        "{arn}"
    );
    assert_eq!(
        arn.len(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret-".len() + 6
    );
    let v1 = created.version_id().unwrap().to_string();

    let got = c
        .get_secret_value()
        .secret_id("MySecret")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.secret_string(),
        Some(r#"{"username":"user","password":"password"}"#)
    );
    assert_eq!(got.version_id(), Some(v1.as_str()));
    assert_eq!(got.version_stages(), ["AWSCURRENT"]);
    assert_eq!(got.arn(), Some(arn.as_str()));

    // Full ARN and partial ARN (without the random suffix) both resolve.
    let by_arn = c.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(by_arn.version_id(), Some(v1.as_str()));
    let partial = &arn[..arn.len() - 7];
    let by_partial = c
        .get_secret_value()
        .secret_id(partial)
        .send()
        .await
        .unwrap();
    assert_eq!(by_partial.arn(), Some(arn.as_str()));

    let put = c
        .put_secret_value()
        .secret_id("MySecret")
        .secret_string("second")
        .send()
        .await
        .unwrap();
    let v2 = put.version_id().unwrap().to_string();
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);

    let cur = c
        .get_secret_value()
        .secret_id("MySecret")
        .send()
        .await
        .unwrap();
    assert_eq!(cur.secret_string(), Some("second"));
    let prev = c
        .get_secret_value()
        .secret_id("MySecret")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.version_id(), Some(v1.as_str()));
    assert_eq!(
        prev.secret_string(),
        Some(r#"{"username":"user","password":"password"}"#)
    );
    let by_version = c
        .get_secret_value()
        .secret_id("MySecret")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(by_version.secret_string(), Some("second"));

    let d = c
        .describe_secret()
        .secret_id("MySecret")
        .send()
        .await
        .unwrap();
    assert_eq!(d.name(), Some("MySecret"));
    assert_eq!(d.description(), Some("seed 004"));
    assert!(
        d.kms_key_id().is_none(),
        "managed key is shown as no KmsKeyId"
    );
    let stages = d.version_ids_to_stages().unwrap();
    assert_eq!(stages.get(&v1).unwrap(), &vec!["AWSPREVIOUS".to_string()]);
    assert_eq!(stages.get(&v2).unwrap(), &vec!["AWSCURRENT".to_string()]);
    let accessed = d
        .last_accessed_date()
        .expect("LastAccessedDate after a read");
    assert_eq!(accessed.secs() % 86_400, 0, "date granularity");
    assert!(d.created_date().is_some() && d.last_changed_date().is_some());
    t.stop().await;
}

#[tokio::test]
async fn binary_secrets_round_trip() {
    let mut t = TestServer::start("binary").await;
    let c = t.client();
    let bytes: Vec<u8> = (0..=255u8).collect();
    c.create_secret()
        .name("bin")
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    let got = c.get_secret_value().secret_id("bin").send().await.unwrap();
    assert_eq!(got.secret_binary().unwrap().as_ref(), bytes.as_slice());
    assert!(got.secret_string().is_none());
    t.stop().await;
}

#[tokio::test]
async fn create_errors() {
    let mut t = TestServer::start("create-errors").await;
    let c = t.client();
    c.create_secret()
        .name("dup")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let e = c
        .create_secret()
        .name("dup")
        .secret_string("y")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    assert!(message(&e).contains("dup"), "{}", message(&e));

    let e = c
        .create_secret()
        .name("bad name!")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    assert!(message(&e).starts_with("Invalid name."), "{}", message(&e));
    let e = c
        .create_secret()
        .name("a".repeat(513))
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");

    let e = c
        .create_secret()
        .name("both")
        .secret_string("x")
        .secret_binary(Blob::new(b"y".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");

    // 65,536 bytes is the limit, inclusive.
    c.create_secret()
        .name("max")
        .secret_string("v".repeat(65_536))
        .send()
        .await
        .unwrap();
    let e = c
        .create_secret()
        .name("toolong")
        .secret_string("v".repeat(65_537))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = c
        .describe_secret()
        .secret_id("toolong")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        "ResourceNotFoundException",
        "a refused create stores nothing"
    );

    let e = c
        .create_secret()
        .name("badkms")
        .kms_key_id("alias/nope")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "EncryptionFailure");

    // Secret without a value: DescribeSecret works, GetSecretValue has nothing to return.
    let created = c.create_secret().name("empty").send().await.unwrap();
    assert!(created.version_id().is_none());
    let e = c
        .get_secret_value()
        .secret_id("empty")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    t.stop().await;
}

#[tokio::test]
async fn client_request_token_idempotency() {
    let mut t = TestServer::start("idempotency").await;
    let c = t.client();
    let created = c
        .create_secret()
        .name("idem")
        .client_request_token(TOKEN_A)
        .secret_string("one")
        .send()
        .await
        .unwrap();
    assert_eq!(created.version_id(), Some(TOKEN_A));
    // A retried create (same token, same value) succeeds.
    let again = c
        .create_secret()
        .name("idem")
        .client_request_token(TOKEN_A)
        .secret_string("one")
        .send()
        .await
        .unwrap();
    assert_eq!(again.arn(), created.arn());

    let p1 = c
        .put_secret_value()
        .secret_id("idem")
        .client_request_token(TOKEN_B)
        .secret_string("two")
        .send()
        .await
        .unwrap();
    let p2 = c
        .put_secret_value()
        .secret_id("idem")
        .client_request_token(TOKEN_B)
        .secret_string("two")
        .send()
        .await
        .unwrap();
    assert_eq!(p1.version_id(), p2.version_id());
    let versions = c
        .list_secret_version_ids()
        .secret_id("idem")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        2,
        "the retry made no new version"
    );

    let e = c
        .put_secret_value()
        .secret_id("idem")
        .client_request_token(TOKEN_B)
        .secret_string("different")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    let cur = c.get_secret_value().secret_id("idem").send().await.unwrap();
    assert_eq!(
        cur.secret_string(),
        Some("two"),
        "the refused write changed nothing"
    );

    let e = c
        .put_secret_value()
        .secret_id("idem")
        .client_request_token("short")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    t.stop().await;
}

#[tokio::test]
async fn staging_labels_and_deprecated_versions() {
    let mut t = TestServer::start("labels").await;
    let c = t.client();
    let v1 = c
        .create_secret()
        .name("lab")
        .secret_string("1")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let v2 = c
        .put_secret_value()
        .secret_id("lab")
        .secret_string("2")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let v3 = c
        .put_secret_value()
        .secret_id("lab")
        .secret_string("3")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    // v1 lost its labels: deprecated, hidden by default.
    let listed = c
        .list_secret_version_ids()
        .secret_id("lab")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&v1.as_str()));
    let all = c
        .list_secret_version_ids()
        .secret_id("lab")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(all.versions().len(), 3);
    let v1_entry = all
        .versions()
        .iter()
        .find(|v| v.version_id() == Some(v1.as_str()))
        .unwrap();
    assert!(v1_entry.version_stages().is_empty());
    // A deprecated version is still readable by id.
    let old = c
        .get_secret_value()
        .secret_id("lab")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.secret_string(), Some("1"));

    // Custom label on a new version without moving AWSCURRENT.
    let v4 = c
        .put_secret_value()
        .secret_id("lab")
        .secret_string("4")
        .version_stages("blue")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert_eq!(
        c.get_secret_value()
            .secret_id("lab")
            .send()
            .await
            .unwrap()
            .version_id(),
        Some(v3.as_str())
    );

    // Moving AWSCURRENT needs RemoveFromVersionId naming the current holder.
    let e = c
        .update_secret_version_stage()
        .secret_id("lab")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = c
        .update_secret_version_stage()
        .secret_id("lab")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v4)
        .remove_from_version_id(&v2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    c.update_secret_version_stage()
        .secret_id("lab")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v4)
        .remove_from_version_id(&v3)
        .send()
        .await
        .unwrap();
    let d = c.describe_secret().secret_id("lab").send().await.unwrap();
    let map = d.version_ids_to_stages().unwrap();
    let mut s4 = map.get(&v4).unwrap().clone();
    s4.sort();
    assert_eq!(s4, vec!["AWSCURRENT".to_string(), "blue".to_string()]);
    assert_eq!(map.get(&v3).unwrap(), &vec!["AWSPREVIOUS".to_string()]);
    assert!(
        !map.contains_key(&v2),
        "v2 lost AWSPREVIOUS and is deprecated"
    );

    // AWSCURRENT can't be removed outright; other labels can.
    let e = c
        .update_secret_version_stage()
        .secret_id("lab")
        .version_stage("AWSCURRENT")
        .remove_from_version_id(&v4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    c.update_secret_version_stage()
        .secret_id("lab")
        .version_stage("blue")
        .remove_from_version_id(&v4)
        .send()
        .await
        .unwrap();
    let e = c
        .get_secret_value()
        .secret_id("lab")
        .version_stage("blue")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");

    // More than 20 labels on one version is refused.
    let labels: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
    let mut req = c.put_secret_value().secret_id("lab").secret_string("5");
    for l in &labels {
        req = req.version_stages(l);
    }
    req.send().await.unwrap();
    t.stop().await;
}

#[tokio::test]
async fn delete_restore_and_force_delete() {
    let mut t = TestServer::start("delete").await;
    let c = t.client();
    c.create_secret()
        .name("del")
        .secret_string("v")
        .send()
        .await
        .unwrap();

    let e = c
        .delete_secret()
        .secret_id("del")
        .recovery_window_in_days(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let e = c
        .delete_secret()
        .secret_id("del")
        .recovery_window_in_days(7)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let d = c
        .delete_secret()
        .secret_id("del")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let when = d.deletion_date().unwrap().secs();
    assert!(
        (when - before - 7 * 86_400).abs() < 60,
        "deletion date is 7 days out"
    );

    let e = c
        .get_secret_value()
        .secret_id("del")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRequestException");
    let e = c
        .put_secret_value()
        .secret_id("del")
        .secret_string("w")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRequestException");
    let e = c.delete_secret().secret_id("del").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidRequestException");
    let e = c
        .create_secret()
        .name("del")
        .secret_string("v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        "InvalidRequestException",
        "name held while scheduled"
    );
    assert!(
        c.describe_secret()
            .secret_id("del")
            .send()
            .await
            .unwrap()
            .deleted_date()
            .is_some()
    );

    // Hidden from ListSecrets unless IncludePlannedDeletion.
    let names = |l: &aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput| {
        l.secret_list()
            .iter()
            .filter_map(|s| s.name().map(String::from))
            .collect::<Vec<_>>()
    };
    assert!(!names(&c.list_secrets().send().await.unwrap()).contains(&"del".to_string()));
    assert!(
        names(
            &c.list_secrets()
                .include_planned_deletion(true)
                .send()
                .await
                .unwrap()
        )
        .contains(&"del".to_string())
    );

    c.restore_secret().secret_id("del").send().await.unwrap();
    assert_eq!(
        c.get_secret_value()
            .secret_id("del")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v")
    );
    assert!(
        c.describe_secret()
            .secret_id("del")
            .send()
            .await
            .unwrap()
            .deleted_date()
            .is_none()
    );

    c.delete_secret()
        .secret_id("del")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let e = c
        .describe_secret()
        .secret_id("del")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    // Force-deleting what no longer exists is not an error (AWS documents this).
    c.delete_secret()
        .secret_id("del")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    // The name is free again.
    c.create_secret()
        .name("del")
        .secret_string("new")
        .send()
        .await
        .unwrap();
    t.stop().await;
}

#[tokio::test]
async fn update_secret_metadata_and_value() {
    let mut t = TestServer::start("update").await;
    let c = t.client();
    let v1 = c
        .create_secret()
        .name("up")
        .secret_string("1")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let r = c
        .update_secret()
        .secret_id("up")
        .description("new desc")
        .send()
        .await
        .unwrap();
    assert!(
        r.version_id().is_none(),
        "metadata-only update makes no version"
    );
    let r = c
        .update_secret()
        .secret_id("up")
        .secret_string("2")
        .send()
        .await
        .unwrap();
    let v2 = r.version_id().unwrap().to_string();
    let d = c.describe_secret().secret_id("up").send().await.unwrap();
    assert_eq!(d.description(), Some("new desc"));
    let map = d.version_ids_to_stages().unwrap();
    assert_eq!(map.get(&v2).unwrap(), &vec!["AWSCURRENT".to_string()]);
    assert_eq!(map.get(&v1).unwrap(), &vec!["AWSPREVIOUS".to_string()]);
    // A retried UpdateSecret (same token, same value) succeeds without a new version, as live
    // AWS does; the same token with another value is refused.
    let again = c
        .update_secret()
        .secret_id("up")
        .client_request_token(&v2)
        .secret_string("2")
        .send()
        .await
        .unwrap();
    assert_eq!(again.version_id(), Some(v2.as_str()));
    let all = c
        .list_secret_version_ids()
        .secret_id("up")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(all.versions().len(), 2);
    let e = c
        .update_secret()
        .secret_id("up")
        .client_request_token(&v2)
        .secret_string("other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    assert!(message(&e).contains("already in use"), "{}", message(&e));
    let e = c
        .update_secret()
        .secret_id("nope")
        .description("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    t.stop().await;
}

#[tokio::test]
async fn tags() {
    let mut t = TestServer::start("tags").await;
    let c = t.client();
    c.create_secret()
        .name("tagged")
        .secret_string("x")
        .tags(Tag::builder().key("env").value("prod").build())
        .send()
        .await
        .unwrap();
    c.tag_resource()
        .secret_id("tagged")
        .tags(Tag::builder().key("team").value("core").build())
        .tags(Tag::builder().key("env").value("stage").build())
        .send()
        .await
        .unwrap();
    let d = c
        .describe_secret()
        .secret_id("tagged")
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = d
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        vec![
            ("env".into(), "stage".into()),
            ("team".into(), "core".into())
        ]
    );
    c.untag_resource()
        .secret_id("tagged")
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let d = c
        .describe_secret()
        .secret_id("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(d.tags().len(), 1);

    let e = c
        .tag_resource()
        .secret_id("tagged")
        .tags(Tag::builder().key("aws:reserved").value("x").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    let mut req = c.tag_resource().secret_id("tagged");
    for i in 0..50 {
        req = req.tags(Tag::builder().key(format!("k{i}")).value("v").build());
    }
    let e = req.send().await.unwrap_err();
    assert!(
        [
            "InvalidParameterException",
            "LimitExceededException",
            "ValidationException"
        ]
        .contains(&code(&e).as_str()),
        "{}",
        code(&e)
    );
    assert_eq!(
        c.describe_secret()
            .secret_id("tagged")
            .send()
            .await
            .unwrap()
            .tags()
            .len(),
        1
    );
    t.stop().await;
}

#[tokio::test]
async fn list_secrets_filters_sorting_and_paging() {
    let mut t = TestServer::start("list").await;
    let c = t.client();
    for i in 0..25 {
        let env = if i % 2 == 0 { "prod" } else { "test" };
        c.create_secret()
            .name(format!("svc{i:02}-{env}-config"))
            .description(format!("service {i}"))
            .secret_string("x")
            .tags(Tag::builder().key("env").value(env).build())
            .send()
            .await
            .unwrap();
    }
    // Paging with MaxResults covers every secret exactly once.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_secrets()
            .max_results(10)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.secret_list().len() <= 10);
        seen.extend(
            page.secret_list()
                .iter()
                .map(|s| s.name().unwrap().to_string()),
        );
        token = page.next_token().map(String::from);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 25);

    // SDK paginator agrees.
    let pages: Vec<_> = c
        .list_secrets()
        .max_results(7)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.secret_list().len()).sum::<usize>(),
        25
    );

    let filtered = c
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagValue)
                .values("prod")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.secret_list().len(), 13);
    let negated = c
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagValue)
                .values("!prod")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(negated.secret_list().len(), 12);
    let by_name = c
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("svc1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.secret_list().len(), 10, "svc10..svc19 by prefix");

    let asc = c
        .list_secrets()
        .sort_by(aws_sdk_secretsmanager::types::SortByType::Name)
        .sort_order(SortOrderType::Asc)
        .max_results(3)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = asc.secret_list().iter().filter_map(|s| s.name()).collect();
    assert_eq!(
        names,
        vec![
            "svc00-prod-config",
            "svc01-test-config",
            "svc02-prod-config"
        ]
    );
    let entry = &asc.secret_list()[0];
    assert_eq!(entry.secret_versions_to_stages().unwrap().len(), 1);

    let e = c
        .list_secrets()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidNextTokenException");
    t.stop().await;
}

#[tokio::test]
async fn batch_get_secret_value() {
    let mut t = TestServer::start("batch").await;
    let c = t.client();
    for n in ["b-one", "b-two", "b-three"] {
        c.create_secret()
            .name(n)
            .secret_string(format!("value-{n}"))
            .send()
            .await
            .unwrap();
    }
    let r = c
        .batch_get_secret_value()
        .secret_id_list("b-one")
        .secret_id_list("b-two")
        .secret_id_list("b-missing")
        .send()
        .await
        .unwrap();
    let mut got: Vec<(&str, &str)> = r
        .secret_values()
        .iter()
        .map(|v| (v.name().unwrap(), v.secret_string().unwrap()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("b-one", "value-b-one"), ("b-two", "value-b-two")]
    );
    assert_eq!(r.errors().len(), 1);
    assert_eq!(r.errors()[0].secret_id(), Some("b-missing"));
    assert_eq!(
        r.errors()[0].error_code(),
        Some("ResourceNotFoundException")
    );

    let r = c
        .batch_get_secret_value()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("b-t")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.secret_values().len(), 2);

    let e = c.batch_get_secret_value().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    t.stop().await;
}

#[tokio::test]
async fn get_random_password() {
    let mut t = TestServer::start("password").await;
    let c = t.client();
    let p = c.get_random_password().send().await.unwrap();
    assert_eq!(p.random_password().unwrap().chars().count(), 32);
    let p = c
        .get_random_password()
        .password_length(64)
        .exclude_punctuation(true)
        .exclude_characters("abc")
        .send()
        .await
        .unwrap();
    let pw = p.random_password().unwrap();
    assert_eq!(pw.len(), 64);
    assert!(
        pw.chars()
            .all(|ch| ch.is_ascii_alphanumeric() && !"abc".contains(ch))
    );
    let e = c
        .get_random_password()
        .password_length(0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = c
        .get_random_password()
        .exclude_lowercase(true)
        .exclude_uppercase(true)
        .exclude_numbers(true)
        .exclude_punctuation(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterException");
    t.stop().await;
}

#[tokio::test]
async fn later_issue_operations_fail_clearly() {
    let mut t = TestServer::start("unavailable").await;
    let c = t.client();
    c.create_secret()
        .name("r")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let e = c
        .rotate_secret()
        .secret_id("r")
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:f")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRequestException");
    assert!(message(&e).contains("rotation"), "{}", message(&e));
    let e = c
        .replicate_secret_to_regions()
        .secret_id("r")
        .add_replica_regions(
            aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                .region("eu-west-1")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    // Replication exists between the regions a deployment serves; eu-west-1 is not one.
    assert_eq!(code(&e), "InvalidParameterException");
    assert!(message(&e).contains("eu-west-1"), "{}", message(&e));
    t.stop().await;
}
