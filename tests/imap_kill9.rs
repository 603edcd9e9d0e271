//! Crash safety over IMAP against a real Dovecot: `mailpull fetch imaps://...` (two folders,
//! INBOX and `Lists.a`) is SIGKILLed at random moments, again and again, while new mail keeps
//! arriving in both. After every kill no message may be doubled in the Maildir or missing from
//! both the Maildir and the server; after a final clean run every message ever put on the
//! server must be in the Maildir exactly once, tmp/ must be empty, and the server must be empty
//! (delete mode, `--no-keep`) or hold everything (keep mode, the IMAP default).
//!
//! `MAILPULL_KILL9_SEED` replays a run; `MAILPULL_KILL9_ROUNDS` changes the number of kills
//! that must land in a running mailpull (default 25 per mode; a round whose run finished
//! before its kill does not count, and there are at most four times as many rounds).

mod common;

use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dovecot::{assert_same_messages, generated_message, Dovecot};
use common::run::{
    code, expected_delivery, maildir_messages, run_with_limit, tmp_count, wait_with_limit, Sandbox,
};

const LIMIT: Duration = Duration::from_secs(300);
const FOLDERS: [&str; 2] = ["INBOX", "Lists.a"];

fn fetch_cmd(sb: &Sandbox, d: &Dovecot, user: &str, keep: bool) -> Command {
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(d.imaps_url(user))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .arg("--quiet");
    for f in FOLDERS {
        c.arg("--folder").arg(f);
    }
    if !keep {
        c.arg("--no-keep");
    }
    c
}

/// Runs a fetch to completion and returns how long it took; panics unless it exits 0.
fn timed_clean_run(sb: &Sandbox, d: &Dovecot, user: &str, keep: bool) -> Duration {
    let start = Instant::now();
    let out = run_with_limit(fetch_cmd(sb, d, user, keep), LIMIT);
    let took = start.elapsed();
    assert_eq!(
        code(&out),
        0,
        "clean run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn env_or<T: std::str::FromStr>(name: &str, default: impl FnOnce() -> T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(default)
}

/// A user's folders on the server, created if needed, with their Maildir directories.
struct Mailboxes {
    dirs: Vec<PathBuf>,
}

impl Mailboxes {
    fn create(d: &Dovecot, user: &str) -> Mailboxes {
        Mailboxes {
            dirs: FOLDERS.iter().map(|f| d.create_mailbox(user, f)).collect(),
        }
    }

    /// Puts a new random message (mostly small, some up to 50 KB) into a random folder.
    fn add_random(&self, d: &Dovecot, serial: u64, rng: &mut fastrand::Rng) -> Vec<u8> {
        let size = if rng.u8(..) < 200 {
            rng.usize(1_000..10_000)
        } else {
            rng.usize(10_000..50_000)
        };
        let m = generated_message(serial, size, rng);
        d.add_message_in_dir(&self.dirs[rng.usize(..self.dirs.len())], &m);
        m
    }

    /// Every message file in the folders (including ones flagged `\Deleted` but not expunged).
    fn messages(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        for dir in &self.dirs {
            for sub in ["new", "cur"] {
                let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
                    continue;
                };
                // Dovecot may rename or expunge concurrently: a vanished file is no error.
                v.extend(rd.flatten().filter_map(|e| std::fs::read(e.path()).ok()));
            }
        }
        v
    }
}

