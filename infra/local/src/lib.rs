//! The local runner: the whole product on a laptop, with no cloud.
//!
//! It stores everything in the embedded store (one SQLite file) and offers the commands a
//! RevOps user starts with: `import` a CRM export, `report` the funnel, and `demo`, which does
//! both on sample data shipped in this repository.

pub mod cli;
pub mod import;
pub mod report;
