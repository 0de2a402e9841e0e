//! IAM and STS through the AWS SDK for Rust: seed 003's policies enforced on Secrets Manager
//! calls for a user and for an assumed role, key deactivation, explicit deny, permissions
//! boundaries, session tags, paging, and console passwords (login profiles).

use crate::common;

use aws_credential_types::Credentials;
use common::{ACCESS_KEY, SECRET_KEY, TestServer, client_for, code, message};

const ACCOUNT: &str = "123456789012";

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

fn sts(endpoint: &str, key: &str, secret: &str, token: Option<String>) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(sts_config(endpoint, key, secret, token).build())
}

fn sts_config(
    endpoint: &str,
    key: &str,
    secret: &str,
    token: Option<String>,
) -> aws_sdk_sts::config::Builder {
    aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        // One attempt: a retry would hide a failed first answer.
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, token, None, "t"))
}

fn session_client(
    endpoint: &str,
    c: &aws_sdk_sts::types::Credentials,
) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(session_config(endpoint, c).build())
}

/// A Secrets Manager client's configuration with a session's temporary credentials.
fn session_config(
    endpoint: &str,
    c: &aws_sdk_sts::types::Credentials,
) -> aws_sdk_secretsmanager::config::Builder {
    aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        // One attempt: a retry would hide a failed first answer.
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "t",
        ))
}

/// Seed 003's Development Access Policy, region and account substituted.
fn development_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:UpdateSecret"],"Resource":["arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:*-test-*","arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:*-stage-*"]}}]}}"#
    )
}

/// Seed 003's Task Execution Role policy for the auth service in prod.
fn task_execution_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":["arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:auth-service-prod-*"]}}]}}"#
    )
}

