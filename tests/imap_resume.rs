//! Keep-mode runs that find nothing new cost almost nothing over IMAP (issue 13): where a
//! complete run left a folder (its UIDVALIDITY and `UIDNEXT`) and a full listing that found
//! nothing new confirmed it, an unchanged folder gets no listing at all and a grown one only
//! `UID FETCH <old UIDNEXT>:*`. Checked on the command
//! log of the scripted server, and end to end against a real Dovecot. A changed UIDVALIDITY,
//! an incomplete run and delete mode all keep listing in full, and nothing is ever fetched
//! twice or left behind.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{self, Sandbox};
use common::scripted_imap::{Folder, Message, ScriptedImap, Stats, INBOX, PASSWORD};

const LIMIT: Duration = Duration::from_secs(30);

fn message(uid: u32) -> Message {
    Message::new(uid, raw(uid))
}

fn raw(n: u32) -> String {
    format!(
        "From: Bob <bob@example.org>\r\nSubject: message {n}\r\n\
         Message-ID: <{n}.resume@scripted.test>\r\n\r\nBody of message {n}.\r\n"
    )
}

fn inbox(n: u32) -> Folder {
    Folder::new(INBOX, 500, (1..=n).map(message).collect())
}

/// One `mailpull fetch` (keep mode unless `args` says otherwise) against the scripted server:
/// exit code and what the server saw.
fn fetch(sb: &Sandbox, server: &ScriptedImap, args: &[&str]) -> (i32, Stats) {
    let before = server.stats();
    let mut cmd = sb.cmd(Some(PASSWORD));
    cmd.arg("fetch")
        .arg(server.url())
        .arg("--insecure-no-tls")
        .arg("--maildir")
        .arg(sb.maildir())
        .args(["--timeout", "5"])
        .args(args);
    let out = run::run_with_limit(cmd, LIMIT);
    server.wait_idle(Duration::from_secs(10));
    let code = run::code(&out);
    assert!(
        code == 0,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, server.stats().since(&before))
}

/// The `UID FETCH` listings (`UID RFC822.SIZE FLAGS`) the server received.
fn listings(stats: &Stats) -> Vec<String> {
    stats
        .commands_with("UID FETCH")
        .into_iter()
        .filter(|c| c.line.contains("RFC822.SIZE"))
        .map(|c| c.line.clone())
        .collect()
}

fn bodies(stats: &Stats) -> usize {
    stats.fetched.values().sum()
}

fn delivered(sb: &Sandbox) -> usize {
    run::maildir_messages(&sb.maildir()).len()
}

#[test]
fn unchanged_uidnext_sends_no_listing() {
    let server = ScriptedImap::start(vec![inbox(3)]);
    let sb = Sandbox::new();
    let (_, first) = fetch(&sb, &server, &[]);
    assert_eq!(listings(&first).len(), 1, "{:?}", first.commands);
    assert_eq!(bodies(&first), 3);

    // The run that fetched wrote the point; a full listing that finds nothing new confirms it.
    let (_, confirm) = fetch(&sb, &server, &[]);
    assert_eq!(listings(&confirm).len(), 1, "{:?}", confirm.commands);
    assert_eq!(bodies(&confirm), 0);

    let (_, again) = fetch(&sb, &server, &[]);
    assert!(
        again.commands_with("UID FETCH").is_empty(),
        "nothing new: no listing, no download: {:?}",
        again.commands
    );
    assert!(
        again.commands_with("LIST").is_empty(),
        "INBOX always exists: no LIST either: {:?}",
        again.commands
    );
    assert_eq!(again.logins, 1);
    assert_eq!(delivered(&sb), 3);

    // `check` takes the same shortcut and still counts right.
    let before = server.stats();
    let mut cmd = sb.cmd(Some(PASSWORD));
    cmd.args(["check", &server.url(), "--insecure-no-tls"]);
    let out = run::run_with_limit(cmd, LIMIT);
    server.wait_idle(Duration::from_secs(10));
    assert_eq!(run::code(&out), 1, "check: nothing new is exit 1");
    assert!(server
        .stats()
        .since(&before)
        .commands_with("UID FETCH")
        .is_empty());
}

