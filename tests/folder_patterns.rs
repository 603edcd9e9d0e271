//! IMAP folder names and patterns are matched in the server's hierarchy separator (issue 14,
//! friction 4): on Dovecot, whose separator is `.`, `--folder 'Lists/*'` fetches `Lists.rust`
//! (a `/` the server does not use stands for its separator), and a pattern or a name that
//! matches nothing warns on stderr with the separator and the folders that exist.

mod common;

use std::process::Output;
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{code, maildir_messages, run_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(60);

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{subject}\r\n"
    )
    .into_bytes()
}

fn fetch(sb: &Sandbox, d: &Dovecot, folders: &[&str]) -> Output {
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(d.imaps_url("alice"))
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .arg("--maildir")
        .arg(sb.maildir());
    for f in folders {
        c.args(["--folder", f]);
    }
    run_with_limit(c, LIMIT)
}

fn subjects(sb: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = maildir_messages(&sb.maildir())
        .into_values()
        .map(|m| {
            let text = String::from_utf8_lossy(&m).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

fn setup() -> Option<Dovecot> {
    let d = Dovecot::start()?;
    d.create_mailbox("alice", "Lists.rust");
    d.create_mailbox("alice", "Lists.dovecot");
    d.add_message_in("alice", "Lists.rust", &message("rust"));
    d.add_message_in("alice", "Lists.dovecot", &message("dovecot"));
    d.add_message("alice", &message("inbox"));
    Some(d)
}

#[test]
fn a_slash_pattern_matches_in_the_servers_separator() {
    let Some(d) = setup() else { return };
    let sb = Sandbox::new();
    let out = fetch(&sb, &d, &["Lists/*"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(subjects(&sb), ["dovecot", "rust"], "{err}");
    assert!(!err.contains("matches no folder"), "{err}");
}

#[test]
fn a_slash_name_matches_in_the_servers_separator() {
    let Some(d) = setup() else { return };
    let sb = Sandbox::new();
    let out = fetch(&sb, &d, &["INBOX", "Lists/rust"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(subjects(&sb), ["inbox", "rust"], "{err}");
}

#[test]
fn a_pattern_that_matches_nothing_warns_with_the_folders_there() {
    let Some(d) = setup() else { return };
    let sb = Sandbox::new();
    let out = fetch(&sb, &d, &["INBOX", "Archive/*", "Nowhere"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(subjects(&sb), ["inbox"], "{err}");
    for needle in [
        "\"Archive/*\" matches no folder",
        "\"Nowhere\" matches no folder",
        "hierarchy separator is \".\"",
        "INBOX",
        "Lists.rust",
        "Lists.dovecot",
    ] {
        assert!(err.contains(needle), "no {needle:?} in:\n{err}");
    }
    assert!(out.stdout.is_empty());
}

/// On a server whose separator is `/`, names are used as written, and the warning names that
/// separator (learnt from LIST, not assumed).
#[test]
fn on_a_slash_server_the_separator_is_learnt_from_list() {
    let Some(d) = Dovecot::start_with("namespace inbox {\n  inbox = yes\n  separator = /\n}\n")
    else {
        return;
    };
    d.create_mailbox("alice", "Lists/rust");
    d.add_message_in("alice", "Lists/rust", &message("rust"));
    let sb = Sandbox::new();
    let out = fetch(&sb, &d, &["Lists/*", "Lists.*"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(subjects(&sb), ["rust"], "{err}");
    assert!(err.contains("\"Lists.*\" matches no folder"), "{err}");
    assert!(err.contains("hierarchy separator is \"/\""), "{err}");
    assert!(err.contains("\"Lists/rust\""), "{err}");
}
