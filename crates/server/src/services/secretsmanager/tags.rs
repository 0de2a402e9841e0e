//! TagResource, UntagResource, and tag validation shared with CreateSecret.

use strongroom_domain::secret::Tag;

use super::shapes::{self, TagResourceRequest, UntagResourceRequest};
use super::{SecretsManager, SmError, validate};

/// Validate tags from a request (duplicates: the last value wins, as a map would). A tag
/// without Key or Value is one with an empty one (the model requires neither member; the
/// length constraints decide).
pub(super) fn from_input(tags: Vec<shapes::Tag>) -> Result<Vec<Tag>, SmError> {
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for t in tags {
        let (key, value) = (t.key.unwrap_or_default(), t.value.unwrap_or_default());
        validate::length("tags.member.key", &key, 1, 128)?;
        validate::length("tags.member.value", &value, 0, 256)?;
        merge(&mut out, Tag { key, value });
    }
    check(&out)?;
    Ok(out)
}

/// A secret's tags as the wire shows them.
pub(super) fn to_output(tags: &[Tag]) -> Vec<shapes::Tag> {
    tags.iter()
        .map(|t| shapes::Tag {
            key: Some(t.key.clone()),
            value: Some(t.value.clone()),
        })
        .collect()
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
    pub(super) async fn tag_resource(&self, input: TagResourceRequest) -> Result<(), SmError> {
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
            s.tagged |= !s.tags.is_empty();
            s.last_changed_ms = now;
            Ok(((), Vec::new()))
        })
        .await?;
        Ok(())
    }

    pub(super) async fn untag_resource(&self, input: UntagResourceRequest) -> Result<(), SmError> {
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
        Ok(())
    }
}
