//! Fuzz harness: fetchmail's idfile parser (`import::fetchmail::parse`) on any text.
//! Oracles: see `import_common.rs`; and a list's owner is `USER@HOST` with both parts.

#[path = "import_common.rs"]
mod common;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = mailpull::import::fetchmail::parse(std::path::Path::new(".fetchids"), text);
    common::check(text, result);
}
