//! `strongroom audit ...`: the operator's view of the audit log, read straight from the data
//! directory (read-only, so it works while the server runs).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use strongroom_audit::event::parse_time;
use strongroom_audit::{Attribute, AuditReader, DigestSigner, Found, Lookup};

use crate::config::DEFAULT_DATA_DIR;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and signed digests; name the first tampered record exactly.
    Verify(VerifyArgs),
    /// Print the server's digest-signing public key (hex, Ed25519), to keep somewhere safe.
    PublicKey(DirArg),
    /// Print the newest records (JSON lines, oldest of them first); --follow keeps printing.
    Tail(TailArgs),
    /// Search records, newest first, by one attribute and/or a time range.
    Search(SearchArgs),
}

#[derive(Debug, Args)]
pub struct DirArg {
    /// The server's data directory.
    #[arg(long, env = "STRONGROOM_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// First record (chain sequence number) to check.
    #[arg(long, requires = "to")]
    pub from: Option<i64>,
    /// Last record to check.
    #[arg(long, requires = "from")]
    pub to: Option<i64>,
    /// The public key (hex) to check digests with, from `audit public-key` kept elsewhere.
    /// Without it the key stored beside each digest is trusted.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Verify a cluster's whole history instead: every node's chain in this PostgreSQL
    /// database (the nodes' `--store`), each against the digest key it joined with.
    #[arg(long, value_name = "POSTGRES_URL", conflicts_with_all = ["from", "to", "public_key"])]
    pub cluster: Option<String>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// How many records.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub lines: usize,
    /// Keep printing records as they are written.
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub dir: DirArg,
    #[arg(long)]
    pub event_name: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    /// A resource's ARN or name.
    #[arg(long)]
    pub resource: Option<String>,
    #[arg(long)]
    pub access_key_id: Option<String>,
    #[arg(long)]
    pub event_source: Option<String>,
    #[arg(long)]
    pub event_id: Option<String>,
    /// Only records with (true) or without (false) a read-only event.
    #[arg(long)]
    pub read_only: Option<bool>,
    /// RFC 3339, e.g. 2026-11-22T10:00:00Z.
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Runs a command; returns the process exit code (0 ok, 1 tampering found, 2 usage/IO error).
pub async fn run(cmd: AuditCommand) -> u8 {
    let result = match cmd {
        AuditCommand::Verify(a) => verify(a).await,
        AuditCommand::PublicKey(d) => public_key(&d.data_dir),
        AuditCommand::Tail(a) => tail(a).await,
        AuditCommand::Search(a) => search(a).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strongroom audit: {e}");
            2
        }
    }
}

async fn verify(a: VerifyArgs) -> Result<u8, String> {
    if let Some(url) = &a.cluster {
        return verify_cluster(url).await;
    }
    let key = match &a.public_key {
        Some(h) => Some(hex::decode(h.trim()).map_err(|_| "--public-key must be hex")?),
        None => None,
    };
    let range = a.from.zip(a.to);
    let report = strongroom_audit::log::verify(&a.dir.data_dir, range, key.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    if report.findings.is_empty() {
        println!(
            "OK: {} records form an unbroken chain; {} signed digests verified.",
            report.records, report.digests
        );
        return Ok(0);
    }
    println!(
        "TAMPERED: {} problem(s) in {} records ({} digests):",
        report.findings.len(),
        report.records,
        report.digests
    );
    for f in &report.findings {
        println!("  - {f}");
    }
    Ok(1)
}

async fn verify_cluster(url: &str) -> Result<u8, String> {
    let options = strongroom_store::postgres::connect_options(url)
        .map_err(|e| format!("--cluster {}: {e}", crate::config::redact_url(url)))?;
    let nodes = strongroom_audit::mirror::verify_cluster(&options)
        .await
        .map_err(|e| e.to_string())?;
    if nodes.is_empty() {
        return Err("the database holds no audit history".into());
    }
    let mut code = 0;
    for n in &nodes {
        let r = &n.report;
        if r.findings.is_empty() {
            println!(
                "OK: node {}: {} records form an unbroken chain; {} signed digests verified.",
                n.node, r.records, r.digests
            );
        } else {
            code = 1;
            println!(
                "TAMPERED: node {}: {} problem(s) in {} records ({} digests):",
                n.node,
                r.findings.len(),
                r.records,
                r.digests
            );
            for f in &r.findings {
                println!("  - {f}");
            }
        }
    }
    Ok(code)
}

fn public_key(dir: &Path) -> Result<u8, String> {
    let path = dir.join("audit-signing.key");
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    let signer = DigestSigner::load_or_create(&path)?;
    println!("{}", hex::encode(signer.public_key()));
    Ok(0)
}

fn print(found: &[Found]) {
    for f in found {
        println!("{}", f.record);
    }
}

async fn tail(a: TailArgs) -> Result<u8, String> {
    let reader = AuditReader::open(&a.dir.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    let mut newest = reader
        .lookup(&Lookup {
            limit: a.lines.max(1),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    newest.reverse();
    print(&newest);
    if !a.follow {
        return Ok(0);
    }
    let mut last = newest.last().map_or(0, |f| f.pos);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let more = reader.after(last, 1000).await.map_err(|e| e.to_string())?;
        if let Some(f) = more.last() {
            last = f.pos;
        }
        print(&more);
    }
}

async fn search(a: SearchArgs) -> Result<u8, String> {
    let mut attrs = Vec::new();
    attrs.extend(a.event_name.map(Attribute::EventName));
    attrs.extend(a.username.map(Attribute::Username));
    attrs.extend(a.resource.map(Attribute::ResourceName));
    attrs.extend(a.access_key_id.map(Attribute::AccessKeyId));
    attrs.extend(a.event_source.map(Attribute::EventSource));
    attrs.extend(a.event_id.map(Attribute::EventId));
    attrs.extend(a.read_only.map(Attribute::ReadOnly));
    if attrs.len() > 1 {
        return Err("search by one attribute at a time (as LookupEvents does)".into());
    }
    let time = |s: Option<String>| -> Result<Option<i64>, String> {
        s.map(|t| parse_time(&t).ok_or(format!("{t:?} is not an RFC 3339 time")))
            .transpose()
    };
    let reader = AuditReader::open(&a.dir.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    let found = reader
        .lookup(&Lookup {
            attribute: attrs.pop(),
            start_ms: time(a.since)?,
            end_ms: time(a.until)?,
            limit: a.limit.max(1),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    print(&found);
    Ok(0)
}
