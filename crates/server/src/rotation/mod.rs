//! The rotation runner. RotateSecret and the schedule start rotations (the service adds the
//! value-less AWSPENDING version); the runner carries them out the way Secrets Manager drives
//! a Lambda rotation function: it invokes the function once per step — `createSecret`,
//! `setSecret`, `testSecret`, `finishSecret` — with the event `{"SecretId", "ClientRequestToken",
//! "Step"}`, and the function does the work through the Secrets Manager API (AWS's rotation
//! templates work this way).
//!
//! There is no Lambda here: a rotation function is configured on the server for a Lambda ARN
//! (`[[rotation-function]]`) — a built-in rotator for a database user's password
//! ([`builtin`], run in-process), a Lambda handler (`python-handler` / `node-handler`, run as
//! Lambda runs one: AWS's rotation templates run unchanged), or a local command. A command gets the
//! event as JSON on standard input (and in `STRONGROOM_ROTATION_EVENT`); a handler is called
//! `handler(event, context)` by a small runtime (`lambda_bootstrap.py` / `.js`) with Lambda's
//! context object and environment (`AWS_LAMBDA_FUNCTION_NAME`, `_HANDLER`, `LAMBDA_TASK_ROOT`,
//! …). Both get the server's endpoint (`AWS_ENDPOINT_URL`, `SECRETS_MANAGER_ENDPOINT`) and
//! temporary credentials of the function's IAM role, as Lambda runs a function with its
//! execution role — never the server's own credentials (the environment is cleared). A step
//! fails if the function exits non-zero, raises, or outlives `timeout-secs`; the rotation
//! succeeds only if, after finishSecret, its version is AWSCURRENT. A handler's exception is
//! recorded by its type only (its message and traceback go to the function's log-file, as
//! Lambda's go to its log group): the audit record never holds text a function wrote.
//!
//! Every rotation leaves `RotationStarted` and `RotationSucceeded`/`RotationFailed` audit
//! events and counts in `strongroom_rotations_total{outcome}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use crate::audit::{Auditor, CallResource, SECRET_RESOURCE_TYPE};
use crate::clock::Clock;
use crate::iam::directory::Directory;
use crate::iam::sessions::Subject;
use crate::metrics::Metrics;
use crate::services::secretsmanager::SecretsManager;
use crate::services::secretsmanager::rotation::{Outcome, RotationJob, RotationQueue};

pub mod builtin;

/// A rotation function: the command run for a Lambda ARN, and the role it runs as.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RotationFunction {
    /// The RotationLambdaARN callers name, e.g. `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`.
    pub arn: String,
    /// A built-in rotator: `postgresql-single-user`, `postgresql-multi-user`,
    /// `mysql-single-user` or `mysql-multi-user` (no command, no role).
    #[serde(default)]
    pub builtin: Option<String>,
    /// Program and arguments.
    #[serde(default)]
    pub command: Vec<String>,
    /// A Python Lambda handler, `DIR:module.function` (e.g. AWS's
    /// `…/SecretsManagerRDSPostgreSQLRotationSingleUser:lambda_function.lambda_handler`).
    #[serde(default)]
    pub python_handler: Option<String>,
    /// The interpreter for `python-handler`, e.g. the function's virtualenv's
    /// `bin/python` with the template's dependencies [default: `python3`].
    #[serde(default)]
    pub python: Option<PathBuf>,
    /// A Node.js Lambda handler, `DIR:file.export` (CommonJS).
    #[serde(default)]
    pub node_handler: Option<String>,
    /// The `node` for `node-handler` [default: `node`].
    #[serde(default)]
    pub node: Option<PathBuf>,
    /// `node_modules` directory the handler's dependencies come from (NODE_PATH).
    #[serde(default)]
    pub node_path: Option<PathBuf>,
    /// The function's own environment variables (Lambda's `Environment.Variables`), e.g. the
    /// `EXCLUDE_CHARACTERS` or `PASSWORD_LENGTH` AWS's templates read. Lambda's reserved keys
    /// are refused: the runtime sets those.
    #[serde(default)]
    pub environment: std::collections::BTreeMap<String, String>,
    /// The IAM role whose temporary credentials the command gets (its "execution role").
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Per step [default: 60].
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Append the function's output here [default: discarded — it is the function's to keep
    /// secret values out of it].
    #[serde(default)]
    pub log_file: Option<PathBuf>,
    /// Built-in rotators: TLS to the database, as libpq's sslmode — `prefer` (default),
    /// `require`, `verify-ca` or `verify-full`.
    #[serde(default)]
    pub tls: Option<String>,
    /// Built-in rotators: the CA certificate (PEM) that verify-ca / verify-full trust.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `-multi-user` rotators: the ARN of the administrator's secret. Chosen here, by the
    /// operator, never by a secret's value: whoever may write a secret must not be able to
    /// point the rotator at other administrator credentials.
    #[serde(default)]
    pub master_secret: Option<String>,
}

