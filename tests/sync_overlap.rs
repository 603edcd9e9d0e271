//! A Maildir batch is made durable on a background thread while the next batch downloads
//! (issue 13); its messages are recorded, and their deletions released, only once that sync
//! finished. Shown with the debug-build hook `MAILPULL_TEST_SYNC_DELAY_MS`, which holds every
//! background sync back: the scripted servers check at every deletion (POP3 `DELE`, IMAP
//! `STORE +FLAGS (\Deleted)`) that the message is already in the Maildir's `new/` and that the
//! ledger records it as delivered. A deletion released when its batch was merely written (still
//! in `tmp/`) or not yet recorded is a violation. (POP3 sends DELE during the transfer, so its
//! test fails when a batch's deletions are released at the start of its sync; IMAP flags the
//! released messages after the last body, so its test guards the end of the transfer.)

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::run::{self, Sandbox};
use common::scripted::{self, Message, Scripted};
use common::scripted_imap::{self, Folder, ScriptedImap};

/// More than two batches (`BATCH_MESSAGES` is 256).
const MESSAGES: usize = 600;
/// How long every background sync is held back.
const DELAY_MS: &str = "150";

fn raw(i: usize) -> String {
    format!(
        "From: Bob <bob@example.org>\r\nSubject: message {i}\r\nMessage-ID: \
         <{i}@overlap.test>\r\n\r\nBody of message {i}.\r\n"
    )
}

/// Whether `want` (as delivered) is a file in `new/` (not `tmp/`, not missing) and the ledger
/// holds a `delivered` row for `uid`.
fn durable_and_recorded(
    maildir: &Path,
    ledger: &Path,
    want: &[u8],
    uid: &str,
) -> Result<(), String> {
    let in_new = std::fs::read_dir(maildir.join("new"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| std::fs::read(e.path()).ok().as_deref() == Some(want));
    if !in_new {
        return Err(format!(
            "deletion of {uid} asked for before its file was in new/"
        ));
    }
    let conn =
        rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("ledger: {e}"))?;
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let state: Option<String> = conn
        .query_row("SELECT state FROM messages WHERE uid = ?1", [uid], |r| {
            r.get(0)
        })
        .ok();
    if state.as_deref() != Some("delivered") {
        return Err(format!(
            "deletion of {uid} asked for while the ledger says {state:?}"
        ));
    }
    Ok(())
}

/// `mailpull fetch` in delete mode (`--no-keep`: IMAP keeps by default), every sync delayed.
fn run(sandbox: &Sandbox, url: &str) -> std::process::Output {
    let mut cmd = sandbox.cmd(Some(scripted::PASSWORD));
    cmd.env("MAILPULL_TEST_SYNC_DELAY_MS", DELAY_MS)
        .arg("fetch")
        .arg(url)
        .arg("--maildir")
        .arg(sandbox.maildir())
        .args(["--timeout", "10", "--insecure-no-tls", "--no-keep"]);
    run::run_with_limit(cmd, Duration::from_secs(120))
}

#[test]
fn pop3_dele_waits_for_its_batch_sync() {
    let messages: Vec<Message> = (0..MESSAGES)
        .map(|i| Message::new(format!("u{i}"), raw(i)))
        .collect();
    let sandbox = Sandbox::new();
    let server = Scripted::start(messages.clone());
    let expected: BTreeMap<String, Vec<u8>> = messages
        .iter()
        .map(|m| (m.uidl.clone(), run::expected_delivery(&m.raw)))
        .collect();
    let (maildir, ledger): (PathBuf, PathBuf) = (sandbox.maildir(), sandbox.ledger());
    server.set_delete_check(Arc::new(move |uidl: &String| {
        durable_and_recorded(&maildir, &ledger, &expected[uidl], uidl)
    }));
    let out = run(&sandbox, &server.url());
    server.wait_idle(Duration::from_secs(10));
    let stats = server.stats();
    assert_eq!(
        run::code(&out),
        0,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stats.violations.is_empty(),
        "{} violation(s), the first: {:?}",
        stats.violations.len(),
        &stats.violations[..stats.violations.len().min(3)]
    );
    assert_eq!(stats.deleted.len(), MESSAGES, "every message deleted");
    assert!(
        server.uidls().is_empty(),
        "the QUIT committed the deletions"
    );
    assert_eq!(run::maildir_messages(&sandbox.maildir()).len(), MESSAGES);
    assert_eq!(run::tmp_count(&sandbox.maildir()), 0);
}

#[test]
fn imap_store_deleted_waits_for_its_batch_sync() {
    let msgs: Vec<scripted_imap::Message> = (0..MESSAGES)
        .map(|i| scripted_imap::Message::new(i as u32 + 1, raw(i)))
        .collect();
    let expected: BTreeMap<u32, Vec<u8>> = msgs
        .iter()
        .map(|m| (m.uid, run::expected_delivery(&m.raw)))
        .collect();
    let sandbox = Sandbox::new();
    let server = ScriptedImap::start(vec![Folder::new("INBOX", 7, msgs)]);
    let (maildir, ledger): (PathBuf, PathBuf) = (sandbox.maildir(), sandbox.ledger());
    server.set_delete_check(Arc::new(move |(_, uid): &scripted_imap::Key| {
        durable_and_recorded(&maildir, &ledger, &expected[uid], &uid.to_string())
    }));
    let out = run(&sandbox, &server.url());
    server.wait_idle(Duration::from_secs(10));
    let stats = server.stats();
    assert_eq!(
        run::code(&out),
        0,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stats.violations.is_empty(),
        "{} violation(s), the first: {:?}",
        stats.violations.len(),
        &stats.violations[..stats.violations.len().min(3)]
    );
    assert_eq!(
        stats.deleted.len(),
        MESSAGES,
        "every message flagged \\Deleted"
    );
    assert!(server.uids("INBOX").is_empty(), "every message expunged");
    assert_eq!(run::maildir_messages(&sandbox.maildir()).len(), MESSAGES);
    assert_eq!(run::tmp_count(&sandbox.maildir()), 0);
}
