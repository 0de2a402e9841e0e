//! The record: one CloudTrail event, field for field as AWS writes it, so tools that read
//! CloudTrail (and `aws cloudtrail lookup-events`) read ours unchanged.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// CloudTrail's current record format version.
pub const EVENT_VERSION: &str = "1.11";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_version: Cow<'static, str>,
    pub user_identity: UserIdentity,
    pub event_time: String,
    pub event_source: Cow<'static, str>,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress", skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// `AwsApiCall` for requests, `AwsServiceEvent` for what the service does on its own.
    pub event_type: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_event_details: Option<Value>,
    /// What CloudTrail adds to some events, e.g. a console sign-in's `MFAUsed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    pub management_event: bool,
    pub recipient_account_id: String,
    pub event_category: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<TlsDetails>,
    /// CloudTrail's `"true"` for a call made from the web console (the console's session,
    /// not an access key the caller signed with). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_credential_from_console: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// Root, IAMUser, AssumedRole, AWSService, or Unknown (the signature did not verify).
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<Value>,
    /// For service events: the service that acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resource {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    pub tls_version: String,
    pub cipher_suite: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_provided_host_header: Option<String>,
}

impl Event {
    /// The name LookupEvents reports and matches as `Username`: the IAM user's name, the
    /// role session's name, or `root`.
    pub fn username(&self) -> Option<String> {
        self.username_str().map(str::to_owned)
    }

    /// [`Event::username`], borrowed from the event.
    pub fn username_str(&self) -> Option<&str> {
        let id = &self.user_identity;
        match &*id.kind {
            "Root" => Some("root"),
            "AssumedRole" => id.arn.as_deref().and_then(|a| a.rsplit('/').next()),
            _ => id.user_name.as_deref(),
        }
    }
}

/// RFC 3339 in whole seconds, as CloudTrail writes `eventTime` (`2023-11-14T22:13:20Z`);
/// empty for an instant RFC 3339 cannot write (a year outside 0–9999). Written digit by
/// digit: once per audit record, and `time`'s general formatter was ~1% of a read.
pub fn format_time(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return String::new();
    };
    let Ok(year) = u16::try_from(t.year()) else {
        return String::new();
    };
    if year > 9999 {
        return String::new();
    }
    let (hour, minute, second) = t.to_hms();
    let mut text = [0u8; 20];
    let two = |at: &mut [u8], v: u8| {
        at[0] = b'0' + v / 10;
        at[1] = b'0' + v % 10;
    };
    two(&mut text[0..2], (year / 100) as u8);
    two(&mut text[2..4], (year % 100) as u8);
    text[4] = b'-';
    two(&mut text[5..7], t.month() as u8);
    text[7] = b'-';
    two(&mut text[8..10], t.day());
    text[10] = b'T';
    two(&mut text[11..13], hour);
    text[13] = b':';
    two(&mut text[14..16], minute);
    text[16] = b':';
    two(&mut text[17..19], second);
    text[19] = b'Z';
    text.iter().map(|&b| b as char).collect()
}

/// Parses RFC 3339 (as operators type it on the command line) to epoch milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_seconds() {
        assert_eq!(format_time(1_700_000_000_999), "2023-11-14T22:13:20Z");
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn times_are_written_as_the_rfc3339_formatter_writes_them() {
        let rfc3339 = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default()
        };
        let mut ms: i64 = -62_167_219_200_000 - 86_400_000; // the day before 0000-01-01
        while ms < 253_402_300_800_000 + 86_400_000 {
            // the day after 9999-12-31
            assert_eq!(format_time(ms), rfc3339(ms), "{ms}");
            ms += 3_999_999_937; // every field's values over the range, leap days included
        }
        for ms in [
            -1,
            0,
            999,
            1_000,
            951_782_400_000,
            253_402_300_799_999,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(format_time(ms), rfc3339(ms), "{ms}");
        }
        assert_eq!(format_time(-62_167_219_200_001), "");
        assert_eq!(format_time(253_402_300_800_000), "");
    }

    #[test]
    fn usernames_as_lookup_events_reports_them() {
        let mut e = crate::tests::sample_event("GetSecretValue");
        assert_eq!(e.username().as_deref(), Some("alice"));
        e.user_identity.kind = "AssumedRole".into();
        e.user_identity.arn = Some("arn:aws:sts::123456789012:assumed-role/app/task-1".into());
        assert_eq!(e.username().as_deref(), Some("task-1"));
        e.user_identity.kind = "Root".into();
        assert_eq!(e.username().as_deref(), Some("root"));
    }
}
