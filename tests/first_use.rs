//! The first use's papercuts (issue 14, friction 9), each against a private Dovecot: data on
//! stdout cut short by its reader, durations on the command line, URL accounts in `receipts`,
//! `list` sizes, `check` counts on stdout, a new Maildir announced.

mod common;

use std::process::{Output, Stdio};

use common::dovecot::Dovecot;
use common::run::{code, run_with_limit, Sandbox};

const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A message that asks for a read receipt.
fn asking(id: &str) -> Vec<u8> {
    format!(
        "Return-Path: <bob@x.example>\nFrom: Bob <bob@x.example>\nTo: alice@example.org\n\
         Subject: asking {id}\nDate: Mon, 2 Sep 2024 10:00:00 +0000\nMessage-ID: <{id}@x.example>\n\
         Disposition-Notification-To: bob@x.example\n\n{}\n",
        "Hello. ".repeat(3000)
    )
    .into_bytes()
}

/// Dovecot with one message asking for a receipt, and a configuration with one IMAP account
/// ("mail") delivering into the sandbox's Maildir.
fn configured() -> Option<(Dovecot, Sandbox, std::path::PathBuf)> {
    let d = Dovecot::start()?;
    d.add_message("alice", &asking("one"));
    let sb = Sandbox::new();
    let config = sb.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[account.mail]\nurl = \"{}\"\ntls_ca_file = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\n",
            d.imaps_url("alice"),
            d.ca_file().display(),
            sb.maildir().display()
        ),
    )
    .unwrap();
    Some((d, sb, config))
}

fn run(sb: &Sandbox, config: &std::path::Path, args: &[&str]) -> Output {
    let mut c = sb.cmd(Some("secret"));
    c.arg("--config").arg(config).args(args);
    run_with_limit(c, LIMIT)
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every command that writes data to stdout stops quietly when the reader is gone
/// (`mailpull receipts | head -1`): its status as if all was read, nothing on stderr. The
/// reader's end of the pipe is closed before mailpull starts, so every write fails with EPIPE.
#[test]
fn data_commands_stop_quietly_when_stdout_is_closed() {
    let Some((d, sb, config)) = configured() else {
        return;
    };
    let out = run(&sb, &config, &["fetch"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    // New mail for check, list and fetch (which asks for no receipt: nothing to say).
    d.add_message(
        "alice",
        b"From: Bob <bob@x.example>\nSubject: plain\nMessage-ID: <two@x.example>\n\nHi.\n",
    );
    for (args, want) in [
        (&["receipts"][..], 0),
        (&["receipts", "--all"], 0),
        (&["accounts"], 0),
        (&["ledger", "list"], 0),
        (&["config", "check"], 0),
        (&["check"], 0),
        (&["list"], 0),
        (&["fetch", "--json", "--keep"], 0),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut c = sb.cmd(Some("secret"));
        c.arg("--config").arg(&config).args(args);
        c.stdout(Stdio::from(writer)).stderr(Stdio::piped());
        let out = c.spawn().unwrap().wait_with_output().unwrap();
        assert_eq!(code(&out), want, "{args:?}:\n{}", show(&out));
        assert!(out.stderr.is_empty(), "{args:?}:\n{}", show(&out));
    }
}

/// An account given as a URL (no configuration) shows as its URL in `mailpull receipts`,
/// never as "account #1".
#[test]
fn url_accounts_show_as_their_url_in_receipts() {
    let Some(d) = Dovecot::start() else {
        return;
    };
    d.add_message("alice", &asking("url"));
    let sb = Sandbox::new();
    let empty = sb.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let url = d.imaps_url("alice");
    let ca = d.ca_file();
    let out = run(
        &sb,
        &empty,
        &[
            "fetch",
            &url,
            "--tls-ca-file",
            ca.to_str().unwrap(),
            "--maildir",
            sb.maildir().to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    let out = run(&sb, &empty, &["receipts"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let account = text.lines().next().unwrap().split('\t').nth(2).unwrap();
    assert_eq!(account, "imap://alice@127.0.0.1", "{text}");
}

/// `--timeout`, `--lock-wait` and `--mda-timeout` take a duration like the configuration
/// does ("30s", "2m") as well as plain seconds; anything else is a usage error.
#[test]
fn duration_flags_take_30s_like_the_configuration() {
    let Some((_d, sb, config)) = configured() else {
        return;
    };
    for args in [
        &["check", "--timeout", "30s", "--lock-wait", "2s"][..],
        &["check", "--timeout", "30"],
        &["check", "--timeout", "1m 30s"],
    ] {
        let out = run(&sb, &config, args);
        assert_eq!(code(&out), 0, "{args:?}: {}", show(&out));
    }
    let out = run(
        &sb,
        &config,
        &["fetch", "--mda-timeout", "1m", "--mda", "cat >/dev/null"],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    for bad in ["soon", "30x", "-1", "1500ms"] {
        let out = run(&sb, &config, &["check", "--timeout", bad]);
        assert_eq!(code(&out), 64, "--timeout {bad}: {}", show(&out));
    }
}

/// `list` prints sizes in kB/MB like everything else (not KiB).
#[test]
fn list_prints_sizes_in_decimal_units() {
    let Some((_d, sb, config)) = configured() else {
        return;
    };
    let out = run(&sb, &config, &["list"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" kB)"), "{text}");
    assert!(!text.contains("KiB"), "{text}");
}

/// `check` prints its count on stdout (data) also without a terminal; `-q` silences it; the
/// status still says whether there is new mail.
#[test]
fn check_prints_its_count_on_stdout_and_q_silences_it() {
    let Some((_d, sb, config)) = configured() else {
        return;
    };
    let out = run(&sb, &config, &["check"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("1 new message (") && text.trim_end().ends_with(" — mail"),
        "{}",
        show(&out)
    );
    assert!(out.stderr.is_empty(), "{}", show(&out));
    let out = run(&sb, &config, &["check", "-q"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        show(&out)
    );
    run(&sb, &config, &["fetch"]);
    let out = run(&sb, &config, &["check"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("no new messages"),
        "{}",
        show(&out)
    );
}

/// A Maildir that does not exist yet is announced on stderr the first time it is created, so
/// that a typo in its path shows; later runs say nothing.
#[test]
fn a_new_maildir_is_announced_once() {
    let Some(d) = Dovecot::start() else {
        return;
    };
    d.add_message("alice", &asking("md"));
    let sb = Sandbox::new();
    let empty = sb.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let typo = sb.path().join("Mial");
    let url = d.imaps_url("alice");
    let ca = d.ca_file();
    let args = [
        "fetch",
        &url,
        "--tls-ca-file",
        ca.to_str().unwrap(),
        "--maildir",
        typo.to_str().unwrap(),
    ];
    let out = run(&sb, &empty, &args);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches(&format!("creating Maildir {}", typo.display()))
            .count(),
        1,
        "{}",
        show(&out)
    );
    let out = run(&sb, &empty, &args);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));
}
