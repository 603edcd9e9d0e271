#![no_main]
#[path = "../harness/imap_pattern.rs"]
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
