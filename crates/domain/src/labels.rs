//! Staging labels and version retention, as Secrets Manager applies them.
//!
//! The rules (secretsmanager.json, PutSecretValue / UpdateSecretVersionStage docs):
//! - a label is attached to at most one version of a secret; attaching it elsewhere moves it;
//! - whenever AWSCURRENT moves, AWSPREVIOUS moves to the version AWSCURRENT left;
//! - the first version of a secret always gets AWSCURRENT;
//! - AWSCURRENT can be moved but never removed outright;
//! - a version holds at most 20 labels;
//! - at most 100 versions are kept: the oldest label-less ("deprecated") versions are pruned,
//!   but never versions younger than 24 hours — if that blocks a write, the write fails.

use crate::secret::{AWSCURRENT, AWSPREVIOUS, Millis, Version};

pub const MAX_LABELS_PER_VERSION: usize = 20;
pub const MAX_VERSIONS: usize = 100;
pub const PRUNE_MIN_AGE_MS: Millis = 24 * 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// LimitExceededException
    #[error(
        "A secret version can have at most {MAX_LABELS_PER_VERSION} staging labels; version {0} would have more."
    )]
    TooManyLabels(String),
    /// LimitExceededException
    #[error(
        "The secret would have more than {MAX_VERSIONS} versions and none can be removed yet: Secrets Manager keeps every version created in the last 24 hours. Wait, or remove staging labels from older versions."
    )]
    TooManyVersions,
    /// InvalidParameterException
    #[error("Secrets Manager can't find the specified secret version: {0}")]
    VersionNotFound(String),
    /// InvalidParameterException
    #[error(
        "The parameter RemoveFromVersionId can't be empty. Staging label {label} is currently attached to version {holder}, so you must explicitly reference that version in RemoveFromVersionId."
    )]
    AttachedElsewhere { label: String, holder: String },
    /// InvalidParameterException
    #[error("The staging label {label} is not attached to version {version}.")]
    NotAttached { label: String, version: String },
    /// InvalidParameterException
    #[error(
        "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed."
    )]
    CannotRemoveCurrent,
    /// InvalidParameterException
    #[error("You must specify MoveToVersionId, RemoveFromVersionId, or both.")]
    NothingToDo,
}

/// Attach `stages` to the version `new_id` (already present in `versions`), moving each label
/// away from any other version. `stages` of `None` means the default: `[AWSCURRENT]`.
pub fn attach_to_new_version(
    versions: &mut [Version],
    new_id: &str,
    stages: Option<&[String]>,
) -> Result<(), LabelError> {
    let is_first = versions.iter().all(|v| v.id == new_id);
    let mut wanted: Vec<String> = match stages {
        Some(s) => dedup(s),
        None => vec![AWSCURRENT.to_string()],
    };
    if is_first && !wanted.iter().any(|s| s == AWSCURRENT) {
        wanted.insert(0, AWSCURRENT.to_string());
    }
    for label in &wanted {
        move_label(versions, label, new_id);
    }
    check_label_counts(versions)
}

/// UpdateSecretVersionStage.
pub fn update_version_stage(
    versions: &mut [Version],
    label: &str,
    remove_from: Option<&str>,
    move_to: Option<&str>,
) -> Result<(), LabelError> {
    for id in [remove_from, move_to].into_iter().flatten() {
        if !versions.iter().any(|v| v.id == id) {
            return Err(LabelError::VersionNotFound(id.to_string()));
        }
    }
    let holder = versions
        .iter()
        .find(|v| v.has_stage(label))
        .map(|v| v.id.clone());
    match (move_to, remove_from) {
        (Some(to), _) => {
            if let Some(holder) = holder.as_deref() {
                if holder == to {
                    return Ok(());
                }
                if remove_from != Some(holder) {
                    return Err(LabelError::AttachedElsewhere {
                        label: label.to_string(),
                        holder: holder.to_string(),
                    });
                }
            }
            move_label(versions, label, to);
            check_label_counts(versions)
        }
        (None, Some(from)) => {
            if holder.as_deref() != Some(from) {
                return Err(LabelError::NotAttached {
                    label: label.to_string(),
                    version: from.to_string(),
                });
            }
            if label == AWSCURRENT {
                return Err(LabelError::CannotRemoveCurrent);
            }
            remove_label(versions, label);
            Ok(())
        }
        (None, None) => Err(LabelError::NothingToDo),
    }
}

