//! `strongroom-bench`: start a release `strongroom` server on a fresh data dir, then drive
//! GetSecretValue and PutSecretValue with real SigV4-signed requests at several concurrency
//! levels, reporting requests/s and p50/p99 latency as a Markdown table.
//!
//! A request whose body does not change (GetSecretValue of one secret, the listings) is
//! signed once per connection and sent again as it is, as `wrk` replaying a signed request
//! would — the server verifies every one in full (it keeps no verdicts, only derived signing
//! keys) — because signing each request cost the one-core load generator ~35 µs, which made
//! it, not the server under test, the limit. `--sign-each-request` signs every one.
//! Every run is bounded in time.
//!
//! `strongroom-bench populate --endpoint URL --secrets N --parameters M` fills a running
//! server through the same signed API (CreateSecret, PutParameter) for scale measurements;
//! it skips what exists, so an interrupted run is resumed by running it again.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const ACCESS_KEY: &str = "AKIABENCHROOT0000001";
const SECRET_KEY: &str = "bench/secret/key/0123456789abcdefghijklmn";

#[derive(Parser)]
#[command(about = "Benchmark a strongroom server with real signed requests")]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// GetSecretValue reads a random one of the first N secrets `populate` made (names of
    /// `--prefix`) instead of one secret: every read may miss the server's cache.
    #[arg(long, default_value_t = 0)]
    spread: u64,
    /// The names' prefix of `populate`, for `--spread` and the listing operations.
    #[arg(long, default_value = "scale")]
    prefix: String,
    /// Sign every request anew, even one whose body repeats (by default such a request is
    /// signed once per connection and replayed: see the crate's documentation).
    #[arg(long)]
    sign_each_request: bool,
    /// The strongroom binary to start (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/strongroom")]
    server_bin: PathBuf,
    /// Use already running servers at these endpoints instead (root credentials of the
    /// bench); several (comma-separated: the nodes of a cluster) get requests in turn.
    #[arg(long, value_delimiter = ',')]
    endpoint: Option<Vec<String>>,
    /// Seconds per measurement (at least 1: a zero-length measurement reported 0 requests/s
    /// as if it were a figure).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Operations to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "GetSecretValue,PutSecretValue"
    )]
    operations: Vec<String>,
    /// Also measure GetSecretValue on a second server with auditing off (same run), to report
    /// what the audit trail costs.
    #[arg(long)]
    compare_unaudited: bool,
    /// A running `strongroom agent` (e.g. http://127.0.0.1:2773) for the `AgentGetSecretValue`
    /// operation: a plain GET of `bench-get` from its cache with the SSRF token header.
    #[arg(long)]
    agent_endpoint: Option<String>,
    /// The agent's SSRF token.
    #[arg(long, default_value = "bench-agent-token")]
    agent_token: String,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Create many secrets and parameters through the API (resumable: what exists is skipped).
    Populate(populate::PopulateArgs),
}

mod populate;