fn default_timeout() -> u64 {
    60
}

impl RotationFunction {
    /// A function is a builtin, or a command with a role: say which part is missing.
    pub fn check(&self) -> Result<(), String> {
        let what = |m: &str| Err(format!("[[rotation-function]] {}: {m}", self.arn));
        if self.builtin.is_none()
            && (self.tls.is_some() || self.ca_file.is_some() || self.master_secret.is_some())
        {
            return what("tls, ca-file and master-secret are settings of built-in rotators");
        }
        if self.builtin.is_some() && !self.environment.is_empty() {
            return what("environment is for handlers and commands, not built-in rotators");
        }
        strongroom_domain::lambda::check_environment(&self.environment)
            .map_err(|m| format!("[[rotation-function]] {}: {m}", self.arn))?;
        let kinds = [
            self.builtin.is_some(),
            !self.command.is_empty(),
            self.python_handler.is_some(),
            self.node_handler.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            return what("give one of builtin, command, python-handler and node-handler");
        }
        if self.python.is_some() && self.python_handler.is_none()
            || (self.node.is_some() || self.node_path.is_some()) && self.node_handler.is_none()
        {
            return what("python goes with python-handler, node and node-path with node-handler");
        }
        if let Some(h) = self.python_handler.as_ref().or(self.node_handler.as_ref()) {
            Handler::parse(h).map_err(|m| format!("[[rotation-function]] {}: {m}", self.arn))?;
            if self.role_arn.is_none() {
                return what("a handler needs the role-arn it runs as (its execution role)");
            }
            return Ok(());
        }
        match (&self.builtin, self.command.is_empty(), &self.role_arn) {
            (Some(b), true, None) => {
                let kind = builtin::Builtin::parse(b)?;
                if kind.alternating != self.master_secret.is_some() {
                    return what(if kind.alternating {
                        "a -multi-user rotator needs master-secret (the administrator's secret ARN)"
                    } else {
                        "master-secret is for -multi-user rotators"
                    });
                }
                builtin::DbTls::parse(kind, self.tls.as_deref(), self.ca_file.clone()).map(|_| ())
            }
            (Some(_), _, _) => what("a builtin takes no command and no role-arn"),
            (None, true, _) => what("give a command or a builtin"),
            (None, false, None) => what("a command needs the role-arn it runs as"),
            (None, false, Some(_)) => Ok(()),
        }
    }
}

pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The Lambda runtimes' entry points (`_HANDLER` in `LAMBDA_TASK_ROOT`, as Lambda sets them).
const PYTHON_BOOTSTRAP: &str = include_str!("lambda_bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("lambda_bootstrap.js");

/// A handler setting: the function's directory and `module.function` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub dir: PathBuf,
    pub name: String,
}

impl Handler {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (dir, name) = spec
            .rsplit_once(':')
            .ok_or_else(|| format!("handler {spec:?}: write DIR:module.function"))?;
        let ok = name
            .rsplit_once('.')
            .is_some_and(|(m, f)| !m.is_empty() && !f.is_empty());
        if dir.is_empty() || !ok {
            return Err(format!("handler {spec:?}: write DIR:module.function"));
        }
        Ok(Self {
            dir: PathBuf::from(dir),
            name: name.to_string(),
        })
    }
}

/// How a function is started: program, arguments and the environment it adds.
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Where a handler's runtime writes a failure's type.
    result: Option<PathBuf>,
    /// A handler's invocation id (its context's request id, on its log lines).
    request_id: Option<String>,
    /// A handler runs in its directory, as Lambda runs one in its task root.
    dir: Option<PathBuf>,
}

