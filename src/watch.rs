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
use crate::config::{
    self, Account, ConfigError, Options, PasswordSource, Protocol, Target, Verbosity,
};
use crate::engine::{self, NoProgress, Summary};
use crate::exit::Exit;
use crate::imap::source::ImapSource;
use crate::imap::IdleEvent;
use crate::source::{Listing, RemoteMessage, Sink, Source, SourceError, TransferReport};
use crate::tls::Conn;
use crate::ui;

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

/// Retry delays: `first`, doubling up to `cap`; [`Backoff::reset`] after a success.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            next: first.min(cap),
        }
    }

    /// The delay before the next attempt; the one after it is twice as long (at most `cap`).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.cap);
        d
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.next = self.first.min(self.cap);
    }
}

/// What to do after a failure, by its exit class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Try again after the backoff delay.
    Backoff,
    /// The login was refused: try again after [`AUTH_RETRY`].
    Slowly,
    /// Nothing will change by waiting: give the account up.
    GiveUp,
}

/// How the watch reacts to a failure with this exit status.
pub fn retry_for(exit: Exit) -> Retry {
    match exit {
        Exit::Config | Exit::Usage => Retry::GiveUp,
        Exit::NoPerm => Retry::Slowly,
        _ => Retry::Backoff,
    }
}

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

/// What the retry policy decided after a failure, once it has waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waited {
    /// Try again now.
    Again,
    /// Try again now; the login was refused (the password command may be run again).
    AgainAfterRefusedLogin,
    /// A stop was requested meanwhile.
    Stopped,
}

/// The one retry policy of the watch, for an account or one of its IDLE folders: failures
/// are reported and retried after a backoff ([`RETRY_FIRST`] doubling up to [`RETRY_CAP`]), a
/// refused login after [`AUTH_RETRY`], and a failure that waiting cannot cure (see
/// [`retry_for`]) gives up; a success after failures is reported and starts the backoff over.
struct Retrier<'a> {
    out: &'a Out,
    /// How the account (or folder) is named in the lines.
    label: String,
    backoff: Backoff,
    failing: bool,
}

impl<'a> Retrier<'a> {
    fn new(out: &'a Out, label: &str) -> Retrier<'a> {
        Retrier {
            out,
            label: label.to_string(),
            backoff: Backoff::new(RETRY_FIRST, RETRY_CAP),
            failing: false,
        }
    }

    /// Reports a failure and waits before the next attempt; `Err` gives up (reported).
    fn failed(&mut self, e: anyhow::Error) -> anyhow::Result<Waited> {
        if stopped() {
            return Ok(Waited::Stopped);
        }
        self.failing = true;
        let delay = match retry_for(exit_for(&e)) {
            Retry::GiveUp => {
                self.out
                    .error(&format!("{}; giving up {}", one_line(&e), self.label));
                return Err(e);
            }
            Retry::Slowly => AUTH_RETRY,
            Retry::Backoff => self.backoff.next_delay(),
        };
        self.out.error(&format!(
            "{}; trying again in {}",
            one_line(&e),
            show(delay)
        ));
        if sleep(delay) {
            return Ok(Waited::Stopped);
        }
        Ok(if delay == AUTH_RETRY {
            Waited::AgainAfterRefusedLogin
        } else {
            Waited::Again
        })
    }

    /// Says "working again" after failures (the backoff goes on).
    fn working(&mut self) {
        if self.failing {
            self.out.info(&format!("{}: working again", self.label));
            self.failing = false;
        }
    }

    /// An attempt succeeded: says so after failures and starts the backoff over.
    fn succeeded(&mut self) {
        self.working();
        self.backoff.reset();
    }
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
    let (summary, r) = session.fetch(password, || NoProgress, None, stop_token());
    if let Some(s) = &summary {
        ctx.out.fetched(s, &account.label);
    }
    r.with_context(|| format!("account {}", account.label))
}

/// Watches an IMAP account with IDLE. `Ok(false)`: the server cannot IDLE (or no folder
/// matched): poll instead. `Ok(true)`: stopped. `Err`: the first connection failed, or every
/// folder was given up.
fn watch_imap(
    ctx: &Ctx<'_>,
    session: &Session<'_>,
    password: &str,
    retry: &mut Retrier<'_>,
) -> anyhow::Result<bool> {
    let account = session.account;
    let label = &account.label;
    let mut first = session
        .login_imap(password)
        .with_context(|| format!("account {label}"))?;
    let folders = first
        .mailboxes()
        .with_context(|| format!("account {label}"))?;
    let idle = first.session_mut().capabilities().has("IDLE");
    if !idle || folders.is_empty() {
        let _ = first.finish();
        let why = if idle {
            "no folder to watch"
        } else {
            "the server does not offer IDLE"
        };
        ctx.out.info(&format!(
            "{label}: {why}; fetching every {}",
            show(ctx.every(account))
        ));
        return Ok(false);
    }
    retry.working();
    ctx.out.info(&format!(
        "{label}: watching {} with IDLE",
        folders.join(", ")
    ));
    let turn = Mutex::new(());
    let several = folders.len() > 1;
    let mut first = Some(first);
    let ends: Vec<Option<anyhow::Error>> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for folder in &folders {
            let conn = first.take();
            let turn = &turn;
            let name = if several {
                format!("{label} {folder}")
            } else {
                label.clone()
            };
            handles.push(scope.spawn(move || {
                let w = FolderWatch {
                    ctx,
                    session,
                    password,
                    folder,
                    label: name,
                    turn,
                };
                w.run(conn).err()
            }));
        }
        join_all(handles)
    });
    if stopped() {
        return Ok(true);
    }
    Err(ends
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_else(|| anyhow::anyhow!("internal error: the folders ended by themselves")))
}

