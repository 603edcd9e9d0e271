//! `mailpull watch`: keeps fetching until SIGINT or SIGTERM.
//!
//! Every account runs in its own thread and holds its [`crate::account::Session`] (and so its lock)
//! for the whole watch, so a `mailpull fetch` of a watched account waits `--lock-wait` and fails
//! as it would during any other run, and two watches never fetch the same account.
//!
//! - **POP3**, and IMAP servers without IDLE: one complete fetch ([`crate::account::Session::fetch`]:
//!   one login, QUIT/LOGOUT) every `--every` (else the account's `poll_interval`, else
//!   [`DEFAULT_EVERY`]).
//! - **IMAP with IDLE** (RFC 2177): the configured folders (names or LIST patterns) are
//!   resolved once, when the watch starts; each folder gets its own connection, because IDLE
//!   watches only the selected mailbox. A folder's connection fetches the folder (the engine
//!   over a `Watched` source that does not end the session), then IDLEs on it; new mail
//!   (`EXISTS`) is fetched at once, in the same session, listing only the messages above the
//!   highest UID listed so far (`UID FETCH n:*`), not the whole folder. IDLE is re-issued
//!   every [`IDLE_RENEW`] at most (RFC 2177 §3: servers may drop a client idle for 30
//!   minutes), and the whole folder is listed and fetched every `--every` anyway, as a safety
//!   net (and after a reconnection, and after a fetch that left something undone). The fetches of one
//!   account's folders take turns, so the ledger and the target see one fetch at a time.
//! - **Failures** never stop the other accounts, and one policy ([`Retrier`]) handles them all,
//!   for accounts and for IDLE folders alike. A lost connection, a refused connection, a
//!   busy account or a delivery failure is logged and retried after [`RETRY_FIRST`], doubling
//!   up to [`RETRY_CAP`], and the delay starts over after a fetch succeeds. A refused login is
//!   retried every [`AUTH_RETRY`] only (the password command, if any, is run again first), so
//!   that a wrong password does not lock the account on the server. A configuration error
//!   (no password source, a bad CA file, a ledger from a newer mailpull) gives the account up
//!   with a clear message; when every account has given up, the watch exits with that status.
//! - **Stopping**: SIGINT or SIGTERM sets the watch's [`engine::StopToken`]. The engine finishes the
//!   message in flight, requests no more and ends the fetch properly; an IDLE wakes up within
//!   [`IDLE_TICK`], sends DONE and the session ends with LOGOUT; POP3 ends with QUIT. Then
//!   mailpull exits 0. Messages not fetched stay on the server for the next run. A second
//!   signal ends the process at once (exit 1), which is still safe (see [`engine`]).
//!
//! Output is one line per event on stderr, without progress bars: a line per fetch that
//! delivered or deleted something (every fetch with `-v`), and a line per failure, retry and
//! reconnection. On a terminal the lines carry the time; under systemd, journald adds it.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::account::{exit_for, passwords, Session};

mod idle;
mod retry;

use crate::config::{
    self, Account, ConfigError, Options, PasswordSource, Protocol, Target, Verbosity,
};
use crate::engine::{self, Summary};
use crate::exit::Exit;
use crate::ui;
use idle::watch_imap;
pub use retry::{retry_for, Backoff, Retry};
use retry::{Retrier, Waited};

/// The first delay before retrying after a failure.
pub const RETRY_FIRST: Duration = Duration::from_secs(5);
/// The longest delay between retries.
pub const RETRY_CAP: Duration = Duration::from_secs(300);
/// The delay before trying again after a refused login.
pub const AUTH_RETRY: Duration = Duration::from_secs(30 * 60);
/// IDLE is ended and re-issued at least this often (RFC 2177 asks for less than 29 minutes).
pub const IDLE_RENEW: Duration = Duration::from_secs(10 * 60);
/// How often an IDLE wakes up to see whether it should stop.
pub const IDLE_TICK: Duration = Duration::from_millis(500);
/// The shortest `--every`.
const MIN_EVERY: Duration = Duration::from_secs(1);
/// The poll interval without `--every` or `poll_interval`.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(5 * 60);

/// Whether SIGINT or SIGTERM arrived.
fn stopped() -> bool {
    stop_token().requested()
}

/// The watch's stop request, set on SIGINT/SIGTERM.
fn stop_token() -> &'static engine::StopToken {
    static STOP: std::sync::LazyLock<engine::StopToken> =
        std::sync::LazyLock::new(engine::StopToken::new);
    &STOP
}

