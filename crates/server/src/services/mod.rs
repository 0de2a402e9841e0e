//! One module per AWS service; one function per operation.

pub mod cloudtrail;
pub mod cloudwatch;
pub mod input;
pub mod kms;
pub mod secretsmanager;
pub mod ssm;

/// One authorization a request needs: (IAM action, resource ARN, condition keys). KMS and SSM
/// requests may need several (an alias and its key; every parameter GetParameters names).
pub struct Check {
    pub action: String,
    pub resource: String,
    pub keys: strongroom_policy::matching::Keys,
    /// The resource's own policy (a KMS key policy), evaluated as a resource policy.
    pub policy: Option<String>,
    /// Principals a KMS grant on the key allows this request (its operation and constraints
    /// already matched): allowed unless a policy denies explicitly.
    pub grantees: Vec<String>,
}

impl Check {
    /// An account-wide action (resource `*`, no resource policy).
    pub fn anywhere(action: String, keys: strongroom_policy::matching::Keys) -> Self {
        Self {
            action,
            resource: "*".into(),
            keys,
            policy: None,
            grantees: Vec::new(),
        }
    }
}

/// `aws:RequestTag/KEY` for each tag a request sets and `aws:TagKeys` for all of them (keys
/// are stored lowercased, as condition keys are matched).
pub fn insert_request_tags(
    keys: &mut strongroom_policy::matching::Keys,
    tags: &[(String, String)],
) {
    for (k, v) in tags {
        keys.insert(
            format!("aws:requesttag/{}", k.to_ascii_lowercase()),
            vec![v.clone()],
        );
    }
    keys.insert(
        "aws:tagkeys".into(),
        tags.iter().map(|(k, _)| k.clone()).collect(),
    );
}

/// (key, value) pairs of a request's `Tags` list, whichever member names the service uses
/// (`Key`/`Value`, or KMS's `TagKey`/`TagValue`).
pub fn request_tags(
    body: &serde_json::Value,
    key: &str,
    value: &str,
) -> Option<Vec<(String, String)>> {
    let tags = body.get("Tags")?.as_array()?;
    Some(
        tags.iter()
            .filter_map(|t| {
                Some((
                    t.get(key)?.as_str()?.to_string(),
                    t.get(value)?.as_str()?.to_string(),
                ))
            })
            .collect(),
    )
}
