//! Every operation's input, through the whole request pipeline of a real in-process server
//! (`--dev`: in-memory store; any well-formed signature is accepted, so inputs reach the
//! codecs, the operations' parsing and the services). The operations come from AWS's models
//! (`../shared/aws-models`, read once). Input: byte 0 picks the service and protocol, byte 1
//! the operation, the rest is the body. Oracle: never a 5xx, never a dropped connection.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{LazyLock, Mutex};

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

/// One dev server for the whole run, on its own runtime thread.
static SERVER: LazyLock<SocketAddr> = LazyLock::new(|| {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let dir = std::env::temp_dir().join(format!("strongroom-fuzz-{}", std::process::id()));
            let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
            config.dev = true;
            let server = strongroom::start(config).await.expect("dev server starts");
            tx.send(server.local_addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
});

static CONN: Mutex<Option<TcpStream>> = Mutex::new(None);

fn amz_date() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let d = strongroom_sigv4::format_amz_date(secs);
    (d[..8].to_string(), d)
}

/// Send one request on the kept connection (reconnecting if the server closed it); the
/// status code, or None if the server dropped the connection without an answer.
fn send(request: &[u8]) -> Option<u16> {
    let mut guard = CONN.lock().unwrap();
    for _ in 0..2 {
        let conn = guard.get_or_insert_with(|| TcpStream::connect(*SERVER).unwrap());
        if conn.write_all(request).is_err() {
            *guard = None;
            continue;
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let status = loop {
            let n = match conn.read(&mut chunk) {
                Ok(0) | Err(_) => break None,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < end + 4 + len {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let status = head.get(9..12).and_then(|s| s.parse().ok());
                if head.contains("connection: close") {
                    *guard = None;
                }
                break status;
            }
        };
        match status {
            Some(s) => return Some(s),
            None => *guard = None,
        }
    }
    None
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
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Date: {date}\r\nAuthorization: {auth}\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    match send(&request) {
        Some(status) => assert!(
            status < 500,
            "{} {operation} ({}) answered {status}",
            service.signing,
            service.protocol
        ),
        None => panic!("the server dropped {} {operation} without an answer", service.signing),
    }
});
