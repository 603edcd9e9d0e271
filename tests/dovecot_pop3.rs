//! End-to-end tests of `mailpull fetch` against a real Dovecot POP3 server.
//!
//! Each test starts its own private Dovecot (see `common::dovecot`); when Dovecot is not
//! installed the tests print `skipped: dovecot not installed` and pass, unless
//! `MAILPULL_REQUIRE_DOVECOT=1`.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::dovecot::{assert_same_messages, generated_message, Dovecot, CAROL_PASSWORD};
use common::run::{code, expected_delivery, maildir_messages, run_with_limit, tmp_count, Sandbox};

const LIMIT: Duration = Duration::from_secs(180);

/// `mailpull fetch URL --maildir <sandbox>/Maildir ARGS...` with the password in the env.
fn fetch_cmd(sb: &Sandbox, password: &str, url: &str, args: &[&str]) -> Command {
    let mut c = sb.cmd(Some(password));
    c.arg("fetch").arg(url).arg("--maildir").arg(sb.maildir());
    c.args(args);
    c
}

fn fetch(sb: &Sandbox, url: &str, args: &[&str]) -> Output {
    run_with_limit(fetch_cmd(sb, "secret", url, args), LIMIT)
}

fn ca_args(d: &Dovecot) -> Vec<String> {
    vec![
        "--tls-ca-file".to_string(),
        d.ca_file().to_string_lossy().into_owned(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Asserts an exit status, showing stderr and the server log otherwise.
#[track_caller]
fn assert_exit(out: &Output, want: i32, d: &Dovecot) {
    let got = code(out);
    assert_eq!(
        got,
        want,
        "exit {got}, wanted {want}\n--- stdout\n{}\n--- stderr\n{}\n--- dovecot\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&d.logs(), 4000)
    );
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn delivered(sb: &Sandbox) -> Vec<Vec<u8>> {
    maildir_messages(&sb.maildir()).into_values().collect()
}

fn expected(raw: &[Vec<u8>]) -> Vec<Vec<u8>> {
    raw.iter().map(|m| expected_delivery(m)).collect()
}

/// Messages that exercise the wire format: dot-stuffing, line ends, 8-bit headers, long lines,
/// missing final newline, empty body.
fn tricky_messages() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        // Lines starting with dots, a lone dot line, a ".." line, a dot line at the very end.
        b"From: a@example.org\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n...\r\n. space\r\nend\r\n.\r\n".to_vec(),
        // CRLF input.
        b"From: b@example.org\r\nSubject: crlf\r\n\r\nline one\r\nline two\r\n\r\nafter blank\r\n".to_vec(),
        // Bare-LF input, with a dot line too.
        b"From: c@example.org\nSubject: bare lf\n\nline one\n.dotted\n.\nlast\n".to_vec(),
        // 8-bit headers: UTF-8 and Latin-1.
        "From: Jürgen Groß <j@example.org>\r\nSubject: Grüße aus Köln – ✓\r\n\r\nUTF-8 body: naïve café\r\n"
            .as_bytes()
            .to_vec(),
        b"From: Fran\xe7ois <f@example.org>\r\nSubject: caf\xe9 cr\xe8me br\xfbl\xe9e\r\n\r\nLatin-1 body: \xe0 bient\xf4t\r\n".to_vec(),
        // No final newline.
        b"From: d@example.org\r\nSubject: no final newline\r\n\r\nthe last line has no end".to_vec(),
        // Empty body.
        b"From: e@example.org\r\nSubject: empty body\r\n\r\n".to_vec(),
    ];
    // A 5000-byte line (over the 998 limit of RFC 5322), starting with a dot.
    let mut long = b"From: f@example.org\r\nSubject: long line\r\n\r\n.".to_vec();
    long.extend(std::iter::repeat_n(b'x', 4999));
    long.extend_from_slice(b"\r\nshort line\r\n");
    v.push(long);
    // A long line with bare LF and no final newline.
    let mut long_lf = b"From: g@example.org\nSubject: long lf\n\n".to_vec();
    long_lf.extend((0..6000).map(|i| b"abcdefghij"[i % 10]));
    v.push(long_lf);
    v
}

/// Puts `msgs` on alice's mailbox, fetches with `url` and `args`, and checks delete-mode
/// results: exit 0, exactly the expected messages delivered, tmp/ empty, server empty.
fn fetch_and_check(d: &Dovecot, msgs: &[Vec<u8>], url: &str, args: &[&str]) {
    for m in msgs {
        d.add_message("alice", m);
    }
    let sb = Sandbox::new();
    let out = fetch(&sb, url, args);
    assert_exit(&out, 0, d);
    assert_same_messages("delivered", delivered(&sb), expected(msgs));
    assert_eq!(tmp_count(&sb.maildir()), 0, "tmp/ not empty");
    assert_eq!(d.server_count("alice"), 0, "server not emptied");
}

#[test]
fn pop3s_delivers_tricky_messages_exactly() {
    let Some(d) = Dovecot::start() else { return };
    let ca = ca_args(&d);
    fetch_and_check(&d, &tricky_messages(), &d.pop3s_url("alice"), &strs(&ca));
}

#[test]
fn pop3_stls_delivers_tricky_messages_exactly() {
    let Some(d) = Dovecot::start() else { return };
    let ca = ca_args(&d);
    fetch_and_check(&d, &tricky_messages(), &d.pop3_url("alice"), &strs(&ca));
}

#[test]
fn pop3s_delivers_a_20_mb_message() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(20);
    let big = generated_message(1, 20 << 20, &mut rng);
    let small = generated_message(2, 3000, &mut rng);
    let ca = ca_args(&d);
    fetch_and_check(&d, &[big, small], &d.pop3s_url("alice"), &strs(&ca));
}

#[test]
fn keep_mode_downloads_each_message_once() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut msgs: Vec<Vec<u8>> = (0..20)
        .map(|i| generated_message(i, 500 + i as usize * 300, &mut rng))
        .collect();
    msgs.extend(tricky_messages());
    for m in &msgs {
        d.add_message("alice", m);
    }
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let mut args = ca_args(&d);
    args.push("--keep".into());

    // First run: everything, and the server keeps it all.
    let out = fetch(&sb, &url, &strs(&args));
    assert_exit(&out, 0, &d);
    assert_same_messages("first run", delivered(&sb), expected(&msgs));
    assert_same_messages(
        "server after first run",
        d.server_messages("alice"),
        msgs.clone(),
    );

    // Second run: nothing new.
    let out = fetch(&sb, &url, &strs(&args));
    assert_exit(&out, 0, &d);
    assert_same_messages("second run", delivered(&sb), expected(&msgs));
    assert_eq!(tmp_count(&sb.maildir()), 0);

    // A new message on the server: exactly that one comes.
    let new = generated_message(1000, 4000, &mut rng);
    d.add_message("alice", &new);
    let before = maildir_messages(&sb.maildir());
    let out = fetch(&sb, &url, &strs(&args));
    assert_exit(&out, 0, &d);
    let after = maildir_messages(&sb.maildir());
    let added: Vec<Vec<u8>> = after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, v)| v.clone())
        .collect();
    assert_same_messages("third run, new files", added, vec![expected_delivery(&new)]);
    msgs.push(new);
    assert_same_messages("third run", delivered(&sb), expected(&msgs));
    assert_same_messages("server after third run", d.server_messages("alice"), msgs);
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

