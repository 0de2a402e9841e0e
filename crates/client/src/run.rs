//! `strongroom run [OPTIONS] -- COMMAND ARGS...`: start COMMAND with secrets in its
//! environment; nothing is written to disk.
//!
//! Environment, lowest to highest precedence: the inherited one (unless `--no-inherit`),
//! `--env-file` (dotenv), an ECS task definition's `environment`, then the resolved values
//! (`--path`, the task definition's `secrets`, `--secret`). Anything that does not resolve stops
//! the launch: exit code 2, each failure named by variable and why — never with a value.
//!
//! Without `--watch` the command replaces this process (exec), so its exit code and signals are
//! its own. With `--watch` this process stays as the parent: the child runs in its own process
//! group, SIGTERM/SIGINT/SIGHUP are forwarded to it, its exit code is passed through (128 +
//! signal when a signal ended it), and it is restarted (SIGTERM, SIGKILL after the grace
//! period) when the AWSCURRENT version of an injected secret (or an injected parameter's
//! version) changes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::aws::{AwsArgs, code, describe};
use crate::reference::Reference;
use crate::resolve::{Resolver, select_key};
use crate::value_from::{self, ValueFrom};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// NAME=VALUE_FROM, VALUE_FROM as ECS reads it (a secret ARN, optionally
    /// `:JSON-KEY:VERSION-STAGE:VERSION-ID`; an SSM parameter name or ARN) or NAME:JSON-KEY.
    #[arg(long = "secret", value_name = "NAME=VALUE_FROM")]
    pub secrets: Vec<String>,
    /// An ECS task definition (JSON; also `aws ecs describe-task-definition` output).
    #[arg(long, requires = "container")]
    pub ecs_task_definition: Option<PathBuf>,
    /// The container of the task definition whose `secrets` and `environment` to apply.
    #[arg(long)]
    pub container: Option<String>,
    /// Every parameter under this path, as NAME = last path segment upper-cased,
    /// non-alphanumerics as `_`.
    #[arg(long)]
    pub path: Vec<String>,
    /// With --path: the whole hierarchy below it.
    #[arg(long)]
    pub recursive: bool,
    /// A dotenv file, merged under the resolved values.
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Start from an empty environment instead of this one.
    #[arg(long)]
    pub no_inherit: bool,
    /// Restart the command when an injected secret's AWSCURRENT changes.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: seconds between checks.
    #[arg(long, default_value_t = 5)]
    pub watch_interval: u64,
    /// With --watch: seconds between SIGTERM and SIGKILL when restarting or stopping.
    #[arg(long, default_value_t = 10)]
    pub grace_period: u64,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Where an injected value came from, to notice when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Secret(String),
    Parameter(String),
}

/// The environment to start the command with, and what to watch.
struct Resolved {
    env: BTreeMap<String, Zeroizing<String>>,
    watched: Vec<Source>,
}

/// Exit code when something does not resolve (the command is never started).
const UNRESOLVED: u8 = 2;

pub async fn run(args: RunArgs) -> u8 {
    let config = match crate::aws::load(&args.aws).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strongroom run: {e}");
            return UNRESOLVED;
        }
    };
    let resolver = Resolver::new(&config);
    let sts = aws_sdk_sts::Client::new(&config);
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    let resolved = match resolve_all(&args, &resolver, &sts, &region).await {
        Ok(r) => r,
        Err(failures) => {
            for f in &failures {
                eprintln!("strongroom run: {f}");
            }
            eprintln!("strongroom run: {} not started", args.command[0]);
            return UNRESOLVED;
        }
    };
    if !args.watch {
        return exec(&args, &resolved.env);
    }
    watch(&args, &resolver, &sts, &region, resolved).await
}