/// Drop the oldest deprecated versions older than 24 h until at most [`MAX_VERSIONS`] remain.
/// Returns the ids removed. Fails (changing nothing) when the limit cannot be met.
pub fn prune_versions(versions: &mut Vec<Version>, now: Millis) -> Result<Vec<String>, LabelError> {
    if versions.len() <= MAX_VERSIONS {
        return Ok(Vec::new());
    }
    let mut candidates: Vec<(Millis, String)> = versions
        .iter()
        .filter(|v| v.is_deprecated() && now - v.created_ms >= PRUNE_MIN_AGE_MS)
        .map(|v| (v.created_ms, v.id.clone()))
        .collect();
    let excess = versions.len() - MAX_VERSIONS;
    if candidates.len() < excess {
        return Err(LabelError::TooManyVersions);
    }
    candidates.sort();
    let removed: Vec<String> = candidates
        .into_iter()
        .take(excess)
        .map(|(_, id)| id)
        .collect();
    versions.retain(|v| !removed.contains(&v.id));
    Ok(removed)
}

fn move_label(versions: &mut [Version], label: &str, to: &str) {
    let from = versions
        .iter()
        .find(|v| v.has_stage(label))
        .map(|v| v.id.clone());
    if from.as_deref() == Some(to) {
        return;
    }
    remove_label(versions, label);
    if let Some(v) = versions.iter_mut().find(|v| v.id == to) {
        v.stages.push(label.to_string());
    }
    if label == AWSCURRENT
        && let Some(from) = from
    {
        remove_label(versions, AWSPREVIOUS);
        if let Some(v) = versions.iter_mut().find(|v| v.id == from) {
            v.stages.push(AWSPREVIOUS.to_string());
        }
    }
}

fn remove_label(versions: &mut [Version], label: &str) {
    for v in versions.iter_mut() {
        v.stages.retain(|s| s != label);
    }
}

fn check_label_counts(versions: &[Version]) -> Result<(), LabelError> {
    match versions
        .iter()
        .find(|v| v.stages.len() > MAX_LABELS_PER_VERSION)
    {
        Some(v) => Err(LabelError::TooManyLabels(v.id.clone())),
        None => Ok(()),
    }
}

