//! Seed 003's CloudWatch alarm on an injected clock: eleven GetSecretValue calls within the
//! period put it in ALARM, which posts a Slack payload to a local webhook; when the window
//! passes it returns to OK. CloudWatch is driven with signed JSON 1.0 requests (what the AWS
//! CLI sends; the e2e suite runs seed 003's command itself).

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::raw::Req;
use common::{ACCESS_KEY, SECRET_KEY};
use strongroom::clock::{Clock, ManualClock, SystemClock};
use strongroom::config::InjectedClock;
use strongroom::services::cloudwatch::Webhook;

/// A CloudWatch JSON 1.0 request signed at `clock`'s time (the server judges signatures by
/// its own clock, which this test moves).
fn cw(op: &str, body: serde_json::Value, clock: &ManualClock) -> Req {
    Req {
        target: Some(format!("GraniteServiceVersion20100801.{op}")),
        content_type: Some("application/x-amz-json-1.0".into()),
        service: "monitoring".into(),
        time: std::time::UNIX_EPOCH + Duration::from_millis(clock.now_ms() as u64),
        ..Req::new("", &body.to_string())
    }
}

/// A webhook receiver on a loopback port, remembering every body it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    use axum::routing::post;
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or_default());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn state(endpoint: &str, clock: &ManualClock) -> String {
    let r = cw(
        "DescribeAlarms",
        serde_json::json!({"AlarmNames": ["prod-secret-access-alert"]}),
        clock,
    )
    .send(endpoint)
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["MetricAlarms"][0]["StateValue"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn wait_for(endpoint: &str, want: &str, clock: &ManualClock) {
    for _ in 0..100 {
        if state(endpoint, clock).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the alarm never reached {want} (it is {})",
        state(endpoint, clock).await
    );
}

#[tokio::test]
async fn seed_003_alarm_fires_a_slack_webhook_and_clears() {
    let (url, received) = receiver().await;
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let dir = common::temp_dir("alarms");
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.account_id = Some("123456789012".into());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    config.alarm_interval_secs = 1;
    config.clock = Some(InjectedClock(clock.clone()));
    config.alarm_webhooks = vec![Webhook {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:security-alerts".into(),
        url,
        format: "slack".into(),
        ca_file: None,
    }];
    let server = strongroom::start(config).await.unwrap();
    let endpoint = server.endpoint();

    // Seed 003's alarm, plus an action so the state change has somewhere to go.
    let r = cw(
        "PutMetricAlarm",
        serde_json::json!({
            "AlarmName": "prod-secret-access-alert",
            "MetricName": "GetSecretValue",
            "Namespace": "AWS/SecretsManager",
            "Period": 300,
            "Threshold": 10,
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 1,
            "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:security-alerts"],
            "OKActions": ["arn:aws:sns:us-east-1:123456789012:security-alerts"],
        }),
        &clock,
    )
    .send(&endpoint)
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for(&endpoint, "OK", &clock).await;
    let d = cw("DescribeAlarms", serde_json::json!({}), &clock)
        .send(&endpoint)
        .await;
    assert_eq!(
        d.json["MetricAlarms"][0]["Statistic"], "Sum",
        "a missing Statistic means Sum"
    );

    let sm = common::client_for(&endpoint, ACCESS_KEY, SECRET_KEY);
    sm.create_secret()
        .name("watched")
        .secret_string("alarm-test-value")
        .send()
        .await
        .unwrap();
    for _ in 0..10 {
        sm.get_secret_value()
            .secret_id("watched")
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        state(&endpoint, &clock).await,
        "OK",
        "10 calls are not more than 10"
    );
    sm.get_secret_value()
        .secret_id("watched")
        .send()
        .await
        .unwrap();
    wait_for(&endpoint, "ALARM", &clock).await;

    // The ALARM webhook carried Slack's incoming-webhook payload. The OK action may have fired
    // first (INSUFFICIENT_DATA -> OK when the alarm was created), so look for the ALARM call.
    let mut slack = None;
    // Up to 15 s: the notification is posted by the alarm loop, slow on a loaded machine.
    for _ in 0..300 {
        slack = received
            .lock()
            .unwrap()
            .iter()
            .find(|call| {
                call["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("is now ALARM"))
            })
            .cloned();
        if slack.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slack = slack.expect("a webhook call for the ALARM state");
    let text = slack["text"].as_str().unwrap_or("");
    assert!(
        text.contains("prod-secret-access-alert") && text.contains("ALARM"),
        "{slack}"
    );
    assert!(!text.contains("alarm-test-value"));

    // Five minutes later the window holds no calls: OK again, and the OK action fires.
    clock.advance(6 * 60 * 1000);
    wait_for(&endpoint, "OK", &clock).await;
    // The OK webhook after the ALARM one; up to 15 s, as above (a fixed 300 ms wait failed
    // once on a slow machine with the state already OK and the call not yet posted).
    let says = |call: &serde_json::Value, what: &str| {
        call["text"].as_str().is_some_and(|t| t.contains(what))
    };
    let ok_after_alarm = |calls: &[serde_json::Value]| {
        calls
            .iter()
            .position(|c| says(c, "is now ALARM"))
            .is_some_and(|i| calls[i + 1..].iter().any(|c| says(c, "is now OK")))
    };
    let mut calls = Vec::new();
    for _ in 0..300 {
        calls = received.lock().unwrap().clone();
        if ok_after_alarm(&calls) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ok_after_alarm(&calls) && says(calls.last().unwrap(), "is now OK"),
        "{calls:?}"
    );

    // Statistics over the same metric, and bad input refused with CloudWatch's codes.
    let now = clock.now_ms() as f64 / 1000.0;
    let stats = cw(
        "GetMetricStatistics",
        serde_json::json!({
            "Namespace": "AWS/SecretsManager", "MetricName": "GetSecretValue",
            "StartTime": now - 900.0, "EndTime": now, "Period": 900, "Statistics": ["Sum"],
        }),
        &clock,
    )
    .send(&endpoint)
    .await;
    assert_eq!(stats.json["Datapoints"][0]["Sum"], 11.0, "{}", stats.text);
    let bad = cw(
        "PutMetricAlarm",
        serde_json::json!({"AlarmName": "x", "MetricName": "m", "Namespace": "n", "Period": 300,
            "Threshold": 1, "ComparisonOperator": "Sideways", "EvaluationPeriods": 1}),
        &clock,
    )
    .send(&endpoint)
    .await;
    assert_eq!(bad.status, 400);
    // JSON 1.0 names the model's error shape; query-compatible clients read the Query code
    // from x-amzn-query-error (checked with real clients in tests/e2e).
    assert_eq!(
        bad.error_type(),
        "com.amazonaws.cloudwatch#InvalidParameterValueException",
        "{}",
        bad.text
    );
    let listed = cw("DescribeAlarms", serde_json::json!({}), &clock)
        .send(&endpoint)
        .await;
    assert_eq!(
        listed.json["MetricAlarms"].as_array().unwrap().len(),
        1,
        "nothing stored"
    );
    server.shutdown().await.unwrap();

    // Alarms survive a restart (their datapoints do not).
    let mut config = strongroom::ServerConfig::new(&dir, "127.0.0.1:0".parse().unwrap());
    config.root_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
    let server = strongroom::start(config).await.unwrap();
    let real_time = ManualClock::new(SystemClock.now_ms());
    let again = cw("DescribeAlarms", serde_json::json!({}), &real_time)
        .send(&server.endpoint())
        .await;
    let alarm = &again.json["MetricAlarms"][0];
    assert_eq!(
        alarm["AlarmName"], "prod-secret-access-alert",
        "{}",
        again.text
    );
    assert_eq!(alarm["Threshold"], 10.0);
    assert_eq!(
        alarm["AlarmActions"][0],
        "arn:aws:sns:us-east-1:123456789012:security-alerts"
    );
    server.shutdown().await.unwrap();
}
