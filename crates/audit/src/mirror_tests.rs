//! The cluster's audit history against the machine's real PostgreSQL (127.0.0.1:5432, user
//! postgres): two nodes, one table. Each test gets a database of its own. PostgreSQL being
//! unreachable fails the test (never skipped).

use sqlx::Connection as _;

use crate::log::{Attribute, AuditConfig, AuditLog, Entry, Lookup};
use crate::mirror::{MirrorConfig, verify_cluster};
use crate::tests::sample_event;
use crate::{DigestSigner, Finding};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A fresh database, dropped when the guard goes.
struct Db {
    name: String,
}

impl Db {
    async fn new() -> Self {
        let name = format!("strongroom_audit_{}", uuid_hex());
        let mut c = sqlx::PgConnection::connect(&format!("{SERVER}/postgres"))
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (scripts/test starts it)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        Self { name }
    }
    fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }
    fn options(&self) -> sqlx::postgres::PgConnectOptions {
        self.url().parse().unwrap()
    }
    /// A connection to the audit tables' schema.
    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect_with(
            &self
                .options()
                .options([("search_path", crate::mirror::SCHEMA_NAME)]),
        )
        .await
        .unwrap()
    }
    async fn drop_it(self) {
        let mut c = sqlx::PgConnection::connect(&format!("{SERVER}/postgres"))
            .await
            .unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut c)
        .await;
    }
}

fn uuid_hex() -> String {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    hex::encode(b)
}

/// A node's audit log with its history in `db`, as node `id`.
async fn open_node(
    dir: &std::path::Path,
    db: &Db,
    id: &str,
) -> Result<AuditLog, crate::log::AuditError> {
    let signer = DigestSigner::load_or_create(&dir.join("audit-signing.key")).unwrap();
    AuditLog::open(
        AuditConfig {
            dir: Some(dir.to_path_buf()),
            mirror: Some(MirrorConfig {
                options: db.options(),
                node: id.into(),
            }),
            ..Default::default()
        },
        signer,
        None,
    )
    .await
}

async fn node(dir: &std::path::Path, db: &Db, id: &str) -> AuditLog {
    open_node(dir, db, id).await.unwrap()
}

fn entry(name: &str, id: &str, t: i64) -> Entry {
    let mut event = sample_event(name);
    event.event_id = id.into();
    Entry {
        event,
        time_ms: t,
        resource_short_name: Some("db".into()),
    }
}

