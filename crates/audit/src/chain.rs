//! The hash chain and its verification: pure code, no I/O.
//!
//! Every record stores its place in the chain (`seq`), the hash of the record before it
//! (`prev`) and its own hash `H(domain ‖ seq ‖ prev ‖ record)`. Rows also have a storage
//! position (`pos`) that is *not* hashed, so a reader can tell a record that was moved (its
//! hashed `seq` no longer matches where it sits) from one that was edited (its hash no longer
//! matches its content) or deleted (a `seq` is missing) — and say which, exactly.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_lc_rs::digest;

pub type Hash = [u8; 32];

/// The `prev` of the first record ever written.
pub const GENESIS: Hash = [0u8; 32];

const DOMAIN: &[u8] = b"strongroom-audit-v1\0";

/// `H(domain ‖ seq ‖ prev ‖ H(record))`. Hashing the record itself is the expensive part and
/// needs no chain state, so request tasks do it in parallel ([`content_hash`]); the single
/// writer only links 80 bytes per record.
pub fn link_hash(seq: i64, prev: &Hash, record: &str) -> Hash {
    link(seq, prev, &content_hash(record))
}

pub fn content_hash(record: &str) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, record.as_bytes()).as_ref());
    out
}

pub fn link(seq: i64, prev: &Hash, content: &Hash) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(DOMAIN);
    ctx.update(&seq.to_be_bytes());
    ctx.update(prev);
    ctx.update(content);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// One row as read back from storage.
#[derive(Debug, Clone)]
pub struct Row {
    pub pos: i64,
    pub seq: i64,
    pub prev: Vec<u8>,
    pub hash: Vec<u8>,
    pub record: String,
}

/// What verification found, in the order a reader meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Records `first..=last` are missing.
    Deleted { first: i64, last: i64 },
    /// The record at `pos` no longer matches its hash: its content was edited.
    Altered { seq: i64, pos: i64 },
    /// Record `seq` is intact but stored out of order (at `pos`).
    Reordered { seq: i64, pos: i64 },
    /// A second record claims chain position `seq` (at `pos`): it was inserted.
    Inserted { seq: i64, pos: i64 },
    /// Record `seq` is self-consistent but does not follow record `seq - 1`: one of the two
    /// was forged or edited and re-hashed.
    BrokenLink { seq: i64, pos: i64 },
    /// The log ends at `last` but a signed digest covers up to `digest_seq`.
    Truncated { last: Option<i64>, digest_seq: i64 },
    /// A signed digest disagrees with the record it covers.
    DigestMismatch { digest_seq: i64 },
    /// A digest's signature does not verify with the server's public key.
    BadDigestSignature { digest_seq: i64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Deleted { first, last } if first == last => {
                write!(f, "record {first} was deleted")
            }
            Finding::Deleted { first, last } => write!(f, "records {first}..{last} were deleted"),
            Finding::Altered { seq, pos } => write!(
                f,
                "record {seq} (stored at position {pos}) was altered: its content no longer matches its hash"
            ),
            Finding::Reordered { seq, pos } => write!(
                f,
                "record {seq} was moved: it is intact but stored out of order, at position {pos}"
            ),
            Finding::Inserted { seq, pos } => write!(
                f,
                "a record was inserted at position {pos}: it claims chain position {seq}, which another record already holds"
            ),
            Finding::BrokenLink { seq, pos } => write!(
                f,
                "record {seq} (position {pos}) does not follow record {}: one of them was forged, or edited and re-hashed",
                seq - 1
            ),
            Finding::Truncated { last, digest_seq } => match last {
                Some(l) => write!(
                    f,
                    "the log was truncated: it ends at record {l} but a signed digest covers records up to {digest_seq}"
                ),
                None => write!(
                    f,
                    "the log was truncated: it is empty but a signed digest covers records up to {digest_seq}"
                ),
            },
            Finding::DigestMismatch { digest_seq } => write!(
                f,
                "the signed digest for record {digest_seq} does not match the record's hash: the chain was rewritten"
            ),
            Finding::BadDigestSignature { digest_seq } => write!(
                f,
                "the digest for record {digest_seq} has an invalid signature: it was forged or altered"
            ),
        }
    }
}

/// Streaming verifier: feed rows in storage order, then `finish`.
pub struct Verifier {
    /// Where the (remaining) chain starts: seq and the hash that precedes it.
    start_seq: i64,
    start_prev: Hash,
    /// Hashes of recently seen records, for link checks (bounded).
    hashes: BTreeMap<i64, Hash>,
    /// Links waiting for their predecessor: predecessor seq → (seq, pos, prev).
    waiting: HashMap<i64, (i64, i64, Hash)>,
    /// Sequence numbers skipped so far (deleted unless they turn up later).
    missing: BTreeSet<i64>,
    highest: Option<i64>,
    /// Signed digests by seq, to compare as their records pass.
    digests: HashMap<i64, Hash>,
    pub findings: Vec<Finding>,
    pub records: u64,
}

