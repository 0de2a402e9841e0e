//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource (ResourceType Parameter).

use super::shapes::{
    AddTagsToResourceRequest, AddTagsToResourceResult, ListTagsForResourceRequest,
    ListTagsForResourceResult, RemoveTagsFromResourceRequest, RemoveTagsFromResourceResult, Tag,
};
use super::{Ssm, SsmError};

const MAX_TAGS: usize = 50;

/// Tags as given (their lengths and characters were checked with the model's constraints,
/// `super::validate`): `aws:` is reserved, later duplicates win.
pub(super) fn from_input(tags: &[Tag]) -> Result<Vec<(String, String)>, SsmError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags {
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SsmError::Validation(
                "Tag keys beginning with \"aws:\" are reserved.".into(),
            ));
        }
        out.retain(|(k, _)| *k != t.key);
        out.push((t.key.clone(), t.value.clone()));
    }
    if out.len() > MAX_TAGS {
        return Err(SsmError::TooManyTags(format!(
            "A parameter can have at most {MAX_TAGS} tags."
        )));
    }
    Ok(out)
}

/// A resource type of the model's set (checked first, `super::validate`): only parameters
/// are tagged here.
fn parameter_type(given: &str) -> Result<(), SsmError> {
    match given {
        "Parameter" => Ok(()),
        other => Err(SsmError::InvalidResourceType(format!(
            "Strongroom's Parameter Store tags parameters only, not {other}."
        ))),
    }
}

fn invalid_resource() -> SsmError {
    SsmError::InvalidResourceId(
        "The resource ID isn't valid. Verify that you entered the correct ID and try again.".into(),
    )
}

impl Ssm {
    pub(super) async fn add_tags_to_resource(
        &self,
        input: &AddTagsToResourceRequest,
    ) -> Result<AddTagsToResourceResult, SsmError> {
        super::validate::add_tags_to_resource(input)?;
        parameter_type(input.resource_type.as_deref().unwrap_or_default())?;
        let tags = from_input(input.tags.as_deref().unwrap_or_default())?;
        let name = self.target(input.resource_id.as_deref().unwrap_or_default());
        self.modify(&name, invalid_resource, |p| {
            for (k, v) in &tags {
                p.tags.retain(|(key, _)| key != k);
                p.tags.push((k.clone(), v.clone()));
            }
            if p.tags.len() > MAX_TAGS {
                return Err(SsmError::TooManyTags(format!(
                    "A parameter can have at most {MAX_TAGS} tags."
                )));
            }
            Ok(())
        })
        .await?;
        Ok(AddTagsToResourceResult {})
    }

    pub(super) async fn remove_tags_from_resource(
        &self,
        input: &RemoveTagsFromResourceRequest,
    ) -> Result<RemoveTagsFromResourceResult, SsmError> {
        super::validate::remove_tags_from_resource(input)?;
        parameter_type(input.resource_type.as_deref().unwrap_or_default())?;
        let name = self.target(input.resource_id.as_deref().unwrap_or_default());
        let tag_keys = input.tag_keys.as_deref().unwrap_or_default();
        self.modify(&name, invalid_resource, |p| {
            p.tags.retain(|(k, _)| !tag_keys.contains(k));
            Ok(())
        })
        .await?;
        Ok(RemoveTagsFromResourceResult {})
    }

    pub(super) async fn list_tags_for_resource(
        &self,
        input: &ListTagsForResourceRequest,
    ) -> Result<ListTagsForResourceResult, SsmError> {
        super::validate::list_tags_for_resource(input)?;
        parameter_type(input.resource_type.as_deref().unwrap_or_default())?;
        let name = self.target(input.resource_id.as_deref().unwrap_or_default());
        let p = self.load(&name).await?.ok_or_else(invalid_resource)?;
        Ok(ListTagsForResourceResult {
            tag_list: Some(
                p.tags
                    .into_iter()
                    .map(|(key, value)| Tag { key, value })
                    .collect(),
            ),
        })
    }
}
