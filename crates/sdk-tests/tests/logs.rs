//! Every log line the server emits, at TRACE level, during a workload that touches every
//! operation with known secret values — none of the values may appear.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::primitives::Blob;
use common::TestServer;
use common::raw::Req;

const MARKER: &str = "LOGLEAK-a81f-secret-material";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_contain_secret_values() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let mut t = TestServer::start("logs").await;
    let c = t.client();
    c.create_secret()
        .name("leak")
        .secret_string(format!("{MARKER}-create"))
        .send()
        .await
        .unwrap();
    c.put_secret_value()
        .secret_id("leak")
        .secret_string(format!("{MARKER}-put"))
        .send()
        .await
        .unwrap();
    c.update_secret()
        .secret_id("leak")
        .secret_binary(Blob::new(format!("{MARKER}-bin").into_bytes()))
        .send()
        .await
        .unwrap();
    c.get_secret_value().secret_id("leak").send().await.unwrap();
    c.batch_get_secret_value()
        .secret_id_list("leak")
        .send()
        .await
        .unwrap();
    // Refused requests carrying values.
    let _ = c
        .create_secret()
        .name("leak")
        .secret_string(format!("{MARKER}-dup"))
        .send()
        .await;
    let _ = c
        .put_secret_value()
        .secret_id("missing")
        .secret_string(format!("{MARKER}-missing"))
        .send()
        .await;
    let _ = Req::new(
        "CreateSecret",
        &format!(r#"{{"Name":"x","SecretString":["{MARKER}-typed"]}}"#),
    )
    .send(&t.endpoint())
    .await;
    let _ = Req::new(
        "CreateSecret",
        &format!(r#"{{"Name":"x","SecretString":"{MARKER}-broken"#),
    )
    .send(&t.endpoint())
    .await;
    let mut bad = Req::new(
        "CreateSecret",
        &format!(r#"{{"Name":"y","SecretString":"{MARKER}-badsig"}}"#),
    );
    bad.secret_key = "wrong-key-wrong-key-wrong-key-wrong-key0".into();
    let _ = bad.send(&t.endpoint()).await;
    let pw = c.get_random_password().send().await.unwrap();
    // The root key sealed by this server's KMS (the seal's AWS SDK client at TRACE): Encrypt's
    // request and Decrypt's response carry it.
    let root_key = seal_a_root_key_by_kms(&t).await;
    t.stop().await;

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).to_string();
    assert!(
        logs.contains("request refused"),
        "the capture works: {logs}"
    );
    assert!(!logs.contains(MARKER), "secret value in logs:\n{logs}");
    assert!(
        !logs.contains(common::SECRET_KEY),
        "secret access key in logs"
    );
    assert!(
        !logs.contains(pw.random_password().unwrap()),
        "generated password in logs"
    );
    assert!(
        logs.contains("TrentService.Encrypt") && logs.contains("TrentService.Decrypt"),
        "the seal's KMS calls were traced"
    );
    for form in root_key {
        assert!(!logs.contains(&form), "the root key in logs");
    }
}

/// Seal a fresh root key by a KMS key of `t`, open it again; the key's hex and base64 forms.
async fn seal_a_root_key_by_kms(t: &TestServer) -> [String; 2] {
    use aws_config::BehaviorVersion;
    use base64::Engine;
    use strongroom_barrier::RootKey;
    use strongroom_barrier::seal::SealSpec;
    use strongroom_barrier::seal::awskms::KmsSeal;

    let creds = aws_credential_types::Credentials::new(
        common::ACCESS_KEY,
        common::SECRET_KEY,
        None,
        None,
        "test",
    );
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(t.endpoint())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .credentials_provider(creds.clone())
            .build(),
    );
    let arn = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let dir = common::temp_dir("logs-seal");
    let path = dir.join("root.key");
    let (key, _) = RootKey::load_or_create(&path, None).await.unwrap();
    let hex = std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode(::hex::decode(&hex).unwrap());
    let SealSpec::AwsKms(spec) =
        SealSpec::parse(&format!("awskms:{arn};endpoint={}", t.endpoint())).unwrap()
    else {
        panic!("an awskms spec")
    };
    let seal = KmsSeal::connect_with(
        &spec,
        "123456789012",
        aws_config::defaults(BehaviorVersion::latest()).credentials_provider(creds),
    )
    .await
    .unwrap();
    key.rewrite(&path, Some(&seal)).await.unwrap();
    assert!(
        RootKey::load(&path, Some(&seal))
            .await
            .unwrap()
            .same_as(&key)
    );
    let _ = std::fs::remove_dir_all(&dir);
    [hex, b64]
}
