//! The log against real SQLite files: group commit, lookups, digests, tampering, fail-closed.

use crate::event::{EVENT_VERSION, Event, Resource, UserIdentity, format_time};
use crate::log::{Attribute, AuditConfig, AuditLog, Entry, Lookup, verify};
use crate::{DigestSigner, Finding};

pub(crate) fn sample_event(name: &str) -> Event {
    Event {
        event_version: EVENT_VERSION.into(),
        user_identity: UserIdentity {
            kind: "IAMUser".into(),
            principal_id: Some("AIDAEXAMPLE".into()),
            arn: Some("arn:aws:iam::123456789012:user/alice".into()),
            account_id: Some("123456789012".into()),
            access_key_id: Some("AKIAEXAMPLE".into()),
            user_name: Some("alice".into()),
            ..Default::default()
        },
        event_time: format_time(0),
        event_source: "secretsmanager.amazonaws.com".into(),
        event_name: name.into(),
        aws_region: "us-east-1".into(),
        source_ip_address: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        error_code: None,
        error_message: None,
        request_parameters: Some(serde_json::json!({"secretId": "db"})),
        response_elements: None,
        request_id: Some("req".into()),
        event_id: "00000000-0000-0000-0000-000000000000".into(),
        read_only: name.starts_with("Get"),
        resources: vec![Resource {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf".into(),
            account_id: "123456789012".into(),
            kind: "AWS::SecretsManager::Secret".into(),
        }],
        event_type: "AwsApiCall".into(),
        service_event_details: None,
        management_event: true,
        recipient_account_id: "123456789012".into(),
        event_category: "Management".into(),
        tls_details: None,
        session_credential_from_console: None,
        additional_event_data: None,
    }
}

pub(crate) fn entry(name: &str, n: i64) -> Entry {
    let mut event = sample_event(name);
    event.event_id = format!("id-{n}");
    Entry {
        event,
        time_ms: 1_000 * n,
        resource_short_name: Some("db".into()),
    }
}

pub(crate) async fn open(dir: &std::path::Path) -> AuditLog {
    let signer = DigestSigner::load_or_create(&dir.join("audit-signing.key")).unwrap();
    AuditLog::open(
        AuditConfig {
            dir: Some(dir.to_path_buf()),
            ..Default::default()
        },
        signer,
        None,
    )
    .await
    .unwrap()
}

/// Edit the (single) segment's lines as an attacker with write access to the disk would.
fn tamper(dir: &std::path::Path, edit: impl FnOnce(&mut Vec<String>)) {
    let segs = crate::segments::segments(&dir.join("audit")).unwrap();
    assert_eq!(segs.len(), 1);
    let text = std::fs::read_to_string(&segs[0]).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    let mut out = lines.join("\n");
    out.push('\n');
    std::fs::write(&segs[0], out).unwrap();
}

fn seq_of(line: &str) -> i64 {
    line.split('\t').next().unwrap().parse().unwrap()
}

