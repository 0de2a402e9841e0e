//! ClientRequestToken idempotency under concurrency: 64 copies of one request racing each
//! other — what an SDK retry racing its own first attempt looks like — must all get AWS's
//! answer: the same token with the same value is a no-op success, with a different value
//! ResourceExistsException, whatever the interleaving.
//!
//! Each race first fills the client's connection pool (64 concurrent reads), so the 64 copies
//! leave together on open connections and are in the server at the same time; without that
//! the first copies finish while the SDK is still connecting for the last ones, and the old
//! code's race (the value compared before the write lock, refused without comparing under
//! it) does not show.

use crate::common;

use aws_sdk_secretsmanager::Client;
use common::{TestServer, code};

const COPIES: usize = 64;
const ROUNDS: usize = 6;

/// Run `COPIES` copies of `call(i)` at once; each result is Ok(what it returns) or
/// Err(error code).
async fn race<F, Fut>(c: &Client, call: F) -> Vec<Result<String, String>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>> + Send + 'static,
{
    warm(c).await;
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

/// `COPIES` concurrent cheap reads: the client's pool then holds that many open connections.
async fn warm(c: &Client) {
    let mut tasks = Vec::new();
    for _ in 0..COPIES {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.list_secrets().max_results(1).send().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn versions(c: &Client, id: &str) -> usize {
    c.list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(true)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

fn token(round: usize, kind: char) -> String {
    format!("{kind}{kind}{kind}{kind}{kind}{kind}{kind}{kind}-0000-4000-8000-00000000000{round}")
}

fn refused(results: &[Result<String, String>], expected: &str) -> Vec<Result<String, String>> {
    results
        .iter()
        .filter(|r| r.as_deref() != Ok(expected))
        .take(5)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_put_secret_value_retries_with_one_value_all_succeed() {
    let mut t = TestServer::start("race-put").await;
    let c = t.client();
    for round in 0..ROUNDS {
        let name = format!("race-put-{round}");
        c.create_secret()
            .name(&name)
            .secret_string("v0")
            .send()
            .await
            .unwrap();
        let token = token(round, 'c');
        let results = race(&c, |_| {
            let (c, name, token) = (c.clone(), name.clone(), token.clone());
            async move {
                c.put_secret_value()
                    .secret_id(name)
                    .client_request_token(token)
                    .secret_string("same value")
                    .send()
                    .await
                    .map(|r| r.version_id().unwrap().to_string())
                    .map_err(|e| code(&e))
            }
        })
        .await;
        assert!(
            refused(&results, &token).is_empty(),
            "round {round}: {} of {COPIES} refused, e.g. {:?}",
            results.iter().filter(|r| r.is_err()).count(),
            refused(&results, &token)
        );
        assert_eq!(versions(&c, &name).await, 2, "one new version, not more");
        let got = c.get_secret_value().secret_id(&name).send().await.unwrap();
        assert_eq!(got.secret_string(), Some("same value"));
        assert_eq!(got.version_id(), Some(token.as_str()));
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_put_secret_value_retries_with_two_values_split_by_the_stored_one() {
    let mut t = TestServer::start("race-split").await;
    let c = t.client();
    c.create_secret()
        .name("race-split")
        .secret_string("v0")
        .send()
        .await
        .unwrap();
    let token = token(0, 'd');
    // Half the copies carry one value, half another: only the stored value's copies succeed.
    let results = race(&c, |i| {
        let (c, token) = (c.clone(), token.clone());
        async move {
            c.put_secret_value()
                .secret_id("race-split")
                .client_request_token(token)
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
        .secret_id("race-split")
        .version_id(&token)
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
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        COPIES / 2,
        "{results:?}"
    );
    assert_eq!(versions(&c, "race-split").await, 2);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_update_secret_retries_all_succeed() {
    let mut t = TestServer::start("race-update").await;
    let c = t.client();
    for round in 0..ROUNDS {
        let name = format!("race-update-{round}");
        c.create_secret()
            .name(&name)
            .secret_string("v0")
            .send()
            .await
            .unwrap();
        let token = token(round, 'e');
        let results = race(&c, |_| {
            let (c, name, token) = (c.clone(), name.clone(), token.clone());
            async move {
                c.update_secret()
                    .secret_id(name)
                    .client_request_token(token)
                    .secret_string("updated")
                    .send()
                    .await
                    .map(|r| r.version_id().unwrap().to_string())
                    .map_err(|e| code(&e))
            }
        })
        .await;
        assert!(
            refused(&results, &token).is_empty(),
            "round {round}: {} of {COPIES} refused, e.g. {:?}",
            results.iter().filter(|r| r.is_err()).count(),
            refused(&results, &token)
        );
        assert_eq!(versions(&c, &name).await, 2);
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_create_secret_retries_create_one_secret() {
    let mut t = TestServer::start("race-create").await;
    let c = t.client();
    for round in 0..ROUNDS {
        let name = format!("race-create-{round}");
        let token = token(round, 'f');
        let results = race(&c, |_| {
            let (c, name, token) = (c.clone(), name.clone(), token.clone());
            async move {
                c.create_secret()
                    .name(name)
                    .client_request_token(token)
                    .secret_string("created once")
                    .send()
                    .await
                    .map(|r| format!("{} {}", r.arn().unwrap(), r.version_id().unwrap()))
                    .map_err(|e| code(&e))
            }
        })
        .await;
        let first = results[0].clone().expect("created");
        assert!(first.ends_with(&token), "{first}");
        assert!(refused(&results, &first).is_empty(), "{results:?}");
        assert_eq!(versions(&c, &name).await, 1);
    }
    // Another value under the same name and token: the token is in use.
    let e = c
        .create_secret()
        .name("race-create-0")
        .client_request_token(token(0, 'f'))
        .secret_string("another value")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceExistsException");
    t.stop().await;
}
