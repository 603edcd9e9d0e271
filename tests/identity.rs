//! A mailbox keeps its identity: protocol family, host (as written, case-insensitively) and
//! user (plus folder and UIDVALIDITY for IMAP) — never the port, the TLS mode or the
//! authentication method. Against the private Dovecot: switching pop3s:// ↔ pop3:// (STLS) or
//! imap:// (STARTTLS) ↔ imaps:// downloads nothing again; an old (schema 2) ledger, built here
//! with that schema's SQL, is upgraded in place and its rows merged; `ledger rename` moves a
//! mailbox to a server's new name; both ways of reaching a mailbox share one lock.
//!
//! Each Dovecot test starts its own server (see `common::dovecot`; skipped without it unless
//! `MAILPULL_REQUIRE_DOVECOT=1`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::dovecot::{assert_same_messages, Dovecot};
use common::run::{code, expected_delivery, maildir_messages, run_with_limit, Sandbox};
use rusqlite::Connection;

const LIMIT: Duration = Duration::from_secs(120);

/// The schema of a version-2 ledger, exactly as mailpull 0.x before the identity change
/// created it (migrations 0 -> 1 -> 2).
const SCHEMA_V2: &str = "
    CREATE TABLE accounts (
        id       INTEGER PRIMARY KEY,
        protocol TEXT NOT NULL,
        host     TEXT NOT NULL,
        port     INTEGER NOT NULL,
        user     TEXT NOT NULL,
        UNIQUE (protocol, host, port, user)
    );
    CREATE TABLE messages (
        account_id   INTEGER NOT NULL REFERENCES accounts(id),
        mailbox      TEXT NOT NULL,
        uidvalidity  INTEGER NOT NULL,
        uid          TEXT NOT NULL,
        size         INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('fetching', 'delivered')),
        location     TEXT NOT NULL,
        delivered_at INTEGER NOT NULL DEFAULT 0,
        deleted_at   INTEGER,
        message_id   TEXT,
        PRIMARY KEY (account_id, mailbox, uidvalidity, uid)
    );
    CREATE INDEX messages_message_id ON messages (message_id);
    CREATE INDEX messages_fetching ON messages (account_id) WHERE state = 'fetching';
    CREATE TABLE receipts (
        id           INTEGER PRIMARY KEY,
        dedupe_key   TEXT NOT NULL UNIQUE,
        account_id   INTEGER NOT NULL REFERENCES accounts(id),
        mailbox      TEXT NOT NULL,
        uidvalidity  INTEGER NOT NULL,
        uid          TEXT NOT NULL,
        message_id   TEXT,
        requester    TEXT NOT NULL,
        original_recipient TEXT,
        from_header  TEXT NOT NULL,
        subject      TEXT NOT NULL,
        date         TEXT NOT NULL,
        warnings     TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN
                       ('pending', 'approved', 'sending', 'sent', 'declined')),
        created_at   INTEGER NOT NULL,
        answered_at  INTEGER,
        sent_at      INTEGER,
        flag_pending INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT
    );
    CREATE INDEX receipts_flag_pending ON receipts (account_id, mailbox) WHERE flag_pending = 1;
    CREATE TABLE receipt_policies (
        sender TEXT PRIMARY KEY,
        policy TEXT NOT NULL CHECK (policy IN ('always', 'never')),
        set_at INTEGER NOT NULL
    );
    PRAGMA application_id = 1833989484;
    PRAGMA user_version = 2;";

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender@example.org\r\nTo: alice@example.org\r\nSubject: identity {n}\r\n\
         Message-ID: <identity-{n}@example.org>\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

/// `mailpull ARGS...` with the password and the server's CA.
fn mailpull(sb: &Sandbox, d: Option<&Dovecot>, args: &[&str]) -> Output {
    let mut c: Command = sb.cmd(Some("secret"));
    c.args(args);
    if let Some(d) = d {
        if matches!(args.first(), Some(&"fetch") | Some(&"check")) {
            c.arg("--tls-ca-file").arg(d.ca_file());
            if args[0] == "fetch" {
                c.arg("--maildir").arg(sb.maildir());
            }
        }
    }
    run_with_limit(c, LIMIT)
}

