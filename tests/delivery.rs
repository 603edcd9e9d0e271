//! Delivery targets against the real Dovecot: Maildir and mbox accounts in parallel, the mbox
//! read back by a real mbox reader, locking against another writer, failing MDAs, and stdout
//! into a pipe that closes early.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::dovecot::Dovecot;
use common::run::{code, expected_delivery, maildir_messages, run_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(60);

/// Messages with the lines mbox formats trip over.
fn tricky(n: usize, tag: &str) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "Return-Path: <sender{i}@example.org>\r\nFrom: Sender <sender{i}@example.org>\r\n\
                 Subject: {tag} {i}\r\nMessage-ID: <{tag}.{i}@test>\r\n\r\n\
                 From the start of a line.\r\n>From an already quoted line.\r\n>>From twice.\r\n\
                 Fromage is not a separator.\r\n\r\nFrom \r\nlast line {i}\r\n"
            )
            .into_bytes()
        })
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fetch(sb: &Sandbox, d: &Dovecot, user: &str, args: &[&str]) -> Command {
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(d.pop3s_url(user))
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .args(args);
    c
}

/// Reads an mbox with Python's `mailbox` module and undoes one level of mboxrd quoting.
fn read_mbox_with_python(path: &Path) -> Vec<Vec<u8>> {
    let script = r#"
import mailbox, sys, base64
for m in mailbox.mbox(sys.argv[1], create=False):
    print(base64.b64encode(m.as_bytes(unixfrom=False)).decode())
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 is needed to read the mbox back");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let raw = base64_decode(l);
            unquote_mboxrd(&raw)
        })
        .collect()
}

fn base64_decode(s: &str) -> Vec<u8> {
    common::scripted::base64_decode(s).expect("base64 from python")
}

/// mboxrd: a line `>+From ` loses one `>`.
fn unquote_mboxrd(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len());
    for line in msg.split_inclusive(|b| *b == b'\n') {
        let gts = line.iter().take_while(|b| **b == b'>').count();
        if gts > 0 && line[gts..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

#[test]
fn maildir_and_mbox_accounts_in_parallel_byte_exact() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let alice = tricky(6, "alice");
    let bob = tricky(4, "bob");
    for m in &alice {
        d.add_message("alice", m);
    }
    for m in &bob {
        d.add_message("bob", m);
    }
    let mbox = sb.path().join("mail").join("bob.mbox");
    let cfg = sb.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ntls_ca_file = \"{ca}\"\npassword = \"secret\"\n\
             [account.alice]\nurl = \"{ua}\"\ndeliver = {{ maildir = \"{md}\" }}\n\
             [account.bob]\nurl = \"{ub}\"\ndeliver = {{ mbox = \"{mb}\" }}\n",
            ca = d.ca_file().display(),
            ua = d.pop3s_url("alice"),
            ub = d.pop3s_url("bob"),
            md = sb.maildir().display(),
            mb = mbox.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = sb.cmd(None);
    c.env("MAILPULL_CONFIG", &cfg)
        .args(["fetch", "--jobs", "2"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let want_alice = sorted(alice.iter().map(|m| expected_delivery(m)).collect());
    let got_alice = sorted(maildir_messages(&sb.maildir()).into_values().collect());
    assert!(got_alice == want_alice, "Maildir differs");

    let want_bob = sorted(bob.iter().map(|m| expected_delivery(m)).collect());
    let got_bob = sorted(read_mbox_with_python(&mbox));
    assert_eq!(got_bob.len(), want_bob.len());
    for (g, w) in got_bob.iter().zip(&want_bob) {
        assert!(
            g == w,
            "mbox message differs:\n--- got\n{}\n--- want\n{}",
            String::from_utf8_lossy(g),
            String::from_utf8_lossy(w)
        );
    }
    // The separators carry the envelope sender from Return-Path.
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert!(
        text.starts_with("From sender"),
        "{}",
        &text[..80.min(text.len())]
    );
    assert_eq!(d.server_count("alice") + d.server_count("bob"), 0);

    // Another run appends nothing; a new message is appended after the others.
    d.add_message("bob", &tricky(1, "later")[0]);
    let mut c = sb.cmd(None);
    c.env("MAILPULL_CONFIG", &cfg).args(["fetch", "bob"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = read_mbox_with_python(&mbox);
    assert_eq!(got.len(), 5);
    assert_eq!(got[4], expected_delivery(&tricky(1, "later")[0]));
}

#[test]
fn mbox_waits_for_a_dotlock_and_an_fcntl_lock_and_never_interleaves() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for m in tricky(3, "locked") {
        d.add_message("alice", &m);
    }
    let mbox = sb.path().join("box");
    std::fs::write(&mbox, b"").unwrap();

    // 1. Another program holds the dotlock for 1.5 s.
    let lock = PathBuf::from(format!("{}.lock", mbox.display()));
    std::fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    let remover = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            std::fs::remove_file(lock).unwrap();
        })
    };
    let start = Instant::now();
    let mut c = fetch(&sb, &d, "alice", &["--keep", "--mbox"]);
    c.arg(&mbox);
    let out = run_with_limit(c, LIMIT);
    remover.join().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        start.elapsed() >= Duration::from_millis(1400),
        "did not wait for the dotlock"
    );
    assert_eq!(read_mbox_with_python(&mbox).len(), 3);

    // 2. A writer holding an fcntl lock appends its own message while mailpull waits.
    for m in tricky(2, "second") {
        d.add_message("alice", &m);
    }
    let mut holder = Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(1.5)
f.write("From other@example.org Mon Jan  1 00:00:00 2024\nSubject: other\n\nwritten by another program\n\n")
f.flush()
"#,
        )
        .arg(&mbox)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let start = Instant::now();
    let mut c = fetch(&sb, &d, "alice", &["--keep", "--mbox"]);
    c.arg(&mbox);
    let out = run_with_limit(c, LIMIT);
    assert!(holder.wait().unwrap().success());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "did not wait for the fcntl lock"
    );
    let msgs = read_mbox_with_python(&mbox);
    assert_eq!(msgs.len(), 6, "3 + the other program's + 2");
    assert!(String::from_utf8_lossy(&msgs[3]).contains("written by another program"));
    for m in &msgs[4..] {
        assert!(
            String::from_utf8_lossy(m).contains("Subject: second"),
            "interleaved"
        );
    }
}

