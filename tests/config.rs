//! The configuration file, several accounts, `check`, `accounts`, `config check` and `--json`,
//! with the real binary against scripted POP3 servers.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::run::{code, maildir_messages, run_with_limit, Sandbox};
use common::scripted::{Message, Scripted};

const LIMIT: Duration = Duration::from_secs(30);

fn messages(prefix: &str, n: usize, size: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let mut raw =
                format!("Subject: {prefix} {i}\r\nX-Serial: {prefix}-{i}\r\n\r\n").into_bytes();
            while raw.len() < size {
                raw.extend_from_slice(
                    b"body line ...............................................\r\n",
                );
            }
            Message::new(format!("{prefix}-{i}"), raw)
        })
        .collect()
}

fn write_config(sb: &Sandbox, text: &str) -> PathBuf {
    let path = sb.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn mailpull(sb: &Sandbox, config: &Path, args: &[&str]) -> Output {
    let mut c = sb.cmd(None);
    c.env("MAILPULL_CONFIG", config).args(args);
    run_with_limit(c, LIMIT)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Two accounts on two servers, delivered to two Maildirs. The scripted servers all listen on
/// 127.0.0.1 for the same user, and the port is no part of a mailbox's identity: the second
/// is reached as `localhost`, which names another mailbox.
fn two_accounts(sb: &Sandbox, a: &Scripted, b: &Scripted, extra_b: &str) -> PathBuf {
    write_config(
        sb,
        &format!(
            "[defaults]\ninsecure_no_tls = true\npassword = \"secret\"\ntimeout = 5\n\n\
             [account.work]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\n\n\
             [account.lists]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\n{extra_b}",
            a.url(),
            sb.path().join("work").display(),
            b.url().replace("127.0.0.1", "localhost"),
            sb.path().join("lists").display(),
        ),
    )
}

#[test]
fn all_accounts_are_fetched_in_parallel_and_reported_in_json() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 5, 300));
    let b = Scripted::start(messages("b", 7, 300));
    let cfg = two_accounts(&sb, &a, &b, "keep = true\n");
    let out = mailpull(&sb, &cfg, &["fetch", "--jobs", "2", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(maildir_messages(&sb.path().join("work")).len(), 5);
    assert_eq!(maildir_messages(&sb.path().join("lists")).len(), 7);
    assert!(a.mailbox().is_empty(), "work deletes");
    assert_eq!(b.mailbox().len(), 7, "lists keeps");
    let j = json(&out);
    assert_eq!(j["totals"]["new"], 12);
    assert_eq!(j["totals"]["deleted"], 5);
    assert_eq!(j["totals"]["errors"], 0);
    assert_eq!(j["exit_code"], 0);
    let accounts = j["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let lists = accounts.iter().find(|x| x["account"] == "lists").unwrap();
    assert_eq!(lists["new"], 7);
    assert_eq!(lists["deleted"], 0);
    assert!(lists["bytes"].as_u64().unwrap() > 7 * 250);

    // Named targets: only that account; nothing new now.
    let out = mailpull(&sb, &cfg, &["fetch", "lists", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(j["totals"]["new"], 0);
}

#[test]
fn one_failing_account_does_not_stop_the_others() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 3, 300));
    let b = Scripted::start(messages("b", 3, 300));
    let cfg = two_accounts(&sb, &a, &b, "password = \"wrong\"\n");
    let out = mailpull(&sb, &cfg, &["fetch", "--json"]);
    assert_eq!(code(&out), 77, "{}", stderr(&out));
    assert_eq!(maildir_messages(&sb.path().join("work")).len(), 3);
    assert!(maildir_messages(&sb.path().join("lists")).is_empty());
    assert_eq!(b.mailbox().len(), 3);
    let err = stderr(&out);
    assert!(
        err.contains("account lists") && err.contains("authentication"),
        "{err}"
    );
    let j = json(&out);
    assert_eq!(j["exit_code"], 77);
    assert_eq!(j["totals"]["errors"], 1);
    let lists = j["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["account"] == "lists")
        .unwrap()
        .clone();
    assert_eq!(lists["exit_code"], 77);
    assert!(lists["errors"][0]
        .as_str()
        .unwrap()
        .contains("authentication"));
}

#[test]
fn the_most_serious_exit_code_wins() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 1, 300));
    // Nothing listens on this port: connection refused (69); the other account fails
    // authentication (77), which is more serious.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let cfg = write_config(
        &sb,
        &format!(
            "[defaults]\ninsecure_no_tls = true\ntimeout = 5\ndeliver = {{ maildir = \"{}\" }}\n\
             [account.a]\nurl = \"{}\"\npassword = \"wrong\"\n\
             [account.b]\nurl = \"pop3://alice@localhost:{port}\"\npassword = \"secret\"\n",
            sb.maildir().display(),
            a.url()
        ),
    );
    let out = mailpull(&sb, &cfg, &["fetch"]);
    assert_eq!(code(&out), 77, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("account a") && err.contains("account b"),
        "both failures are named:\n{err}"
    );
}

