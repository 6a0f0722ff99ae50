//! The local runner.
fn main() {}
