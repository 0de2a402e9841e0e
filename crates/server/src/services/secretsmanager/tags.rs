//! TagResource, UntagResource, and tag validation shared with CreateSecret.

use strongroom_domain::secret::Tag;

use super::model::*;
use super::{SecretsManager, SmError, validate};

/// Validate tags from a request (duplicates: the last value wins, as a map would).
pub(super) fn from_input(tags: Vec<TagShape>) -> Result<Vec<Tag>, SmError> {
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for t in tags {
        validate::length("tags.member.key", &t.key, 1, 128)?;
        validate::length("tags.member.value", &t.value, 0, 256)?;
        merge(
            &mut out,
            Tag {
                key: t.key,
                value: t.value,
            },
        );
    }
    check(&out)?;
    Ok(out)
}

fn merge(tags: &mut Vec<Tag>, tag: Tag) {
    match tags.iter_mut().find(|t| t.key == tag.key) {
        Some(existing) => existing.value = tag.value,
        None => tags.push(tag),
    }
}

fn check(tags: &[Tag]) -> Result<(), SmError> {
    strongroom_domain::names::validate_tags(
        tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
    )?;
    Ok(())
}

impl SecretsManager {
    pub(super) async fn tag_resource(&self, input: TagResourceInput) -> Result<Empty, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let new_tags = from_input(validate::required("tags", input.tags)?)?;
        let now = self.clock.now_ms();
        self.modify(&id, |s| {
            if s.is_scheduled_for_deletion() {
                return Err(SmError::marked_for_deletion());
            }
            for t in &new_tags {
                merge(&mut s.tags, t.clone());
            }
            check(&s.tags)?;
            s.last_changed_ms = now;
            Ok(((), Vec::new()))
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn untag_resource(&self, input: UntagResourceInput) -> Result<Empty, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let keys = validate::required("tagKeys", input.tag_keys)?;
        strongroom_domain::names::validate_untag_keys(keys.iter().map(String::as_str))?;
        let now = self.clock.now_ms();
        self.modify(&id, |s| {
            if s.is_scheduled_for_deletion() {
                return Err(SmError::marked_for_deletion());
            }
            s.tags.retain(|t| !keys.contains(&t.key));
            s.last_changed_ms = now;
            Ok(((), Vec::new()))
        })
        .await?;
        Ok(Empty {})
    }
}
