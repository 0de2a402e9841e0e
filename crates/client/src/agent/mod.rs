//! `strongroom agent [--port N] [--config agent.toml]`: a local caching sidecar that answers
//! AWS Secrets Manager Agent's HTTP API and the Lambda Parameters and Secrets extension's, on
//! loopback, so code written for either works unchanged — and that never serves a value the
//! server has rotated away: it follows the server's change stream (`GET /changes`) and drops
//! an entry the moment its secret or parameter changes. The TTL is the fallback.
//!
//! - [`config`]: AWS's agent's TOML keys, defaults, ranges and messages; the SSRF token.
//! - [`cache`]: in memory only, LRU-bounded, zeroized when dropped.
//! - [`http`]: the endpoints, checks and status codes.
//! - [`upstream`]: GetSecretValue / GetParameter and the bodies served.
//! - [`stream`]: following the change stream.

pub mod cache;
pub mod config;
pub mod http;
pub mod stream;
pub mod upstream;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;

use crate::aws::AwsArgs;

/// How long start-up waits for the change stream's first answer.
const STREAM_WAIT: Duration = Duration::from_secs(5);
use config::Config;

#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The port to listen on (overrides the config file's http_port; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// An AWS Secrets Manager Agent configuration file (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The loopback address to listen on; any other address is refused.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub address: IpAddr,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Read the configuration (before logging starts: it sets the log level).
pub fn load_config(args: &AgentArgs) -> Result<Config, String> {
    Config::load(args.config.as_deref())
}

/// Run until SIGTERM or SIGINT. The exit code.
pub async fn run(args: AgentArgs, config: Config) -> u8 {
    match serve(args, config).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("strongroom agent: {e}");
            1
        }
    }
}

async fn serve(args: AgentArgs, config: Config) -> Result<(), String> {
    let token = config.token()?;
    let addr = SocketAddr::new(args.address, args.port.unwrap_or(config.http_port));
    if !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {addr}: anyone who can reach the agent and knows the token reads the secrets it caches; it listens on loopback only (127.0.0.1 or ::1)"
        ));
    }
    if config.log_to_file {
        tracing::debug!(
            "log_to_file is accepted for compatibility; this agent logs to standard error"
        );
    }
    let mut aws = args.aws.clone();
    if aws.region.is_none() {
        aws.region = config.region.clone();
    }
    let mut sdk = crate::aws::load(&aws).await.map_err(|e| e.to_string())?;
    if let Some(path) = &config.credentials_file_path {
        tracing::info!(path = %path.display(), "credentials from a file");
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(FileCredentials::new(path)))
            .build();
    } else if config.validate_credentials {
        let sts = aws_sdk_sts::Client::new(&sdk);
        sts.get_caller_identity()
            .send()
            .await
            .map_err(|e| format!("the credentials do not work: {}", crate::aws::describe(&e)))?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("Could not bind to {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let cache = Arc::new(cache::Cache::new(config.cache_size, config.ttl));
    let agent = Arc::new(http::Agent::new(config, &token, cache.clone(), &sdk)?);
    drop(token);
    match stream::endpoint(&sdk) {
        Some(endpoint) => {
            let follower = stream::Follower::new(&sdk, endpoint, connector()?, cache.clone())?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(follower.run(tx));
            // Serve once the stream is up (or has failed once): nothing is cached before the
            // stream could tell about changes, and nothing needs dropping when it connects.
            match tokio::time::timeout(STREAM_WAIT, rx).await {
                Ok(Ok(true)) => tracing::info!("change stream connected"),
                _ => tracing::warn!(
                    "serving without the change stream for now: cached values are dropped by TTL until it connects"
                ),
            }
        }
        None => tracing::warn!(
            "no endpoint URL is configured (AWS itself has no change stream): cached values are dropped by TTL only"
        ),
    }
    // As AWS's agent announces itself (scripts read the port from it).
    println!(
        "Agent/{} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(listen = %local, "strongroom agent serving");
    http::serve(agent, listener, shutdown_signal()).await;
    let wiped = cache.clear();
    tracing::info!(wiped, "stopped; the cache is wiped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The HTTP connector for the change stream: the SDK's own (rustls), trusting AWS_CA_BUNDLE's
/// certificates too, as the SDK clients do (see [`crate::aws`]).
fn connector() -> Result<aws_smithy_http_client::Connector, String> {
    let mut trust = tls::TrustStore::default().with_native_roots(true);
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path)
            .map_err(|e| format!("AWS_CA_BUNDLE {}: {e}", path.to_string_lossy()))?;
        trust = trust.with_pem_certificate(pem);
    }
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(aws_smithy_http_client::Connector::builder()
        .connector_settings(
            aws_smithy_runtime_api::client::http::HttpConnectorSettings::builder()
                .connect_timeout(Duration::from_secs(5))
                .build(),
        )
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build())
}

/// `credentials_file_path`: the `[default]` profile of a standard credentials file, re-read
/// when the file changes (credentials delivered to disk by another process). Handed to the
/// SDK with a 10-minute expiry so that it asks again.
#[derive(Debug)]
struct FileCredentials {
    path: PathBuf,
    current: std::sync::Mutex<Option<(SystemTime, Credentials)>>,
}

impl FileCredentials {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            current: Default::default(),
        }
    }

    fn load(&self) -> provider::Result {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .map_err(|e| {
                provider::error::CredentialsError::not_loaded(format!(
                    "{}: {e}",
                    self.path.display()
                ))
            })?;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, c)) = current.as_ref()
            && *at == modified
        {
            return Ok(with_expiry(c));
        }
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&self.path).map_err(|e| {
            provider::error::CredentialsError::not_loaded(format!("{}: {e}", self.path.display()))
        })?);
        let mut in_default = false;
        let (mut id, mut secret, mut token) = (None, None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_default = line == "[default]";
                continue;
            }
            if !in_default {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().to_string();
                match k.trim() {
                    "aws_access_key_id" => id = Some(v),
                    "aws_secret_access_key" => secret = Some(zeroize::Zeroizing::new(v)),
                    "aws_session_token" => token = Some(v),
                    _ => {}
                }
            }
        }
        let (Some(id), Some(secret)) = (id, secret) else {
            return Err(provider::error::CredentialsError::not_loaded(format!(
                "{}: no [default] aws_access_key_id and aws_secret_access_key",
                self.path.display()
            )));
        };
        let c = Credentials::new(id, secret.as_str(), token, None, "credentials_file_path");
        *current = Some((modified, c.clone()));
        Ok(with_expiry(&c))
    }
}

fn with_expiry(c: &Credentials) -> Credentials {
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        c.session_token().map(str::to_string),
        Some(SystemTime::now() + Duration::from_secs(600)),
        "credentials_file_path",
    )
}

impl ProvideCredentials for FileCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(self.load())
    }
}