async fn resolve_all(
    args: &RunArgs,
    resolver: &Resolver,
    sts: &aws_sdk_sts::Client,
    region: &str,
) -> Result<Resolved, Vec<String>> {
    let mut failures = Vec::new();
    let mut env: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
    let mut watched = Vec::new();
    if !args.no_inherit {
        for (k, v) in std::env::vars_os() {
            if let (Some(k), Some(v)) = (k.to_str(), v.to_str()) {
                env.insert(k.to_string(), Zeroizing::new(v.to_string()));
            }
        }
    }
    for file in &args.env_file {
        match dotenvy::from_path_iter(file) {
            Ok(iter) => {
                for item in iter {
                    match item {
                        Ok((k, v)) => {
                            env.insert(k, Zeroizing::new(v));
                        }
                        Err(e) => failures.push(format!("{}: {e}", file.display())),
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    // NAME -> valueFrom, in the order given (later wins).
    let mut wanted: Vec<(String, String)> = Vec::new();
    if let Some(file) = &args.ecs_task_definition {
        let container = args.container.as_deref().unwrap_or_default();
        match task_definition(file, container) {
            Ok((environment, secrets)) => {
                for (k, v) in environment {
                    env.insert(k, Zeroizing::new(v));
                }
                let account = if secrets.iter().any(|(_, v)| v.contains("${account-id}")) {
                    match sts.get_caller_identity().send().await {
                        Ok(id) => id.account().unwrap_or_default().to_string(),
                        Err(e) => {
                            failures.push(format!(
                                "cannot learn the account id for ${{account-id}}: {}",
                                describe(&e)
                            ));
                            String::new()
                        }
                    }
                } else {
                    String::new()
                };
                for (name, value_from) in secrets {
                    let v = value_from
                        .replace("${region}", region)
                        .replace("${account-id}", &account);
                    wanted.push((name, v));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    for s in &args.secrets {
        match s.split_once('=') {
            Some((name, v)) if !name.is_empty() => wanted.push((name.to_string(), v.to_string())),
            _ => failures.push(format!("--secret {s}: expected NAME=VALUE_FROM")),
        }
    }
    for path in &args.path {
        match by_path(resolver, path, args.recursive).await {
            Ok(params) => {
                let mut seen: BTreeMap<String, String> = BTreeMap::new();
                for (name, value) in params {
                    let var = variable_name(&name);
                    if let Some(other) = seen.insert(var.clone(), name.clone()) {
                        failures.push(format!(
                            "--path {path}: parameters {other} and {name} both map to the variable {var}"
                        ));
                    }
                    watched.push(Source::Parameter(name));
                    env.insert(var, value);
                }
            }
            Err(e) => failures.push(format!("--path {path}: {e}")),
        }
    }
    // Resolve every valueFrom: secrets in one batch where possible.
    let mut parsed = Vec::new();
    for (name, v) in &wanted {
        match value_from::parse(v) {
            Ok(p) => parsed.push((name.clone(), p)),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let refs: Vec<Reference> = parsed
        .iter()
        .filter_map(|(_, p)| match p {
            ValueFrom::Secret(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let (values, _) = resolver.resolve(&refs).await;
    for (name, p) in parsed {
        let outcome = match &p {
            ValueFrom::Secret(r) => {
                if let Reference::Secret { secret_id, .. } = r {
                    watched.push(Source::Secret(secret_id.clone()));
                }
                values
                    .get(r)
                    .cloned()
                    .unwrap_or_else(|| Err("not resolved".into()))
                    .map_err(|why| {
                        format!(
                            "secret '{}': {why}{}",
                            r.target(),
                            partial_arn_hint(r.target(), &why)
                        )
                    })
            }
            ValueFrom::Parameter(n) => {
                watched.push(Source::Parameter(n.clone()));
                parameter(resolver, n)
                    .await
                    .map_err(|why| format!("parameter '{n}': {why}"))
            }
            ValueFrom::ParameterOrSecret(n) => match parameter(resolver, n).await {
                Ok(v) => {
                    watched.push(Source::Parameter(n.clone()));
                    Ok(v)
                }
                Err(why) if why.starts_with("ParameterNotFound") => {
                    watched.push(Source::Secret(n.clone()));
                    whole_secret(resolver, n).await.map_err(|e| {
                        format!("neither a parameter nor a secret is named '{n}': {e}")
                    })
                }
                Err(why) => Err(format!("parameter '{n}': {why}")),
            },
        };
        match outcome {
            Ok(v) => {
                env.insert(name, v);
            }
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    if failures.is_empty() {
        Ok(Resolved { env, watched })
    } else {
        Err(failures)
    }
}

/// Secrets Manager reads an ARN whose name ends in `-` and six letters or digits as a full ARN
/// (AWS documents this trap): a partial ARN for `auth-service-prod-config` finds nothing, on
/// AWS as here. Say so, since seed-style task definitions use such partial ARNs.
fn partial_arn_hint(id: &str, why: &str) -> &'static str {
    let looks_full = id.starts_with("arn:")
        && id
            .rsplit(':')
            .next()
            .and_then(|name| name.len().checked_sub(7).map(|i| &name[i..]))
            .is_some_and(|tail| {
                tail.starts_with('-') && tail[1..].chars().all(|c| c.is_ascii_alphanumeric())
            });
    if looks_full && why.starts_with("ResourceNotFoundException") {
        " (this partial ARN's name ends in '-' and six letters or digits, so Secrets Manager reads it as a complete ARN; give the complete ARN, with its random suffix, or the secret's name)"
    } else {
        ""
    }
}

/// `environment` (NAME, value) and `secrets` (NAME, valueFrom) of one container.
#[allow(clippy::type_complexity)]
fn task_definition(
    file: &std::path::Path,
    container: &str,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
    let def = doc.get("taskDefinition").unwrap_or(&doc);
    let containers = def["containerDefinitions"]
        .as_array()
        .ok_or_else(|| format!("{}: no containerDefinitions", file.display()))?;
    let c = containers
        .iter()
        .find(|c| c["name"].as_str() == Some(container))
        .ok_or_else(|| {
            let names: Vec<&str> = containers
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            format!(
                "{}: no container named '{container}' (there are: {})",
                file.display(),
                names.join(", ")
            )
        })?;
    let pairs = |list: &serde_json::Value, value_key: &str| -> Vec<(String, String)> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["name"].as_str()?.to_string(),
                    e[value_key].as_str()?.to_string(),
                ))
            })
            .collect()
    };
    Ok((
        pairs(&c["environment"], "value"),
        pairs(&c["secrets"], "valueFrom"),
    ))
}

/// `/app/prod/db-host` → `DB_HOST`.
pub fn variable_name(parameter: &str) -> String {
    let last = parameter.rsplit('/').next().unwrap_or(parameter);
    last.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

async fn by_path(
    resolver: &Resolver,
    path: &str,
    recursive: bool,
) -> Result<Vec<(String, Zeroizing<String>)>, String> {
    let mut out = Vec::new();
    let mut pages = resolver
        .ssm
        .get_parameters_by_path()
        .path(path)
        .recursive(recursive)
        .with_decryption(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e))?;
        for p in page.parameters() {
            out.push((
                p.name().unwrap_or_default().to_string(),
                Zeroizing::new(p.value().unwrap_or_default().to_string()),
            ));
        }
    }
    Ok(out)
}

async fn parameter(resolver: &Resolver, name: &str) -> Result<Zeroizing<String>, String> {
    match resolver
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(r) => Ok(Zeroizing::new(
            r.parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_string(),
        )),
        Err(e) => Err(match code(&e).as_deref() {
            Some("ParameterNotFound") => "ParameterNotFound: no such parameter".to_string(),
            _ => describe(&e),
        }),
    }
}

async fn whole_secret(resolver: &Resolver, id: &str) -> Result<Zeroizing<String>, String> {
    let r = resolver
        .sm
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let s = r
        .secret_string()
        .ok_or("the secret has no SecretString (only SecretBinary)")?;
    select_key(s, None)
}

/// Replace this process with the command (Unix exec).
fn exec(args: &RunArgs, env: &BTreeMap<String, Zeroizing<String>>) -> u8 {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..]).env_clear();
    for (k, v) in env {
        cmd.env(k, v.as_str());
    }
    let err = cmd.exec();
    eprintln!("strongroom run: cannot start {}: {err}", args.command[0]);
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

fn spawn(
    args: &RunArgs,
    env: &BTreeMap<String, Zeroizing<String>>,
) -> std::io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..]).env_clear().process_group(0);
    for (k, v) in env {
        cmd.env(k, v.as_str());
    }
    cmd.spawn()
}

fn signal_group(child: &tokio::process::Child, sig: rustix::process::Signal) {
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

/// SIGTERM, then SIGKILL after the grace period; the exit status.
async fn stop(
    child: &mut tokio::process::Child,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    signal_group(child, rustix::process::Signal::TERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            signal_group(child, rustix::process::Signal::KILL);
            child.wait().await.ok()
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => 1,
    }
}

/// The current version of everything injected, to compare between checks.
async fn versions(resolver: &Resolver, watched: &[Source]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for w in watched {
        out.push(match w {
            Source::Secret(id) => resolver
                .sm
                .describe_secret()
                .secret_id(id)
                .send()
                .await
                .ok()
                .and_then(|d| {
                    d.version_ids_to_stages().and_then(|m| {
                        m.iter()
                            .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                            .map(|(v, _)| v.clone())
                    })
                }),
            Source::Parameter(name) => resolver
                .ssm
                .get_parameter()
                .name(name)
                .send()
                .await
                .ok()
                .and_then(|r| r.parameter().map(|p| p.version().to_string())),
        });
    }
    out
}

async fn watch(
    args: &RunArgs,
    resolver: &Resolver,
    sts: &aws_sdk_sts::Client,
    region: &str,
    mut resolved: Resolved,
) -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    let grace = Duration::from_secs(args.grace_period);
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        eprintln!("strongroom run: cannot install signal handlers");
        return 1;
    };
    // The versions are read before the values the command gets, never after: a change that
    // lands between the two is then seen at the first check (at worst one needless restart),
    // instead of being taken as the starting point and missed.
    let mut seen = versions(resolver, &resolved.watched).await;
    if let Ok(fresh) = resolve_all(args, resolver, sts, region).await {
        resolved = fresh;
    }
    let mut child = match spawn(args, &resolved.env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strongroom run: cannot start {}: {e}", args.command[0]);
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(args.watch_interval.max(1)));
    tick.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => {
                return status.map(exit_code).unwrap_or(1);
            }
            _ = term.recv() => signal_group(&child, rustix::process::Signal::TERM),
            _ = int.recv() => signal_group(&child, rustix::process::Signal::INT),
            _ = hup.recv() => signal_group(&child, rustix::process::Signal::HUP),
            _ = tick.tick() => {
                let now = versions(resolver, &resolved.watched).await;
                if now == seen {
                    continue;
                }
                match resolve_all(args, resolver, sts, region).await {
                    Ok(fresh) => {
                        eprintln!("strongroom run: an injected secret changed; restarting {}", args.command[0]);
                        stop(&mut child, grace).await;
                        resolved = fresh;
                        // Read before `fresh` was resolved (see above).
                        seen = now;
                        child = match spawn(args, &resolved.env) {
                            Ok(c) => c,
                            Err(e) => {
                                eprintln!("strongroom run: cannot restart {}: {e}", args.command[0]);
                                return 126;
                            }
                        };
                    }
                    Err(failures) => {
                        // Keep the running command; try again at the next check.
                        for f in &failures {
                            eprintln!("strongroom run: not restarting: {f}");
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameter_names_map_to_variables() {
        assert_eq!(super::variable_name("/app/prod/db-host"), "DB_HOST");
        assert_eq!(super::variable_name("/app/prod/api.key"), "API_KEY");
        assert_eq!(super::variable_name("plain"), "PLAIN");
    }
}
