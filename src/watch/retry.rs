//! The watch's one retry policy, for accounts and IDLE folders alike: a failure is reported
//! and retried after a backoff, a refused login much later, and a failure that waiting cannot
//! cure gives the account (or folder) up.

use std::time::Duration;

use super::{one_line, show, sleep, stopped, Out, AUTH_RETRY, RETRY_CAP, RETRY_FIRST};
use crate::account::exit_for;
use crate::exit::Exit;

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

/// What the retry policy decided after a failure, once it has waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waited {
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
pub(super) struct Retrier<'a> {
    out: &'a Out,
    /// How the account (or folder) is named in the lines.
    label: String,
    backoff: Backoff,
    failing: bool,
}

impl<'a> Retrier<'a> {
    pub(super) fn new(out: &'a Out, label: &str) -> Retrier<'a> {
        Retrier {
            out,
            label: label.to_string(),
            backoff: Backoff::new(RETRY_FIRST, RETRY_CAP),
            failing: false,
        }
    }

    /// Reports a failure and waits before the next attempt; `Err` gives up (reported).
    pub(super) fn failed(&mut self, e: anyhow::Error) -> anyhow::Result<Waited> {
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
    pub(super) fn working(&mut self) {
        if self.failing {
            self.out.info(&format!("{}: working again", self.label));
            self.failing = false;
        }
    }

    /// An attempt succeeded: says so after failures and starts the backoff over.
    pub(super) fn succeeded(&mut self) {
        self.working();
        self.backoff.reset();
    }
}
