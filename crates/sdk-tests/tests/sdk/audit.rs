//! The audit trail through the AWS SDK for Rust: every Secrets Manager operation leaves one
//! CloudTrail record without secret material, LookupEvents finds them by every attribute with
//! time ranges and paging, and a server that cannot write its audit log refuses requests.

use crate::common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::operation::RequestId;
use common::{ACCESS_KEY, SECRET_KEY, TestServer, code};
use serde_json::Value;

fn trail(endpoint: &str) -> aws_sdk_cloudtrail::Client {
    let config = aws_sdk_cloudtrail::Config::builder()
        .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
        // One attempt: a retry would hide a failed first answer.
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(aws_sdk_cloudtrail::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_cloudtrail::Client::from_conf(config)
}

fn attr(key: LookupAttributeKey, value: &str) -> LookupAttribute {
    LookupAttribute::builder()
        .attribute_key(key)
        .attribute_value(value)
        .build()
        .unwrap()
}

/// Every event LookupEvents returns for `attribute`, following NextToken.
async fn all_events(
    ct: &aws_sdk_cloudtrail::Client,
    attribute: Option<LookupAttribute>,
) -> Vec<aws_sdk_cloudtrail::types::Event> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = ct
            .lookup_events()
            .set_lookup_attributes(attribute.clone().map(|a| vec![a]))
            .max_results(50)
            .set_next_token(token)
            .send()
            .await
            .expect("LookupEvents");
        out.extend(page.events().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

fn record(e: &aws_sdk_cloudtrail::types::Event) -> Value {
    serde_json::from_str(e.cloud_trail_event().expect("CloudTrailEvent")).expect("JSON record")
}

#[tokio::test]
async fn every_operation_leaves_one_record_without_secret_material() {
    let mut t = TestServer::start("audit-ops").await;
    let sm = t.client();
    let value = "audit-value-Zq8!xKw2";
    let new_value = "audit-value-Rt5#pLm9";
    let created = sm
        .create_secret()
        .name("audited")
        .secret_string(value)
        .description("for the audit test")
        .send()
        .await
        .unwrap();
    let got = sm
        .get_secret_value()
        .secret_id("audited")
        .send()
        .await
        .unwrap();
    let request_id = got.request_id().expect("request id").to_string();
    sm.put_secret_value()
        .secret_id("audited")
        .secret_string(new_value)
        .send()
        .await
        .unwrap();
    sm.describe_secret()
        .secret_id("audited")
        .send()
        .await
        .unwrap();
    sm.list_secrets().send().await.unwrap();
    sm.list_secret_version_ids()
        .secret_id("audited")
        .send()
        .await
        .unwrap();
    sm.update_secret()
        .secret_id("audited")
        .description("changed")
        .send()
        .await
        .unwrap();
    sm.tag_resource()
        .secret_id("audited")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("team")
                .value("a")
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.untag_resource()
        .secret_id("audited")
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let random = sm
        .get_random_password()
        .password_length(40)
        .send()
        .await
        .unwrap()
        .random_password()
        .unwrap()
        .to_string();
    sm.batch_get_secret_value()
        .secret_id_list("audited")
        .send()
        .await
        .unwrap();
    sm.delete_secret()
        .secret_id("audited")
        .send()
        .await
        .unwrap();
    sm.restore_secret()
        .secret_id("audited")
        .send()
        .await
        .unwrap();
    let missing = sm
        .get_secret_value()
        .secret_id("no-such-secret")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "ResourceNotFoundException");

    let ct = trail(&t.endpoint());
    let events = all_events(
        &ct,
        Some(attr(
            LookupAttributeKey::EventSource,
            "secretsmanager.amazonaws.com",
        )),
    )
    .await;
    let names: Vec<&str> = events.iter().filter_map(|e| e.event_name()).collect();
    for op in [
        "CreateSecret",
        "GetSecretValue",
        "PutSecretValue",
        "DescribeSecret",
        "ListSecrets",
        "ListSecretVersionIds",
        "UpdateSecret",
        "TagResource",
        "UntagResource",
        "GetRandomPassword",
        "BatchGetSecretValue",
        "DeleteSecret",
        "RestoreSecret",
    ] {
        let n = names.iter().filter(|n| **n == op).count();
        let want = if op == "GetSecretValue" { 2 } else { 1 };
        assert_eq!(n, want, "{op} records: {names:?}");
    }
    // Newest first.
    assert_eq!(names.first(), Some(&"GetSecretValue"));
    let all_text: String = events
        .iter()
        .filter_map(|e| e.cloud_trail_event())
        .collect();
    for secret in [value, new_value, random.as_str()] {
        assert!(
            !all_text.contains(secret),
            "a secret value is in the audit trail"
        );
    }
    // Deleting and restoring also left the service's own events.
    for (name, count) in [
        ("StartSecretVersionDelete", 1),
        ("CancelSecretVersionDelete", 1),
    ] {
        let found: Vec<Value> = events
            .iter()
            .filter(|e| e.event_name() == Some(name))
            .map(record)
            .collect();
        assert_eq!(found.len(), count, "{name}");
        assert_eq!(found[0]["eventType"], "AwsServiceEvent");
        assert_eq!(found[0]["userIdentity"]["type"], "AWSService");
        assert_eq!(found[0]["resources"][0]["ARN"], created.arn().unwrap());
    }
    let events: Vec<_> = events
        .into_iter()
        .filter(|e| record(e)["eventType"] == "AwsApiCall")
        .collect();
    for e in &events {
        let r = record(e);
        assert_eq!(r["eventVersion"], "1.11");
        assert_eq!(r["userIdentity"]["type"], "Root");
        assert_eq!(r["userIdentity"]["accessKeyId"], ACCESS_KEY);
        assert_eq!(r["recipientAccountId"], "123456789012");
        assert_eq!(r["eventType"], "AwsApiCall");
        assert_eq!(r["sourceIPAddress"], "127.0.0.1");
        assert!(r["requestParameters"].get("secretString").is_none());
        assert_eq!(e.username(), Some("root"));
    }
    let create = events
        .iter()
        .find(|e| e.event_name() == Some("CreateSecret"))
        .map(record)
        .unwrap();
    assert_eq!(create["requestParameters"]["name"], "audited");
    assert_eq!(create["responseElements"]["arn"], created.arn().unwrap());
    assert_eq!(create["readOnly"], false);
    assert_eq!(create["resources"][0]["ARN"], created.arn().unwrap());
    let gets: Vec<Value> = events
        .iter()
        .filter(|e| e.event_name() == Some("GetSecretValue"))
        .map(record)
        .collect();
    assert_eq!(gets[0]["errorCode"], "ResourceNotFoundException");
    assert_eq!(gets[1]["requestID"], request_id.as_str());
    assert_eq!(gets[1]["readOnly"], true);
    assert!(gets[1]["responseElements"].is_null());

    // The database file holds the records in clear JSON: it must not hold the values either.
    t.stop().await;
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(t.dir.join("audit"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!files.is_empty());
    for name in ["audit-index.db", "audit-index.db-wal"] {
        files.push(std::fs::read(t.dir.join(name)).unwrap_or_default());
    }
    for secret in [value, new_value, random.as_str()] {
        for bytes in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret value is in the audit log or its index"
            );
        }
    }
}