impl Launch {
    fn for_function(f: &RotationFunction, step_timeout: Duration) -> Result<Self, String> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let handler = |spec: &str, runtime: &str| -> Result<Vec<(String, String)>, String> {
            let h = Handler::parse(spec)?;
            let name = f.arn.rsplit(':').next().unwrap_or(&f.arn).to_string();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                + step_timeout;
            Ok(vec![
                ("STRONGROOM_LAMBDA_REQUEST_ID".into(), request_id.clone()),
                ("_HANDLER".into(), h.name),
                ("LAMBDA_TASK_ROOT".into(), h.dir.display().to_string()),
                ("AWS_LAMBDA_FUNCTION_NAME".into(), name.clone()),
                ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
                (
                    "AWS_LAMBDA_LOG_GROUP_NAME".into(),
                    format!("/aws/lambda/{name}"),
                ),
                ("AWS_EXECUTION_ENV".into(), format!("AWS_Lambda_{runtime}")),
                // Lambda runs functions in UTC.
                ("TZ".into(), ":UTC".into()),
                ("STRONGROOM_LAMBDA_ARN".into(), f.arn.clone()),
                (
                    "STRONGROOM_LAMBDA_DEADLINE_MS".into(),
                    deadline.as_millis().to_string(),
                ),
            ])
        };
        let result = || {
            std::env::temp_dir().join(format!("strongroom-lambda-{}.json", uuid::Uuid::new_v4()))
        };
        if let Some(spec) = &f.python_handler {
            let mut env = handler(spec, "python3")?;
            env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
            return Ok(Self {
                program: f.python.clone().unwrap_or_else(|| "python3".into()),
                args: vec!["-c".into(), PYTHON_BOOTSTRAP.into()],
                env,
                result: Some(result()),
                request_id: Some(request_id),
                dir: Some(Handler::parse(spec)?.dir),
            });
        }
        if let Some(spec) = &f.node_handler {
            let mut env = handler(spec, "nodejs")?;
            if let Some(p) = &f.node_path {
                env.push(("NODE_PATH".into(), p.display().to_string()));
            }
            return Ok(Self {
                program: f.node.clone().unwrap_or_else(|| "node".into()),
                args: vec!["-e".into(), NODE_BOOTSTRAP.into()],
                env,
                result: Some(result()),
                request_id: Some(request_id),
                dir: Some(Handler::parse(spec)?.dir),
            });
        }
        let (program, args) = f
            .command
            .split_first()
            .ok_or("the function's command is empty")?;
        Ok(Self {
            program: program.into(),
            args: args.to_vec(),
            env: Vec::new(),
            result: None,
            request_id: None,
            dir: None,
        })
    }
}

/// Everything a rotation needs: the service it rotates in, where its events go, the
/// functions and how they reach the server.
pub struct Runner {
    pub secretsmanager: Arc<SecretsManager>,
    pub audit: Arc<Auditor>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub functions: Vec<RotationFunction>,
    pub directory: Arc<Directory>,
    /// The server's own endpoint, as the functions reach it.
    pub endpoint: String,
    /// The server's certificate, for functions calling back over TLS.
    pub ca_file: Option<PathBuf>,
    pub region: String,
    /// Secrets whose rotation is running here: one at a time per secret (a retried
    /// RotateSecret with the same token, or the schedule, must not start a second run).
    pub running: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Marks a secret's rotation as running until dropped.
struct Running<'a>(&'a Runner, String);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

/// Connect RotateSecret to the runner; returns the queue's receiving end.
pub fn connect(
    secretsmanager: &SecretsManager,
    functions: &[RotationFunction],
    node: &str,
) -> mpsc::UnboundedReceiver<RotationJob> {
    let (tx, rx) = mpsc::unbounded_channel();
    let longest_step_secs = functions.iter().map(|f| f.timeout_secs).max().unwrap_or(0);
    secretsmanager.set_rotation_queue(RotationQueue {
        functions: functions.iter().map(|f| f.arn.clone()).collect(),
        jobs: tx,
        // Four steps at their timeout, and a margin for what runs between them and for the
        // nodes' clocks (another node compares a claim with its own).
        run_bound_ms: (4 * longest_step_secs as i64 + 15) * 1000,
        node: node.to_string(),
    });
    rx
}

