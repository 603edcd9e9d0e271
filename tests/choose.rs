//! `mailpull list`, `fetch --filter` and `fetch --pick` against a real Dovecot: looking at
//! the headers before downloading, and choosing what to download.
//!
//! Each test starts its own private Dovecot (see `common::dovecot`); without Dovecot they print
//! `skipped: dovecot not installed` and pass, unless `MAILPULL_REQUIRE_DOVECOT=1`. The
//! `--pick` tests drive the real binary through a pseudo-terminal (rexpect).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{code, maildir_messages, run_with_limit, tmp_count, Sandbox};

const LIMIT: Duration = Duration::from_secs(120);

fn message(n: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: Sender {n} <sender{n}@example.org>\r\n\
         To: alice@example.org\r\n\
         Subject: {subject}\r\n\
         Date: Tue, 17 Nov 2026 14:0{n}:00 +0100\r\n\
         Message-ID: <choose-{n}@example.org>\r\n\
         \r\n\
         Body of message {n}.\r\n"
    )
    .into_bytes()
}

fn ca(d: &Dovecot) -> String {
    d.ca_file().to_string_lossy().into_owned()
}

/// `mailpull SUB URL --tls-ca-file CA ARGS...` with the password in the environment; `fetch`
/// delivers into the sandbox's Maildir.
fn cmd(sb: &Sandbox, d: &Dovecot, sub: &str, url: &str, args: &[&str]) -> Command {
    let mut c = sb.cmd(Some("secret"));
    c.arg(sub).arg(url).arg("--tls-ca-file").arg(ca(d));
    if sub == "fetch" {
        c.arg("--maildir").arg(sb.maildir());
    }
    c.args(args);
    c
}

fn run(sb: &Sandbox, d: &Dovecot, sub: &str, url: &str, args: &[&str]) -> Output {
    run_with_limit(cmd(sb, d, sub, url, args), LIMIT)
}

