//! One module per AWS service; one function per operation.

pub mod cloudtrail;
pub mod cloudwatch;
pub mod iam;
pub mod input;
pub mod kms;
pub mod secretsmanager;
pub mod ssm;
pub mod sts;

/// One authorization a request needs: (IAM action, resource ARN, condition keys). KMS and SSM
/// requests may need several (an alias and its key; every parameter GetParameters names).
pub struct Check {
    pub action: String,
    pub resource: String,
    pub keys: strongroom_policy::matching::Keys,
}