/// Run rotations as they are started, and start scheduled ones every `every`.
pub async fn rotation_loop(
    runner: Arc<Runner>,
    mut jobs: mpsc::UnboundedReceiver<RotationJob>,
    leadership: Arc<crate::cluster::Leadership>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(job) = jobs.recv() => {
                tokio::spawn(run(runner.clone(), job));
            }
            // Scheduled rotations: one node of a cluster starts them (RotateSecret runs where
            // it was called).
            _ = tick.tick() => {
                if !leadership.is_leader() {
                    continue;
                }
                let due = leadership.fenced(runner.secretsmanager.start_due_rotations()).await;
                for job in due {
                    tokio::spawn(run(runner.clone(), job));
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn run(runner: Arc<Runner>, job: RotationJob) {
    let fresh = runner
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(job.secret_arn.clone());
    if !fresh {
        tracing::debug!(secret_arn = %job.secret_arn, "rotation already running");
        if job.test_only {
            // Not run: its copy must not linger as if a rotation were in progress.
            runner.secretsmanager.end_test(&job).await;
        }
        return;
    }
    let _running = Running(&runner, job.secret_arn.clone());
    let resource = || CallResource {
        arn: job.secret_arn.clone(),
        kind: SECRET_RESOURCE_TYPE,
        name: Some(job.secret_name.clone()),
    };
    let event = |name: &str, details: serde_json::Value| {
        let runner = runner.clone();
        let name = name.to_string();
        let resource = resource();
        async move {
            runner
                .audit
                .service_event(
                    &runner.region,
                    "secretsmanager",
                    &name,
                    details,
                    Some(resource),
                    runner.clock.now_ms(),
                )
                .await;
        }
    };
    if job.test_only {
        // RotateImmediately=false: the configuration test. Nothing rotates; a failure is
        // recorded so the operator learns the configuration is broken before the schedule does.
        let tested = run_steps(&runner, &job).await;
        runner.secretsmanager.end_test(&job).await;
        match tested {
            Ok(()) => {
                tracing::info!(secret_arn = %job.secret_arn, "rotation configuration test passed")
            }
            Err(reason) => {
                tracing::warn!(secret_arn = %job.secret_arn, reason, "rotation configuration test failed");
                event(
                    "RotationFailed",
                    serde_json::json!({"secretArn": job.secret_arn, "versionId": job.token,
                        "reason": format!("configuration test (RotateImmediately=false): {reason}")}),
                )
                .await;
            }
        }
        return;
    }
    event(
        "RotationStarted",
        serde_json::json!({"secretArn": job.secret_arn, "versionId": job.token, "rotationLambdaARN": job.lambda_arn}),
    )
    .await;
    let steps = run_steps(&runner, &job).await;
    let outcome = runner
        .secretsmanager
        .finish_rotation(&job, steps.is_ok())
        .await;
    match outcome {
        Outcome::Succeeded => {
            runner.metrics.rotation("succeeded");
            tracing::info!(secret_arn = %job.secret_arn, version_id = %job.token, "rotation succeeded");
            event(
                "RotationSucceeded",
                serde_json::json!({"secretArn": job.secret_arn, "versionId": job.token}),
            )
            .await;
        }
        Outcome::Abandoned => {
            // Its RotationAbandoned event came with the write that abandoned it.
            runner.metrics.rotation("abandoned");
            tracing::info!(secret_arn = %job.secret_arn, version_id = %job.token, "rotation abandoned by a manual change");
        }
        Outcome::Failed => {
            runner.metrics.rotation("failed");
            let reason = match steps {
                Err(e) => e,
                Ok(()) => "finishSecret did not make the new version AWSCURRENT".to_string(),
            };
            tracing::warn!(secret_arn = %job.secret_arn, version_id = %job.token, reason, "rotation failed");
            event(
                "RotationFailed",
                serde_json::json!({"secretArn": job.secret_arn, "versionId": job.token, "reason": reason}),
            )
            .await;
        }
    }
}

/// The function's four steps, in order; `Err` names the step that failed and why (never the
/// function's output).
async fn run_steps(runner: &Runner, job: &RotationJob) -> Result<(), String> {
    let function = runner
        .functions
        .iter()
        .find(|f| f.arn == job.lambda_arn)
        .ok_or_else(|| format!("no rotation function {} is configured", job.lambda_arn))?;
    if let Some(name) = &function.builtin {
        let kind = builtin::Builtin::parse(name)?;
        let tls = builtin::DbTls::parse(kind, function.tls.as_deref(), function.ca_file.clone())?;
        let run = async {
            if job.test_only {
                builtin::test(&runner.secretsmanager, kind, &tls, job).await
            } else {
                builtin::rotate(
                    &runner.secretsmanager,
                    kind,
                    &tls,
                    function.master_secret.as_deref(),
                    job,
                )
                .await
            }
        };
        return tokio::time::timeout(Duration::from_secs(function.timeout_secs * 4), run)
            .await
            .map_err(|_| {
                format!(
                    "the rotation ran longer than {} s",
                    function.timeout_secs * 4
                )
            })?;
    }
    let role_arn = function.role_arn.as_deref().unwrap_or_default();
    let role_name = role_arn
        .rsplit_once(":role/")
        .map(|(_, path)| path.rsplit('/').next().unwrap_or(path).to_string())
        .ok_or_else(|| format!("role-arn {role_arn} is not a role ARN"))?;
    // IAM is per partition: a role ARN of another one names no role here.
    if strongroom_domain::partition::arn_partition(role_arn) != Some(runner.directory.partition()) {
        return Err(format!("role {role_arn} does not exist"));
    }
    // As Lambda: the role must exist and trust the Lambda service to assume it.
    let trust = runner
        .directory
        .trust_policy(&role_name)
        .ok_or_else(|| format!("role {role_arn} does not exist"))?;
    if !lambda_may_assume(&trust, role_arn, runner.directory.account_id()) {
        return Err(format!(
            "role {role_arn} does not trust lambda.amazonaws.com to assume it (its trust policy must allow Principal {{\"Service\": \"lambda.amazonaws.com\"}} sts:AssumeRole)",
        ));
    }
    // Long enough for every step to run out its timeout (AssumeRole's bounds: 15 min–12 h).
    let duration = (function.timeout_secs as i64 * 4 + 60).clamp(900, 43_200);
    let (session, token) = runner
        .directory
        .issue_session(
            Subject::Role {
                name: role_name,
                session_name: "strongroom-rotation".into(),
            },
            Default::default(),
            runner.clock.now_ms(),
            duration,
        )
        .map_err(|e| format!("cannot issue credentials for {role_arn}: {e:?}"))?;
    let steps: &[&str] = if job.test_only {
        &["testSecret"]
    } else {
        &STEPS
    };
    for step in steps {
        let event = serde_json::json!({
            "SecretId": job.secret_arn,
            "ClientRequestToken": job.token,
            "Step": step,
        })
        .to_string();
        invoke(
            runner,
            function,
            &event,
            &session.access_key_id,
            &session.secret_access_key,
            &token,
        )
        .await
        .map_err(|e| format!("step {step}: {e}"))?;
    }
    Ok(())
}

/// Whether a role's trust policy lets the Lambda service assume it.
fn lambda_may_assume(trust: &strongroom_policy::Policy, role_arn: &str, account: &str) -> bool {
    use strongroom_policy::eval::{Named, PolicySet, RequestContext};
    let ctx = RequestContext {
        action: "sts:AssumeRole".into(),
        resource: role_arn.into(),
        principal_arn: "lambda.amazonaws.com".into(),
        principal_aliases: Vec::new(),
        principal_account: account.into(),
        resource_account: account.into(),
        // A service principal acting for the resource owner passes its account
        // (aws:SourceAccount; AWS's own Lambda trust policy examples test it).
        keys: [("aws:sourceaccount".to_string(), vec![account.to_string()])]
            .into_iter()
            .collect(),
        facts: None,
    };
    let set = PolicySet {
        resource: Some(Named {
            name: "trust policy",
            policy: trust,
        }),
        resource_rule: strongroom_policy::ResourceRule::Required,
        ..Default::default()
    };
    strongroom_policy::evaluate(&ctx, &set).is_allowed()
}

async fn invoke(
    runner: &Runner,
    function: &RotationFunction,
    event: &str,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: &str,
) -> Result<(), String> {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let launch = Launch::for_function(function, Duration::from_secs(function.timeout_secs))?;
    let program = launch.program.display().to_string();
    let mut cmd = match setpriv() {
        // Dies with this server (see `setpriv`).
        Some(setpriv) => {
            let mut cmd = tokio::process::Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL", "--"]).arg(&launch.program);
            cmd
        }
        None => tokio::process::Command::new(&launch.program),
    };
    cmd.args(&launch.args).env_clear();
    // Only what a program needs to start, plus the function's own settings.
    for keep in [
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "VIRTUAL_ENV",
        "PYTHONPATH",
    ] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    // The function's own variables first: what the runtime sets below can't be overridden
    // (the reserved keys are refused when the configuration is read, as Lambda refuses them).
    cmd.envs(&function.environment);
    cmd.env("AWS_ACCESS_KEY_ID", access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret_access_key)
        .env("AWS_SESSION_TOKEN", session_token)
        .env("AWS_REGION", &runner.region)
        .env("AWS_DEFAULT_REGION", &runner.region)
        .env("AWS_ENDPOINT_URL", &runner.endpoint)
        .env("SECRETS_MANAGER_ENDPOINT", &runner.endpoint)
        .env("STRONGROOM_ROTATION_EVENT", event)
        .envs(launch.env.iter().map(|(k, v)| (k, v)));
    if let Some(path) = &launch.result {
        cmd.env("STRONGROOM_LAMBDA_RESULT", path);
    }
    if let Some(dir) = &launch.dir {
        cmd.current_dir(dir);
    }
    if let Some(ca) = &runner.ca_file {
        cmd.env("AWS_CA_BUNDLE", ca);
    }
    let (out, err) = match &function.log_file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log-file {}: {e}", path.display()))?;
            let g = f.try_clone().map_err(|e| e.to_string())?;
            (Stdio::from(f), Stdio::from(g))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(event.as_bytes()).await;
    }
    let waited =
        tokio::time::timeout(Duration::from_secs(function.timeout_secs), child.wait()).await;
    // A handler's runtime names the exception that failed it (only its type: see the module
    // docs).
    let raised = match &launch.result {
        Some(path) => {
            let kind = std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("errorType")?.as_str().map(str::to_string));
            let _ = std::fs::remove_file(path);
            kind
        }
        None => None,
    };
    match waited {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(_)) if raised.is_some() => Err(format!(
            "the handler raised {} (its traceback is in the function's log)",
            raised.unwrap_or_default()
        )),
        Ok(Ok(status)) => Err(format!("the function exited with {status}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            // As Lambda: the peak memory is the process's, read before it goes.
            let max_kb = child.id().and_then(peak_rss_kb);
            let _ = child.kill().await;
            if let (Some(path), Some(id)) = (&function.log_file, &launch.request_id) {
                let lines = timeout_lines(id, function.timeout_secs, max_kb, &now_rfc3339());
                let appended = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, lines.as_bytes()));
                if let Err(e) = appended {
                    tracing::warn!(log_file = %path.display(), error = %e, "could not log a handler's timeout");
                }
            }
            Err(format!(
                "the function ran longer than {} s",
                function.timeout_secs
            ))
        }
    }
}

