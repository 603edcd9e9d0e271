//! Bad input a user can give — flags, URLs, password sources, ledgers, Maildirs, a full disk —
//! each gives a clear error and the documented exit code, and no mail is lost. Uses the real
//! binary in a clean environment against the scripted POP3 server.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::run::{code, expected_delivery, maildir_messages, run_with_limit, tmp_count, Sandbox};
use common::scripted::{Message, Scripted};

const LIMIT: Duration = Duration::from_secs(30);

fn messages(n: usize, size: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let mut raw = format!("Subject: message {i}\r\nX-Serial: {i}\r\n\r\n").into_bytes();
            while raw.len() < size {
                raw.extend_from_slice(
                    format!("line of message {i} .......................\r\n").as_bytes(),
                );
            }
            Message::new(format!("uid-{i}"), raw)
        })
        .collect()
}

fn fetch(sb: &Sandbox, password: Option<&str>, url: &str, extra: &[&str]) -> Command {
    let mut c = sb.cmd(password);
    c.arg("fetch")
        .arg(url)
        .arg("--insecure-no-tls")
        .arg("--timeout")
        .arg("5")
        .arg("--maildir")
        .arg(sb.maildir())
        .args(extra);
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_exit(out: &Output, want: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(code(out), want, "stderr:\n{err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "stderr should mention {needle:?}:\n{err}"
    );
    assert!(out.stdout.is_empty(), "stdout must carry no chatter");
}

#[test]
fn bad_urls_and_flags_exit_64_before_connecting() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    let port = server.port();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["fetch".into(), "mail.example.org".into()], "pop3s://"),
        (
            vec!["fetch".into(), "http://alice@example.org".into()],
            "scheme",
        ),
        (
            vec!["fetch".into(), format!("pop3://127.0.0.1:{port}")],
            "user name",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3://alice:hunter2@127.0.0.1:{port}"),
            ],
            "password",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3://alice@127.0.0.1:{port}/INBOX"),
            ],
            "path",
        ),
        (
            vec!["fetch".into(), "pop3://alice@127.0.0.1:99999".into()],
            "invalid",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--insecure-no-tls".into(),
            ],
            "pop3://",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--tls-fingerprint".into(),
                "md5:abcd".into(),
            ],
            "sha256",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--tls-fingerprint".into(),
                "sha256:abcd".into(),
            ],
            "64 hex",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--tls-ca-file".into(),
                "/nonexistent/ca.pem".into(),
            ],
            "tls-ca-file",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--timeout".into(),
                "0".into(),
            ],
            "timeout",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--timeout".into(),
                "soon".into(),
            ],
            "timeout",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--auth".into(),
                "kerberos".into(),
            ],
            "auth",
        ),
        (
            vec![
                "fetch".into(),
                format!("pop3s://alice@127.0.0.1:{port}"),
                "--password".into(),
                "x".into(),
            ],
            "--password",
        ),
        (vec!["frobnicate".into()], "frobnicate"),
    ];
    // A CA file that is there but holds no certificate, or a broken one, is found out before
    // connecting too (the TLS context itself is built only once connected).
    let no_cert = sb.path().join("no-cert.pem");
    std::fs::write(&no_cert, "just some text\n").unwrap();
    let broken = sb.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut cases = cases;
    for (file, needle) in [
        (&no_cert, "no PEM certificate"),
        (&broken, "bad certificate"),
    ] {
        cases.push((
            vec![
                "fetch".into(),
                format!("imaps://alice@127.0.0.1:{port}"),
                "--tls-ca-file".into(),
                file.display().to_string(),
            ],
            needle,
        ));
    }
    for (args, needle) in cases {
        let mut c = sb.cmd(Some("secret"));
        c.args(&args);
        let out = run_with_limit(c, LIMIT);
        assert_exit(&out, 64, needle);
        assert!(
            !stderr(&out).contains("hunter2"),
            "password echoed: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        server.stats().connections,
        0,
        "a usage error must not connect"
    );
}