#[test]
fn check_counts_without_downloading_and_exits_0_or_1() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 4, 300));
    let b = Scripted::start(Vec::new());
    let cfg = two_accounts(&sb, &a, &b, "");
    let out = mailpull(&sb, &cfg, &["check", "--json"]);
    assert_eq!(code(&out), 0, "new mail → 0: {}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["totals"]["new"], 4);
    assert!(a.stats().fetched.is_empty(), "check must not download");
    assert_eq!(a.mailbox().len(), 4, "check must not delete");
    assert!(maildir_messages(&sb.path().join("work")).is_empty());

    let out = mailpull(&sb, &cfg, &["check", "lists"]);
    assert_eq!(code(&out), 1, "no new mail → 1: {}", stderr(&out));
    // The count is data: on stdout, terminal or not (issue 14).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no new messages (0 on the server) — lists\n"
    );

    // After a keep fetch the ledger knows them: no new mail.
    let out = mailpull(&sb, &cfg, &["fetch", "work", "--keep"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = mailpull(&sb, &cfg, &["check", "work"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));

    // Errors keep their usual codes.
    let cfg2 = two_accounts(&sb, &a, &b, "password = \"wrong\"\n");
    let out = mailpull(&sb, &cfg2, &["check", "lists"]);
    assert_eq!(code(&out), 77, "{}", stderr(&out));
}

#[test]
fn config_errors_name_file_line_and_key_and_exit_78() {
    let sb = Sandbox::new();
    let cases = [
        (
            "[account.a]\nurl = \"pop3s://alice@example.org\"\nkep = true\n",
            "line 3",
            "kep",
        ),
        (
            "[account.a]\nurl = \"pop3s://alice@example.org\"\nskip_larger_than = \"huge\"\n",
            "line 3",
            "skip_larger_than",
        ),
        (
            "[account.a]\n\nurl = \"pop3s://example.org\"\n",
            "line 3",
            "user name",
        ),
        (
            "[account.a]\nurl = \"pop3s://alice@example.org\"\ntimeout = -3\n",
            "line 3",
            "timeout",
        ),
        (
            "[account.a]\nurl = \"pop3s://alice@example.org\"\ndeliver = { pigeon = \"x\" }\n",
            "line 3",
            "pigeon",
        ),
        (
            "[account.a]\nurl = \"pop3s://alice@example.org\"\ntls_fingerprint = \"sha256:00\"\n",
            "line 3",
            "tls_fingerprint",
        ),
        (
            "[acount.a]\nurl = \"pop3s://alice@example.org\"\n",
            "line 1",
            "acount",
        ),
        (
            "[account.a]\nurl = \"pop3s://alice@example.org\"\nkeep = yes\n",
            "line 3",
            "keep",
        ),
    ];
    for (text, line, key) in cases {
        let cfg = write_config(&sb, text);
        let out = mailpull(&sb, &cfg, &["fetch"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 78, "{text}\n{err}");
        assert!(
            err.contains(&cfg.display().to_string()),
            "file named:\n{err}"
        );
        assert!(err.contains(line), "{line} named:\n{err}");
        assert!(err.contains(key), "{key} named:\n{err}");
        let out = mailpull(&sb, &cfg, &["config", "check"]);
        assert_eq!(code(&out), 78, "config check: {text}");
    }
    // A named file that does not exist.
    let out = mailpull(&sb, &sb.path().join("missing.toml"), &["fetch"]);
    assert_eq!(code(&out), 78);
    assert!(stderr(&out).contains("missing.toml"));
}

#[test]
fn bad_filter_settings_exit_78_before_connecting() {
    let sb = Sandbox::new();
    // Port 1: nothing listens there, so reaching the network would give 69/75, not 78.
    let url = "url = \"pop3s://alice@127.0.0.1:1\"\n";
    let cases = [
        ("filter = 3\n", "filter"),
        ("filter = \"  \"\n", "filter is empty"),
        (
            "filter = \"exit 0\"\nfilter_timeout = \"0s\"\n",
            "filter_timeout",
        ),
        (
            "filter = \"exit 0\"\nfilter_timeout = \"soon\"\n",
            "filter_timeout",
        ),
    ];
    for (keys, want) in cases {
        let text = format!("[account.a]\n{url}{keys}");
        let cfg = write_config(&sb, &text);
        let mut c = sb.cmd(Some("secret"));
        c.env("MAILPULL_CONFIG", &cfg).arg("fetch");
        let out = run_with_limit(c, LIMIT);
        let err = stderr(&out);
        assert_eq!(code(&out), 78, "{text}\n{err}");
        assert!(err.contains(want), "{want} named:\n{err}");
        assert!(err.contains("account a") || err.contains("line"), "{err}");
    }
}

#[test]
fn readable_config_with_password_is_refused() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 1, 300));
    let cfg = two_accounts(&sb, &a, &a, "");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = mailpull(&sb, &cfg, &["fetch"]);
    assert_eq!(code(&out), 78);
    let err = stderr(&out);
    assert!(
        err.contains("chmod 600") && !err.contains("secret"),
        "{err}"
    );
    assert_eq!(a.stats().connections, 0);
}