/// util-linux's `setpriv`, which functions are started through so that they die with this
/// server: a node killed with SIGKILL runs no cleanup, and a step it left running would go on
/// writing while another node resumes the rotation once its claim runs out. `--pdeathsig
/// KILL` sets Linux's parent-death signal and execs the function (same process, so timeouts
/// and peak memory still see it) — without an `unsafe` `pre_exec` here. Linux sends it when
/// the *thread* that started the child ends: functions are started from the runtime's worker
/// threads, which live as long as the server. Without setpriv (not Linux, or no util-linux)
/// functions start directly, and a warning says they can outlive a killed server.
fn setpriv() -> Option<&'static Path> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let found = std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("setpriv"))
                    .find(|p| p.is_file())
            });
            if found.is_none() {
                tracing::warn!(
                    "setpriv (util-linux) not found: rotation functions can outlive a killed server"
                );
            }
            found
        })
        .as_deref()
}

/// What Lambda logs of an invocation it stopped at its timeout: the timeout line, then END and
/// REPORT (the handler's runtime, killed, writes neither).
fn timeout_lines(request_id: &str, timeout_secs: u64, max_kb: Option<u64>, now: &str) -> String {
    let ms = timeout_secs * 1000;
    let memory = max_kb
        .map(|kb| format!("Max Memory Used: {} MB\t", kb.div_ceil(1024)))
        .unwrap_or_default();
    format!(
        "{now} {request_id} Task timed out after {timeout_secs}.00 seconds\n\
         END RequestId: {request_id}\n\
         REPORT RequestId: {request_id}\tDuration: {ms}.00 ms\tBilled Duration: {ms} ms\t\
         Memory Size: 128 MB\t{memory}\n"
    )
}