#[test]
fn fetch_without_targets_or_accounts_exits_78() {
    let sb = Sandbox::new();
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch");
    let out = run_with_limit(c, LIMIT);
    assert_exit(&out, 78, "no accounts configured");
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let sb = Sandbox::new();
    for args in [&["--help"][..], &["fetch", "--help"], &["--version"]] {
        let mut c = sb.cmd(None);
        c.args(args);
        let out = run_with_limit(c, LIMIT);
        assert_eq!(code(&out), 0);
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn no_password_source_without_a_terminal_exits_78_without_connecting() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    let out = run_with_limit(fetch(&sb, None, &server.url(), &[]), LIMIT);
    assert_exit(&out, 78, "MAILPULL_PASSWORD");
    assert_eq!(server.stats().connections, 0);
}

#[test]
fn password_command_first_line_is_used() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(2, 100));
    let out = run_with_limit(
        fetch(
            &sb,
            None,
            &server.url(),
            &["--password-command", "printf 'secret\\nnot this\\n'"],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(maildir_messages(&sb.maildir()).len(), 2);
    assert!(server.mailbox().is_empty());
}

#[test]
fn failing_or_silent_password_commands_exit_78_without_connecting() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    for (cmd, needle) in [
        ("exit 3", "failed"),
        ("true", "no password"),
        ("printf '\\n'", "no password"),
    ] {
        let out = run_with_limit(
            fetch(&sb, None, &server.url(), &["--password-command", cmd]),
            LIMIT,
        );
        assert_exit(&out, 78, needle);
    }
    assert_eq!(server.stats().connections, 0);
    assert_eq!(server.mailbox().len(), 1);
}

#[test]
fn corrupt_ledger_exits_74_and_touches_nothing() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(3, 100));
    std::fs::write(sb.ledger(), vec![b'x'; 8192]).unwrap();
    let out = run_with_limit(fetch(&sb, Some("secret"), &server.url(), &[]), LIMIT);
    assert_exit(&out, 74, "ledger");
    assert_eq!(
        server.stats().connections,
        0,
        "never fetch without a ledger"
    );
    assert_eq!(server.mailbox().len(), 3);
    assert!(maildir_messages(&sb.maildir()).is_empty());
    // The damaged file is left for the user to inspect, not replaced.
    assert_eq!(std::fs::read(sb.ledger()).unwrap(), vec![b'x'; 8192]);
}

#[test]
fn damaged_ledger_pages_stop_the_run_before_the_login() {
    // A ledger whose header and schema read fine but whose last pages are garbage: the
    // integrity check, which runs while the connection is made, stops the run before the
    // login, and nothing is fetched or misfiled.
    let sb = Sandbox::new();
    let server = Scripted::start(messages(400, 100));
    let out = run_with_limit(
        fetch(&sb, Some("secret"), &server.url(), &["--keep"]),
        LIMIT,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(maildir_messages(&sb.maildir()).len(), 400);
    let mut bytes = std::fs::read(sb.ledger()).unwrap();
    assert!(bytes.len() > 16 * 4096, "{} bytes", bytes.len());
    let from = bytes.len() - 3 * 4096;
    bytes[from..].fill(0xAA);
    std::fs::write(sb.ledger(), &bytes).unwrap();
    let logins = server.stats().logins;

    // Delete mode now: a run that logged in would delete the 400 messages it delivered.
    let out = run_with_limit(fetch(&sb, Some("secret"), &server.url(), &[]), LIMIT);
    assert_exit(&out, 74, "integrity check failed");
    let stats = server.stats();
    assert_eq!(stats.logins, logins, "no login with a damaged ledger");
    assert!(stats.deleted.is_empty());
    assert_eq!(
        maildir_messages(&sb.maildir()).len(),
        400,
        "nothing fetched"
    );
    assert_eq!(server.mailbox().len(), 400);
    // The damaged file is left for the user to inspect.
    assert_eq!(std::fs::read(sb.ledger()).unwrap(), bytes);
}

#[test]
fn ledger_from_a_newer_mailpull_exits_78() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    {
        let conn = rusqlite::Connection::open(sb.ledger()).unwrap();
        conn.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let out = run_with_limit(fetch(&sb, Some("secret"), &server.url(), &[]), LIMIT);
    assert_exit(&out, 78, "newer");
    assert_eq!(server.stats().connections, 0);
}

#[test]
fn unusable_ledger_location_exits_74() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    let blocker = sb.path().join("not-a-dir");
    std::fs::write(&blocker, b"file").unwrap();
    let mut c = fetch(&sb, Some("secret"), &server.url(), &[]);
    c.arg("--ledger").arg(blocker.join("ledger.sqlite"));
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 74, "{}", stderr(&out));
    assert_eq!(server.mailbox().len(), 1);
}

