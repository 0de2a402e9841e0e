//! `strongroom-reference`: the floor a GetSecretValue server could reach per core — what every
//! benchmark figure of Strongroom is divided by (issue 13).
//!
//! A minimal hyper server doing only the work no secrets manager can skip: read the request,
//! verify its SigV4 signature with the project's own verifier (`strongroom-sigv4`, derived
//! keys cached as the server caches them), open one AES-256-GCM sealed 200-byte value
//! (aws-lc-rs, as the barrier does), and answer GetSecretValue's JSON. No store, no policy, no
//! audit, no routing beyond the `X-Amz-Target` header: any other signed operation gets `{}`
//! (the benchmark client's readiness check and setup calls). Measured in the same run as the
//! server, pinned to the same core, so the ratio holds while the machine's speed drifts.
//!
//!   strongroom-reference --listen 127.0.0.1:19100   (root keys of `strongroom-bench`)

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use strongroom_sigv4::SigningKeyCache;

const ACCESS_KEY: &str = "AKIABENCHROOT0000001";
const SECRET_KEY: &str = "bench/secret/key/0123456789abcdefghijklmn";
const ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-get-AbCdEf";

struct State {
    keys: SigningKeyCache,
    aead: LessSafeKey,
    /// NONCE || CIPHERTEXT || TAG of the 200-byte value.
    sealed: Vec<u8>,
}

fn aead() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("32-byte key"))
}

fn seal_value(key: &LessSafeKey) -> Vec<u8> {
    let nonce = [3u8; NONCE_LEN];
    // JSON-safe, like a secret string would be.
    let mut value = vec![b'v'; 200];
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(ARN.as_bytes()),
        &mut value,
    )
    .expect("seal");
    [nonce.to_vec(), value].concat()
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(reply(StatusCode::BAD_REQUEST, b"{}".to_vec()));
    };
    let refused = |e: strongroom_sigv4::SigV4Error| {
        reply(
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN),
            format!(r#"{{"__type":"{}"}}"#, e.code()).into_bytes(),
        )
    };
    let auth = match strongroom_sigv4::parse(&parts.method, &parts.uri, &parts.headers) {
        Ok(a) => a,
        Err(e) => return Ok(refused(e)),
    };
    if auth.access_key_id != ACCESS_KEY {
        return Ok(refused(strongroom_sigv4::unrecognized_client()));
    }
    let key = state
        .keys
        .get_or_derive(&auth.access_key_id, SECRET_KEY, &auth.scope);
    if let Err(e) = auth
        .verify(&parts.method, &parts.uri, &parts.headers, &body, &key)
        .and_then(|()| auth.check_time(SystemTime::now(), Duration::from_secs(300)))
    {
        return Ok(refused(e));
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != "secretsmanager.GetSecretValue" {
        return Ok(reply(StatusCode::OK, b"{}".to_vec()));
    }
    // The input is parsed, as any server must to find the secret.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Input {
        secret_id: String,
    }
    let Ok(input) = serde_json::from_slice::<Input>(&body) else {
        return Ok(reply(StatusCode::BAD_REQUEST, b"{}".to_vec()));
    };
    let (nonce, sealed) = state.sealed.split_at(NONCE_LEN);
    let mut buf = sealed.to_vec();
    let Ok(value) = state.aead.open_in_place(
        Nonce::try_assume_unique_for_key(nonce).expect("nonce"),
        Aad::from(ARN.as_bytes()),
        &mut buf,
    ) else {
        return Ok(reply(StatusCode::INTERNAL_SERVER_ERROR, b"{}".to_vec()));
    };
    let out = serde_json::json!({
        "ARN": ARN,
        "Name": input.secret_id,
        "VersionId": "01234567-89ab-cdef-0123-456789abcdef",
        "SecretString": String::from_utf8_lossy(value),
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1.7e9,
    });
    Ok(reply(StatusCode::OK, out.to_string().into_bytes()))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(a)) => a.parse().expect("--listen HOST:PORT"),
        _ => {
            eprintln!("usage: strongroom-reference --listen HOST:PORT");
            std::process::exit(2);
        }
    };
    let key = aead();
    let state = Arc::new(State {
        keys: SigningKeyCache::new(),
        sealed: seal_value(&key),
        aead: key,
    });
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
