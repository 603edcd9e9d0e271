//! Keep-mode POP3 runs that find nothing new skip the comparison with the ledger (issue 13):
//! a POP3 listing is always complete, and one whose digest is that of the listing the last
//! complete run delivered in full names only delivered messages. Checked on the scripted
//! server (with mailpull's own `-vv` log saying which way it went), and end to end against a
//! real Dovecot. New mail, mail removed by another client, a day-old confirmation and delete
//! mode all compare in full, and nothing is ever fetched twice or left behind.

mod common;

use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{self, Sandbox};
use common::scripted::{Message, Scripted, Stats, PASSWORD};

const LIMIT: Duration = Duration::from_secs(30);

/// What mailpull logs at -vv when the listing is the one delivered in full.
const SHORTCUT: &str = "the last complete run delivered in full: nothing new";

fn raw(n: u32) -> String {
    format!(
        "From: Bob <bob@example.org>\r\nSubject: message {n}\r\n\
         Message-ID: <{n}.pop3resume@scripted.test>\r\n\r\nBody of message {n}.\r\n"
    )
}

fn message(n: u32) -> Message {
    Message::new(format!("uidl-{n}"), raw(n))
}

/// One `mailpull -vv <command>` against the scripted server (keep mode unless `args` says
/// otherwise): its exit code, stderr, and what the server saw.
fn run_cmd(sb: &Sandbox, server: &Scripted, command: &str, args: &[&str]) -> (i32, String, Stats) {
    let before = server.stats();
    let mut cmd = sb.cmd(Some(PASSWORD));
    cmd.args(["-vv", command])
        .arg(server.url())
        .args(["--insecure-no-tls", "--timeout", "5"]);
    if command == "fetch" {
        cmd.arg("--maildir").arg(sb.maildir());
        if !args.contains(&"--no-keep") {
            cmd.arg("--keep");
        }
    }
    cmd.args(args);
    let out = run::run_with_limit(cmd, LIMIT);
    server.wait_idle(Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (run::code(&out), err, server.stats().since(&before))
}

fn fetch(sb: &Sandbox, server: &Scripted, args: &[&str]) -> (String, Stats) {
    let (code, err, stats) = run_cmd(sb, server, "fetch", args);
    assert_eq!(code, 0, "{err}");
    (err, stats)
}

fn retrieved(stats: &Stats) -> Vec<String> {
    stats.fetched.keys().cloned().collect()
}

fn delivered(sb: &Sandbox) -> usize {
    run::maildir_messages(&sb.maildir()).len()
}

#[test]
fn an_unchanged_maildrop_is_not_compared_again() {
    let server = Scripted::start((1..=5).map(message).collect());
    let sb = Sandbox::new();
    let (first, s) = fetch(&sb, &server, &[]);
    assert_eq!(s.fetched.len(), 5);
    assert!(!first.contains(SHORTCUT), "{first}");

    // The run that fetched wrote the point: the digest of a listing delivered in full needs
    // no confirmation.
    let (again, s) = fetch(&sb, &server, &[]);
    assert!(again.contains(SHORTCUT), "{again}");
    assert!(s.fetched.is_empty(), "{:?}", s.commands);
    // The sizes of delivered messages are not needed: no LIST.
    assert_eq!(s.commands_with("UIDL").len(), 1, "{:?}", s.commands);
    assert!(s.commands_with("LIST").is_empty(), "{:?}", s.commands);
    assert_eq!(s.logins, 1);
    assert_eq!(delivered(&sb), 5);

    // `check` takes the same shortcut and still counts right.
    let (code, err, _) = run_cmd(&sb, &server, "check", &[]);
    assert_eq!(code, 1, "check: nothing new is exit 1\n{err}");
    assert!(err.contains(SHORTCUT), "{err}");
}

/// New mail, and mail another client removed while one more arrived (the same number of
/// messages), change the listing: compared in full, only the new message fetched.
#[test]
fn new_and_removed_mail_change_the_listing() {
    let server = Scripted::start((1..=5).map(message).collect());
    let sb = Sandbox::new();
    fetch(&sb, &server, &[]);

    server.state().store.push(message(6));
    let (log, s) = fetch(&sb, &server, &[]);
    assert!(!log.contains(SHORTCUT), "{log}");
    assert_eq!(retrieved(&s), ["uidl-6"]);
    // Another listing: LIST follows the UIDL listing, and the sizes are checked as always.
    assert_eq!(s.commands_with("LIST").len(), 1, "{:?}", s.commands);
    assert!(s.violations.is_empty(), "{:?}", s.violations);

    // Another client removes message 2, and message 7 arrives: still six messages.
    {
        let mut st = server.state();
        st.store.retain(|m| m.uidl != "uidl-2");
        st.store.push(message(7));
    }
    let (log, s) = fetch(&sb, &server, &[]);
    assert!(!log.contains(SHORTCUT), "{log}");
    assert_eq!(retrieved(&s), ["uidl-7"]);

    // Messages reordered by the server: another listing, compared in full, nothing fetched.
    server.state().store.swap(0, 1);
    let (log, s) = fetch(&sb, &server, &[]);
    assert!(!log.contains(SHORTCUT), "{log}");
    assert!(s.fetched.is_empty());

    let (log, s) = fetch(&sb, &server, &[]);
    assert!(log.contains(SHORTCUT), "{log}");
    assert!(s.fetched.is_empty());
    assert_eq!(delivered(&sb), 7);
}

/// A confirmed point is trusted for a day at most: then the listing is compared in full again.
#[test]
fn a_day_old_confirmation_compares_in_full() {
    let server = Scripted::start((1..=3).map(message).collect());
    let sb = Sandbox::new();
    fetch(&sb, &server, &[]);
    let (log, _) = fetch(&sb, &server, &[]);
    assert!(log.contains(SHORTCUT), "{log}");

    let c = rusqlite::Connection::open(sb.ledger()).unwrap();
    let changed = c
        .execute(
            "UPDATE folders SET confirmed_at = confirmed_at - 2 * 86400",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(c);
    let (log, _) = fetch(&sb, &server, &[]);
    assert!(!log.contains(SHORTCUT), "{log}");
    let (log, _) = fetch(&sb, &server, &[]);
    assert!(log.contains(SHORTCUT), "{log}");
}

/// A run that left a message behind (too large) writes no point: every run compares in full,
/// and the message is fetched once the limit allows.
#[test]
fn a_message_left_behind_keeps_the_comparison() {
    let mut big = raw(3);
    big.push_str(&"x".repeat(20_000));
    big.push_str("\r\n");
    let msgs = vec![
        message(1),
        message(2),
        Message::new("uidl-3", big.into_bytes()),
    ];
    let server = Scripted::start(msgs);
    let sb = Sandbox::new();
    for _ in 0..3 {
        let (log, _) = fetch(&sb, &server, &["--skip-larger-than", "10k"]);
        assert!(!log.contains(SHORTCUT), "{log}");
    }
    assert_eq!(delivered(&sb), 2);
    let (_, s) = fetch(&sb, &server, &[]);
    assert_eq!(retrieved(&s), ["uidl-3"]);
}

/// Delete mode never takes the shortcut: after keep-mode runs that did, `--no-keep` deletes
/// every delivered message, fetching none again.
#[test]
fn delete_mode_compares_and_deletes_everything() {
    let server = Scripted::start((1..=4).map(message).collect());
    let sb = Sandbox::new();
    fetch(&sb, &server, &[]);
    let (log, _) = fetch(&sb, &server, &[]);
    assert!(log.contains(SHORTCUT), "{log}");

    let (log, s) = fetch(&sb, &server, &["--no-keep"]);
    assert!(!log.contains(SHORTCUT), "{log}");
    assert!(s.fetched.is_empty(), "{:?}", s.commands);
    assert_eq!(s.deleted.len(), 4);
    assert!(server.uidls().is_empty());
    assert_eq!(delivered(&sb), 4);
}

/// Against a real Dovecot: the second run takes the shortcut; a new message is found and fetched
/// once.
#[test]
fn dovecot_no_op_and_one_new_message() {
    let Some(d) = Dovecot::start() else { return };
    for i in 1..=20 {
        d.add_message("alice", raw(i).as_bytes());
    }
    let sb = Sandbox::new();
    let run = || {
        let mut cmd = sb.cmd(Some("secret"));
        cmd.arg("-vv")
            .arg("fetch")
            .arg(d.pop3s_url("alice"))
            .arg("--tls-ca-file")
            .arg(d.ca_file())
            .arg("--maildir")
            .arg(sb.maildir())
            .arg("--keep");
        let out = run::run_with_limit(cmd, LIMIT);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(run::code(&out), 0, "{err}");
        err
    };
    assert!(!run().contains(SHORTCUT));
    assert_eq!(delivered(&sb), 20);
    let again = run();
    assert!(again.contains(SHORTCUT), "{again}");
    assert_eq!(delivered(&sb), 20);

    d.add_message("alice", raw(21).as_bytes());
    let third = run();
    assert!(!third.contains(SHORTCUT), "{third}");
    assert_eq!(delivered(&sb), 21);
    assert!(run().contains(SHORTCUT));
    assert_eq!(delivered(&sb), 21);
}
