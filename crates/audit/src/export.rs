//! Copies of committed records for the tools that collect logs: hourly JSON-lines files (one
//! CloudTrail record per line), standard output and syslog ([`crate::syslog`]). Best effort: the database is the record
//! of truth, so a failed export is logged, never a refused request.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

pub struct Exporter {
    dir: Option<PathBuf>,
    stdout: bool,
    syslog: Option<crate::syslog::SyslogSink>,
    /// The open hourly file and the hour (epoch ms / 3.6e6) it holds.
    current: Option<(i64, BufWriter<File>)>,
}

const HOUR_MS: i64 = 3_600_000;

impl Exporter {
    pub fn new(
        dir: Option<PathBuf>,
        stdout: bool,
        syslog: Option<crate::syslog::SyslogSink>,
    ) -> Self {
        Self {
            dir,
            stdout,
            syslog,
            current: None,
        }
    }

    pub fn write<'a>(&mut self, records: impl Iterator<Item = (i64, &'a str)>) {
        if self.dir.is_none() && !self.stdout && self.syslog.is_none() {
            return;
        }
        let out = std::io::stdout();
        let mut out = out.lock();
        for (time_ms, record) in records {
            if self.stdout {
                let _ = writeln!(out, "{record}");
            }
            if let Some(s) = &self.syslog {
                s.send(time_ms, record);
            }
            if let Err(e) = self.write_file(time_ms, record) {
                tracing::warn!(error = %e, "could not export an audit record to file");
                self.current = None;
            }
        }
        let _ = out.flush();
        if let Some((_, f)) = &mut self.current {
            let _ = f.flush();
        }
    }

    fn write_file(&mut self, time_ms: i64, record: &str) -> std::io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let hour = time_ms.div_euclid(HOUR_MS);
        if self.current.as_ref().is_none_or(|(h, _)| *h != hour) {
            if let Some((_, mut f)) = self.current.take() {
                f.flush()?;
            }
            std::fs::create_dir_all(dir)?;
            // "2023-11-14T22:00:00Z" → "20231114T22"
            let stamp: String = crate::event::format_time(hour * HOUR_MS)
                .chars()
                .take(13)
                .filter(|c| *c != '-')
                .collect();
            let path = dir.join(format!("strongroom-audit-{stamp}Z.jsonl"));
            let f = OpenOptions::new().create(true).append(true).open(path)?;
            self.current = Some((hour, BufWriter::new(f)));
        }
        if let Some((_, f)) = &mut self.current {
            writeln!(f, "{record}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roll_into_hourly_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Exporter::new(Some(dir.path().to_path_buf()), false, None);
        let t0 = 1_700_000_000_000; // 2023-11-14T22:13:20Z
        e.write([(t0, "{\"a\":1}"), (t0 + 1, "{\"a\":2}")].into_iter());
        e.write([(t0 + HOUR_MS, "{\"a\":3}")].into_iter());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "strongroom-audit-20231114T22Z.jsonl",
                "strongroom-audit-20231114T23Z.jsonl"
            ]
        );
        let first = std::fs::read_to_string(dir.path().join(&names[0])).unwrap();
        assert_eq!(first, "{\"a\":1}\n{\"a\":2}\n");
    }
}
