//! Members AWS's models mark `sensitive` (SecretString, SecretBinary, RandomPassword, ...):
//! zeroized when dropped and `<redacted>` in `Debug`, so an input or output struct that derives
//! `Debug` cannot print a value, and no copy outlives its use in plain memory.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive(Zeroizing<String>);

impl Sensitive {
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The value's bytes, moved into a zeroizing buffer (no copy left behind).
    pub fn into_bytes(self) -> Zeroizing<Vec<u8>> {
        let mut s = self.0;
        Zeroizing::new(std::mem::take(&mut *s).into_bytes())
    }
}

impl From<String> for Sensitive {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl Deref for Sensitive {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// `value` as JSON in a zeroizing buffer. Growing a `Vec` while serializing would leave
/// copies of earlier, shorter prefixes (a secret value among them) in freed memory; this
/// buffer wipes each one it outgrows.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Zeroizing<Vec<u8>>> {
    let mut w = ZeroizingWriter(Zeroizing::new(Vec::with_capacity(256)));
    serde_json::to_writer(&mut w, value)?;
    Ok(w.0)
}

struct ZeroizingWriter(Zeroizing<Vec<u8>>);

impl std::io::Write for ZeroizingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let needed = self.0.len() + buf.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(self.0.capacity() * 2)));
            bigger.extend_from_slice(&self.0);
            // The old buffer is wiped as it is dropped here.
            self.0 = bigger;
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value_and_serde_round_trips_it() {
        #[derive(Debug, Serialize, Deserialize)]
        struct Input {
            secret_string: Option<Sensitive>,
        }
        let i: Input = serde_json::from_str(r#"{"secret_string":"hunter2-value"}"#).unwrap();
        let shown = format!("{i:?} {i:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            r#"{"secret_string":"hunter2-value"}"#
        );
        let bytes = i.secret_string.unwrap().into_bytes();
        assert_eq!(&bytes[..], b"hunter2-value");
    }

    #[test]
    fn to_json_matches_serde_json_for_large_and_small_values() {
        let big = "x".repeat(70_000);
        for v in [
            serde_json::json!({}),
            serde_json::json!({"SecretString": "s3cr3t", "Name": "n"}),
            serde_json::json!({"SecretString": big}),
        ] {
            assert_eq!(
                &to_json(&v).unwrap()[..],
                &serde_json::to_vec(&v).unwrap()[..]
            );
        }
    }
}
