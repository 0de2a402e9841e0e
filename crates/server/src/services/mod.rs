//! One module per AWS service; one function per operation.

pub mod cloudtrail;
pub mod cloudwatch;
pub mod iam;
pub mod input;
pub mod kms;
pub mod secretsmanager;
pub mod ssm;
pub mod sts;
