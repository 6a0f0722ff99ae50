//! Prints the CPU time per delivery of verify + parse + normalise (no store), per provider, on
//! the recorded fixtures, and the peak memory of one 256 KiB delivery.
//!
//!     cargo run --profile bench -p form-webhook --no-default-features --example bench_intake [iterations]
//!
//! (`--no-default-features` leaves out the Lambda binary's AWS SDK, which the benchmark does
//! not use and which takes long to build optimised; with it the figures are the same.)
//!
//! CPU time is this thread's time on CPU (`/proc/thread-self/schedstat`), so other processes
//! on the machine do not inflate it; wall time is printed beside it. The last line is the
//! median over the recorded bodies, the "typical body" the ≤ 30 µs target is about.
//!
//! Peak memory of the 256 KiB delivery is measured two ways: a counting global allocator
//! (bytes live on the heap at the worst moment of verify + parse + normalise, over and above
//! the body already held, which is exact and what the figure means), and the process's
//! resident high-water mark (`VmHWM` in `/proc/self/status`, the same as getrusage's maxrss)
//! before and after, which is coarse (pages, the binary, the allocator's arenas) but is what
//! Lambda bills. The large delivery runs first, before anything else has grown the heap.

use form_webhook::{
    config::Secret,
    normalise::normalise,
    provider::{self, Headers, Incoming, Item, Provider},
    Timestamp, MAX_BODY_BYTES,
};
use hmac::{Hmac, KeyInit, Mac};
use peak_alloc::PeakAlloc;
use sha2::Sha256;
use std::{hint::black_box, path::Path, time::Instant};

/// Counts the bytes live on the heap and their high-water mark (the workspace forbids
/// `unsafe`, so the counting allocator is a small crate's).
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/webhooks"
);

struct Case {
    provider: Provider,
    path_provider: String,
    url: String,
    headers: Headers,
    body: Vec<u8>,
    now: Timestamp,
}

fn load(file: &str) -> Case {
    let base = Path::new(FIXTURES);
    let body = std::fs::read(base.join(file)).expect("fixture");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join(format!("{stem}.headers.json"))).unwrap())
            .unwrap();
    let url = side["url"].as_str().unwrap().to_owned();
    let path_provider = url
        .split_once("/webhooks/")
        .unwrap()
        .1
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let headers = side["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    Case {
        provider: Provider::from_slug(&path_provider).unwrap(),
        path_provider,
        url,
        headers: Headers::new(headers),
        body,
        now: side["received_at"].as_str().unwrap().parse().unwrap(),
    }
}

