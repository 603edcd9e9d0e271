//! Crash safety against a real Dovecot: `mailpull fetch` is SIGKILLed at random moments, again
//! and again, while new mail keeps arriving. In the end every message ever put on the server
//! must be in the Maildir exactly once, tmp/ must be empty, and (in delete mode) the server
//! must be empty.
//!
//! `MAILPULL_KILL9_SEED` replays a run; `MAILPULL_KILL9_ROUNDS` changes the number of kills.

mod common;

use std::collections::HashSet;
use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dovecot::{assert_same_messages, generated_message, Dovecot};
use common::run::{
    code, expected_delivery, maildir_messages, run_with_limit, tmp_count, wait_with_limit, Sandbox,
};

const LIMIT: Duration = Duration::from_secs(300);

fn fetch_cmd(sb: &Sandbox, d: &Dovecot, user: &str, keep: bool) -> Command {
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(d.pop3s_url(user))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .arg("--quiet");
    if keep {
        c.arg("--keep");
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

fn random_message(serial: u64, rng: &mut fastrand::Rng) -> Vec<u8> {
    // Mostly small, some up to 50 KB.
    let size = if rng.u8(..) < 200 {
        rng.usize(1_000..10_000)
    } else {
        rng.usize(10_000..50_000)
    };
    generated_message(serial, size, rng)
}

/// The names of the files in the Maildir's tmp/ (messages being written, or left behind by a
/// killed run).
fn tmp_names(sb: &Sandbox) -> HashSet<std::ffi::OsString> {
    std::fs::read_dir(sb.maildir().join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

#[derive(Default, Debug)]
struct Landed {
    /// Killed before anything new reached the Maildir, not even its tmp/ (start-up, TLS,
    /// login, LIST).
    before: u32,
    /// Killed while messages were arriving (new files in tmp/ or new/, not all delivered).
    during: u32,
    /// Killed after every pending message was delivered (deleting, QUIT, commit).
    late: u32,
    /// The run had already exited by itself.
    after: u32,
}

fn kill_loop(keep: bool) {
    let Some(d) = Dovecot::start() else { return };
    let seed = std::env::var("MAILPULL_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let rounds: u32 = std::env::var("MAILPULL_KILL9_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    eprintln!("kill9 (keep={keep}): seed {seed} (MAILPULL_KILL9_SEED), {rounds} rounds");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut serial = 0u64;
    let mut next = |rng: &mut fastrand::Rng| {
        serial += 1;
        random_message(serial, rng)
    };

    // Calibrate on bob: a full run of 300 messages, then a run with nothing to do.
    for _ in 0..300 {
        let m = next(&mut rng);
        d.add_message("bob", &m);
    }
    let cal = Sandbox::new();
    let t_full = timed_clean_run(&cal, &d, "bob", true);
    let t_empty = timed_clean_run(&cal, &d, "bob", true);
    let per_msg = t_full.saturating_sub(t_empty) / 300;
    eprintln!("clean run: 300 messages in {t_full:?}, nothing to do in {t_empty:?}");

    let mut all: Vec<Vec<u8>> = Vec::new();
    for _ in 0..300 {
        let m = next(&mut rng);
        d.add_message("alice", &m);
        all.push(m);
    }
    let sb = Sandbox::new();
    let mut landed = Landed::default();
    for round in 0..rounds {
        for _ in 0..rng.usize(2..=40) {
            let m = next(&mut rng);
            d.add_message("alice", &m);
            all.push(m);
        }
        let have = maildir_messages(&sb.maildir()).len();
        let tmp_before = tmp_names(&sb);
        let pending = all.len().saturating_sub(have) as u32;
        // Aim a third of the kills at start-up (connect, TLS, login, listing), a third at the
        // transfer, and a third around its end (last deliveries, deletes, QUIT, commit).
        let estimate = t_empty + per_msg * pending;
        let (lo, hi) = match rng.u8(0..3) {
            0 => (Duration::ZERO, t_empty),
            1 => (t_empty, estimate),
            _ => (estimate * 6 / 10, estimate * 11 / 10),
        };
        let sleep =
            Duration::from_micros(rng.u64(lo.as_micros() as u64..=hi.as_micros() as u64 + 1));

        let errf = sb.path().join(format!("stderr-{round}"));
        let mut cmd = fetch_cmd(&sb, &d, "alice", keep);
        cmd.stdout(Stdio::null())
            .stderr(File::create(&errf).unwrap());
        let mut child = cmd.spawn().expect("spawn mailpull");
        std::thread::sleep(sleep);
        match child.try_wait().unwrap() {
            Some(status) => {
                landed.after += 1;
                assert_eq!(
                    status.code(),
                    Some(0),
                    "round {round}: run exited by itself with {status}: {}",
                    std::fs::read_to_string(&errf).unwrap_or_default()
                );
            }
            None => {
                child.kill().unwrap();
                let status = child.wait().unwrap();
                let now = maildir_messages(&sb.maildir()).len();
                let new_in_tmp = tmp_names(&sb).difference(&tmp_before).count();
                if status.code().is_some() {
                    // It exited between try_wait and kill.
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
        // Whatever happened, nothing may be delivered twice, and every message must still be
        // somewhere: in the Maildir or on the server.
        let in_maildir: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
        let unique: HashSet<&Vec<u8>> = in_maildir.iter().collect();
        assert_eq!(
            unique.len(),
            in_maildir.len(),
            "round {round} (seed {seed}): a message was delivered twice"
        );
        // The killed session's server process may still be renaming files (new/ -> cur/) or
        // expunging: a message seen nowhere is only lost if it stays so.
        let mut tries = 0;
        loop {
            let on_server: HashSet<Vec<u8>> = d.server_messages("alice").into_iter().collect();
            let in_maildir: HashSet<Vec<u8>> =
                maildir_messages(&sb.maildir()).into_values().collect();
            let lost = all
                .iter()
                .find(|m| !in_maildir.contains(&expected_delivery(m)) && !on_server.contains(*m));
            match lost {
                None => break,
                Some(m) if tries == 20 => panic!(
                    "round {round} (seed {seed}): message lost: {:?}",
                    String::from_utf8_lossy(&m[..m.len().min(400)])
                ),
                Some(_) => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    eprintln!("kills landed: {landed:?} (kill after {rounds} rounds, seed {seed})");

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
        assert_same_messages("server (keep mode)", d.server_messages("alice"), all);
    } else {
        assert_eq!(d.server_count("alice"), 0, "server not empty (seed {seed})");
    }
}

#[test]
fn kill9_delete_mode_never_loses_or_doubles() {
    kill_loop(false);
}

#[test]
fn kill9_keep_mode_never_loses_or_doubles() {
    kill_loop(true);
}