#[test]
fn grown_uidnext_lists_only_the_new_range() {
    let server = ScriptedImap::start(vec![inbox(3)]);
    let sb = Sandbox::new();
    fetch(&sb, &server, &[]);
    fetch(&sb, &server, &[]);
    let a = server.append(INBOX, raw(4));
    let b = server.append(INBOX, raw(5));
    assert_eq!((a, b), (4, 5));

    let (_, second) = fetch(&sb, &server, &[]);
    let l = listings(&second);
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(l[0].contains(" 4:*"), "only from the old UIDNEXT on: {l:?}");
    let fetched: BTreeSet<u32> = second.fetched.keys().map(|k| k.1).collect();
    assert_eq!(fetched, BTreeSet::from([4, 5]));
    assert_eq!(delivered(&sb), 5);

    // And the point moved on, still confirmed: the next run lists nothing.
    let (_, third) = fetch(&sb, &server, &[]);
    assert!(
        third.commands_with("UID FETCH").is_empty(),
        "{:?}",
        third.commands
    );
}

#[test]
fn changed_uidvalidity_lists_in_full_and_fetches_nothing_twice() {
    let server = ScriptedImap::start(vec![inbox(3)]);
    let sb = Sandbox::new();
    fetch(&sb, &server, &[]);
    server.renumber(INBOX, 501);
    server.append(INBOX, raw(4));

    let (_, second) = fetch(&sb, &server, &[]);
    let l = listings(&second);
    assert!(
        l.iter().any(|c| c.contains(" 1:*")),
        "a new UIDVALIDITY is listed in full: {l:?}"
    );
    assert_eq!(bodies(&second), 1, "only the really new message");
    assert_eq!(delivered(&sb), 4);
    let (_, third) = fetch(&sb, &server, &[]);
    assert_eq!(bodies(&third), 0);
    let (_, fourth) = fetch(&sb, &server, &[]);
    assert!(
        fourth.commands_with("UID FETCH").is_empty(),
        "{:?}",
        fourth.commands
    );
}

/// A run that leaves messages behind (`--max-messages`) records no resume point: the next
/// run lists in full and fetches the rest.
#[test]
fn an_incomplete_run_leaves_the_next_one_a_full_listing() {
    let server = ScriptedImap::start(vec![inbox(3)]);
    let sb = Sandbox::new();
    let (_, first) = fetch(&sb, &server, &["--max-messages", "1"]);
    assert_eq!(bodies(&first), 1);

    let (_, second) = fetch(&sb, &server, &[]);
    assert!(
        listings(&second).iter().any(|c| c.contains(" 1:*")),
        "{:?}",
        second.commands
    );
    assert_eq!(bodies(&second), 2);
    assert_eq!(delivered(&sb), 3);
}

/// Delete mode after keep-mode runs that left a resume point: a full listing, the new
/// message fetched once, every message expunged, nothing fetched twice.
#[test]
fn delete_mode_after_a_resume_point_leaves_nothing_and_fetches_nothing_twice() {
    let server = ScriptedImap::start(vec![inbox(3)]);
    let sb = Sandbox::new();
    fetch(&sb, &server, &[]);
    server.append(INBOX, raw(4));

    let (_, second) = fetch(&sb, &server, &["--no-keep"]);
    assert!(
        listings(&second).iter().any(|c| c.contains(" 1:*")),
        "{:?}",
        second.commands
    );
    assert_eq!(bodies(&second), 1);
    assert!(
        server.keys().is_empty(),
        "left on the server: {:?}",
        server.keys()
    );
    assert_eq!(delivered(&sb), 4);

    // Messages that arrive later: the resume point moved on, nothing is fetched twice.
    server.append(INBOX, raw(5));
    let (_, third) = fetch(&sb, &server, &["--no-keep"]);
    assert_eq!(bodies(&third), 1);
    assert!(server.keys().is_empty());
    assert_eq!(delivered(&sb), 5);
}

