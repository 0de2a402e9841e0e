//! The durable log: append-only text segments in `DATA_DIR/audit/`, one record per line:
//!
//! ```text
//! seq <TAB> prev-hash-hex <TAB> hash-hex <TAB> time-ms <TAB> CloudTrail record JSON <LF>
//! ```
//!
//! A batch is one `write` and one `fdatasync` — far cheaper than a database commit, which is
//! what lets every request wait for its record. Segments roll at a size, so retention deletes
//! whole files; `anchor` remembers where the remaining chain starts, `digests.log` holds the
//! signed digests. Plain text on purpose: `grep` and `tail -f` work, and so does an auditor
//! with nothing but `strongroom audit verify`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::chain::{GENESIS, Hash, Row};

pub const DIR: &str = "audit";
const DIGESTS: &str = "digests.log";
const ANCHOR: &str = "anchor";
const SEGMENT_EXT: &str = "log";
/// Segments roll past this size by default (retention works in whole segments).
pub const ROLL_BYTES: u64 = 64 * 1024 * 1024;

/// The chain head: the last record's seq and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: Hash,
}

/// One parsed line.
#[derive(Debug, Clone)]
pub struct Line {
    pub seq: i64,
    pub prev: Vec<u8>,
    pub hash: Vec<u8>,
    pub time_ms: i64,
    pub record: String,
}

/// Append one line to `out`; returns where the record starts within `out`.
pub fn format_line(
    out: &mut Vec<u8>,
    seq: i64,
    prev: &Hash,
    hash: &Hash,
    time_ms: i64,
    record: &str,
) -> usize {
    // Written in place (no formatted strings per record: this runs on the writer thread,
    // once per record of every batch).
    let mut hex = [0u8; 64];
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{seq}");
    for h in [prev, hash] {
        out.push(b'\t');
        // Cannot fail: 64 bytes hold 32 bytes' hex.
        let _ = hex::encode_to_slice(h, &mut hex);
        out.extend_from_slice(&hex);
    }
    let _ = write!(out, "\t{time_ms}\t");
    let at = out.len();
    out.extend_from_slice(record.as_bytes());
    out.push(b'\n');
    at
}

/// Where a record's JSON lies: segment id (its first seq), byte offset, length.
pub type Location = (i64, u64, u32);

/// Read one record back from its segment (for lookups: the index holds only locations).
pub fn read_record(dir: &Path, (segment, offset, len): Location) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let f = File::open(dir.join(segment_name(segment)))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, offset)?;
    String::from_utf8(buf).map_err(std::io::Error::other)
}

