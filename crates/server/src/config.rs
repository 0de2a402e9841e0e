//! Server configuration: command-line flags > `STRONGROOM_*` environment > TOML file > defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8790";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_DATA_DIR: &str = "./strongroom-data";
/// Well-known development account id (the one AWS documentation uses).
pub const DEV_ACCOUNT_ID: &str = "123456789012";

/// `strongroom server` flags. Every flag is also read from `STRONGROOM_<FLAG>`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// TOML file with any of these settings (flags and environment win over it).
    #[arg(long, env = "STRONGROOM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the embedded store, root key and generated credentials live.
    #[arg(long, env = "STRONGROOM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where secrets, parameters, keys and IAM are stored: `sqlite` (in the data directory)
    /// or `postgres://USER@HOST:PORT/DB?sslmode=...` (one schema per region) [default: sqlite].
    /// Give the password in PGPASSWORD, a pgpass file or --store-password-file.
    #[arg(long, env = "STRONGROOM_STORE")]
    pub store: Option<String>,
    /// A file whose first line is the PostgreSQL password (for --store postgres://...).
    #[arg(long, env = "STRONGROOM_STORE_PASSWORD_FILE")]
    pub store_password_file: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8790].
    #[arg(long, env = "STRONGROOM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// AWS region this server presents as [default: us-east-1].
    #[arg(long, env = "STRONGROOM_REGION")]
    pub region: Option<String>,
    /// Several regions, comma-separated, the first the home region (IAM's, and where an
    /// existing single-region data directory's contents stay); each has its own secrets,
    /// parameters, KMS keys, alarms and metrics. `--region R` is the one-region form.
    #[arg(long, env = "STRONGROOM_REGIONS", value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
    /// 12-digit account id used in ARNs [default: generated at first start].
    #[arg(long, env = "STRONGROOM_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Ephemeral in-memory store, well-known credentials, any well-formed signature accepted.
    #[arg(long, env = "STRONGROOM_DEV")]
    pub dev: bool,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, env = "STRONGROOM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "STRONGROOM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (secrets would cross the network in clear).
    #[arg(long, env = "STRONGROOM_ALLOW_PLAINTEXT")]
    pub allow_plaintext: bool,
    /// Seconds between sweeps that purge secrets whose recovery window has ended [default: 60].
    #[arg(long, env = "STRONGROOM_PURGE_INTERVAL_SECS")]
    pub purge_interval_secs: Option<u64>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "STRONGROOM_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Cap on the audit database (MiB). When full, requests fail rather than go unaudited.
    #[arg(long, env = "STRONGROOM_AUDIT_MAX_MB")]
    pub audit_max_mb: Option<u64>,
    /// Also write every audit record to hourly JSON-lines files in this directory.
    #[arg(long, env = "STRONGROOM_AUDIT_EXPORT_DIR")]
    pub audit_export_dir: Option<PathBuf>,
    /// Also write every audit record as a JSON line to standard output (for a SIEM).
    #[arg(long, env = "STRONGROOM_AUDIT_STDOUT")]
    pub audit_stdout: bool,
    /// Also send every audit record to syslog (RFC 5424): udp://HOST:PORT, tcp://HOST:PORT or
    /// unix:///dev/log.
    #[arg(long, env = "STRONGROOM_AUDIT_SYSLOG")]
    pub audit_syslog: Option<String>,
    /// Delete audit records older than this many days [default: keep forever].
    #[arg(long, env = "STRONGROOM_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
    /// Seconds between signed digests of the audit chain [default: 60].
    #[arg(long, env = "STRONGROOM_AUDIT_DIGEST_INTERVAL_SECS")]
    pub audit_digest_interval_secs: Option<u64>,
    /// Also sign an audit digest every N records, so a crash leaves at most N records without
    /// signature coverage [default: 1000].
    #[arg(long, env = "STRONGROOM_AUDIT_DIGEST_EVERY_RECORDS")]
    pub audit_digest_every_records: Option<u64>,
    /// Serve `GET /metrics` without authentication (otherwise it must be SigV4-signed and
    /// allowed `cloudwatch:GetMetricData`).
    #[arg(long, env = "STRONGROOM_METRICS_PUBLIC")]
    pub metrics_public: bool,
    /// The web console at `/console/`: `on` or `off` (its routes then answer 404) [default: on].
    #[arg(long, env = "STRONGROOM_CONSOLE", value_parser = ["on", "off"])]
    pub console: Option<String>,
    /// A regex new secret names must match in the console's "Store a new secret" form
    /// (e.g. seed 003's `^[a-z0-9-]+-(prod|stage|test)-[a-z0-9-]+$`) [default: no check].
    #[arg(long, env = "STRONGROOM_CONSOLE_SECRET_NAME_PATTERN")]
    pub console_secret_name_pattern: Option<String>,
    /// A console session idle this many seconds is signed out [default: 900].
    #[arg(long, env = "STRONGROOM_CONSOLE_IDLE_TIMEOUT_SECS")]
    pub console_idle_timeout_secs: Option<u64>,
    /// A console session ends this many seconds after sign-in, however active [default: 43200].
    #[arg(long, env = "STRONGROOM_CONSOLE_SESSION_MAX_SECS")]
    pub console_session_max_secs: Option<u64>,
    /// Seconds between CloudWatch alarm evaluations [default: 10]. Webhooks for alarm
    /// actions are configured in the TOML file (`[[alarm-webhook]]`).
    #[arg(long, env = "STRONGROOM_ALARM_INTERVAL_SECS")]
    pub alarm_interval_secs: Option<u64>,
    /// Seconds between checks for scheduled rotations [default: 60]. Rotation functions are
    /// configured in the TOML file (`[[rotation-function]]`).
    #[arg(long, env = "STRONGROOM_ROTATION_INTERVAL_SECS")]
    pub rotation_interval_secs: Option<u64>,
    /// A file whose first line is the passphrase sealing the root key (else the environment
    /// variable STRONGROOM_SEAL_PASSPHRASE; neither: the root key file is plain, mode 0600).
    #[arg(long, env = "STRONGROOM_SEAL_PASSPHRASE_FILE")]
    pub seal_passphrase_file: Option<PathBuf>,
    /// The root key wrapped by an HSM or an external KMS key:
    /// `pkcs11:module=...;token=...;label=...` (PIN in STRONGROOM_PKCS11_PIN or `pin-file=`) or
    /// `awskms:KEY_ARN[;endpoint=URL]` (credentials from the AWS SDK's standard chain).
    #[arg(long, env = "STRONGROOM_SEAL")]
    pub seal: Option<String>,
    /// Requests per second each identity (user, role, root) may make, sustained [default: no
    /// limit].
    /// Beyond it requests fail with ThrottlingException (SDKs retry them) and are audited.
    #[arg(long, env = "STRONGROOM_THROTTLE_RPS")]
    pub throttle_rps: Option<f64>,
    /// Requests a caller may make at once after a quiet spell [default: the rate, at least 1].
    #[arg(long, env = "STRONGROOM_THROTTLE_BURST")]
    pub throttle_burst: Option<f64>,
    /// Seconds a client has to send a request's head (and a TLS handshake), counted from when
    /// the connection is ready for it — so also how long an idle keep-alive connection, HTTP/1.1
    /// or HTTP/2, stays open [default: 20].
    #[arg(long, env = "STRONGROOM_HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds without a byte moving either way, while a request is read or answered, before
    /// the connection is closed; keep it above a change stream's 15 s heartbeat [default: 60].
    #[arg(long, env = "STRONGROOM_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a client has to send a whole request body [default: 30].
    #[arg(long, env = "STRONGROOM_BODY_READ_TIMEOUT_SECS")]
    pub body_read_timeout_secs: Option<u64>,
    /// Open connections in all; beyond, new ones are closed at once [default: 4096].
    #[arg(long, env = "STRONGROOM_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections from one source IP address [default: 512].
    #[arg(long, env = "STRONGROOM_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Requests being processed at once; beyond, requests are refused at once with 503
    /// ThrottlingException (Throttling in IAM/STS), which SDKs retry [default: 1024].
    #[arg(long, env = "STRONGROOM_MAX_REQUESTS_IN_FLIGHT")]
    pub max_requests_in_flight: Option<usize>,
    /// Secrets (and, apart, their values) each region keeps in memory for reads; a read of
    /// one not held costs a store query. ~2.5 KiB of memory each for a small secret with its
    /// value [default: 10000].
    #[arg(long, env = "STRONGROOM_CACHE_ENTRIES")]
    pub cache_entries: Option<usize>,
    /// Consecutive failed console password sign-ins that lock an IAM user out; 0 turns the
    /// lockout off [default: 5].
    #[arg(long, env = "STRONGROOM_SIGN_IN_MAX_FAILURES")]
    pub sign_in_max_failures: Option<u32>,
    /// Seconds a locked-out user stays locked, even against the right password [default: 900].
    #[arg(long, env = "STRONGROOM_SIGN_IN_LOCKOUT_SECS")]
    pub sign_in_lockout_secs: Option<u64>,
    /// Benchmarks only: skip audit records, to measure what auditing costs. Loopback only.
    #[arg(long, hide = true)]
    pub bench_unaudited: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    data_dir: Option<PathBuf>,
    store: Option<String>,
    store_password_file: Option<PathBuf>,
    listen: Option<SocketAddr>,
    region: Option<String>,
    regions: Option<Vec<String>>,
    account_id: Option<String>,
    dev: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    allow_plaintext: Option<bool>,
    purge_interval_secs: Option<u64>,
    log_format: Option<String>,
    audit_max_mb: Option<u64>,
    audit_export_dir: Option<PathBuf>,
    audit_stdout: Option<bool>,
    audit_syslog: Option<String>,
    audit_retention_days: Option<u64>,
    audit_digest_interval_secs: Option<u64>,
    audit_digest_every_records: Option<u64>,
    metrics_public: Option<bool>,
    console: Option<String>,
    console_secret_name_pattern: Option<String>,
    console_idle_timeout_secs: Option<u64>,
    console_session_max_secs: Option<u64>,
    /// `[[alarm-webhook]]` tables: SNS topic ARN → webhook.
    #[serde(default)]
    alarm_webhook: Vec<crate::services::cloudwatch::Webhook>,
    alarm_interval_secs: Option<u64>,
    /// `[[rotation-function]]` tables: Lambda ARN → local command and role.
    #[serde(default)]
    rotation_function: Vec<crate::rotation::RotationFunction>,
    rotation_interval_secs: Option<u64>,
    /// `[[peer-region]]` tables: regions served by other Strongroom deployments, to replicate
    /// secrets to.
    #[serde(default)]
    peer_region: Vec<crate::services::secretsmanager::remote::PeerRegion>,
    throttle_rps: Option<f64>,
    throttle_burst: Option<f64>,
    seal_passphrase_file: Option<PathBuf>,
    seal: Option<String>,
    header_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_requests_in_flight: Option<usize>,
    cache_entries: Option<usize>,
    sign_in_max_failures: Option<u32>,
    sign_in_lockout_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `None` in dev mode: nothing touches the disk.
    pub data_dir: Option<PathBuf>,
    /// Where the regions' stores live.
    pub store: StoreLocation,
    pub listen: SocketAddr,
    /// The home region: the first of `regions`.
    pub region: String,
    /// Every region served, the home region first, no duplicates.
    pub regions: Vec<String>,
    pub account_id: Option<String>,
    pub dev: bool,
    pub tls: Option<TlsFiles>,
    pub allow_plaintext: bool,
    pub purge_interval_secs: u64,
    pub log_json: bool,
    /// Root credentials from the environment (both or neither).
    pub root_credentials: Option<(String, String)>,
    pub audit: AuditSettings,
    pub metrics_public: bool,
    /// The web console's settings.
    pub console: crate::console::ConsoleSettings,
    /// Where alarm actions (SNS topic ARNs) are delivered.
    pub alarm_webhooks: Vec<crate::services::cloudwatch::Webhook>,
    /// Seconds between alarm evaluations.
    pub alarm_interval_secs: u64,
    /// The rotation functions RotationLambdaARNs may name.
    pub rotation_functions: Vec<crate::rotation::RotationFunction>,
    /// Seconds between checks for scheduled rotations.
    pub rotation_interval_secs: u64,
    /// Regions of other Strongroom deployments replicas may live in.
    pub peer_regions: Vec<crate::services::secretsmanager::remote::PeerRegion>,
    /// Per-caller request rate limit (`None`: unlimited).
    pub throttle: Option<crate::throttle::Limit>,
    pub limits: ConnectionLimits,
    /// Secrets and values each region's store cache holds.
    pub cache_entries: usize,
    /// Where the root key's passphrase is read from (the file, else STRONGROOM_SEAL_PASSPHRASE).
    pub seal_passphrase_file: Option<PathBuf>,
    /// The `--seal` specification (an HSM or an external KMS key), if any.
    pub seal: Option<String>,
    /// A clock to use instead of the system's (tests: alarm windows, deletion windows).
    pub clock: Option<InjectedClock>,
    /// The console's password sign-in lockout.
    pub sign_in_lockout: strongroom_domain::console_passwords::Lockout,
    /// The park hooks of the runtime serving requests, if the binary installed them: the
    /// audit log's group commit then commits the moment the runtime runs out of work.
    pub runtime_idle: Option<std::sync::Arc<strongroom_audit::idle::RuntimeIdle>>,
}