#[track_caller]
fn assert_exit(out: &Output, want: i32, d: Option<&Dovecot>) {
    let got = code(out);
    assert_eq!(
        got,
        want,
        "exit {got}, wanted {want}\n--- stdout\n{}\n--- stderr\n{}\n--- dovecot\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.map(|d| {
            let logs = d.logs();
            logs[logs.len().saturating_sub(3000)..].to_string()
        })
        .unwrap_or_default()
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `totals.new` of a `fetch --json` report.
#[track_caller]
fn new_in(out: &Output) -> u64 {
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    });
    j["totals"]["new"].as_u64().unwrap()
}

fn delivered(sb: &Sandbox) -> Vec<Vec<u8>> {
    maildir_messages(&sb.maildir()).into_values().collect()
}

/// Everything a ledger holds (version, schema, every row), to compare before and after.
fn dump(path: &Path) -> Vec<String> {
    let c = Connection::open(path).unwrap();
    let mut out = vec![format!(
        "user_version {}",
        c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .unwrap()
    )];
    let objects: Vec<(String, String, Option<String>)> = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (kind, name, sql) in objects {
        out.push(format!("{kind} {name} {sql:?}"));
        if kind == "table" {
            let mut st = c
                .prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"))
                .unwrap();
            let n = st.column_count();
            let rows: Vec<String> = st
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            out.extend(rows.into_iter().map(|r| format!("  {name}: {r}")));
        }
    }
    out
}

/// The UIDLs Dovecot gives alice's messages, in message-number order (plain POP3 on loopback).
fn uidls(d: &Dovecot) -> Vec<String> {
    let s = TcpStream::connect(("127.0.0.1", d.pop3_port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let reply = |r: &mut BufReader<TcpStream>, line: &mut String| {
        line.clear();
        r.read_line(line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    };
    reply(&mut r, &mut line);
    for cmd in ["USER alice", "PASS secret"] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        reply(&mut r, &mut line);
    }
    w.write_all(b"UIDL\r\n").unwrap();
    reply(&mut r, &mut line);
    let mut out = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l == "." {
            break;
        }
        out.push(l.split(' ').nth(1).unwrap().to_string());
    }
    w.write_all(b"QUIT\r\n").unwrap();
    out
}

#[test]
fn pop3s_then_pop3_with_stls_downloads_nothing_again() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let originals: Vec<Vec<u8>> = (1..=5).map(message).collect();
    for m in &originals {
        d.add_message("alice", m);
    }
    let out = mailpull(
        &sb,
        Some(&d),
        &["fetch", &d.pop3s_url("alice"), "--keep", "--json"],
    );
    assert_exit(&out, 0, Some(&d));
    assert_eq!(new_in(&out), 5);
    // The provider asks for port 110 with STLS instead of 995: the same mailbox.
    let out = mailpull(
        &sb,
        Some(&d),
        &["fetch", &d.pop3_url("alice"), "--keep", "--json"],
    );
    assert_exit(&out, 0, Some(&d));
    assert_eq!(new_in(&out), 0, "{}", stderr(&out));
    let out = mailpull(&sb, Some(&d), &["check", &d.pop3_url("alice")]);
    assert_exit(&out, 1, Some(&d));
    assert_same_messages(
        "the Maildir",
        delivered(&sb),
        originals.iter().map(|m| expected_delivery(m)).collect(),
    );
    assert_eq!(d.server_count("alice"), 5, "kept on the server");
    // One more message: fetched once, whichever way.
    d.add_message("alice", &message(6));
    let out = mailpull(
        &sb,
        Some(&d),
        &["fetch", &d.pop3_url("alice"), "--keep", "--json"],
    );
    assert_eq!(new_in(&out), 1);
    let out = mailpull(&sb, Some(&d), &["fetch", &d.pop3s_url("alice"), "--json"]);
    assert_exit(&out, 0, Some(&d));
    assert_eq!(new_in(&out), 0, "delete mode deletes without a download");
    assert_eq!(d.server_count("alice"), 0);
    assert_eq!(delivered(&sb).len(), 6);
}

