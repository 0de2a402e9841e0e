//! `strongroom render [-o FILE] [--check] [TEMPLATE|-]`: resolve every `{{resolve:...}}` in a
//! text. All or nothing: any reference that does not resolve fails the render, with each
//! failure named by line:column and why, and nothing is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::aws::AwsArgs;
use crate::reference::{Found, find_all};
use crate::resolve::{Calls, Resolver};

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The template: a file, or `-` (the default) for standard input.
    #[arg(default_value = "-")]
    pub template: String,
    /// Write here (atomically, mode 0600 — or an existing file's stricter mode) instead of
    /// standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Resolve everything but print only each reference and whether it resolves.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The rendered text, or every failure.
pub struct Rendered {
    pub text: Zeroizing<String>,
    pub calls: Calls,
}

/// One line per failed reference: `TEMPLATE:LINE:COL: {{resolve:...}}: why`.
pub struct Failures(pub Vec<String>);

/// Resolve the references in `template` (named `source` in messages).
pub async fn render_text(
    resolver: &Resolver,
    source: &str,
    template: &str,
) -> (Result<Rendered, Failures>, Vec<(Found, Result<(), String>)>) {
    let found = find_all(template);
    let refs: Vec<_> = found
        .iter()
        .filter_map(|f| f.reference.clone().ok())
        .collect();
    let (values, calls) = resolver.resolve(&refs).await;
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for f in &found {
        let status = match &f.reference {
            Err(why) => Err(format!("malformed reference: {why}")),
            Ok(r) => match values.get(r) {
                Some(Ok(_)) => Ok(()),
                Some(Err(why)) => Err(format!("{} '{}': {why}", kind(r), r.target())),
                None => Err("not resolved".into()),
            },
        };
        if let Err(why) = &status {
            failures.push(format!("{source}:{}: {}: {why}", f.position, f.text));
        }
        report.push((f.clone(), status));
    }
    if !failures.is_empty() {
        return (Err(Failures(failures)), report);
    }
    let mut text = Zeroizing::new(String::with_capacity(template.len()));
    let mut last = 0;
    for f in &found {
        text.push_str(&template[last..f.range.start]);
        if let Ok(r) = &f.reference
            && let Some(Ok(v)) = values.get(r)
        {
            text.push_str(v);
        }
        last = f.range.end;
    }
    text.push_str(&template[last..]);
    (Ok(Rendered { text, calls }), report)
}

fn kind(r: &crate::reference::Reference) -> &'static str {
    match r {
        crate::reference::Reference::Secret { .. } => "secret",
        crate::reference::Reference::Parameter { secure: true, .. } => "SecureString parameter",
        crate::reference::Reference::Parameter { .. } => "parameter",
    }
}

/// The command. Exit codes: 0 rendered (or all resolve, with --check), 1 a reference does not
/// resolve, 2 bad usage or configuration.
pub async fn run(args: RenderArgs) -> u8 {
    let (source, template) = match read_template(&args.template) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("strongroom render: {e}");
            return 2;
        }
    };
    let config = match crate::aws::load(&args.aws).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strongroom render: {e}");
            return 2;
        }
    };
    let resolver = Resolver::new(&config);
    let (result, report) = render_text(&resolver, &source, &template).await;
    if args.check {
        for (f, status) in &report {
            match status {
                Ok(()) => println!("{source}:{}: {}: ok", f.position, f.text),
                Err(why) => println!("{source}:{}: {}: FAILED: {why}", f.position, f.text),
            }
        }
        return if result.is_ok() { 0 } else { 1 };
    }
    let rendered = match result {
        Ok(r) => r,
        Err(Failures(lines)) => {
            for l in &lines {
                eprintln!("strongroom render: {l}");
            }
            eprintln!(
                "strongroom render: {} of {} references did not resolve; nothing was written",
                lines.len(),
                report.len()
            );
            return 1;
        }
    };
    tracing::debug!(calls = ?rendered.calls, "rendered");
    match &args.output {
        Some(path) => match write_atomically(path, rendered.text.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("strongroom render: cannot write {}: {e}", path.display());
                1
            }
        },
        None => {
            let mut out = std::io::stdout().lock();
            match out
                .write_all(rendered.text.as_bytes())
                .and_then(|_| out.flush())
            {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("strongroom render: cannot write to standard output: {e}");
                    1
                }
            }
        }
    }
}

fn read_template(arg: &str) -> Result<(String, String), String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read the template from standard input: {e}"))?;
        Ok(("-".into(), s))
    } else {
        let s = std::fs::read_to_string(arg).map_err(|e| format!("cannot read {arg}: {e}"))?;
        Ok((arg.to_string(), s))
    }
}

/// Write `bytes` to `path` as a whole or not at all: a new file beside it (0600, never
/// following a planted name: `create_new`), synced, given the final mode — the existing
/// file's when that is stricter than 0600 — and renamed over `path`, then the directory
/// synced so the rename survives a crash.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?
        .to_string_lossy()
        .into_owned();
    let mode = match std::fs::metadata(path) {
        // Kept only when it grants nothing 0600 does not (e.g. 0400).
        Ok(m) if m.permissions().mode() & 0o777 & !0o600 == 0 => m.permissions().mode() & 0o777,
        _ => 0o600,
    };
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.strongroom-{}-{attempt}",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1
            }
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "strongroom-render-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn output_files_are_0600_unless_the_old_one_was_stricter() {
        let d = temp_dir();
        let p = d.join("out.conf");
        write_atomically(&p, b"one").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o400
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&p, b"three").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(d).unwrap();
    }
}
