//! IMAP accounts watched with IDLE (RFC 2177): one connection per folder, each fetching its
//! folder in its live session (the engine over a [`Watched`] source that does not end it),
//! then IDLEing on it; see the module doc of [`crate::watch`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::retry::Retrier;
use super::{join_all, one_line, show, stop_token, stopped, Ctx, IDLE_RENEW, IDLE_TICK};
use crate::account::Session;
use crate::config::Target;
use crate::engine::{self, NoProgress};
use crate::imap::source::ImapSource;
use crate::imap::IdleEvent;
use crate::source::{Listing, RemoteMessage, Sink, Source, SourceError, TransferReport};
use crate::tls::Conn;

/// Watches an IMAP account with IDLE. `Ok(false)`: the server cannot IDLE (or no folder
/// matched): poll instead. `Ok(true)`: stopped. `Err`: the first connection failed, or every
/// folder was given up.
pub(super) fn watch_imap(
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
                        retry.failed(e.context(context()))?;
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