/// A test clock, carried by the configuration.
#[derive(Clone)]
pub struct InjectedClock(pub std::sync::Arc<dyn crate::clock::Clock>);

impl std::fmt::Debug for InjectedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InjectedClock")
    }
}

#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub max_mb: Option<u64>,
    pub export_dir: Option<PathBuf>,
    pub stdout: bool,
    pub syslog: Option<strongroom_audit::syslog::SyslogTarget>,
    pub retention_days: Option<u64>,
    pub digest_interval_secs: u64,
    pub digest_every_records: u64,
    /// Benchmarks only (loopback): no records are written.
    pub disabled: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            max_mb: None,
            export_dir: None,
            stdout: false,
            syslog: None,
            retention_days: None,
            digest_interval_secs: 60,
            digest_every_records: 1000,
            disabled: false,
        }
    }
}

impl ServerConfig {
    /// A persistent server on `data_dir` (used by tests and embedders).
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            data_dir: Some(data_dir.into()),
            store: StoreLocation::Sqlite,
            listen,
            region: DEFAULT_REGION.into(),
            regions: vec![DEFAULT_REGION.into()],
            account_id: None,
            dev: false,
            tls: None,
            allow_plaintext: false,
            purge_interval_secs: 60,
            log_json: false,
            root_credentials: None,
            audit: AuditSettings::default(),
            metrics_public: false,
            console: Default::default(),
            alarm_webhooks: Vec::new(),
            alarm_interval_secs: 10,
            rotation_functions: Vec::new(),
            peer_regions: Vec::new(),
            rotation_interval_secs: 60,
            throttle: None,
            limits: ConnectionLimits::default(),
            cache_entries: strongroom_store::cache::DEFAULT_ENTRIES,
            seal_passphrase_file: None,
            seal: None,
            clock: None,
            sign_in_lockout: Default::default(),
            runtime_idle: None,
        }
    }

    pub fn from_args(args: ServerArgs) -> Result<Self, String> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let dev = args.dev || file.dev.unwrap_or(false);
        let data_dir = if dev {
            None
        } else {
            Some(
                args.data_dir
                    .or(file.data_dir)
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            )
        };
        let store = StoreLocation::parse(
            args.store.or(file.store),
            args.store_password_file.or(file.store_password_file),
        )?;
        if dev && store != StoreLocation::Sqlite {
            return Err("--dev keeps everything in memory: it cannot be used with --store".into());
        }
        let listen = match args.listen.or(file.listen) {
            Some(a) => a,
            None => DEFAULT_LISTEN.parse().map_err(|e| format!("{e}"))?,
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key must be given together".into()),
        };
        let (region, regions) =
            regions(args.region.or(file.region), args.regions.or(file.regions))?;
        let account_id = args.account_id.or(file.account_id);
        if let Some(a) = &account_id {
            validate_account_id(a)?;
        }
        let log_format = args
            .log_format
            .or(file.log_format)
            .unwrap_or_else(|| "text".into());
        let log_json = match log_format.as_str() {
            "text" => false,
            "json" => true,
            other => return Err(format!("--log-format must be text or json, not {other:?}")),
        };
        let root_credentials = match (
            std::env::var("STRONGROOM_ROOT_ACCESS_KEY_ID").ok(),
            std::env::var("STRONGROOM_ROOT_SECRET_ACCESS_KEY").ok(),
        ) {
            (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => Some((a, s)),
            (None, None) => None,
            _ => {
                return Err(
                    "set both STRONGROOM_ROOT_ACCESS_KEY_ID and STRONGROOM_ROOT_SECRET_ACCESS_KEY, or neither".into(),
                );
            }
        };
        let peer_regions = {
            let mut seen: Vec<&str> = Vec::new();
            for p in &file.peer_region {
                if regions.contains(&p.region) || seen.contains(&p.region.as_str()) {
                    return Err(format!(
                        "[[peer-region]] {}: the region is served here or named twice; a peer region is another deployment's",
                        p.region
                    ));
                }
                seen.push(&p.region);
            }
            file.peer_region
        };
        Ok(Self {
            data_dir,
            store,
            listen,
            region,
            regions,
            account_id,
            dev,
            tls,
            allow_plaintext: args.allow_plaintext || file.allow_plaintext.unwrap_or(false),
            purge_interval_secs: args
                .purge_interval_secs
                .or(file.purge_interval_secs)
                .unwrap_or(60)
                .max(1),
            log_json,
            root_credentials,
            audit: AuditSettings {
                max_mb: args.audit_max_mb.or(file.audit_max_mb),
                export_dir: args.audit_export_dir.or(file.audit_export_dir),
                stdout: args.audit_stdout || file.audit_stdout.unwrap_or(false),
                syslog: match args.audit_syslog.or(file.audit_syslog) {
                    Some(t) => Some(
                        t.parse()
                            .map_err(|e: String| format!("--audit-syslog: {e}"))?,
                    ),
                    None => None,
                },
                retention_days: args.audit_retention_days.or(file.audit_retention_days),
                digest_interval_secs: args
                    .audit_digest_interval_secs
                    .or(file.audit_digest_interval_secs)
                    .unwrap_or(60)
                    .max(1),
                digest_every_records: args
                    .audit_digest_every_records
                    .or(file.audit_digest_every_records)
                    .unwrap_or(1000)
                    .max(1),
                disabled: args.bench_unaudited,
            },
            metrics_public: args.metrics_public || file.metrics_public.unwrap_or(false),
            console: crate::console::ConsoleSettings::new(
                args.console.as_deref().or(file.console.as_deref()),
                args.console_secret_name_pattern
                    .or(file.console_secret_name_pattern),
                args.console_idle_timeout_secs
                    .or(file.console_idle_timeout_secs),
                args.console_session_max_secs
                    .or(file.console_session_max_secs),
            )?,
            alarm_interval_secs: args
                .alarm_interval_secs
                .or(file.alarm_interval_secs)
                .unwrap_or(10)
                .max(1),
            alarm_webhooks: file.alarm_webhook,
            rotation_functions: {
                for f in &file.rotation_function {
                    f.check()?;
                }
                file.rotation_function
            },
            peer_regions,
            rotation_interval_secs: args
                .rotation_interval_secs
                .or(file.rotation_interval_secs)
                .unwrap_or(60)
                .max(1),
            seal_passphrase_file: args.seal_passphrase_file.or(file.seal_passphrase_file),
            seal: args.seal.or(file.seal),
            runtime_idle: None,
            sign_in_lockout: {
                let d = strongroom_domain::console_passwords::Lockout::default();
                strongroom_domain::console_passwords::Lockout {
                    max_failures: args
                        .sign_in_max_failures
                        .or(file.sign_in_max_failures)
                        .unwrap_or(d.max_failures),
                    period_ms: args
                        .sign_in_lockout_secs
                        .or(file.sign_in_lockout_secs)
                        .map_or(d.period_ms, |s| {
                            i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
                        }),
                }
            },
            throttle: match args.throttle_rps.or(file.throttle_rps) {
                None => None,
                Some(rate) if rate.is_finite() && rate > 0.0 => Some(crate::throttle::Limit {
                    rate,
                    burst: args
                        .throttle_burst
                        .or(file.throttle_burst)
                        .unwrap_or(rate)
                        .max(1.0),
                }),
                Some(rate) => {
                    return Err(format!(
                        "--throttle-rps must be a positive number, not {rate}"
                    ));
                }
            },
            limits: {
                let d = ConnectionLimits::default();
                let positive = |name: &str, v: u64| {
                    if v == 0 {
                        Err(format!("--{name} must be at least 1"))
                    } else {
                        Ok(v)
                    }
                };
                ConnectionLimits {
                    header_read_timeout_secs: positive(
                        "header-read-timeout-secs",
                        args.header_read_timeout_secs
                            .or(file.header_read_timeout_secs)
                            .unwrap_or(d.header_read_timeout_secs),
                    )?,
                    idle_timeout_secs: positive(
                        "idle-timeout-secs",
                        args.idle_timeout_secs
                            .or(file.idle_timeout_secs)
                            .unwrap_or(d.idle_timeout_secs),
                    )?,
                    body_read_timeout_secs: positive(
                        "body-read-timeout-secs",
                        args.body_read_timeout_secs
                            .or(file.body_read_timeout_secs)
                            .unwrap_or(d.body_read_timeout_secs),
                    )?,
                    max_connections: positive(
                        "max-connections",
                        args.max_connections
                            .or(file.max_connections)
                            .unwrap_or(d.max_connections) as u64,
                    )? as usize,
                    max_connections_per_ip: positive(
                        "max-connections-per-ip",
                        args.max_connections_per_ip
                            .or(file.max_connections_per_ip)
                            .unwrap_or(d.max_connections_per_ip) as u64,
                    )? as usize,
                    max_requests_in_flight: positive(
                        "max-requests-in-flight",
                        args.max_requests_in_flight
                            .or(file.max_requests_in_flight)
                            .unwrap_or(d.max_requests_in_flight) as u64,
                    )? as usize,
                }
            },
            cache_entries: match args.cache_entries.or(file.cache_entries) {
                Some(0) => return Err("--cache-entries must be at least 1".into()),
                Some(n) => n,
                None => strongroom_store::cache::DEFAULT_ENTRIES,
            },
            clock: None,
        })
    }
}

