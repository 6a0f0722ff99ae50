//! The local runner: the whole product on a laptop, with no cloud.
//!
//! It stores everything in the embedded store (one SQLite file) and offers the commands a
//! RevOps user starts with: `import` a CRM export, `report` the funnel, `demo`, which does
//! both on sample data shipped in this repository, and `serve`, which runs every function in
//! one process behind the same routes as API Gateway ([`stack`], [`serve`]).

pub mod cli;
pub mod import;
pub mod report;
pub mod seed;
pub mod serve;
pub mod stack;
