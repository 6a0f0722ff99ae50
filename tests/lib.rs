//! Shared helpers for the end-to-end tests: where the shared test material lives, a fresh
//! store per test, and the simulated day of SLA traffic ([`sla_day`]).

use std::path::PathBuf;

pub mod sla_day;

/// `../shared` beside the repository: fixtures and datasets, never copied into the repository.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// A file under `../shared/datasets`.
pub fn dataset(path: &str) -> PathBuf {
    shared_dir().join("datasets").join(path)
}

/// A file under this crate's `fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}
