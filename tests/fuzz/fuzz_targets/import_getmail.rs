#![no_main]
#[path = "../harness/import_getmail.rs"]
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