/// Sleeps for `d`, waking early when a stop is requested. Returns whether it was.
fn sleep(d: Duration) -> bool {
    let end = crate::time::later(Instant::now(), d);
    loop {
        if stopped() {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// Shows a duration briefly: `5 s`, `2 min`, `1 h 30 min`.
fn show(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else {
        match (s / 3600, (s % 3600) / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        }
    }
}

/// An error (with its causes) on one line, for the log.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let c = cause.to_string().replace('\n', " ");
        if !msg.contains(&c) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&c);
        }
    }
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the watch writes its lines.
struct Out {
    verbosity: Verbosity,
    /// Prefix lines with the time (on a terminal; journald adds its own).
    stamp: bool,
}

impl Out {
    /// Writes one line, made terminal-safe (errors quote servers' texts).
    fn line(&self, text: &str) {
        let text = ui::safe(text);
        if self.stamp {
            let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
            eprintln!("{} {text}", t.get(11..19).unwrap_or(&t));
        } else {
            eprintln!("{text}");
        }
    }

    /// A status line (not shown with `--quiet`).
    fn info(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            self.line(&format!("mailpull: {text}"));
        }
    }

    /// A failure (always shown).
    fn error(&self, text: &str) {
        self.line(&format!("mailpull: error: {text}"));
    }

    /// The line of one fetch: shown when it did something, or always with `-v`.
    fn fetched(&self, s: &Summary, label: &str) {
        let busy = s.new + s.deleted + s.skipped + s.deferred + s.recovered > 0;
        let show = match self.verbosity {
            Verbosity::Quiet => false,
            Verbosity::Normal => busy,
            Verbosity::Verbose | Verbosity::Trace => true,
        };
        if show {
            self.line(&ui::summary_line(s, label));
        }
    }
}

/// What every account's thread shares.
struct Ctx<'a> {
    opts: &'a Options,
    /// `--every`, if given.
    every: Option<Duration>,
    out: &'a Out,
    /// Taken around fetches that deliver to stdout, so that their messages never interleave.
    stdout: Mutex<()>,
}

impl Ctx<'_> {
    /// How often `account` is fetched when it cannot IDLE: `--every`, else its
    /// `poll_interval`, else [`DEFAULT_EVERY`].
    fn every(&self, account: &Account) -> Duration {
        self.every
            .or(account.poll_interval)
            .unwrap_or(DEFAULT_EVERY)
            .max(MIN_EVERY)
    }
}

/// Parses `--every` (at least [`MIN_EVERY`]).
pub fn parse_every(text: &str) -> Result<Duration, ConfigError> {
    let every = config::parse_duration(text)
        .map_err(|e| ConfigError::Usage(format!("invalid --every: {e}")))?;
    if every < MIN_EVERY {
        return Err(ConfigError::Usage(format!(
            "--every {text} is too short: at least 1s"
        )));
    }
    Ok(every)
}

/// What `mailpull watch` watches, in plain values.
pub struct WatchRequest {
    pub accounts: Vec<Account>,
    pub opts: Options,
    /// `--every`, if given.
    pub every: Option<Duration>,
}

/// Runs `mailpull watch` until SIGINT or SIGTERM (exit 0), or until every account was given up.
pub fn watch(req: WatchRequest) -> anyhow::Result<Exit> {
    let WatchRequest {
        accounts,
        opts,
        every,
    } = req;
    let passwords = passwords(&accounts);

    // The first SIGINT/SIGTERM asks for a clean stop; a second one ends the process at once.
    let flag = stop_token().flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(flag))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(flag)))
            .context("cannot install the signal handlers")?;
    }

    let out = Out {
        verbosity: opts.verbosity,
        stamp: std::io::stderr().is_terminal(),
    };
    let ctx = Ctx {
        opts: &opts,
        every,
        out: &out,
        stdout: Mutex::new(()),
    };
    let ends: Vec<Option<anyhow::Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = accounts
            .iter()
            .zip(passwords)
            .map(|(account, password)| {
                let ctx = &ctx;
                scope.spawn(move || watch_account(ctx, account, password).err())
            })
            .collect();
        join_all(handles)
    });
    if stopped() {
        out.info("stopped");
        return Ok(Exit::Ok);
    }
    // Every account gave up (each was reported when it did).
    let exit = ends
        .iter()
        .flatten()
        .map(exit_for)
        .fold(Exit::Ok, Exit::max);
    out.error("no account left to watch");
    Ok(exit)
}

