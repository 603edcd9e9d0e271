//! End-to-end tests of `mailpull watch` against a real Dovecot: IMAP IDLE picks up new mail
//! within seconds (the poll interval is an hour, so only IDLE can explain it), POP3 is polled,
//! SIGTERM and SIGINT end the watch cleanly with exit 0 (DONE and LOGOUT seen by the server,
//! no partial files), a failing account does not stop the others, a dropped connection is
//! retried, and a watched account is locked against `mailpull fetch`.
//!
//! When Dovecot is not installed the tests print `skipped: dovecot not installed` and pass,
//! unless `MAILPULL_REQUIRE_DOVECOT=1`.

mod common;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::dovecot::Dovecot;
use common::run::{code, maildir_messages, run_with_limit, tmp_count, wait_with_limit, Sandbox};

/// Generous limit for anything the watch should do "within seconds".
const SOON: Duration = Duration::from_secs(30);
/// Limit for a watch to end after a signal.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Dovecot with a short mailbox check interval, in case inotify is not available: the server
/// then notices new files within a second either way.
fn dovecot() -> Option<Dovecot> {
    Dovecot::start_with("mailbox_idle_check_interval = 1 secs\n")
}

/// A running `mailpull watch`, its stderr going to a file in the sandbox.
struct Watch {
    child: Option<Child>,
    log: PathBuf,
}

impl Watch {
    /// Starts `mailpull watch ARGS...` with the password in the environment.
    fn start(sb: &Sandbox, args: &[&str]) -> Watch {
        Watch::start_cmd(sb.cmd(Some("secret")), sb, args)
    }

