//! Shared pieces of the kill -9 tests (`tests/kill9.rs` over POP3, `tests/imap_kill9.rs` over
//! IMAP): clean runs, random messages, classifying where a kill landed, and the checks after
//! each kill and at the end.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::dovecot::{assert_same_messages, generated_message};
use super::run::{
    code, expected_delivery, maildir_messages, run_with_limit, tmp_count, wait_with_limit, Sandbox,
};

/// A clean (not killed) run must finish within this.
pub const LIMIT: Duration = Duration::from_secs(300);

/// An environment variable parsed as a `T`, or `default()` if it is unset or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: impl FnOnce() -> T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(default)
}

/// Runs a fetch to completion and returns how long it took; panics unless it exits 0.
pub fn timed_clean_run(cmd: Command) -> Duration {
    let start = Instant::now();
    let out = run_with_limit(cmd, LIMIT);
    let took = start.elapsed();
    assert_eq!(
        code(&out),
        0,
        "clean run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// A new random message: mostly small, some up to 50 KB.
pub fn random_message(serial: u64, rng: &mut fastrand::Rng) -> Vec<u8> {
    let size = if rng.u8(..) < 200 {
        rng.usize(1_000..10_000)
    } else {
        rng.usize(10_000..50_000)
    };
    generated_message(serial, size, rng)
}

/// The names of the files in the Maildir's tmp/ (messages being written, or left behind by a
/// killed run).
pub fn tmp_names(sb: &Sandbox) -> HashSet<std::ffi::OsString> {
    std::fs::read_dir(sb.maildir().join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

/// Where the kills landed.
#[derive(Default, Debug)]
pub struct Landed {
    /// Killed before anything new reached the Maildir, not even its tmp/ (start-up, TLS,
    /// login, listing the messages).
    pub before: u32,
    /// Killed while messages were arriving (new files in tmp/ or new/, not all delivered).
    pub during: u32,
    /// Killed after every pending message was delivered (deleting or flagging, logout,
    /// commit).
    pub late: u32,
    /// The run had already exited by itself.
    pub after: u32,
}

impl Landed {
    /// Spawns `cmd` (stderr to `errf`), SIGKILLs it after `sleep` unless it has exited by
    /// then, and counts where the kill landed. `have` is the number of messages in the Maildir
    /// before the run, `tmp_before` the names in its tmp/, `total` the number of messages ever
    /// put on the server. A run that exited by itself must have exited 0 (`what` names the
    /// round in that panic).
    #[allow(clippy::too_many_arguments)]
    pub fn kill_after(
        &mut self,
        mut cmd: Command,
        sleep: Duration,
        errf: &Path,
        sb: &Sandbox,
        have: usize,
        tmp_before: &HashSet<std::ffi::OsString>,
        total: usize,
        what: &str,
    ) {
        cmd.stdout(Stdio::null())
            .stderr(File::create(errf).unwrap());
        let mut child = cmd.spawn().expect("spawn mailpull");
        std::thread::sleep(sleep);
        match child.try_wait().unwrap() {
            Some(status) => {
                self.after += 1;
                assert_eq!(
                    status.code(),
                    Some(0),
                    "{what}: run exited by itself with {status}: {}",
                    std::fs::read_to_string(errf).unwrap_or_default()
                );
            }
            None => {
                child.kill().unwrap();
                let status = child.wait().unwrap();
                let now = maildir_messages(&sb.maildir()).len();
                let new_in_tmp = tmp_names(sb).difference(tmp_before).count();
                if status.code().is_some() {
                    // It exited between try_wait and kill.
                    self.after += 1;
                } else if now == have && new_in_tmp == 0 {
                    self.before += 1;
                } else if now < total {
                    self.during += 1;
                } else {
                    self.late += 1;
                }
            }
        }
    }
}

/// Panics if a message is in the Maildir twice, or (after giving a killed session's server
/// process time to finish renaming or expunging) neither in the Maildir nor among
/// `on_server()`.
pub fn assert_nothing_doubled_or_lost(
    sb: &Sandbox,
    on_server: impl Fn() -> Vec<Vec<u8>>,
    all: &[Vec<u8>],
    what: &str,
) {
    let in_maildir: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
    let unique: HashSet<&Vec<u8>> = in_maildir.iter().collect();
    assert_eq!(
        unique.len(),
        in_maildir.len(),
        "{what}: a message was delivered twice"
    );
    for tries in 0.. {
        let on_server: HashSet<Vec<u8>> = on_server().into_iter().collect();
        let in_maildir: HashSet<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
        let lost = all
            .iter()
            .find(|m| !in_maildir.contains(&expected_delivery(m)) && !on_server.contains(*m));
        match lost {
            None => return,
            Some(m) if tries == 20 => panic!(
                "{what}: message lost: {:?}",
                String::from_utf8_lossy(&m[..m.len().min(400)])
            ),
            Some(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// After the kills: at most two clean runs of `fetch_cmd()` must reach exit 0; then every
/// message in `all` must be in the Maildir exactly once and tmp/ must be empty.
pub fn clean_up_and_check(
    sb: &Sandbox,
    fetch_cmd: impl Fn() -> Command,
    all: &[Vec<u8>],
    seed: u64,
) {
    let mut ok = false;
    let mut last = String::new();
    for _ in 0..2 {
        let child = {
            let mut c = fetch_cmd();
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().unwrap()
        };
        let out = wait_with_limit(child, LIMIT);
        if code(&out) == 0 {
            ok = true;
            break;
        }
        last = format!(
            "exit {}: {}",
            code(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        ok,
        "no clean run succeeded after the kills (seed {seed}); last: {last}"
    );

    let delivered: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
    let expected: Vec<Vec<u8>> = all.iter().map(|m| expected_delivery(m)).collect();
    assert_same_messages(
        &format!("Maildir after kills (seed {seed})"),
        delivered,
        expected,
    );
    assert_eq!(
        tmp_count(&sb.maildir()),
        0,
        "tmp/ not empty after a clean run (seed {seed})"
    );
}