#[test]
fn size_limits_and_max_messages() {
    let sb = Sandbox::new();
    let mut msgs = messages("s", 6, 300);
    msgs.extend(messages("big", 2, 20_000));
    msgs.extend(messages("huge", 1, 200_000));
    let server = Scripted::start(msgs);
    let cfg = write_config(
        &sb,
        &format!(
            "[account.a]\nurl = \"{}\"\ninsecure_no_tls = true\npassword = \"secret\"\n\
             deliver = {{ maildir = \"{}\" }}\nskip_larger_than = \"10k\"\ndelete_larger_than = \"100KB\"\n\
             max_messages = 4\n",
            server.url(),
            sb.maildir().display()
        ),
    );
    let out = mailpull(&sb, &cfg, &["fetch", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    let a = &j["accounts"][0];
    assert_eq!(a["new"], 4);
    assert_eq!(a["skipped"], 2, "{a}");
    assert_eq!(a["deferred"], 2, "{a}");
    assert_eq!(a["deleted_unread"], 1, "{a}");
    assert_eq!(a["deleted"], 5, "{a}");
    assert_eq!(server.stats().fetched_of("huge-0"), 0, "never downloaded");
    let left = server.uidls();
    assert!(left.contains(&"big-0".to_string()) && left.contains(&"big-1".to_string()));
    assert!(!left.contains(&"huge-0".to_string()));
    assert_eq!(left.len(), 4);
    // The next run takes the deferred ones; the large ones stay.
    let out = mailpull(&sb, &cfg, &["fetch", "--json"]);
    assert_eq!(json(&out)["accounts"][0]["new"], 2);
    assert_eq!(server.uidls().len(), 2);
    assert_eq!(maildir_messages(&sb.maildir()).len(), 6);
    // A flag overrides the file.
    let out = mailpull(&sb, &cfg, &["fetch", "--skip-larger-than", "1MB", "--json"]);
    assert_eq!(json(&out)["accounts"][0]["new"], 2);
    assert!(server.uidls().is_empty());
}

#[test]
fn delete_after_days_in_keep_mode() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages("d", 3, 300));
    let cfg = write_config(
        &sb,
        &format!(
            "[account.a]\nurl = \"{}\"\ninsecure_no_tls = true\npassword = \"secret\"\nkeep = true\n\
             delete_after_days = 30\ndeliver = {{ maildir = \"{}\" }}\n",
            server.url(),
            sb.maildir().display()
        ),
    );
    let out = mailpull(&sb, &cfg, &["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(server.uidls().len(), 3, "kept: delivered today");
    // Age one delivery by 31 days in the ledger.
    {
        let conn = rusqlite::Connection::open(sb.ledger()).unwrap();
        let n = conn
            .execute(
                "UPDATE messages SET delivered_at = delivered_at - 31*86400 WHERE uid = 'd-1'",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let out = mailpull(&sb, &cfg, &["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(server.uidls(), vec!["d-0".to_string(), "d-2".to_string()]);
    assert_eq!(
        server.stats().fetched_of("d-1"),
        1,
        "deleted without a second download"
    );
    assert_eq!(maildir_messages(&sb.maildir()).len(), 3);
}

#[test]
fn accounts_and_config_check_show_settings_but_never_passwords() {
    let sb = Sandbox::new();
    let a = Scripted::start(Vec::new());
    let b = Scripted::start(Vec::new());
    let cfg = two_accounts(
        &sb,
        &a,
        &b,
        "keep = true\npassword_command = \"pass show lists\"\n",
    );
    let out = mailpull(&sb, &cfg, &["accounts"]);
    assert_eq!(code(&out), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("work") && text.contains("lists") && text.contains("Maildir"),
        "{text}"
    );
    assert!(text.contains("keep") && text.contains("delete"), "{text}");
    let out = mailpull(&sb, &cfg, &["config", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("secret"), "password shown:\n{text}");
    assert!(text.contains("pass show lists"), "{text}");
    assert!(
        text.contains("[account.work]") && text.contains("[account.lists]"),
        "{text}"
    );
    assert_eq!(a.stats().connections + b.stats().connections, 0);
}

#[test]
fn jobs_2_fetches_both_accounts_each_under_its_own_lock() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 20, 2000));
    let b = Scripted::start(messages("b", 20, 2000));
    let cfg = two_accounts(&sb, &a, &b, "");
    let out = mailpull(&sb, &cfg, &["fetch", "--jobs", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(a.mailbox().is_empty() && b.mailbox().is_empty());
    assert_eq!(
        a.stats().logins + b.stats().logins,
        2,
        "one login per account"
    );
    // Each account took its own lock (both lock files exist beside the ledger).
    let locks: Vec<_> = std::fs::read_dir(sb.path().join("locks"))
        .unwrap()
        .collect();
    assert_eq!(locks.len(), 2);
}

/// `config check` on a configuration text: (exit code, stdout + stderr).
fn config_check(sb: &Sandbox, text: &str) -> (i32, String) {
    let cfg = write_config(sb, text);
    let out = mailpull(sb, &cfg, &["config", "check"]);
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out),
    )
}

#[test]
fn two_accounts_reading_one_mailbox_are_refused_naming_both() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 2, 300));
    // The same mailbox twice: another port and TLS mode, the host spelt in capitals.
    let cfg = write_config(
        &sb,
        &format!(
            "[defaults]\ninsecure_no_tls = true\npassword = \"secret\"\n\
             [account.home]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\n\
             [account.archive]\nurl = \"pop3s://alice@LocalHost\"\ninsecure_no_tls = false\n\
             deliver = {{ mbox = \"{}\" }}\n",
            a.url().replace("127.0.0.1", "localhost"),
            sb.maildir().display(),
            sb.path().join("archive.mbox").display()
        ),
    );
    for args in [
        &["fetch"][..],
        &["fetch", "home"],
        &["config", "check"],
        &["accounts"],
    ] {
        let out = mailpull(&sb, &cfg, args);
        assert_eq!(code(&out), 78, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("\"archive\"")
                && err.contains("\"home\"")
                && err.contains("pop3 alice@localhost")
                && err.contains("mda")
                && err.contains("tee")
                && err.contains("folders"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(a.stats().connections, 0, "refused before connecting");
    assert!(maildir_messages(&sb.maildir()).is_empty());
}

#[test]
fn imap_accounts_of_one_user_need_disjoint_folders() {
    let sb = Sandbox::new();
    let two = |a: &str, b: &str| {
        format!(
            "[defaults]\npassword_command = \"echo x\"\n\
             [account.one]\nurl = \"imaps://alice@mail.example.org\"\n{a}\n\
             [account.two]\nurl = \"imap://alice@MAIL.example.org:1143\"\n{b}\n"
        )
    };
    // Accepted: different folders of one user, other users, another protocol.
    for (a, b) in [
        (
            "folders = [\"INBOX\"]",
            "folders = [\"Lists/*\", \"Archive\"]",
        ),
        ("", "folders = [\"Sent\"]"),
        (
            "folders = [\"Lists/rust\"]",
            "folders = [\"Lists/go\", \"A*\"]",
        ),
    ] {
        let (status, text) = config_check(&sb, &two(a, b));
        assert_eq!(status, 0, "{a} / {b}: {text}");
        assert!(text.contains("[account.one]") && text.contains("[account.two]"));
    }
    for other in [
        "[account.pop]\nurl = \"pop3s://alice@mail.example.org\"\n",
        "[account.bob]\nurl = \"imaps://bob@mail.example.org\"\n",
        "[account.elsewhere]\nurl = \"imaps://alice@mail.example.net\"\n",
    ] {
        let text = two("", "folders = [\"Sent\"]") + other;
        let (status, out) = config_check(&sb, &text);
        assert_eq!(status, 0, "{other}: {out}");
    }
    // Refused: folders that are or may be the same.
    for (a, b, says) in [
        ("", "", "folder \"INBOX\" of imap alice@mail.example.org"),
        (
            "folders = [\"inbox\"]",
            "folders = [\"INBOX\"]",
            "\"inbox\"",
        ),
        (
            "folders = [\"Lists/*\"]",
            "folders = [\"Sent\", \"Lists/rust\"]",
            "\"Lists/rust\"",
        ),
        ("folders = [\"%\"]", "folders = [\"Sent\"]", "\"%\""),
        // On a server whose separator is `.`, `Lists/*` is listed as `Lists.*`.
        (
            "folders = [\"Lists/*\"]",
            "folders = [\"Sent\", \"Lists.rust\"]",
            "\"Lists.rust\"",
        ),
    ] {
        let (status, text) = config_check(&sb, &two(a, b));
        assert_eq!(status, 78, "{a} / {b}: {text}");
        assert!(
            text.contains("\"one\"") && text.contains("\"two\"") && text.contains(says),
            "{a} / {b}: {text}"
        );
    }
    // --folder gives both the same folders: refused as a usage error, before connecting.
    let cfg = write_config(&sb, &two("", "folders = [\"Sent\"]"));
    let out = mailpull(&sb, &cfg, &["check", "one", "two", "--folder", "INBOX"]);
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("account one and account two both read folder \"INBOX\""),
        "{}",
        stderr(&out)
    );
    // Folders from [defaults] count too.
    let text = format!(
        "[defaults]\nfolders = [\"*\"]\n{}",
        two("", "").replace("[defaults]\n", "")
    );
    let (status, out) = config_check(&sb, &text);
    assert_eq!(status, 78, "{out}");
}

#[test]
fn command_line_targets_naming_one_mailbox_twice() {
    let sb = Sandbox::new();
    let a = Scripted::start(messages("a", 2, 300));
    let cfg = write_config(
        &sb,
        &format!(
            "[defaults]\ninsecure_no_tls = true\npassword = \"secret\"\n\
             [account.home]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\nkeep = true\n",
            a.url(),
            sb.maildir().display()
        ),
    );
    // The same URL twice is fetched once, like an account named twice.
    let url = a.url();
    let maildir = sb.maildir().to_string_lossy().into_owned();
    let out = mailpull(
        &sb,
        &cfg,
        &[
            "fetch",
            &url,
            &url,
            "--keep",
            "--json",
            "--maildir",
            &maildir,
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(a.stats().logins, 1, "one login for the one mailbox");
    assert_eq!(maildir_messages(&sb.maildir()).len(), 2);
    let before = a.stats().connections;
    // Named in two ways (an account and a URL, or two ports): which settings were meant is
    // not clear, and only one of them would get the messages, so nothing is done.
    for targets in [
        ["home", url.as_str()],
        [url.as_str(), "pop3://alice@127.0.0.1:1"],
        ["home", "pop3://alice@127.0.0.1:2"],
    ] {
        let mut args = vec!["check"];
        args.extend(targets);
        let out = mailpull(&sb, &cfg, &args);
        assert_eq!(code(&out), 64, "{targets:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("both read the mailbox pop3 alice@127.0.0.1")
                && err.contains("name it once"),
            "{targets:?}: {err}"
        );
    }
    assert_eq!(a.stats().connections, before, "refused before connecting");
}

/// Durations and sizes in the file are range-checked when it is loaded (exit 78, naming the
/// file, the line and the key) — a huge `filter_timeout` or `poll_interval` used to panic —
/// and a table or an array where a size or a duration belongs says which key and what it
/// takes, not "data did not match any variant of untagged enum Raw".
#[test]
fn out_of_range_or_mistyped_durations_and_sizes_name_their_key() {
    let sb = Sandbox::new();
    let url = "[account.a]\nurl = \"pop3s://alice@127.0.0.1:1\"\n";
    let cases = [
        (
            "filter_timeout = \"300000000000y\"\nfilter = \"exit 0\"\n",
            "filter_timeout",
            "366 days",
        ),
        (
            "poll_interval = \"300000000000y\"\n",
            "poll_interval",
            "366 days",
        ),
        (
            "mda_timeout = 18446744073709551615\n",
            "mda_timeout",
            "366 days",
        ),
        ("timeout = 31622401\n", "timeout", "366 days"),
        (
            "skip_larger_than = \"20 EiB\"\n",
            "skip_larger_than",
            "1 PiB",
        ),
        (
            "delete_larger_than = 9223372036854775807\n",
            "delete_larger_than",
            "1 PiB",
        ),
        (
            "skip_larger_than = { a = 1 }\n",
            "skip_larger_than",
            "a table is not a size",
        ),
        (
            "timeout = [1, 2]\n",
            "timeout",
            "an array is not a duration",
        ),
        ("mda_timeout = 1e300\n", "mda_timeout", "is not a duration"),
    ];
    for (keys, key, want) in cases {
        let text = format!("{url}{keys}");
        let cfg = write_config(&sb, &text);
        for args in [&["fetch"][..], &["config", "check"]] {
            let out = mailpull(&sb, &cfg, args);
            let err = stderr(&out);
            assert_eq!(code(&out), 78, "{text}\n{err}");
            assert!(err.contains(&cfg.display().to_string()), "file:\n{err}");
            assert!(err.contains("line 3"), "line:\n{err}");
            assert!(err.contains(key), "{key}:\n{err}");
            assert!(err.contains(want), "{want}:\n{err}");
            assert!(
                !err.contains("untagged enum") && !err.contains("panicked"),
                "{err}"
            );
            // Quoted values are cut short.
            assert!(!err.contains(&"0".repeat(100)), "{err}");
        }
    }
}

/// A file's structural mistakes name a line too.
#[test]
fn account_without_url_and_readable_password_name_a_line() {
    let sb = Sandbox::new();
    let cfg = write_config(
        &sb,
        "[defaults]\nkeep = true\n\n[account.work]\nkeep = false\n",
    );
    let out = mailpull(&sb, &cfg, &["config", "check"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 78, "{err}");
    assert!(
        err.contains("line 4") && err.contains("work") && err.contains("url"),
        "{err}"
    );
    let cfg = write_config(
        &sb,
        "[account.work]\nurl = \"pop3s://a@b\"\npassword = \"hunter2\"\n",
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = mailpull(&sb, &cfg, &["config", "check"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 78, "{err}");
    assert!(err.contains("line 3") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// `config check` shows the authentication method as the user wrote it for the protocol:
/// `login` for IMAP (not the internal `User`), `user` for POP3.
#[test]
fn config_check_shows_the_auth_method_as_written() {
    let sb = Sandbox::new();
    let cfg = write_config(
        &sb,
        "[account.i]\nurl = \"imaps://alice@mail.example.org\"\nauth = \"login\"\n\n\
         [account.p]\nurl = \"pop3s://alice@mail.example.org\"\nauth = \"user\"\n\n\
         [account.q]\nurl = \"pop3s://bob@mail.example.org\"\n",
    );
    let out = mailpull(&sb, &cfg, &["config", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let auth: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("auth: "))
        .collect();
    assert_eq!(
        auth,
        [
            "login (LOGIN)",
            "user (USER/PASS)",
            "auto (SASL PLAIN when offered, else USER/PASS)"
        ],
        "{text}"
    );
}