/// Limits against abuse (slow or idle clients, connection floods, overload): see
/// `http::limits` and docs/reliability.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub body_read_timeout_secs: u64,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_requests_in_flight: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 20,
            idle_timeout_secs: 60,
            body_read_timeout_secs: 30,
            max_connections: 4096,
            max_connections_per_ip: 512,
            max_requests_in_flight: 1024,
        }
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
}

pub fn validate_account_id(a: &str) -> Result<(), String> {
    if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("account id must be 12 digits, got {a:?}"))
    }
}

/// The home region and every region served, from `--region` and `--regions`.
fn regions(
    region: Option<String>,
    regions: Option<Vec<String>>,
) -> Result<(String, Vec<String>), String> {
    let list = match (region, regions) {
        (Some(r), None) => vec![r],
        (None, None) => vec![DEFAULT_REGION.to_string()],
        (r, Some(list)) => {
            if list.is_empty() {
                return Err("--regions needs at least one region".into());
            }
            if let Some(r) = r
                && r != list[0]
            {
                return Err(format!(
                    "--region {r} and --regions disagree: the home region is the first of --regions ({})",
                    list[0]
                ));
            }
            list
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for r in &list {
        validate_region(r)?;
        if !seen.insert(r.as_str()) {
            return Err(format!("region {r} is listed twice"));
        }
    }
    one_partition(&list)?;
    Ok((list[0].clone(), list))
}

/// The regions served are all in the home region's partition: IAM is per partition in AWS,
/// and one deployment has one IAM directory.
pub fn one_partition(regions: &[String]) -> Result<(), String> {
    let Some(home) = regions.first() else {
        return Ok(());
    };
    let home_partition = strongroom_domain::partition_of(home);
    for r in regions {
        let partition = strongroom_domain::partition_of(r);
        if partition != home_partition {
            return Err(format!(
                "region {r} is in partition {partition}, the home region {home} in {home_partition}: one deployment serves the regions of one partition"
            ));
        }
    }
    Ok(())
}

fn validate_region(r: &str) -> Result<(), String> {
    let ok = !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("region must look like us-east-1, got {r:?}"))
    }
}