/// A process's peak resident memory (Linux's VmHWM), in KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Now as Lambda's log lines write it: RFC 3339 in UTC, milliseconds.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

#[cfg(test)]
mod handler_tests {
    use super::*;

    #[test]
    fn a_stopped_invocation_is_logged_as_lambda_logs_a_timeout() {
        let lines = timeout_lines("r-1", 3, Some(40_000), "2026-12-06T00:00:03.004Z");
        assert_eq!(
            lines,
            "2026-12-06T00:00:03.004Z r-1 Task timed out after 3.00 seconds\n\
             END RequestId: r-1\n\
             REPORT RequestId: r-1\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t\
             Memory Size: 128 MB\tMax Memory Used: 40 MB\t\n"
        );
        assert!(!timeout_lines("r", 1, None, "t").contains("Max Memory"));
        // This process's own peak, read as a handler's is.
        assert!(peak_rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
    }

    fn function(toml: &str) -> RotationFunction {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn handlers_are_dir_module_function() {
        assert_eq!(
            Handler::parse("/opt/fn:lambda_function.lambda_handler"),
            Ok(Handler {
                dir: "/opt/fn".into(),
                name: "lambda_function.lambda_handler".into()
            })
        );
        for bad in [
            "lambda_function.lambda_handler",
            "/opt/fn:handler",
            ":m.f",
            "/d:.f",
        ] {
            assert!(Handler::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_handler_needs_its_role_and_is_the_only_kind() {
        let ok = function(
            "arn = \"a\"\npython-handler = \"/d:m.f\"\nrole-arn = \"arn:aws:iam::1:role/r\"\n",
        );
        assert_eq!(ok.check(), Ok(()));
        let no_role = function("arn = \"a\"\nnode-handler = \"/d:index.handler\"\n");
        assert!(no_role.check().unwrap_err().contains("role-arn"));
        let two = function(
            "arn = \"a\"\npython-handler = \"/d:m.f\"\ncommand = [\"x\"]\nrole-arn = \"r\"\n",
        );
        assert!(two.check().unwrap_err().contains("one of"));
        let stray = function(
            "arn = \"a\"\ncommand = [\"x\"]\npython = \"/v/bin/python\"\nrole-arn = \"r\"\n",
        );
        assert!(stray.check().unwrap_err().contains("python goes with"));
    }
}

#[cfg(test)]
mod environment_tests {
    use super::*;

    fn function(toml: &str) -> RotationFunction {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn a_functions_environment_follows_lambdas_rules() {
        let base =
            "arn = \"a\"\npython-handler = \"/d:m.f\"\nrole-arn = \"arn:aws:iam::1:role/r\"\n";
        let ok = function(&format!(
            "{base}[environment]\nPASSWORD_LENGTH = \"40\"\nEXCLUDE_CHARACTERS = \"/@\"\n"
        ));
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(ok.environment["PASSWORD_LENGTH"], "40");
        let reserved = function(&format!(
            "{base}[environment]\nAWS_REGION = \"eu-west-1\"\n"
        ));
        let err = reserved.check().unwrap_err();
        assert!(
            err.contains("reserved keys") && err.contains("AWS_REGION"),
            "{err}"
        );
        assert!(!err.contains("eu-west-1"), "{err}");
        let builtin = function(
            "arn = \"a\"\nbuiltin = \"postgresql-single-user\"\n[environment]\nX_Y = \"1\"\n",
        );
        assert!(builtin.check().unwrap_err().contains("not built-in"));
    }
}

#[cfg(test)]
mod trust_tests {
    #[test]
    fn lambda_assumes_with_its_source_account() {
        let trust = |account: &str| {
            strongroom_policy::parse(
                &format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"lambda.amazonaws.com"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:SourceAccount":"{account}"}}}}}}]}}"#
                ),
                strongroom_policy::PolicyKind::Trust,
            )
            .unwrap()
        };
        let role = "arn:aws:iam::123456789012:role/rotation";
        assert!(super::lambda_may_assume(
            &trust("123456789012"),
            role,
            "123456789012"
        ));
        assert!(!super::lambda_may_assume(
            &trust("210987654321"),
            role,
            "123456789012"
        ));
    }
}
