//! Wiring: open the store, unlock the barrier, build the services, serve, shut down cleanly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use strongroom_audit::{AuditConfig, AuditLog, DigestSigner};
use strongroom_barrier::{Barrier, RootKey};
use strongroom_store::Store;
use strongroom_store::cache::CachedStore;
use strongroom_store::sqlite::SqliteStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::Auditor;
use crate::clock::{Clock, SystemClock};
use crate::config::{AuditSettings, DEV_ACCOUNT_ID, ServerConfig, validate_account_id};
use crate::credentials::RootCredentials;
use crate::http::auth::Authenticator;
use crate::http::{AppState, router};
use crate::iam::authz::Authorizer;
use crate::iam::directory::Directory;
use crate::iam::service::Iam;
use crate::regions::{Region, Regions};

/// How long a graceful shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RunningServer {
    addr: SocketAddr,
    tls: bool,
    account_id: String,
    region: String,
    root: RootCredentials,
    handle: Handle<SocketAddr>,
    serve_task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    stop_background: watch::Sender<bool>,
    store: Arc<dyn Store>,
    audit: Arc<Auditor>,
    clock: Arc<dyn Clock>,
    /// Weak: the running server, not this handle, keeps the state alive (shutdown relies on it).
    state: std::sync::Weak<AppState>,
}

