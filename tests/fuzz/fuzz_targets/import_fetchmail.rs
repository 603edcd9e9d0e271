#![no_main]
#[path = "../harness/import_fetchmail.rs"]
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