    fn start_cmd(mut cmd: Command, sb: &Sandbox, args: &[&str]) -> Watch {
        let log = sb.path().join(format!(
            "watch-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        cmd.arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap());
        Watch {
            child: Some(cmd.spawn().expect("spawn mailpull watch")),
            log,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `cond` holds, failing the test (with the watch's stderr and the server log)
    /// after `limit`.
    #[track_caller]
    fn wait_until(&mut self, what: &str, d: &Dovecot, limit: Duration, cond: impl Fn() -> bool) {
        let start = Instant::now();
        while !cond() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "the watch ended ({status}) while waiting for {what}; stderr:\n{}",
                    self.stderr()
                );
            }
            if start.elapsed() > limit {
                panic!(
                    "no {what} within {limit:?}; stderr:\n{}\n--- dovecot\n{}",
                    self.stderr(),
                    tail(&d.logs(), 3000)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` and waits for the watch to end.
    fn stop(&mut self, signal: libc::c_int) -> Output {
        let child = self.child.take().unwrap();
        // SAFETY: kill with the pid of our own child.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let mut out = wait_with_limit(child, STOP_LIMIT);
        out.stderr = self.stderr().into_bytes();
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let start = s.len().saturating_sub(n);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

fn message(n: u32) -> Vec<u8> {
    format!(
        "From: sender@example.org\r\nTo: alice@example.org\r\nSubject: watch {n}\r\n\
         Message-ID: <watch-{n}@example.org>\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

fn count(sb: &Sandbox) -> usize {
    maildir_messages(&sb.maildir()).len()
}

/// The IMAP sessions of `user` the server logged as ended: (logged out, disconnected without
/// LOGOUT).
fn imap_endings(d: &Dovecot, user: &str) -> (usize, usize) {
    let log = std::fs::read_to_string(d.dir().join("dovecot.log")).unwrap_or_default();
    let prefix = format!("imap({user})");
    let mine = || log.lines().filter(|l| l.contains(&prefix));
    (
        mine().filter(|l| l.contains("Logged out")).count(),
        mine()
            .filter(|l| l.contains("Disconnected") && !l.contains("Logged out"))
            .count(),
    )
}

/// Waits until the server has logged `n` ended sessions (its log lags a little).
fn wait_for_endings(d: &Dovecot, user: &str, n: usize) -> (usize, usize) {
    let start = Instant::now();
    loop {
        let (out, disc) = imap_endings(d, user);
        if out + disc >= n || start.elapsed() > Duration::from_secs(10) {
            return (out, disc);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn assert_clean_exit(out: &Output, d: &Dovecot) {
    assert_eq!(
        code(out),
        0,
        "the watch did not exit 0\n--- stderr\n{}\n--- dovecot\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&d.logs(), 3000)
    );
}

fn imaps_args(d: &Dovecot, sb: &Sandbox, every: &str) -> Vec<String> {
    vec![
        d.imaps_url("alice"),
        "--every".into(),
        every.into(),
        "--maildir".into(),
        sb.maildir().to_string_lossy().into_owned(),
        "--tls-ca-file".into(),
        d.ca_file().to_string_lossy().into_owned(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// New mail is fetched within seconds although the poll interval is an hour: IDLE.
fn idle_then_stop(signal: libc::c_int) {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    d.add_message("alice", &message(1));
    let args = imaps_args(&d, &sb, "1h");
    let mut w = Watch::start(&sb, &strs(&args));
    w.wait_until("first fetch", &d, SOON, || count(&sb) == 1);
    // Let it settle into IDLE, then deliver.
    w.wait_until("IDLE", &d, SOON, || {
        w_stderr_has(&sb, "watching INBOX with IDLE")
    });
    std::thread::sleep(Duration::from_millis(500));
    let delivered = Instant::now();
    d.add_message("alice", &message(2));
    w.wait_until("message fetched after IDLE", &d, SOON, || count(&sb) == 2);
    eprintln!("fetched {:?} after delivery", delivered.elapsed());
    // A third one, to see that IDLE is issued again after a fetch.
    d.add_message("alice", &message(3));
    w.wait_until("second message fetched after IDLE", &d, SOON, || {
        count(&sb) == 3
    });

    let out = w.stop(signal);
    assert_clean_exit(&out, &d);
    assert_eq!(tmp_count(&sb.maildir()), 0, "files left in tmp/");
    let mut bodies: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
    bodies.sort();
    let mut want: Vec<Vec<u8>> = (1..=3)
        .map(|n| {
            String::from_utf8(message(n))
                .unwrap()
                .replace("\r\n", "\n")
                .into_bytes()
        })
        .collect();
    want.sort();
    assert_eq!(bodies, want);
    // Kept on the server (IMAP default), and never fetched twice.
    assert_eq!(d.server_count("alice"), 3);
    // The session ended with DONE and LOGOUT, not by dropping the connection.
    let (logged_out, disconnected) = wait_for_endings(&d, "alice", 1);
    assert!(
        logged_out >= 1 && disconnected == 0,
        "expected LOGOUT only (logged out {logged_out}, disconnected {disconnected})\n{}",
        tail(&d.logs(), 3000)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- the watch's stderr\n{err}");
    assert!(err.contains("watching INBOX with IDLE"), "{err}");
    assert!(err.contains("1 new message"), "{err}");
}

#[test]
fn imap_idle_fetches_new_mail_within_seconds_and_sigterm_logs_out() {
    idle_then_stop(libc::SIGTERM);
}

#[test]
fn imap_idle_sigint_ends_cleanly() {
    idle_then_stop(libc::SIGINT);
}

#[test]
fn imap_idle_watches_each_folder() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    let lists = d.create_mailbox("alice", "Lists");
    let mut args = imaps_args(&d, &sb, "1h");
    args.extend(["--folder", "INBOX", "--folder", "Lists"].map(String::from));
    let mut w = Watch::start(&sb, &strs(&args));
    w.wait_until("IDLE on both folders", &d, SOON, || {
        w_stderr_has(&sb, "watching INBOX, Lists with IDLE")
    });
    std::thread::sleep(Duration::from_secs(1));
    d.add_message_in_dir(&lists, &message(1));
    w.wait_until("message in Lists", &d, SOON, || count(&sb) == 1);
    d.add_message("alice", &message(2));
    w.wait_until("message in INBOX", &d, SOON, || count(&sb) == 2);
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    assert_eq!(tmp_count(&sb.maildir()), 0);
    // Two folders, two sessions, both logged out.
    let (logged_out, disconnected) = wait_for_endings(&d, "alice", 2);
    assert!(
        logged_out >= 2 && disconnected == 0,
        "logged out {logged_out}, disconnected {disconnected}"
    );
}

/// Whether any watch log in the sandbox contains `needle`.
fn w_stderr_has(sb: &Sandbox, needle: &str) -> bool {
    std::fs::read_dir(sb.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("watch-"))
        .any(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains(needle)
        })
}

#[test]
fn pop3_is_polled_every_interval() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    d.add_message("alice", &message(1));
    let url = d.pop3s_url("alice");
    let maildir = sb.maildir();
    let ca = d.ca_file();
    let args = [
        url.as_str(),
        "--every",
        "1s",
        "--maildir",
        maildir.to_str().unwrap(),
        "--tls-ca-file",
        ca.to_str().unwrap(),
    ];
    let mut w = Watch::start(&sb, &args);
    w.wait_until("first poll", &d, SOON, || count(&sb) == 1);
    d.add_message("alice", &message(2));
    w.wait_until("second poll", &d, SOON, || count(&sb) == 2);
    // POP3 deletes by default, after delivery: the server is empty again.
    let start = Instant::now();
    while d.server_count("alice") != 0 && start.elapsed() < SOON {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(d.server_count("alice"), 0);
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    assert_eq!(tmp_count(&sb.maildir()), 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fetching every 1 s"), "{err}");
}

#[test]
fn a_failing_account_does_not_stop_the_others() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    // A port that refuses connections, named `localhost`: alice@127.0.0.1 would be the good
    // account's mailbox (the port is no part of it), which the configuration refuses.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = sb.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ntls_ca_file = \"{}\"\ntimeout = 5\n\n\
             [account.broken]\nurl = \"imaps://alice@localhost:{closed}\"\n\
             deliver = {{ maildir = \"{}\" }}\n\n\
             [account.good]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\n",
            d.ca_file().display(),
            sb.path().join("broken").display(),
            d.imaps_url("alice"),
            sb.maildir().display(),
        ),
    )
    .unwrap();
    d.add_message("alice", &message(1));
    let mut cmd = sb.cmd(Some("secret"));
    cmd.env("MAILPULL_CONFIG", &cfg);
    let mut w = Watch::start_cmd(cmd, &sb, &["--every", "1h"]);
    w.wait_until("the good account's first fetch", &d, SOON, || {
        count(&sb) == 1
    });
    w.wait_until("the broken account's retry", &d, SOON, || {
        let e = w_stderr_has(&sb, "broken");
        e && w_stderr_has(&sb, "trying again in")
    });
    d.add_message("alice", &message(2));
    w.wait_until("the good account's IDLE fetch", &d, SOON, || {
        count(&sb) == 2
    });
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("account broken") && err.contains("connection refused"),
        "{err}"
    );
    assert!(!sb.path().join("broken/new").exists() || tmp_count(&sb.path().join("broken")) == 0);
}

#[test]
fn a_dropped_connection_is_retried() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    let args = imaps_args(&d, &sb, "1h");
    let mut w = Watch::start(&sb, &strs(&args));
    w.wait_until("IDLE", &d, SOON, || {
        w_stderr_has(&sb, "watching INBOX with IDLE")
    });
    std::thread::sleep(Duration::from_secs(1));
    let logins = d.imap_logins("alice");
    // The administrator kicks the user: Dovecot closes the connection.
    d.doveadm(&["kick", "alice"]);
    w.wait_until("the failure logged", &d, SOON, || {
        w_stderr_has(&sb, "trying again in 5 s")
    });
    w.wait_until("a new login", &d, SOON, || d.imap_logins("alice") > logins);
    w.wait_until("recovery logged", &d, SOON, || {
        w_stderr_has(&sb, "working again")
    });
    std::thread::sleep(Duration::from_millis(500));
    d.add_message("alice", &message(1));
    w.wait_until("a fetch after the reconnection", &d, SOON, || {
        count(&sb) == 1
    });
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    assert_eq!(tmp_count(&sb.maildir()), 0);
    eprintln!(
        "--- the watch's stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_watched_account_is_locked_against_fetch() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    let args = imaps_args(&d, &sb, "1h");
    let mut w = Watch::start(&sb, &strs(&args));
    w.wait_until("IDLE", &d, SOON, || {
        w_stderr_has(&sb, "watching INBOX with IDLE")
    });
    let mut fetch = sb.cmd(Some("secret"));
    fetch
        .arg("fetch")
        .arg(d.imaps_url("alice"))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .args(["--lock-wait", "1"]);
    let out = run_with_limit(fetch, SOON);
    assert_eq!(code(&out), 75, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another mailpull"));
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
}

#[test]
fn bad_every_is_a_usage_error() {
    let sb = Sandbox::new();
    for every in ["soon", "0s"] {
        let mut c = sb.cmd(Some("secret"));
        c.args(["watch", "imaps://alice@127.0.0.1:1", "--every", every]);
        let out = run_with_limit(c, SOON);
        assert_eq!(code(&out), 64, "{every}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--every"));
    }
}

#[test]
fn imap_without_idle_is_polled() {
    // The server's capabilities after login, without IDLE.
    let Some(d) = Dovecot::start_with(
        "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS\n",
    ) else {
        return;
    };
    let sb = Sandbox::new();
    d.add_message("alice", &message(1));
    let args = imaps_args(&d, &sb, "1s");
    let mut w = Watch::start(&sb, &strs(&args));
    w.wait_until("first poll", &d, SOON, || count(&sb) == 1);
    d.add_message("alice", &message(2));
    w.wait_until("a later poll", &d, SOON, || count(&sb) == 2);
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not offer IDLE; fetching every 1 s"),
        "{err}"
    );
    assert!(!err.contains("with IDLE"), "{err}");
    assert_eq!(d.server_count("alice"), 2, "IMAP keeps by default");
}

/// SIGTERM in the middle of a fetch: the message in flight is finished, no further one is
/// started, the session ends properly (POP3: QUIT, so the delivered messages are deleted; IMAP:
/// LOGOUT) and the watch exits 0; the next run fetches the rest, and nothing is delivered twice.
fn stop_during_a_fetch(imap: bool) {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    const N: u32 = 20;
    for n in 1..=N {
        d.add_message("alice", &message(n));
    }
    let out_dir = sb.path().join("delivered");
    std::fs::create_dir_all(&out_dir).unwrap();
    // A slow MDA: every message takes a while, so the signal lands mid-fetch.
    let mda = format!(
        "sleep 0.3; cat > \"$(mktemp {}/m.XXXXXX)\"",
        out_dir.display()
    );
    let url = if imap {
        d.imaps_url("alice")
    } else {
        d.pop3s_url("alice")
    };
    let ca = d.ca_file();
    let args = [
        url.as_str(),
        "--every",
        "1h",
        "--mda",
        mda.as_str(),
        "--tls-ca-file",
        ca.to_str().unwrap(),
    ];
    let delivered = || std::fs::read_dir(&out_dir).unwrap().count();
    let mut w = Watch::start(&sb, &args);
    w.wait_until("a few deliveries", &d, SOON, || delivered() >= 2);
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    let first = delivered();
    assert!(
        first < N as usize,
        "the watch did not stop early: {first} of {N} delivered"
    );
    if imap {
        // Kept on the server; the session was logged out, not dropped.
        assert_eq!(d.server_count("alice"), N as usize);
        let (logged_out, disconnected) = wait_for_endings(&d, "alice", 1);
        assert!(
            logged_out >= 1 && disconnected == 0,
            "logged out {logged_out}, disconnected {disconnected}"
        );
    } else {
        // What was delivered was deleted on the server (QUIT), the rest is still there.
        assert_eq!(d.server_count("alice"), N as usize - first);
    }

    // The next run fetches the rest, nothing twice.
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(&url)
        .args(["--mda", &mda, "--tls-ca-file", ca.to_str().unwrap()]);
    let out = run_with_limit(c, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    bodies.sort();
    let mut want: Vec<Vec<u8>> = (1..=N)
        .map(|n| {
            String::from_utf8(message(n))
                .unwrap()
                .replace("\r\n", "\n")
                .into_bytes()
        })
        .collect();
    want.sort();
    assert_eq!(bodies.len(), want.len(), "a message lost or doubled");
    assert!(bodies == want, "the delivered messages differ");
    assert_eq!(d.server_count("alice"), if imap { N as usize } else { 0 });
}

#[test]
fn sigterm_during_a_pop3_fetch_finishes_the_message_in_flight() {
    stop_during_a_fetch(false);
}

#[test]
fn sigterm_during_an_imap_fetch_finishes_the_message_in_flight() {
    stop_during_a_fetch(true);
}

/// A refused login is logged and retried slowly; the other account goes on.
#[test]
fn a_refused_login_is_retried_slowly_and_the_others_go_on() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    let cfg = sb.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ntls_ca_file = \"{}\"\n\n\
             [account.wrong]\nurl = \"{}\"\npassword_command = \"echo wrong\"\n\
             deliver = {{ maildir = \"{}\" }}\n\n\
             [account.good]\nurl = \"{}\"\npassword_command = \"echo secret\"\n\
             deliver = {{ maildir = \"{}\" }}\n",
            d.ca_file().display(),
            d.imaps_url("bob"),
            sb.path().join("bob").display(),
            d.imaps_url("alice"),
            sb.maildir().display(),
        ),
    )
    .unwrap();
    d.add_message("bob", &message(1));
    let mut cmd = sb.cmd(None);
    cmd.env("MAILPULL_CONFIG", &cfg);
    let mut w = Watch::start_cmd(cmd, &sb, &["--every", "1h"]);
    w.wait_until("the refused login logged", &d, SOON, || {
        w_stderr_has(&sb, "account wrong") && w_stderr_has(&sb, "trying again in 30 min")
    });
    w.wait_until("IDLE on the good account", &d, SOON, || {
        w_stderr_has(&sb, "good: watching INBOX with IDLE")
    });
    d.add_message("alice", &message(2));
    w.wait_until("the good account's fetch", &d, SOON, || count(&sb) == 1);
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("authentication failed"), "{err}");
    // One attempt only so far: no hammering of the server with a wrong password.
    let log = std::fs::read_to_string(d.dir().join("dovecot.log")).unwrap_or_default();
    let failures = log
        .lines()
        .filter(|l| {
            l.contains("imap-login") && l.contains("user=<bob>") && l.contains("auth failed")
        })
        .count();
    assert_eq!(failures, 1, "failed logins:\n{log}");
    assert!(maildir_messages(&sb.path().join("bob")).is_empty());
}

/// `Session::idle_until` ends an IDLE soon after the stop request, long before its timeout,
/// with DONE (the session stays usable), and gives the connection its read timeout back.
#[test]
fn idle_until_wakes_up_for_a_stop_request() {
    use mailpull::imap::{AuthMethod, IdleEvent, Session};
    use mailpull::tls::{connect_tcp, ReadTimeout, Tls, TlsOptions};
    use std::sync::atomic::{AtomicBool, Ordering};

    let Some(d) = dovecot() else { return };
    let tls = Tls::new(&TlsOptions {
        ca_file: Some(d.ca_file()),
        fingerprint: None,
    })
    .unwrap();
    let timeout = Duration::from_secs(20);
    let tcp = connect_tcp("127.0.0.1", d.imaps_port(), timeout).unwrap();
    let mut s = Session::start(tls.handshake("localhost", tcp).unwrap()).unwrap();
    s.login("alice", "secret", AuthMethod::Auto).unwrap();
    s.select("INBOX", true).unwrap();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let ev = std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_secs(1));
            stop.store(true, Ordering::SeqCst);
        });
        s.idle_until(
            Duration::from_secs(600),
            Duration::from_millis(200),
            &mut || stop.load(Ordering::SeqCst),
        )
        .unwrap()
    });
    let took = start.elapsed();
    assert_eq!(ev, IdleEvent::Timeout);
    assert!(
        took < Duration::from_secs(15),
        "IDLE ended {took:?} after the start, long after the stop request"
    );
    // DONE was answered: the session goes on, with its own read timeout.
    assert_eq!(s.stream().read_timeout().unwrap(), Some(timeout));
    assert_eq!(s.uids_and_sizes().unwrap().len(), 0);
    // New mail still ends it, as with idle().
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            d.add_message("alice", &message(1));
        });
        let ev = s
            .idle_until(
                Duration::from_secs(25),
                Duration::from_millis(200),
                &mut || false,
            )
            .unwrap();
        assert_eq!(ev, IdleEvent::NewMail { exists: 1 });
    });
    assert_eq!(s.stream().read_timeout().unwrap(), Some(timeout));
    s.logout().unwrap();
}

/// Without `--every`, the account's `poll_interval` from the configuration applies.
#[test]
fn poll_interval_from_the_configuration() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    let cfg = sb.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ntls_ca_file = \"{}\"\npoll_interval = \"1s\"\n\n\
             [account.pop]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\n",
            d.ca_file().display(),
            d.pop3s_url("alice"),
            sb.maildir().display(),
        ),
    )
    .unwrap();
    let mut check = sb.cmd(None);
    check.env("MAILPULL_CONFIG", &cfg).args(["config", "check"]);
    let out = run_with_limit(check, SOON);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("poll_interval: 1 s"));

    let mut cmd = sb.cmd(Some("secret"));
    cmd.env("MAILPULL_CONFIG", &cfg);
    let mut w = Watch::start_cmd(cmd, &sb, &[]);
    w.wait_until("polling", &d, SOON, || {
        w_stderr_has(&sb, "pop: fetching every 1 s")
    });
    d.add_message("alice", &message(1));
    w.wait_until("a poll", &d, SOON, || count(&sb) == 1);
    d.add_message("alice", &message(2));
    w.wait_until("another poll", &d, SOON, || count(&sb) == 2);
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
}

/// The account's filter applies to what IDLE brings in: a message it leaves stays on the
/// server, the next one it accepts is fetched.
#[test]
fn imap_idle_applies_the_filter() {
    let Some(d) = dovecot() else { return };
    let sb = Sandbox::new();
    let mut args = imaps_args(&d, &sb, "1h");
    args.extend(["--filter", "grep -q '^Subject: watch 2' && exit 0; exit 2"].map(String::from));
    let mut w = Watch::start(&sb, &strs(&args));
    w.wait_until("IDLE", &d, SOON, || w_stderr_has(&sb, "with IDLE"));
    std::thread::sleep(Duration::from_secs(1));
    d.add_message("alice", &message(1));
    d.add_message("alice", &message(2));
    w.wait_until("message 2 fetched", &d, SOON, || count(&sb) == 1);
    // Give a wrongly fetched message 1 the time to show up, then check it did not.
    std::thread::sleep(Duration::from_secs(2));
    let out = w.stop(libc::SIGTERM);
    assert_clean_exit(&out, &d);
    let got: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
    assert_eq!(got.len(), 1);
    assert!(
        String::from_utf8_lossy(&got[0]).contains("Subject: watch 2"),
        "{}",
        String::from_utf8_lossy(&got[0])
    );
    assert_eq!(
        d.server_count("alice"),
        2,
        "keep mode: both stay on the server"
    );
}

// ---------------------------------------------------------------------------------------------
// IDLE without re-listing (issue 10), against the scripted IMAP server

use common::scripted_imap::{self as imap, Config, Folder, Message, ScriptedImap, CAPS_FULL};

/// Waits until `cond` holds, failing (with the watch's stderr) after `limit`.
#[track_caller]
fn wait_scripted(w: &mut Watch, what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        if let Some(status) = w.child.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "the watch ended ({status}) while waiting for {what}; stderr:\n{}",
                w.stderr()
            );
        }
        assert!(
            start.elapsed() < limit,
            "no {what} within {limit:?}; stderr:\n{}",
            tail(&w.stderr(), 5000)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the server's last command is an IDLE still running (no DONE after it).
fn idling(server: &ScriptedImap) -> bool {
    server
        .stats()
        .commands
        .last()
        .is_some_and(|c| c.name == "IDLE")
}

fn scripted_message(uid: u32) -> Vec<u8> {
    format!(
        "From: sender@example.org\r\nSubject: message {uid}\r\n\
         Message-ID: <{uid}@scripted.test>\r\n\r\nbody {uid}\r\n"
    )
    .into_bytes()
}

/// With a 10,000-message folder, a message arriving during IDLE costs a `UID FETCH` of the new
/// UID range only: no new SELECT, no listing of the folder (`UID FETCH 1:*`), no `UID SEARCH`.
/// Before, every `EXISTS` listed UIDs, sizes and flags of the whole folder. The ledger rows of
/// the old messages survive the partial listing: a fetch afterwards downloads nothing.
fn idle_lists_only_new_mail(keep: bool) {
    const N: u32 = 10_000;
    let folder = Folder::new(
        imap::INBOX,
        7,
        (1..=N)
            .map(|u| Message::new(u, scripted_message(u)))
            .collect(),
    );
    let mut caps = CAPS_FULL.to_vec();
    caps.push("IDLE");
    let server = ScriptedImap::with_config(Config::with_caps(&caps), vec![folder]);
    let sb = Sandbox::new();
    let url = server.url();
    let maildir = sb.maildir().to_string_lossy().into_owned();
    let mut args = vec![
        url.as_str(),
        "--insecure-no-tls",
        "--every",
        "1h",
        "--maildir",
        &maildir,
        "--timeout",
        "30",
    ];
    if !keep {
        args.push("--no-keep");
    }
    let mut w = Watch::start(&sb, &args);
    let limit = Duration::from_secs(300);
    wait_scripted(&mut w, "the first fetch", limit, || {
        count(&sb) == N as usize
    });
    wait_scripted(&mut w, "IDLE", SOON, || idling(&server));

    let before = server.stats();
    let uid = server.append(imap::INBOX, scripted_message(N + 1));
    assert_eq!(uid, N + 1);
    wait_scripted(&mut w, "the new message", SOON, || {
        count(&sb) == N as usize + 1
    });
    wait_scripted(&mut w, "IDLE again", SOON, || {
        idling(&server) && server.stats().commands.len() > before.commands.len() + 1
    });
    let after = server.stats().since(&before);
    let sent: Vec<&str> = after.commands.iter().map(|c| c.line.as_str()).collect();
    eprintln!(
        "after one EXISTS on a {N}-message folder ({}): {} commands, {} bytes sent by \
         mailpull, {} bytes answered: {sent:#?}",
        if keep { "keep" } else { "delete" },
        after.commands.len(),
        after.bytes_in,
        after.bytes_out
    );
    let listing = format!("UID FETCH {}:* (UID RFC822.SIZE FLAGS)", N + 1);
    assert!(
        sent.iter().any(|l| l.ends_with(&listing)),
        "no listing of the new UIDs: {sent:#?}"
    );
    for c in &after.commands {
        assert!(
            !matches!(c.name.as_str(), "SELECT" | "EXAMINE" | "UID SEARCH")
                && !c.line.contains("UID FETCH 1:*"),
            "{} after EXISTS: {sent:#?}",
            c.line
        );
    }
    assert_eq!(after.fetched.len(), 1, "{sent:#?}");
    // Proportional to the new mail, not to the folder (a listing of 10,000 messages is
    // about 500 KB).
    assert!(after.bytes_out < 2_000, "{} bytes", after.bytes_out);
    assert!(after.violations.is_empty(), "{:#?}", after.violations);

    let out = w.stop(libc::SIGTERM);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tmp_count(&sb.maildir()), 0);
    if keep {
        // The partial listing pruned no ledger row: nothing is downloaded again.
        let before = server.stats();
        let mut cmd = sb.cmd(Some(imap::PASSWORD));
        cmd.args(["fetch", &url, "--insecure-no-tls", "--maildir", &maildir]);
        let out = run_with_limit(cmd, Duration::from_secs(120));
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        assert!(server.stats().since(&before).fetched.is_empty());
        assert_eq!(count(&sb), N as usize + 1);
    } else {
        assert!(server.uids(imap::INBOX).is_empty());
    }
}

#[test]
fn idle_lists_only_new_mail_keep() {
    idle_lists_only_new_mail(true);
}

#[test]
fn idle_lists_only_new_mail_delete() {
    idle_lists_only_new_mail(false);
}

/// A fetch that left messages behind (here deferred by --max-messages) makes the next one list
/// the whole folder again, so that they are not forgotten until the next poll.
#[test]
fn deferred_messages_make_the_next_idle_fetch_list_everything() {
    let folder = Folder::new(
        imap::INBOX,
        7,
        (1..=3)
            .map(|u| Message::new(u, scripted_message(u)))
            .collect(),
    );
    let mut caps = CAPS_FULL.to_vec();
    caps.push("IDLE");
    let server = ScriptedImap::with_config(Config::with_caps(&caps), vec![folder]);
    let sb = Sandbox::new();
    let url = server.url();
    let maildir = sb.maildir().to_string_lossy().into_owned();
    let args = [
        url.as_str(),
        "--insecure-no-tls",
        "--every",
        "1h",
        "--maildir",
        &maildir,
        "--max-messages",
        "1",
    ];
    let mut w = Watch::start(&sb, &args);
    wait_scripted(&mut w, "the first fetch", SOON, || count(&sb) == 1);
    wait_scripted(&mut w, "IDLE", SOON, || idling(&server));
    let before = server.stats();
    server.append(imap::INBOX, scripted_message(4));
    wait_scripted(&mut w, "the next fetch", SOON, || count(&sb) == 2);
    wait_scripted(&mut w, "IDLE again", SOON, || {
        idling(&server) && server.stats().commands.len() > before.commands.len() + 1
    });
    let after = server.stats().since(&before);
    let sent: Vec<&str> = after.commands.iter().map(|c| c.line.as_str()).collect();
    assert!(
        sent.iter().any(|l| l.contains("UID FETCH 1:*")),
        "not a complete listing: {sent:#?}"
    );
    let out = w.stop(libc::SIGTERM);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}
