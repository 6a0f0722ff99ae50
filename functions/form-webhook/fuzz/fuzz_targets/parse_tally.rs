#![no_main]

use form_webhook::Provider;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| form_webhook_fuzz::run(Provider::Tally, data));