/// Where the stores of the regions live.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `strongroom.db` in the data directory (`regions/<name>/` for other regions).
    Sqlite,
    /// A PostgreSQL database, one schema per region.
    Postgres {
        /// libpq's URL form. May hold a password: never printed (see `Debug`).
        url: String,
        password_file: Option<PathBuf>,
    },
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Postgres { url, .. } => write!(f, "{}", redact_url(url)),
        }
    }
}

/// `url` with any password in it replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

fn url_has_password(url: &str) -> bool {
    redact_url(url) != url
}

impl StoreLocation {
    fn parse(store: Option<String>, password_file: Option<PathBuf>) -> Result<Self, String> {
        match store.as_deref() {
            None | Some("sqlite") => {
                if password_file.is_some() {
                    return Err("--store-password-file is for --store postgres://...".into());
                }
                Ok(Self::Sqlite)
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                if password_file.is_some() && url_has_password(url) {
                    return Err(
                        "the PostgreSQL password is given twice: in the --store URL and in --store-password-file".into(),
                    );
                }
                // Parsed now, so a bad URL stops the start before anything is created.
                strongroom_store::postgres::connect_options(url)
                    .map_err(|e| format!("--store {}: {e}", redact_url(url)))?;
                Ok(Self::Postgres {
                    url: url.to_string(),
                    password_file,
                })
            }
            Some(other) => Err(format!(
                "--store must be sqlite or a postgres:// URL, not {}",
                redact_url(other)
            )),
        }
    }

