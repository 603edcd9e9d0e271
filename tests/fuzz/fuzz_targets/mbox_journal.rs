#![no_main]
#[path = "../harness/mbox_journal.rs"]
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