fn segment_id(p: &Path) -> i64 {
    p.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Parse a line; `None` when it is not five tab-separated fields (a damaged line is then
/// reported by the verifier as altered, through an impossible hash).
pub fn parse_line(line: &str) -> Option<Line> {
    let mut f = line.splitn(5, '\t');
    let seq = f.next()?.parse().ok()?;
    let prev = hex::decode(f.next()?).ok()?;
    let hash = hex::decode(f.next()?).ok()?;
    let time_ms = f.next()?.parse().ok()?;
    let record = f.next()?.to_string();
    Some(Line {
        seq,
        prev,
        hash,
        time_ms,
        record,
    })
}

fn segment_name(first_seq: i64) -> String {
    format!("{first_seq:020}.{SEGMENT_EXT}")
}

/// Segment files in chain order (their names are their first seq, zero-padded).
pub fn segments(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == SEGMENT_EXT)
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Every line of every segment, in storage order, with its position (1-based, across
/// segments). Unparseable lines come back as rows that cannot verify.
pub fn rows(
    dir: &Path,
) -> std::io::Result<impl Iterator<Item = std::io::Result<RowAt>> + Send + use<>> {
    Ok(rows_of(segments(dir)?))
}

/// The rows of the segments that may hold records after seq `after` (a segment's name is its
/// first seq, so those wholly at or below it are not read); positions count from the first
/// segment read. The caller skips the leading rows at or below `after`.
pub fn rows_after(
    dir: &Path,
    after: i64,
) -> std::io::Result<impl Iterator<Item = std::io::Result<RowAt>> + Send + use<>> {
    let mut files = segments(dir)?;
    let below = files
        .windows(2)
        .take_while(|w| segment_id(&w[1]) <= after + 1)
        .count();
    Ok(rows_of(files.split_off(below)))
}

fn rows_of(files: Vec<PathBuf>) -> impl Iterator<Item = std::io::Result<RowAt>> + Send {
    let mut pos = 0i64;
    let lines = files.into_iter().flat_map(|p| {
        let id = segment_id(&p);
        let reader = File::open(&p).map(BufReader::new);
        let mut offset = 0u64;
        let iter: Box<dyn Iterator<Item = std::io::Result<(String, Location)>> + Send> =
            match reader {
                Ok(r) => Box::new(r.lines().map(move |l| {
                    let l = l?;
                    let start = offset;
                    offset += l.len() as u64 + 1;
                    // The record is the fifth field.
                    let skip = l
                        .splitn(5, '\t')
                        .take(4)
                        .map(|f| f.len() + 1)
                        .sum::<usize>();
                    let len = l.len().saturating_sub(skip) as u32;
                    Ok((l, (id, start + skip as u64, len)))
                })),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
        iter
    });
    lines.map(move |l| {
        let (l, at) = l?;
        pos += 1;
        Ok(match parse_line(&l) {
            Some(x) => (
                Row {
                    pos,
                    seq: x.seq,
                    prev: x.prev,
                    hash: x.hash,
                    record: x.record,
                },
                x.time_ms,
                at,
            ),
            None => (
                Row {
                    pos,
                    seq: -pos,
                    prev: Vec::new(),
                    hash: Vec::new(),
                    record: l,
                },
                0,
                at,
            ),
        })
    })
}

/// A row as stored, with its time and where its record lies.
pub type RowAt = (Row, i64, Location);

/// Where the chain starts: (first seq, the hash before it). Genesis unless retention moved it.
pub fn read_anchor(dir: &Path) -> std::io::Result<(i64, Hash)> {
    match std::fs::read_to_string(dir.join(ANCHOR)) {
        Ok(text) => {
            let (seq, prev) = text
                .trim()
                .split_once('\t')
                .ok_or_else(|| std::io::Error::other("the audit anchor file is malformed"))?;
            let seq = seq
                .parse()
                .map_err(|_| std::io::Error::other("the audit anchor file is malformed"))?;
            let prev: Hash = hex::decode(prev)
                .ok()
                .and_then(|p| p.try_into().ok())
                .ok_or_else(|| std::io::Error::other("the audit anchor file is malformed"))?;
            Ok((seq, prev))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((1, GENESIS)),
        Err(e) => Err(e),
    }
}

/// A signed digest as stored: (seq, hash, time, public key, signature).
pub type DigestLine = (i64, Vec<u8>, i64, Vec<u8>, Vec<u8>);

pub fn read_digests(dir: &Path) -> std::io::Result<Vec<DigestLine>> {
    let text = match std::fs::read_to_string(dir.join(DIGESTS)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let [seq, hash, time, key, sig] = f.as_slice() else {
                return None;
            };
            Some((
                seq.parse().ok()?,
                hex::decode(hash).ok()?,
                time.parse().ok()?,
                hex::decode(key).ok()?,
                hex::decode(sig).ok()?,
            ))
        })
        .collect())
}

/// The open log: the current segment for appends, and the byte budget.
pub struct SegmentLog {
    dir: PathBuf,
    file: File,
    /// The current segment's id (the first seq it holds).
    id: i64,
    file_bytes: u64,
    total_bytes: u64,
    max_bytes: Option<u64>,
    roll_bytes: u64,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SegmentLog {
    /// Open (creating) `dir`, repair a torn last line (a batch cut short by a crash was never
    /// acknowledged), and return the chain head.
    pub fn open(
        dir: &Path,
        max_bytes: Option<u64>,
        roll_bytes: u64,
    ) -> std::io::Result<(Self, Head)> {
        std::fs::create_dir_all(dir)?;
        let mut files = segments(dir)?;
        if files.is_empty() {
            let (seq, _) = read_anchor(dir)?;
            let p = dir.join(segment_name(seq));
            File::create(&p)?.sync_all()?;
            sync_dir(dir)?;
            files.push(p);
        }
        let mut total_bytes = 0;
        for f in &files {
            total_bytes += std::fs::metadata(f)?.len();
        }
        let last = files.last().cloned().unwrap_or_default();
        let mut file = OpenOptions::new().read(true).append(true).open(&last)?;
        // Only the tail is read: a segment may be tens of MB, and reading it whole at every
        // start made the server's memory after a restart grow with the audit log.
        let len = file.metadata()?.len();
        let (complete, last_line) = last_complete_line(&mut file, len)?;
        if complete < len {
            tracing::warn!(
                file = %last.display(),
                bytes = len - complete,
                "discarding a torn audit batch (never acknowledged)"
            );
            file.set_len(complete)?;
            file.sync_all()?;
            total_bytes -= len - complete;
        }
        let head = match last_line
            .as_deref()
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(parse_line)
        {
            Some(l) => Head {
                seq: l.seq,
                hash: l.hash.try_into().unwrap_or(GENESIS),
            },
            // An empty last segment: the previous one (or the anchor) holds the head.
            None => previous_head(dir, &files)?,
        };
        let log = Self {
            dir: dir.to_path_buf(),
            file,
            id: segment_id(&last),
            file_bytes: complete,
            total_bytes,
            max_bytes,
            roll_bytes,
        };
        Ok((log, head))
    }

    /// Append a batch of formatted lines starting at `first_seq`, durably. Returns the
    /// segment written and the batch's offset in it.
    pub fn append(&mut self, lines: &[u8], first_seq: i64) -> Result<(i64, u64), String> {
        if let Some(max) = self.max_bytes
            && self.total_bytes + lines.len() as u64 > max
        {
            return Err(format!(
                "the audit log is full: {} of the {} bytes allowed (--audit-max-mb) are used",
                self.total_bytes, max
            ));
        }
        if self.file_bytes >= self.roll_bytes {
            let p = self.dir.join(segment_name(first_seq));
            self.file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&p)
                .map_err(|e| e.to_string())?;
            sync_dir(&self.dir).map_err(|e| e.to_string())?;
            self.file_bytes = 0;
            self.id = first_seq;
        }
        let at = (self.id, self.file_bytes);
        let result = self
            .file
            .write_all(lines)
            .and_then(|_| self.file.sync_data());
        if let Err(e) = result {
            // Leave no partial batch behind: it was not acknowledged.
            let _ = self.file.set_len(self.file_bytes);
            return Err(e.to_string());
        }
        self.file_bytes += lines.len() as u64;
        self.total_bytes += lines.len() as u64;
        Ok(at)
    }

    /// Bytes the segments hold (what `max_bytes` caps).
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Whether appends can succeed again: `room` bytes fit the budget and the file system,
    /// and the file syncs. (A sync alone succeeds on a full file system: it has nothing to
    /// write. Found writable, the log admits requests that change the store before their
    /// record fails.)
    pub fn writable(&mut self, room: u64) -> bool {
        let free = rustix::fs::fstatvfs(&self.file)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(u64::MAX);
        self.max_bytes
            .is_none_or(|max| self.total_bytes + room <= max)
            && free >= room
            && self.file.sync_data().is_ok()
    }

    pub fn append_digest(
        &mut self,
        seq: i64,
        hash: &Hash,
        time_ms: i64,
        key: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let line = format!(
            "{seq}\t{}\t{time_ms}\t{}\t{}\n",
            hex::encode(hash),
            hex::encode(key),
            hex::encode(sig)
        );
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(DIGESTS))
            .map_err(|e| e.to_string())?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| e.to_string())
    }

    /// Delete whole segments whose records are all older than `before_ms` (never the one
    /// being written) and move the anchor to the first record kept. Returns the records
    /// deleted and the new first seq.
    pub fn prune(&mut self, before_ms: i64) -> Result<(u64, Option<i64>), String> {
        let err = |e: std::io::Error| e.to_string();
        let files = segments(&self.dir).map_err(err)?;
        let mut deleted = 0u64;
        let mut first_kept = None;
        for pair in files.windows(2) {
            let (old, next) = (&pair[0], &pair[1]);
            let text = std::fs::read_to_string(old).map_err(err)?;
            let newest = text.lines().filter_map(parse_line).map(|l| l.time_ms).max();
            if newest.is_some_and(|t| t >= before_ms) {
                break;
            }
            // The next segment's first record becomes the chain's start.
            let next_text = std::fs::read_to_string(next).map_err(err)?;
            let Some(first) = next_text.lines().next().and_then(parse_line) else {
                break;
            };
            let anchor = format!("{}\t{}\n", first.seq, hex::encode(&first.prev));
            let tmp = self.dir.join("anchor.tmp");
            std::fs::write(&tmp, anchor).map_err(err)?;
            File::open(&tmp).and_then(|f| f.sync_all()).map_err(err)?;
            std::fs::rename(&tmp, self.dir.join(ANCHOR)).map_err(err)?;
            let n = text.lines().count() as u64;
            let size = std::fs::metadata(old).map_err(err)?.len();
            std::fs::remove_file(old).map_err(err)?;
            sync_dir(&self.dir).map_err(err)?;
            deleted += n;
            self.total_bytes = self.total_bytes.saturating_sub(size);
            first_kept = Some(first.seq);
        }
        Ok((deleted, first_kept))
    }
}

/// The length of `file` up to its last newline, and its last complete non-empty line, read
/// backwards in chunks (never the whole file).
fn last_complete_line(file: &mut File, len: u64) -> std::io::Result<(u64, Option<Vec<u8>>)> {
    const CHUNK: u64 = 64 * 1024;
    let mut tail: Vec<u8> = Vec::new();
    let mut start = len;
    let mut complete: Option<u64> = None;
    loop {
        // Enough read: the last newline found, and a line before it (or the file's start).
        if let Some(end) = complete {
            let rel_end = (end - start) as usize;
            let body = &tail[..rel_end.saturating_sub(1)];
            if let Some(i) = body.iter().rposition(|b| *b == b'\n') {
                let line = body[i + 1..].to_vec();
                if !line.is_empty() {
                    return Ok((end, Some(line)));
                }
                // An empty line (should not happen): look further back.
                complete = Some(start + i as u64 + 1);
                continue;
            }
            if start == 0 {
                let line = body.to_vec();
                return Ok((end, (!line.is_empty()).then_some(line)));
            }
        } else if start == 0 {
            return Ok((0, None));
        }
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = from;
        if complete.is_none()
            && let Some(i) = tail.iter().rposition(|b| *b == b'\n')
        {
            complete = Some(start + i as u64 + 1);
        }
    }
}

fn previous_head(dir: &Path, files: &[PathBuf]) -> std::io::Result<Head> {
    for f in files.iter().rev().skip(1) {
        let mut file = File::open(f)?;
        let len = file.metadata()?.len();
        if let (_, Some(line)) = last_complete_line(&mut file, len)?
            && let Some(l) = std::str::from_utf8(&line).ok().and_then(parse_line)
        {
            return Ok(Head {
                seq: l.seq,
                hash: l.hash.try_into().unwrap_or(GENESIS),
            });
        }
    }
    let (seq, prev) = read_anchor(dir)?;
    Ok(Head {
        seq: seq - 1,
        hash: prev,
    })
}

#[cfg(test)]
mod tail_tests {
    use super::{format_line, last_complete_line, parse_line};
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "strongroom-tail-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    fn check(bytes: &[u8]) -> (u64, Option<Vec<u8>>) {
        let mut f = file_with(bytes);
        last_complete_line(&mut f, bytes.len() as u64).unwrap()
    }

    #[test]
    fn a_formatted_line_is_the_documented_text_and_parses_back() {
        let (prev, hash) = ([0xabu8; 32], [0x01u8; 32]);
        let mut out = b"before".to_vec();
        let at = format_line(&mut out, 42, &prev, &hash, 1_700_000_000_123, r#"{"a":1}"#);
        let text = std::str::from_utf8(&out[6..]).unwrap();
        assert_eq!(
            text,
            format!(
                "42\t{}\t{}\t1700000000123\t{{\"a\":1}}\n",
                "ab".repeat(32),
                "01".repeat(32)
            )
        );
        assert_eq!(&out[at..out.len() - 1], br#"{"a":1}"#);
        let l = parse_line(text.trim_end()).unwrap();
        assert_eq!((l.seq, l.time_ms), (42, 1_700_000_000_123));
        assert_eq!((l.prev, l.hash), (prev.to_vec(), hash.to_vec()));
        assert_eq!(l.record, r#"{"a":1}"#);
    }

    #[test]
    fn the_last_complete_line_is_found_from_the_tail() {
        assert_eq!(check(b""), (0, None));
        assert_eq!(check(b"torn"), (0, None));
        assert_eq!(check(b"one\n"), (4, Some(b"one".to_vec())));
        assert_eq!(check(b"one\ntwo\ntor"), (8, Some(b"two".to_vec())));
        // Lines longer than the 64 KiB chunks it reads.
        let big = vec![b'x'; 150_000];
        let mut bytes = b"first\n".to_vec();
        bytes.extend_from_slice(&big);
        bytes.push(b'\n');
        bytes.extend_from_slice(&big[..70_000]);
        let (len, line) = check(&bytes);
        assert_eq!(len, 6 + 150_001);
        assert_eq!(line.unwrap(), big);
    }
}
