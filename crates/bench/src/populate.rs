//! `strongroom-bench populate`: fill a running server with many secrets and parameters through
//! the real signed API, for scale measurements (issue 13: a million of each).
//!
//! Names are numbered, so a run is idempotent: a secret or parameter that exists is skipped
//! (ResourceExistsException / ParameterAlreadyExists), and an interrupted run is resumed by
//! running it again. Secrets are spread over groups of 1,000 names (`PREFIX/gNNNN/...`) and
//! parameters over paths of 1,000 (`/PREFIX/pNNNN/...`), so name-prefix filters and
//! GetParametersByPath have realistic ranges to find.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{ACCESS_KEY, SECRET_KEY, Signer};

#[derive(clap::Args)]
pub struct PopulateArgs {
    /// The running server (root credentials of the bench, as `--endpoint` of a benchmark).
    #[arg(long)]
    endpoint: String,
    /// How many secrets there should be.
    #[arg(long, default_value_t = 0)]
    secrets: u64,
    /// How many parameters there should be.
    #[arg(long, default_value_t = 0)]
    parameters: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The first part of every name.
    #[arg(long, default_value = "scale")]
    prefix: String,
}

/// The name of secret `i` (also used by the scale measurements to read one).
pub fn secret_name(prefix: &str, i: u64) -> String {
    format!("{prefix}/g{:04}/secret-{i:07}", i / 1000)
}

pub fn parameter_name(prefix: &str, i: u64) -> String {
    format!("/{prefix}/p{:04}/param-{i:07}", i / 1000)
}

#[derive(Default)]
struct Counts {
    created: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
}

enum Outcome {
    Created,
    Skipped,
    Failed(String),
}

/// One create, retried on what a busy server answers (throttling, 5xx, a dropped connection).
async fn create(signer: &Signer, prefix: &str, i: u64, secrets: u64) -> Outcome {
    let (service, target, body, exists) = if i < secrets {
        let name = secret_name(prefix, i);
        (
            "secretsmanager",
            "secretsmanager.CreateSecret",
            format!(
                r#"{{"Name":"{name}","Description":"scale test secret {i}","SecretString":"{{\"username\":\"user{i}\",\"password\":\"pw-{:016x}\"}}","Tags":[{{"Key":"team","Value":"t{:02}"}}]}}"#,
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                i % 100
            ),
            "ResourceExistsException",
        )
    } else {
        let j = i - secrets;
        let name = parameter_name(prefix, j);
        (
            "ssm",
            "AmazonSSM.PutParameter",
            format!(r#"{{"Name":"{name}","Value":"value-{j}","Type":"String"}}"#),
            "ParameterAlreadyExists",
        )
    };
    let mut delay = Duration::from_millis(50);
    let mut last = String::new();
    for _ in 0..8 {
        match signer
            .send(service, "application/x-amz-json-1.1", Some(target), &body)
            .await
        {
            Ok((200, _)) => return Outcome::Created,
            Ok((400, b)) if String::from_utf8_lossy(&b).contains(exists) => {
                return Outcome::Skipped;
            }
            Ok((status, b)) => {
                let text = String::from_utf8_lossy(&b).to_string();
                let retry = status >= 500 || text.contains("Throttling");
                last = format!("{status} {text}");
                if !retry {
                    return Outcome::Failed(last);
                }
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    Outcome::Failed(last)
}

pub async fn run(args: &PopulateArgs) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency.max(1))
        .build(connector);
    let signer = Signer {
        targets: Arc::new(vec![(
            args.endpoint.clone(),
            args.endpoint.trim_start_matches("http://").to_string(),
        )]),
        next: Default::default(),
        client,
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        agent: None,
    };
    let total = args.secrets + args.parameters;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let next = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (signer, next, counts, bar) =
            (signer.clone(), next.clone(), counts.clone(), bar.clone());
        let prefix = args.prefix.clone();
        let secrets = args.secrets;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                match create(&signer, &prefix, i, secrets).await {
                    Outcome::Created => counts.created.fetch_add(1, Ordering::Relaxed),
                    Outcome::Skipped => counts.skipped.fetch_add(1, Ordering::Relaxed),
                    Outcome::Failed(e) => {
                        // A few are reported; the count tells the rest.
                        if counts.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            bar.println(format!("item {i} failed: {e}"));
                        }
                        0
                    }
                };
                bar.inc(1);
                if i % 256 == 0 {
                    bar.set_message(format!(
                        "created {} skipped {} failed {}",
                        counts.created.load(Ordering::Relaxed),
                        counts.skipped.load(Ordering::Relaxed),
                        counts.failed.load(Ordering::Relaxed)
                    ));
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("a populate worker panicked");
    }
    bar.finish();
    let secs = started.elapsed().as_secs_f64();
    let created = counts.created.load(Ordering::Relaxed);
    println!(
        "populate: {} secrets + {} parameters: created {created} ({:.0}/s), skipped {}, failed {} in {secs:.0} s",
        args.secrets,
        args.parameters,
        created as f64 / secs.max(0.001),
        counts.skipped.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    if counts.failed.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
}
