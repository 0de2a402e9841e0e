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