fn by_id(id: &str) -> Lookup {
    Lookup {
        attribute: Some(Attribute::EventId(id.into())),
        limit: 10,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_history_each_chain_verifies_and_tampering_is_named() {
    let db = Db::new().await;
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(da.path(), &db, "node-a").await;
    let b = node(dbb.path(), &db, "node-b").await;
    for i in 0..20 {
        a.append(entry("GetSecretValue", &format!("a-{i}"), 1_000 + i))
            .await
            .unwrap();
        b.append(entry("PutSecretValue", &format!("b-{i}"), 2_000 + i))
            .await
            .unwrap();
    }
    a.sign_digest(5_000).await.unwrap();
    b.sign_digest(5_000).await.unwrap();
    // Read-your-writes across nodes: what A acknowledged, B finds at once, and the other way.
    assert_eq!(b.lookup(&by_id("a-19")).await.unwrap().len(), 1);
    assert_eq!(a.lookup(&by_id("b-0")).await.unwrap().len(), 1);
    let all = a
        .lookup(&Lookup {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 40, "every node's records, one list");
    let puts = a
        .lookup(&Lookup {
            attribute: Some(Attribute::EventName("PutSecretValue".into())),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(puts.len(), 20);
    // Paging by position: newest first, no overlap.
    let first = a
        .lookup(&Lookup {
            limit: 15,
            ..Default::default()
        })
        .await
        .unwrap();
    let rest = a
        .lookup(&Lookup {
            limit: 100,
            before_pos: Some(first.last().unwrap().pos),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 40);
    assert!(first.last().unwrap().pos > rest[0].pos);

    let reports = verify_cluster(&db.options()).await.unwrap();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.report.records, 20, "{r:?}");
        assert_eq!(r.report.digests, 1);
        assert!(r.report.findings.is_empty(), "{r:?}");
    }

    // An edited record and a deleted one in the table are named, per node.
    let mut c = db.connect().await;
    sqlx::query("UPDATE audit_events SET record = replace(record, 'alice', 'mallory') WHERE node = 'node-a' AND seq = 3")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE node = 'node-b' AND seq = 7")
        .execute(&mut c)
        .await
        .unwrap();
    let reports = verify_cluster(&db.options()).await.unwrap();
    let a_findings = &reports
        .iter()
        .find(|r| r.node == "node-a")
        .unwrap()
        .report
        .findings;
    let b_findings = &reports
        .iter()
        .find(|r| r.node == "node-b")
        .unwrap()
        .report
        .findings;
    assert!(
        a_findings
            .iter()
            .any(|f| matches!(f, Finding::Altered { seq: 3, .. })),
        "{a_findings:?}"
    );
    assert!(
        b_findings
            .iter()
            .any(|f| matches!(f, Finding::Deleted { first: 7, last: 7 })),
        "{b_findings:?}"
    );

    a.close(6_000).await;
    b.close(6_000).await;
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_replays_what_the_table_missed_and_refuses_a_stale_or_copied_data_dir() {
    let db = Db::new().await;
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), &db, "node-a").await;
    for i in 0..10 {
        a.append(entry("GetSecretValue", &format!("r-{i}"), 1_000 + i))
            .await
            .unwrap();
    }
    a.close(2_000).await;
    // As if the node crashed after its local commit and before the insert of the last four.
    let mut c = db.connect().await;
    sqlx::query("DELETE FROM audit_events WHERE node = 'node-a' AND seq > 6")
        .execute(&mut c)
        .await
        .unwrap();
    let a = node(dir.path(), &db, "node-a").await;
    assert_eq!(
        a.lookup(&by_id("r-9")).await.unwrap().len(),
        1,
        "replayed at open"
    );
    a.append(entry("GetSecretValue", "r-10", 1_100))
        .await
        .unwrap();
    a.close(3_000).await;
    let reports = verify_cluster(&db.options()).await.unwrap();
    assert_eq!(reports[0].report.records, 11);
    assert!(
        reports[0].report.findings.is_empty(),
        "{:?}",
        reports[0].report.findings
    );

    // Another node's key under this node's id: refused.
    let other = tempfile::tempdir().unwrap();
    let refused = open_node(other.path(), &db, "node-a").await;
    assert!(
        refused
            .err()
            .unwrap()
            .to_string()
            .contains("another digest key")
    );

    // A data dir older than what the table holds of that node: refused.
    let old = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("audit-signing.key"),
        old.path().join("audit-signing.key"),
    )
    .unwrap();
    let refused = open_node(old.path(), &db, "node-a").await;
    assert!(
        refused
            .err()
            .unwrap()
            .to_string()
            .contains("older than the node")
    );
    db.drop_it().await;
}

#[tokio::test]
async fn an_unreachable_database_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let signer = DigestSigner::load_or_create(&dir.path().join("audit-signing.key")).unwrap();
    let refused = AuditLog::open(
        AuditConfig {
            dir: Some(dir.path().to_path_buf()),
            mirror: Some(MirrorConfig {
                options: "postgres://postgres@127.0.0.1:1/none".parse().unwrap(),
                node: "n".into(),
            }),
            ..Default::default()
        },
        signer,
        None,
    )
    .await;
    assert!(
        refused
            .err()
            .unwrap()
            .to_string()
            .contains("cannot connect")
    );
}

/// `strongroom migrate`: a data dir's own log — pruned by retention, so its chain starts past
/// 1 — goes into the cluster's history, verifies there from its anchor with its digests, a
/// second run inserts nothing, and a node opened on that data dir then continues the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dirs_own_log_is_carried_into_the_cluster_and_continued() {
    let db = Db::new().await;
    let dir = tempfile::tempdir().unwrap();
    let signer = DigestSigner::load_or_create(&dir.path().join("audit-signing.key")).unwrap();
    let public_key = signer.public_key();
    let log = AuditLog::open(
        AuditConfig {
            dir: Some(dir.path().to_path_buf()),
            // About two records per segment, so retention removes some.
            segment_bytes: Some(2000),
            ..Default::default()
        },
        signer,
        None,
    )
    .await
    .unwrap();
    for i in 1..=20 {
        log.append(entry(
            "GetSecretValue",
            &format!("local-{i}"),
            10_000 + i * 100,
        ))
        .await
        .unwrap();
        if i % 5 == 0 {
            log.sign_digest(10_000 + i * 100).await.unwrap();
        }
    }
    let removed = log.prune(10_750).await.unwrap();
    assert!(removed > 0);
    log.close(50_000).await;

    let config = MirrorConfig {
        options: db.options(),
        node: "moved".into(),
    };
    let import = crate::log::mirror_local_history(&config, dir.path(), &public_key)
        .await
        .unwrap();
    assert_eq!((import.head_seq, import.already), (20, 0));
    assert_eq!(import.inserted, 20 - removed);
    assert!(import.digests >= 1, "{import:?}");
    let reports = verify_cluster(&db.options()).await.unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0].report;
    assert_eq!((r.records, r.findings.clone()), (20 - removed, vec![]));
    assert!(r.digests >= 1);

    // Again: nothing is inserted twice.
    let again = crate::log::mirror_local_history(&config, dir.path(), &public_key)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.already), (0, 20));

    // A node on the data dir joins with the same id and key and continues the chain.
    let n = node(dir.path(), &db, "moved").await;
    n.append(entry("PutSecretValue", "after-move", 60_000))
        .await
        .unwrap();
    n.close(70_000).await;
    let reports = verify_cluster(&db.options()).await.unwrap();
    let r = &reports[0].report;
    assert_eq!((r.records, r.findings.clone()), (21 - removed, vec![]));

    // A changed record in the table is found, as for any node's.
    let mut c = db.connect().await;
    sqlx::query("UPDATE audit_events SET record = replace(record, 'GetSecretValue', 'DeleteSecret') WHERE node = 'moved' AND seq = 20")
        .execute(&mut c)
        .await
        .unwrap();
    let reports = verify_cluster(&db.options()).await.unwrap();
    assert!(
        matches!(
            reports[0].report.findings.first(),
            Some(Finding::Altered { seq: 20, .. })
        ),
        "{:?}",
        reports[0].report.findings
    );
    db.drop_it().await;
}
