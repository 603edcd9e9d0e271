//! The runner the fault matrices share (`tests/pop3_faults.rs`, `tests/imap_faults.rs`): one
//! mailpull run against a scripted server with the checks every run must pass ([`fetch`]), and
//! the scenario every fault of a matrix goes through ([`fault_then_rerun`]): the faulty run,
//! then a clean re-run that must deliver everything exactly once without downloading again
//! what was delivered before, then a third run with nothing left to do.
//!
//! A suite's fixture says what differs between the protocols through [`Suite`].

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use super::fault::{
    assert_no_secret_leaked, assert_not_spinning, assert_one_clean_session, observed, run_sampled,
};
use super::run::{self, Sandbox};
use super::server::{Fault, Protocol, Server, Stats, PASSWORD, USER};

/// mailpull must finish within this, whatever the server does.
pub const LIMIT: Duration = Duration::from_secs(20);
/// A run against a silent server (with `--timeout 3`) must end well within this.
pub const SILENT_LIMIT: Duration = Duration::from_secs(12);

/// Whether mailpull deletes what it delivered or leaves it on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Delete,
    Keep,
}

/// A message's identity on a suite's server.
pub type Key<S> = <<S as Suite>::P as Protocol>::Key;

/// What a fault suite's fixture tells the shared runner.
pub trait Suite {
    type P: Protocol;

    fn server(&self) -> &Server<Self::P>;
    fn sandbox(&self) -> &Sandbox;
    /// Whether mailpull runs in keep mode (leave mail on the server).
    fn mode(&self) -> Mode;
    /// The arguments that select the mode and the folders, for every run.
    fn mode_args(&self) -> Vec<String>;
    /// Commands that must not be sent in keep mode.
    fn keep_forbids(&self) -> &'static [&'static str];
    /// Every message the server started with that mailpull should deliver.
    fn all(&self) -> BTreeSet<Key<Self>>;
    /// Every message the server started with.
    fn initial_keys(&self) -> BTreeSet<Key<Self>>;
    /// The size of a message the server started with.
    fn expected_len(&self, k: &Key<Self>) -> usize;
    /// Checks the Maildir and the server against each other; returns the delivered messages.
    fn check(&self, context: &str) -> BTreeSet<Key<Self>>;
    /// Right after the faulty run: the messages it left for the re-run to remove (delivered
    /// but still on the server, or flagged but not expunged).
    fn left_to_remove(&self, delivered: &BTreeSet<Key<Self>>) -> BTreeSet<Key<Self>>;
    /// Whether `run` removed (or began removing) `k`.
    fn removed_in(&self, run: &Run<Key<Self>>, k: &Key<Self>) -> bool;
    /// One run of `mailpull fetch` with the checks of every run (see [`fetch`]).
    fn fetch(&self) -> Run<Key<Self>>
    where
        Self: Sized,
    {
        fetch(self, Invocation::default())
    }

    /// [`Suite::fetch`] invoked another way.
    fn fetch_with(&self, inv: Invocation) -> Run<Key<Self>>
    where
        Self: Sized,
    {
        fetch(self, inv)
    }

    /// Assertions that depend on where the fault struck, right after the faulty run.
    fn specific_checks(
        &self,
        _fault: &<Self::P as Protocol>::Fault,
        _r1: &Run<Key<Self>>,
        _d1: &BTreeSet<Key<Self>>,
    ) {
    }
}

/// One finished mailpull run.
pub struct Run<K> {
    pub code: i32,
    pub stderr: String,
    /// What the server saw during this run.
    pub stats: Stats<K>,
    pub elapsed: Duration,
    /// mailpull's peak anonymous memory (heap and stacks), KiB.
    pub peak_anon_kib: u64,
}

impl<K: std::fmt::Debug> Run<K> {
    pub fn describe(&self) -> String {
        format!(
            "exit {} after {:?}\ncommands: {:#?}\nviolations: {:#?}\nstderr:\n{}",
            self.code,
            self.elapsed,
            self.stats
                .commands
                .iter()
                .map(|c| c.line.as_str())
                .collect::<Vec<_>>(),
            self.stats.violations,
            self.stderr
        )
    }
}

/// How mailpull is invoked.
pub struct Invocation<'a> {
    pub password: &'a str,
    pub verbosity: &'a str,
    /// `--insecure-no-tls`.
    pub insecure: bool,
    /// More arguments for `fetch`.
    pub args: &'a [&'a str],
}

