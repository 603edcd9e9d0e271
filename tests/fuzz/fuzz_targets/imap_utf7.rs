#![no_main]
#[path = "../harness/imap_utf7.rs"]
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
