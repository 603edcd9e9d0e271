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

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::dovecot::{assert_same_messages, Dovecot};
use common::kill::{
    assert_nothing_doubled_or_lost, clean_up_and_check, env_or, random_message, timed_clean_run,
    tmp_names, Landed,
};
use common::run::{maildir_messages, Sandbox};

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
        let m = random_message(serial, rng);
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
    let t_full = timed_clean_run(fetch_cmd(&cal, &d, "bob", keep));
    let t_empty = (0..3)
        .map(|_| timed_clean_run(fetch_cmd(&cal, &d, "bob", keep)))
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
        let before_kill = (landed.before, landed.during, landed.after);
        landed.kill_after(
            fetch_cmd(&sb, &d, "alice", keep),
            sleep,
            &errf,
            &sb,
            have,
            &tmp_before,
            all.len(),
            &format!("round {round} (seed {seed})"),
        );
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
        assert_nothing_doubled_or_lost(
            &sb,
            || alice.messages(),
            &all,
            &format!("round {round} (seed {seed})"),
        );
    }
    eprintln!("kills landed: {landed:?} ({round} rounds, seed {seed})");

    // Clean up: at most two clean runs to reach exit 0.
    clean_up_and_check(&sb, || fetch_cmd(&sb, &d, "alice", keep), &all, seed);
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
