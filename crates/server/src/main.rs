//! `strongroom`: the command line. All behaviour lives in the library.

use clap::{Parser, Subcommand};
use strongroom::ServerConfig;
use strongroom::config::ServerArgs;

/// glibc's malloc took ~17% of the server's CPU under load (requests allocate on the tokio
/// workers, the audit writer thread frees): measured in docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "strongroom",
    version,
    about = "The AWS Secrets Manager API, self-hosted, in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Server(Box<ServerArgs>),
    /// Inspect and verify the audit log.
    #[command(subcommand)]
    Audit(strongroom::audit_cmd::AuditCommand),
    /// Copy a data directory consistently, while the server runs.
    Backup(strongroom::backup::BackupArgs),
    /// Move the data between a data directory (SQLite) and PostgreSQL, either way: resumable,
    /// verified afterwards (counts and a checksum of every version), the audit history with it.
    Migrate(Box<strongroom::migrate_cmd::MigrateArgs>),
    /// Seal the root key (passphrase, PKCS#11 HSM, AWS KMS key), move it between seals, unseal it.
    #[command(subcommand)]
    RootKey(strongroom::root_key_cmd::RootKeyCommand),
    /// Resolve {{resolve:secretsmanager|ssm|ssm-secure:...}} references in a text (an AWS
    /// client: credentials, region and endpoint from the standard AWS environment and files).
    Render(strongroom_client::render::RenderArgs),
    /// Start a command with secrets in its environment (ECS valueFrom, task definitions,
    /// parameter paths); an AWS client like render.
    Run(Box<strongroom_client::run::RunArgs>),
    /// A local caching sidecar answering AWS Secrets Manager Agent's and the Lambda
    /// Parameters and Secrets extension's HTTP APIs on loopback; follows the server's change
    /// stream so it never serves a rotated-away value.
    Agent(Box<strongroom_client::agent::AgentArgs>),
}

/// An operator command: one thread is plenty; its result is the exit code.
fn run_tool(command: impl std::future::Future<Output = u8>) -> std::process::ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => std::process::ExitCode::from(rt.block_on(command)),
        Err(e) => {
            eprintln!("strongroom: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Backup(args) => run_tool(strongroom::backup::run(args)),
        Command::Migrate(args) => run_tool(strongroom::migrate_cmd::run(*args)),
        Command::RootKey(cmd) => run_tool(strongroom::root_key_cmd::run(cmd)),
        Command::Audit(cmd) => run_tool(strongroom::audit_cmd::run(cmd)),
        Command::Render(args) => {
            init_client_logging();
            run_tool(strongroom_client::render::run(args))
        }
        Command::Run(args) => {
            init_client_logging();
            run_tool(strongroom_client::run::run(*args))
        }
        Command::Agent(args) => {
            let config = match strongroom_client::agent::load_config(&args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("strongroom agent: {e}");
                    return std::process::ExitCode::from(1);
                }
            };
            init_agent_logging(config.log_level.filter());
            // Multi-threaded: it serves many connections (one thread per core it may use).
            match tokio::runtime::Runtime::new() {
                Ok(rt) => std::process::ExitCode::from(
                    rt.block_on(strongroom_client::agent::run(*args, config)),
                ),
                Err(e) => {
                    eprintln!("strongroom: cannot start the async runtime: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Server(args) => {
            let mut config = match ServerConfig::from_args(*args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("strongroom: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            init_logging(config.log_json);
            // One worker per core the process may use (its CPU affinity), as tokio's default;
            // its park hooks tell the audit log's group commit when the workers run dry.
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
            let idle = std::sync::Arc::new(strongroom_audit::idle::RuntimeIdle::new(workers));
            config.runtime_idle = Some(idle.clone());
            let (parked, unparked) = (idle.clone(), idle);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .on_thread_park(move || parked.worker_parked())
                .on_thread_unpark(move || unparked.worker_unparked())
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("strongroom: cannot start the async runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            rt.block_on(async {
                let signals = strongroom::ShutdownSignals::listen();
                match strongroom::start(config).await {
                    Ok(server) => match server.run_until_signalled(signals).await {
                        Ok(()) => std::process::ExitCode::SUCCESS,
                        Err(e) => {
                            eprintln!("strongroom: server error: {e}");
                            std::process::ExitCode::FAILURE
                        }
                    },
                    Err(e) => {
                        eprintln!("strongroom: {e}");
                        std::process::ExitCode::FAILURE
                    }
                }
            })
        }
    }
}

/// Client commands log only what STRONGROOM_LOG asks for (default: warnings, but not the
/// SDK's note that an AWS_CONFIG_FILE it was pointed at does not exist, which the AWS CLI
/// treats as silently as an absent ~/.aws), to stderr.
fn init_client_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("STRONGROOM_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,aws_runtime::env_config::source=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The agent logs at its config file's `log_level` (STRONGROOM_LOG overrides), to stderr.
fn init_agent_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("STRONGROOM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("STRONGROOM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