/// 20 records appended concurrently (so they group-commit), then the log closed.
async fn written_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(dir.path()).await);
    let mut tasks = Vec::new();
    for n in 1..=20 {
        let log = log.clone();
        let name = if n % 2 == 0 {
            "GetSecretValue"
        } else {
            "PutSecretValue"
        };
        tasks.push(tokio::spawn(
            async move { log.append(entry(name, n)).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let log = std::sync::Arc::into_inner(log).unwrap();
    log.close(99_000).await;
    dir
}

async fn findings(dir: &std::path::Path) -> Vec<Finding> {
    verify(dir, None, None).await.unwrap().findings
}

#[tokio::test]
async fn appends_survive_restart_and_verify_clean() {
    let dir = written_log().await;
    let report = verify(dir.path(), None, None).await.unwrap();
    assert_eq!(report.records, 20);
    assert_eq!(report.digests, 1);
    assert_eq!(report.findings, vec![]);
    // The chain continues across a restart.
    let log = open(dir.path()).await;
    log.append(entry("ListSecrets", 21)).await.unwrap();
    log.close(100_000).await;
    let report = verify(dir.path(), None, None).await.unwrap();
    assert_eq!((report.records, report.findings), (21, vec![]));
}

#[tokio::test]
async fn lookups_filter_page_and_go_newest_first() {
    let dir = written_log().await;
    let log = open(dir.path()).await;
    let gets = log
        .lookup(&Lookup {
            attribute: Some(Attribute::EventName("GetSecretValue".into())),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(gets.len(), 10);
    assert!(gets.windows(2).all(|w| w[0].pos > w[1].pos));
    let page = log
        .lookup(&Lookup {
            attribute: Some(Attribute::ResourceName("db".into())),
            start_ms: Some(5_000),
            end_ms: Some(9_000),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let rest = log
        .lookup(&Lookup {
            attribute: Some(Attribute::ResourceName(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf".into(),
            )),
            start_ms: Some(5_000),
            end_ms: Some(9_000),
            before_pos: Some(page[1].pos),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    for (attr, n) in [
        (Attribute::ReadOnly(true), 10),
        (Attribute::Username("alice".into()), 20),
        (Attribute::Username("bob".into()), 0),
        (Attribute::EventId("id-7".into()), 1),
        (Attribute::AccessKeyId("AKIAEXAMPLE".into()), 20),
        (
            Attribute::EventSource("secretsmanager.amazonaws.com".into()),
            20,
        ),
        (
            Attribute::ResourceType("AWS::SecretsManager::Secret".into()),
            20,
        ),
    ] {
        let found = log
            .lookup(&Lookup {
                attribute: Some(attr.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), n, "{attr:?}");
    }
    log.close(100_000).await;
}

#[tokio::test]
async fn verify_names_a_deleted_record() {
    let dir = written_log().await;
    tamper(dir.path(), |l| l.retain(|x| seq_of(x) != 7));
    assert_eq!(
        findings(dir.path()).await,
        vec![Finding::Deleted { first: 7, last: 7 }]
    );
}

#[tokio::test]
async fn verify_names_an_edited_record() {
    let dir = written_log().await;
    tamper(dir.path(), |l| l[3] = l[3].replace("alice", "mallory"));
    assert_eq!(
        findings(dir.path()).await,
        vec![Finding::Altered { seq: 4, pos: 4 }]
    );
}

#[tokio::test]
async fn verify_names_swapped_records() {
    let dir = written_log().await;
    tamper(dir.path(), |l| l.swap(9, 10));
    assert_eq!(
        findings(dir.path()).await,
        vec![Finding::Reordered { seq: 10, pos: 11 }]
    );
}

#[tokio::test]
async fn verify_names_a_truncated_tail() {
    let dir = written_log().await;
    tamper(dir.path(), |l| l.truncate(17));
    assert_eq!(
        findings(dir.path()).await,
        vec![Finding::Truncated {
            last: Some(17),
            digest_seq: 20
        }]
    );
}

#[tokio::test]
async fn a_forged_digest_is_caught() {
    let dir = written_log().await;
    let digests = dir.path().join("audit/digests.log");
    let text = std::fs::read_to_string(&digests).unwrap();
    let mut f: Vec<String> = text.trim_end().split('\t').map(str::to_owned).collect();
    f[2] = (f[2].parse::<i64>().unwrap() + 1).to_string();
    std::fs::write(&digests, f.join("\t") + "\n").unwrap();
    assert_eq!(
        findings(dir.path()).await,
        vec![Finding::BadDigestSignature { digest_seq: 20 }]
    );
}

/// A log of 20 GetSecretValue records (times 1 s apart) in segments of a few records each.
async fn twenty_records_in_small_segments(dir: &std::path::Path) -> AuditLog {
    let log = AuditLog::open(
        AuditConfig {
            dir: Some(dir.to_path_buf()),
            // A few records per segment.
            segment_bytes: Some(2000),
            ..Default::default()
        },
        DigestSigner::generate().unwrap(),
        None,
    )
    .await
    .unwrap();
    for n in 1..=20 {
        log.append(entry("GetSecretValue", n)).await.unwrap();
    }
    log
}

#[tokio::test]
async fn retention_prunes_whole_segments_and_the_rest_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = twenty_records_in_small_segments(dir.path()).await;
    let removed = log.prune(10_500).await.unwrap();
    assert!((8..=10).contains(&removed), "{removed}");
    log.append(entry("ListSecrets", 21)).await.unwrap();
    // The index forgot the pruned records too.
    let left = log
        .lookup(&Lookup {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len() as u64, 21 - removed);
    log.close(100_000).await;
    let report = verify(dir.path(), None, None).await.unwrap();
    assert_eq!((report.records, report.findings), (21 - removed, vec![]));
    // Deleting the first kept segment is still caught: the anchor remembers the start.
    let first = crate::segments::segments(&dir.path().join("audit")).unwrap()[0].clone();
    std::fs::remove_file(first).unwrap();
    let f = findings(dir.path()).await;
    assert!(
        matches!(f.first(), Some(Finding::Deleted { first, .. }) if *first == removed as i64 + 1),
        "{f:?}"
    );
}

/// Reading the log from a seq on opens only the segments that can hold it, and yields every
/// record after it.
#[tokio::test]
async fn rows_after_a_seq_skip_only_segments_wholly_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = twenty_records_in_small_segments(dir.path()).await;
    log.close(100_000).await;
    let seg_dir = dir.path().join("audit");
    let segments = crate::segments::segments(&seg_dir).unwrap();
    assert!(segments.len() >= 5, "{segments:?}");
    for after in 0..=20 {
        let seqs: Vec<i64> = crate::segments::rows_after(&seg_dir, after)
            .unwrap()
            .map(|r| r.unwrap().0.seq)
            .collect();
        let wanted: Vec<i64> = (after + 1..=20).collect();
        let read_beyond: Vec<i64> = seqs.iter().copied().filter(|s| *s > after).collect();
        assert_eq!(read_beyond, wanted, "after {after}");
        // What it read at or below `after` is only the start of the one segment holding it.
        let below = seqs.len() - read_beyond.len();
        assert!(below <= 2, "after {after}: read {below} earlier records");
    }
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_log() {
    let dir = written_log().await;
    std::fs::remove_file(dir.path().join("audit-index.db")).unwrap();
    let _ = std::fs::remove_file(dir.path().join("audit-index.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("audit-index.db-shm"));
    let log = open(dir.path()).await;
    let all = log
        .lookup(&Lookup {
            attribute: Some(Attribute::ResourceName("db".into())),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 20);
    log.close(100_000).await;
}

#[tokio::test]
async fn a_full_log_refuses_appends_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let signer = DigestSigner::generate().unwrap();
    let log = AuditLog::open(
        AuditConfig {
            dir: Some(dir.path().to_path_buf()),
            max_bytes: Some(64 * 1024),
            ..Default::default()
        },
        signer,
        None,
    )
    .await
    .unwrap();
    let mut big = entry("PutSecretValue", 1);
    big.event.request_parameters = Some(serde_json::json!({"description": "x".repeat(20_000)}));
    let mut failed = None;
    for _ in 0..20 {
        if let Err(e) = log.append(big.clone()).await {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("a 64 KiB log must fill up");
    assert!(e.to_string().contains("full"), "{e}");
    assert!(!log.is_healthy());
    // Still full: the probe finds no room, and the log stays refused.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!log.is_healthy());
}

#[tokio::test]
async fn admission_reserves_room_so_an_admitted_record_always_fits() {
    let dir = tempfile::tempdir().unwrap();
    let max = 4 * crate::log::RESERVE_BYTES;
    let log = AuditLog::open(
        AuditConfig {
            dir: Some(dir.path().to_path_buf()),
            max_bytes: Some(max),
            ..Default::default()
        },
        DigestSigner::generate().unwrap(),
        None,
    )
    .await
    .unwrap();
    // Four reservations fit an empty log; a fifth concurrent one does not.
    let held: Vec<_> = (0..4)
        .map(|_| log.admit().expect("room for four"))
        .collect();
    let refused = log
        .admit()
        .err()
        .expect("a fifth reservation overflows the cap");
    assert!(refused.to_string().contains("full"), "{refused}");
    drop(held);
    // Admitted requests append; once the log is within one reservation of its cap, nothing
    // more is admitted, and every admitted record was written.
    let mut big = entry("PutSecretValue", 1);
    big.event.request_parameters = Some(serde_json::json!({"description": "x".repeat(20_000)}));
    let mut written = 0;
    while let Ok(admission) = log.admit() {
        log.append(big.clone())
            .await
            .expect("an admitted record has room");
        drop(admission);
        written += 1;
        assert!(written < 100, "the cap was never reached");
    }
    assert!(
        written >= 8,
        "only {written} records of ~20 KiB before a 256 KiB cap"
    );
    assert!(
        log.is_healthy(),
        "refusing admission is not a write failure"
    );
}

/// Throughput of the log alone: `cargo test --release -p strongroom-audit -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn append_throughput() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let dir = tempfile::tempdir().unwrap();
    let stats = std::sync::Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
    let s2 = stats.clone();
    let hook: crate::log::CommitHook = std::sync::Arc::new(move |d, n| {
        s2.0.fetch_add(1, Relaxed);
        s2.1.fetch_add(n as u64, Relaxed);
        s2.2.fetch_add(d.as_micros() as u64, Relaxed);
    });
    let signer = DigestSigner::generate().unwrap();
    let log = std::sync::Arc::new(
        AuditLog::open(
            AuditConfig {
                dir: Some(dir.path().to_path_buf()),
                ..Default::default()
            },
            signer,
            Some(hook),
        )
        .await
        .unwrap(),
    );
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for w in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < std::time::Duration::from_secs(3) {
                log.append(entry("GetSecretValue", w)).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let (commits, records, us) = (
        stats.0.load(Relaxed),
        stats.1.load(Relaxed),
        stats.2.load(Relaxed),
    );
    println!(
        "{total} appends in {:?}: {:.0}/s; {commits} commits, {:.1} records and {:.0} µs each",
        started.elapsed(),
        total as f64 / started.elapsed().as_secs_f64(),
        records as f64 / commits.max(1) as f64,
        us as f64 / commits.max(1) as f64,
    );
}

#[tokio::test]
async fn lookups_are_per_region_and_an_index_of_an_earlier_layout_is_rebuilt() {
    let dir = written_log().await;
    // An index of an earlier layout (a column per attribute, before regions), holding rows.
    {
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            dir.path().join(crate::log::INDEX_FILE).display()
        ))
        .await
        .unwrap();
        for stmt in [
            "DROP TABLE events",
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, \
             event_id TEXT NOT NULL, event_name TEXT NOT NULL, event_source TEXT NOT NULL, \
             username TEXT, access_key_id TEXT, read_only INTEGER NOT NULL, resource_type TEXT, \
             resource_name TEXT, resource_short TEXT, record TEXT, segment INTEGER, \
             offset INTEGER, length INTEGER)",
            "INSERT INTO events (seq, time_ms, event_id, event_name, event_source, read_only) \
             VALUES (1, 1, 'e', 'GetSecretValue', 'secretsmanager.amazonaws.com', 1)",
        ] {
            sqlx::query(stmt).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let log = open(dir.path()).await;
    let mut west = entry("GetSecretValue", 21);
    west.event.aws_region = "us-west-2".into();
    log.append(west).await.unwrap();
    let in_region = |region: &str| Lookup {
        region: Some(region.into()),
        limit: 100,
        ..Default::default()
    };
    let east = log.lookup(&in_region("us-east-1")).await.unwrap();
    assert_eq!(
        east.len(),
        20,
        "the rebuilt index knows the old records' region"
    );
    let west = log.lookup(&in_region("us-west-2")).await.unwrap();
    assert_eq!(west.len(), 1);
    assert!(west[0].record.contains("\"awsRegion\":\"us-west-2\""));
    assert!(
        log.lookup(&in_region("eu-west-1"))
            .await
            .unwrap()
            .is_empty()
    );
    log.close(100_000).await;
}

/// How long `audit verify` takes: `STRONGROOM_VERIFY_RECORDS` (default 1,000,000) records of a
/// GetSecretValue's size written straight into segments (4096 per batch), then verified.
/// `cargo test --release -p strongroom-audit verify_time -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn verify_time() {
    use crate::chain;
    use crate::segments::{self, SegmentLog};
    let n: i64 = std::env::var("STRONGROOM_VERIFY_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut head) =
        SegmentLog::open(&dir.path().join(segments::DIR), None, segments::ROLL_BYTES).unwrap();
    let written = std::time::Instant::now();
    let mut lines = Vec::new();
    let mut first = 1;
    for seq in 1..=n {
        let mut e = sample_event("GetSecretValue");
        e.event_id = format!("{seq:036}");
        let record = serde_json::to_string(&e).unwrap();
        let hash = chain::link(seq, &head.hash, &chain::content_hash(&record));
        segments::format_line(&mut lines, seq, &head.hash, &hash, seq, &record);
        head = segments::Head { seq, hash };
        if seq % 4096 == 0 || seq == n {
            log.append(&lines, first).unwrap();
            lines.clear();
            first = seq + 1;
        }
    }
    let bytes = log.total_bytes();
    let written = written.elapsed();
    let started = std::time::Instant::now();
    let report = verify(dir.path(), None, None).await.unwrap();
    let took = started.elapsed();
    assert_eq!((report.records, report.findings), (n as u64, vec![]));
    println!(
        "{n} records, {} bytes/record, written in {written:?}; verified in {took:?} ({:.0} records/s)",
        bytes / n as u64,
        n as f64 / took.as_secs_f64()
    );
}

#[test]
fn the_group_commit_waits_only_for_requests_in_flight_and_not_long() {
    use crate::log::{GROUP_WAIT, group_wait};
    use std::time::Duration;
    // Alone (or everyone in flight already held): commit at once.
    assert_eq!(group_wait(1, 1, Duration::ZERO), None);
    assert_eq!(group_wait(3, 3, Duration::ZERO), None);
    // A request may append several records: more held than in flight is no reason to wait.
    assert_eq!(group_wait(4, 2, Duration::ZERO), None);
    // Others in flight: wait for them, never past GROUP_WAIT from the oldest.
    assert_eq!(group_wait(1, 5, Duration::ZERO), Some(GROUP_WAIT));
    let late = GROUP_WAIT - Duration::from_micros(10);
    assert_eq!(group_wait(1, 5, late), Some(Duration::from_micros(10)));
    assert_eq!(group_wait(1, 5, GROUP_WAIT), None);
    // Nothing held, or a full batch: nothing to wait for.
    assert_eq!(group_wait(0, 5, Duration::ZERO), None);
    assert_eq!(group_wait(4096, 5000, Duration::ZERO), None);
}

/// Admitted requests' records share one commit when they arrive while it waits; a request
/// that stays in flight without appending holds the others back only until GROUP_WAIT, and
/// nothing is lost either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admitted_requests_share_a_commit_and_a_straggler_delays_it_only_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = batches.clone();
    let hook: crate::log::CommitHook = std::sync::Arc::new(move |_, n| {
        seen.lock().unwrap().push(n);
    });
    let log = AuditLog::open(
        AuditConfig {
            dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
        DigestSigner::generate().unwrap(),
        Some(hook),
    )
    .await
    .unwrap();
    // Three requests in flight; two append at once, the third never does (a request busy
    // elsewhere): the two are committed together, after at most the group wait.
    let in_flight = [
        log.admit().unwrap(),
        log.admit().unwrap(),
        log.admit().unwrap(),
    ];
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(
        log.append(entry("GetSecretValue", 1)),
        log.append(entry("GetSecretValue", 2))
    );
    a.unwrap();
    b.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "a straggler must not hold a commit back for long"
    );
    drop(in_flight);
    // Alone now: its record is committed without waiting for anyone.
    let alone = log.admit().unwrap();
    log.append(entry("GetSecretValue", 3)).await.unwrap();
    drop(alone);
    let batches = batches.lock().unwrap().clone();
    assert_eq!(
        batches.iter().sum::<usize>(),
        3,
        "every record committed once: {batches:?}"
    );
    assert_eq!(
        batches[0], 2,
        "the two concurrent records shared a commit: {batches:?}"
    );
    log.close(1).await;
    let report = verify(dir.path(), None, None).await.unwrap();
    assert_eq!((report.records, report.findings.len()), (3, 0));
}

/// Filtered lookups read the index a page at a time: a match older than a page of others is
/// found, the limit holds across pages, and a page boundary neither repeats nor skips one.
#[tokio::test]
async fn filtered_lookups_page_through_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(dir.path()).await);
    // Three DeleteSecret records, then 2,500 others (more than two pages), with a fourth
    // DeleteSecret in the middle: appended concurrently in groups (each group one commit).
    let name = |n: i64| {
        if n <= 3 || n == 1300 {
            "DeleteSecret"
        } else {
            "GetSecretValue"
        }
    };
    for group in (1..=2_503i64).collect::<Vec<_>>().chunks(500) {
        let tasks: Vec<_> = group
            .iter()
            .map(|&n| {
                let log = log.clone();
                tokio::spawn(async move { log.append(entry(name(n), n)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }
    let deletes = |limit: usize, ascending: bool| Lookup {
        attribute: Some(Attribute::EventName("DeleteSecret".into())),
        limit,
        ascending,
        ..Default::default()
    };
    let found = log.lookup(&deletes(50, false)).await.unwrap();
    assert_eq!(found.len(), 4, "every match, however far back");
    assert!(
        found.windows(2).all(|w| w[0].pos > w[1].pos),
        "newest first"
    );
    assert!(found.iter().all(|f| f.event_name == "DeleteSecret"));
    assert!(found.iter().all(|f| f.record.contains("\"DeleteSecret\"")));
    let ids: std::collections::BTreeSet<_> = found.iter().map(|f| f.event_id.clone()).collect();
    let want: std::collections::BTreeSet<_> =
        ["id-1", "id-2", "id-3", "id-1300"].map(String::from).into();
    assert_eq!(ids, want);
    // The limit holds, and paging on from the last one found reaches the rest.
    let first = log.lookup(&deletes(2, false)).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = log
        .lookup(&Lookup {
            before_pos: Some(first[1].pos),
            ..deletes(50, false)
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest[0].pos < first[1].pos);
    // Oldest first too.
    let oldest = log.lookup(&deletes(3, true)).await.unwrap();
    assert_eq!(
        oldest
            .iter()
            .map(|f| f.event_id.as_str())
            .collect::<Vec<_>>(),
        ["id-1", "id-2", "id-3"]
    );
    // Unfiltered: exactly the limit, newest first.
    let newest = log
        .lookup(&Lookup {
            limit: 1500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(newest.len(), 1500);
    assert!(newest.windows(2).all(|w| w[0].pos == w[1].pos + 1));
    std::sync::Arc::into_inner(log)
        .unwrap()
        .close(10_000_000)
        .await;
}

/// The scheduling policy (`SCHED_*`) and nice value of every thread named `name`.
fn threads_named(name: &str) -> Vec<(u32, i32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis start at field 3 (state); nice is
        // field 19, policy field 41 (proc(5)).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        if let (Some(nice), Some(policy)) = (fields.get(16), fields.get(38)) {
            out.push((policy.parse().unwrap(), nice.parse().unwrap()));
        }
    }
    out
}

/// Waits until some index thread's (policy, nice) satisfies `want`. Other tests' logs run
/// index threads too, each lowered just after it starts.
async fn index_thread_within_5s(what: &str, want: impl Fn(u32, i32) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !threads_named(crate::index::INDEX_THREAD)
        .iter()
        .any(|&(policy, nice)| want(policy, nice))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no index thread {what}: {:?}",
            threads_named(crate::index::INDEX_THREAD)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The index thread runs ten nice levels below the server (its batches of inserts must not
/// hold requests up), with segments and in memory mode.
#[tokio::test]
async fn the_index_thread_yields_to_requests() {
    let own = rustix::process::getpriority_process(None).unwrap();
    let lowered = move |policy: u32, nice: i32| policy == 0 && nice == (own + 10).min(19);
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path()).await;
    index_thread_within_5s("ten nice levels down", lowered).await;
    log.close(1).await;

    let memory = AuditLog::open(
        AuditConfig::default(),
        DigestSigner::generate().unwrap(),
        None,
    )
    .await
    .unwrap();
    index_thread_within_5s("ten nice levels down (memory)", lowered).await;
    memory.close(1).await;
}
