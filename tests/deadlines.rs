//! `--timeout` is a deadline, not a per-read timeout: a reply (greeting, status line, listing)
//! and the TLS handshake must be complete within it, and only a large reply may take longer,
//! while its bytes keep arriving at the minimum rate (see `mailpull::tls::MIN_RATE`).
//!
//! Each test runs the real binary against a tiny raw server (`common::raw`) that sends its
//! bytes slowly on purpose. Timings use wide margins: a test fails only when mailpull takes many
//! times the timeout, which is what the old per-read timeout did (a byte every 2 s kept it
//! waiting for ever).

mod common;

use std::fs::File;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::raw::{Dialog, Raw};
use common::run::{code, maildir_messages, run_with_limit, tmp_count, wait_with_limit, Sandbox};

/// The `--timeout` of these tests, in seconds.
const TIMEOUT: &str = "3";
/// How long a run that should time out may take: many times the timeout (a tight bound would
/// flake on a loaded machine; the old behaviour takes for ever).
const LIMIT: Duration = Duration::from_secs(45);
/// The pause between the bytes of a trickled reply: less than the timeout, so that a per-read
/// timeout never fires.
const TRICKLE: Duration = Duration::from_secs(2);

fn fetch(sb: &Sandbox, url: &str, extra: &[&str]) -> Command {
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(url)
        .args(["--timeout", TIMEOUT, "--maildir"])
        .arg(sb.maildir())
        .args(extra);
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_timed_out(out: &Output) {
    let err = stderr(out);
    assert_eq!(code(out), 75, "stderr:\n{err}");
    assert!(err.contains("in time"), "stderr should say why:\n{err}");
}

/// A POP3 server whose greeting never ends: `+OK ` and then a byte every 2 s.
fn trickled_pop3_greeting(d: Dialog) {
    let mut d = d;
    d.send(b"+OK ");
    d.trickle_forever(b'x', TRICKLE, 1000);
}

#[test]
fn a_trickled_pop3_greeting_times_out_and_frees_the_account() {
    let server = Raw::start(trickled_pop3_greeting);
    let sb = Sandbox::new();
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    // Two runs of the same account: the second waits for the first's lock, which the first
    // must give up when its deadline passes.
    let mut first = fetch(&sb, &url, &["--insecure-no-tls"]);
    first.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let first = first.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let second = run_with_limit(
        fetch(&sb, &url, &["--insecure-no-tls", "--lock-wait", "40"]),
        LIMIT,
    );
    let first = wait_with_limit(first, LIMIT);
    assert_timed_out(&first);
    assert_timed_out(&second);
    assert!(
        start.elapsed() < LIMIT,
        "two runs took {:?}",
        start.elapsed()
    );
    assert!(stderr(&first).contains("greeting"), "{}", stderr(&first));
}

#[test]
fn a_trickled_imap_greeting_times_out() {
    let server = Raw::start(|mut d: Dialog| {
        d.send(b"* OK ");
        d.trickle_forever(b'x', TRICKLE, 1000);
    });
    let sb = Sandbox::new();
    let url = format!("imap://alice@127.0.0.1:{}", server.port());
    let out = run_with_limit(fetch(&sb, &url, &["--insecure-no-tls"]), LIMIT);
    assert_timed_out(&out);
}

/// The server side of a TLS handshake that never finishes: it reads the ClientHello, then
/// sends the header of a 16 KiB handshake record and its body a byte every 2 s.
fn stalled_handshake(d: &mut Dialog) {
    d.receive();
    d.send(&[0x16, 0x03, 0x03, 0x40, 0x00]);
    d.trickle_forever(0, TRICKLE, 1000);
}

#[test]
fn a_stalled_tls_handshake_times_out() {
    let server = Raw::start(|mut d: Dialog| stalled_handshake(&mut d));
    let sb = Sandbox::new();
    let url = format!("pop3s://alice@127.0.0.1:{}", server.port());
    let out = run_with_limit(fetch(&sb, &url, &[]), LIMIT);
    assert_timed_out(&out);
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));
}

#[test]
fn a_stalled_stls_handshake_times_out() {
    let server = Raw::start(|mut d: Dialog| {
        d.send(b"+OK ready\r\n");
        while let Some(cmd) = d.command() {
            match cmd.as_str() {
                "CAPA" => d.send(b"+OK\r\nUSER\r\nSTLS\r\n.\r\n"),
                "STLS" => {
                    d.send(b"+OK go ahead\r\n");
                    return stalled_handshake(&mut d);
                }
                _ => d.send(b"-ERR no\r\n"),
            }
        }
    });
    let sb = Sandbox::new();
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let out = run_with_limit(fetch(&sb, &url, &[]), LIMIT);
    assert_timed_out(&out);
}

/// A message of `size` bytes (CRLF lines).
fn message(size: usize) -> Vec<u8> {
    let mut m = b"Subject: slow\r\n\r\n".to_vec();
    let mut i = 0;
    while m.len() < size {
        m.extend_from_slice(
            format!("line {i:08} of a message sent slowly ........\r\n").as_bytes(),
        );
        i += 1;
    }
    m.truncate(size - 2);
    m.extend_from_slice(b"\r\n");
    m
}

