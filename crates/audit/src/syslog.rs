//! The syslog export sink: every committed record as one RFC 5424 message (facility 13, "log
//! audit"; severity 6, informational; MSGID `cloudtrail`; the record's JSON as the message),
//! to a collector over UDP (RFC 5426), TCP (RFC 6587 octet counting) or a Unix datagram
//! socket such as `/dev/log`.
//!
//! Best effort, like the other exports (the segments are the record of truth), and never in
//! the writer's way: messages go through a bounded queue to a thread of their own; when the
//! collector falls behind, messages are dropped and counted, not waited for.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Where the collector listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    Udp(String),
    Tcp(String),
    Unix(std::path::PathBuf),
}

impl std::str::FromStr for SyslogTarget {
    type Err = String;

    /// `udp://HOST:PORT`, `tcp://HOST:PORT` or `unix:///dev/log`.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(a) = s.strip_prefix("udp://") {
            Ok(Self::Udp(a.to_string()))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            Ok(Self::Tcp(a.to_string()))
        } else if let Some(p) = s.strip_prefix("unix://") {
            Ok(Self::Unix(p.into()))
        } else {
            Err(format!(
                "{s:?} is not a syslog target: use udp://HOST:PORT, tcp://HOST:PORT or unix:///dev/log"
            ))
        }
    }
}

const QUEUE: usize = 64 * 1024;
/// Facility 13 (log audit) × 8 + severity 6 (informational).
const PRI: u8 = 13 * 8 + 6;

pub struct SyslogSink {
    tx: SyncSender<String>,
    dropped: Arc<AtomicU64>,
}

impl SyslogSink {
    pub fn start(target: SyslogTarget) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "-".into());
        std::thread::Builder::new()
            .name("audit-syslog".into())
            .spawn(move || run(target, hostname, rx))?;
        Ok(Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queue one record (its JSON) with its time.
    pub fn send(&self, time_ms: i64, record: &str) {
        let stamp = rfc3339_ms(time_ms);
        let line = format!("{stamp}\t{record}");
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        "syslog collector is behind: audit messages dropped"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn rfc3339_ms(time_ms: i64) -> String {
    // "2026-12-02T01:02:03Z" → with milliseconds.
    let base = crate::event::format_time(time_ms);
    format!(
        "{}.{:03}Z",
        base.trim_end_matches('Z'),
        time_ms.rem_euclid(1000)
    )
}

/// One RFC 5424 message.
fn message(hostname: &str, stamped: &str) -> String {
    let (stamp, record) = stamped.split_once('\t').unwrap_or(("-", stamped));
    format!(
        "<{PRI}>1 {stamp} {hostname} strongroom {} cloudtrail - {record}",
        std::process::id()
    )
}

enum Conn {
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixDatagram),
}

fn connect(target: &SyslogTarget) -> std::io::Result<Conn> {
    Ok(match target {
        SyslogTarget::Udp(addr) => {
            let s = std::net::UdpSocket::bind(("0.0.0.0", 0))
                .or_else(|_| std::net::UdpSocket::bind(("::", 0)))?;
            s.connect(addr)?;
            Conn::Udp(s)
        }
        SyslogTarget::Tcp(addr) => {
            let s = std::net::TcpStream::connect(addr)?;
            s.set_write_timeout(Some(std::time::Duration::from_secs(5)))?;
            Conn::Tcp(s)
        }
        SyslogTarget::Unix(path) => {
            let s = std::os::unix::net::UnixDatagram::unbound()?;
            s.connect(path)?;
            Conn::Unix(s)
        }
    })
}

fn run(target: SyslogTarget, hostname: String, rx: Receiver<String>) {
    let mut conn: Option<Conn> = None;
    let mut last_error: Option<std::time::Instant> = None;
    for stamped in rx {
        let msg = message(&hostname, &stamped);
        if conn.is_none() {
            match connect(&target) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    // Say so at most once a minute; drop this message.
                    if last_error.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                        tracing::warn!(error = %e, "cannot reach the syslog collector");
                        last_error = Some(std::time::Instant::now());
                    }
                    continue;
                }
            }
        }
        let sent = match conn.as_mut() {
            Some(Conn::Udp(s)) => s.send(msg.as_bytes()).map(|_| ()),
            Some(Conn::Unix(s)) => s.send(msg.as_bytes()).map(|_| ()),
            Some(Conn::Tcp(s)) => write!(s, "{} {msg}", msg.len()),
            None => Ok(()),
        };
        if let Err(e) = sent {
            if last_error.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                tracing::warn!(error = %e, "could not send an audit message to syslog");
                last_error = Some(std::time::Instant::now());
            }
            conn = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            "udp://127.0.0.1:514".parse(),
            Ok(SyslogTarget::Udp("127.0.0.1:514".into()))
        );
        assert_eq!(
            "unix:///dev/log".parse(),
            Ok(SyslogTarget::Unix("/dev/log".into()))
        );
        assert!("syslog.example:514".parse::<SyslogTarget>().is_err());
    }

    #[test]
    fn tcp_frames_messages_by_octet_count() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = SyslogSink::start(SyslogTarget::Tcp(
            listener.local_addr().unwrap().to_string(),
        ))
        .unwrap();
        sink.send(1_700_000_000_000, r#"{"n":1}"#);
        sink.send(1_700_000_000_000, r#"{"n":2}"#);
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut got = String::new();
        let mut buf = [0u8; 1024];
        while got.matches("cloudtrail").count() < 2 {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early: {got}");
            got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        // "LEN SP MSG" twice, each LEN the exact byte length of its MSG.
        let mut rest = got.as_str();
        for n in 1..=2 {
            let (len, tail) = rest.split_once(' ').unwrap();
            let len: usize = len.parse().unwrap();
            let (msg, after) = tail.split_at(len);
            assert!(
                msg.starts_with("<110>1 ") && msg.ends_with(&format!("{{\"n\":{n}}}")),
                "{msg}"
            );
            rest = after;
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn records_arrive_as_rfc5424_messages_over_udp() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let sink =
            SyslogSink::start(SyslogTarget::Udp(rx.local_addr().unwrap().to_string())).unwrap();
        sink.send(1_700_000_000_123, r#"{"eventName":"GetSecretValue"}"#);
        let mut buf = [0u8; 4096];
        let n = rx.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(msg.starts_with("<110>1 2023-11-14T22:13:20.123Z "), "{msg}");
        assert!(
            msg.ends_with(r#" cloudtrail - {"eventName":"GetSecretValue"}"#),
            "{msg}"
        );
        assert!(msg.contains(" strongroom "), "{msg}");
    }
}