#[track_caller]
fn assert_exit(out: &Output, want: i32) {
    assert_eq!(
        code(out),
        want,
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The subjects of the messages in the sandbox's Maildir.
fn delivered_subjects(sb: &Sandbox) -> BTreeSet<String> {
    maildir_messages(&sb.maildir())
        .values()
        .map(|m| subject_of(m))
        .collect()
}

fn subject_of(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

/// The subjects of the messages still on the server.
fn server_subjects(d: &Dovecot, user: &str) -> BTreeSet<String> {
    d.server_messages(user)
        .iter()
        .map(|m| subject_of(m))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn list_shows_headers_and_fetched_state_without_changing_anything_imap() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    d.add_message("alice", &message(1, "First =?UTF-8?Q?gr=C3=BC=C3=9Fe?="));
    d.add_message("alice", &message(2, "Second one"));
    let url = d.imaps_url("alice");
    // Fetch the first one only (keep mode is the IMAP default).
    assert_exit(
        &run(&sb, &d, "fetch", &url, &["--max-messages", "1", "-q"]),
        0,
    );
    let before = d.server_uids("alice", "INBOX");

    let out = run(&sb, &d, "list", &url, &["--json"]);
    assert_exit(&out, 0);
    let rows = json(&out);
    let rows = rows.as_array().expect("a JSON array");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["subject"], "First grüße");
    assert_eq!(rows[0]["from"], "Sender 1 <sender1@example.org>");
    assert_eq!(rows[0]["date"], "2026-11-17T14:01:00+01:00");
    assert_eq!(rows[0]["folder"], "INBOX");
    assert_eq!(rows[0]["fetched"], true);
    assert_eq!(rows[1]["subject"], "Second one");
    assert_eq!(rows[1]["fetched"], false);
    assert_eq!(rows[1]["size"], message(2, "Second one").len());
    assert!(rows[1]["uid"].as_str().unwrap().parse::<u32>().is_ok());

    // --new shows only what fetch would download.
    let out = run(&sb, &d, "list", &url, &["--json", "--new"]);
    assert_exit(&out, 0);
    let rows = json(&out);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["subject"], "Second one");

    // The table, on a pipe: not cut, one heading per mailbox.
    let out = run(&sb, &d, "list", &url, &[]);
    assert_exit(&out, 0);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("alice@127.0.0.1:{} INBOX", d.imaps_port()),
        "{text}"
    );
    assert!(
        lines[1].contains("fetched") && lines[1].contains("First grüße"),
        "{text}"
    );
    assert!(
        lines[2].contains(" new ") && lines[2].contains("Second one"),
        "{text}"
    );
    assert!(
        lines[2].contains("Sender 2 <sender2@example.org>"),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Nothing changed on the server: same messages, same flags (no \Seen from reading headers).
    assert_eq!(d.server_uids("alice", "INBOX"), before);
    assert_eq!(maildir_messages(&sb.maildir()).len(), 1);
}

#[test]
fn list_over_pop3_uses_top_and_leaves_the_mailbox_alone() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=3 {
        d.add_message("alice", &message(n, &format!("POP message {n}")));
    }
    let url = d.pop3s_url("alice");
    let out = run(&sb, &d, "list", &url, &["--json"]);
    assert_exit(&out, 0);
    let rows = json(&out);
    let subjects: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["POP message 1", "POP message 2", "POP message 3"]
    );
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["fetched"] == false && r["folder"] == ""));
    assert_eq!(rows[2]["number"], 3);
    assert_eq!(d.server_count("alice"), 3, "list must not delete anything");
    // `list | head -1` stops quietly.
    let mut c = cmd(&sb, &d, "list", &url, &[]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let out = common::run::wait_with_limit(child, LIMIT);
    assert_exit(&out, 0);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn list_reports_failures_per_account() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let mut c = cmd(&sb, &d, "list", &d.imaps_url("alice"), &[]);
    c.env("MAILPULL_PASSWORD", "wrong");
    let out = run_with_limit(c, LIMIT);
    assert_exit(&out, 77);
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A filter that decides by subject: "keep…" 0, "drop…" 1, "later…" 2, anything else 3.
const FILTER: &str = r#"subject=$(sed -n 's/^Subject: //p'); case "$subject" in keep*) exit 0;; drop*) exit 1;; later*) exit 2;; *) echo "no rule for $subject" >&2; exit 3;; esac"#;

#[test]
fn filter_exit_codes_in_delete_mode_pop3() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for (n, s) in [
        (1, "keep me"),
        (2, "drop me"),
        (3, "later please"),
        (4, "odd one"),
    ] {
        d.add_message("alice", &message(n, s));
    }
    let url = d.pop3s_url("alice");
    let out = run(&sb, &d, "fetch", &url, &["--filter", FILTER, "--json"]);
    // The filter failed for "odd one": exit 74, that message left alone.
    assert_exit(&out, 74);
    let report = json(&out);
    let a = &report["accounts"][0];
    assert_eq!(a["new"], 1, "{a}");
    assert_eq!(a["deleted"], 2, "{a}");
    assert_eq!(a["deleted_unread"], 1, "{a}");
    assert_eq!(a["left"], 1, "{a}");
    let err = a["errors"][0].as_str().unwrap();
    assert!(
        err.contains("filter") && err.contains("status 3") && err.contains("no rule for odd one"),
        "{err}"
    );
    assert_eq!(delivered_subjects(&sb), set(&["keep me"]));
    assert_eq!(
        server_subjects(&d, "alice"),
        set(&["later please", "odd one"])
    );
    assert_eq!(tmp_count(&sb.maildir()), 0);

    // The skipped message stays new: offered again, and fetched once the filter says so.
    let out = run(&sb, &d, "fetch", &url, &["--filter", "exit 0", "-q"]);
    assert_exit(&out, 0);
    assert_eq!(
        delivered_subjects(&sb),
        set(&["keep me", "later please", "odd one"])
    );
    assert_eq!(d.server_count("alice"), 0);
}

#[test]
fn filter_never_deletes_in_keep_mode_and_sees_the_folder_imap() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    d.create_mailbox("alice", "Lists");
    d.add_message_in("alice", "Lists", &message(1, "keep this"));
    d.add_message_in("alice", "Lists", &message(2, "drop that"));
    let url = d.imaps_url("alice");
    let log = sb.path().join("filter.log");
    // Logs what it was told, then applies the subject rules.
    let filter = format!(
        r#"echo "$MAILPULL_ACCOUNT|$MAILPULL_FOLDER|$MAILPULL_UID|$MAILPULL_SIZE" >> '{}'; {FILTER}"#,
        log.display()
    );
    let out = run(
        &sb,
        &d,
        "fetch",
        &url,
        &["--folder", "Lists", "--filter", &filter, "--json"],
    );
    assert_exit(&out, 0);
    let a = &json(&out)["accounts"][0];
    assert_eq!(
        (a["new"].as_u64(), a["left"].as_u64()),
        (Some(1), Some(1)),
        "{a}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("keeps mail on the server"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(delivered_subjects(&sb), set(&["keep this"]));
    // Keep mode: both still there, nothing flagged \Deleted.
    let server = d.server_uids("alice", "Lists");
    assert_eq!(server.len(), 2);
    assert!(server
        .iter()
        .all(|m| !m.flags.iter().any(|f| f == "\\Deleted")));
    let logged = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 2, "{logged}");
    assert_eq!(
        lines[0],
        format!(
            "alice@127.0.0.1:{}|Lists|{}|{}",
            d.imaps_port(),
            server[0].uid,
            message(1, "keep this").len()
        ),
        "{logged}"
    );

    // The fetched one is not offered to the filter again; the left one is.
    std::fs::remove_file(&log).unwrap();
    let out = run(
        &sb,
        &d,
        "fetch",
        &url,
        &["--folder", "Lists", "--filter", &filter],
    );
    assert_exit(&out, 0);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 1, "{logged}");
}