fn dedup(stages: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(stages.len());
    for s in stages {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::AWSPENDING;

    fn v(id: &str, created: Millis) -> Version {
        Version {
            id: id.into(),
            stages: vec![],
            created_ms: created,
            last_accessed_ms: None,
            has_value: true,
            kms_key_id: None,
        }
    }

    fn stages_of<'a>(vs: &'a [Version], id: &str) -> Vec<&'a str> {
        let mut s: Vec<&str> = vs
            .iter()
            .find(|v| v.id == id)
            .unwrap()
            .stages
            .iter()
            .map(String::as_str)
            .collect();
        s.sort();
        s
    }

    fn put(vs: &mut Vec<Version>, id: &str, stages: Option<&[String]>) {
        vs.push(v(id, 0));
        attach_to_new_version(vs, id, stages).unwrap();
    }

    #[test]
    fn first_version_gets_current_even_with_explicit_stages() {
        let mut vs = vec![];
        put(&mut vs, "a", Some(&["X".to_string()]));
        assert_eq!(stages_of(&vs, "a"), vec!["AWSCURRENT", "X"]);
    }

    #[test]
    fn previous_follows_current() {
        let mut vs = vec![];
        put(&mut vs, "a", None);
        put(&mut vs, "b", None);
        assert_eq!(stages_of(&vs, "a"), vec!["AWSPREVIOUS"]);
        assert_eq!(stages_of(&vs, "b"), vec!["AWSCURRENT"]);
        put(&mut vs, "c", None);
        assert!(stages_of(&vs, "a").is_empty(), "a is now deprecated");
        assert_eq!(stages_of(&vs, "b"), vec!["AWSPREVIOUS"]);
        assert_eq!(stages_of(&vs, "c"), vec!["AWSCURRENT"]);
    }

    #[test]
    fn pending_does_not_move_current() {
        let mut vs = vec![];
        put(&mut vs, "a", None);
        put(&mut vs, "b", Some(&[AWSPENDING.to_string()]));
        assert_eq!(stages_of(&vs, "a"), vec!["AWSCURRENT"]);
        assert_eq!(stages_of(&vs, "b"), vec!["AWSPENDING"]);
    }

    #[test]
    fn custom_label_moves_between_versions() {
        let mut vs = vec![];
        put(&mut vs, "a", Some(&["blue".to_string()]));
        put(&mut vs, "b", Some(&["blue".to_string()]));
        assert_eq!(stages_of(&vs, "a"), vec!["AWSCURRENT"]);
        assert_eq!(stages_of(&vs, "b"), vec!["blue"]);
    }

    #[test]
    fn update_stage_requires_remove_from_when_attached_elsewhere() {
        let mut vs = vec![];
        put(&mut vs, "a", None);
        put(&mut vs, "b", Some(&[AWSPENDING.to_string()]));
        let err = update_version_stage(&mut vs, AWSCURRENT, None, Some("b")).unwrap_err();
        assert!(matches!(err, LabelError::AttachedElsewhere { .. }));
        let err = update_version_stage(&mut vs, AWSCURRENT, Some("b"), Some("b")).unwrap_err();
        assert!(matches!(err, LabelError::AttachedElsewhere { .. }));
        update_version_stage(&mut vs, AWSCURRENT, Some("a"), Some("b")).unwrap();
        assert_eq!(stages_of(&vs, "a"), vec!["AWSPREVIOUS"]);
        assert_eq!(stages_of(&vs, "b"), vec!["AWSCURRENT", "AWSPENDING"]);
    }

    #[test]
    fn update_stage_remove_only() {
        let mut vs = vec![];
        put(&mut vs, "a", None);
        put(&mut vs, "b", Some(&[AWSPENDING.to_string()]));
        assert_eq!(
            update_version_stage(&mut vs, AWSPENDING, Some("a"), None).unwrap_err(),
            LabelError::NotAttached {
                label: AWSPENDING.into(),
                version: "a".into()
            }
        );
        update_version_stage(&mut vs, AWSPENDING, Some("b"), None).unwrap();
        assert!(stages_of(&vs, "b").is_empty());
        assert_eq!(
            update_version_stage(&mut vs, AWSCURRENT, Some("a"), None).unwrap_err(),
            LabelError::CannotRemoveCurrent
        );
    }

    #[test]
    fn update_stage_unknown_version_and_noop() {
        let mut vs = vec![];
        put(&mut vs, "a", None);
        assert_eq!(
            update_version_stage(&mut vs, "x", None, Some("zzz")).unwrap_err(),
            LabelError::VersionNotFound("zzz".into())
        );
        update_version_stage(&mut vs, AWSCURRENT, None, Some("a")).unwrap();
        assert_eq!(stages_of(&vs, "a"), vec!["AWSCURRENT"]);
        assert_eq!(
            update_version_stage(&mut vs, "x", None, None).unwrap_err(),
            LabelError::NothingToDo
        );
    }

    #[test]
    fn label_limit() {
        let mut vs = vec![];
        let many: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        put(&mut vs, "a", Some(&many[..19]));
        vs.push(v("b", 0));
        assert_eq!(
            attach_to_new_version(&mut vs, "b", Some(&many)),
            Ok(()),
            "20 labels on one version are allowed"
        );
        let err = update_version_stage(&mut vs, AWSCURRENT, Some("a"), Some("b")).unwrap_err();
        assert_eq!(err, LabelError::TooManyLabels("b".into()));
    }

    #[test]
    fn pruning_spares_young_and_labelled_versions() {
        let now = 10 * PRUNE_MIN_AGE_MS;
        let mut vs: Vec<Version> = (0..101).map(|i| v(&format!("v{i:03}"), i)).collect();
        vs[100].stages.push(AWSCURRENT.into());
        let removed = prune_versions(&mut vs, now).unwrap();
        assert_eq!(
            removed,
            vec!["v000".to_string()],
            "oldest deprecated goes first"
        );
        assert_eq!(vs.len(), MAX_VERSIONS);

        let mut young: Vec<Version> = (0..101).map(|i| v(&format!("v{i}"), now - 1000)).collect();
        let before = young.clone();
        assert_eq!(
            prune_versions(&mut young, now),
            Err(LabelError::TooManyVersions)
        );
        assert_eq!(young, before, "a refused prune changes nothing");
    }
}
