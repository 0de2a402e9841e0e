//! Several regions in one deployment (issue 14): the AWS SDK for Rust, configured for each
//! region in turn, sees each region's own secrets and KMS keys under that region's ARNs.

use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Region};

use crate::common::{ACCESS_KEY, SECRET_KEY, code, temp_dir};

fn sm(endpoint: &str, region: &str) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

fn kms(endpoint: &str, region: &str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(aws_sdk_kms::config::Region::new(region.to_string()))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test]
async fn each_region_has_its_own_secrets_and_keys() {
    let dir = temp_dir("regions");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some("123456789012".into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.regions = vec!["eu-west-1".into(), "ap-southeast-2".into()];
    config.region = config.regions[0].clone();
    let server = strongroom::start(config).await.expect("server starts");
    let endpoint = server.endpoint();

    let (eu, ap) = (sm(&endpoint, "eu-west-1"), sm(&endpoint, "ap-southeast-2"));
    for (client, region, value) in [(&eu, "eu-west-1", "one"), (&ap, "ap-southeast-2", "two")] {
        let out = client
            .create_secret()
            .name("app/db")
            .secret_string(value)
            .send()
            .await
            .expect("the same name is free in each region");
        assert!(
            out.arn().unwrap().starts_with(&format!(
                "arn:aws:secretsmanager:{region}:123456789012:secret:app/db-"
            )),
            "{:?}",
            out.arn()
        );
    }
    for (client, value) in [(&eu, "one"), (&ap, "two")] {
        let got = client
            .get_secret_value()
            .secret_id("app/db")
            .send()
            .await
            .unwrap();
        assert_eq!(got.secret_string(), Some(value));
    }

    let key = kms(&endpoint, "eu-west-1")
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert!(key.arn().unwrap().starts_with("arn:aws:kms:eu-west-1:"));
    let elsewhere = kms(&endpoint, "ap-southeast-2")
        .describe_key()
        .key_id(key.key_id())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&elsewhere),
        Some("NotFoundException")
    );

    // A region the deployment does not serve is refused, whatever the credentials.
    let refused = sm(&endpoint, "us-east-1")
        .list_secrets()
        .send()
        .await
        .unwrap_err();
    assert_ne!(code(&refused), "<no code>", "{refused:?}");
    server.shutdown().await.expect("clean shutdown");
}

fn statuses(
    d: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput,
) -> Vec<(String, String)> {
    d.replication_status()
        .iter()
        .map(|r| {
            (
                r.region().unwrap_or_default().to_string(),
                r.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Multi-Region secrets between this deployment's regions, with the SDK for Rust: a replica
/// follows its primary, answers writes as AWS does, and goes with RemoveRegionsFromReplication.
#[tokio::test]
async fn replicas_in_another_region_follow_their_primary() {
    let dir = temp_dir("replication");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some("123456789012".into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.regions = vec!["us-east-1".into(), "eu-west-1".into()];
    config.region = config.regions[0].clone();
    let server = strongroom::start(config).await.expect("server starts");
    let endpoint = server.endpoint();
    let (east, eu) = (sm(&endpoint, "us-east-1"), sm(&endpoint, "eu-west-1"));

    let created = east
        .create_secret()
        .name("app/replicated")
        .secret_string("first-5c1a")
        .add_replica_regions(
            aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                .region("eu-west-1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = east
        .describe_secret()
        .secret_id("app/replicated")
        .send()
        .await
        .unwrap();
    assert_eq!(statuses(&d), vec![("eu-west-1".into(), "InSync".into())]);
    let replica = eu
        .describe_secret()
        .secret_id("app/replicated")
        .send()
        .await
        .unwrap();
    assert_eq!(replica.primary_region(), Some("us-east-1"));
    assert_eq!(
        replica.arn(),
        Some(
            created
                .arn()
                .unwrap()
                .replace(":us-east-1:", ":eu-west-1:")
                .as_str()
        )
    );
    east.put_secret_value()
        .secret_id("app/replicated")
        .secret_string("second-5c1a")
        .send()
        .await
        .unwrap();
    let got = eu
        .get_secret_value()
        .secret_id("app/replicated")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("second-5c1a"));
    let refused = eu
        .put_secret_value()
        .secret_id("app/replicated")
        .secret_string("nope-5c1a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "InvalidParameterException");
    east.remove_regions_from_replication()
        .secret_id("app/replicated")
        .remove_replica_regions("eu-west-1")
        .send()
        .await
        .unwrap();
    let gone = eu
        .describe_secret()
        .secret_id("app/replicated")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&gone), "ResourceNotFoundException");
    server.shutdown().await.unwrap();
}

/// A replica region served by another deployment (`[[peer-region]]`): the primary delivers
/// over the peer's API as an IAM user there; the status goes InProgress → InSync.
#[tokio::test]
async fn a_peer_deployment_holds_the_replica() {
    let start = |name: &str, region: &str| {
        let dir = temp_dir(name);
        let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
        config.account_id = Some("123456789012".into());
        config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
        config.regions = vec![region.into()];
        config.region = region.into();
        (dir, config)
    };
    let (_, b_config) = start("peer-b", "eu-west-1");
    let b = strongroom::start(b_config).await.expect("peer starts");
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .endpoint_url(b.endpoint())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .build(),
    );
    iam.create_user()
        .user_name("replicator")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("replicator")
        .policy_name("deliver")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:PutReplicaSecret","secretsmanager:DeleteReplicaSecret"],"Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("replicator")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();

    let (a_dir, mut a_config) = start("peer-a", "us-east-1");
    let secret_file = a_dir.join("b-replicator");
    std::fs::write(&secret_file, key.secret_access_key()).unwrap();
    a_config.peer_regions = vec![strongroom::services::secretsmanager::remote::PeerRegion {
        region: "eu-west-1".into(),
        endpoint: b.endpoint(),
        access_key_id: key.access_key_id().to_string(),
        secret_access_key_file: Some(secret_file),
        secret_access_key_env: None,
        ca_file: None,
    }];
    let a = strongroom::start(a_config).await.expect("primary starts");
    let (east, eu) = (
        sm(&a.endpoint(), "us-east-1"),
        sm(&b.endpoint(), "eu-west-1"),
    );
    east.create_secret()
        .name("app/far")
        .secret_string("far-value-77d2")
        .add_replica_regions(
            aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                .region("eu-west-1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut last = Vec::new();
    for _ in 0..100 {
        let d = east
            .describe_secret()
            .secret_id("app/far")
            .send()
            .await
            .unwrap();
        last = statuses(&d);
        if last == vec![("eu-west-1".to_string(), "InSync".to_string())] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last, vec![("eu-west-1".to_string(), "InSync".to_string())]);
    let got = eu
        .get_secret_value()
        .secret_id("app/far")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("far-value-77d2"));
    let d = eu
        .describe_secret()
        .secret_id("app/far")
        .send()
        .await
        .unwrap();
    assert_eq!(d.primary_region(), Some("us-east-1"));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
