//! Delivery targets: where fetched messages go.
//!
//! Every target implements [`Deliver`]. The fetch engine drives the protocol-independent part of
//! the promise through it: a location is *reserved* and written to the ledger before the message
//! is streamed; [`Deliver::deliver`] writes the whole message; [`Deliver::sync`] makes every
//! message written so far durable and visible as one batch, and only after it returns does the
//! ledger record the batch as delivered (and may the server delete it). After a crash
//! [`Deliver::recover`] tells whether a reserved location holds a complete message. A target
//! never leaves a partial message behind.
//!
//! One target per module: `maildir/` (its batch durability in `maildir/durable.rs`), `mbox/`
//! (the mboxrd format, locks, journal, appending and recovery each in their own file), `mda.rs`
//! and `stdout.rs`. The latter two hand a message on only once it has fully arrived, through the
//! shared `spool.rs`; `envelope.rs` finds the envelope sender that mbox and an MDA's `%F` use.
//! Delivery imports only the ground floor (`fs`, `time`, `exit`) and `command` (for the MDA).

mod envelope;
pub mod maildir;
pub mod mbox;
pub mod mda;
mod spool;
pub mod stdout;

use std::io::{self, Read};

use crate::exit::{Classify, Exit};

/// The size of the buffers messages are copied through: memory does not grow with a message.
const BUFFER_SIZE: usize = 64 * 1024;

/// What a target knows about the message being delivered.
#[derive(Clone, Debug, Default)]
pub struct MessageInfo {
    /// The server's identifier (POP3 UIDL, IMAP UID), for log messages.
    pub uid: String,
    /// The size the server announced, in bytes (CRLF line ends).
    pub size: u64,
}

/// What a location holds after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovered {
    /// A complete message is there: record it as delivered, do not fetch it again.
    Delivered,
    /// Nothing complete is there (any leftover was removed): fetch the message again.
    Missing,
}

/// A delivery failure. `Local` errors concern the target (disk full, permissions); `Body` means
/// reading the message from the server failed part-way, so nothing was delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("cannot deliver to {target}: {source}")]
    Local {
        target: String,
        #[source]
        source: io::Error,
    },
    #[error("message stream from the server broke off: {0}")]
    Body(#[source] io::Error),
    /// The target refused this one message (an MDA exited with an error, was killed by a
    /// signal or timed out). Nothing was delivered; the message stays on the server, and
    /// other messages may still be delivered.
    #[error("cannot deliver to {target}: {detail}")]
    Rejected { target: String, detail: String },
}

impl DeliverError {
    /// Whether further deliveries to this target are pointless (out of space, read-only, …).
    pub fn is_fatal(&self) -> bool {
        matches!(self, DeliverError::Local { .. })
    }
}

impl Classify for DeliverError {
    fn exit(&self) -> Exit {
        match self {
            DeliverError::Local { .. } => Exit::IoErr,
            DeliverError::Body(_) => Exit::TempFail,
            DeliverError::Rejected { .. } => Exit::IoErr,
        }
    }
}

/// A delivery target. See the module documentation for the order of calls.
pub trait Deliver {
    /// Picks a fresh, unique location for the next message. It is stored in the ledger before
    /// the message is delivered, so that [`Deliver::recover`] can find it after a crash.
    fn reserve(&mut self) -> io::Result<String>;

    /// Writes the whole message from `body` to `location`. It counts as delivered only after
    /// the next successful [`Deliver::sync`] (a target may make it durable right away). On any
    /// error, nothing is left at `location` or in temporary files. A read error from `body` is
    /// reported as [`DeliverError::Body`]. Returns the number of bytes written.
    fn deliver(
        &mut self,
        location: &str,
        info: &MessageInfo,
        body: &mut dyn Read,
    ) -> Result<u64, DeliverError>;

    /// Makes every message written so far durable and visible (Maildir: fsync the files,
    /// rename them into `new/`, fsync `new/`). Called before the ledger records them. On error,
    /// messages of the batch may or may not have been delivered; [`Deliver::recover`] tells.
    fn sync(&mut self) -> Result<(), DeliverError>;

    /// Starts what [`Deliver::sync`] does for every message written so far, on a background
    /// thread where the target can (Maildir), so that the next messages are written
    /// meanwhile. At most one batch is in flight: the caller waits for it with
    /// [`Deliver::sync_finished`] before starting the next, and records a batch only once it
    /// finished. The default syncs at once.
    fn sync_start(&mut self) -> Result<(), DeliverError> {
        self.sync()
    }

    /// Whether the batch [`Deliver::sync_start`] began is durable and visible (`true` also
    /// when none is in flight); with `wait`, blocks until it finished. An error is the
    /// batch's, as from [`Deliver::sync`].
    fn sync_finished(&mut self, wait: bool) -> Result<bool, DeliverError> {
        let _ = wait;
        Ok(true)
    }

    /// After a crash: whether `location` holds a complete message. Removes any partial leftover.
    fn recover(&mut self, location: &str) -> Result<Recovered, DeliverError>;

    /// A short description for messages, e.g. `Maildir /home/alice/Maildir`.
    fn describe(&self) -> String;

    /// Whether [`Deliver::recover`] can tell a delivered message from a missing one. Targets
    /// that cannot (an MDA, a pipe) are recorded after every message to keep the window in
    /// which a crash could repeat a delivery as small as possible.
    fn verifiable(&self) -> bool {
        true
    }
}