#[test]
fn failing_killed_and_hanging_mdas_keep_the_message_on_the_server() {
    let Some(d) = Dovecot::start() else { return };
    for (mda, needle) in [
        (
            "cat >/dev/null; echo 'procmail: no such folder' >&2; exit 1",
            "no such folder",
        ),
        ("kill -9 $$", "signal"),
        ("sleep 30", "timed out"),
    ] {
        let sb = Sandbox::new();
        for m in tricky(2, "mda") {
            d.add_message("alice", &m);
        }
        let before = d.server_count("alice");
        let start = Instant::now();
        let out = run_with_limit(
            fetch(&sb, &d, "alice", &["--mda", mda, "--mda-timeout", "1"]),
            LIMIT,
        );
        let err = stderr(&out);
        assert_eq!(code(&out), 74, "{mda}: {err}");
        assert!(
            err.contains(needle),
            "{mda}: stderr should show {needle:?}:\n{err}"
        );
        assert!(err.contains("stay on the server"), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{mda} took {:?}",
            start.elapsed()
        );
        assert_eq!(
            d.server_count("alice"),
            before,
            "{mda}: nothing may be deleted"
        );
        // Nothing is recorded: a working MDA gets every message next time.
        let out_file = sb.path().join("delivered");
        let ok = format!(
            "cat >> {}; echo >> {}",
            out_file.display(),
            out_file.display()
        );
        let out = run_with_limit(fetch(&sb, &d, "alice", &["--mda", &ok]), LIMIT);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(d.server_count("alice"), 0);
        let text = std::fs::read_to_string(&out_file).unwrap();
        assert_eq!(text.matches("Subject: mda").count(), before, "{text}");
    }
}

#[test]
fn mda_gets_the_message_and_the_sender_safely_quoted() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let raw =
        b"Return-Path: <o'brien$(touch pwned)@example.org>\r\nSubject: quoting\r\n\r\nbody\r\n";
    d.add_message("alice", raw);
    let out_dir = sb.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let mda = format!(
        "cd {}; printf '%s' %F > sender; cat > message",
        out_dir.display()
    );
    let out = run_with_limit(fetch(&sb, &d, "alice", &["--mda", &mda]), LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("sender")).unwrap(),
        "o'brien$(touch pwned)@example.org"
    );
    assert!(!out_dir.join("pwned").exists(), "the sender was executed");
    assert_eq!(
        std::fs::read(out_dir.join("message")).unwrap(),
        expected_delivery(raw)
    );
}

#[test]
fn stdout_into_a_pipe_that_closes_early_stops_cleanly_and_loses_nothing() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let msgs: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            let mut m = format!("Subject: piped {i}\r\n\r\n").into_bytes();
            for _ in 0..200 {
                m.extend_from_slice(b"a line of text in a message written to a pipe\r\n");
            }
            m
        })
        .collect();
    for m in &msgs {
        d.add_message("alice", m);
    }
    // mailpull | head -c 100: head exits after 100 bytes and the pipe closes.
    let mut c = fetch(&sb, &d, "alice", &["--stdout"]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let head = Command::new("head")
        .args(["-c", "100"])
        .stdin(child.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::run::wait_with_limit(child, LIMIT);
    let head_out = head.wait_with_output().unwrap();
    assert_eq!(head_out.stdout.len(), 100);
    assert_eq!(
        code(&out),
        0,
        "a closed pipe is a clean stop: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let left = d.server_count("alice");
    assert!(left > 0, "the run must stop when the reader goes away");

    // A later run delivers exactly the rest.
    let mut c = fetch(&sb, &d, "alice", &["--stdout"]);
    c.stdout(Stdio::piped());
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stream = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stream.matches("\nSubject: piped ").count(),
        left,
        "each remaining message once"
    );
    assert_eq!(d.server_count("alice"), 0);
}

#[test]
fn json_and_stdout_together_are_refused() {
    let sb = Sandbox::new();
    let mut c = sb.cmd(Some("secret"));
    c.args(["fetch", "pop3s://alice@127.0.0.1:1", "--stdout", "--json"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("--json"), "{}", stderr(&out));
}
