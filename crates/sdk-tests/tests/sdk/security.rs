//! Authentication, encryption at rest, and bad input — each refused with an AWS-shaped error
//! while the server keeps serving.

use crate::common;

use std::time::{Duration, SystemTime};

use common::raw::Req;
use common::{TestServer, client_for, code};

const MARKER: &str = "zq-MARKER-7f3a91-plaintext-never-on-disk";

fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_plaintext_in_data_dir_and_values_survive_restart() {
    let mut t = TestServer::start("at-rest").await;
    let c = t.client();
    c.create_secret()
        .name("at-rest")
        .secret_string(format!(r#"{{"password":"{MARKER}"}}"#))
        .send()
        .await
        .unwrap();
    for i in 0..3 {
        c.put_secret_value()
            .secret_id("at-rest")
            .secret_string(format!("{MARKER}-{i}"))
            .send()
            .await
            .unwrap();
    }
    c.create_secret()
        .name("at-rest-bin")
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            MARKER.as_bytes().to_vec(),
        ))
        .send()
        .await
        .unwrap();
    t.stop().await;

    let files = all_files(&t.dir);
    assert!(
        files.iter().any(|f| f.ends_with("strongroom.db")),
        "{files:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !contains(&bytes, MARKER.as_bytes()),
            "plaintext found in {}",
            f.display()
        );
    }

    // Same data dir, new process-equivalent: values still decrypt.
    let mut t2 = TestServer::start_in(t.dir.clone()).await;
    let got = t2
        .client()
        .get_secret_value()
        .secret_id("at-rest")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some(format!("{MARKER}-2").as_str()));
    t2.stop().await;
}

