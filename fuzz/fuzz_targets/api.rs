//! Every operation's input, through the whole request pipeline of a real in-process server
//! (`--dev`: in-memory store; any well-formed signature is accepted, so inputs reach the
//! codecs, the operations' parsing and the services), its router driven in-process. The operations come from AWS's models
//! (`../shared/aws-models`, read once). Input: byte 0 picks the service and protocol, byte 1
//! the operation, the rest is the body. Oracle: never a 5xx (and no panic).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

struct Service {
    /// `json` (X-Amz-Target), `json10`, `query`, or `cbor`.
    protocol: &'static str,
    signing: &'static str,
    target_prefix: String,
    api_version: String,
    operations: Vec<String>,
}

fn services() -> Vec<Service> {
    let dir = std::env::var("STRONGROOM_AWS_MODELS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/aws-models").into());
    let mut out = Vec::new();
    for (file, protocols, signing) in [
        ("secretsmanager", &["json"][..], "secretsmanager"),
        ("ssm", &["json"], "ssm"),
        ("kms", &["json"], "kms"),
        ("cloudtrail", &["json"], "cloudtrail"),
        ("sts", &["query"], "sts"),
        ("iam", &["query"], "iam"),
        ("cloudwatch", &["cbor", "json10", "query"], "monitoring"),
    ] {
        let text = std::fs::read_to_string(format!("{dir}/{file}.json"))
            .unwrap_or_else(|e| panic!("the AWS models are needed ({dir}/{file}.json): {e}"));
        let model: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut operations: Vec<String> = model["operations"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        operations.sort();
        for protocol in protocols {
            out.push(Service {
                protocol,
                signing,
                target_prefix: model["metadata"]["targetPrefix"].as_str().unwrap_or("").into(),
                api_version: model["metadata"]["apiVersion"].as_str().unwrap_or("").into(),
                operations: operations.clone(),
            });
        }
    }
    out
}

static SERVICES: LazyLock<Vec<Service>> = LazyLock::new(services);

/// A dev server and a runtime to drive its router in-process: no socket, so each input costs
/// what the pipeline costs (the router is what the listener serves). The server is replaced
/// every [`INPUTS_PER_SERVER`] inputs: what the inputs create (secrets, keys, parameters,
/// audit records, metrics) otherwise accumulates, and each execution got slower as the run
/// went on (1.7 ms at half a million inputs, from under 0.5 ms).
struct Harness {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    server: Option<strongroom::RunningServer>,
    dir: std::path::PathBuf,
    inputs: u32,
}

const INPUTS_PER_SERVER: u32 = 20_000;

impl Harness {
    fn new(generation: u64) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!(
            "strongroom-fuzz-{}-{generation}",
            std::process::id()
        ));
        let server = rt.block_on(async {
            let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
            config.dev = true;
            strongroom::start(config).await.expect("dev server starts")
        });
        let router = server.router().expect("the server runs");
        Harness {
            rt,
            router,
            server: Some(server),
            dir,
            inputs: 0,
        }
    }

    fn retire(mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.shutdown());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static HARNESS: std::sync::Mutex<Option<(u64, Harness)>> = std::sync::Mutex::new(None);

fn amz_date() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let d = strongroom_sigv4::format_amz_date(secs);
    (d[..8].to_string(), d)
}

/// One request through the router; its status.
fn send(request: http::Request<axum::body::Body>) -> u16 {
    use tower::ServiceExt;
    let mut guard = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let generation = match guard.take() {
        Some((generation, h)) if h.inputs >= INPUTS_PER_SERVER => {
            h.retire();
            generation + 1
        }
        Some(current) => {
            *guard = Some(current);
            0
        }
        None => 0,
    };
    let (_, h) = guard.get_or_insert_with(|| (generation, Harness::new(generation)));
    h.inputs += 1;
    let mut request = request;
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
    let router = h.router.clone();
    h.rt.block_on(async {
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        // Drain the body as a client would.
        let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
        status
    })
}

fuzz_target!(|data: &[u8]| {
    let [which, op, body @ ..] = data else {
        return;
    };
    let service = &SERVICES[*which as usize % SERVICES.len()];
    let operation = &service.operations[*op as usize % service.operations.len()];
    let (day, date) = amz_date();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{day}/us-east-1/{}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        service.signing,
        "0".repeat(64)
    );
    let (path, extra, body): (String, String, Vec<u8>) = match service.protocol {
        "json" => (
            "/".into(),
            format!(
                "X-Amz-Target: {}.{operation}\r\nContent-Type: application/x-amz-json-1.1\r\n",
                service.target_prefix
            ),
            body.to_vec(),
        ),
        "json10" => (
            "/".into(),
            format!(
                "X-Amz-Target: {}.{operation}\r\nContent-Type: application/x-amz-json-1.0\r\n",
                service.target_prefix
            ),
            body.to_vec(),
        ),
        "cbor" => (
            format!("/service/{}/operation/{operation}", service.target_prefix),
            "Smithy-Protocol: rpc-v2-cbor\r\nContent-Type: application/cbor\r\nAccept: application/cbor\r\n".into(),
            body.to_vec(),
        ),
        _ => {
            let mut form = format!("Action={operation}&Version={}&", service.api_version).into_bytes();
            form.extend_from_slice(body);
            (
                "/".into(),
                "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n".into(),
                form,
            )
        }
    };
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "127.0.0.1")
        .header("x-amz-date", date)
        .header("authorization", auth);
    for line in extra.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some((k, v)) = line.split_once(": ") {
            builder = builder.header(k, v);
        }
    }
    let Ok(request) = builder.body(axum::body::Body::from(body)) else {
        return;
    };
    let status = send(request);
    assert!(
        status < 500,
        "{} {operation} ({}) answered {status}",
        service.signing,
        service.protocol
    );
});
