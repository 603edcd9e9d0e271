//! Fuzz harness: mpop's UIDLS file parser (`import::mpop::parse`) on any text.
//! Oracles: see `import_common.rs`.

#[path = "import_common.rs"]
mod common;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = mailpull::import::mpop::parse(std::path::Path::new("alice_at_host"), text);
    common::check(text, result);
}