/// Whether an error is a lost or broken connection (no point in logging out over it).
fn is_connection_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<SourceError>(),
            Some(SourceError::Connection { .. })
        )
    })
}

/// One IMAP folder watched with IDLE over its own connection.
struct FolderWatch<'a> {
    ctx: &'a Ctx<'a>,
    session: &'a Session<'a>,
    password: &'a str,
    folder: &'a str,
    /// The account's label, with the folder when the account has several.
    label: String,
    /// Fetches of the account's folders take turns.
    turn: &'a Mutex<()>,
}

impl FolderWatch<'_> {
    /// Runs until a stop is requested (`Ok`) or the folder is given up (`Err`, already
    /// reported). Failures are retried like those of an account.
    fn run(&self, mut conn: Option<ImapSource<Conn>>) -> anyhow::Result<()> {
        let mut retry = Retrier::new(self.ctx.out, &self.label);
        let context = || format!("account {}", self.label);
        loop {
            if stopped() {
                if let Some(mut c) = conn {
                    let _ = c.finish();
                }
                return Ok(());
            }
            let mut source = match conn.take() {
                Some(c) => c,
                None => match self.session.login_imap(self.password) {
                    Ok(c) => c,
                    Err(e) => {
                        retry.failed(anyhow::Error::new(e).context(context()))?;
                        continue;
                    }
                },
            };
            match self.session(&mut source, &mut retry) {
                Ok(()) => {
                    // Stopped: end the session properly.
                    if let Err(e) = source.finish() {
                        log::debug!("{}: logging out: {e}", self.label);
                    }
                    return Ok(());
                }
                Err(e) => {
                    // The connection may still work (e.g. after a delivery failure): end the
                    // session properly, unless the connection is what failed.
                    if !is_connection_error(&e) {
                        let _ = source.finish();
                    }
                    drop(source);
                    retry.failed(e)?;
                }
            }
        }
    }

    /// Fetches and IDLEs over one session until a stop is requested (`Ok`) or something
    /// fails (`Err`; the session is then abandoned).
    ///
    /// The first fetch of a session lists the whole folder; so does the fetch every `--every`
    /// (the safety net: it also retries what an earlier fetch left, and prunes the ledger).
    /// New mail (`EXISTS`) is fetched with a listing of the new messages only
    /// ([`ImapSource::open_new`]), unless the previous fetch left something undone (a message
    /// not delivered or refused, messages deferred by `max_messages`): then the next fetch
    /// lists everything again. Expunges by other clients need no fetch: UIDs only grow, so
    /// the new mail is still what lies above the highest UID listed, and nothing pending
    /// refers to an expunged message (the next complete listing forgets its ledger row).
    fn session(
        &self,
        source: &mut ImapSource<Conn>,
        retry: &mut Retrier<'_>,
    ) -> anyhow::Result<()> {
        let every = self.ctx.every(self.session.account);
        let mut last_fetch;
        let mut clean = self.fetch(source, Listed::All)?;
        last_fetch = Instant::now();
        retry.succeeded();
        // After a fetch, fetch once more at once if the folder changed meanwhile (mail that
        // arrived after the listing is announced before IDLE starts, or not at all).
        let mut recheck = true;
        let next = |clean: bool| if clean { Listed::New } else { Listed::All };
        loop {
            if stopped() {
                return Ok(());
            }
            let session = source.session_mut();
            if recheck && session.unlisted() > 0 {
                recheck = false;
                let listed = next(clean);
                clean = self.fetch(source, listed)?;
                if listed == Listed::All {
                    last_fetch = Instant::now();
                }
                continue;
            }
            let wait = every
                .saturating_sub(last_fetch.elapsed())
                .clamp(Duration::from_millis(1), IDLE_RENEW);
            let event = session
                .idle_until(wait, IDLE_TICK, &mut stopped)
                .map_err(anyhow::Error::new)
                .with_context(|| format!("account {}", self.label))?;
            recheck = true;
            let listed = match event {
                IdleEvent::NewMail { exists } => {
                    log::debug!("{}: {exists} messages now", self.label);
                    next(clean)
                }
                IdleEvent::Expunged => continue,
                IdleEvent::Timeout if stopped() => return Ok(()),
                IdleEvent::Timeout if last_fetch.elapsed() < every => continue,
                IdleEvent::Timeout => Listed::All,
            };
            clean = self.fetch(source, listed)?;
            if listed == Listed::All {
                last_fetch = Instant::now();
            }
        }
    }

    /// Fetches the folder in the live session (the engine does not end it). Returns whether
    /// the fetch left nothing undone (see [`FolderWatch::session`]).
    fn fetch(&self, source: &mut ImapSource<Conn>, listed: Listed) -> anyhow::Result<bool> {
        let ctx = || format!("account {}", self.label);
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        let _stdout = (self.session.account.target == Target::Stdout)
            .then(|| self.ctx.stdout.lock().unwrap_or_else(|p| p.into_inner()));
        let mut prepared = self.session.prepare().with_context(ctx)?;
        let mut watched = Watched {
            inner: source,
            folder: self.folder,
            listed,
        };
        let outcome = prepared.fetch(
            self.session,
            &mut watched,
            &mut NoProgress,
            None,
            stop_token(),
        );
        let summary = outcome.summary;
        self.ctx.out.fetched(&summary, &self.label);
        match outcome.error {
            None => Ok(summary.deferred == 0),
            // Some messages were refused (by the MDA, or by the server): they stay on the
            // server and are tried again at the next fetch; the session is fine.
            Some(
                e
                @ (engine::EngineError::NotDelivered { .. } | engine::EngineError::Refused { .. }),
            ) => {
                self.ctx.out.error(&format!(
                    "{}: {}",
                    self.label,
                    one_line(&anyhow::Error::new(e))
                ));
                Ok(false)
            }
            Some(e) => Err(anyhow::Error::new(e).context(ctx())),
        }
    }
}