    /// The PostgreSQL connection options, if the store is PostgreSQL.
    pub fn postgres_options(&self) -> Result<Option<sqlx::postgres::PgConnectOptions>, String> {
        match self {
            Self::Sqlite => Ok(None),
            Self::Postgres { url, password_file } => {
                Self::postgres_options_for(url, password_file.as_deref()).map(Some)
            }
        }
    }

    /// The connection options of a PostgreSQL store, with the password file read.
    pub fn postgres_options_for(
        url: &str,
        password_file: Option<&Path>,
    ) -> Result<sqlx::postgres::PgConnectOptions, String> {
        let options = strongroom_store::postgres::connect_options(url)
            .map_err(|e| format!("--store {}: {e}", redact_url(url)))?;
        let Some(file) = password_file else {
            return Ok(options);
        };
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
            format!(
                "cannot read the store password file {}: {e}",
                file.display()
            )
        })?);
        let first = text.lines().next().unwrap_or_default();
        if first.is_empty() {
            return Err(format!(
                "the store password file {} is empty",
                file.display()
            ));
        }
        Ok(options.password(first))
    }
}

/// The passphrase sealing the root key: the first line of `file`, else the environment
/// variable STRONGROOM_SEAL_PASSPHRASE, else none. Never logged; zeroized when dropped.
pub fn seal_passphrase(
    file: Option<&std::path::Path>,
) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    let text =
        match file {
            Some(f) => zeroize::Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
                format!("cannot read the seal passphrase file {}: {e}", f.display())
            })?),
            None => match std::env::var("STRONGROOM_SEAL_PASSPHRASE") {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) => return Ok(None),
            },
        };
    let first = text.lines().next().unwrap_or_default();
    if first.is_empty() {
        return Err("the seal passphrase is empty".into());
    }
    Ok(Some(zeroize::Zeroizing::new(first.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_apply_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("sr-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("strongroom.toml");
        std::fs::write(
            &file,
            "data-dir = \"/srv/strongroom\"\nlisten = \"127.0.0.1:9999\"\nregion = \"eu-west-1\"\naccount-id = \"111122223333\"\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(file.clone()),
            region: Some("us-west-2".into()),
            ..Default::default()
        };
        let c = ServerConfig::from_args(args).unwrap();
        assert_eq!(c.data_dir.as_deref(), Some(Path::new("/srv/strongroom")));
        assert_eq!(c.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(c.region, "us-west-2", "the flag beats the file");
        assert_eq!(c.account_id.as_deref(), Some("111122223333"));

        std::fs::write(&file, "no-such-setting = 1\n").unwrap();
        let err = ServerConfig::from_args(ServerArgs {
            config: Some(file),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("no-such-setting"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn store_locations() {
        let parse = |store: &str| {
            ServerConfig::from_args(ServerArgs {
                store: Some(store.into()),
                ..Default::default()
            })
        };
        assert_eq!(parse("sqlite").unwrap().store, StoreLocation::Sqlite);
        assert_eq!(
            ServerConfig::from_args(ServerArgs::default())
                .unwrap()
                .store,
            StoreLocation::Sqlite,
            "SQLite stays the default"
        );
        let pg = parse("postgres://app:s3cret-pw@db.internal:5433/strongroom?sslmode=verify-full")
            .unwrap();
        assert!(
            matches!(&pg.store, StoreLocation::Postgres { url, .. } if url.contains("db.internal"))
        );
        let shown = format!("{pg:?}");
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db.internal:5433/strongroom?sslmode=verify-full"),
            "{shown}"
        );
        let e = parse("mysql://root:pw@localhost/x").unwrap_err();
        assert!(e.contains("postgres://") && !e.contains(":pw@"), "{e}");
        let e = parse("postgres://u@h/db?sslmode=sometimes").unwrap_err();
        assert!(e.contains("postgres://u@h/db"), "{e}");
        let e = ServerConfig::from_args(ServerArgs {
            store: Some("postgres://u:pw@h/db".into()),
            store_password_file: Some("/nonexistent".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = ServerConfig::from_args(ServerArgs {
            store: Some("postgres://u@h/db".into()),
            dev: true,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("--dev"), "{e}");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("postgres://u@h"), "postgres://u@h");
        assert_eq!(redact_url("postgres://u:p@h"), "postgres://u:***@h");

        // The password file's first line becomes the password.
        let dir = std::env::temp_dir().join(format!("sr-store-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "").unwrap();
        assert!(
            StoreLocation::postgres_options_for("postgres://u@h/db", Some(&file))
                .unwrap_err()
                .contains("empty")
        );
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        assert!(StoreLocation::postgres_options_for("postgres://u@h/db", Some(&file)).is_ok());

        // In the TOML file too; the flag beats it.
        let toml = dir.join("strongroom.toml");
        std::fs::write(
            &toml,
            "store = \"postgres://app@db:5432/sr\"\nstore-password-file = \"/run/pw\"\n",
        )
        .unwrap();
        let c = ServerConfig::from_args(ServerArgs {
            config: Some(toml.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.store,
            StoreLocation::Postgres {
                url: "postgres://app@db:5432/sr".into(),
                password_file: Some("/run/pw".into()),
            }
        );
        let c = ServerConfig::from_args(ServerArgs {
            config: Some(toml),
            store: Some("postgres://app@other/sr".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(c.store, StoreLocation::Postgres { url, .. } if url.contains("other")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_sign_in_lockout_comes_from_the_file_or_the_flags() {
        use strongroom_domain::console_passwords::Lockout;
        let defaults = ServerConfig::from_args(ServerArgs::default()).unwrap();
        assert_eq!(defaults.sign_in_lockout, Lockout::default());
        let dir = std::env::temp_dir().join(format!("sr-lockout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("strongroom.toml");
        std::fs::write(
            &toml,
            "sign-in-max-failures = 3\nsign-in-lockout-secs = 60\n",
        )
        .unwrap();
        let c = ServerConfig::from_args(ServerArgs {
            config: Some(toml.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.sign_in_lockout,
            Lockout {
                max_failures: 3,
                period_ms: 60_000
            }
        );
        let c = ServerConfig::from_args(ServerArgs {
            config: Some(toml),
            sign_in_max_failures: Some(10),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.sign_in_lockout.max_failures, 10,
            "the flag beats the file"
        );
        assert_eq!(c.sign_in_lockout.period_ms, 60_000);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_values_are_refused() {
        let bad_account = ServerArgs {
            account_id: Some("12345".into()),
            ..Default::default()
        };
        assert!(
            ServerConfig::from_args(bad_account)
                .unwrap_err()
                .contains("12 digits")
        );
        let bad_region = ServerArgs {
            region: Some("US East".into()),
            ..Default::default()
        };
        assert!(ServerConfig::from_args(bad_region).is_err());
    }

    #[test]
    fn the_cache_size_comes_from_the_file_or_the_flag() {
        let dir = std::env::temp_dir().join(format!("sr-config-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("strongroom.toml");
        std::fs::write(&file, "dev = true\ncache-entries = 250000\n").unwrap();
        let from = |config: Option<PathBuf>, flag: Option<usize>| {
            ServerConfig::from_args(ServerArgs {
                config,
                dev: true,
                cache_entries: flag,
                ..Default::default()
            })
        };
        assert_eq!(
            from(None, None).unwrap().cache_entries,
            strongroom_store::cache::DEFAULT_ENTRIES
        );
        assert_eq!(
            from(Some(file.clone()), None).unwrap().cache_entries,
            250_000
        );
        assert_eq!(from(Some(file), Some(7)).unwrap().cache_entries, 7);
        let e = from(None, Some(0)).unwrap_err();
        assert!(e.contains("--cache-entries must be at least 1"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn regions_of_two_partitions_are_refused() {
        let mixed = ServerArgs {
            regions: Some(vec!["us-east-1".into(), "cn-north-1".into()]),
            ..Default::default()
        };
        let e = ServerConfig::from_args(mixed).unwrap_err();
        assert!(
            e.contains("cn-north-1 is in partition aws-cn")
                && e.contains("us-east-1 in aws")
                && e.contains("one partition"),
            "{e}"
        );
        let china = ServerArgs {
            regions: Some(vec!["cn-north-1".into(), "cn-northwest-1".into()]),
            ..Default::default()
        };
        assert_eq!(
            ServerConfig::from_args(china).unwrap().regions,
            ["cn-north-1", "cn-northwest-1"]
        );
    }
}