#[test]
fn kept_mailbox_switched_to_delete_mode_downloads_nothing_new() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(2);
    let msgs: Vec<Vec<u8>> = (0..30)
        .map(|i| generated_message(i, rng.usize(200..20_000), &mut rng))
        .collect();
    d.add_messages("alice", &msgs);
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let ca = ca_args(&d);
    let mut keep = ca.clone();
    keep.push("--keep".into());

    let out = fetch(&sb, &url, &strs(&keep));
    assert_exit(&out, 0, &d);
    assert_same_messages("keep run", delivered(&sb), expected(&msgs));
    assert_eq!(d.server_count("alice"), msgs.len());

    let out = fetch(&sb, &url, &strs(&ca));
    assert_exit(&out, 0, &d);
    assert_same_messages("delete run", delivered(&sb), expected(&msgs));
    assert_eq!(
        d.server_count("alice"),
        0,
        "server not emptied by the delete run"
    );
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

#[test]
fn wrong_password_exits_77_and_delivers_nothing() {
    let Some(d) = Dovecot::start() else { return };
    let msgs = tricky_messages();
    d.add_messages("alice", &msgs);
    let sb = Sandbox::new();
    let ca = ca_args(&d);
    for url in [d.pop3s_url("alice"), d.pop3_url("alice")] {
        let out = run_with_limit(fetch_cmd(&sb, "not-the-password", &url, &strs(&ca)), LIMIT);
        assert_exit(&out, 77, &d);
        assert!(delivered(&sb).is_empty(), "delivered despite failed login");
        assert_eq!(tmp_count(&sb.maildir()), 0);
    }
    assert_same_messages("server", d.server_messages("alice"), msgs);
}

