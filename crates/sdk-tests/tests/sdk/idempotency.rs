//! ClientRequestToken idempotency under concurrency: 64 copies of one request racing each
//! other — what an SDK retry racing its own first attempt looks like — must all get AWS's
//! answer: the same token with the same value is a no-op success, with a different value
//! ResourceExistsException, whatever the interleaving.

use crate::common;

use common::{TestServer, code};

const COPIES: usize = 64;
const TOKEN: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

/// Run `COPIES` copies of `call(i)` at once; each result is Ok(version id) or Err(error code).
async fn race<F, Fut>(call: F) -> Vec<Result<String, String>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>> + Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(COPIES));
    let mut tasks = Vec::new();
    for i in 0..COPIES {
        let fut = call(i);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn versions(c: &aws_sdk_secretsmanager::Client, id: &str) -> usize {
    c.list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(true)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_put_secret_value_retries_all_succeed() {
    let mut t = TestServer::start("race-put").await;
    let c = t.client();
    c.create_secret()
        .name("race")
        .secret_string("v0")
        .send()
        .await
        .unwrap();
    let results = race(|_| {
        let c = c.clone();
        async move {
            c.put_secret_value()
                .secret_id("race")
                .client_request_token(TOKEN)
                .secret_string("same value")
                .send()
                .await
                .map(|r| r.version_id().unwrap().to_string())
                .map_err(|e| code(&e))
        }
    })
    .await;
    for r in &results {
        assert_eq!(r.as_deref(), Ok(TOKEN), "{results:?}");
    }
    assert_eq!(
        versions(&c, "race").await,
        2,
        "one new version, not {COPIES}"
    );
    let got = c.get_secret_value().secret_id("race").send().await.unwrap();
    assert_eq!(got.secret_string(), Some("same value"));
    assert_eq!(got.version_id(), Some(TOKEN));

    // Half the copies carry another value: only the stored value's copies succeed.
    const OTHER: &str = "dddddddd-dddd-4ddd-8ddd-dddddddddddd";
    let results = race(|i| {
        let c = c.clone();
        async move {
            c.put_secret_value()
                .secret_id("race")
                .client_request_token(OTHER)
                .secret_string(format!("value {}", i % 2))
                .send()
                .await
                .map(|_| format!("value {}", i % 2))
                .map_err(|e| code(&e))
        }
    })
    .await;
    let stored = c
        .get_secret_value()
        .secret_id("race")
        .version_id(OTHER)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_string();
    for r in &results {
        match r {
            Ok(v) => assert_eq!(v, &stored, "{results:?}"),
            Err(code) => assert_eq!(code, "ResourceExistsException", "{results:?}"),
        }
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), COPIES / 2);
    assert_eq!(versions(&c, "race").await, 3);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_update_secret_and_create_secret_retries_all_succeed() {
    let mut t = TestServer::start("race-update").await;
    let c = t.client();
    c.create_secret()
        .name("race-update")
        .secret_string("v0")
        .send()
        .await
        .unwrap();
    let results = race(|_| {
        let c = c.clone();
        async move {
            c.update_secret()
                .secret_id("race-update")
                .client_request_token(TOKEN)
                .secret_string("updated")
                .send()
                .await
                .map(|r| r.version_id().unwrap().to_string())
                .map_err(|e| code(&e))
        }
    })
    .await;
    for r in &results {
        assert_eq!(r.as_deref(), Ok(TOKEN), "{results:?}");
    }
    assert_eq!(versions(&c, "race-update").await, 2);

    let results = race(|_| {
        let c = c.clone();
        async move {
            c.create_secret()
                .name("race-create")
                .client_request_token(TOKEN)
                .secret_string("created once")
                .send()
                .await
                .map(|r| r.arn().unwrap().to_string())
                .map_err(|e| code(&e))
        }
    })
    .await;
    let arn = results[0].clone().expect("created");
    for r in &results {
        assert_eq!(r, &Ok(arn.clone()), "{results:?}");
    }
    assert_eq!(versions(&c, "race-create").await, 1);
    t.stop().await;
}
