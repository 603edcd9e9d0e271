//! One account's session: the single place that turns a configured [`Account`] into a locked,
//! logged-in session and runs the engine over it. `fetch`, `check`, `list` and every fetch of
//! `watch` go through here.
//!
//! Two of mailpull's promises are kept here:
//!
//! - **Locking.** Nothing connects to a mailbox without holding its [`AccountLock`] (one per
//!   mailbox identity — protocol, host, user — across processes and across the accounts of one
//!   run; see [`lock`]). A [`Session`] is created by taking the lock, and only a `Session` can
//!   log in, so a check or a list never logs in while a fetch holds the maildrop (POP3 IN-USE).
//! - **One login per run** (promise 4). [`Session::fetch`], [`Session::check`] and
//!   [`Session::list`] connect, secure the connection (one `secure()` for STLS and STARTTLS, in
//!   [`connect`]) and log in exactly once, and end the session at the end; the password is
//!   resolved before (see [`password`]), so that a failing password command or a prompt never
//!   costs a second logon. `watch` holds the `Session` for the whole watch and logs in once per
//!   fetch (POP3, polling) or once per watched folder connection (IMAP IDLE), never twice in a
//!   row without an error in between: LOGIN-DELAY and IN-USE servers see one logon at a time.
//!
//! The order of one fetch is the engine's (see [`crate::engine`]): everything local first
//! (TLS settings, lock, ledger, target, recovery of an interrupted run), then connect and log
//! in, then [`engine::fetch`] with the selector (filter, `--pick`) and the read-receipt hook,
//! then `receipts.finish()`, which tells the user about requests that wait for an answer.
//! Two local steps take the time a server needs to answer a new connection instead of adding
//! to it: OpenSSL's context is built once the TCP connection is made (see [`Tls`]), and the
//! ledger's page check runs on a thread of its own meanwhile; the login waits for its verdict
//! (see [`IntegrityCheck`]).

pub mod connect;
pub mod lock;
pub mod password;
pub mod probe;

pub use connect::tls_for;
pub use lock::{lock_account, lock_path, AccountLock};
pub use password::{password_env, passwords};

use crate::config::{Account, ConfigError, Options, Target};
use crate::deliver::maildir::Maildir;
use crate::deliver::mbox::Mbox;
use crate::deliver::mda::Mda;
use crate::deliver::stdout::Stdout;
use crate::deliver::{Deliver, DeliverError};
use crate::engine::Listed;
use crate::engine::{
    self, CheckSummary, EngineError, FetchSettings, Outcome, Progress, Select, StopToken, Summary,
};
use crate::exit::{Classify, Exit, InternalError};
use crate::imap::source::ImapSource;
use crate::ledger::{IntegrityCheck, Ledger, LedgerError};
use crate::receipts::hook::Hook;
use crate::select::filter::FilterCommand;
use crate::select::pick::Picker;
use crate::select::Chain;
use crate::source::{Source, SourceError};
use crate::tls::{Conn, Tls};

/// An account whose mailbox this process has locked, with its TLS settings checked: the only
/// way to log in to it.
pub struct Session<'a> {
    pub account: &'a Account,
    opts: &'a Options,
    tls: Option<Tls>,
    _lock: AccountLock,
}

impl<'a> Session<'a> {
    /// Checks the TLS settings (before anything is connected), then takes the mailbox's lock,
    /// waiting up to `--lock-wait` for another run.
    pub fn open(account: &'a Account, opts: &'a Options) -> anyhow::Result<Session<'a>> {
        let tls = tls_for(account)?;
        let lock = lock_account(&opts.ledger, &account.key(), opts.lock_wait)?;
        Ok(Session {
            account,
            opts,
            tls,
            _lock: lock,
        })
    }

    /// Connects, secures the connection and logs in (with an OAuth 2 access token obtained
    /// right now, for the token store), once `check` found the ledger sound.
    fn login(&self, password: &str, check: IntegrityCheck) -> anyhow::Result<Box<dyn Source>> {
        let password = password::for_login(self.account, password)?;
        connect::login(self.account, self.tls.as_ref(), &password, || {
            Ok::<(), anyhow::Error>(check.wait()?)
        })
    }

    /// Connects to the IMAP account and logs in, for a session that `watch` keeps to IDLE.
    pub fn login_imap(&self, password: &str) -> anyhow::Result<ImapSource<Conn>> {
        let password = password::for_login(self.account, password)?;
        connect::login_imap(self.account, self.tls.as_ref(), &password, || {
            Ok::<(), anyhow::Error>(())
        })
    }

    /// Opens the ledger and the delivery target and recovers from an interrupted run: the
    /// local half of a fetch, done before logging in.
    pub fn prepare(&self) -> anyhow::Result<Prepared> {
        self.prepare_with(Ledger::open(&self.opts.ledger)?)
    }

    /// [`Session::prepare`] with the ledger opened already.
    fn prepare_with(&self, mut ledger: Ledger) -> anyhow::Result<Prepared> {
        let mut target = open_target(&self.account.target)?;
        let account_id = ledger.account_id(&self.account.key())?;
        let recovered = engine::recover(&mut ledger, account_id, target.as_mut())?;
        Ok(Prepared {
            ledger,
            target,
            account_id,
            recovered,
        })
    }

    /// One complete fetch: prepare, log in (once), fetch every mailbox, log out. `progress`
    /// makes the progress reporter once the login succeeded. Returns the summary (when the
    /// fetch got as far as the server) and the error, if any: even a failed fetch may have
    /// delivered messages.
    pub fn fetch<P: Progress>(
        &self,
        password: &str,
        progress: impl FnOnce() -> P,
        multi: Option<&indicatif::MultiProgress>,
        stop: &StopToken,
    ) -> (Option<Summary>, anyhow::Result<()>) {
        // The ledger's integrity check (a read of the whole file, below 8 MB) runs while the
        // connection is made; the login waits for its verdict.
        let opened = Ledger::open_checking_later(&self.opts.ledger)
            .map_err(anyhow::Error::from)
            .and_then(|(ledger, check)| Ok((self.prepare_with(ledger)?, check)));
        let (mut prepared, check) = match opened {
            Ok(p) => p,
            Err(e) => return (None, Err(e)),
        };
        let mut source = match self.login(password, check) {
            Ok(s) => s,
            Err(e) => return (None, Err(e)),
        };
        let mut progress = progress();
        let outcome = prepared.fetch(self, source.as_mut(), &mut progress, multi, stop);
        let r = match outcome.error {
            None => Ok(()),
            Some(e) => Err(e.into()),
        };
        (Some(outcome.summary), r)
    }

    /// `mailpull check`: counts the new messages, downloading nothing.
    pub fn check(&self, password: &str) -> anyhow::Result<CheckSummary> {
        let mut ledger = Ledger::open(&self.opts.ledger)?;
        let account_id = ledger.account_id(&self.account.key())?;
        let mut source = self.login(password, IntegrityCheck::done())?;
        Ok(engine::check(source.as_mut(), &ledger, account_id)?)
    }

    /// `mailpull list`: hands every message on the server to `each`, downloading nothing.
    pub fn list(&self, password: &str, each: &mut dyn FnMut(Listed<'_>)) -> anyhow::Result<()> {
        let mut ledger = Ledger::open(&self.opts.ledger)?;
        let account_id = ledger.account_id(&self.account.key())?;
        let mut source = self.login(password, IntegrityCheck::done())?;
        engine::list(source.as_mut(), &ledger, account_id, each)?;
        Ok(())
    }
}