/// Verify, parse and normalise one delivery; returns the number of submissions.
fn run(case: &Case, secret: &Secret) -> usize {
    let req = Incoming {
        method: "POST",
        url: &case.url,
        path_provider: &case.path_provider,
        headers: &case.headers,
        body: &case.body,
        now: case.now,
    };
    provider::verify(case.provider, &req, secret).expect("fixture verifies");
    let items = provider::parse(case.provider, &req).expect("fixture parses");
    items
        .iter()
        .filter_map(|i| match i {
            Item::Submission(e) => Some(black_box(normalise(case.provider, e, None, case.now))),
            _ => None,
        })
        .count()
}

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A generic delivery of exactly 256 KiB: a lead with one very long free-text answer.
fn large_case() -> Case {
    let head = r#"{"event_id":"bench-large","lead":{"email":"big@example.com","first_name":"Big","last_name":"Body","company":"Large Co"},"message":""#;
    let tail = r#""}"#;
    let filler = MAX_BODY_BYTES - head.len() - tail.len();
    let mut body = Vec::with_capacity(MAX_BODY_BYTES);
    body.extend_from_slice(head.as_bytes());
    body.extend(std::iter::repeat_n(b'x', filler));
    body.extend_from_slice(tail.as_bytes());
    assert_eq!(body.len(), MAX_BODY_BYTES);

    let mut mac = Hmac::<Sha256>::new_from_slice(b"test-secret").unwrap();
    mac.update(&body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    Case {
        provider: Provider::Generic,
        path_provider: "generic/bench".into(),
        url: "https://leads.example.org/webhooks/generic/bench".into(),
        headers: Headers::new(vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Webhook-Signature".into(), sig),
        ]),
        body,
        now: chrono::DateTime::from_timestamp(1_741_083_330, 0).unwrap(),
    }
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let secret = Secret::new("test-secret");

    let large = large_case();
    let before = vm_hwm_kib();
    let live_before = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let cpu = thread_cpu_ns();
    assert_eq!(run(&large, &secret), 1);
    let large_us = (thread_cpu_ns() - cpu) as f64 / 1e3;
    let heap_peak = ALLOCATOR.peak_usage().saturating_sub(live_before);
    let after = vm_hwm_kib();
    println!(
        "256 KiB delivery ({} B body): {large_us:.0} µs CPU; peak heap during verify + parse + \
         normalise {heap_peak} B ({:.0} KiB) over the body held; peak RSS (VmHWM) {before} KiB \
         before, {after} KiB after (+{} KiB)",
        large.body.len(),
        heap_peak as f64 / 1024.0,
        after - before
    );

    let files = [
        "typeform/form_response_normal.json",
        "tally/form_response_normal.json",
        "jotform/submission_normal.multipart",
        "webflow/form_submission_v2_normal.json",
        "hubspot/workflow_contact_normal.json",
        "calendly/invitee_created_normal.json",
        "google-forms/apps_script_normal.json",
        "gravity-forms/entry_all_fields_unicode.json",
        "netlify-forms/submission_created_mixed_case_email.json",
        "unbounce/form_submit_urlencoded.txt",
        "generic-json/zapier_lead_normal.json",
        "typeform/form_response_long_text.json",
    ];
    println!(
        "{:<56} {:>6} {:>9} {:>9} | {:>8} {:>8} {:>8}",
        "CPU µs per delivery", "bytes", "total", "wall", "verify", "parse", "normal."
    );
    let mut totals = Vec::with_capacity(files.len());
    for file in files {
        let case = load(file);
        for _ in 0..100 {
            run(&case, &secret);
        }
        let cpu = thread_cpu_ns();
        let wall = Instant::now();
        for _ in 0..iterations {
            black_box(run(&case, &secret));
        }
        let per = |ns: u64| ns as f64 / 1e3 / f64::from(iterations);
        let total = per(thread_cpu_ns() - cpu);
        let wall_us = wall.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
        let [v, p, n] = stages(&case, &secret, iterations).map(per);
        println!(
            "{file:<56} {:>6} {total:>9.2} {wall_us:>9.2} | {v:>8.2} {p:>8.2} {n:>8.2}",
            case.body.len()
        );
        totals.push(total);
    }
    totals.sort_by(f64::total_cmp);
    let median = totals[totals.len() / 2];
    let worst = totals[totals.len() - 1];
    println!(
        "typical body (median of {}): {median:.2} µs CPU per delivery (target ≤ 30 µs); worst {worst:.2} µs",
        totals.len()
    );
}

/// CPU nanoseconds spent in each stage over `iterations` deliveries.
fn stages(case: &Case, secret: &Secret, iterations: u32) -> [u64; 3] {
    let req = Incoming {
        method: "POST",
        url: &case.url,
        path_provider: &case.path_provider,
        headers: &case.headers,
        body: &case.body,
        now: case.now,
    };
    let t = thread_cpu_ns();
    for _ in 0..iterations {
        black_box(provider::verify(case.provider, black_box(&req), secret).is_ok());
    }
    let verify = thread_cpu_ns() - t;

    let t = thread_cpu_ns();
    for _ in 0..iterations {
        black_box(provider::parse(case.provider, black_box(&req)).is_ok());
    }
    let parse = thread_cpu_ns() - t;

    let items = provider::parse(case.provider, &req).unwrap_or_default();
    let t = thread_cpu_ns();
    for _ in 0..iterations {
        for item in &items {
            if let Item::Submission(e) = item {
                black_box(normalise(case.provider, black_box(e), None, case.now));
            }
        }
    }
    [verify, parse, thread_cpu_ns() - t]
}