/// How much of the folder a watch fetch lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listed {
    /// Every message (a complete listing).
    All,
    /// The messages that arrived since the last listing ([`ImapSource::open_new`]).
    New,
}

/// The IMAP session as the engine sees it during a watch: one folder, listed completely or
/// only for its new messages, and a session that the engine does not end ([`Source::finish`]
/// does nothing: the watch IDLEs next and logs out itself). IMAP deletions take effect at
/// [`Source::close`], so nothing waits for the end.
struct Watched<'a> {
    inner: &'a mut ImapSource<Conn>,
    folder: &'a str,
    listed: Listed,
}

impl Source for Watched<'_> {
    fn mailboxes(&mut self) -> Result<Vec<String>, SourceError> {
        Ok(vec![self.folder.to_string()])
    }

    fn open(&mut self, mailbox: &str, write: bool) -> Result<Listing, SourceError> {
        match self.listed {
            Listed::All => self.inner.open(mailbox, write),
            Listed::New => self.inner.open_new(mailbox, write),
        }
    }

    fn message_ids(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<String>>, SourceError> {
        self.inner.message_ids(msgs)
    }

    fn headers(&mut self, msgs: &[RemoteMessage]) -> Result<Vec<Option<Vec<u8>>>, SourceError> {
        self.inner.headers(msgs)
    }

    fn answered(
        &mut self,
        msgs: &[RemoteMessage],
    ) -> Result<std::collections::HashSet<String>, SourceError> {
        self.inner.answered(msgs)
    }

    fn mark_answered(&mut self, msgs: &[RemoteMessage]) -> Result<(), SourceError> {
        self.inner.mark_answered(msgs)
    }

    fn transfer(
        &mut self,
        delete_now: &[RemoteMessage],
        retrieve: &[RemoteMessage],
        sink: &mut dyn Sink,
    ) -> Result<TransferReport, SourceError> {
        self.inner.transfer(delete_now, retrieve, sink)
    }

    fn close(
        &mut self,
        deleted: &[RemoteMessage],
    ) -> Result<Option<Vec<RemoteMessage>>, SourceError> {
        self.inner.close(deleted)
    }

    fn finish(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
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