/// A POP3 server with one message whose RETR reply is sent by `body(dialog, message)`.
fn pop3_with_body(size: usize, body: fn(&mut Dialog, &[u8])) -> Raw {
    Raw::start(move |mut d: Dialog| {
        let msg = message(size);
        d.pop3(b"+OK ready\r\n", msg.len(), &mut |d| {
            d.send(b"+OK\r\n");
            body(d, &msg);
        });
    })
}

#[test]
fn a_body_streamed_steadily_may_take_longer_than_the_timeout() {
    // 640 kB in 40 pieces 125 ms apart: 5 s at ~128 kB/s, well above the minimum rate, and
    // longer than the 3 s timeout.
    let server = pop3_with_body(640_000, |d, msg| {
        d.stream_lines(msg, msg.len(), 16_000, Duration::from_millis(125));
        d.send(b".\r\n");
    });
    let sb = Sandbox::new();
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let start = Instant::now();
    let out = run_with_limit(fetch(&sb, &url, &["--insecure-no-tls"]), LIMIT);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    assert!(start.elapsed() > Duration::from_secs(3));
    let got = maildir_messages(&sb.maildir());
    assert_eq!(got.len(), 1);
    let want = common::run::expected_delivery(&message(640_000));
    assert_eq!(got.into_values().next().unwrap(), want);
}

#[test]
fn a_body_that_stalls_midway_fails() {
    let server = pop3_with_body(200_000, |d, msg| {
        d.send(&msg[..100_000]);
        d.hold();
    });
    let sb = Sandbox::new();
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let out = run_with_limit(fetch(&sb, &url, &["--insecure-no-tls"]), LIMIT);
    assert_eq!(code(&out), 75, "stderr:\n{}", stderr(&out));
    assert!(maildir_messages(&sb.maildir()).is_empty());
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

#[test]
fn a_body_that_trickles_midway_fails() {
    // Half the message at once, then a byte every second: each read gets a byte well within
    // the timeout, but the reply falls ever further behind the minimum rate.
    let server = pop3_with_body(200_000, |d, msg| {
        d.send(&msg[..100_000]);
        d.trickle(&msg[100_000..], Duration::from_secs(1));
    });
    let sb = Sandbox::new();
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let out = run_with_limit(fetch(&sb, &url, &["--insecure-no-tls"]), LIMIT);
    assert_eq!(code(&out), 75, "stderr:\n{}", stderr(&out));
    assert!(maildir_messages(&sb.maildir()).is_empty());
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

#[test]
fn watch_applies_the_same_deadline() {
    let server = Raw::start(trickled_pop3_greeting);
    let sb = Sandbox::new();
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let log = sb.path().join("watch.log");
    let mut cmd = sb.cmd(Some("secret"));
    cmd.arg("watch")
        .arg(&url)
        .args(["--insecure-no-tls", "--timeout", TIMEOUT, "--every", "1h"])
        .arg("--maildir")
        .arg(sb.maildir())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let seen = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("in time") {
            break true;
        }
        if start.elapsed() > LIMIT || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: kill with the pid of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = wait_with_limit(child, LIMIT);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(seen, "no timeout reported within {LIMIT:?}:\n{text}");
    assert!(text.contains("trying again"), "{text}");
    assert_eq!(code(&out), 0, "{text}");
}

/// An IMAP IDLE waits far longer than `--timeout` on purpose: the deadline is suspended while
/// idling (the contract of `tls::ReadTimeout`), so a watch with `--timeout 2` idles for many
/// times that without a single timeout, and still fetches new mail within seconds.
#[test]
fn an_imap_idle_outlasts_the_timeout() {
    use common::dovecot::Dovecot;
    let Some(d) = Dovecot::start_with("mailbox_idle_check_interval = 1 secs\n") else {
        return;
    };
    let sb = Sandbox::new();
    let log = sb.path().join("watch.log");
    let mut cmd = sb.cmd(Some("secret"));
    cmd.arg("watch")
        .arg(d.imaps_url("alice"))
        .args(["--timeout", "2", "--every", "1h", "-v", "--maildir"])
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap());
    let child = cmd.spawn().unwrap();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < LIMIT, "no {what}:\n{}", text());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("IDLE", &|| text().contains("with IDLE"));
    // Five times the timeout in IDLE.
    std::thread::sleep(Duration::from_secs(10));
    d.add_message("alice", b"Subject: after a long IDLE\r\n\r\nhi\r\n");
    wait_for("message", &|| maildir_messages(&sb.maildir()).len() == 1);
    // SAFETY: kill with the pid of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = wait_with_limit(child, LIMIT);
    let log = text();
    assert_eq!(code(&out), 0, "{log}");
    assert!(!log.contains("in time") && !log.contains("error"), "{log}");
}