#[test]
fn untrusted_certificate_is_refused_and_pins_are_checked() {
    let Some(d) = Dovecot::start() else { return };
    let msgs = tricky_messages();
    d.add_messages("alice", &msgs);

    // No CA file, no pin: the self-signed certificate is not trusted, on either port.
    for url in [d.pop3s_url("alice"), d.pop3_url("alice")] {
        let sb = Sandbox::new();
        let out = fetch(&sb, &url, &[]);
        assert_exit(&out, 69, &d);
        assert!(
            delivered(&sb).is_empty(),
            "delivered over an untrusted channel"
        );
    }

    // A wrong pin.
    let right = d.cert_sha256();
    let hex = right.strip_prefix("sha256:").unwrap();
    let flipped: String = hex
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == '0' {
                    '1'
                } else {
                    '0'
                }
            } else {
                c
            }
        })
        .collect();
    let wrong = format!("sha256:{flipped}");
    for url in [d.pop3s_url("alice"), d.pop3_url("alice")] {
        let sb = Sandbox::new();
        let out = fetch(&sb, &url, &["--tls-fingerprint", &wrong]);
        assert_exit(&out, 69, &d);
        assert!(
            delivered(&sb).is_empty(),
            "delivered despite a pin mismatch"
        );
    }
    assert_same_messages(
        "server after refusals",
        d.server_messages("alice"),
        msgs.clone(),
    );

    // The right pin, in the form `openssl x509 -fingerprint` prints (upper case, colons).
    let colons: Vec<String> = hex
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let openssl_style = format!("sha256:{}", colons.join(":"));
    let sb = Sandbox::new();
    let out = fetch(
        &sb,
        &d.pop3s_url("alice"),
        &["--tls-fingerprint", &openssl_style, "--keep"],
    );
    assert_exit(&out, 0, &d);
    assert_same_messages("pinned (colons)", delivered(&sb), expected(&msgs));

    // The right pin, plain lower-case hex, over STLS.
    let sb = Sandbox::new();
    let out = fetch(&sb, &d.pop3_url("alice"), &["--tls-fingerprint", &right]);
    assert_exit(&out, 0, &d);
    assert_same_messages("pinned", delivered(&sb), expected(&msgs));
    assert_eq!(d.server_count("alice"), 0);
}

/// A pinned certificate decides trust alone: no CA store is read (a fixed cost of every run,
/// issue 13). The system store is pointed at a FIFO nobody writes to, so that reading it
/// would block: the run must not.
#[test]
fn a_pinned_run_reads_no_ca_store() {
    let Some(d) = Dovecot::start() else { return };
    d.add_message("alice", b"Subject: pinned\r\n\r\nbody\r\n");
    let sb = Sandbox::new();
    let fifo = sb.path().join("ca-fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let pin = d.cert_sha256();
    let mut c = fetch_cmd(
        &sb,
        "secret",
        &d.pop3s_url("alice"),
        &["--tls-fingerprint", &pin],
    );
    c.env("SSL_CERT_FILE", &fifo)
        .env("SSL_CERT_DIR", sb.path().join("no-such-dir"));
    let out = run_with_limit(c, Duration::from_secs(60));
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb).len(), 1);
}

