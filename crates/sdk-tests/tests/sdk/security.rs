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
