//! Partitions follow the region (issue 14 §1): a deployment serving the China regions writes
//! `arn:aws-cn:` ARNs everywhere, IAM and STS included, parses and matches them, and refuses
//! `arn:aws:` ones as AWS China does; one in GovCloud writes `arn:aws-us-gov:`. A deployment
//! of regions in two partitions does not start.

use aws_credential_types::Credentials;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};

use crate::common::{ACCESS_KEY, SECRET_KEY, code, temp_dir};

const ACCOUNT: &str = "123456789012";

async fn start(tag: &str, regions: &[&str]) -> strongroom::RunningServer {
    let dir = temp_dir(tag);
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some(ACCOUNT.into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.regions = regions.iter().map(|r| r.to_string()).collect();
    config.region = config.regions[0].clone();
    strongroom::start(config).await.expect("server starts")
}

fn creds(key: &str, secret: &str) -> Credentials {
    Credentials::new(key, secret, None, None, "test")
}

/// One attempt everywhere: a retry would hide a failed first answer.
macro_rules! client {
    ($sdk:ident, $endpoint:expr, $region:expr, $creds:expr) => {
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version($sdk::config::BehaviorVersion::latest())
                .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
                .endpoint_url($endpoint)
                .region($sdk::config::Region::new($region.to_string()))
                .credentials_provider($creds)
                .build(),
        )
    };
}