/// How many recent hashes and missing seqs are remembered: reorderings farther apart than
/// this are reported as a deletion plus an insertion — still detected, less precisely named.
const WINDOW: usize = 100_000;

impl Verifier {
    pub fn new(start_seq: i64, start_prev: Hash, digests: &[(i64, Hash)]) -> Self {
        Self {
            start_seq,
            start_prev,
            hashes: BTreeMap::new(),
            waiting: HashMap::new(),
            missing: BTreeSet::new(),
            highest: None,
            digests: digests.iter().copied().collect(),
            findings: Vec::new(),
            records: 0,
        }
    }

    pub fn feed(&mut self, row: &Row) {
        self.records += 1;
        let (Ok(prev), Ok(stored)) = (
            <Hash>::try_from(row.prev.as_slice()),
            <Hash>::try_from(row.hash.as_slice()),
        ) else {
            self.findings.push(Finding::Altered {
                seq: row.seq,
                pos: row.pos,
            });
            return;
        };
        let intact = link_hash(row.seq, &prev, &row.record) == stored;
        if !intact {
            self.findings.push(Finding::Altered {
                seq: row.seq,
                pos: row.pos,
            });
        }
        if self.hashes.contains_key(&row.seq) || row.seq < self.start_seq {
            self.findings.push(Finding::Inserted {
                seq: row.seq,
                pos: row.pos,
            });
            return;
        }
        let expected = self.highest.map_or(self.start_seq, |h| h + 1);
        if row.seq > expected {
            for s in expected..row.seq {
                self.missing.insert(s);
            }
        } else if row.seq < expected {
            // A seq we skipped earlier turned up: it was moved, not deleted.
            if self.missing.remove(&row.seq) && intact {
                self.findings.push(Finding::Reordered {
                    seq: row.seq,
                    pos: row.pos,
                });
            } else if intact {
                self.findings.push(Finding::Inserted {
                    seq: row.seq,
                    pos: row.pos,
                });
            }
        }
        if intact {
            self.check_link(row.seq, row.pos, prev);
        }
        // Even an altered record's stored hash is what its successor links to.
        self.remember(row.seq, stored);
        if let Some(d) = self.digests.get(&row.seq)
            && *d != stored
        {
            self.findings.push(Finding::DigestMismatch {
                digest_seq: row.seq,
            });
        }
        self.highest = Some(self.highest.map_or(row.seq, |h| h.max(row.seq)));
    }

    fn check_link(&mut self, seq: i64, pos: i64, prev: Hash) {
        if seq == self.start_seq {
            if prev != self.start_prev {
                self.findings.push(Finding::BrokenLink { seq, pos });
            }
            return;
        }
        match self.hashes.get(&(seq - 1)) {
            Some(h) if *h == prev => {}
            Some(_) => self.findings.push(Finding::BrokenLink { seq, pos }),
            None => {
                self.waiting.insert(seq - 1, (seq, pos, prev));
            }
        }
    }

    fn remember(&mut self, seq: i64, hash: Hash) {
        if let Some((next, pos, prev)) = self.waiting.remove(&seq)
            && prev != hash
        {
            self.findings.push(Finding::BrokenLink { seq: next, pos });
        }
        self.hashes.insert(seq, hash);
        while self.hashes.len() > WINDOW {
            self.hashes.pop_first();
        }
        while self.missing.len() > WINDOW {
            self.missing.pop_first();
        }
    }

    /// Close the walk: remaining gaps are deletions; digests beyond the end are truncation.
    pub fn finish(mut self, latest_digest: Option<i64>) -> (u64, Vec<Finding>) {
        let mut gaps: Vec<(i64, i64)> = Vec::new();
        for &s in &self.missing {
            match gaps.last_mut() {
                Some((_, last)) if *last + 1 == s => *last = s,
                _ => gaps.push((s, s)),
            }
        }
        // Deletions are reported where the reader meets them: before the other findings
        // about later records. Sort all findings by chain position for a stable report.
        for (first, last) in gaps {
            self.findings.push(Finding::Deleted { first, last });
        }
        if let Some(d) = latest_digest
            && self.highest.is_none_or(|h| h < d)
        {
            self.findings.push(Finding::Truncated {
                last: self.highest,
                digest_seq: d,
            });
        }
        self.findings.sort_by_key(seq_of);
        // A missing predecessor already explains its successor's unmatched link.
        (self.records, self.findings)
    }
}