/// The local half of a fetch, ready: the ledger, the delivery target, the account's id and
/// the messages recovered from an interrupted run.
pub struct Prepared {
    ledger: Ledger,
    target: Box<dyn Deliver>,
    account_id: i64,
    recovered: usize,
}

impl Prepared {
    /// Runs the engine over a logged-in `source`, with the account's selector and read-receipt
    /// hook, and tells the user about receipt requests that wait for an answer.
    pub fn fetch(
        &mut self,
        session: &Session<'_>,
        source: &mut dyn Source,
        progress: &mut dyn Progress,
        multi: Option<&indicatif::MultiProgress>,
        stop: &StopToken,
    ) -> Outcome {
        let account = session.account;
        let mut select = selector(account, session.opts);
        let mut receipts = Hook::new(
            &account.label,
            &account.user,
            &account.receipts,
            account.target == Target::Stdout,
            multi,
        );
        let mut outcome = engine::fetch(
            source,
            &mut self.ledger,
            self.account_id,
            self.target.as_mut(),
            settings_for(account),
            progress,
            engine::Hooks {
                select: select.as_mut().map(|s| s as &mut dyn Select),
                receipts: Some(&mut receipts),
                stop: stop.clone(),
            },
        );
        receipts.finish();
        outcome.summary.recovered = self.recovered;
        outcome
    }
}

/// The local user name, for `%u` in MDA commands.
fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| rustix::process::getuid().as_raw().to_string())
}

/// Opens an account's delivery target.
fn open_target(target: &Target) -> anyhow::Result<Box<dyn Deliver>> {
    Ok(match target {
        Target::Maildir(path) => Box::new(Maildir::open(path)?),
        Target::Mbox(path) => Box::new(Mbox::open(path)?),
        Target::Mda { command, timeout } => {
            Box::new(Mda::new(command.clone(), *timeout, local_user()))
        }
        Target::Stdout => Box::new(Stdout::new(Box::new(std::io::stdout()))),
    })
}

/// The account's filter and `--pick`, in that order; `None` when neither applies.
fn selector(account: &Account, opts: &Options) -> Option<Chain> {
    let mut chain: Vec<Box<dyn Select>> = Vec::new();
    if let Some(f) = &account.filter {
        chain.push(Box::new(FilterCommand::new(
            f.command.clone(),
            f.timeout,
            account.label.clone(),
        )));
    }
    if opts.pick {
        chain.push(Box::new(Picker::new(account.label.clone())));
    }
    (!chain.is_empty()).then_some(Chain(chain))
}

/// The engine settings of an account.
fn settings_for(account: &Account) -> FetchSettings {
    FetchSettings {
        keep: account.keep,
        delete_after: account.delete_after,
        skip_larger_than: account.skip_larger_than,
        delete_larger_than: account.delete_larger_than,
        max_messages: account.max_messages,
    }
}

/// The exit status one error of a chain says it deserves, if it is one of the errors of an
/// account's session (or of the configuration that made it).
pub fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    let classified: &dyn Classify = if let Some(e) = cause.downcast_ref::<EngineError>() {
        e
    } else if let Some(e) = cause.downcast_ref::<ConfigError>() {
        e
    } else if let Some(e) = cause.downcast_ref::<LedgerError>() {
        e
    } else if let Some(e) = cause.downcast_ref::<SourceError>() {
        e
    } else if let Some(e) = cause.downcast_ref::<DeliverError>() {
        e
    } else if let Some(e) = cause.downcast_ref::<crate::oauth::OAuthError>() {
        e
    } else {
        cause.downcast_ref::<InternalError>()?
    };
    Some(classified.exit())
}

/// The exit status of an error from an account's session: the first error in the chain that
/// classifies itself ([`classify`]) wins; anything unknown is a local I/O failure. Commands
/// that can fail otherwise (`import`) look for their own errors too.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    err.chain().find_map(classify).unwrap_or(Exit::IoErr)
}