/// Watches one account until a stop is requested (`Ok`) or it is given up (`Err`, already
/// reported).
fn watch_account(
    ctx: &Ctx<'_>,
    account: &Account,
    password: Result<String, ConfigError>,
) -> anyhow::Result<()> {
    let label = &account.label;
    let mut retry = Retrier::new(ctx.out, label);
    let mut password = match password {
        Ok(p) => p,
        Err(e) => {
            let e = anyhow::Error::new(e).context(format!("account {label}"));
            ctx.out
                .error(&format!("{}; giving up {label}", one_line(&e)));
            return Err(e);
        }
    };
    // Set once the server turned out not to offer IDLE.
    let mut polling = account.protocol == Protocol::Pop3;

    // Take the account for the whole watch.
    let session = loop {
        if stopped() {
            return Ok(());
        }
        match Session::open(account, ctx.opts) {
            Ok(s) => break s,
            Err(e) => {
                let e = e.context(format!("account {label}"));
                if retry.failed(e)? == Waited::Stopped {
                    return Ok(());
                }
            }
        }
    };

    if polling {
        ctx.out.info(&format!(
            "{label}: fetching every {}",
            show(ctx.every(account))
        ));
    }
    loop {
        if stopped() {
            return Ok(());
        }
        let result = if polling {
            poll_once(ctx, &session, &password)
        } else {
            match watch_imap(ctx, &session, &password, &mut retry) {
                // The server has no IDLE (or no folder to watch): poll.
                Ok(false) => {
                    polling = true;
                    poll_once(ctx, &session, &password)
                }
                Ok(true) => return Ok(()),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => {
                retry.succeeded();
                if sleep(ctx.every(account)) {
                    return Ok(());
                }
            }
            Err(e) => match retry.failed(e)? {
                Waited::Stopped => return Ok(()),
                Waited::Again => {}
                // The password may have been fixed where the password command reads it.
                Waited::AgainAfterRefusedLogin => {
                    if let PasswordSource::Command(_) = account.password {
                        if let Some(Ok(p)) = passwords(std::slice::from_ref(account)).pop() {
                            password = p;
                        }
                    }
                }
            },
        }
    }
}

/// One complete fetch of the account (its own login and logout), in the account's session.
fn poll_once(ctx: &Ctx<'_>, session: &Session<'_>, password: &str) -> anyhow::Result<()> {
    let account = session.account;
    let _turn = (account.target == Target::Stdout)
        .then(|| ctx.stdout.lock().unwrap_or_else(|p| p.into_inner()));
    // No progress bar: the watch's output is one line per event (the IDLE fetches show none
    // either).
    let (summary, r) = session.fetch(password, || crate::engine::NoProgress, None, stop_token());
    if let Some(s) = &summary {
        ctx.out.fetched(s, &account.label);
    }
    r.with_context(|| format!("account {}", account.label))
}

/// Waits for every watch thread; a thread that panicked (a bug, reported by the panic hook)
/// counts as given up with an internal error (exit 70).
fn join_all(
    handles: Vec<std::thread::ScopedJoinHandle<'_, Option<anyhow::Error>>>,
) -> Vec<Option<anyhow::Error>> {
    handles
        .into_iter()
        .map(|h| {
            h.join().unwrap_or_else(|payload| {
                Some(anyhow::Error::new(crate::exit::InternalError(
                    crate::exit::panic_message(payload.as_ref()),
                )))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_starts_over() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let got: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 60, 60, 60]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(5));
        assert_eq!(b.next_delay(), Duration::from_secs(10));
    }

    #[test]
    fn backoff_defaults_reach_the_cap_in_a_few_steps() {
        let mut b = Backoff::new(RETRY_FIRST, RETRY_CAP);
        let got: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 80, 160, 300, 300]);
        // A first delay larger than the cap is capped.
        let mut big = Backoff::new(Duration::from_secs(600), Duration::from_secs(60));
        assert_eq!(big.next_delay(), Duration::from_secs(60));
        assert_eq!(big.next_delay(), Duration::from_secs(60));
    }

    #[test]
    fn failures_are_retried_by_class() {
        assert_eq!(retry_for(Exit::TempFail), Retry::Backoff);
        assert_eq!(retry_for(Exit::Unavailable), Retry::Backoff);
        assert_eq!(retry_for(Exit::Protocol), Retry::Backoff);
        assert_eq!(retry_for(Exit::IoErr), Retry::Backoff);
        assert_eq!(retry_for(Exit::NoPerm), Retry::Slowly);
        assert_eq!(retry_for(Exit::Config), Retry::GiveUp);
        assert_eq!(retry_for(Exit::Usage), Retry::GiveUp);
    }

    #[test]
    fn durations_and_errors_read_well() {
        assert_eq!(show(Duration::from_secs(5)), "5 s");
        assert_eq!(show(Duration::from_secs(300)), "5 min");
        assert_eq!(show(Duration::from_secs(1800)), "30 min");
        assert_eq!(show(Duration::from_secs(3600)), "1 h");
        assert_eq!(show(Duration::from_secs(5400)), "1 h 30 min");
        let e = anyhow::anyhow!("connection reset\n  (try later)").context("account work");
        assert_eq!(one_line(&e), "account work: connection reset (try later)");
    }
}
