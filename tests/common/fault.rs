//! Shared pieces of the scripted-server fault suites (`tests/pop3_faults.rs`,
//! `tests/imap_faults.rs`): a runner that also measures the CPU time mailpull used, the checks
//! every run must pass (no busy-waiting, no leaked password), and Maildir lookups.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::run;
use super::scripted::base64_encode;

/// Like [`super::run::run_with_limit`] (kills the child and panics after `limit`), but reads
/// stdout and stderr while the child runs (so a chatty `-v` run cannot fill a pipe and block),
/// and also returns the CPU time the child used (user + system), to catch busy-waiting.
#[allow(clippy::zombie_processes)] // the child is reaped with wait4, not Child::wait
pub fn run_measured(mut cmd: Command, limit: Duration) -> (Output, Duration) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mailpull");
    let pump = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = pump(Box::new(child.stdout.take().unwrap()));
    let stderr = pump(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: plain FFI call on our own child's pid with valid out-pointers. The child
        // is reaped here; `child` is never waited on afterwards (only killed before reaping).
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit {
            let _ = child.kill();
            // SAFETY: as above, blocking until the killed child is reaped.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            let err = stderr.join().unwrap();
            panic!(
                "mailpull did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    let out = Output {
        status: ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (out, cpu)
}

/// What [`run_sampled`] measured.
pub struct Sampled {
    pub output: Output,
    /// CPU time (user + system).
    pub cpu: Duration,
    /// The highest `RssAnon` (heap and stacks, KiB) seen in `/proc/PID/status`, sampled every
    /// 2 ms: memory the child itself allocated, unlike `ru_maxrss`, which also counts the image
    /// of the process it was forked from.
    pub peak_anon_kib: u64,
}

/// Like [`run_measured`], and also samples the child's anonymous memory while it runs.
#[allow(clippy::zombie_processes)] // the child is reaped with wait4, not Child::wait
pub fn run_sampled(mut cmd: Command, limit: Duration) -> Sampled {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mailpull");
    let pump = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = pump(Box::new(child.stdout.take().unwrap()));
    let stderr = pump(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let status_file = format!("/proc/{pid}/status");
    let start = Instant::now();
    let mut status = 0;
    let mut peak_anon_kib = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_file).ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak_anon_kib = peak_anon_kib.max(kib);
        }
        // SAFETY: as in run_measured.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit {
            let _ = child.kill();
            // SAFETY: as in run_measured.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            let err = stderr.join().unwrap();
            panic!(
                "mailpull did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Sampled {
        output: Output {
            status: ExitStatus::from_raw(status),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_anon_kib,
    }
}

/// Waiting for a silent server must not burn CPU: a run that took more than 2 s must have
/// used less than a third of that in CPU time. `describe` tells what the run did.
pub fn assert_not_spinning(cpu: Duration, elapsed: Duration, describe: &str) {
    if elapsed > Duration::from_secs(2) {
        assert!(
            cpu < elapsed / 3,
            "mailpull used {cpu:?} of CPU in {elapsed:?}: spinning?\n{describe}"
        );
    }
}

/// The password in the forms it could leak: as is, and inside an AUTH PLAIN (POP3) or
/// AUTHENTICATE PLAIN (IMAP) response for `user`.
pub fn secret_forms(password: &str, user: &str) -> Vec<String> {
    let mut forms = vec![password.to_string()];
    for authzid in ["", user] {
        let plain = format!("{authzid}\0{user}\0{password}");
        forms.push(base64_encode(plain.as_bytes()));
    }
    forms
}

/// Panics if the password (in any of its [`secret_forms`]) is on stderr or stdout.
pub fn assert_no_secret_leaked(
    password: &str,
    user: &str,
    stderr: &str,
    stdout: &str,
    describe: &str,
) {
    for secret in secret_forms(password, user) {
        assert!(
            !stderr.contains(&secret) && !stdout.contains(&secret),
            "the password leaked ({secret:?}) on stderr or stdout\n{describe}"
        );
    }
}

/// What the scripted server must have seen in every run: no protocol violation, exactly one
/// connection, at most one login attempt (promise 4: one login per run).
pub fn assert_one_clean_session(
    violations: &[String],
    connections: usize,
    logins: usize,
    failed_logins: usize,
    describe: &str,
) {
    assert!(
        violations.is_empty(),
        "mailpull misbehaved on the wire: {violations:#?}\n{describe}"
    );
    assert_eq!(connections, 1, "one connection per run\n{describe}");
    assert!(
        logins <= 1 && failed_logins <= 1,
        "at most one login attempt per run\n{describe}"
    );
}

/// Matches every message file in the Maildir to one of the `expected` messages (keyed by the
/// bytes their delivery must have) and returns the delivered ones. Panics on files left in
/// tmp/, on a file that is none of the messages (saying whether it is a truncated copy), and on
/// a message delivered twice (`show` names it in that panic).
pub fn delivered_messages<K: Ord + Clone + Debug>(
    maildir: &Path,
    expected: &BTreeMap<Vec<u8>, K>,
    context: &str,
    show: impl Fn(&K) -> String,
) -> BTreeSet<K> {
    assert_eq!(
        run::tmp_count(maildir),
        0,
        "{context}: files left in Maildir/tmp"
    );
    let mut delivered = BTreeSet::new();
    for (name, bytes) in run::maildir_messages(maildir) {
        let Some(k) = expected.get(&bytes) else {
            let prefix_of: Vec<&K> = expected
                .iter()
                .filter(|(e, _)| e.starts_with(&bytes))
                .map(|(_, k)| k)
                .collect();
            panic!(
                "{context}: {name} ({} bytes) is not any server message{}",
                bytes.len(),
                if prefix_of.is_empty() {
                    String::new()
                } else {
                    format!(" (a truncated copy of {prefix_of:?})")
                }
            );
        };
        assert!(
            delivered.insert(k.clone()),
            "{context}: {} delivered twice",
            show(k)
        );
    }
    delivered
}

/// Whether a file with exactly these bytes is in the Maildir's new/ or cur/.
pub fn in_maildir(maildir: &Path, want: &[u8]) -> bool {
    ["new", "cur"].iter().any(|sub| {
        std::fs::read_dir(maildir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.metadata().map(|m| m.len()).ok() == Some(want.len() as u64)
                    && std::fs::read(e.path()).ok().as_deref() == Some(want)
            })
    })
}

/// Logs the exit code a scenario observed (for reading with `--nocapture`).
pub fn observed(what: &str, code: i32) {
    eprintln!("OBSERVED {what}: exit {code}");
}
