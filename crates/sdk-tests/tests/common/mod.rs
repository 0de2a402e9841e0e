//! Test harness: start a real server on a loopback port with a fresh data directory.
#![allow(dead_code)]

pub mod raw;

use std::path::PathBuf;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Region};
use strongroom::{RunningServer, ServerConfig};

pub const ACCESS_KEY: &str = "AKIATESTROOT00000001";
pub const SECRET_KEY: &str = "test/secret/key/0123456789abcdefghijklmn";

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: PathBuf,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "strongroom-test-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl TestServer {
    pub async fn start(tag: &str) -> Self {
        Self::start_in(temp_dir(tag)).await
    }

    pub async fn start_in(dir: PathBuf) -> Self {
        let mut config = ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
        config.account_id = Some("123456789012".into());
        config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
        let server = strongroom::start(config).await.expect("server starts");
        Self {
            server: Some(server),
            dir,
        }
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    pub fn endpoint(&self) -> String {
        self.server().endpoint()
    }

    pub fn client(&self) -> Client {
        client_for(&self.endpoint(), ACCESS_KEY, SECRET_KEY)
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }
}

/// A server's injected clock as the SDK's time source: a client built with it signs at the
/// server's "now" (the server judges request times and session expiry by its own clock), so
/// a test can move time by days.
#[derive(Clone)]
pub struct SdkClock(pub std::sync::Arc<strongroom::clock::ManualClock>);

impl std::fmt::Debug for SdkClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkClock")
    }
}

impl aws_smithy_async::time::TimeSource for SdkClock {
    fn now(&self) -> SystemTime {
        use strongroom::clock::Clock;
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.0.now_ms() as u64)
    }
}

/// A Secrets Manager client signing at `clock`'s time.
pub fn client_at(endpoint: &str, access_key: &str, secret_key: &str, clock: &SdkClock) -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .time_source(clock.clone())
        .build();
    Client::from_conf(config)
}

pub fn client_for(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        // One attempt: a retry would hide a failed first answer.
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// The AWS error code of an SDK error, e.g. "ResourceNotFoundException".
pub fn code<E, R>(err: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> String
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
{
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    err.code().unwrap_or("<no code>").to_string()
}

pub fn message<E, R>(err: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> String
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
{
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    err.message().unwrap_or("").to_string()
}