/// A certificate directory with OpenSSL's hash link to `cert` (as `update-ca-certificates`
/// keeps /etc/ssl/certs).
fn hashed_cert_dir(sb: &Sandbox, name: &str, cert: &std::path::Path) -> std::path::PathBuf {
    let out = Command::new("openssl")
        .args(["x509", "-hash", "-noout", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    let dir = sb.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(cert, dir.join(format!("{}.0", hash.trim()))).unwrap();
    dir
}

/// Without a pin or --tls-ca-file, the system roots are looked up in the hashed certificate
/// directory (no bundle parsed): a server whose issuer is there verifies, one whose issuer is
/// not is refused (exit 69) with nothing fetched.
#[test]
fn system_roots_are_looked_up_in_the_hashed_directory() {
    let Some(d) = Dovecot::start() else { return };
    d.add_message("alice", b"Subject: hashed\r\n\r\nbody\r\n");
    let sb = Sandbox::new();
    let other = Dovecot::start().unwrap();
    let wrong = hashed_cert_dir(&sb, "other-certs", &other.ca_file());
    let mut c = fetch_cmd(&sb, "secret", &d.pop3s_url("alice"), &[]);
    c.env_remove("SSL_CERT_FILE").env("SSL_CERT_DIR", &wrong);
    let out = run_with_limit(c, Duration::from_secs(60));
    assert_exit(&out, 69, &d);
    assert!(delivered(&sb).is_empty());

    let right = hashed_cert_dir(&sb, "certs", &d.ca_file());
    let mut c = fetch_cmd(&sb, "secret", &d.pop3s_url("alice"), &[]);
    c.env_remove("SSL_CERT_FILE").env("SSL_CERT_DIR", &right);
    let out = run_with_limit(c, Duration::from_secs(60));
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb).len(), 1);
}

#[test]
fn insecure_no_tls_works_on_plain_pop3() {
    let Some(d) = Dovecot::start() else { return };
    fetch_and_check(
        &d,
        &tricky_messages(),
        &d.pop3_url("alice"),
        &["--insecure-no-tls"],
    );
}

#[test]
fn second_concurrent_run_is_refused_and_nothing_is_doubled() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(3);
    let mut all: Vec<Vec<u8>> = Vec::new();
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let ca = ca_args(&d);
    let mut count = 500;
    let mut serial = 0;
    // If the first run finishes before the second has given up waiting, the round proves
    // nothing: try again with a bigger mailbox.
    for round in 0..3 {
        for _ in 0..count {
            let m = generated_message(serial, rng.usize(2_000..40_000), &mut rng);
            serial += 1;
            d.add_message("alice", &m);
            all.push(m);
        }
        let before = maildir_messages(&sb.maildir()).len();
        let mut first_cmd = fetch_cmd(&sb, "secret", &url, &strs(&ca));
        first_cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut first = first_cmd.spawn().unwrap();
        // Wait until the first run is visibly transferring (it holds the lock by then).
        let start = Instant::now();
        while maildir_messages(&sb.maildir()).len() == before
            && first.try_wait().unwrap().is_none()
            && start.elapsed() < LIMIT
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let first_running_at_start = first.try_wait().unwrap().is_none();
        let mut args2 = ca.clone();
        args2.extend(["--lock-wait".to_string(), "1".to_string()]);
        let second = fetch(&sb, &url, &strs(&args2));
        let first_running_at_end = first.try_wait().unwrap().is_none();
        let first_out = common::run::wait_with_limit(first, LIMIT);
        assert_exit(&first_out, 0, &d);
        let c2 = code(&second);
        let err2 = String::from_utf8_lossy(&second.stderr).to_lowercase();
        eprintln!(
            "round {round}: {count} messages; first running when second started: \
             {first_running_at_start}, when it ended: {first_running_at_end}; second exit {c2}"
        );
        assert_same_messages("after both runs", delivered(&sb), expected(&all));
        assert_eq!(tmp_count(&sb.maildir()), 0);
        assert_eq!(d.server_count("alice"), 0);
        match c2 {
            75 => {
                assert!(
                    err2.contains("lock") || err2.contains("another") || err2.contains("busy"),
                    "exit 75 but the message does not mention the other run/lock: {err2}"
                );
                return;
            }
            0 if first_running_at_end => {
                panic!("a second run succeeded while the first was still running\nstderr: {err2}")
            }
            0 => count *= 3,
            _ => assert_exit(&second, 75, &d),
        }
    }
    panic!("the first run always finished too quickly to test the lock");
}

