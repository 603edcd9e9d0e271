#![no_main]
#[path = "../harness/pop3_reply.rs"]
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
