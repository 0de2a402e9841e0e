//! One module per AWS service; one function per operation.

pub mod secretsmanager;
