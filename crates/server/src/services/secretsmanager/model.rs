//! Wire shapes of the Secrets Manager operations (secretsmanager.json), PascalCase JSON.
//! Inputs ignore unknown members (newer SDKs may send more); outputs omit absent members.

use crate::sensitive::Sensitive;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// AWS JSON timestamps are epoch seconds as a number.
pub use crate::services::input::epoch_seconds as ts;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagShape {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilterShape {
    pub key: Option<String>,
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretInput {
    pub name: Option<String>,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub secret_binary: Option<Sensitive>,
    pub secret_string: Option<Sensitive>,
    pub tags: Option<Vec<TagShape>>,
    pub add_replica_regions: Option<serde_json::Value>,
    pub force_overwrite_replica_secret: Option<bool>,
    #[serde(rename = "Type")]
    pub secret_type: Option<String>,
    #[serde(rename = "CrossAccountPrimaryARN")]
    pub cross_account_primary_arn: Option<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretOutput {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Not on the wire: the rotation this write abandoned (UpdateSecret), for its event.
    #[serde(skip)]
    pub abandoned_rotation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretIdInput {
    pub secret_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValueInput {
    pub secret_id: Option<String>,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretValueOutput {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    pub version_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_binary: Option<Sensitive>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_string: Option<Sensitive>,
    pub version_stages: Vec<String>,
    pub created_date: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueInput {
    pub secret_id_list: Option<Vec<String>>,
    pub filters: Option<Vec<FilterShape>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiErrorShape {
    pub secret_id: String,
    pub error_code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueOutput {
    pub secret_values: Vec<SecretValueOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub errors: Vec<ApiErrorShape>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueInput {
    pub secret_id: Option<String>,
    pub client_request_token: Option<String>,
    pub secret_binary: Option<Sensitive>,
    pub secret_string: Option<Sensitive>,
    pub version_stages: Option<Vec<String>>,
    pub rotation_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueOutput {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    pub version_id: String,
    pub version_stages: Vec<String>,
    /// Not on the wire: the rotation this write abandoned, for its event.
    #[serde(skip)]
    pub abandoned_rotation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretInput {
    pub secret_id: Option<String>,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub secret_binary: Option<Sensitive>,
    pub secret_string: Option<Sensitive>,
    #[serde(rename = "Type")]
    pub secret_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretVersionStageInput {
    pub secret_id: Option<String>,
    pub version_stage: Option<String>,
    pub remove_from_version_id: Option<String>,
    pub move_to_version_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArnName {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
}

/// DescribeSecret's output and ListSecrets' entries share these members.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretDescription {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    pub last_changed_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagShape>,
    /// DescribeSecret calls it VersionIdsToStages, ListSecrets SecretVersionsToStages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_ids_to_stages: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_versions_to_stages: Option<BTreeMap<String, Vec<String>>>,
    pub created_date: f64,
    /// Present once rotation has been configured (false after CancelRotateSecret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_enabled: Option<bool>,
    #[serde(rename = "RotationLambdaARN", skip_serializing_if = "Option::is_none")]
    pub rotation_lambda_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_rules: Option<RotationRulesShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotated_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRulesShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretInput {
    pub secret_id: Option<String>,
    pub client_request_token: Option<String>,
    #[serde(rename = "RotationLambdaARN")]
    pub rotation_lambda_arn: Option<String>,
    pub rotation_rules: Option<RotationRulesShape>,
    pub rotate_immediately: Option<bool>,
    pub external_secret_rotation_metadata: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretOutput {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsInput {
    pub include_planned_deletion: Option<bool>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    pub filters: Option<Vec<FilterShape>>,
    pub sort_order: Option<String>,
    pub sort_by: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsOutput {
    pub secret_list: Vec<SecretDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsInput {
    pub secret_id: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    pub include_deprecated: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionEntry {
    pub version_id: String,
    /// Omitted for deprecated (label-less) versions, as AWS does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub version_stages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<f64>,
    pub created_date: f64,
    pub kms_key_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsOutput {
    pub versions: Vec<VersionEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretInput {
    pub secret_id: Option<String>,
    pub recovery_window_in_days: Option<i64>,
    pub force_delete_without_recovery: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretOutput {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    pub deletion_date: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    pub secret_id: Option<String>,
    pub tags: Option<Vec<TagShape>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    pub secret_id: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPasswordInput {
    pub password_length: Option<i64>,
    pub exclude_characters: Option<String>,
    pub exclude_numbers: Option<bool>,
    pub exclude_punctuation: Option<bool>,
    pub exclude_uppercase: Option<bool>,
    pub exclude_lowercase: Option<bool>,
    pub include_space: Option<bool>,
    pub require_each_included_type: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPasswordOutput {
    pub random_password: Sensitive,
}
