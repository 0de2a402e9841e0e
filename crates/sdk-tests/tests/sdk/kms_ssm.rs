//! KMS and Parameter Store through the AWS SDK for Rust: customer managed keys guarding
//! secrets and SecureString parameters (the caller needs kms:Decrypt, as in AWS), the
//! Secrets Manager reference, and — on an injected clock — key rotation and deletion as
//! audited service events (RotateKey, DeleteKey) found through CloudTrail LookupEvents.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use strongroom::clock::{Clock, ManualClock, SystemClock};
use strongroom::config::InjectedClock;

use crate::common::{self, ACCESS_KEY, SECRET_KEY, TestServer, client_for, code, message};

const ACCOUNT: &str = "123456789012";
const DAY_MS: i64 = 86_400_000;

fn kms(endpoint: &str, key: &str, secret: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(kms_config(endpoint, key, secret).build())
}

fn kms_config(endpoint: &str, key: &str, secret: &str) -> aws_sdk_kms::config::Builder {
    aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        // One attempt: a retry would hide a failed first answer.
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "t"))
}

fn ssm(endpoint: &str, key: &str, secret: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            // One attempt: a retry would hide a failed first answer.
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .endpoint_url(endpoint)
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new(key, secret, None, None, "t"))
            .build(),
    )
}

fn iam(endpoint: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            // One attempt: a retry would hide a failed first answer.
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .endpoint_url(endpoint)
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
            .build(),
    )
}