impl RunningServer {
    /// The request router itself, for driving requests in-process without a socket (the
    /// fuzz targets); `None` once the server has stopped.
    #[doc(hidden)]
    pub fn router(&self) -> Option<axum::Router> {
        self.state.upgrade().map(router)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:PORT` (or https): what `--endpoint-url` should be.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
    pub fn region(&self) -> &str {
        &self.region
    }
    pub fn root_access_key_id(&self) -> &str {
        &self.root.access_key_id
    }
    pub fn root_secret_access_key(&self) -> &str {
        &self.root.secret_access_key
    }

    /// Serve until SIGTERM or SIGINT (listened for since `signals` was made), then shut down
    /// gracefully.
    pub async fn run_until_signalled(self, signals: ShutdownSignals) -> std::io::Result<()> {
        signals.recv().await;
        tracing::info!("shutdown requested: finishing in-flight requests");
        self.shutdown().await
    }

    /// Stop accepting, let in-flight requests finish, stop background work, close the store.
    pub async fn shutdown(self) -> std::io::Result<()> {
        // Change streams never finish by themselves: end them so draining does not wait.
        self.audit.changes.close();
        self.handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
        let served = self
            .serve_task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let _ = self.stop_background.send(true);
        for t in self.background {
            let _ = t.await;
        }
        // Every request holding a reference has finished: the log can take its last digest.
        match Arc::into_inner(self.audit) {
            Some(a) => a.log.close(self.clock.now_ms()).await,
            None => tracing::warn!("the audit log is still referenced at shutdown"),
        }
        self.store.close().await;
        tracing::info!("store closed; goodbye");
        served
    }
}

/// SIGTERM and SIGINT, listened for from the moment [`ShutdownSignals::listen`] is called:
/// made before the server starts, so a signal that comes while it is still starting (a
/// supervisor stopping it, a test stopping it as soon as `/health` answers) waits for the start
/// to finish and then shuts down gracefully — never the signal's default action, which kills
/// the process without draining.
pub struct ShutdownSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Must run inside the runtime.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn recv(self) {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(self.term) => {},
                _ = wait(self.int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Hyper's deadline for a request head: without a timer it has none, and a client trickling
/// one header byte a second holds its connection forever. The timer starts when the connection
/// is ready for a request, so it also ends idle keep-alive connections.
fn slow_client_timeouts(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
}

/// Start a server. Errors are operator-facing messages.
pub async fn start(config: ServerConfig) -> Result<RunningServer, String> {
    if config.tls.is_none() && !config.listen.ip().is_loopback() && !config.allow_plaintext {
        return Err(format!(
            "refusing to serve plain HTTP on non-loopback address {}: secrets would cross the network in clear. \
             Give --tls-cert and --tls-key, or --allow-plaintext if something else (a TLS proxy, a private link) protects the traffic.",
            config.listen
        ));
    }
    crate::config::one_partition(&config.regions)?;
    if config.audit.disabled {
        if !config.listen.ip().is_loopback() {
            return Err("--bench-unaudited is for loopback benchmarks only".into());
        }
        tracing::warn!(
            "AUDIT DISABLED (--bench-unaudited): requests leave no record; benchmarks only"
        );
    }
    let clock: Arc<dyn Clock> = match &config.clock {
        Some(c) => c.0.clone(),
        None => Arc::new(SystemClock),
    };
    let storage = open_storage(&config, &clock).await?;
    let (state, directory) = build_services(&config, &storage, &clock).await?;
    let Storage {
        store,
        root_key,
        root,
        account_id,
        start_lock,
    } = storage;
    drop(root_key);
    if let Some(lock) = start_lock {
        // The cluster is initialized (or joined): the next node may start.
        lock.release().await.map_err(|e| e.to_string())?;
    }
    let audit = state.audit.clone();

    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (handle, serve_task) = serve(&config, listener, state.clone()).await?;

    let (stop_background, stop_rx) = watch::channel(false);
    let endpoint = format!(
        "{}://{}",
        if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
        own_address(addr)
    );
    let mut background = vec![tokio::spawn(audit_loop(
        audit.clone(),
        clock.clone(),
        config.audit.clone(),
        stop_rx.clone(),
    ))];
    // Each region's background work: deletion purge and KMS key schedules, alarms, rotation.
    // This node's id (a rotation run's claim names it); a --dev server is a node of its own.
    let this_node = match &config.data_dir {
        Some(dir) => node_id(dir)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    for region in state.regions.iter() {
        background.push(tokio::spawn(purge_loop(
            region.clone(),
            state.audit.clone(),
            state.clock.clone(),
            state.leadership.clone(),
            Duration::from_secs(config.purge_interval_secs),
            stop_rx.clone(),
        )));
        if !config.peer_regions.is_empty() {
            background.push(tokio::spawn(
                region
                    .secretsmanager
                    .clone()
                    .deliver_to_peers(state.leadership.clone(), stop_rx.clone()),
            ));
        }
        background.push(tokio::spawn(alarm_loop(
            region.cloudwatch.clone(),
            state.leadership.clone(),
            Duration::from_secs(config.alarm_interval_secs),
            stop_rx.clone(),
        )));
        let rotation_jobs = crate::rotation::connect(
            &region.secretsmanager,
            &config.rotation_functions,
            &this_node,
        );
        let runner = Arc::new(crate::rotation::Runner {
            secretsmanager: region.secretsmanager.clone(),
            audit: state.audit.clone(),
            metrics: state.metrics.clone(),
            clock: state.clock.clone(),
            functions: config.rotation_functions.clone(),
            directory: directory.clone(),
            endpoint: endpoint.clone(),
            ca_file: config.tls.as_ref().map(|t| t.cert.clone()),
            region: region.name.clone(),
            running: Default::default(),
        });
        background.push(tokio::spawn(crate::rotation::rotation_loop(
            runner,
            rotation_jobs,
            state.leadership.clone(),
            Duration::from_secs(config.rotation_interval_secs),
            stop_rx.clone(),
        )));
    }
    // On PostgreSQL, other nodes may share the database: follow their changes.
    if let Some(options) = config.store.postgres_options()? {
        // Each region with its schema, as the nodes' announcements and metrics name them.
        let regions: Vec<(String, Arc<Region>)> = state
            .regions
            .iter()
            .map(|r| {
                let home = r.name == config.region;
                (
                    strongroom_store::postgres::schema_for_region(&r.name, home),
                    r.clone(),
                )
            })
            .collect();
        let followers = crate::cluster::Followers {
            regions: regions.clone(),
            directory: directory.clone(),
        };
        background.push(tokio::spawn(crate::cluster::follow(
            options.clone(),
            followers,
            stop_rx.clone(),
        )));
        // ...share API-call metrics, region by region...
        let node = this_node.clone();
        for (schema, r) in regions {
            background.push(tokio::spawn(crate::cluster::share_metrics(
                options.clone(),
                schema,
                node.clone(),
                r,
                state.clock.clone(),
                stop_rx.clone(),
            )));
        }
        // ...and hold or wait for the background lease.
        background.push(tokio::spawn(crate::cluster::keep_leadership(
            options,
            node,
            state.leadership.clone(),
            stop_rx.clone(),
        )));
    }
    drop(stop_rx);
    let weak_state = Arc::downgrade(&state);
    drop(state);

    if config.dev {
        eprintln!(
            "\n  ==========================================================\n  STRONGROOM DEV MODE: in-memory store, nothing is persisted,\n  ANY well-formed signature is accepted. Never use for real secrets.\n  AWS_ACCESS_KEY_ID={}  AWS_SECRET_ACCESS_KEY={}\n  ==========================================================\n",
            root.access_key_id, root.secret_access_key
        );
    }
    tracing::info!(
        listen = %addr,
        tls = config.tls.is_some(),
        region = %config.region,
        account_id = %account_id,
        dev = config.dev,
        "strongroom is serving"
    );
    Ok(RunningServer {
        addr,
        tls: config.tls.is_some(),
        account_id,
        region: config.region.clone(),
        root,
        handle,
        serve_task,
        background,
        stop_background,
        store,
        audit,
        clock,
        state: weak_state,
    })
}

/// What the data directory (or `--dev`'s memory) holds: the store, the root key, the root
/// credentials and the account id.
struct Storage {
    store: Arc<dyn Store>,
    root_key: RootKey,
    root: RootCredentials,
    account_id: String,
    /// On a cluster's database: held until this node's services are loaded.
    start_lock: Option<strongroom_store::postgres::StartLock>,
}

async fn open_storage(config: &ServerConfig, clock: &Arc<dyn Clock>) -> Result<Storage, String> {
    let mut start_lock = None;
    let (store, root_key, root, account_id): (Arc<dyn Store>, RootKey, RootCredentials, String) =
        match &config.data_dir {
            None => {
                if !config.dev {
                    return Err("a data directory is required unless --dev is given".into());
                }
                let store = SqliteStore::in_memory().await.map_err(|e| e.to_string())?;
                let root = match &config.root_credentials {
                    Some((a, s)) => RootCredentials {
                        access_key_id: a.clone(),
                        secret_access_key: s.clone(),
                    },
                    None => RootCredentials::dev(),
                };
                let account = config
                    .account_id
                    .clone()
                    .unwrap_or_else(|| DEV_ACCOUNT_ID.into());
                (
                    Arc::new(CachedStore::with_capacity(store, config.cache_entries)),
                    RootKey::generate().map_err(|e| e.to_string())?,
                    root,
                    account,
                )
            }
            Some(dir) => {
                prepare_data_dir(dir)?;
                // Several nodes on one PostgreSQL database: the cluster's identity, if a node
                // has initialized it, names the account.
                let pg = config.store.postgres_options()?;
                if let Some(o) = &pg {
                    start_lock = Some(
                        strongroom_store::postgres::StartLock::acquire(o)
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                }
                let cluster = match &pg {
                    Some(o) => strongroom_store::postgres::cluster_identity(o)
                        .await
                        .map_err(|e| e.to_string())?,
                    None => None,
                };
                let account = match &cluster {
                    Some(c) => join_account(dir, config.account_id.as_deref(), &c.account_id)?,
                    None => account_id(dir, config.account_id.as_deref())?,
                };
                let seal = crate::root_key_cmd::server_seal(
                    config.seal.as_deref(),
                    config.seal_passphrase_file.as_deref(),
                    &account,
                )
                .await?;
                let key_path = dir.join("root.key");
                let (root_key, created) = RootKey::load_or_create(&key_path, seal.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(s) = &seal {
                    if !created
                        && RootKey::file_kind(&key_path)
                            .is_ok_and(|k| k == strongroom_barrier::RootKeyFile::Plain)
                    {
                        tracing::warn!(path = %key_path.display(), seal = %s.describe(), "a seal was given but the root key file is plain: seal it with `strongroom root-key seal`");
                    } else {
                        tracing::info!(seal = %s.describe(), "root key unsealed");
                    }
                }
                drop(seal);
                if let Some(o) = &pg {
                    let mine = strongroom_store::postgres::ClusterIdentity {
                        account_id: account.clone(),
                        root_key_check: root_key.check_value().to_vec(),
                    };
                    let now = clock.now_ms();
                    let cluster = strongroom_store::postgres::init_cluster(o, &mine, now)
                        .await
                        .map_err(|e| e.to_string())?;
                    if cluster.root_key_check != mine.root_key_check {
                        return Err(format!(
                            "this PostgreSQL database belongs to a Strongroom cluster whose root key is not this node's ({}): copy root.key (and its seal's configuration) from a node of the cluster into the data directory, or use another database",
                            dir.join("root.key").display()
                        ));
                    }
                    if cluster.account_id != account {
                        return Err(format!(
                            "this PostgreSQL database belongs to account {}, this data directory to {account}",
                            cluster.account_id
                        ));
                    }
                }
                if created {
                    tracing::warn!(path = %dir.join("root.key").display(), "generated a new root key: back it up; without it the data cannot be decrypted");
                }
                let root = match &config.root_credentials {
                    Some((a, s)) => {
                        let c = RootCredentials {
                            access_key_id: a.clone(),
                            secret_access_key: s.clone(),
                        };
                        if let Some(o) = &pg {
                            let cluster = cluster_root_credentials(o, &root_key, Some(&c)).await?;
                            if cluster.access_key_id != c.access_key_id
                                || cluster.secret_access_key != c.secret_access_key
                            {
                                tracing::warn!(
                                    access_key_id = %c.access_key_id,
                                    cluster_access_key_id = %cluster.access_key_id,
                                    "this node's configured root credentials are not the cluster's (stored by the node that initialized it): root requests signed with the cluster's are refused on this node; configure the same on every node, or none"
                                );
                            }
                        }
                        c
                    }
                    None if pg.is_some() => {
                        let o = pg.as_ref().expect("checked");
                        match strongroom_store::postgres::cluster_root_credentials(o)
                            .await
                            .map_err(|e| e.to_string())?
                        {
                            // Joining: the cluster's, whatever this data dir holds.
                            Some(_) => {
                                if dir.join("root-credentials.json").exists() {
                                    tracing::warn!(path = %dir.join("root-credentials.json").display(), "this data directory's root credentials are not used: the cluster's are");
                                }
                                cluster_root_credentials(o, &root_key, None).await?
                            }
                            // Initializing: generated (printed once) or this data dir's, and
                            // stored for the nodes that join.
                            None => {
                                let (c, created) = RootCredentials::load_or_create(dir)?;
                                if created {
                                    print_generated_root_credentials(dir, &c);
                                }
                                cluster_root_credentials(o, &root_key, Some(&c)).await?
                            }
                        }
                    }
                    None => {
                        let (c, created) = RootCredentials::load_or_create(dir)?;
                        if created {
                            print_generated_root_credentials(dir, &c);
                        }
                        c
                    }
                };
                if config.store != crate::config::StoreLocation::Sqlite
                    && dir.join("strongroom.db").exists()
                {
                    tracing::warn!(path = %dir.join("strongroom.db").display(), "the data directory holds a SQLite store, which is not used: the store is PostgreSQL (--store)");
                }
                let store = crate::regions::open_store(
                    Some(dir),
                    &config.store,
                    &config.region,
                    true,
                    config.cache_entries,
                )
                .await?;
                (store, root_key, root, account)
            }
        };
    Ok(Storage {
        store,
        root_key,
        root,
        account_id,
        start_lock,
    })
}

/// Printed once, to the terminal, by design: like AWS showing a new key.
fn print_generated_root_credentials(dir: &Path, c: &RootCredentials) {
    eprintln!(
        "\nStrongroom generated root credentials (saved 0600 in {}):\n  AWS_ACCESS_KEY_ID={}\n  AWS_SECRET_ACCESS_KEY={}\n",
        dir.join("root-credentials.json").display(),
        c.access_key_id,
        c.secret_access_key
    );
}

/// The label the cluster's root credentials are sealed under.
const ROOT_CREDENTIALS_RECORD: &str = "root-credentials";

/// The cluster's root credentials: `mine` stored (sealed under the root key) if the cluster
/// has none yet, then whichever are stored, opened.
async fn cluster_root_credentials(
    options: &sqlx::postgres::PgConnectOptions,
    root_key: &RootKey,
    mine: Option<&RootCredentials>,
) -> Result<RootCredentials, String> {
    use strongroom_store::postgres as pg;
    let sealed = match mine {
        Some(c) => {
            let json = zeroize::Zeroizing::new(serde_json::to_vec(c).map_err(|e| e.to_string())?);
            let sealed = root_key
                .seal_record(ROOT_CREDENTIALS_RECORD, &json)
                .map_err(|e| e.to_string())?;
            pg::init_cluster_root_credentials(options, &sealed)
                .await
                .map_err(|e| e.to_string())?
        }
        None => pg::cluster_root_credentials(options)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the cluster has no root credentials")?,
    };
    let json = root_key
        .open_record(ROOT_CREDENTIALS_RECORD, &sealed)
        .map_err(|_| "the cluster's root credentials do not open with this node's root key")?;
    serde_json::from_slice(&json).map_err(|_| "the cluster's root credentials are malformed".into())
}

/// Every service over the storage, and the state the HTTP front serves them from.
async fn build_services(
    config: &ServerConfig,
    storage: &Storage,
    clock: &Arc<dyn Clock>,
) -> Result<(Arc<AppState>, Arc<Directory>), String> {
    let (store, account_id, root) = (&storage.store, &storage.account_id, &storage.root);
    let clock = clock.clone();
    let barrier = Arc::new(Barrier::new(&storage.root_key));
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let audit = Arc::new(Auditor::new(
        open_audit_log(config, metrics.clone()).await?,
        config.region.clone(),
        account_id.clone(),
        !config.audit.disabled,
    ));
    let shared = crate::regions::Shared {
        barrier: &barrier,
        clock: &clock,
        account_id,
        audit: &audit,
        webhooks: &config.alarm_webhooks,
    };
    let home = Region::open(
        &config.region,
        store.clone(),
        &shared,
        config.data_dir.as_deref(),
    )
    .await?;
    let mut others = Vec::new();
    for name in config.regions.iter().skip(1) {
        let store = crate::regions::open_store(
            config.data_dir.as_deref(),
            &config.store,
            name,
            false,
            config.cache_entries,
        )
        .await?;
        others.push(Region::open(name, store, &shared, None).await?);
    }
    // IAM is global: its directory seals under the home region's managed key.
    let default_key_id = home
        .kms
        .managed_key_id(crate::services::kms::SECRETS_MANAGER_KEY)
        .ok_or("the managed key aws/secretsmanager is missing")?;
    let directory = Arc::new(
        Directory::load(
            store.clone(),
            barrier.clone(),
            default_key_id,
            account_id.clone(),
            strongroom_domain::partition_of(&config.region),
            root.clone(),
        )
        .await?
        .with_lockout(config.sign_in_lockout),
    );
    let regions = Regions::new(home, others);
    // Replication reaches the other regions' Secrets Managers.
    crate::services::secretsmanager::SecretsManager::connect_regions(
        &regions
            .iter()
            .map(|r| r.secretsmanager.clone())
            .collect::<Vec<_>>(),
    );
    // ...and the regions of peer deployments, over their APIs.
    let peers = config
        .peer_regions
        .iter()
        .map(|p| p.connect().map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    for region in regions.iter() {
        region.secretsmanager.connect_peers(peers.clone());
    }
    let state = Arc::new(AppState {
        auth: Authenticator::new(
            directory.clone(),
            account_id.clone(),
            config.regions.clone(),
            config.dev,
            clock.clone(),
        ),
        authz: Authorizer::new(directory.clone()),
        regions,
        iam: Iam::new(directory.clone(), clock.clone()),
        sts: crate::iam::sts::Sts::new(directory.clone()),
        audit: audit.clone(),
        metrics,
        throttle: crate::throttle::Throttle::new(config.throttle),
        metrics_public: config.metrics_public,
        console: crate::console::Console::new(
            config.console.clone(),
            config
                .rotation_functions
                .iter()
                .map(|f| f.arn.clone())
                .collect(),
        ),
        clock: clock.clone(),
        tls: config.tls.is_some(),
        in_flight: tokio::sync::Semaphore::new(config.limits.max_requests_in_flight),
        body_read_timeout: Duration::from_secs(config.limits.body_read_timeout_secs),
        leadership: match config.store {
            crate::config::StoreLocation::Sqlite => crate::cluster::Leadership::solo(),
            crate::config::StoreLocation::Postgres { .. } => crate::cluster::Leadership::standby(),
        },
    });
    Ok((state, directory))
}

/// Serve the router on the listener (TLS or not) behind the connection limits.
async fn serve(
    config: &ServerConfig,
    listener: std::net::TcpListener,
    state: Arc<AppState>,
) -> Result<
    (
        Handle<SocketAddr>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ),
    String,
> {
    let handle: Handle<SocketAddr> = Handle::new();
    let app = crate::http::MakeDispatch::new(state.clone());
    let limits = crate::http::limits::Limits {
        max_connections: config.limits.max_connections,
        max_connections_per_ip: config.limits.max_connections_per_ip,
        handshake_timeout: Duration::from_secs(config.limits.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(config.limits.idle_timeout_secs),
        request_start_timeout: Duration::from_secs(config.limits.header_read_timeout_secs),
    };
    let header_timeout = Duration::from_secs(config.limits.header_read_timeout_secs);
    let serve_task = match &config.tls {
        Some(tls) => {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let tls_config = RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .map_err(|e| format!("cannot load TLS certificate/key: {e}"))?;
            let acceptor = crate::http::limits::LimitAcceptor::new(
                crate::http::tls::TlsInfoAcceptor(axum_server::tls_rustls::RustlsAcceptor::new(
                    tls_config,
                )),
                limits,
            );
            let mut server = axum_server::from_tcp(listener)
                .map_err(|e| e.to_string())?
                .acceptor(acceptor)
                .handle(handle.clone());
            slow_client_timeouts(server.http_builder(), header_timeout);
            tokio::spawn(server.serve(app))
        }
        None => {
            let acceptor = crate::http::limits::LimitAcceptor::new(
                axum_server::accept::DefaultAcceptor::new(),
                limits,
            );
            let mut server = axum_server::from_tcp(listener)
                .map_err(|e| e.to_string())?
                .acceptor(acceptor)
                .handle(handle.clone());
            slow_client_timeouts(server.http_builder(), header_timeout);
            tokio::spawn(server.serve(app))
        }
    };
    Ok((handle, serve_task))
}

/// The audit log beside the store (segments in `audit/`, index `audit-index.db`, signing key
/// `audit-signing.key`), or in memory
/// for `--dev`. A server that cannot write it does not start.
async fn open_audit_log(
    config: &ServerConfig,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<AuditLog, String> {
    let signer = match &config.data_dir {
        Some(dir) => DigestSigner::load_or_create(&dir.join("audit-signing.key"))?,
        None => DigestSigner::generate()?,
    };
    let settings = AuditConfig {
        dir: config.data_dir.clone(),
        max_bytes: config.audit.max_mb.map(|mb| mb * 1024 * 1024),
        export_dir: config.audit.export_dir.clone(),
        export_stdout: config.audit.stdout,
        export_syslog: config.audit.syslog.clone(),
        segment_bytes: None,
        digest_every_records: Some(config.audit.digest_every_records),
        // On PostgreSQL (possibly several nodes): every record also in the cluster's history.
        mirror: match (config.store.postgres_options()?, &config.data_dir) {
            (Some(options), Some(dir)) => Some(strongroom_audit::mirror::MirrorConfig {
                options,
                node: node_id(dir)?,
            }),
            _ => None,
        },
        runtime_idle: config.runtime_idle.clone(),
    };
    let hook: strongroom_audit::log::CommitHook =
        Arc::new(move |latency, records| metrics.audit_commit(latency, records));
    AuditLog::open(settings, signer, Some(hook))
        .await
        .map_err(|e| format!("cannot open the audit log: {e}"))
}

/// Evaluates CloudWatch alarms over their trailing windows.
async fn alarm_loop(
    cloudwatch: Arc<crate::services::cloudwatch::CloudWatch>,
    leadership: Arc<crate::cluster::Leadership>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        // One node of a cluster evaluates and notifies, so a state change notifies once.
        if !leadership.is_leader() {
            continue;
        }
        leadership.fenced(cloudwatch.evaluate_all()).await;
    }
}

/// Signs a digest of the audit chain every interval and applies retention once an hour.
async fn audit_loop(
    audit: Arc<Auditor>,
    clock: Arc<dyn Clock>,
    settings: AuditSettings,
    mut stop: watch::Receiver<bool>,
) {
    let every = Duration::from_secs(settings.digest_interval_secs);
    let mut last_prune: Option<i64> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = clock.now_ms();
        if let Err(e) = audit.log.sign_digest(now).await {
            tracing::error!(error = %e, "could not sign an audit digest");
        }
        if let Some(days) = settings.retention_days
            && last_prune.is_none_or(|t| now - t >= 3_600_000)
        {
            last_prune = Some(now);
            let cutoff = now - (days as i64) * 86_400_000;
            match audit.log.prune(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, days, "audit retention removed old records"),
                Err(e) => tracing::error!(error = %e, "audit retention failed"),
            }
        }
    }
}

async fn purge_loop(
    region: Arc<Region>,
    audit: Arc<Auditor>,
    clock: Arc<dyn Clock>,
    leadership: Arc<crate::cluster::Leadership>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if !leadership.is_leader() {
            continue;
        }
        leadership
            .fenced(sweep_region(&region, &audit, clock.as_ref()))
            .await;
    }
}

/// One pass of a region's background sweep: deletions whose recovery window ended, replicas
/// to bring up to date, parameter policies, KMS key deletions and rotations.
async fn sweep_region(region: &Region, audit: &Auditor, clock: &dyn Clock) {
    match region.secretsmanager.purge_expired().await {
        Ok(purged) => {
            for arn in purged {
                // AWS records the end of a secret's deletion as a service event.
                let resource = crate::audit::CallResource {
                    arn: arn.clone(),
                    kind: crate::audit::SECRET_RESOURCE_TYPE,
                    name: None,
                };
                audit
                    .service_event(
                        &region.name,
                        "secretsmanager",
                        "EndSecretVersionDelete",
                        serde_json::json!({"secretArn": arn, "reason": "recovery window ended"}),
                        Some(resource),
                        clock.now_ms(),
                    )
                    .await;
            }
        }
        Err(e) => tracing::warn!(error = ?e, region = %region.name, "purge sweep failed"),
    }
    // Replicas that could not be brought up to date are tried again.
    region.secretsmanager.retry_replication().await;
    // Parameter policies: expirations delete, notifications are announced once.
    for a in region.ssm.sweep_policies().await {
        let now = clock.now_ms();
        region.cloudwatch.record_call(
            crate::services::cloudwatch::NAMESPACE_SSM,
            a.policy_type,
            now,
        );
        let resource = crate::audit::CallResource {
            arn: a.arn.clone(),
            kind: crate::audit::PARAMETER_RESOURCE_TYPE,
            name: Some(a.name.clone()),
        };
        let expires = a.expires_ms.map(strongroom_audit::event::format_time);
        audit
            .service_event(
                &region.name,
                "ssm",
                a.policy_type,
                serde_json::json!({"parameterName": a.name, "policyType": a.policy_type,
                    "parameterVersion": a.version, "expirationTime": expires}),
                Some(resource),
                now,
            )
            .await;
    }
    // KMS: keys whose waiting period ended are deleted; due automatic rotations run.
    let mut events = region.kms.delete_due().await;
    events.extend(region.kms.rotate_due().await);
    for e in events {
        let resource = crate::audit::CallResource {
            arn: e.key_arn,
            kind: crate::audit::KMS_KEY_RESOURCE_TYPE,
            name: None,
        };
        audit
            .service_event(
                &region.name,
                "kms",
                e.name,
                e.details,
                Some(resource),
                clock.now_ms(),
            )
            .await;
    }
}

/// How the server's own processes (rotation functions) reach it: a wildcard listen address
/// is reached on loopback.
fn own_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

pub(crate) fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// The account id is fixed at first start: ARNs embed it, so it may not change later.
fn account_id(dir: &Path, configured: Option<&str>) -> Result<String, String> {
    let path: PathBuf = dir.join("account-id");
    match std::fs::read_to_string(&path) {
        Ok(saved) => {
            let saved = saved.trim().to_string();
            validate_account_id(&saved)?;
            if let Some(c) = configured
                && c != saved
            {
                return Err(format!(
                    "this data directory belongs to account {saved}; --account-id {c} would orphan every ARN"
                ));
            }
            Ok(saved)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = match configured {
                Some(c) => c.to_string(),
                None => random_account_id()?,
            };
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The account of a node joining a cluster of account `cluster`: adopted into a new data
/// directory; a data directory or `--account-id` naming another is refused.
fn join_account(dir: &Path, configured: Option<&str>, cluster: &str) -> Result<String, String> {
    if let Some(c) = configured
        && c != cluster
    {
        return Err(format!(
            "this PostgreSQL database belongs to account {cluster}, not --account-id {c}"
        ));
    }
    let path = dir.join("account-id");
    match std::fs::read_to_string(&path) {
        Ok(saved) if saved.trim() != cluster => Err(format!(
            "this PostgreSQL database belongs to account {cluster}, this data directory to {}",
            saved.trim()
        )),
        Ok(_) => Ok(cluster.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, format!("{cluster}\n"))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(cluster.to_string())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// This node's id in a cluster (`node-id` in its data directory, made at first start).
pub(crate) fn node_id(dir: &Path) -> Result<String, String> {
    let path = dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) => Err(format!("{} is empty", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().to_string();
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn random_account_id() -> Result<String, String> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 12];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "random generator failed".to_string())?;
    // First digit non-zero so it never looks like a truncated number.
    Ok(b.iter()
        .enumerate()
        .map(|(i, x)| {
            let d = if i == 0 { 1 + x % 9 } else { x % 10 };
            char::from(b'0' + d)
        })
        .collect())
}
