//! `GET /metrics`: refused unsigned unless configured public; a signed scrape by a principal
//! allowed `cloudwatch:GetMetricData` sees request counts, denials and the audit log's commits.

use crate::common;

use common::raw::Req;
use common::{ACCESS_KEY, SECRET_KEY, TestServer};

#[tokio::test]
async fn metrics_need_a_signature_unless_public() {
    let t = TestServer::start("metrics").await;
    let sm = t.client();
    sm.create_secret()
        .name("counted")
        .secret_string("metric-secret-value-77")
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        sm.get_secret_value()
            .secret_id("counted")
            .send()
            .await
            .unwrap();
    }
    let missing = sm.get_secret_value().secret_id("absent").send().await;
    assert!(missing.is_err());

    let mut unsigned = Req::get("/metrics", "monitoring");
    unsigned.sign = false;
    let r = unsigned.send(&t.endpoint()).await;
    assert_eq!(r.status, 403, "{}", r.text);

    let r = Req::get("/metrics", "monitoring").send(&t.endpoint()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let text = r.text;
    assert!(
        text.contains(r#"strongroom_requests_total{service="secretsmanager",operation="GetSecretValue",outcome="ok",error_code=""} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"operation="GetSecretValue",outcome="error",error_code="ResourceNotFoundException"} 1"#),
        "{text}"
    );
    assert!(text.contains("strongroom_secrets 1"), "{text}");
    assert!(
        text.contains("strongroom_audit_commit_duration_seconds_count"),
        "{text}"
    );
    assert!(!text.contains("metric-secret-value-77"));

    // A wrong key is refused and counted as a signature failure.
    let mut forged = Req::get("/metrics", "monitoring");
    forged.secret_key = "not-the-key".into();
    assert_eq!(forged.send(&t.endpoint()).await.status, 403);
    let bad = Req {
        secret_key: "not-the-key".into(),
        ..Req::new("ListSecrets", "{}")
    }
    .send(&t.endpoint())
    .await;
    assert_eq!(bad.status, 400);
    let text = Req::get("/metrics", "monitoring")
        .send(&t.endpoint())
        .await
        .text;
    assert!(
        text.contains("strongroom_signature_failures_total 1"),
        "{text}"
    );
    let _ = (ACCESS_KEY, SECRET_KEY);
}

#[tokio::test]
async fn public_metrics_are_served_without_a_signature() {
    let dir = common::temp_dir("metrics-public");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.metrics_public = true;
    let server = strongroom::start(config).await.unwrap();
    let mut unsigned = Req::get("/metrics", "monitoring");
    unsigned.sign = false;
    let r = unsigned.send(&server.endpoint()).await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("# TYPE strongroom_access_denied counter"),
        "{}",
        r.text
    );
    server.shutdown().await.unwrap();
}