#[tokio::test]
async fn china_regions_speak_aws_cn() {
    let server = start("partition-cn", &["cn-north-1", "cn-northwest-1"]).await;
    let ep = server.endpoint();
    let root = || creds(ACCESS_KEY, SECRET_KEY);
    let sm = client!(aws_sdk_secretsmanager, &ep, "cn-north-1", root());

    // Secrets: the ARN is aws-cn's, and is how the secret is found again.
    let arn = sm
        .create_secret()
        .name("app-db")
        .secret_string("cn-value-5d1f")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let prefix = format!("arn:aws-cn:secretsmanager:cn-north-1:{ACCOUNT}:secret:app-db-");
    assert!(arn.starts_with(&prefix), "{arn}");
    let described = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(described.arn(), Some(arn.as_str()));
    let partial = format!("arn:aws-cn:secretsmanager:cn-north-1:{ACCOUNT}:secret:app-db");
    assert!(
        sm.describe_secret()
            .secret_id(&partial)
            .send()
            .await
            .is_ok()
    );
    // The same ARN in the `aws` partition names nothing here.
    let aws_arn = arn.replacen("arn:aws-cn:", "arn:aws:", 1);
    let e = sm
        .describe_secret()
        .secret_id(&aws_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    // The other China region: its own ARNs, same partition.
    let nw = client!(aws_sdk_secretsmanager, &ep, "cn-northwest-1", root());
    let nw_arn = nw
        .create_secret()
        .name("app-db")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    assert!(
        nw_arn.arn().unwrap().starts_with(&format!(
            "arn:aws-cn:secretsmanager:cn-northwest-1:{ACCOUNT}:"
        )),
        "{:?}",
        nw_arn.arn()
    );

    // STS and IAM are global, in the home region's partition.
    let sts = client!(aws_sdk_sts, &ep, "cn-north-1", root());
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws-cn:iam::{ACCOUNT}:root").as_str())
    );
    let iam = client!(aws_sdk_iam, &ep, "cn-north-1", root());
    let user = iam.create_user().user_name("app").send().await.unwrap();
    assert_eq!(
        user.user().unwrap().arn(),
        format!("arn:aws-cn:iam::{ACCOUNT}:user/app")
    );
    let key = iam
        .create_access_key()
        .user_name("app")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let app = || creds(key.access_key_id(), key.secret_access_key());
    let app_sts = client!(aws_sdk_sts, &ep, "cn-northwest-1", app());
    assert_eq!(
        app_sts.get_caller_identity().send().await.unwrap().arn(),
        Some(format!("arn:aws-cn:iam::{ACCOUNT}:user/app").as_str())
    );

    // A policy naming aws-cn resources allows; the same resources in `aws` do not.
    let allow = |partition: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:{partition}:secretsmanager:cn-north-1:{ACCOUNT}:secret:app-*"}}}}"#
        )
    };
    iam.put_user_policy()
        .user_name("app")
        .policy_name("wrong-partition")
        .policy_document(allow("aws"))
        .send()
        .await
        .unwrap();
    let app_sm = client!(aws_sdk_secretsmanager, &ep, "cn-north-1", app());
    let read = || app_sm.get_secret_value().secret_id("app-db").send();
    let denied = read().await.unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");
    iam.put_user_policy()
        .user_name("app")
        .policy_name("right-partition")
        .policy_document(allow("aws-cn"))
        .send()
        .await
        .unwrap();
    assert_eq!(read().await.unwrap().secret_string(), Some("cn-value-5d1f"));
    // A resource policy granting the user by its aws-cn ARN works on its own; by an `aws`
    // ARN of the same account it grants no one.
    iam.delete_user_policy()
        .user_name("app")
        .policy_name("right-partition")
        .send()
        .await
        .unwrap();
    assert_eq!(code(&read().await.unwrap_err()), "AccessDeniedException");
    let grant = |principal: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}}}"#
        )
    };
    for (principal, allowed) in [
        (format!("arn:aws:iam::{ACCOUNT}:user/app"), false),
        (format!("arn:aws-cn:iam::{ACCOUNT}:user/app"), true),
    ] {
        sm.put_resource_policy()
            .secret_id("app-db")
            .resource_policy(grant(&principal))
            .send()
            .await
            .unwrap();
        assert_eq!(read().await.is_ok(), allowed, "{principal}");
    }

    // KMS: key and alias ARNs, found by their aws-cn ARN and not by an `aws` one.
    let kms = client!(aws_sdk_kms, &ep, "cn-north-1", root());
    let k = kms.create_key().send().await.unwrap();
    let k = k.key_metadata().unwrap();
    let key_arn = k.arn().unwrap().to_string();
    assert_eq!(
        key_arn,
        format!("arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{}", k.key_id())
    );
    assert!(kms.describe_key().key_id(&key_arn).send().await.is_ok());
    let e = kms
        .describe_key()
        .key_id(key_arn.replacen("arn:aws-cn:", "arn:aws:", 1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&e),
        Some("NotFoundException")
    );
    kms.create_alias()
        .alias_name("alias/app")
        .target_key_id(k.key_id())
        .send()
        .await
        .unwrap();
    let aliases = kms.list_aliases().send().await.unwrap();
    let alias = aliases
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some("alias/app"))
        .unwrap();
    let alias_arn = format!("arn:aws-cn:kms:cn-north-1:{ACCOUNT}:alias/app");
    assert_eq!(alias.alias_arn(), Some(alias_arn.as_str()));
    let by_alias = kms.describe_key().key_id(&alias_arn).send().await.unwrap();
    assert_eq!(
        by_alias.key_metadata().unwrap().arn(),
        Some(key_arn.as_str())
    );
    let policy = kms
        .get_key_policy()
        .key_id(k.key_id())
        .send()
        .await
        .unwrap();
    assert!(
        policy
            .policy()
            .unwrap()
            .contains(&format!("arn:aws-cn:iam::{ACCOUNT}:root")),
        "{:?}",
        policy.policy()
    );

    // SSM: parameter ARNs, and GetParameters by ARN in this partition only.
    let ssm = client!(aws_sdk_ssm, &ep, "cn-north-1", root());
    ssm.put_parameter()
        .name("/app/url")
        .value("https://cn.example")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let param_arn = format!("arn:aws-cn:ssm:cn-north-1:{ACCOUNT}:parameter/app/url");
    let got = ssm.get_parameter().name("/app/url").send().await.unwrap();
    assert_eq!(got.parameter().unwrap().arn(), Some(param_arn.as_str()));
    let described = ssm.describe_parameters().send().await.unwrap();
    assert_eq!(described.parameters()[0].arn(), Some(param_arn.as_str()));
    let aws_param = param_arn.replacen("arn:aws-cn:", "arn:aws:", 1);
    let both = ssm
        .get_parameters()
        .names(&param_arn)
        .names(&aws_param)
        .send()
        .await
        .unwrap();
    assert_eq!(both.parameters().len(), 1);
    assert_eq!(both.parameters()[0].value(), Some("https://cn.example"));
    assert_eq!(both.invalid_parameters(), [aws_param.as_str()]);

    // CloudTrail: the records name the caller and resources by their aws-cn ARNs.
    let ct = client!(aws_sdk_cloudtrail, &ep, "cn-north-1", root());
    let events = ct
        .lookup_events()
        .lookup_attributes(
            LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::EventName)
                .attribute_value("CreateSecret")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let event: serde_json::Value =
        serde_json::from_str(events.events()[0].cloud_trail_event().unwrap()).unwrap();
    assert_eq!(
        event["userIdentity"]["arn"],
        format!("arn:aws-cn:iam::{ACCOUNT}:root").as_str()
    );
    assert_eq!(event["awsRegion"], "cn-north-1");
    assert!(
        events.events()[0]
            .resources()
            .iter()
            .any(|r| r.resource_name() == Some(arn.as_str())),
        "{:?}",
        events.events()[0].resources()
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn govcloud_speaks_aws_us_gov() {
    let server = start("partition-gov", &["us-gov-west-1"]).await;
    let ep = server.endpoint();
    let root = || creds(ACCESS_KEY, SECRET_KEY);
    let sm = client!(aws_sdk_secretsmanager, &ep, "us-gov-west-1", root());
    let arn = sm
        .create_secret()
        .name("db")
        .secret_string("gov")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    assert!(
        arn.starts_with(&format!(
            "arn:aws-us-gov:secretsmanager:us-gov-west-1:{ACCOUNT}:secret:db-"
        )),
        "{arn}"
    );
    assert!(sm.get_secret_value().secret_id(&arn).send().await.is_ok());
    let sts = client!(aws_sdk_sts, &ep, "us-gov-west-1", root());
    assert_eq!(
        sts.get_caller_identity().send().await.unwrap().arn(),
        Some(format!("arn:aws-us-gov:iam::{ACCOUNT}:root").as_str())
    );
    let iam = client!(aws_sdk_iam, &ep, "us-gov-west-1", root());
    let role = iam
        .create_role()
        .role_name("ops")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"sts:AssumeRole"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();
    assert_eq!(role_arn, format!("arn:aws-us-gov:iam::{ACCOUNT}:role/ops"));
    // The trust policy's account shorthand delegates to the account's (aws-us-gov) IAM
    // policies: a user allowed sts:AssumeRole may assume the role.
    iam.create_user().user_name("dev").send().await.unwrap();
    iam.put_user_policy()
        .user_name("dev")
        .policy_name("assume")
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{role_arn}"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("dev")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let dev_sts = client!(
        aws_sdk_sts,
        &ep,
        "us-gov-west-1",
        creds(key.access_key_id(), key.secret_access_key())
    );
    let assumed = dev_sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("s1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        assumed.assumed_role_user().unwrap().arn(),
        format!("arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/ops/s1")
    );
    // The role's ARN in the `aws` partition is no role here.
    let e = dev_sts
        .assume_role()
        .role_arn(role_arn.replacen("arn:aws-us-gov:", "arn:aws:", 1))
        .role_session_name("s2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("AccessDenied")
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn regions_of_two_partitions_do_not_start() {
    let dir = temp_dir("partition-mixed");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.regions = vec!["us-east-1".into(), "cn-north-1".into()];
    config.region = config.regions[0].clone();
    let Err(e) = strongroom::start(config).await else {
        panic!("a deployment of aws and aws-cn regions started");
    };
    assert!(e.contains("cn-north-1 is in partition aws-cn"), "{e}");
}
