//! Rotation through the AWS SDK for Rust, on an injected clock: a rotation that fails is
//! retried by the schedule an hour later and resumes the same version, which then succeeds —
//! against a real MariaDB user, with the built-in rotator.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use strongroom::clock::{Clock, ManualClock, SystemClock};
use strongroom::config::InjectedClock;
use strongroom::rotation::RotationFunction;

use crate::common::{self, ACCESS_KEY, SECRET_KEY};

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:mysql-builtin";

async fn mysql(user: &str, password: &str) -> Result<sqlx::MySqlConnection, sqlx::Error> {
    let mut opts = sqlx::mysql::MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(3306)
        .username(user);
    // root has no password here: send none rather than an empty one.
    if !password.is_empty() {
        opts = opts.password(password);
    }
    sqlx::MySqlConnection::connect_with(&opts).await
}

#[tokio::test]
async fn a_failed_rotation_is_retried_by_the_schedule_and_resumes_its_version() {
    let user = format!("rot_sdk_{}", std::process::id());
    let first = "first-pass-7f3a9c";
    let mut root = mysql("root", "")
        .await
        .expect("MariaDB at 127.0.0.1:3306 as root");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY '{first}'"
    )))
    .execute(&mut root)
    .await
    .unwrap();

    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let dir = common::temp_dir("rotation");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some("123456789012".into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.clock = Some(InjectedClock(clock.clone()));
    config.rotation_interval_secs = 1;
    config.rotation_functions = vec![RotationFunction {
        arn: FUNCTION.into(),
        builtin: Some("mysql-single-user".into()),
        command: Vec::new(),
        python_handler: None,
        python: None,
        node_handler: None,
        node: None,
        node_path: None,
        environment: Default::default(),
        role_arn: None,
        timeout_secs: 30,
        log_file: None,
        tls: None,
        ca_file: None,
        master_secret: None,
    }];
    let server = strongroom::start(config).await.unwrap();
    // Requests are signed at the server's time, which the test moves.
    let sm = common::client_at(
        &server.endpoint(),
        ACCESS_KEY,
        SECRET_KEY,
        &common::SdkClock(clock.clone()),
    );
    let login = |password: &str| {
        serde_json::json!({"engine": "mariadb", "host": "127.0.0.1", "port": 3306,
                           "username": user, "password": password})
        .to_string()
    };

    // The stored password is wrong: setSecret cannot sign in, the rotation fails.
    sm.create_secret()
        .name("rotating")
        .secret_string(login("not-the-password"))
        .send()
        .await
        .unwrap();
    let started = clock.now_ms();
    let token = sm
        .rotate_secret()
        .secret_id("rotating")
        .rotation_lambda_arn(FUNCTION)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(1)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let describe = || async {
        sm.describe_secret()
            .secret_id("rotating")
            .send()
            .await
            .unwrap()
    };
    let trail = aws_sdk_cloudtrail::Client::from_conf(
        aws_sdk_cloudtrail::Config::builder()
            .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
            .endpoint_url(server.endpoint())
            .region(aws_sdk_cloudtrail::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "test",
            ))
            .time_source(common::SdkClock(clock.clone()))
            .build(),
    );
    let rotation_failed = || async {
        let attribute = aws_sdk_cloudtrail::types::LookupAttribute::builder()
            .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::EventName)
            .attribute_value("RotationFailed")
            .build()
            .unwrap();
        !trail
            .lookup_events()
            .lookup_attributes(attribute)
            .send()
            .await
            .unwrap()
            .events()
            .is_empty()
    };
    let mut failed = false;
    for _ in 0..100 {
        if !rotation_failed().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let d = describe().await;
        // Failed: the pending version stays; NextRotationDate stays the schedule's (a day
        // from the start, AWS's "on or before" date), not the retry time an hour on.
        if d.next_rotation_date()
            .is_some_and(|t| (t.secs() * 1000 - (started + 24 * 3_600_000)).abs() < 120_000)
            && d.last_rotated_date().is_none()
        {
            let stages = d.version_ids_to_stages().unwrap();
            if stages.get(&token).map(|s| s.as_slice()) == Some(&["AWSPENDING".to_string()]) {
                // The pending value was made (createSecret) before setSecret failed.
                if sm
                    .get_secret_value()
                    .secret_id("rotating")
                    .version_stage("AWSPENDING")
                    .send()
                    .await
                    .is_ok()
                {
                    failed = true;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        failed,
        "the rotation never failed as expected: {:?}",
        describe().await
    );
    assert!(
        mysql(&user, first).await.is_ok(),
        "the password must not have changed"
    );

    // The operator fixes the database to match the stored password (writing the secret
    // instead would abandon the rotation: RotationAbandoned); an hour later the schedule
    // resumes the same version and the rotation succeeds.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY 'not-the-password'"
    )))
    .execute(&mut root)
    .await
    .unwrap();
    clock.advance(61 * 60 * 1000);
    let mut done = None;
    for _ in 0..100 {
        let d = describe().await;
        if d.last_rotated_date().is_some() {
            done = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = done.expect("the scheduled retry never finished the rotation");
    let stages = d.version_ids_to_stages().unwrap();
    assert!(
        stages[&token].contains(&"AWSCURRENT".to_string()),
        "{stages:?}"
    );
    let value = sm
        .get_secret_value()
        .secret_id("rotating")
        .send()
        .await
        .unwrap();
    assert_eq!(value.version_id(), Some(token.as_str()));
    let now: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    let new = now["password"].as_str().unwrap();
    assert_eq!(new.len(), 32);
    assert!(
        mysql(&user, new).await.is_ok(),
        "the new password must sign in"
    );
    assert!(
        mysql(&user, "not-the-password").await.is_err(),
        "the old password must not"
    );
    // Next: a day after the rotation, by the schedule.
    let next = d.next_rotation_date().unwrap().secs() * 1000;
    assert!((next - (clock.now_ms() + 24 * 3_600_000)).abs() < 120_000);

    server.shutdown().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP USER IF EXISTS '{user}'@'%'"
    )))
    .execute(&mut root)
    .await
    .unwrap();
}