#[tokio::test]
async fn flipped_ciphertext_byte_is_decryption_failure() {
    let mut t = TestServer::start("tamper").await;
    let c = t.client();
    c.create_secret()
        .name("tamper")
        .secret_string("original")
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("untouched")
        .secret_string("fine")
        .send()
        .await
        .unwrap();
    t.stop().await;

    {
        use sqlx::{Connection, Row};
        let url = format!("sqlite://{}", t.dir.join("strongroom.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let row = sqlx::query(
            "SELECT v.secret_arn, v.version_id, v.ciphertext FROM secret_versions v JOIN secrets s ON s.arn = v.secret_arn WHERE s.name = 'tamper'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let arn: String = row.get(0);
        let vid: String = row.get(1);
        let mut ct: Vec<u8> = row.get(2);
        let mid = ct.len() / 2;
        ct[mid] ^= 0x01;
        sqlx::query(
            "UPDATE secret_versions SET ciphertext = ? WHERE secret_arn = ? AND version_id = ?",
        )
        .bind(ct)
        .bind(arn)
        .bind(vid)
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }

    let mut t2 = TestServer::start_in(t.dir.clone()).await;
    let c = t2.client();
    let e = c
        .get_secret_value()
        .secret_id("tamper")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "DecryptionFailure");
    assert_eq!(
        c.get_secret_value()
            .secret_id("untouched")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("fine")
    );
    t2.stop().await;
}

#[tokio::test]
async fn signature_failures_are_refused() {
    let mut t = TestServer::start("sigv4").await;
    let ep = t.endpoint();

    let wrong = client_for(
        &ep,
        common::ACCESS_KEY,
        "not-the-secret-key-at-all-0000000000000",
    );
    let e = wrong.list_secrets().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidSignatureException");

    let unknown = client_for(&ep, "AKIAUNKNOWNKEY000000", common::SECRET_KEY);
    let e = unknown.list_secrets().send().await.unwrap_err();
    assert_eq!(code(&e), "UnrecognizedClientException");

    // Tampered body after signing.
    let mut r = Req::new("CreateSecret", r#"{"Name":"tampered","SecretString":"a"}"#);
    r.tamper_body = Some(br#"{"Name":"tampered","SecretString":"b"}"#.to_vec());
    let res = r.send(&ep).await;
    assert_eq!(
        res.error_type(),
        "InvalidSignatureException",
        "{:?}",
        res.json
    );

    // Replayed past the 5-minute window.
    let mut r = Req::new("ListSecrets", "{}");
    r.time = SystemTime::now() - Duration::from_secs(6 * 60);
    let res = r.send(&ep).await;
    assert_eq!(res.error_type(), "InvalidSignatureException");
    assert!(
        res.message().contains("Signature expired"),
        "{}",
        res.message()
    );

    // Signed in the future beyond the window.
    let mut r = Req::new("ListSecrets", "{}");
    r.time = SystemTime::now() + Duration::from_secs(6 * 60);
    assert_eq!(r.send(&ep).await.error_type(), "InvalidSignatureException");

    // Missing Authorization header.
    let mut r = Req::new("ListSecrets", "{}");
    r.sign = false;
    let res = r.send(&ep).await;
    assert_eq!(res.error_type(), "MissingAuthenticationTokenException");

    // Signed for another service.
    let mut r = Req::new("ListSecrets", "{}");
    r.service = "ssm".into();
    let res = r.send(&ep).await;
    assert!(
        ["InvalidSignatureException", "IncompleteSignatureException"].contains(&res.error_type()),
        "{:?}",
        res.json
    );

    // Nothing was created by the refused requests, and a good request still works.
    let c = t.client();
    let e = c
        .describe_secret()
        .secret_id("tampered")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let ok = Req::new("ListSecrets", "{}").send(&ep).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    t.stop().await;
}

#[tokio::test]
async fn bad_input_gets_aws_shaped_errors_and_server_keeps_serving() {
    let mut t = TestServer::start("bad-input").await;
    let ep = t.endpoint();

    let res = Req::new("CreateSecret", "{not json").send(&ep).await;
    assert_eq!(
        (res.status, res.error_type()),
        (400, "SerializationException")
    );

    let res = Req::new("CreateSecret", r#"{"Name": 42}"#).send(&ep).await;
    assert_eq!(
        (res.status, res.error_type()),
        (400, "SerializationException")
    );
    assert!(res.message().contains("Name"), "{}", res.message());

    // A wrongly typed secret value is refused without echoing it.
    let res = Req::new(
        "CreateSecret",
        r#"{"Name":"x","SecretString":{"p":"s3cr3t-value"}}"#,
    )
    .send(&ep)
    .await;
    assert_eq!(res.error_type(), "SerializationException");
    assert!(!res.message().contains("s3cr3t-value"));

    let res = Req::new("NoSuchOperation", "{}").send(&ep).await;
    assert_eq!(
        (res.status, res.error_type()),
        (400, "UnknownOperationException")
    );

    let mut r = Req::new("ListSecrets", "{}");
    r.target = Some("NoSuchService_2024.ListThings".into());
    assert_eq!(r.send(&ep).await.error_type(), "UnknownOperationException");

    let mut r = Req::new("ListSecrets", "{}");
    r.content_type = Some("text/plain".into());
    let res = r.send(&ep).await;
    assert_eq!(res.status, 400);
    assert!(res.message().contains("Content-Type"), "{}", res.message());

    let big = format!(
        r#"{{"Name":"big","SecretString":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let res = Req::new("CreateSecret", &big).send(&ep).await;
    assert_eq!(res.status, 413, "{:?}", res.json);

    let res = Req::new("CreateSecret", r#"{"Name":"sp ace","SecretString":"x"}"#)
        .send(&ep)
        .await;
    assert_eq!(res.error_type(), "ValidationException");
    let res = Req::new("GetSecretValue", r#"{}"#).send(&ep).await;
    assert_eq!(res.error_type(), "ValidationException");
    let res = Req::new("CreateSecret", r#"{"Name":"binbad","SecretBinary":"%%%"}"#)
        .send(&ep)
        .await;
    assert_eq!(res.error_type(), "SerializationException");

    // Still serving, and none of the refused requests stored anything.
    let c = t.client();
    let list = c.list_secrets().send().await.unwrap();
    assert!(list.secret_list().is_empty(), "{:?}", list.secret_list());
    c.create_secret()
        .name("after")
        .secret_string("ok")
        .send()
        .await
        .unwrap();
    t.stop().await;
}

#[tokio::test]
async fn health_endpoint_answers() {
    let mut t = TestServer::start("health").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let res = client
        .get(format!("{}/health", t.endpoint()).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    t.stop().await;
}

/// Every answer's `Date` is the server's clock (SDKs correct their skew by it), whichever way
/// the request went: an API call straight to the pipeline (JSON, an error, CBOR's path), a
/// route through the router (health), an unknown path (the router's fallback, the API front).
#[tokio::test]
async fn every_answer_is_dated_by_the_servers_clock() {
    use std::sync::Arc;
    use strongroom::clock::{Clock, ManualClock, SystemClock};
    // Three days ahead of real time, so the real clock cannot pass for it.
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms() + 3 * 86_400_000));
    let dir = common::temp_dir("dated");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some("123456789012".into());
    config.root_credentials = Some((common::ACCESS_KEY.into(), common::SECRET_KEY.into()));
    config.clock = Some(strongroom::config::InjectedClock(clock.clone()));
    let server = strongroom::start(config).await.unwrap();
    let endpoint = server.endpoint();
    let server_time = SystemTime::UNIX_EPOCH + Duration::from_millis(clock.now_ms() as u64);
    let dated = |what: &str, res: &common::raw::RawResponse| {
        let date = res
            .headers
            .get(http::header::DATE)
            .unwrap_or_else(|| panic!("{what}: no Date header"));
        let at = httpdate::parse_http_date(date.to_str().unwrap()).unwrap();
        let off = at
            .duration_since(server_time)
            .unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_secs(1), "{what}: Date {date:?}");
    };

    let ok = Req {
        time: server_time,
        ..Req::new("GetRandomPassword", "{}")
    }
    .send(&endpoint)
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    dated("an API call", &ok);
    // Signed at real time: three days off the server's clock, refused.
    let skewed = Req::new("GetRandomPassword", "{}").send(&endpoint).await;
    assert_eq!(skewed.status, 400, "{}", skewed.text);
    dated("a refused API call", &skewed);
    let cbor = Req {
        target: None,
        content_type: Some("application/cbor".into()),
        service: "monitoring".into(),
        path: "/service/GraniteServiceVersion20100801/operation/DescribeAlarms".into(),
        sign: false,
        ..Req::new("", "")
    }
    .send(&endpoint)
    .await;
    assert!(
        cbor.status == 403 || cbor.status == 400,
        "{} {}",
        cbor.status,
        cbor.text
    );
    dated("a CBOR operation's path", &cbor);
    let health = Req {
        sign: false,
        ..Req::get("/health", "secretsmanager")
    }
    .send(&endpoint)
    .await;
    assert_eq!(health.status, 200);
    dated("/health", &health);
    let unknown = Req::get("/nowhere", "secretsmanager").send(&endpoint).await;
    assert!(unknown.status >= 400, "{} {}", unknown.status, unknown.text);
    dated("an unknown path", &unknown);
    server.shutdown().await.unwrap();
}

/// Swap two rows' sealed blobs (wrapped key and ciphertext) in the SQLite file of a stopped
/// server: what someone with write access to the database could do.
async fn swap_blobs(dir: &std::path::Path, table: &str, key_columns: &str, a: &[&str], b: &[&str]) {
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}", dir.join("strongroom.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let cols: Vec<&str> = key_columns.split(',').collect();
    let filter = cols
        .iter()
        .map(|c| format!("{c} = ?"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut blobs = Vec::new();
    for key in [a, b] {
        // Table and column names are this test's own constants.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT wrapped_key, ciphertext FROM {table} WHERE {filter}"
        )))
        .persistent(false);
        for k in key {
            q = q.bind(k.to_string());
        }
        let row = q.fetch_one(&mut conn).await.unwrap();
        blobs.push((row.get::<Vec<u8>, _>(0), row.get::<Vec<u8>, _>(1)));
    }
    for (key, (wrapped, ct)) in [a, b].into_iter().zip(blobs.into_iter().rev()) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET wrapped_key = ?, ciphertext = ? WHERE {filter}"
        )))
        .bind(wrapped)
        .bind(ct);
        for k in key {
            q = q.bind(k.to_string());
        }
        assert_eq!(q.execute(&mut conn).await.unwrap().rows_affected(), 1);
    }
    conn.close().await.unwrap();
}