struct Server(Child, PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn start_server(bin: &PathBuf, extra: &[&str]) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!(
        "strongroom-bench-{}-{}",
        std::process::id(),
        extra.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let child = Command::new(bin)
        .args(["server", "--data-dir"])
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("STRONGROOM_ROOT_ACCESS_KEY_ID", ACCESS_KEY)
        .env("STRONGROOM_ROOT_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("STRONGROOM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    (Server(child, dir), format!("http://127.0.0.1:{port}"))
}

#[derive(Clone)]
struct Signer {
    /// (endpoint, Host header) of each node, used in turn.
    targets: std::sync::Arc<Vec<(String, String)>>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    client: Client<HttpConnector, Full<Bytes>>,
    access_key: String,
    secret_key: String,
    /// (endpoint, token) of an agent for `AgentGetSecretValue`.
    agent: Option<(String, String)>,
}

impl Signer {
    fn with_key(&self, access_key: &str, secret_key: &str) -> Self {
        Self {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            ..self.clone()
        }
    }

    async fn call(&self, op: &str, body: &str) -> Result<(u16, Bytes), String> {
        if op == "AgentGetSecretValue" {
            return self.agent_get().await;
        }
        let target = format!("secretsmanager.{op}");
        self.send(
            "secretsmanager",
            "application/x-amz-json-1.1",
            Some(&target),
            body,
        )
        .await
    }

    /// What application code does against the agent: an unsigned GET with the token header.
    async fn agent_get(&self) -> Result<(u16, Bytes), String> {
        let (endpoint, token) = self.agent.as_ref().ok_or("--agent-endpoint not given")?;
        let req = http::Request::builder()
            .uri(format!("{endpoint}/secretsmanager/get?secretId=bench-get"))
            .header("x-aws-parameters-secrets-token", token)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
        Ok((status, body.to_bytes()))
    }

    /// An IAM Query-protocol action, e.g. ("CreateUser", "UserName=x").
    async fn iam(&self, action: &str, params: &str) -> Result<(u16, Bytes), String> {
        let body = format!("Action={action}&Version=2010-05-08&{params}");
        self.send("iam", "application/x-www-form-urlencoded", None, &body)
            .await
    }

    async fn send(
        &self,
        service: &str,
        content_type: &str,
        target: Option<&str>,
        body: &str,
    ) -> Result<(u16, Bytes), String> {
        let (parts, body) = self.sign(service, content_type, target, body);
        self.dispatch(http::Request::from_parts(parts, Full::new(body)))
            .await
    }

    /// A measured operation's request, signed now (the agent's unsigned GET included).
    async fn measured(&self, op: &str, body: &str) -> Result<(u16, Bytes), String> {
        match route(op) {
            Some((service, target)) => {
                self.send(service, "application/x-amz-json-1.1", Some(&target), body)
                    .await
            }
            None => self.call(op, body).await,
        }
    }

    /// A measured operation's request signed for sending again; `None` for the agent's
    /// unsigned GET.
    fn signed_call(&self, op: &str, body: &str) -> Option<Signed> {
        let (service, target) = route(op)?;
        let (parts, body) = self.sign(service, "application/x-amz-json-1.1", Some(&target), body);
        Some(Signed {
            at: Instant::now(),
            parts,
            body,
        })
    }

    async fn replay(&self, s: &Signed) -> Result<(u16, Bytes), String> {
        let req = http::Request::from_parts(s.parts.clone(), Full::new(s.body.clone()));
        self.dispatch(req).await
    }

    async fn dispatch(&self, req: http::Request<Full<Bytes>>) -> Result<(u16, Bytes), String> {
        let res = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
        Ok((status, body.to_bytes()))
    }

    fn sign(
        &self,
        service: &str,
        content_type: &str,
        target: Option<&str>,
        body: &str,
    ) -> (http::request::Parts, Bytes) {
        let (endpoint, host) = &self.targets
            [self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.targets.len()];
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(format!("{endpoint}/"))
            .header("host", host)
            .header("content-type", content_type);
        if let Some(t) = target {
            builder = builder.header("x-amz-target", t);
        }
        let mut req = builder.body(body.as_bytes().to_vec()).unwrap();
        let identity =
            Credentials::new(&self.access_key, &self.secret_key, None, None, "bench").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            req.uri().to_string(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        let (parts, body) = req.into_parts();
        (parts, Bytes::from(body))
    }
}

/// The service and X-Amz-Target of a measured operation (`None`: the agent's unsigned GET).
/// `ListSecrets(name)` is ListSecrets with a name filter.
fn route(op: &str) -> Option<(&'static str, String)> {
    Some(match op {
        "AgentGetSecretValue" => return None,
        "DescribeParameters" | "GetParametersByPath" => ("ssm", format!("AmazonSSM.{op}")),
        "ListSecrets(name)" => ("secretsmanager", "secretsmanager.ListSecrets".into()),
        _ => ("secretsmanager", format!("secretsmanager.{op}")),
    })
}

/// A signed request kept to be sent again: its signature holds for AWS's 15 minutes of clock
/// skew; it is signed anew after [`REPLAY_FOR`].
struct Signed {
    at: Instant,
    parts: http::request::Parts,
    body: Bytes,
}

const REPLAY_FOR: Duration = Duration::from_secs(60);

struct Measured {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

/// The request of a listing operation (first pages over what `populate` made), if `op` is one.
/// The name-prefix listings read the middle group of 1,000 of the first `spread` names (the
/// first group when `spread` is under 2,000): a group that exists in a small store and a big
/// one alike, so both answer the same page.
fn listing_body(op: &str, prefix: &str, spread: u64) -> Option<String> {
    let group = spread / 2 / 1000;
    Some(match op {
        "ListSecrets" => r#"{"MaxResults":100}"#.to_string(),
        // One group of 1,000 names, by the name index.
        "ListSecrets(name)" => format!(
            r#"{{"MaxResults":100,"SortBy":"name","Filters":[{{"Key":"name","Values":["{prefix}/g{group:04}/"]}}]}}"#
        ),
        "DescribeParameters" => r#"{"MaxResults":50}"#.to_string(),
        "GetParametersByPath" => {
            format!(r#"{{"Path":"/{prefix}/p{group:04}","MaxResults":10}}"#)
        }
        _ => return None,
    })
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    signer: &Signer,
    op: &str,
    concurrency: usize,
    seconds: u64,
    spread: u64,
    prefix: &str,
    sign_each_request: bool,
) -> Measured {
    // A body that never changes is signed once per connection (one node only: a request
    // is signed for its node's Host).
    let fixed_body = match op {
        "PutSecretValue" => None,
        _ => listing_body(op, prefix, spread)
            .or_else(|| (spread == 0).then(|| r#"{"SecretId":"bench-get"}"#.to_string())),
    }
    .filter(|_| !sign_each_request && signer.targets.len() == 1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let signer = signer.clone();
        let op = op.to_string();
        let prefix = prefix.to_string();
        let fixed_body = fixed_body.clone();
        tasks.push(tokio::spawn(async move {
            let mut signed: Option<Signed> = None;
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = 0u64;
            // AWS keeps every version younger than 24 h and refuses a 101st: move to a fresh
            // secret every 90 versions (its creation is not measured).
            let mut generation = 0u64;
            let mut target = String::new();
            let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ ((w as u64 + 1) << 32);
            while Instant::now() < deadline {
                if let Some(body) = &fixed_body {
                    if signed.as_ref().is_none_or(|s| s.at.elapsed() > REPLAY_FOR) {
                        signed = signer.signed_call(&op, body);
                    }
                    if let Some(s) = &signed {
                        let t = Instant::now();
                        let ok = matches!(signer.replay(s).await, Ok((200, _)));
                        lat.push(t.elapsed());
                        errors += usize::from(!ok);
                        continue;
                    }
                }
                let body = if op == "PutSecretValue" {
                    i += 1;
                    if i % 90 == 1 {
                        generation += 1;
                        target = format!("bench-put-{w}-{concurrency}-{generation}");
                        let create = format!(r#"{{"Name":"{target}","SecretString":"initial"}}"#);
                        let _ = signer.call("CreateSecret", &create).await;
                    }
                    format!(r#"{{"SecretId":"{target}","SecretString":"value-{w}-{i}"}}"#)
                } else if let Some(body) = listing_body(&op, &prefix, spread) {
                    body
                } else if spread > 0 {
                    // xorshift: a cheap, per-worker stream of secret numbers.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let name = populate::secret_name(&prefix, rng % spread);
                    format!(r#"{{"SecretId":"{name}"}}"#)
                } else {
                    r#"{"SecretId":"bench-get"}"#.to_string()
                };
                let t = Instant::now();
                let res = signer.measured(&op, &body).await;
                let ok = matches!(res, Ok((200, _)));
                lat.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Measured {
        requests: all.len(),
        errors,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

/// An IAM user whose GetSecretValue must pass policy evaluation: 10 attached managed policies
/// with 20 statements, all with conditions, the allowing statement evaluated last.
async fn policy_bound_user(root: &Signer) -> Signer {
    let ok = |r: Result<(u16, Bytes), String>, what: &str| match r {
        Ok((200, body)) => body,
        other => panic!("{what}: {other:?}"),
    };
    ok(
        root.iam("CreateUser", "UserName=bench-user").await,
        "CreateUser",
    );
    let account = account_of(root).await;
    for i in 0..10 {
        let last = i == 9;
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"secretsmanager:Delete*","Resource":"*","Condition":{{"StringEquals":{{"aws:username":"x{i}"}}}}}},{{"Effect":"Allow","Action":"secretsmanager:{}","Resource":"arn:aws:secretsmanager:*:*:secret:bench-*","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.0/8"}}}}}}]}}"#,
            if last { "GetSecretValue" } else { "Describe*" }
        );
        let encoded: String = doc
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        ok(
            root.iam(
                "CreatePolicy",
                &format!("PolicyName=bench-p{i}&PolicyDocument={encoded}"),
            )
            .await,
            "CreatePolicy",
        );
        let arn = format!("arn%3Aaws%3Aiam%3A%3A{account}%3Apolicy%2Fbench-p{i}");
        ok(
            root.iam(
                "AttachUserPolicy",
                &format!("UserName=bench-user&PolicyArn={arn}"),
            )
            .await,
            "AttachUserPolicy",
        );
    }
    let body = ok(
        root.iam("CreateAccessKey", "UserName=bench-user").await,
        "CreateAccessKey",
    );
    let xml = String::from_utf8_lossy(&body);
    let field = |tag: &str| {
        let start = xml.find(&format!("<{tag}>")).expect(tag) + tag.len() + 2;
        let end = xml[start..].find('<').expect(tag) + start;
        xml[start..end].to_string()
    };
    root.with_key(&field("AccessKeyId"), &field("SecretAccessKey"))
}

/// The server's account id, from STS GetCallerIdentity.
async fn account_of(root: &Signer) -> String {
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let (_, xml) = root
        .send("sts", "application/x-www-form-urlencoded", None, body)
        .await
        .expect("GetCallerIdentity");
    let xml = String::from_utf8_lossy(&xml);
    let start = xml.find("<Account>").expect("Account") + "<Account>".len();
    xml[start..start + 12].to_string()
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(Cmd::Populate(p)) = &args.command {
        populate::run(p).await;
        return;
    }
    let (_server, endpoint): (Option<Server>, Vec<String>) = match &args.endpoint {
        Some(e) => (None, e.clone()),
        None => {
            let (s, e) = start_server(&args.server_bin, &[]);
            (Some(s), vec![e])
        }
    };
    println!("| operation | connections | requests/s | p50 | p99 | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    run(&endpoint, &args.operations, &args, "").await;
    if args.compare_unaudited {
        let (_off, endpoint) = start_server(&args.server_bin, &["--bench-unaudited"]);
        run(
            &[endpoint],
            &["GetSecretValue".to_string()],
            &args,
            " (audit off)",
        )
        .await;
    }
}

async fn run(endpoints: &[String], operations: &[String], args: &Args, label: &str) {
    let targets = endpoints
        .iter()
        .map(|e| (e.clone(), e.trim_start_matches("http://").to_string()))
        .collect();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let signer = Signer {
        targets: std::sync::Arc::new(targets),
        next: Default::default(),
        client,
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        agent: args
            .agent_endpoint
            .clone()
            .map(|e| (e, args.agent_token.clone())),
    };
    // Wait for readiness.
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = signer.call("ListSecrets", "{}").await {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let setup = |name: &str| {
        format!(
            r#"{{"Name":"{name}","SecretString":"{{\"username\":\"bench\",\"password\":\"p4ssw0rd-bench\"}}"}}"#
        )
    };
    let max_c = args.concurrency.iter().copied().max().unwrap_or(1);
    let names = std::iter::once("bench-get".to_string())
        .chain((0..max_c).map(|w| format!("bench-put-{w}")));
    for name in names {
        match signer.call("CreateSecret", &setup(&name)).await {
            Ok((200, _)) => {}
            // Already there from an earlier run against --endpoint.
            Ok((400, body))
                if String::from_utf8_lossy(&body).contains("ResourceExistsException") => {}
            other => panic!("cannot create {name}: {other:?}"),
        }
    }

    let user = if operations.iter().any(|o| o == "GetSecretValue(user)") {
        Some(policy_bound_user(&signer).await)
    } else {
        None
    };

    for op in operations {
        for &c in &args.concurrency {
            let (who, op_name) = match op.strip_suffix("(user)") {
                Some(base) => (user.as_ref().expect("user set up"), base),
                None => (&signer, op.as_str()),
            };
            let m = measure(
                who,
                op_name,
                c,
                args.seconds,
                args.spread,
                &args.prefix,
                args.sign_each_request,
            )
            .await;
            println!(
                "| {op}{label} | {c} | {:.0} | {:.3} ms | {:.3} ms | {} |",
                m.requests as f64 / m.elapsed.as_secs_f64(),
                m.p50.as_secs_f64() * 1000.0,
                m.p99.as_secs_f64() * 1000.0,
                m.errors
            );
        }
    }
}