#[test]
fn imap_starttls_then_imaps_no_keep_delivers_each_message_once() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let originals: Vec<Vec<u8>> = (1..=4).map(message).collect();
    for m in &originals {
        d.add_message("alice", m);
    }
    let out = mailpull(&sb, Some(&d), &["fetch", &d.imap_url("alice"), "--json"]);
    assert_exit(&out, 0, Some(&d));
    assert_eq!(new_in(&out), 4);
    let out = mailpull(
        &sb,
        Some(&d),
        &["fetch", &d.imaps_url("alice"), "--no-keep", "--json"],
    );
    assert_exit(&out, 0, Some(&d));
    assert_eq!(new_in(&out), 0, "{}", stderr(&out));
    assert_eq!(
        d.server_count("alice"),
        0,
        "expunged after the earlier delivery"
    );
    // IMAP delivers the literal as is (no final newline is added), with LF line ends.
    let lf = |m: &Vec<u8>| {
        String::from_utf8(m.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes()
    };
    assert_same_messages(
        "the Maildir",
        delivered(&sb),
        originals.iter().map(lf).collect(),
    );
}

#[test]
fn pop3s_and_pop3_runs_of_one_mailbox_share_a_lock() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    d.add_message("alice", &message(1));
    let out = mailpull(&sb, Some(&d), &["fetch", &d.pop3s_url("alice"), "--keep"]);
    assert_exit(&out, 0, Some(&d));
    let locks: Vec<_> = std::fs::read_dir(sb.path().join("locks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    // Another process holds the mailbox (as a running fetch over pop3s would).
    let held = std::fs::File::options()
        .write(true)
        .open(&locks[0])
        .unwrap();
    held.try_lock().unwrap();
    let out = mailpull(
        &sb,
        Some(&d),
        &["fetch", &d.pop3_url("alice"), "--keep", "--lock-wait", "1"],
    );
    assert_exit(&out, 75, Some(&d));
    assert!(
        stderr(&out).contains("another mailpull"),
        "{}",
        stderr(&out)
    );
    drop(held);
    let out = mailpull(&sb, Some(&d), &["fetch", &d.pop3_url("alice"), "--keep"]);
    assert_exit(&out, 0, Some(&d));
    assert_eq!(
        std::fs::read_dir(sb.path().join("locks")).unwrap().count(),
        1
    );
}

/// A schema-2 ledger in which alice's mailbox was fetched over both ports (two accounts) and
/// over IMAP: upgraded on first use, merged, nothing downloaded twice.
#[test]
fn an_old_ledger_is_upgraded_and_its_rows_merged() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let originals: Vec<Vec<u8>> = (1..=5).map(message).collect();
    for m in &originals {
        d.add_message("alice", m);
    }
    let u = uidls(&d);
    assert_eq!(u.len(), 5);
    let (s, p) = (d.pop3s_port(), d.pop3_port());
    {
        let c = Connection::open(sb.ledger()).unwrap();
        c.execute_batch(SCHEMA_V2).unwrap();
        c.execute_batch(&format!(
            "INSERT INTO accounts VALUES (1, 'pop3', '127.0.0.1', {s}, 'alice');
             INSERT INTO accounts VALUES (2, 'pop3', '127.0.0.1', {p}, 'alice');
             INSERT INTO accounts VALUES (3, 'imap', '127.0.0.1', {}, 'alice');",
            d.imaps_port()
        ))
        .unwrap();
        let row = |account: i64, uid: &str, state: &str, location: &str, at: i64| {
            c.execute(
                "INSERT INTO messages VALUES (?1, '', 0, ?2, 100, ?3, ?4, ?5, NULL, NULL)",
                rusqlite::params![account, uid, state, location, at],
            )
            .unwrap();
        };
        row(1, &u[0], "delivered", "old-a", 10); // only over pop3s
        row(2, &u[1], "delivered", "old-b", 10); // only over pop3
        row(1, &u[2], "delivered", "old-c1", 10); // over both
        row(2, &u[2], "delivered", "old-c2", 20);
        row(1, &u[3], "delivered", "old-d", 10); // delivered over one, interrupted over the other
        row(2, &u[3], "fetching", "1700000000.M1P1.gone", 0);
        // Interrupted over pop3s before the message was written: fetched again, once.
        row(1, &u[4], "fetching", "1700000000.M2P1.gone", 0);
        c.execute(
            "INSERT INTO messages VALUES (3, 'INBOX', 7, '1', 100, 'delivered', 'imap', 5, NULL, NULL)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO receipts (dedupe_key, account_id, mailbox, uidvalidity, uid, requester,
                 from_header, subject, date, warnings, state, created_at)
             VALUES ('<r@x>', 2, '', 0, ?1, 'r@example.org', 'f', 's', 'd', '', 'pending', 1)",
            [&u[1]],
        )
        .unwrap();
    }

    let out = mailpull(
        &sb,
        Some(&d),
        &["fetch", &d.pop3_url("alice"), "--keep", "--json"],
    );
    assert_exit(&out, 0, Some(&d));
    assert_eq!(
        new_in(&out),
        1,
        "only the interrupted one: {}",
        stderr(&out)
    );
    assert_eq!(
        delivered(&sb),
        vec![expected_delivery(&originals[4])],
        "nothing delivered twice"
    );

    let c = Connection::open(sb.ledger()).unwrap();
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(
        version,
        mailpull::ledger::SCHEMA_VERSION,
        "upgraded to the current schema"
    );
    let accounts: Vec<(i64, String, String, String)> = c
        .prepare("SELECT id, protocol, host, user FROM accounts ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        accounts,
        [
            (1, "pop3".into(), "127.0.0.1".into(), "alice".into()),
            (3, "imap".into(), "127.0.0.1".into(), "alice".into())
        ]
    );
    let rows: Vec<(String, String, String)> = c
        .prepare("SELECT uid, state, location FROM messages WHERE account_id = 1 ORDER BY uid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 5, "one row per message: {rows:?}");
    let mut uids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    uids.dedup();
    assert_eq!(uids.len(), 5);
    assert!(rows.iter().all(|r| r.1 == "delivered"), "{rows:?}");
    let location = |uid: &str| rows.iter().find(|r| r.0 == uid).unwrap().2.clone();
    assert_eq!(location(&u[2]), "old-c1", "the earlier delivery is kept");
    assert_eq!(location(&u[3]), "old-d", "delivered beats fetching");
    let imap: i64 = c
        .query_row(
            "SELECT count(*) FROM messages WHERE account_id = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(imap, 1);
    let owner: i64 = c
        .query_row("SELECT account_id FROM receipts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(owner, 1, "the receipt request moved with its account");
    drop(c);

    // And over pop3s, nothing either.
    let out = mailpull(
        &sb,
        Some(&d),
        &["fetch", &d.pop3s_url("alice"), "--keep", "--json"],
    );
    assert_exit(&out, 0, Some(&d));
    assert_eq!(new_in(&out), 0);
}

/// A v2 ledger in which the same mailbox was recorded under two ports.
fn old_ledger(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(SCHEMA_V2).unwrap();
    c.execute_batch(
        "INSERT INTO accounts VALUES (1, 'pop3', 'mail.example.org', 995, 'alice');
         INSERT INTO accounts VALUES (2, 'pop3', 'mail.example.org', 110, 'alice');
         INSERT INTO messages VALUES (1, '', 0, 'u1', 10, 'delivered', 'a', 1, NULL, NULL);
         INSERT INTO messages VALUES (2, '', 0, 'u1', 10, 'delivered', 'b', 2, NULL, NULL);
         INSERT INTO messages VALUES (2, '', 0, 'u2', 10, 'delivered', 'c', 3, NULL, NULL);",
    )
    .unwrap();
}

#[test]
fn a_failing_upgrade_leaves_the_ledger_unchanged() {
    let sb = Sandbox::new();
    old_ledger(&sb.ledger());
    // An upgrade that fails half-way (while merging the two accounts).
    Connection::open(sb.ledger())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE DELETE ON messages
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    let before = dump(&sb.ledger());
    let out = mailpull(&sb, None, &["ledger", "list"]);
    assert_exit(&out, 74, None);
    let err = stderr(&out);
    assert!(
        err.contains("cannot upgrade the ledger")
            && err.contains("from schema 2 to 3")
            && err.contains("injected failure")
            && err.contains("left as it was"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        dump(&sb.ledger()),
        before,
        "the failed upgrade changed the ledger"
    );

    // Without the fault the same file upgrades, and lists the mailbox once.
    Connection::open(sb.ledger())
        .unwrap()
        .execute_batch("DROP TRIGGER boom")
        .unwrap();
    let out = mailpull(&sb, None, &["ledger", "list"]);
    assert_exit(&out, 0, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["pop3://alice@mail.example.org\t\t2\t1970-01-01T00:00:03Z"],
        "{text}"
    );

    // A ledger from a newer mailpull is refused as before.
    let c = Connection::open(sb.ledger()).unwrap();
    c.pragma_update(None, "user_version", mailpull::ledger::SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    let before = dump(&sb.ledger());
    let out = mailpull(&sb, None, &["ledger", "list"]);
    assert_exit(&out, 78, None);
    assert!(stderr(&out).contains("newer mailpull"), "{}", stderr(&out));
    assert_eq!(dump(&sb.ledger()), before);
}

#[test]
fn ledger_rename_from_localhost_to_127_0_0_1() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=3 {
        d.add_message("alice", &message(n));
    }
    let on = |host: &str, url: String| url.replace("127.0.0.1", host);
    // POP3 and IMAP, fetched as localhost (the certificate names it too).
    for url in [d.pop3s_url("alice"), d.imaps_url("alice")] {
        let out = mailpull(
            &sb,
            Some(&d),
            &["fetch", &on("localhost", url), "--keep", "--json"],
        );
        assert_exit(&out, 0, Some(&d));
        assert_eq!(new_in(&out), 3);
    }
    assert_eq!(delivered(&sb).len(), 6);
    let out = mailpull(&sb, None, &["ledger", "list"]);
    assert_exit(&out, 0, None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0][..3],
        ["imap://alice@localhost", "INBOX", "3"],
        "{text}"
    );
    assert_eq!(lines[1][..3], ["pop3://alice@localhost", "", "3"], "{text}");

    // A dry run says what would move and changes nothing.
    let before = dump(&sb.ledger());
    let out = mailpull(
        &sb,
        None,
        &[
            "ledger",
            "rename",
            "pop3s://alice@LOCALHOST:995",
            "pop3://alice@127.0.0.1",
            "--dry-run",
        ],
    );
    assert_exit(&out, 0, None);
    let err = stderr(&out);
    assert!(
        err.contains(
            "would move the records of pop3 alice@localhost to pop3 alice@127.0.0.1: 3 message(s)"
        ) && err.contains("dry run: nothing was changed"),
        "{err}"
    );
    assert_eq!(dump(&sb.ledger()), before);

    for (old, new) in [
        ("pop3://alice@localhost", "pop3://alice@127.0.0.1"),
        ("imaps://alice@localhost", "imap://alice@127.0.0.1:143"),
    ] {
        let out = mailpull(&sb, None, &["ledger", "rename", old, new]);
        assert_exit(&out, 0, None);
        assert!(
            stderr(&out).contains("moved the records"),
            "{}",
            stderr(&out)
        );
    }
    let out = mailpull(&sb, None, &["ledger", "list"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("imap://alice@127.0.0.1\tINBOX\t3\t")
            && text.contains("pop3://alice@127.0.0.1\t\t3\t")
            && !text.contains("localhost"),
        "{text}"
    );

    // The next fetch under the new name downloads nothing; a new message comes once.
    for url in [d.pop3_url("alice"), d.imaps_url("alice")] {
        let out = mailpull(&sb, Some(&d), &["fetch", &url, "--keep", "--json"]);
        assert_exit(&out, 0, Some(&d));
        assert_eq!(new_in(&out), 0, "{url}: {}", stderr(&out));
    }
    d.add_message("alice", &message(4));
    for url in [d.pop3s_url("alice"), d.imap_url("alice")] {
        let out = mailpull(&sb, Some(&d), &["fetch", &url, "--keep", "--json"]);
        assert_exit(&out, 0, Some(&d));
        assert_eq!(new_in(&out), 1, "{url}");
    }
    assert_eq!(delivered(&sb).len(), 8);
}

#[test]
fn ledger_rename_refuses_bad_input_and_changes_nothing() {
    let sb = Sandbox::new();
    // No ledger yet: nothing to rename, and none is created.
    let out = mailpull(
        &sb,
        None,
        &[
            "ledger",
            "rename",
            "pop3://alice@a.example",
            "pop3://alice@b.example",
        ],
    );
    assert_exit(&out, 66, None);
    assert!(stderr(&out).contains("no records of pop3 alice@a.example"));
    assert!(!sb.ledger().exists());
    let out = mailpull(&sb, None, &["ledger", "list"]);
    assert_exit(&out, 0, None);
    assert!(out.stdout.is_empty() && !sb.ledger().exists());

    old_ledger(&sb.ledger());
    assert_exit(&mailpull(&sb, None, &["ledger", "list"]), 0, None);
    let before = dump(&sb.ledger());
    for (args, want, says) in [
        (
            vec!["pop3://alice@nowhere.example", "pop3://alice@b.example"],
            66,
            "has no records of pop3 alice@nowhere.example",
        ),
        (
            vec!["pop3://bob@mail.example.org", "pop3://alice@b.example"],
            66,
            "ledger list",
        ),
        (
            vec!["pop3://alice@mail.example.org", "imap://alice@b.example"],
            64,
            "keeps its protocol",
        ),
        (
            vec![
                "pop3s://alice@mail.example.org:995",
                "pop3://alice@Mail.Example.org:110",
            ],
            64,
            "the same mailbox",
        ),
        (
            vec!["http://alice@mail.example.org", "pop3://alice@b.example"],
            64,
            "unknown scheme",
        ),
        (
            vec![
                "pop3://alice:hunter2@mail.example.org",
                "pop3://alice@b.example",
            ],
            64,
            "never put passwords in URLs",
        ),
        (vec!["pop3://alice@mail.example.org"], 64, "NEW-URL"),
    ] {
        let mut all = vec!["ledger", "rename"];
        all.extend(&args);
        let out = mailpull(&sb, None, &all);
        assert_exit(&out, want, None);
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(dump(&sb.ledger()), before, "{args:?} changed the ledger");
    }
}

/// Two accounts on different folders of one IMAP user are allowed; they share the mailbox's
/// lock, and take turns instead of failing as if another mailpull held it.
#[test]
fn accounts_of_one_imap_user_take_turns() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    d.create_mailbox("alice", "Lists");
    d.add_message("alice", &message(1));
    d.add_message_in("alice", "Lists", &message(2));
    let cfg = sb.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ntls_ca_file = \"{}\"\n\
             [account.inbox]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\n\
             [account.lists]\nurl = \"{}\"\nfolders = [\"Lists\"]\n\
             deliver = {{ maildir = \"{}\" }}\n",
            d.ca_file().display(),
            d.imaps_url("alice"),
            sb.path().join("inbox").display(),
            d.imap_url("alice"),
            sb.path().join("lists").display(),
        ),
    )
    .unwrap();
    let mut c = sb.cmd(Some("secret"));
    c.env("MAILPULL_CONFIG", &cfg)
        .args(["fetch", "--jobs", "2", "--lock-wait", "0"]);
    let out = run_with_limit(c, LIMIT);
    assert_exit(&out, 0, Some(&d));
    assert_eq!(maildir_messages(&sb.path().join("inbox")).len(), 1);
    assert_eq!(maildir_messages(&sb.path().join("lists")).len(), 1);
}