/// The names of the files in the Maildir's tmp/.
fn tmp_names(sb: &Sandbox) -> HashSet<std::ffi::OsString> {
    std::fs::read_dir(sb.maildir().join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

#[derive(Default, Debug)]
struct Landed {
    /// Killed before anything new reached the Maildir, not even its tmp/ (start-up, TLS,
    /// login, LIST, SELECT, UID FETCH of sizes, ledger).
    before: u32,
    /// Killed while messages were arriving.
    during: u32,
    /// Killed after every pending message was delivered (STORE, EXPUNGE, LOGOUT, commit).
    late: u32,
    /// The run had already exited by itself.
    after: u32,
}

/// Panics if a message is in the Maildir twice, or (after giving a killed session's server
/// process time to finish) neither in the Maildir nor on the server.
fn assert_nothing_doubled_or_lost(sb: &Sandbox, boxes: &Mailboxes, all: &[Vec<u8>], what: &str) {
    let in_maildir: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
    let unique: HashSet<&Vec<u8>> = in_maildir.iter().collect();
    assert_eq!(
        unique.len(),
        in_maildir.len(),
        "{what}: a message was delivered twice"
    );
    for tries in 0.. {
        let on_server: HashSet<Vec<u8>> = boxes.messages().into_iter().collect();
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

fn kill_loop(keep: bool) {
    let Some(d) = Dovecot::start() else { return };
    let seed = env_or("MAILPULL_KILL9_SEED", || fastrand::u64(..));
    let kills: u32 = env_or("MAILPULL_KILL9_ROUNDS", || 25);
    eprintln!("imap kill9 (keep={keep}): seed {seed} (MAILPULL_KILL9_SEED), {kills} kills");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut serial = 0u64;

    // Calibrate on bob: a full run of 300 messages, then a run with nothing to do.
    let bob = Mailboxes::create(&d, "bob");
    for _ in 0..300 {
        serial += 1;
        bob.add_random(&d, serial, &mut rng);
    }
    let cal = Sandbox::new();
    let t_full = timed_clean_run(&cal, &d, "bob", keep);
    let t_empty = (0..3)
        .map(|_| timed_clean_run(&cal, &d, "bob", keep))
        .min()
        .unwrap();
    let per_msg = t_full.saturating_sub(t_empty) / 300;
    eprintln!("clean run: 300 messages in {t_full:?}, nothing to do in {t_empty:?}");

    let alice = Mailboxes::create(&d, "alice");
    let mut all: Vec<Vec<u8>> = Vec::new();
    for _ in 0..300 {
        serial += 1;
        all.push(alice.add_random(&d, serial, &mut rng));
    }
    let sb = Sandbox::new();
    let mut landed = Landed::default();
    // Runs after kills can take longer than the calibration (recovery, a bigger ledger): the
    // window aimed at the end of a run adapts to where its kills land.
    let mut scale = 1.0f64;
    let mut round = 0;
    while landed.before + landed.during + landed.late < kills {
        assert!(
            round < kills * 4,
            "only {landed:?} after {round} rounds: the runs end before the kills (seed {seed})"
        );
        round += 1;
        let batch = if rng.bool() {
            rng.usize(2..=40)
        } else {
            rng.usize(40..=150)
        };
        for _ in 0..batch {
            serial += 1;
            all.push(alice.add_random(&d, serial, &mut rng));
        }
        let have = maildir_messages(&sb.maildir()).len();
        let tmp_before = tmp_names(&sb);
        let pending = all.len().saturating_sub(have) as u32;
        // A third of the kills at start-up, a third during the transfer, a third around its
        // end (last deliveries, STORE, EXPUNGE, LOGOUT, commit).
        let estimate = (t_empty + per_msg * pending).mul_f64(scale);
        let window = rng.u8(0..3);
        let (lo, hi) = match window {
            0 => (Duration::ZERO, t_empty),
            1 => (t_empty, estimate),
            _ => (estimate * 6 / 10, estimate * 11 / 10),
        };
        // (With a scale below 1 the estimate can fall under t_empty.)
        let hi = hi.max(lo);
        let sleep =
            Duration::from_micros(rng.u64(lo.as_micros() as u64..=hi.as_micros() as u64 + 1));

        let errf = sb.path().join(format!("stderr-{round}"));
        let mut cmd = fetch_cmd(&sb, &d, "alice", keep);
        cmd.stdout(Stdio::null())
            .stderr(File::create(&errf).unwrap());
        let mut child = cmd.spawn().expect("spawn mailpull");
        std::thread::sleep(sleep);
        let before_kill = (landed.before, landed.during, landed.after);
        match child.try_wait().unwrap() {
            Some(status) => {
                landed.after += 1;
                assert_eq!(
                    status.code(),
                    Some(0),
                    "round {round} (seed {seed}): run exited by itself with {status}: {}",
                    std::fs::read_to_string(&errf).unwrap_or_default()
                );
            }
            None => {
                child.kill().unwrap();
                let status = child.wait().unwrap();
                let now = maildir_messages(&sb.maildir()).len();
                let new_in_tmp = tmp_names(&sb).difference(&tmp_before).count();
                if status.code().is_some() {
                    landed.after += 1;
                } else if now == have && new_in_tmp == 0 {
                    landed.before += 1;
                } else if now < all.len() {
                    landed.during += 1;
                } else {
                    landed.late += 1;
                }
            }
        }
        if window == 2 {
            if (landed.before, landed.during) != (before_kill.0, before_kill.1) {
                scale *= 1.25;
            } else if landed.after != before_kill.2 {
                scale *= 0.85;
            }
        }
        eprintln!(
            "round {round}: {pending} pending, window {window}, kill after {sleep:?}: {landed:?}"
        );
        assert_nothing_doubled_or_lost(&sb, &alice, &all, &format!("round {round} (seed {seed})"));
    }
    eprintln!("kills landed: {landed:?} ({round} rounds, seed {seed})");

    // Clean up: at most two clean runs to reach exit 0.
    let mut ok = false;
    let mut last = String::new();
    for _ in 0..2 {
        let child = {
            let mut c = fetch_cmd(&sb, &d, "alice", keep);
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
    if keep {
        assert_same_messages(
            &format!("server, keep mode (seed {seed})"),
            alice.messages(),
            all,
        );
    } else {
        assert_eq!(
            alice.messages().len(),
            0,
            "server not empty after the clean run in delete mode (seed {seed})"
        );
    }
}

#[test]
fn imap_kill9_delete_mode_never_loses_or_doubles() {
    kill_loop(false);
}

#[test]
fn imap_kill9_keep_mode_never_loses_or_doubles() {
    kill_loop(true);
}