#[test]
fn filter_from_the_configuration_and_turned_off_by_the_flag() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    d.add_message("alice", &message(1, "later 1"));
    d.add_message("alice", &message(2, "later 2"));
    let config = sb.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[account.home]\nurl = \"{}\"\ntls_ca_file = \"{}\"\nkeep = true\n\
             deliver.maildir = \"{}\"\nfilter = '''{FILTER}'''\nfilter_timeout = \"10s\"\n",
            d.pop3s_url("alice"),
            ca(&d),
            sb.maildir().display()
        ),
    )
    .unwrap();
    let fetch = |extra: &[&str]| {
        let mut c = sb.cmd(Some("secret"));
        c.arg("--config").arg(&config).arg("fetch").args(extra);
        run_with_limit(c, LIMIT)
    };
    let out = fetch(&["--json"]);
    assert_exit(&out, 0);
    assert_eq!(json(&out)["accounts"][0]["left"], 2);
    assert!(maildir_messages(&sb.maildir()).is_empty());
    let out = fetch(&["--filter", "", "-q"]);
    assert_exit(&out, 0);
    assert_eq!(delivered_subjects(&sb), set(&["later 1", "later 2"]));

    // A filter that hangs is killed at filter_timeout and the message is left alone.
    std::fs::write(
        &config,
        format!(
            "[account.home]\nurl = \"{}\"\ntls_ca_file = \"{}\"\nkeep = true\n\
             deliver.maildir = \"{}\"\nfilter = \"sleep 60\"\nfilter_timeout = \"1s\"\n",
            d.pop3s_url("alice"),
            ca(&d),
            sb.maildir().display()
        ),
    )
    .unwrap();
    d.add_message("alice", &message(3, "slow"));
    let out = fetch(&[]);
    assert_exit(&out, 74);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out after 1 s"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(maildir_messages(&sb.maildir()).len(), 2);
}

#[test]
fn pick_needs_a_terminal() {
    let sb = Sandbox::new();
    let mut c = sb.cmd(Some("secret"));
    c.args(["fetch", "--pick", "pop3s://alice@127.0.0.1:1"]);
    let out = run_with_limit(c, LIMIT);
    assert_exit(&out, 64);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--pick asks on the terminal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `fetch --pick` in a pseudo-terminal, waits for the list, types `keys`, and returns
/// the exit status.
fn pick(sb: &Sandbox, d: &Dovecot, url: &str, args: &[&str], keys: &[&str]) -> i32 {
    let mut c = cmd(sb, d, "fetch", url, args);
    c.arg("--pick");
    // rexpect gives the child the pty as stdin/stdout/stderr.
    c.stdin(std::process::Stdio::inherit());
    c.env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(c, Some(60_000)).expect("spawn in a pty");
    p.exp_string("new message(s)").expect("the --pick prompt");
    p.exp_string("Sender 3")
        .expect("the last message in the list");
    for k in keys {
        p.send(k).unwrap();
        p.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    // Read everything it prints until it exits (a full pty would block it).
    let rest = p.exp_eof().expect("mailpull to finish");
    match p.process().wait().expect("wait") {
        rexpect::process::WaitStatus::Exited(_, code) => {
            if code != 0 {
                eprintln!("--- terminal output after the keys\n{rest}");
            }
            code
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pick_fetches_exactly_the_chosen_messages_pop3() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for (n, s) in [(1, "one"), (2, "two"), (3, "three")] {
        d.add_message("alice", &message(n, s));
    }
    let url = d.pop3s_url("alice");
    // Select the first (space), move down twice, select the third, enter. Delete mode.
    let code = pick(&sb, &d, &url, &[], &[" ", "j", "j", " ", "\r"]);
    assert_eq!(code, 0);
    assert_eq!(delivered_subjects(&sb), set(&["one", "three"]));
    // The one not picked stays on the server, and stays new.
    assert_eq!(server_subjects(&d, "alice"), set(&["two"]));
    let out = run(&sb, &d, "list", &url, &["--json", "--new"]);
    assert_exit(&out, 0);
    assert_eq!(json(&out)[0]["subject"], "two");
}

#[test]
fn pick_escape_fetches_nothing_imap() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for (n, s) in [(1, "one"), (2, "two"), (3, "three")] {
        d.add_message("alice", &message(n, s));
    }
    let url = d.imaps_url("alice");
    let code = pick(&sb, &d, &url, &[], &["\x1b"]);
    assert_eq!(code, 0);
    assert!(maildir_messages(&sb.maildir()).is_empty());
    assert_eq!(d.server_count("alice"), 3);
    // Then pick all with `a`.
    let code = pick(&sb, &d, &url, &[], &["a", "\r"]);
    assert_eq!(code, 0);
    assert_eq!(delivered_subjects(&sb), set(&["one", "two", "three"]));
}
