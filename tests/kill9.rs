//! Crash safety against a real Dovecot: `mailpull fetch` is SIGKILLed at random moments, again
//! and again, while new mail keeps arriving. In the end every message ever put on the server
//! must be in the Maildir exactly once, tmp/ must be empty, and (in delete mode) the server
//! must be empty.
//!
//! `MAILPULL_KILL9_SEED` replays a run; `MAILPULL_KILL9_ROUNDS` changes the number of kills.

mod common;

use std::process::Command;
use std::time::Duration;

use common::dovecot::{assert_same_messages, Dovecot};
use common::kill::{
    assert_nothing_doubled_or_lost, clean_up_and_check, env_or, random_message, timed_clean_run,
    tmp_names, Landed,
};
use common::run::{maildir_messages, Sandbox};

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

fn kill_loop(keep: bool) {
    let Some(d) = Dovecot::start() else { return };
    let seed = env_or("MAILPULL_KILL9_SEED", || fastrand::u64(..));
    let rounds: u32 = env_or("MAILPULL_KILL9_ROUNDS", || 40);
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
    let t_full = timed_clean_run(fetch_cmd(&cal, &d, "bob", true));
    let t_empty = timed_clean_run(fetch_cmd(&cal, &d, "bob", true));
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
        landed.kill_after(
            fetch_cmd(&sb, &d, "alice", keep),
            sleep,
            &errf,
            &sb,
            have,
            &tmp_before,
            all.len(),
            &format!("round {round}"),
        );
        // Whatever happened, nothing may be delivered twice, and every message must still be
        // somewhere: in the Maildir or on the server. (The killed session's server process
        // may still be renaming files (new/ -> cur/) or expunging: a message seen nowhere is
        // only lost if it stays so.)
        assert_nothing_doubled_or_lost(
            &sb,
            || d.server_messages("alice"),
            &all,
            &format!("round {round} (seed {seed})"),
        );
    }
    eprintln!("kills landed: {landed:?} (kill after {rounds} rounds, seed {seed})");

    // Clean up: at most two clean runs to reach exit 0.
    clean_up_and_check(&sb, || fetch_cmd(&sb, &d, "alice", keep), &all, seed);
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
