#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| form_webhook_fuzz::run_meta_lead(data));