#[test]
fn maildir_that_is_a_file_exits_74_and_deletes_nothing() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(3, 100));
    std::fs::write(sb.maildir(), b"i am a file").unwrap();
    let out = run_with_limit(fetch(&sb, Some("secret"), &server.url(), &[]), LIMIT);
    assert_exit(&out, 74, "maildir");
    assert_eq!(server.mailbox().len(), 3);
}

#[test]
fn output_is_silent_off_a_terminal_and_verbose_shows_the_summary() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(3, 100));
    let out = run_with_limit(
        fetch(&sb, Some("secret"), &server.url(), &["--keep"]),
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    assert!(out.stdout.is_empty());
    // Only the plaintext warning for --insecure-no-tls; no progress, no summary.
    assert!(!stderr(&out).contains("new message"), "{}", stderr(&out));
    server.mailbox();
    let sb2 = Sandbox::new();
    let out = run_with_limit(
        fetch(&sb2, Some("secret"), &server.url(), &["--keep", "-v"]),
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert!(err.contains("3 new messages"), "{err}");
    assert!(err.contains("alice@127.0.0.1"), "{err}");
    assert!(err.contains("C: UIDL"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    let out = run_with_limit(
        fetch(&sb2, Some("secret"), &server.url(), &["--keep", "-q"]),
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

/// Mounts a tmpfs of `kib` KiB at `dir`; false when that is not possible (not root).
fn mount_tmpfs(dir: &Path, kib: u64) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o"])
        .arg(format!("size={kib}k"))
        .arg("tmpfs")
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn full_disk_exits_74_loses_nothing_and_a_rerun_finishes() {
    let sb = Sandbox::new();
    let disk = sb.path().join("disk");
    if !mount_tmpfs(&disk, 400) {
        if std::env::var("MAILPULL_REQUIRE_TMPFS").as_deref() == Ok("1") {
            panic!("cannot mount a tmpfs (MAILPULL_REQUIRE_TMPFS=1)");
        }
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let _guard = Mounted(&disk);
    let msgs = messages(8, 100_000);
    let server = Scripted::start(msgs.clone());
    let maildir = disk.join("Maildir");
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(server.url())
        .args(["--insecure-no-tls", "--timeout", "5", "--maildir"])
        .arg(&maildir);
    let out = run_with_limit(c, LIMIT);
    assert_exit(&out, 74, "no space");
    assert_eq!(tmp_count(&maildir), 0, "partial file left in tmp/");
    let delivered = maildir_messages(&maildir);
    assert!(
        delivered.len() < msgs.len(),
        "the disk was meant to fill up"
    );
    let expected: Vec<Vec<u8>> = msgs.iter().map(|m| expected_delivery(&m.raw)).collect();
    for body in delivered.values() {
        assert!(
            expected.contains(body),
            "a delivered message is not complete"
        );
    }
    // Exactly the delivered messages left the server.
    assert_eq!(server.mailbox().len(), msgs.len() - delivered.len());
    let left: Vec<String> = server.uidls();
    let gone: Vec<&Message> = msgs.iter().filter(|m| !left.contains(&m.uidl)).collect();

    // Make room and run again: everything arrives exactly once.
    let ok = Command::new("mount")
        .args(["-o", "remount,size=4096k"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(server.url())
        .args(["--insecure-no-tls", "--timeout", "5", "--maildir"])
        .arg(&maildir);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut got: Vec<Vec<u8>> = maildir_messages(&maildir).into_values().collect();
    let mut want = expected.clone();
    got.sort();
    want.sort();
    assert!(got == want, "every message exactly once");
    assert!(server.mailbox().is_empty());
    // What was delivered before the disk filled up was not downloaded again.
    for m in gone {
        assert_eq!(server.stats().fetched_of(&m.uidl), 1, "{}", m.uidl);
    }
}

/// Durations and sizes out of range are usage errors (exit 64) before anything connects —
/// never a panic (`--mda-timeout 18446744073709551615` used to overflow the MDA's deadline
/// after the message was downloaded, `watch --every 300000000000y` the watcher's sleep).
#[test]
fn huge_durations_and_sizes_in_flags_exit_64_before_connecting() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let huge = "18446744073709551615";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "fetch",
                &url,
                "--mda",
                "cat >/dev/null",
                "--mda-timeout",
                huge,
            ],
            "--mda-timeout",
        ),
        (vec!["fetch", &url, "--timeout", huge], "--timeout"),
        (vec!["fetch", &url, "--timeout", "31622401"], "366 days"),
        (vec!["fetch", &url, "--lock-wait", huge], "--lock-wait"),
        (vec!["check", &url, "--timeout", huge], "--timeout"),
        (vec!["list", &url, "--lock-wait", huge], "--lock-wait"),
        (vec!["fetch", &url, "--skip-larger-than", "20EiB"], "1 PiB"),
        (
            vec![
                "fetch",
                &url,
                "--delete-larger-than",
                "99999999999999999999",
            ],
            "not a size",
        ),
        (vec!["watch", &url, "--every", "300000000000y"], "--every"),
        (vec!["watch", &url, "--every", "367d"], "366 days"),
        (vec!["watch", &url, "--mda-timeout", huge], "--mda-timeout"),
    ];
    for (args, needle) in cases {
        let mut c = sb.cmd(Some("secret"));
        c.args(&args).arg("--insecure-no-tls");
        let out = run_with_limit(c, LIMIT);
        assert_exit(&out, 64, needle);
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    assert_eq!(
        server.stats().connections,
        0,
        "a usage error must not connect"
    );
    assert_eq!(server.mailbox().len(), 1);
}

/// The longest accepted values still work: a year-long MDA timeout delivers.
#[test]
fn the_longest_durations_accepted_still_work() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    let out_file = sb.path().join("delivered");
    let mda = format!("cat > {}", out_file.display());
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(server.url())
        .args(["--insecure-no-tls", "--mda", &mda])
        .args(["--mda-timeout", "31622400", "--timeout", "31622400"])
        .args(["--lock-wait", "31622400", "--keep"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(std::fs::metadata(&out_file).unwrap().len() > 0);
}

/// A panic is a bug: reported as an internal error with a request to report it, without
/// Rust's raw message or backtrace hint, terminal-safe, exit 70 (EX_SOFTWARE) — whether it
/// happens in the command itself or in one account's thread. (`MAILPULL_TEST_PANIC` is a
/// hook of debug builds.)
#[test]
fn a_panic_is_an_internal_error_with_exit_70() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(2, 100));
    let url = server.url();
    let maildir = sb.maildir().display().to_string();
    let plain = "--insecure-no-tls";
    for (at, args) in [
        ("main", vec!["accounts"]),
        ("account", vec!["fetch", &url, plain, "--maildir", &maildir]),
        ("account", vec!["check", &url, plain]),
        ("account", vec!["list", &url, plain]),
    ] {
        let mut c = sb.cmd(Some("secret"));
        c.env("MAILPULL_TEST_PANIC", at).args(&args);
        let out = run_with_limit(c, LIMIT);
        let err = stderr(&out);
        assert_eq!(code(&out), 70, "{at} {args:?}: {err}");
        assert!(
            err.contains("internal error") && err.contains("please report"),
            "{err}"
        );
        assert!(
            !err.contains("RUST_BACKTRACE") && !err.contains("panicked at"),
            "{err}"
        );
        assert!(!err.contains('\x1b'), "{err:?}");
    }
    // Nothing was fetched, and the account is free again.
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(server.url())
        .args(["--insecure-no-tls", "--maildir"])
        .arg(sb.maildir());
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(maildir_messages(&sb.maildir()).len(), 2);
}

/// In `watch`, an account whose thread panics is given up with an internal error; when no
/// account is left, the watch exits 70.
#[test]
fn a_panicking_watch_exits_70() {
    let sb = Sandbox::new();
    let server = Scripted::start(messages(1, 100));
    let mut c = sb.cmd(Some("secret"));
    c.env("MAILPULL_TEST_PANIC", "account")
        .arg("watch")
        .arg(server.url())
        .args(["--insecure-no-tls", "--every", "1h", "--maildir"])
        .arg(sb.maildir());
    let out = run_with_limit(c, LIMIT);
    let err = stderr(&out);
    assert_eq!(code(&out), 70, "{err}");
    assert!(
        err.contains("internal error") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

/// `--help` groups the options under headings (Connection, Authentication, Delivery,
/// Selection, Output), shows the global options (-v, -q, --config, --ledger) once, under their
/// own heading, and `\Seen` with one backslash — in the help and in the rendered man page.
#[test]
fn help_is_grouped_and_escaped() {
    let sb = Sandbox::new();
    let help = |args: &[&str]| {
        let mut c = sb.cmd(None);
        c.args(args);
        let out = run_with_limit(c, LIMIT);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    for args in [
        &["fetch", "--help"][..],
        &["fetch", "-h"],
        &["watch", "--help"],
    ] {
        let text = help(args);
        let heading = |h: &str| {
            text.lines()
                .position(|l| l == format!("{h}:"))
                .unwrap_or_else(|| panic!("{args:?}: no heading {h:?}:\n{text}"))
        };
        let connection = heading("Connection");
        let auth = heading("Authentication");
        let delivery = heading("Delivery");
        let selection = heading("Selection");
        let global = heading("Global options");
        assert!(
            connection < auth && auth < selection && selection < delivery && delivery < global,
            "{text}"
        );
        // Where an option is listed: under the heading before it.
        let under = |opt: &str| {
            let line = text
                .lines()
                .position(|l| {
                    l.trim_start().starts_with(opt)
                        || l.contains(&format!(" {opt} "))
                        || l.contains(&format!(", {opt}"))
                })
                .unwrap_or_else(|| panic!("{args:?}: no {opt}:\n{text}"));
            text.lines()
                .take(line)
                .filter(|l| l.ends_with(':') && !l.starts_with(' '))
                .last()
                .unwrap()
                .trim_end_matches(':')
                .to_string()
        };
        assert_eq!(under("--timeout"), "Connection");
        assert_eq!(under("--password-command"), "Authentication");
        assert_eq!(under("--maildir"), "Delivery");
        assert_eq!(under("--folder"), "Selection");
        assert_eq!(under("--verbose"), "Global options");
        assert_eq!(under("--config"), "Global options");
        for g in ["--verbose", "--quiet", "--config <PATH>", "--ledger <PATH>"] {
            assert_eq!(
                text.matches(g).count(),
                1,
                "{args:?}: {g} more than once:\n{text}"
            );
        }
        assert!(text.contains(r"set \Seen on"), "{text}");
        assert!(!text.contains(r"\\Seen"), "{text}");
    }
    assert_eq!(
        help(&["fetch", "--help"])
            .lines()
            .filter(|l| l.starts_with("Output:"))
            .count(),
        1
    );
    // The man page: in its source a backslash is written `\\` (roff's escape for one), never
    // `\\\\`; rendered (where nroff is installed) it shows one.
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/mailpull-fetch.1");
    let source = std::fs::read_to_string(&page).unwrap();
    assert!(source.contains(r"set \\Seen on"), "{source}");
    assert!(!source.contains(r"\\\\Seen"), "{source}");
    if let Ok(out) = Command::new("nroff").arg("-man").arg(&page).output() {
        if out.status.success() {
            // Justified lines: one space between words.
            let text = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(text.contains(r"set \Seen on"), "{text}");
            assert!(!text.contains(r"\\Seen"), "{text}");
        }
    }
}

/// `--insecure-no-tls` on an implicit-TLS URL is refused with a message that names both plain
/// schemes it applies to.
#[test]
fn insecure_no_tls_on_a_tls_url_names_pop3_and_imap() {
    let sb = Sandbox::new();
    for url in ["imaps://alice@127.0.0.1:1", "pop3s://alice@127.0.0.1:1"] {
        let mut c = sb.cmd(Some("secret"));
        c.args(["fetch", url, "--insecure-no-tls"]);
        let out = run_with_limit(c, LIMIT);
        assert_exit(&out, 64, "applies to pop3:// and imap://");
    }
}
