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
}
