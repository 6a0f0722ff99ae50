//! End-to-end tests of the journey, compiled as one binary.

mod import_errors;
mod olist;
mod page;
mod rollup;
mod serve;
mod sla_day;