#[test]
fn plain_port_without_stls_is_refused_before_sending_the_password() {
    let Some(d) = Dovecot::start_without_tls() else {
        return;
    };
    let msgs = tricky_messages();
    d.add_messages("alice", &msgs);
    let ca = ca_args(&d);
    for args in [vec![], strs(&ca)] {
        let sb = Sandbox::new();
        let out = fetch(&sb, &d.pop3_url("alice"), &args);
        assert_exit(&out, 69, &d);
        assert!(delivered(&sb).is_empty());
    }
    let logs = d.logs();
    assert!(
        !logs.contains("Login: user=<alice>") && !logs.contains("auth failed"),
        "credentials were sent over a plaintext channel:\n{logs}"
    );
    assert_same_messages("server", d.server_messages("alice"), msgs.clone());
    // With explicit consent it works.
    let sb = Sandbox::new();
    let out = fetch(&sb, &d.pop3_url("alice"), &["--insecure-no-tls"]);
    assert_exit(&out, 0, &d);
    assert_same_messages("delivered", delivered(&sb), expected(&msgs));
    assert_eq!(d.server_count("alice"), 0);
}

#[test]
fn password_never_appears_in_output() {
    use base64::Engine;
    let Some(d) = Dovecot::start() else { return };
    let msgs = tricky_messages();
    d.add_messages("carol", &msgs);
    let ca = ca_args(&d);
    let wrong = "Wrong-9c1e4-Horse";
    let b64 = |pw: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("\0carol\0{pw}").as_bytes())
    };
    let mut runs = 0;
    for url in [d.pop3s_url("carol"), d.pop3_url("carol")] {
        for auth in ["auto", "user", "plain"] {
            for (pw, want) in [(wrong, 77), (CAROL_PASSWORD, 0)] {
                let sb = Sandbox::new();
                let mut args = strs(&ca);
                args.extend(["-vv", "--keep", "--auth", auth]);
                let out = run_with_limit(fetch_cmd(&sb, pw, &url, &args), LIMIT);
                assert_exit(&out, want, &d);
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                for secret in [pw.to_string(), b64(pw)] {
                    assert!(
                        !text.contains(&secret),
                        "{url} --auth {auth}: output shows the password ({secret}):\n{text}"
                    );
                }
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 12);
}

#[test]
fn empty_mailbox_is_not_an_error() {
    let Some(d) = Dovecot::start() else { return };
    let ca = ca_args(&d);
    for url in [d.pop3s_url("alice"), d.pop3_url("alice")] {
        for keep in [false, true] {
            let sb = Sandbox::new();
            let mut args = strs(&ca);
            if keep {
                args.push("--keep");
            }
            let out = fetch(&sb, &url, &args);
            assert_exit(&out, 0, &d);
            assert!(delivered(&sb).is_empty());
        }
    }
}

#[test]
fn keep_mode_survives_deletions_and_renumbering_on_the_server() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(4);
    let mut msgs: Vec<Vec<u8>> = (0..12)
        .map(|i| generated_message(i, rng.usize(500..5_000), &mut rng))
        .collect();
    d.add_messages("alice", &msgs);
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let ca = ca_args(&d);
    let mut keep = ca.clone();
    keep.push("--keep".into());
    let out = fetch(&sb, &url, &strs(&keep));
    assert_exit(&out, 0, &d);
    assert_same_messages("first run", delivered(&sb), expected(&msgs));

    // Another client deletes some messages (so the rest get new message numbers), and new
    // mail arrives.
    let gone: Vec<Vec<u8>> = [0usize, 3, 4, 9].iter().map(|&i| msgs[i].clone()).collect();
    let removed = d.remove_messages_where("alice", |b| gone.iter().any(|g| g == b));
    assert_eq!(removed, gone.len());
    let new: Vec<Vec<u8>> = (100..103)
        .map(|i| generated_message(i, rng.usize(500..5_000), &mut rng))
        .collect();
    d.add_messages("alice", &new);
    msgs.extend(new.iter().cloned());

    let out = fetch(&sb, &url, &strs(&keep));
    assert_exit(&out, 0, &d);
    assert_same_messages("after renumbering", delivered(&sb), expected(&msgs));

    // Delete mode now: nothing new arrives, and what is left on the server goes.
    let out = fetch(&sb, &url, &strs(&ca));
    assert_exit(&out, 0, &d);
    assert_same_messages("delete run", delivered(&sb), expected(&msgs));
    assert_eq!(d.server_count("alice"), 0);
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

#[test]
fn mailbox_locked_by_another_pop3_session_is_reported_in_use() {
    use std::io::{Read, Write};
    // Dovecot answers PASS with `-ERR [IN-USE]` after waiting about 13 s for the lock.
    let Some(d) = Dovecot::start_with("pop3_lock_session = yes") else {
        return;
    };
    let msgs = tricky_messages();
    d.add_messages("alice", &msgs);

    // Another client holds the mailbox.
    let mut other = std::net::TcpStream::connect(("127.0.0.1", d.pop3_port())).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    other.write_all(b"USER alice\r\nPASS secret\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("Logged in") {
        let n = other.read(&mut buf).expect("the other session logs in");
        assert!(n > 0, "the other session was closed");
        got.extend_from_slice(&buf[..n]);
    }

    let sb = Sandbox::new();
    let ca = ca_args(&d);
    let out = fetch(&sb, &d.pop3s_url("alice"), &strs(&ca));
    assert_exit(&out, 69, &d);
    assert!(delivered(&sb).is_empty());
    assert_eq!(tmp_count(&sb.maildir()), 0);

    // Once the other client is gone, the mailbox is ours.
    other.write_all(b"QUIT\r\n").unwrap();
    let _ = other.read(&mut buf);
    drop(other);
    let out = fetch(&sb, &d.pop3s_url("alice"), &strs(&ca));
    assert_exit(&out, 0, &d);
    assert_same_messages("after the lock", delivered(&sb), expected(&msgs));
    assert_eq!(d.server_count("alice"), 0);
}

/// Ledger rows of messages the server no longer has are pruned after a run that listed the
/// whole mailbox (keep mode: another client deleted one), and only those.
#[test]
fn rows_of_messages_gone_from_the_server_are_pruned() {
    let Some(d) = Dovecot::start() else { return };
    for i in 1..=3 {
        d.add_message(
            "alice",
            format!("Subject: prune {i}\r\n\r\nbody {i}\r\n").as_bytes(),
        );
    }
    let sb = Sandbox::new();
    let rows = || -> i64 {
        rusqlite::Connection::open(sb.ledger())
            .unwrap()
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap()
    };
    let out = fetch(
        &sb,
        &d.pop3s_url("alice"),
        &strs(&[ca_args(&d), vec!["--keep".into()]].concat()),
    );
    assert_exit(&out, 0, &d);
    assert_eq!(rows(), 3);
    let removed = d.remove_messages_where("alice", |m| {
        String::from_utf8_lossy(m).contains("Subject: prune 2")
    });
    assert_eq!(removed, 1);
    let out = fetch(
        &sb,
        &d.pop3s_url("alice"),
        &strs(&[ca_args(&d), vec!["--keep".into()]].concat()),
    );
    assert_exit(&out, 0, &d);
    assert_eq!(
        rows(),
        2,
        "the row of the message gone from the server is pruned"
    );
    assert_eq!(delivered(&sb).len(), 3, "nothing fetched again");
}
