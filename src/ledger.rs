//! The ledger: a SQLite database recording every message mailpull has delivered.
//!
//! It is what makes leave-on-server safe (a message in the ledger is never downloaded again) and
//! what lets an interrupted delete-mode session be finished without a second download. See
//! `engine` for how the states below are used; this module only stores them.
//!
//! One row per message, keyed by (account, mailbox, uidvalidity, uid). For POP3 the mailbox is
//! `""`, uidvalidity is 0 and uid is the UIDL. States:
//! - `fetching`: the engine reserved `location` and is about to deliver there (written before
//!   the download starts; resolved at the next start-up if the run died).
//! - `delivered`: durably delivered at `location`.
//!
//! `deleted_at` is set once the server confirmed the deletion (POP3: QUIT answered +OK).
//! Rows whose uid the server no longer lists are pruned after a successful session.
//!
//! The schema version lives in `PRAGMA user_version`; migrations only go forward, and a ledger
//! written by a newer mailpull is refused rather than misread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::exit::{Classify, Exit};

/// Ledger failures. Messages say what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger {path}: {source}\n  (check that the directory exists and is writable, or choose another file with --ledger)")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the ledger {path} is not a mailpull ledger or is damaged: {detail}\n  (mailpull will not guess: move it aside to start a new one, which re-downloads messages kept on the server)")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the ledger {path} was written by a newer mailpull (schema {found}, this one knows {known}); upgrade mailpull")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("ledger {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl Classify for LedgerError {
    fn exit(&self) -> Exit {
        match self {
            LedgerError::TooNew { .. } => Exit::Config,
            _ => Exit::IoErr,
        }
    }
}

/// Identifies an account on a server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountKey {
    /// `pop3` or `imap` (the protocol, not the transport: pop3s and pop3 are the same mailbox).
    pub protocol: String,
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Where a message sits on the server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageKey {
    /// IMAP mailbox name; `""` for POP3.
    pub mailbox: String,
    /// IMAP UIDVALIDITY; 0 for POP3.
    pub uidvalidity: u32,
    /// POP3 UIDL or IMAP UID (decimal).
    pub uid: String,
}

/// Row state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Fetching,
    Delivered,
}

/// One ledger row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: MessageKey,
    pub size: u64,
    pub state: State,
    /// The delivery target's location token (see `deliver::Deliver::reserve`).
    pub location: String,
    /// Unix time of delivery (0 while fetching).
    pub delivered_at: i64,
    /// Unix time the server confirmed the deletion.
    pub deleted_at: Option<i64>,
    /// Message-ID header, when known (IMAP), for matching across UIDVALIDITY changes.
    pub message_id: Option<String>,
}

/// A reservation written before a download starts.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub key: MessageKey,
    pub size: u64,
    pub location: String,
    pub message_id: Option<String>,
}

/// The open ledger database.
pub struct Ledger {
    conn: rusqlite::Connection,
    path: PathBuf,
}

/// The current schema version.
pub const SCHEMA_VERSION: i64 = 1;

impl Ledger {
    /// Opens (creating it and its parent directory if needed) the ledger at `path`: WAL mode,
    /// `synchronous = FULL` (a commit survives power loss), a busy timeout so that parallel
    /// runs for different accounts wait for each other, and forward migrations.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let _ = path;
        todo!()
    }

    /// The ledger's file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id of `account`, creating the account row if needed.
    pub fn account_id(&mut self, account: &AccountKey) -> Result<i64, LedgerError> {
        let _ = account;
        todo!()
    }

    /// All rows of an account in state `fetching` (left by an interrupted run).
    pub fn unresolved(&self, account: i64) -> Result<Vec<Entry>, LedgerError> {
        let _ = account;
        todo!()
    }

    /// All rows of an account in one mailbox (any uidvalidity), keyed by uid. One query.
    pub fn entries(
        &self,
        account: i64,
        mailbox: &str,
    ) -> Result<HashMap<String, Entry>, LedgerError> {
        let _ = (account, mailbox);
        todo!()
    }

    /// Writes reservations (state `fetching`) for all `items` in one transaction. A row that
    /// already exists for the same key is replaced.
    pub fn begin_fetch(&mut self, account: i64, items: &[NewEntry]) -> Result<(), LedgerError> {
        let _ = (account, items);
        todo!()
    }

    /// Marks `keys` delivered at unix time `at`, in one transaction.
    pub fn mark_delivered(
        &mut self,
        account: i64,
        keys: &[MessageKey],
        at: i64,
    ) -> Result<(), LedgerError> {
        let _ = (account, keys, at);
        todo!()
    }

    /// Drops rows (used for reservations whose download did not complete), in one transaction.
    pub fn forget(&mut self, account: i64, keys: &[MessageKey]) -> Result<(), LedgerError> {
        let _ = (account, keys);
        todo!()
    }

    /// Records that the server confirmed the deletion of `keys`, in one transaction.
    pub fn mark_deleted(
        &mut self,
        account: i64,
        keys: &[MessageKey],
        at: i64,
    ) -> Result<(), LedgerError> {
        let _ = (account, keys, at);
        todo!()
    }

    /// Removes the account's `delivered` rows in `mailbox` whose uid is not in `present`
    /// (the server no longer has them). Returns how many were removed.
    pub fn prune(
        &mut self,
        account: i64,
        mailbox: &str,
        present: &std::collections::HashSet<String>,
    ) -> Result<usize, LedgerError> {
        let _ = (account, mailbox, present);
        todo!()
    }
}
