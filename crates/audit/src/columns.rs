//! The lookup index's searchable columns of one record, packed into one blob.
//!
//! The index had a SQLite column per LookupEvents attribute: nine strings bound per record,
//! each copied by sqlx and again by SQLite — on one core at ~30k records/s the index cost
//! ~10% of the server's CPU, most of it binding, and its 100 ms batches delayed requests
//! (p99). Lookups scan from the newest record anyway (there are no secondary indexes to
//! keep cheap), so a filter compares fields in Rust as fast as SQLite compared columns.
//!
//! Layout: a version byte, the read-only flag, then each field as a little-endian `u32`
//! length (`u32::MAX`: absent) and its UTF-8 bytes.

use crate::log::Attribute;

const VERSION: u8 = 1;
const ABSENT: u32 = u32::MAX;

/// One record's columns, borrowed from the record being indexed or from an index row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Columns<'a> {
    pub event_id: &'a str,
    pub event_name: &'a str,
    pub event_source: &'a str,
    pub username: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub read_only: bool,
    pub resource_type: Option<&'a str>,
    pub resource_name: Option<&'a str>,
    /// The resource's friendly name (a secret's name), matched as ResourceName too.
    pub resource_short: Option<&'a str>,
    pub region: &'a str,
}

impl<'a> Columns<'a> {
    /// No fields (what a row that does not unpack stands for where one must be given).
    pub const EMPTY: Columns<'static> = Columns {
        event_id: "",
        event_name: "",
        event_source: "",
        username: None,
        access_key_id: None,
        read_only: false,
        resource_type: None,
        resource_name: None,
        resource_short: None,
        region: "",
    };

    fn fields(&self) -> [Option<&'a str>; 9] {
        [
            Some(self.event_id),
            Some(self.event_name),
            Some(self.event_source),
            self.username,
            self.access_key_id,
            self.resource_type,
            self.resource_name,
            self.resource_short,
            Some(self.region),
        ]
    }

    pub fn pack(&self) -> Vec<u8> {
        let fields = self.fields();
        let len = 2 + fields
            .iter()
            .map(|f| 4 + f.map_or(0, str::len))
            .sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.push(VERSION);
        out.push(u8::from(self.read_only));
        for f in fields {
            match f {
                // A field longer than 4 GiB cannot reach a record (requests are far smaller).
                Some(s) => {
                    let bytes = &s.as_bytes()[..s.len().min(ABSENT as usize - 1)];
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&ABSENT.to_le_bytes()),
            }
        }
        out
    }

    /// `None` for bytes that are not a packed row of this version.
    pub fn unpack(bytes: &'a [u8]) -> Option<Self> {
        let (&[VERSION, read_only], mut rest) = bytes.split_first_chunk::<2>()? else {
            return None;
        };
        let mut next = || -> Option<Option<&'a str>> {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len);
            if len == ABSENT {
                rest = tail;
                return Some(None);
            }
            let (text, tail) = tail.split_at_checked(len as usize)?;
            rest = tail;
            Some(Some(std::str::from_utf8(text).ok()?))
        };
        let columns = Columns {
            event_id: next()??,
            event_name: next()??,
            event_source: next()??,
            username: next()?,
            access_key_id: next()?,
            resource_type: next()?,
            resource_name: next()?,
            resource_short: next()?,
            region: next()??,
            read_only: read_only != 0,
        };
        rest.is_empty().then_some(columns)
    }

    /// Does the record match a LookupEvents attribute and region (each `None`: any)?
    pub fn matches(&self, attribute: Option<&Attribute>, region: Option<&str>) -> bool {
        let is = |field: Option<&str>, v: &str| field == Some(v);
        let attribute_matches = match attribute {
            None => true,
            Some(Attribute::EventId(v)) => self.event_id == v,
            Some(Attribute::EventName(v)) => self.event_name == v,
            Some(Attribute::ReadOnly(v)) => self.read_only == *v,
            Some(Attribute::Username(v)) => is(self.username, v),
            Some(Attribute::ResourceType(v)) => is(self.resource_type, v),
            // By ARN or by the friendly name, as people type either.
            Some(Attribute::ResourceName(v)) => {
                is(self.resource_name, v) || is(self.resource_short, v)
            }
            Some(Attribute::EventSource(v)) => self.event_source == v,
            Some(Attribute::AccessKeyId(v)) => is(self.access_key_id, v),
        };
        attribute_matches && region.is_none_or(|r| self.region == r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Columns<'static> {
        Columns {
            event_id: "0b7a5c2e-1111-4222-8333-944455556666",
            event_name: "GetSecretValue",
            event_source: "secretsmanager.amazonaws.com",
            username: Some("alice"),
            access_key_id: None,
            read_only: true,
            resource_type: Some("AWS::SecretsManager::Secret"),
            resource_name: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"),
            resource_short: Some("db"),
            region: "us-east-1",
        }
    }

    #[test]
    fn a_packed_row_unpacks_to_what_was_packed() {
        let c = sample();
        let packed = c.pack();
        assert_eq!(Columns::unpack(&packed), Some(c.clone()));
        // Empty strings are not absent ones.
        let empty = Columns {
            username: Some(""),
            ..c
        };
        assert_eq!(Columns::unpack(&empty.pack()), Some(empty));
    }

    #[test]
    fn damaged_or_foreign_bytes_unpack_to_nothing() {
        let packed = sample().pack();
        assert_eq!(Columns::unpack(&[]), None);
        assert_eq!(Columns::unpack(&packed[..packed.len() - 1]), None);
        let mut longer = packed.clone();
        longer.push(0);
        assert_eq!(Columns::unpack(&longer), None);
        let mut other_version = packed.clone();
        other_version[0] = 2;
        assert_eq!(Columns::unpack(&other_version), None);
        // A length that runs past the end.
        let mut overlong = packed;
        overlong[2..6].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(Columns::unpack(&overlong), None);
        // Not UTF-8.
        let bad = Columns {
            event_id: "\u{e9}",
            ..sample()
        }
        .pack();
        let mut bad = bad;
        bad[6] = 0xff;
        assert_eq!(Columns::unpack(&bad), None);
    }

    #[test]
    fn filters_match_as_lookup_events_does() {
        let c = sample();
        let yes = |a: Attribute| assert!(c.matches(Some(&a), None), "{a:?}");
        let no = |a: Attribute| assert!(!c.matches(Some(&a), None), "{a:?}");
        yes(Attribute::EventName("GetSecretValue".into()));
        no(Attribute::EventName("getsecretvalue".into()));
        yes(Attribute::EventId(c.event_id.into()));
        yes(Attribute::ReadOnly(true));
        no(Attribute::ReadOnly(false));
        yes(Attribute::Username("alice".into()));
        no(Attribute::Username("bob".into()));
        yes(Attribute::ResourceName("db".into()));
        yes(Attribute::ResourceName(c.resource_name.unwrap().into()));
        no(Attribute::ResourceName("db-AbCdEf".into()));
        yes(Attribute::ResourceType(
            "AWS::SecretsManager::Secret".into(),
        ));
        yes(Attribute::EventSource(
            "secretsmanager.amazonaws.com".into(),
        ));
        // An absent field matches no value, not even an empty one.
        no(Attribute::AccessKeyId(String::new()));
        assert!(c.matches(None, None));
        assert!(c.matches(None, Some("us-east-1")));
        assert!(!c.matches(None, Some("us-west-2")));
        assert!(!c.matches(
            Some(&Attribute::Username("alice".into())),
            Some("eu-west-1")
        ));
    }
}