#[tokio::test]
async fn lookup_events_by_each_attribute_with_time_ranges_and_paging() {
    let t = TestServer::start("audit-lookup").await;
    let sm = t.client();
    let before = SystemTime::now() - Duration::from_secs(2);
    let arn = sm
        .create_secret()
        .name("looked-up")
        .secret_string("v-1")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    for _ in 0..5 {
        sm.get_secret_value()
            .secret_id("looked-up")
            .send()
            .await
            .unwrap();
    }
    let ct = trail(&t.endpoint());
    let gets = all_events(
        &ct,
        Some(attr(LookupAttributeKey::EventName, "GetSecretValue")),
    )
    .await;
    assert_eq!(gets.len(), 5);
    let one = &gets[0];
    let event_id = one.event_id().unwrap().to_string();

    for (key, value, expected) in [
        (LookupAttributeKey::EventId, event_id.as_str(), 1),
        (LookupAttributeKey::EventName, "CreateSecret", 1),
        (LookupAttributeKey::ResourceName, "looked-up", 6),
        (LookupAttributeKey::ResourceName, arn.as_str(), 6),
        (
            LookupAttributeKey::ResourceType,
            "AWS::SecretsManager::Secret",
            6,
        ),
        (LookupAttributeKey::Username, "root", 6),
        (LookupAttributeKey::Username, "nobody", 0),
        (LookupAttributeKey::AccessKeyId, ACCESS_KEY, 6),
        (
            LookupAttributeKey::EventSource,
            "secretsmanager.amazonaws.com",
            6,
        ),
    ] {
        let found = all_events(&ct, Some(attr(key.clone(), value))).await;
        // LookupEvents calls are themselves recorded; count only Secrets Manager ones.
        let sm_found = found
            .iter()
            .filter(|e| e.event_source() == Some("secretsmanager.amazonaws.com"))
            .count();
        assert_eq!(sm_found, expected, "{key:?} = {value}");
    }
    let reads = all_events(&ct, Some(attr(LookupAttributeKey::ReadOnly, "true"))).await;
    assert!(reads.iter().all(|e| e.read_only() == Some("true")));
    assert!(
        reads
            .iter()
            .any(|e| e.event_name() == Some("GetSecretValue"))
    );
    let writes = all_events(&ct, Some(attr(LookupAttributeKey::ReadOnly, "false"))).await;
    let write_names: Vec<_> = writes.iter().filter_map(|e| e.event_name()).collect();
    assert_eq!(write_names, vec!["CreateSecret"]);

    // Paging: 2 at a time, newest first, no duplicates, same set as one big page.
    let mut token = None;
    let mut paged = Vec::new();
    loop {
        let page = ct
            .lookup_events()
            .lookup_attributes(attr(LookupAttributeKey::EventName, "GetSecretValue"))
            .max_results(2)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.events().len() <= 2);
        paged.extend(
            page.events()
                .iter()
                .map(|e| e.event_id().unwrap().to_string()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let all: Vec<String> = gets
        .iter()
        .map(|e| e.event_id().unwrap().to_string())
        .collect();
    assert_eq!(paged, all);

    // Time ranges: everything is inside [before, now]; nothing before `before`.
    let now = SystemTime::now() + Duration::from_secs(2);
    let inside = ct
        .lookup_events()
        .lookup_attributes(attr(LookupAttributeKey::EventName, "GetSecretValue"))
        .start_time(DateTime::from(before))
        .end_time(DateTime::from(now))
        .send()
        .await
        .unwrap();
    assert_eq!(inside.events().len(), 5);
    let earlier = ct
        .lookup_events()
        .lookup_attributes(attr(LookupAttributeKey::EventName, "GetSecretValue"))
        .end_time(DateTime::from(before))
        .send()
        .await
        .unwrap();
    assert_eq!(earlier.events().len(), 0);

    // Bad input: AWS's error codes.
    let err = ct
        .lookup_events()
        .start_time(DateTime::from(now))
        .end_time(DateTime::from(before))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(&err),
        Some("InvalidTimeRangeException")
    );
    let err = ct.lookup_events().max_results(51).send().await.unwrap_err();
    assert_eq!(
        aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(&err),
        Some("InvalidMaxResultsException")
    );
    let first = ct
        .lookup_events()
        .lookup_attributes(attr(LookupAttributeKey::EventName, "GetSecretValue"))
        .max_results(1)
        .send()
        .await
        .unwrap();
    let err = ct
        .lookup_events()
        .lookup_attributes(attr(LookupAttributeKey::EventName, "CreateSecret"))
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(&err),
        Some("InvalidNextTokenException")
    );
    let err = ct
        .lookup_events()
        .lookup_attributes(attr(LookupAttributeKey::EventName, "a"))
        .lookup_attributes(attr(LookupAttributeKey::Username, "b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(&err),
        Some("InvalidLookupAttributesException")
    );
}

#[tokio::test]
async fn requests_fail_when_the_audit_log_cannot_be_written() {
    let dir = common::temp_dir("audit-full");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some("123456789012".into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.audit.max_mb = Some(1);
    let server = strongroom::start(config).await.expect("server starts");
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(server.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    sm.create_secret()
        .name("kept")
        .secret_string("full-log-value-9f8e7d")
        .send()
        .await
        .unwrap();
    // Fill the log with large (refused, so nothing else is stored) requests.
    let description = "d".repeat(2000);
    let mut filled = false;
    for i in 0..2000 {
        let r = sm
            .update_secret()
            .secret_id(format!("missing-{i}"))
            .description(&description)
            .send()
            .await;
        match r {
            Err(e) if code(&e) == "InternalFailure" => {
                filled = true;
                break;
            }
            Err(e) => assert_eq!(code(&e), "ResourceNotFoundException"),
            Ok(_) => panic!("a missing secret was updated"),
        }
    }
    assert!(filled, "a 1 MiB audit log never filled up");
    let err = sm
        .get_secret_value()
        .secret_id("kept")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InternalFailure");
    assert!(
        common::message(&err).contains("could not be audited"),
        "{}",
        common::message(&err)
    );
    let raw = format!("{err:?}");
    assert!(!raw.contains("full-log-value-9f8e7d"));
    server.shutdown().await.unwrap();
}