/// An IAM user with one inline policy; returns its access key pair.
async fn user_with_policy(endpoint: &str, name: &str, policy: &str) -> (String, String) {
    let iam = iam(endpoint);
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(name)
        .policy_name("p")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

async fn set_policy(endpoint: &str, name: &str, policy: &str) {
    iam(endpoint)
        .put_user_policy()
        .user_name(name)
        .policy_name("p")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn customer_managed_keys_need_the_callers_kms_decrypt() {
    let t = TestServer::start("kms-ssm").await;
    let ep = t.endpoint();
    let root_kms = kms(&ep, ACCESS_KEY, SECRET_KEY);
    let key = root_kms
        .create_key()
        .description("app key")
        .send()
        .await
        .unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    root_kms
        .create_alias()
        .alias_name("alias/app")
        .target_key_id(&key_arn)
        .send()
        .await
        .unwrap();
    let sm = t.client();
    sm.create_secret()
        .name("cmk-secret")
        .kms_key_id("alias/app")
        .secret_string("cmk-value-4e1d9b")
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("managed-secret")
        .secret_string("managed-value-0a7c2f")
        .send()
        .await
        .unwrap();
    let root_ssm = ssm(&ep, ACCESS_KEY, SECRET_KEY);
    root_ssm
        .put_parameter()
        .name("/app/token")
        .value("param-value-93b1e0")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .key_id("alias/app")
        .send()
        .await
        .unwrap();

    // Allowed the secrets and the parameter, but not the key.
    let without_kms = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameter"],"Resource":["arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:*","arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/*"]}}]}}"#
    );
    let (k, s) = user_with_policy(&ep, "app", &without_kms).await;
    let user_sm = client_for(&ep, &k, &s);
    let user_ssm = ssm(&ep, &k, &s);
    let e = user_sm
        .get_secret_value()
        .secret_id("cmk-secret")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException");
    assert_eq!(message(&e), "Access to KMS is not allowed");
    // The managed aws/secretsmanager key needs no KMS permission.
    let v = user_sm
        .get_secret_value()
        .secret_id("managed-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("managed-value-0a7c2f"));
    let e = user_ssm
        .get_parameter()
        .name("/app/token")
        .with_decryption(true)
        .send()
        .await
        .unwrap_err();
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    assert_eq!(e.code(), Some("AccessDeniedException"));
    // Without decryption the caller gets the ciphertext only.
    let p = user_ssm
        .get_parameter()
        .name("/app/token")
        .send()
        .await
        .unwrap();
    assert_ne!(p.parameter().unwrap().value(), Some("param-value-93b1e0"));

    // kms:Decrypt on the key (by its ARN, conditioned on the calling service) opens both.
    let with_kms = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameter"],"Resource":["arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:*","arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/*"]}},{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{key_arn}","Condition":{{"StringLike":{{"kms:ViaService":["secretsmanager.*.amazonaws.com","ssm.*.amazonaws.com"]}}}}}}]}}"#
    );
    set_policy(&ep, "app", &with_kms).await;
    let v = user_sm
        .get_secret_value()
        .secret_id("cmk-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("cmk-value-4e1d9b"));
    let p = user_ssm
        .get_parameter()
        .name("/app/token")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(p.parameter().unwrap().value(), Some("param-value-93b1e0"));
    // ... but the ViaService condition keeps the key out of direct reach: the parameter's
    // ciphertext, a real KMS ciphertext, cannot be opened by calling KMS directly.
    let ciphertext = user_ssm
        .get_parameter()
        .name("/app/token")
        .send()
        .await
        .unwrap();
    let ciphertext = base64_decode(ciphertext.parameter().unwrap().value().unwrap());
    let direct = kms(&ep, &k, &s)
        .decrypt()
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ciphertext.clone()))
        .encryption_context(
            "PARAMETER_ARN",
            format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/token"),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(direct.code(), Some("AccessDeniedException"), "{direct:?}");
    // Root may, with the parameter's ARN as encryption context (as AWS binds it).
    let opened = root_kms
        .decrypt()
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ciphertext))
        .encryption_context(
            "PARAMETER_ARN",
            format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/token"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.plaintext().unwrap().as_ref(),
        b"param-value-93b1e0".as_slice()
    );

    // A Secrets Manager reference needs ssm:GetParameter on the reference's own ARN.
    let e = user_ssm
        .get_parameter()
        .name("/aws/reference/secretsmanager/managed-secret")
        .with_decryption(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    let r = root_ssm
        .get_parameter()
        .name("/aws/reference/secretsmanager/managed-secret")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.parameter().unwrap().value(), Some("managed-value-0a7c2f"));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

#[tokio::test]
async fn key_rotation_and_deletion_are_audited_service_events() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let dir = common::temp_dir("kms-clock");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some(ACCOUNT.into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.clock = Some(InjectedClock(clock.clone()));
    config.purge_interval_secs = 1;
    let server = strongroom::start(config).await.unwrap();
    let ep = server.endpoint();
    // Requests are signed at the server's time, which the test moves by days.
    let sdk_clock = common::SdkClock(clock.clone());
    let kms = aws_sdk_kms::Client::from_conf(
        kms_config(&ep, ACCESS_KEY, SECRET_KEY)
            .time_source(sdk_clock.clone())
            .build(),
    );

    let rotating = kms.create_key().send().await.unwrap();
    let rotating = rotating.key_metadata().unwrap().arn().unwrap().to_string();
    let blob = kms
        .encrypt()
        .key_id(&rotating)
        .plaintext(aws_sdk_kms::primitives::Blob::new("before-rotation-1c9e"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    kms.enable_key_rotation()
        .key_id(&rotating)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let doomed = kms.create_key().send().await.unwrap();
    let doomed = doomed.key_metadata().unwrap().arn().unwrap().to_string();
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    // Seven days on: the doomed key is deleted. Ninety: the other one rotates.
    clock.advance(7 * DAY_MS + 1000);
    let ct =
        aws_sdk_cloudtrail::Client::from_conf(trail_config(&ep).time_source(sdk_clock).build());
    let deleted = wait_for_event(&ct, "DeleteKey").await;
    assert_eq!(deleted["eventSource"], "kms.amazonaws.com");
    assert_eq!(deleted["eventType"], "AwsServiceEvent");
    assert_eq!(deleted["resources"][0]["ARN"], doomed.as_str());
    let e = kms.describe_key().key_id(&doomed).send().await.unwrap_err();
    use aws_sdk_kms::error::ProvideErrorMetadata;
    assert_eq!(e.code(), Some("NotFoundException"));

    clock.advance(83 * DAY_MS);
    let rotated = wait_for_event(&ct, "RotateKey").await;
    assert_eq!(rotated["resources"][0]["ARN"], rotating.as_str());
    assert_eq!(rotated["serviceEventDetails"]["rotationType"], "AUTOMATIC");
    let rotations = kms
        .list_key_rotations()
        .key_id(&rotating)
        .send()
        .await
        .unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    // What was encrypted before the rotation still decrypts.
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(
        plain.plaintext().unwrap().as_ref(),
        b"before-rotation-1c9e".as_slice()
    );
    server.shutdown().await.unwrap();
}

fn trail_config(endpoint: &str) -> aws_sdk_cloudtrail::config::Builder {
    aws_sdk_cloudtrail::Config::builder()
        .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
        // One attempt: a retry would hide a failed first answer.
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(aws_sdk_cloudtrail::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
}

/// The newest event named `name`, waiting (bounded) for the background sweep to record it.
async fn wait_for_event(ct: &aws_sdk_cloudtrail::Client, name: &str) -> serde_json::Value {
    for _ in 0..100 {
        let found = ct
            .lookup_events()
            .lookup_attributes(
                LookupAttribute::builder()
                    .attribute_key(LookupAttributeKey::EventName)
                    .attribute_value(name)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        if let Some(e) = found.events().first() {
            return serde_json::from_str(e.cloud_trail_event().unwrap()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {name} event within 10 s");
}

/// Parameter policies on an injected clock: NoChangeNotification and ExpirationNotification
/// are announced once each (audit service events, AWS/SSM metrics, PolicyStatus Finished),
/// and Expiration deletes the parameter on time.
#[tokio::test]
async fn parameter_policies_notify_once_and_expire_on_time() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let dir = common::temp_dir("ssm-policies");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some(ACCOUNT.into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.clock = Some(InjectedClock(clock.clone()));
    config.purge_interval_secs = 1;
    let server = strongroom::start(config).await.unwrap();
    let ep = server.endpoint();
    let sdk_clock = common::SdkClock(clock.clone());
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .endpoint_url(&ep)
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
            .time_source(sdk_clock.clone())
            .build(),
    );
    let ct =
        aws_sdk_cloudtrail::Client::from_conf(trail_config(&ep).time_source(sdk_clock).build());

    // Expires in 10 days; told 2 days before; told after 3 days without a change.
    let expires = time::OffsetDateTime::from_unix_timestamp((clock.now_ms() + 10 * DAY_MS) / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let policies = format!(
        r#"[{{"Type":"Expiration","Version":"1.0","Attributes":{{"Timestamp":"{expires}"}}}},
            {{"Type":"ExpirationNotification","Version":"1.0","Attributes":{{"Before":"2","Unit":"Days"}}}},
            {{"Type":"NoChangeNotification","Version":"1.0","Attributes":{{"After":"3","Unit":"Days"}}}}]"#
    );
    ssm.put_parameter()
        .name("/app/expiring")
        .value("v1")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
        .policies(&policies)
        .send()
        .await
        .unwrap();
    let statuses = |d: &aws_sdk_ssm::operation::describe_parameters::DescribeParametersOutput| {
        d.parameters()[0]
            .policies()
            .iter()
            .map(|p| {
                (
                    p.policy_type().unwrap_or_default().to_string(),
                    p.policy_status().unwrap_or_default().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let describe = || {
        ssm.describe_parameters()
            .parameter_filters(
                aws_sdk_ssm::types::ParameterStringFilter::builder()
                    .key("Name")
                    .values("/app/expiring")
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let d = describe().await.unwrap();
    assert!(statuses(&d).iter().all(|(_, s)| s == "Pending"), "{d:?}");

    // Day 4: no change for 3 days.
    clock.advance(4 * DAY_MS);
    let e = wait_for_event(&ct, "NoChangeNotification").await;
    assert_eq!(e["eventSource"], "ssm.amazonaws.com");
    assert_eq!(e["eventType"], "AwsServiceEvent");
    assert_eq!(
        e["resources"][0]["ARN"],
        format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/expiring")
    );
    assert_eq!(e["serviceEventDetails"]["parameterName"], "/app/expiring");
    let d = describe().await.unwrap();
    assert!(
        statuses(&d).contains(&("NoChangeNotification".into(), "Finished".into())),
        "{d:?}"
    );

    // Day 9: within 2 days of the expiration.
    clock.advance(5 * DAY_MS);
    let e = wait_for_event(&ct, "ExpirationNotification").await;
    assert_eq!(e["serviceEventDetails"]["expirationTime"], expires.as_str());
    assert!(
        ssm.get_parameter()
            .name("/app/expiring")
            .send()
            .await
            .is_ok()
    );

    // Day 11: expired and deleted.
    clock.advance(2 * DAY_MS);
    let e = wait_for_event(&ct, "Expiration").await;
    assert_eq!(e["serviceEventDetails"]["policyType"], "Expiration");
    let gone = ssm
        .get_parameter()
        .name("/app/expiring")
        .send()
        .await
        .unwrap_err();
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    assert_eq!(gone.code(), Some("ParameterNotFound"));

    // Each announced once: one event per policy type, and one AWS/SSM datapoint each.
    for name in [
        "NoChangeNotification",
        "ExpirationNotification",
        "Expiration",
    ] {
        let found = ct
            .lookup_events()
            .lookup_attributes(
                LookupAttribute::builder()
                    .attribute_key(LookupAttributeKey::EventName)
                    .attribute_value(name)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(found.events().len(), 1, "{name}");
        let now = clock.now_ms() as f64 / 1000.0;
        let stats = common::raw::Req {
            target: Some("GraniteServiceVersion20100801.GetMetricStatistics".into()),
            content_type: Some("application/x-amz-json-1.0".into()),
            service: "monitoring".into(),
            time: std::time::UNIX_EPOCH + Duration::from_millis(clock.now_ms() as u64),
            ..common::raw::Req::new(
                "",
                &serde_json::json!({"Namespace": "AWS/SSM", "MetricName": name,
                    "StartTime": now - 12.0 * 86_400.0, "EndTime": now + 60.0, "Period": 86_400 * 13,
                    "Statistics": ["Sum"]})
                .to_string(),
            )
        }
        .send(&ep)
        .await;
        assert_eq!(
            stats.json["Datapoints"][0]["Sum"], 1.0,
            "{name}: {}",
            stats.text
        );
    }
    server.shutdown().await.unwrap();
}
