//! Replays every fuzz corpus (`tests/fuzz/corpus/TARGET/`) and every saved crash input
//! (`tests/fuzz/regressions/TARGET-*`) through the same harness the fuzz target runs, so that
//! `cargo test` (and CI) checks them all without a fuzzer. See `tests/fuzz/Cargo.toml` for how
//! to fuzz a target.

// The importers' harnesses each include their shared oracles (`import_common.rs`), so that
// each stays a standalone file for its fuzz target; here that file is loaded three times.
#![allow(clippy::duplicate_mod)]

use std::path::Path;

#[path = "fuzz/harness/config.rs"]
mod config;
#[path = "fuzz/harness/imap_pattern.rs"]
mod imap_pattern;
#[path = "fuzz/harness/imap_response.rs"]
mod imap_response;
#[path = "fuzz/harness/imap_utf7.rs"]
mod imap_utf7;
#[path = "fuzz/harness/import_fetchmail.rs"]
mod import_fetchmail;
#[path = "fuzz/harness/import_getmail.rs"]
mod import_getmail;
#[path = "fuzz/harness/import_mpop.rs"]
mod import_mpop;
#[path = "fuzz/harness/mbox_journal.rs"]
mod mbox_journal;
#[path = "fuzz/harness/pop3_dot.rs"]
mod pop3_dot;
#[path = "fuzz/harness/pop3_reply.rs"]
mod pop3_reply;
#[path = "fuzz/harness/url.rs"]
mod url;

/// Runs `harness` on every input of `target`: its corpus and its saved regressions.
fn replay(target: &str, harness: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut inputs = Vec::new();
    if let Ok(dir) = std::fs::read_dir(root.join("corpus").join(target)) {
        inputs.extend(dir.flatten().map(|e| e.path()));
    }
    if let Ok(dir) = std::fs::read_dir(root.join("regressions")) {
        let prefix = format!("{target}-");
        inputs.extend(dir.flatten().map(|e| e.path()).filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        }));
    }
    assert!(!inputs.is_empty(), "no corpus for fuzz target {target}");
    inputs.sort();
    for path in &inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let result = std::panic::catch_unwind(|| harness(&data));
        assert!(
            result.is_ok(),
            "fuzz target {target} failed on {}",
            path.display()
        );
    }
}

#[test]
fn config() {
    replay("config", config::run);
}

#[test]
fn imap_pattern() {
    replay("imap_pattern", imap_pattern::run);
}

#[test]
fn imap_response() {
    replay("imap_response", imap_response::run);
}

#[test]
fn imap_utf7() {
    replay("imap_utf7", imap_utf7::run);
}

#[test]
fn import_fetchmail() {
    replay("import_fetchmail", import_fetchmail::run);
}

#[test]
fn import_getmail() {
    replay("import_getmail", import_getmail::run);
}

#[test]
fn import_mpop() {
    replay("import_mpop", import_mpop::run);
}

#[test]
fn mbox_journal() {
    replay("mbox_journal", mbox_journal::run);
}

#[test]
fn pop3_dot() {
    replay("pop3_dot", pop3_dot::run);
}

#[test]
fn pop3_reply() {
    replay("pop3_reply", pop3_reply::run);
}

#[test]
fn url() {
    replay("url", url::run);
}
