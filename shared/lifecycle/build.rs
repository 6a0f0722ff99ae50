//! Writes the `mailchecker` crate's disposable mail domains into `OUT_DIR` as one text, sorted,
//! lower-case, one domain per line, which `scoring::pattern` embeds and searches in place.
//!
//! Why not link the crate: it holds its 56,000 domains as a `&[&str]`. In a position-independent
//! executable each entry is a 16-byte slice plus a 24-byte relocation on top of its text, so the
//! list took over 2 MB of every Lambda's bootstrap. As one text it takes its 0.8 MB of characters,
//! and needs no set built at cold start. The data stays the maintained crate's.

use std::{env, fs, path::PathBuf};

fn main() {
    let mut domains: Vec<String> = mailchecker::blacklist()
        .iter()
        .map(|domain| domain.trim().to_ascii_lowercase())
        .filter(|domain| !domain.is_empty() && !domain.contains('\n'))
        .collect();
    domains.sort_unstable();
    domains.dedup();

    let mut text = String::with_capacity(domains.iter().map(|d| d.len() + 1).sum());
    for domain in &domains {
        text.push_str(domain);
        text.push('\n');
    }

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("disposable_domains.txt"), text).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}