/// Ciphertexts moved between versions of one parameter, or between two secrets, fail their
/// binding (name/ARN and version are authenticated with each value): a 4xx decryption error
/// (SSM InvalidKeyId, Secrets Manager DecryptionFailure), never the other value, never a 500.
#[tokio::test]
async fn swapped_ciphertexts_are_refused_as_decryption_errors() {
    let mut t = TestServer::start("swap").await;
    let endpoint = t.endpoint();
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .endpoint_url(&endpoint)
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                common::ACCESS_KEY,
                common::SECRET_KEY,
                None,
                None,
                "t",
            ))
            .build(),
    );
    for (i, kind) in [(1, "SecureString"), (2, "SecureString")] {
        ssm.put_parameter()
            .name("/swap/p")
            .value(format!("{MARKER}-param-v{i}"))
            .r#type(kind.into())
            .overwrite(i > 1)
            .send()
            .await
            .unwrap();
    }
    let c = t.client();
    let a = c
        .create_secret()
        .name("swap-a")
        .secret_string(format!("{MARKER}-a"))
        .send()
        .await
        .unwrap();
    let b = c
        .create_secret()
        .name("swap-b")
        .secret_string(format!("{MARKER}-b"))
        .send()
        .await
        .unwrap();
    t.stop().await;
    swap_blobs(
        &t.dir,
        "ssm_parameter_values",
        "name,version",
        &["/swap/p", "1"],
        &["/swap/p", "2"],
    )
    .await;
    let (a_arn, a_v) = (a.arn().unwrap(), a.version_id().unwrap());
    let (b_arn, b_v) = (b.arn().unwrap(), b.version_id().unwrap());
    swap_blobs(
        &t.dir,
        "secret_versions",
        "secret_arn,version_id",
        &[a_arn, a_v],
        &[b_arn, b_v],
    )
    .await;

    let mut t2 = TestServer::start_in(t.dir.clone()).await;
    let ssm = aws_sdk_ssm::Client::from_conf(
        ssm.config()
            .to_builder()
            .endpoint_url(t2.endpoint())
            .build(),
    );
    for name in ["/swap/p", "/swap/p:1"] {
        let e = ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .unwrap_err();
        let raw = e.raw_response().map(|r| r.status().as_u16());
        assert_eq!(raw, Some(400), "{name}: {e:?}");
        assert_eq!(
            aws_sdk_ssm::error::ProvideErrorMetadata::code(&e),
            Some("InvalidKeyId"),
            "{name}"
        );
        assert!(!format!("{e:?}").contains(MARKER));
    }
    let c = t2.client();
    for id in ["swap-a", "swap-b"] {
        let e = c.get_secret_value().secret_id(id).send().await.unwrap_err();
        assert_eq!(code(&e), "DecryptionFailure", "{id}");
        assert!(!format!("{e:?}").contains(MARKER));
    }
    t2.stop().await;
}