async fn seed_secrets(t: &TestServer, names: &[&str]) {
    let sm = t.client();
    for n in names {
        sm.create_secret()
            .name(*n)
            .secret_string(format!("value-of-{n}"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_user_with_the_development_policy_reads_test_and_stage_but_not_prod() {
    let t = TestServer::start("id-user").await;
    seed_secrets(
        &t,
        &[
            "auth-service-test-config",
            "payment-service-stage-keys",
            "payment-service-prod-config",
        ],
    )
    .await;
    let iam = iam(&t.endpoint());
    iam.create_user()
        .user_name("developer")
        .send()
        .await
        .unwrap();
    let policy = iam
        .create_policy()
        .policy_name("DevelopmentAccess")
        .policy_document(development_policy())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    iam.attach_user_policy()
        .user_name("developer")
        .policy_arn(&policy)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("developer")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    assert!(key.access_key_id().starts_with("AKIA"));
    let dev = client_for(&t.endpoint(), key.access_key_id(), key.secret_access_key());

    let v = dev
        .get_secret_value()
        .secret_id("auth-service-test-config")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("value-of-auth-service-test-config"));
    dev.update_secret()
        .secret_id("payment-service-stage-keys")
        .description("by the developer")
        .send()
        .await
        .unwrap();
    let err = dev
        .get_secret_value()
        .secret_id("payment-service-prod-config")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    let m = message(&err);
    assert!(
        m.starts_with(&format!(
            "User: arn:aws:iam::{ACCOUNT}:user/developer is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment-service-prod-config-"
        )) && m.ends_with("because no identity-based policy allows the secretsmanager:GetSecretValue action"),
        "{m}"
    );

    // Caller identity, as the SDK sees it.
    let me = sts(
        &t.endpoint(),
        key.access_key_id(),
        key.secret_access_key(),
        None,
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/developer").as_str())
    );
    assert_eq!(me.account(), Some(ACCOUNT));

    // An explicit deny beats the allow.
    iam.put_user_policy()
        .user_name("developer")
        .policy_name("NoUpdates")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"secretsmanager:UpdateSecret","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let err = dev
        .update_secret()
        .secret_id("payment-service-stage-keys")
        .description("again")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(
        message(&err).contains("with an explicit deny"),
        "{}",
        message(&err)
    );

    // Incident response (seed 002): a deactivated key is refused at once.
    iam.update_access_key()
        .user_name("developer")
        .access_key_id(key.access_key_id())
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let err = dev
        .get_secret_value()
        .secret_id("auth-service-test-config")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnrecognizedClientException");
}

#[tokio::test]
async fn the_task_execution_role_assumed_through_sts_reads_only_its_service() {
    let t = TestServer::start("id-role").await;
    seed_secrets(
        &t,
        &["auth-service-prod-config", "payment-service-prod-config"],
    )
    .await;
    let iam = iam(&t.endpoint());
    iam.create_user()
        .user_name("ecs-agent")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("ecs-agent")
        .policy_name("AssumeTaskRole")
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::{ACCOUNT}:role/*"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":["sts:AssumeRole","sts:TagSession"]}}]}}"#
    );
    iam.create_role()
        .role_name("auth-service-task")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("auth-service-task")
        .policy_name("TaskExecution")
        .policy_document(task_execution_policy())
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("ecs-agent")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let agent = sts(
        &t.endpoint(),
        key.access_key_id(),
        key.secret_access_key(),
        None,
    );
    let assumed = agent
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/auth-service-task"))
        .role_session_name("task-42")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let creds = assumed.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    let task = session_client(&t.endpoint(), creds);
    let v = task
        .get_secret_value()
        .secret_id("auth-service-prod-config")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("value-of-auth-service-prod-config"));
    let err = task
        .get_secret_value()
        .secret_id("payment-service-prod-config")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(
        message(&err).starts_with(&format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/auth-service-task/task-42 is not authorized"
        )),
        "{}",
        message(&err)
    );
    let who = sts(
        &t.endpoint(),
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/auth-service-task/task-42").as_str())
    );

    // A session policy narrows the role: nothing is allowed outside it.
    let narrowed = agent
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/auth-service-task"))
        .role_session_name("narrow")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let err = session_client(&t.endpoint(), narrowed.credentials().unwrap())
        .get_secret_value()
        .secret_id("auth-service-prod-config")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(
        message(&err).contains("session policy"),
        "{}",
        message(&err)
    );

    // Session tags become aws:PrincipalTag/* (here denied by a tag condition).
    iam.put_role_policy()
        .role_name("auth-service-task")
        .policy_name("NotForContractors")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/employment":"contractor"}}}]}"#)
        .send()
        .await
        .unwrap();
    let tagged = agent
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/auth-service-task"))
        .role_session_name("contractor")
        .tags(
            aws_sdk_sts::types::Tag::builder()
                .key("employment")
                .value("contractor")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = session_client(&t.endpoint(), tagged.credentials().unwrap())
        .get_secret_value()
        .secret_id("auth-service-prod-config")
        .send()
        .await
        .unwrap_err();
    assert!(message(&err).contains("explicit deny"), "{}", message(&err));
}

#[tokio::test]
async fn boundaries_cap_permissions_and_lists_page() {
    let t = TestServer::start("id-boundary").await;
    seed_secrets(&t, &["app-test-db", "app-prod-db"]).await;
    let iam = iam(&t.endpoint());
    let boundary = iam
        .create_policy()
        .policy_name("ReadTestOnly")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:*-test-*"}]}"#)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    let user = iam
        .create_user()
        .user_name("bounded")
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(
        user.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some(boundary.as_str())
    );
    iam.put_user_policy()
        .user_name("bounded")
        .policy_name("All")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("bounded")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let sm = client_for(&t.endpoint(), key.access_key_id(), key.secret_access_key());
    sm.get_secret_value()
        .secret_id("app-test-db")
        .send()
        .await
        .unwrap();
    let err = sm
        .get_secret_value()
        .secret_id("app-prod-db")
        .send()
        .await
        .unwrap_err();
    assert!(
        message(&err).contains("permissions boundary"),
        "{}",
        message(&err)
    );

    for i in 0..5 {
        iam.create_user()
            .user_name(format!("pager-{i}"))
            .path("/pages/")
            .send()
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut marker = None;
    let mut pages = 0;
    loop {
        let page = iam
            .list_users()
            .path_prefix("/pages/")
            .max_items(2)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        pages += 1;
        names.extend(page.users().iter().map(|u| u.user_name().to_string()));
        if !page.is_truncated() {
            break;
        }
        marker = page.marker().map(str::to_owned);
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..5).map(|i| format!("pager-{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn expired_session_tokens_are_refused() {
    use std::sync::Arc;
    use strongroom::clock::{Clock, ManualClock, SystemClock};
    // The server judges request times and session expiry by its own (injected) clock; the
    // clients here sign at that clock's time, which the test moves past a session's end.
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let sdk_clock = crate::common::SdkClock(clock.clone());
    let dir = common::temp_dir("id-expired");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some(ACCOUNT.into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.clock = Some(strongroom::config::InjectedClock(clock.clone()));
    let server = strongroom::start(config).await.unwrap();
    let endpoint = server.endpoint();

    let iam = iam(&endpoint);
    iam.create_user().user_name("temp").send().await.unwrap();
    iam.put_user_policy()
        .user_name("temp")
        .policy_name("List")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetSessionToken","secretsmanager:ListSecrets"],"Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("temp")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let user = aws_sdk_sts::Client::from_conf(
        sts_config(
            &endpoint,
            key.access_key_id(),
            key.secret_access_key(),
            None,
        )
        .time_source(sdk_clock.clone())
        .build(),
    );
    let session_at = |c: &aws_sdk_sts::types::Credentials| {
        aws_sdk_secretsmanager::Client::from_conf(
            session_config(&endpoint, c)
                .time_source(sdk_clock.clone())
                .build(),
        )
    };
    let issued = user
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let creds = issued.credentials().unwrap().clone();
    // Valid now...
    session_at(&creds).list_secrets().send().await.unwrap();
    // ...and refused sixteen minutes on, by the server's clock.
    clock.advance(16 * 60 * 1000);
    assert!(creds.expiration().secs() * 1000 < clock.now_ms());
    let err = session_at(&creds).list_secrets().send().await.unwrap_err();
    assert!(code(&err).starts_with("ExpiredToken"), "{}", code(&err));

    // A session issued at the new time works: the server's "now" moved, not a skew.
    let fresh = user
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    session_at(fresh.credentials().unwrap())
        .list_secrets()
        .send()
        .await
        .unwrap();
    // A client signing at real time is now 16 minutes behind the server: refused as skewed.
    let skewed = session_client(&endpoint, fresh.credentials().unwrap())
        .list_secrets()
        .send()
        .await
        .unwrap_err();
    assert!(code(&skewed).contains("Signature"), "{}", code(&skewed));
    server.shutdown().await.unwrap();
}

/// Presigned GET URLs made by the AWS SDK for Rust's signer (aws-sigv4, signature in the query
/// string): STS GetCallerIdentity — what "AWS IAM auth" logins hand a verifier — and IAM
/// ListUsers, with long-term and temporary credentials; a tampered URL is refused.
#[tokio::test]
async fn presigned_get_urls_from_the_rust_signer_are_accepted() {
    use crate::common::raw::Req;
    let mut t = TestServer::start("presigned-get").await;
    let endpoint = t.endpoint();
    let presigned = |path: &str, service: &str| Req {
        presign: Some(std::time::Duration::from_secs(60)),
        ..Req::get(path, service)
    };
    let r = presigned("/?Action=GetCallerIdentity&Version=2011-06-15", "sts")
        .send(&endpoint)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("<Arn>arn:aws:iam::123456789012:root</Arn>"),
        "{}",
        r.text
    );

    let admin = iam(&endpoint);
    admin
        .create_user()
        .user_name("presigner")
        .send()
        .await
        .unwrap();
    let key = admin
        .create_access_key()
        .user_name("presigner")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let r = presigned(
        "/?Action=ListUsers&Version=2010-05-08&PathPrefix=%2F",
        "iam",
    )
    .send(&endpoint)
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("<UserName>presigner</UserName>"),
        "{}",
        r.text
    );

    let creds = sts(
        &endpoint,
        key.access_key_id(),
        key.secret_access_key(),
        None,
    )
    .get_session_token()
    .duration_seconds(900)
    .send()
    .await
    .unwrap()
    .credentials
    .unwrap();
    let with_token = || Req {
        access_key: creds.access_key_id().to_string(),
        secret_key: creds.secret_access_key().to_string(),
        session_token: Some(creds.session_token().to_string()),
        ..presigned("/?Action=GetCallerIdentity&Version=2011-06-15", "sts")
    };
    let r = with_token().send(&endpoint).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text
            .contains("<Arn>arn:aws:iam::123456789012:user/presigner</Arn>"),
        "{}",
        r.text
    );
    // Signed with another secret: refused, and the error does not echo the session token.
    let r = Req {
        secret_key: "not-the-secret-key-of-this-access-key-id".into(),
        ..with_token()
    }
    .send(&endpoint)
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.text.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(creds.session_token()), "{}", r.text);
    t.stop().await;
}

#[tokio::test]
async fn console_password_round_trip() {
    let t = TestServer::start("id-login").await;
    let iam = iam(&t.endpoint());
    iam.create_user().user_name("console").send().await.unwrap();
    let created = iam
        .create_login_profile()
        .user_name("console")
        .password("Sdk-Console-Pass-1")
        .password_reset_required(true)
        .send()
        .await
        .unwrap()
        .login_profile
        .unwrap();
    assert_eq!(created.user_name, "console");
    assert!(created.password_reset_required);
    let got = iam
        .get_login_profile()
        .user_name("console")
        .send()
        .await
        .unwrap()
        .login_profile
        .unwrap();
    assert_eq!(got.create_date, created.create_date);
    assert!(got.password_reset_required);
    let twice = iam
        .create_login_profile()
        .user_name("console")
        .password("Sdk-Console-Pass-2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&twice), "EntityAlreadyExists");
    assert!(
        twice
            .as_service_error()
            .unwrap()
            .is_entity_already_exists_exception()
    );
    iam.update_login_profile()
        .user_name("console")
        .password("Sdk-Console-Pass-3")
        .password_reset_required(false)
        .send()
        .await
        .unwrap();
    assert!(
        !iam.get_login_profile()
            .user_name("console")
            .send()
            .await
            .unwrap()
            .login_profile
            .unwrap()
            .password_reset_required
    );
    let conflict = iam
        .delete_user()
        .user_name("console")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&conflict), "DeleteConflict");
    iam.delete_login_profile()
        .user_name("console")
        .send()
        .await
        .unwrap();
    let gone = iam
        .get_login_profile()
        .user_name("console")
        .send()
        .await
        .unwrap_err();
    assert!(
        gone.as_service_error()
            .unwrap()
            .is_no_such_entity_exception()
    );
    assert_eq!(
        message(&gone),
        "Login Profile for User console cannot be found."
    );
    iam.delete_user().user_name("console").send().await.unwrap();
}