/// Against a real Dovecot: the no-op run sends no listing (mailpull's own command log at
/// -vv), and a new message is found and fetched once.
#[test]
fn dovecot_no_op_and_one_new_message() {
    let Some(d) = Dovecot::start() else { return };
    for i in 1..=20 {
        d.add_message("alice", raw(i).as_bytes());
    }
    let sb = Sandbox::new();
    let run = |extra: &[&str]| {
        let mut cmd = sb.cmd(Some("secret"));
        cmd.arg("-vv")
            .arg("fetch")
            .arg(d.imaps_url("alice"))
            .arg("--tls-ca-file")
            .arg(d.ca_file())
            .arg("--maildir")
            .arg(sb.maildir())
            .args(extra);
        let out = run::run_with_limit(cmd, LIMIT);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(run::code(&out), 0, "{err}");
        err
    };
    let first = run(&[]);
    assert!(first.contains("UID FETCH 1:*"), "{first}");
    assert_eq!(delivered(&sb), 20);
    let confirm = run(&[]);
    assert!(confirm.contains("UID FETCH 1:*"), "{confirm}");

    let again = run(&[]);
    assert!(!again.contains("UID FETCH"), "{again}");
    // On Dovecot a LIST makes the EXAMINE after it scan a big Maildir again: INBOX is not
    // listed.
    assert!(
        !again
            .lines()
            .any(|l| l.contains("C: ") && l.contains(" LIST ")),
        "{again}"
    );
    assert_eq!(delivered(&sb), 20);

    d.add_message("alice", raw(21).as_bytes());
    let third = run(&[]);
    assert!(third.contains("UID FETCH 21:*"), "{third}");
    assert!(!third.contains("UID FETCH 1:*"), "{third}");
    assert_eq!(delivered(&sb), 21);
    assert_eq!(d.imap_logins("alice"), 4, "one login per run");
}

/// A confirmed point is trusted for a day at most: then the folder is listed in full again
/// (a server's word is checked again), and the point confirmed anew.
#[test]
fn a_day_old_confirmation_gets_a_full_listing() {
    let server = ScriptedImap::start(vec![inbox(3)]);
    let sb = Sandbox::new();
    fetch(&sb, &server, &[]);
    fetch(&sb, &server, &[]);
    let (_, quiet) = fetch(&sb, &server, &[]);
    assert!(quiet.commands_with("UID FETCH").is_empty());

    let c = rusqlite::Connection::open(sb.ledger()).unwrap();
    let changed = c
        .execute(
            "UPDATE folders SET confirmed_at = confirmed_at - 2 * 86400",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(c);
    let (_, old) = fetch(&sb, &server, &[]);
    assert_eq!(listings(&old).len(), 1, "{:?}", old.commands);
    assert!(listings(&old)[0].contains(" 1:*"));
    let (_, after) = fetch(&sb, &server, &[]);
    assert!(
        after.commands_with("UID FETCH").is_empty(),
        "{:?}",
        after.commands
    );
}

/// A server that hands out a new UIDVALIDITY in every session until the folder was once opened
/// read-write: mailpull opens the folder read-write once when it finds a new UIDVALIDITY, so
/// that the messages are matched by Message-ID once, not on every run; nothing is fetched
/// twice and nothing on the server is changed.
#[test]
fn a_new_uidvalidity_every_session_costs_one_header_match_not_one_per_run() {
    let config = common::scripted_imap::Config {
        volatile_uidvalidity: true,
        ..Default::default()
    };
    let server = ScriptedImap::with_config(config, vec![inbox(20)]);
    let sb = Sandbox::new();
    let (_, first) = fetch(&sb, &server, &[]);
    assert_eq!(bodies(&first), 20);
    assert!(
        first.commands_with("SELECT").is_empty(),
        "keep mode opens read-only"
    );

    // The server's UIDVALIDITY changed: matched by Message-ID, opened read-write once.
    let (_, second) = fetch(&sb, &server, &[]);
    assert_eq!(bodies(&second), 0, "{:?}", second.commands);
    assert_eq!(second.headers.len(), 20, "{:?}", second.commands);
    assert_eq!(
        second.commands_with("SELECT").len(),
        1,
        "{:?}",
        second.commands
    );
    assert!(second.commands_with("UID STORE").is_empty());

    // From now on the UIDVALIDITY stays: a full listing confirms, then nothing at all.
    for run in 3..=5 {
        let (_, again) = fetch(&sb, &server, &[]);
        assert_eq!(bodies(&again), 0, "run {run}: {:?}", again.commands);
        assert!(
            again.headers.is_empty(),
            "run {run}: headers matched again: {:?}",
            again.commands
        );
        assert!(again.commands_with("SELECT").is_empty(), "run {run}");
        if run == 5 {
            assert!(
                again.commands_with("UID FETCH").is_empty(),
                "{:?}",
                again.commands
            );
        }
    }
    assert_eq!(delivered(&sb), 20);
    let folder = server.folder(INBOX);
    assert!(
        folder.messages.iter().all(|m| m.flags.is_empty()),
        "no flag was set"
    );
}
