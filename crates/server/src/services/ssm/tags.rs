//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource (ResourceType Parameter).

use serde::{Deserialize, Serialize};

use super::{Empty, Ssm, SsmError};

const MAX_TAGS: usize = 50;

#[derive(Deserialize, Serialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct TagShape {
    key: String,
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct AddTagsInput {
    resource_type: String,
    resource_id: String,
    tags: Vec<TagShape>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct RemoveTagsInput {
    resource_type: String,
    resource_id: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct ListTagsInput {
    resource_type: String,
    resource_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListTagsOutput {
    tag_list: Vec<TagShape>,
}

/// Validate tags as given (keys 1–128, values ≤ 256, `aws:` reserved), later duplicates win.
pub(super) fn from_input(tags: Vec<TagShape>) -> Result<Vec<(String, String)>, SsmError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags {
        if t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256 {
            return Err(SsmError::Validation(format!(
                "1 validation error detected: Tag key must be 1-128 characters and its value at most 256: {}",
                t.key
            )));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SsmError::Validation(
                "Tag keys beginning with \"aws:\" are reserved.".into(),
            ));
        }
        out.retain(|(k, _)| *k != t.key);
        out.push((t.key, t.value));
    }
    if out.len() > MAX_TAGS {
        return Err(SsmError::TooManyTags(format!(
            "A parameter can have at most {MAX_TAGS} tags."
        )));
    }
    Ok(out)
}

fn parameter_type(given: &str) -> Result<(), SsmError> {
    match given {
        "Parameter" => Ok(()),
        "Document" | "ManagedInstance" | "MaintenanceWindow" | "PatchBaseline" | "OpsItem"
        | "OpsMetadata" | "Automation" | "Association" | "CloudConnector" => {
            Err(SsmError::InvalidResourceType(format!(
                "Strongroom's Parameter Store tags parameters only, not {given}."
            )))
        }
        other => Err(SsmError::Validation(format!(
            "1 validation error detected: Value '{other}' at 'resourceType' failed to satisfy constraint: Member must satisfy enum value set"
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
        input: AddTagsInput,
    ) -> Result<Empty, SsmError> {
        parameter_type(&input.resource_type)?;
        let tags = from_input(input.tags)?;
        let name = self.target(&input.resource_id);
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
        Ok(Empty {})
    }

    pub(super) async fn remove_tags_from_resource(
        &self,
        input: RemoveTagsInput,
    ) -> Result<Empty, SsmError> {
        parameter_type(&input.resource_type)?;
        let name = self.target(&input.resource_id);
        self.modify(&name, invalid_resource, |p| {
            p.tags.retain(|(k, _)| !input.tag_keys.contains(k));
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn list_tags_for_resource(
        &self,
        input: ListTagsInput,
    ) -> Result<ListTagsOutput, SsmError> {
        parameter_type(&input.resource_type)?;
        let name = self.target(&input.resource_id);
        let p = self.load(&name).await?.ok_or_else(invalid_resource)?;
        Ok(ListTagsOutput {
            tag_list: p
                .tags
                .into_iter()
                .map(|(key, value)| TagShape { key, value })
                .collect(),
        })
    }
}
