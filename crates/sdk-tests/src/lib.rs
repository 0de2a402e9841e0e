//! Integration tests live in `tests/`: a real strongroom server (in-process, real TCP
//! listener, real SQLite files) driven by the AWS SDK for Rust and by raw signed HTTP.