impl Default for Invocation<'_> {
    fn default() -> Self {
        Invocation {
            password: PASSWORD,
            verbosity: "-v",
            insecure: true,
            args: &[],
        }
    }
}

/// Runs `mailpull fetch` against the suite's server and checks what must hold after any run:
/// no busy-waiting, no leaked password, one clean session with at most one login, every
/// message downloaded and deleted at most once, nothing deleted in keep mode.
pub fn fetch<S: Suite>(fx: &S, inv: Invocation) -> Run<Key<S>> {
    let server = fx.server();
    let before = server.stats();
    let mut cmd: Command = fx.sandbox().cmd(Some(inv.password));
    cmd.arg(inv.verbosity)
        .arg("fetch")
        .arg(server.url())
        .arg("--maildir")
        .arg(fx.sandbox().maildir())
        .args(["--timeout", "3"]);
    if inv.insecure {
        cmd.arg("--insecure-no-tls");
    }
    cmd.args(fx.mode_args());
    cmd.args(inv.args);
    let start = Instant::now();
    let sampled = run_sampled(cmd, LIMIT);
    let (out, cpu) = (sampled.output, sampled.cpu);
    let elapsed = start.elapsed();
    server.wait_idle(Duration::from_secs(10));
    let run = Run {
        code: run::code(&out),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stats: server.stats().since(&before),
        elapsed,
        peak_anon_kib: sampled.peak_anon_kib,
    };
    assert_not_spinning(cpu, elapsed, &run.describe());
    if std::env::var_os(format!("{}_FAULTS_TRACE", S::P::NAME)).is_some() {
        eprintln!("TRACE {}\n{}", server.url(), run.describe());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_no_secret_leaked(inv.password, USER, &run.stderr, &stdout, &run.describe());
    assert_one_clean_session(
        &run.stats.violations,
        run.stats.connections,
        run.stats.logins,
        run.stats.failed_logins,
        &run.describe(),
    );
    for (k, n) in &run.stats.fetched {
        assert_eq!(
            *n,
            1,
            "{k:?} downloaded {n} times in one run\n{}",
            run.describe()
        );
    }
    for (k, n) in &run.stats.deleted {
        assert_eq!(
            *n,
            1,
            "{k:?} deleted {n} times in one run\n{}",
            run.describe()
        );
    }
    if fx.mode() == Mode::Keep {
        assert!(
            run.stats.deleted.is_empty(),
            "deleted in keep mode\n{}",
            run.describe()
        );
        for name in fx.keep_forbids() {
            assert!(
                run.stats.commands_with(name).is_empty(),
                "{name} in keep mode\n{}",
                run.describe()
            );
        }
    }
    run
}

/// Runs mailpull once with `fault` on its connection (expecting one of `codes`), then again
/// without fault (expecting 0 and everything delivered exactly once, without downloading again
/// what the first run delivered), then a third time (nothing left to do). `setup` describes
/// the fixture (mode, capabilities) in messages.
pub fn fault_then_rerun<S: Suite>(
    fx: &S,
    fault: <S::P as Protocol>::Fault,
    codes: &[i32],
    setup: &str,
) {
    let server = fx.server();
    let all = fx.all();
    server.fault_next(fault.clone());
    let r1 = fx.fetch();
    let ctx1 = format!("{fault:?} ({setup}), faulty run");
    assert!(
        codes.contains(&r1.code),
        "{ctx1}: expected exit {codes:?}\n{}",
        r1.describe()
    );
    if codes.len() > 1 {
        observed(&format!("{fault:?} {setup}"), r1.code);
    }
    if fault.silences() {
        assert!(
            r1.elapsed < SILENT_LIMIT,
            "{ctx1}: took {:?} to notice a silent server",
            r1.elapsed
        );
    }
    let d1 = fx.check(&ctx1);
    let left1 = fx.left_to_remove(&d1);
    faulty_run_checks(fx, &fault, &r1, &d1, &ctx1);
    fx.specific_checks(&fault, &r1, &d1);

    let r2 = fx.fetch();
    let ctx2 = format!("{fault:?} ({setup}), clean re-run");
    assert_eq!(r2.code, 0, "{ctx2}\n{}", r2.describe());
    assert_eq!(
        r2.stats.logins,
        1,
        "{ctx2}: one login per run\n{}",
        r2.describe()
    );
    let d2 = fx.check(&ctx2);
    assert_eq!(
        d2,
        all,
        "{ctx2}: not everything delivered\n{}",
        r2.describe()
    );
    for k in &d1 {
        assert_eq!(
            r2.stats.fetched_of(k),
            0,
            "{ctx2}: {k:?} was delivered before the fault but downloaded again\n{}",
            r2.describe()
        );
    }
    for k in all.difference(&d1) {
        assert_eq!(
            r2.stats.fetched_of(k),
            1,
            "{ctx2}: {k:?} was not downloaded\n{}",
            r2.describe()
        );
    }
    if fx.mode() == Mode::Keep {
        assert_eq!(server.keys(), fx.initial_keys(), "{ctx2}: keep mode");
    } else {
        let left: BTreeSet<_> = server.keys().intersection(&all).cloned().collect();
        assert!(
            left.is_empty(),
            "{ctx2}: server not empty: {left:?}\n{}",
            r2.describe()
        );
        // What the faulty run delivered but did not remove is removed now, without a download.
        for k in &left1 {
            assert!(
                fx.removed_in(&r2, k),
                "{ctx2}: {k:?} delivered earlier but not removed by the re-run\n{}",
                r2.describe()
            );
        }
    }
    // Over both runs: one download per message, plus one for a message whose first download
    // did not lead to a delivery (cut mid-message, or pipelined ahead of the cut); a message
    // is sent completely in the faulty run at most once, and again in the re-run only if it
    // was not delivered before.
    let total = server.stats();
    for k in &all {
        let extra = usize::from(r1.stats.fetched_of(k) > 0 && !d1.contains(k));
        assert_eq!(
            total.fetched_of(k),
            1 + extra,
            "{ctx2}: downloads of {k:?} over both runs\n{}",
            r2.describe()
        );
        let first = r1.stats.whole_of(k);
        assert!(
            first <= 1,
            "{ctx2}: {k:?} sent {first} times in the faulty run"
        );
        assert_eq!(
            total.whole_of(k),
            first + usize::from(!d1.contains(k)),
            "{ctx2}: complete downloads of {k:?} over both runs\n{}",
            r2.describe()
        );
    }

    let r3 = fx.fetch();
    let ctx3 = format!("{fault:?} ({setup}), third run");
    assert_eq!(r3.code, 0, "{ctx3}\n{}", r3.describe());
    assert!(
        r3.stats.fetched.is_empty() && r3.stats.deleted.is_empty() && r3.stats.expunged.is_empty(),
        "{ctx3}: nothing should be left to do\n{}",
        r3.describe()
    );
    assert_eq!(fx.check(&ctx3), all);
}

/// The checks of the faulty run that follow from the fault: nothing delivered without a
/// login, no incomplete message delivered, nothing deleted that was not delivered.
fn faulty_run_checks<S: Suite>(
    fx: &S,
    fault: &<S::P as Protocol>::Fault,
    r1: &Run<Key<S>>,
    d1: &BTreeSet<Key<S>>,
    ctx: &str,
) {
    if fault.prevents_login() {
        assert_eq!(r1.stats.logins, 0, "{ctx}");
        assert!(d1.is_empty(), "{ctx}: delivered without a session");
    }
    // A message whose data was cut, stalled or mis-announced is not delivered (a cut after
    // all of its data, e.g. in IMAP's closing parenthesis, leaves a complete message).
    if let Some((nth, after_bytes)) = fault.spoils() {
        let k = r1.stats.fetch_log.get(nth - 1).unwrap_or_else(|| {
            panic!(
                "{ctx}: the fault did not strike (no download {nth})\n{}",
                r1.describe()
            )
        });
        let incomplete = after_bytes.is_none_or(|a| a < fx.expected_len(k));
        assert!(
            !incomplete || !d1.contains(k),
            "{ctx}: {k:?} delivered although its data was incomplete\n{}",
            r1.describe()
        );
    }
    // Whatever was deleted was delivered (the delete check verified the order).
    for k in r1.stats.deleted.keys() {
        assert!(d1.contains(k), "{ctx}: {k:?} deleted but not delivered");
    }
}
