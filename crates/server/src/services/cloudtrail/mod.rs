//! AWS CloudTrail's event history (JSON 1.1, `X-Amz-Target:
//! com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Operation>`): LookupEvents over the
//! server's own audit log, newest first, one lookup attribute at a time, as AWS answers it.

mod api;
mod error;
pub use error::CloudTrailError;
pub mod ops;
pub mod shapes;

use shapes::{Event, LookupAttribute, LookupEventsRequest, LookupEventsResponse, Resource};

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strongroom_audit::{Attribute, Found, Lookup};

use crate::audit::Auditor;

pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
pub const SHORT_TARGET_PREFIX: &str = "CloudTrail_20131101";
const DEFAULT_MAX_RESULTS: i64 = 50;

pub struct CloudTrail {
    audit: Arc<Auditor>,
    /// Event history is per region, as in AWS: lookups see this region's records only.
    region: String,
}

impl CloudTrail {
    pub fn new(audit: Arc<Auditor>, region: String) -> Self {
        Self { audit, region }
    }

    pub(crate) async fn lookup_events(
        &self,
        input: &LookupEventsRequest,
    ) -> Result<LookupEventsResponse, CloudTrailError> {
        let attributes = input.lookup_attributes.as_deref().unwrap_or_default();
        let attribute = attribute(attributes)?;
        let max = input.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        if !(1..=50).contains(&max) {
            return Err(CloudTrailError::InvalidMaxResults(format!(
                "Value {max} for MaxResults is invalid: it must be between 1 and 50."
            )));
        }
        let start_ms = input.start_time.map(to_ms);
        let end_ms = input.end_time.map(to_ms);
        if let (Some(s), Some(e)) = (start_ms, end_ms)
            && s > e
        {
            return Err(CloudTrailError::InvalidTimeRange(
                "Start time must be before or equal to end time.".into(),
            ));
        }
        match input.event_category.as_deref() {
            None => {}
            // Insights events are about unusual API activity; this server records none.
            Some("insight") => {
                return Ok(LookupEventsResponse {
                    events: Some(Vec::new()),
                    next_token: None,
                });
            }
            Some(other) => {
                return Err(CloudTrailError::InvalidEventCategory(format!(
                    "Event category {other:?} is not valid; the only value is insight."
                )));
            }
        }
        let fingerprint = fingerprint(attributes, start_ms, end_ms);
        let before_pos = match &input.next_token {
            Some(t) => Some(parse_token(t, &fingerprint)?),
            None => None,
        };
        let limit = max as usize;
        let mut found = self
            .audit
            .log
            .lookup(&Lookup {
                attribute,
                start_ms,
                end_ms,
                before_pos,
                limit: limit + 1,
                region: Some(self.region.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "audit lookup failed");
                CloudTrailError::Internal
            })?;
        let next_token = (found.len() > limit).then(|| {
            found.truncate(limit);
            let last = found.last().map_or(0, |f| f.pos);
            URL_SAFE_NO_PAD.encode(format!("{last}:{fingerprint}"))
        });
        Ok(LookupEventsResponse {
            events: Some(found.into_iter().map(event_out).collect()),
            next_token,
        })
    }
}

fn to_ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

fn attribute(list: &[LookupAttribute]) -> Result<Option<Attribute>, CloudTrailError> {
    let invalid = |m: String| Err(CloudTrailError::InvalidLookupAttributes(m));
    let a = match list {
        [] => return Ok(None),
        [a] => a,
        _ => return invalid("You can specify only one lookup attribute.".into()),
    };
    let v = a.attribute_value.clone();
    if v.is_empty() || v.chars().count() > 2000 {
        return invalid("AttributeValue must be 1 to 2000 characters long.".into());
    }
    Ok(Some(match a.attribute_key.as_str() {
        "EventId" => Attribute::EventId(v),
        "EventName" => Attribute::EventName(v),
        "ReadOnly" => match v.as_str() {
            "true" => Attribute::ReadOnly(true),
            "false" => Attribute::ReadOnly(false),
            _ => {
                return invalid(
                    "The value of the ReadOnly attribute must be true or false.".into(),
                );
            }
        },
        "Username" => Attribute::Username(v),
        "ResourceType" => Attribute::ResourceType(v),
        "ResourceName" => Attribute::ResourceName(v),
        "EventSource" => Attribute::EventSource(v),
        "AccessKeyId" => Attribute::AccessKeyId(v),
        other => {
            return invalid(format!(
                "{other:?} is not a valid AttributeKey: use EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource or AccessKeyId."
            ));
        }
    }))
}

/// A token is valid only with the parameters that produced it, as AWS's are.
fn fingerprint(list: &[LookupAttribute], start: Option<i64>, end: Option<i64>) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for a in list {
        ctx.update(a.attribute_key.as_bytes());
        ctx.update(b"\0");
        ctx.update(a.attribute_value.as_bytes());
        ctx.update(b"\0");
    }
    ctx.update(format!("{start:?}/{end:?}").as_bytes());
    hex::encode(&ctx.finish().as_ref()[..8])
}

fn parse_token(token: &str, fingerprint: &str) -> Result<i64, CloudTrailError> {
    let invalid = || {
        CloudTrailError::InvalidNextToken(
            "The NextToken is not valid, or was issued for a request with different parameters."
                .into(),
        )
    };
    let text = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (pos, fp) = text.split_once(':').ok_or_else(invalid)?;
    if fp != fingerprint {
        return Err(invalid());
    }
    pos.parse().map_err(|_| invalid())
}

fn event_out(f: Found) -> Event {
    Event {
        event_id: Some(f.event_id),
        event_name: Some(f.event_name),
        read_only: Some(f.read_only.to_string()),
        access_key_id: f.access_key_id,
        event_time: Some((f.time_ms / 1000) as f64),
        event_source: Some(f.event_source),
        username: f.username,
        resources: Some(match (f.resource_type, f.resource_name) {
            (Some(t), Some(n)) => vec![Resource {
                resource_type: Some(t),
                resource_name: Some(n),
            }],
            _ => Vec::new(),
        }),
        cloud_trail_event: Some(f.record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(k: &str, v: &str) -> LookupAttribute {
        LookupAttribute {
            attribute_key: k.into(),
            attribute_value: v.into(),
        }
    }

    #[test]
    fn one_known_attribute_at_a_time() {
        assert_eq!(
            attribute(&[attr("EventName", "GetSecretValue")]).unwrap(),
            Some(Attribute::EventName("GetSecretValue".into()))
        );
        assert_eq!(
            attribute(&[attr("ReadOnly", "false")]).unwrap(),
            Some(Attribute::ReadOnly(false))
        );
        for bad in [
            vec![attr("EventName", "a"), attr("Username", "b")],
            vec![attr("Colour", "blue")],
            vec![attr("ReadOnly", "maybe")],
            vec![attr("EventName", "")],
        ] {
            assert!(matches!(
                attribute(&bad),
                Err(CloudTrailError::InvalidLookupAttributes(_))
            ));
        }
    }

    #[test]
    fn tokens_only_work_with_their_own_parameters() {
        let a = [attr("EventName", "GetSecretValue")];
        let fp = fingerprint(&a, Some(1), None);
        let t = URL_SAFE_NO_PAD.encode(format!("42:{fp}"));
        assert_eq!(parse_token(&t, &fp), Ok(42));
        let other = fingerprint(&[attr("EventName", "ListSecrets")], Some(1), None);
        assert!(parse_token(&t, &other).is_err());
        assert!(parse_token("garbage!", &fp).is_err());
    }
}