fn seq_of(f: &Finding) -> i64 {
    match f {
        Finding::Deleted { first, .. } => *first,
        Finding::Altered { seq, .. }
        | Finding::Reordered { seq, .. }
        | Finding::Inserted { seq, .. }
        | Finding::BrokenLink { seq, .. } => *seq,
        Finding::Truncated { last, .. } => last.map_or(0, |l| l + 1),
        Finding::DigestMismatch { digest_seq } | Finding::BadDigestSignature { digest_seq } => {
            *digest_seq
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Row> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let record = format!("{{\"eventName\":\"GetSecretValue\",\"n\":{seq}}}");
                let hash = link_hash(seq, &prev, &record);
                let row = Row {
                    pos: seq,
                    seq,
                    prev: prev.to_vec(),
                    hash: hash.to_vec(),
                    record,
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[Row], digest: Option<i64>) -> Vec<Finding> {
        let digests: Vec<(i64, Hash)> = digest
            .and_then(|d| {
                chain(d)
                    .last()
                    .map(|r| (d, r.hash.clone().try_into().unwrap()))
            })
            .into_iter()
            .collect();
        let mut v = Verifier::new(1, GENESIS, &digests);
        for r in rows {
            v.feed(r);
        }
        v.finish(digest).1
    }

    #[test]
    fn an_intact_chain_has_no_findings() {
        assert_eq!(verify(&chain(50), Some(50)), vec![]);
        assert_eq!(verify(&[], None), vec![]);
    }

    #[test]
    fn a_deleted_record_is_named() {
        let mut rows = chain(10);
        rows.remove(4);
        assert_eq!(
            verify(&rows, Some(10)),
            vec![Finding::Deleted { first: 5, last: 5 }]
        );
        let mut rows = chain(10);
        rows.drain(0..3);
        assert_eq!(
            verify(&rows, None),
            vec![Finding::Deleted { first: 1, last: 3 }]
        );
    }

    #[test]
    fn an_edited_record_is_named_even_when_re_hashed() {
        let mut rows = chain(10);
        rows[6].record = rows[6].record.replace("GetSecretValue", "ListSecrets");
        assert_eq!(
            verify(&rows, None),
            vec![Finding::Altered { seq: 7, pos: 7 }]
        );
        // A careful forger re-hashes the edited record: its successor no longer follows it.
        let prev: Hash = rows[6].prev.clone().try_into().unwrap();
        rows[6].hash = link_hash(7, &prev, &rows[6].record).to_vec();
        assert_eq!(
            verify(&rows, None),
            vec![Finding::BrokenLink { seq: 8, pos: 8 }]
        );
    }

    #[test]
    fn swapped_records_are_named_as_moved() {
        let mut rows = chain(10);
        // Swap the contents of positions 3 and 4 (positions are storage order, not hashed).
        let (a, b) = (rows[2].clone(), rows[3].clone());
        rows[2] = Row { pos: 3, ..b };
        rows[3] = Row { pos: 4, ..a };
        assert_eq!(
            verify(&rows, Some(10)),
            vec![Finding::Reordered { seq: 3, pos: 4 }]
        );
    }

    #[test]
    fn a_truncated_tail_is_caught_by_the_signed_digest() {
        let rows = chain(10);
        assert_eq!(
            verify(&rows[..7], Some(10)),
            vec![Finding::Truncated {
                last: Some(7),
                digest_seq: 10
            }]
        );
        assert_eq!(
            verify(&[], Some(10)),
            vec![Finding::Truncated {
                last: None,
                digest_seq: 10
            }]
        );
    }

    #[test]
    fn an_inserted_record_is_named() {
        let mut rows = chain(10);
        let mut forged = rows[4].clone();
        forged.record = "{\"eventName\":\"Forged\"}".into();
        let prev: Hash = forged.prev.clone().try_into().unwrap();
        forged.hash = link_hash(5, &prev, &forged.record).to_vec();
        rows.insert(5, forged);
        for (i, r) in rows.iter_mut().enumerate() {
            r.pos = i as i64 + 1;
        }
        assert_eq!(
            verify(&rows, None),
            vec![Finding::Inserted { seq: 5, pos: 6 }]
        );
    }

    #[test]
    fn a_rewritten_chain_disagrees_with_the_signed_digest() {
        // Re-hash everything after an edit: links hold, but the digest remembers the truth.
        let mut rows = chain(10);
        rows[2].record = "{\"eventName\":\"Forged\"}".into();
        let mut prev: Hash = rows[2].prev.clone().try_into().unwrap();
        for r in rows.iter_mut().skip(2) {
            r.prev = prev.to_vec();
            let h = link_hash(r.seq, &prev, &r.record);
            r.hash = h.to_vec();
            prev = h;
        }
        assert_eq!(
            verify(&rows, Some(10)),
            vec![Finding::DigestMismatch { digest_seq: 10 }]
        );
    }
}
