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
//! # What identifies a mailbox
//!
//! An account row ([`AccountKey`]) is the protocol family (`pop3` or `imap`), the host as the
//! user wrote it (lower case; no DNS: `localhost` and `127.0.0.1` are two hosts) and the user
//! name; an IMAP message's key adds the folder and UIDVALIDITY. The port, implicit TLS versus
//! STLS/STARTTLS and the authentication method are not part of it: `pop3s://` on 995 and
//! `pop3://` on 110 reach the same messages, so they share their rows (and their lock, see
//! `account::lock_path`). A renamed server is moved with [`Ledger::rename`] (`mailboxes.rs`).
//!
//! The schema version lives in `PRAGMA user_version`; migrations only go forward, and a ledger
//! written by a newer mailpull is refused rather than misread.
//!
//! # Schema (version 5)
//!
//! ```sql
//! CREATE TABLE accounts (
//!     id       INTEGER PRIMARY KEY,
//!     protocol TEXT NOT NULL,          -- 'pop3' or 'imap'
//!     host     TEXT NOT NULL,          -- lower case, as written (no port)
//!     user     TEXT NOT NULL,
//!     UNIQUE (protocol, host, user)
//! );
//! CREATE TABLE messages (
//!     account_id   INTEGER NOT NULL REFERENCES accounts(id),
//!     mailbox      TEXT NOT NULL,      -- '' for POP3
//!     uidvalidity  INTEGER NOT NULL,   -- 0 for POP3
//!     uid          TEXT NOT NULL,      -- POP3 UIDL or IMAP UID
//!     size         INTEGER NOT NULL,   -- bytes, as announced by the server
//!     state        TEXT NOT NULL CHECK (state IN ('fetching', 'delivered')),
//!     location     TEXT NOT NULL,      -- delivery target's location token
//!     delivered_at INTEGER NOT NULL DEFAULT 0,  -- unix time, 0 while fetching
//!     deleted_at   INTEGER,            -- unix time the server confirmed the deletion
//!     message_id   TEXT,               -- Message-ID header, when known
//!     PRIMARY KEY (account_id, mailbox, uidvalidity, uid)
//! );
//! CREATE INDEX messages_message_id ON messages (message_id);
//! CREATE INDEX messages_fetching ON messages (account_id) WHERE state = 'fetching';
//! -- version 2: read receipts (see `receipts`; methods in `ledger/receipts.rs`)
//! CREATE TABLE receipts (
//!     id           INTEGER PRIMARY KEY,   -- the ID `mailpull receipts send ID` takes
//!     dedupe_key   TEXT NOT NULL UNIQUE,  -- Message-ID, or 'sha256:…' of the header block:
//!                                         -- one request per message across accounts/folders
//!     account_id   INTEGER NOT NULL REFERENCES accounts(id),
//!     mailbox      TEXT NOT NULL,         -- where it was first seen ('' for POP3)
//!     uidvalidity  INTEGER NOT NULL,
//!     uid          TEXT NOT NULL,
//!     message_id   TEXT,                  -- Original-Message-ID, when the message had one
//!     requester    TEXT NOT NULL,         -- the address the receipt goes to
//!     original_recipient TEXT,            -- Original-Recipient header, when present
//!     from_header  TEXT NOT NULL,         -- for display only (sanitised)
//!     subject      TEXT NOT NULL,
//!     date         TEXT NOT NULL,
//!     warnings     TEXT NOT NULL,         -- RFC 8098 warnings, one per line
//!     state        TEXT NOT NULL CHECK (state IN
//!                    ('pending', 'approved', 'sending', 'sent', 'declined')),
//!     created_at   INTEGER NOT NULL,
//!     answered_at  INTEGER,               -- unix time of the user's answer
//!     sent_at      INTEGER,
//!     flag_pending INTEGER NOT NULL DEFAULT 0,  -- IMAP $MDNSent still to set
//!     last_error   TEXT
//! );
//! CREATE INDEX receipts_flag_pending ON receipts (account_id, mailbox) WHERE flag_pending = 1;
//! CREATE TABLE receipt_policies (
//!     sender TEXT PRIMARY KEY,            -- requester address, lower case
//!     policy TEXT NOT NULL CHECK (policy IN ('always', 'never')),
//!     set_at INTEGER NOT NULL
//! );
//! -- version 4: where the last complete run left each folder (`resume.rs`)
//! CREATE TABLE folders (
//!     account_id  INTEGER NOT NULL REFERENCES accounts(id),
//!     mailbox     TEXT NOT NULL,
//!     uidvalidity INTEGER NOT NULL,
//!     uidnext     INTEGER NOT NULL,   -- every message below it was delivered
//!     messages    INTEGER NOT NULL,   -- EXISTS then: a later partial listing must add up
//!     confirmed_at INTEGER,           -- unix time a full listing confirmed it (NULL: not yet)
//!     PRIMARY KEY (account_id, mailbox),
//!     listing_digest BLOB             -- version 5: POP3, SHA-256 of a listing delivered in full
//! );
//! PRAGMA application_id = 0x6D50756C;  -- "mPul": marks the file as a mailpull ledger
//! PRAGMA user_version = 5;
//! ```
//!
//! Version 2 keyed accounts by (protocol, host, port, user); the upgrade to 3 (`migrate.rs`)
//! merges the accounts that differ only in port or in the case of the host.
//!
//! # Opening
//!
//! The file is created with mode 0600 (and its missing parent directories with mode 0700): it
//! reveals what mail a user receives. The connection uses WAL, `synchronous = FULL` and a 30 s
//! busy timeout. Before anything is written, the file is checked: it must be a readable SQLite
//! database, it must not carry another application's `application_id`, a `user_version` of 0
//! means it must be empty, and a `user_version` of 1 or more means our tables must be there.
//! Anything else is [`LedgerError::Corrupt`]; a `user_version` above [`SCHEMA_VERSION`] is
//! [`LedgerError::TooNew`]. A foreign database is never modified. Then `PRAGMA quick_check`
//! reads every page (skipped above [`QUICK_CHECK_LIMIT`] bytes): before returning, or, with
//! `Ledger::open_checking_later` (a fetch, which waits for it before logging in) and a ledger
//! that needs no migration, on a thread of its own ([`IntegrityCheck`], `integrity.rs`).
//!
//! Migrations (`MIGRATIONS[v]` upgrades version `v` to `v + 1`) run one per `IMMEDIATE`
//! transaction, which re-reads `user_version` under the write lock, so that two processes opening
//! a new ledger at once do not both migrate it. A migration that fails is rolled back whole: the
//! ledger stays at its old version with its old contents ([`LedgerError::Migrate`]).
//!
//! Every multi-row write is one `IMMEDIATE` transaction with cached statements (one fsync per
//! batch), run through one helper, `Ledger::write`. Errors SQLite reports as `SQLITE_CORRUPT`
//! or `SQLITE_NOTADB` become [`LedgerError::Corrupt`] wherever they occur.
//!
//! # Files
//!
//! The ledger is storage only: it imports nothing above the ground floor but the exit codes of
//! its errors. This file holds the error type, the [`Ledger`] handle and its transaction
//! helpers; `keys.rs` what identifies a mailbox and a message; `open.rs` opening and checking
//! the file (`integrity.rs`: its page check); `schema.rs` the schema and the migration runner (`migrate.rs`: the upgrade to
//! schema 3); `messages.rs` the message rows the engine reads and writes; `import.rs` rows
//! imported from other programs; `receipts.rs` read-receipt requests and answers;
//! `mailboxes.rs` listing and renaming mailboxes. (The `mailpull ledger` command is
//! `commands/ledger.rs`.)

mod briefs;
mod import;
mod integrity;
mod keys;
mod messages;
mod open;
mod schema;

mod mailboxes;
mod migrate;
mod receipts;
mod resume;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use rusqlite::{ffi, Connection, Transaction, TransactionBehavior};

use crate::exit::{Classify, Exit};

pub use briefs::Brief;
pub use import::ImportRow;
pub use integrity::{IntegrityCheck, QUICK_CHECK_LIMIT};
pub use keys::{url_user, AccountKey, MessageKey};
pub use mailboxes::{MailboxSummary, Merge, RenameReport};
pub use messages::{Entry, NewEntry, State};
pub use receipts::{NewReceipt, Policy, Receipt, ReceiptState};
pub use resume::ResumePoint;
pub use schema::SCHEMA_VERSION;

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
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("ledger {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot upgrade the ledger {path} from schema {from} to {to}: {source}\n  (the ledger was left as it was; free disk space or fix the error, then run mailpull again)")]
    Migrate {
        path: PathBuf,
        from: i64,
        to: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// `ledger rename`: the source mailbox has no records.
    #[error("the ledger {path} has no records of {key}: nothing to rename\n  (`mailpull ledger list` shows the mailboxes it knows)")]
    UnknownMailbox { path: PathBuf, key: AccountKey },
}

impl Classify for LedgerError {
    fn exit(&self) -> Exit {
        match self {
            LedgerError::TooNew { .. } => Exit::Config,
            LedgerError::UnknownMailbox { .. } => Exit::NoInput,
            _ => Exit::IoErr,
        }
    }
}

/// The open ledger database.
pub struct Ledger {
    conn: rusqlite::Connection,
    path: PathBuf,
}

/// Whether an error means another connection holds a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ffi::ErrorCode::DatabaseBusy) | Some(ffi::ErrorCode::DatabaseLocked)
    )
}

/// Whether an error says the file is damaged or not a database.
fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ffi::ErrorCode::DatabaseCorrupt) | Some(ffi::ErrorCode::NotADatabase)
    )
}

/// One `IMMEDIATE` transaction around `f`: committed if `f` succeeds (rolled back instead with
/// `dry_run`), rolled back if it fails.
fn transaction<T>(
    conn: &mut Connection,
    dry_run: bool,
    f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&tx)?;
    if dry_run {
        tx.rollback()?;
    } else {
        tx.commit()?;
    }
    Ok(value)
}

impl Ledger {
    /// The ledger's file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one `IMMEDIATE` transaction (the write lock is taken at once, so that two
    /// writers wait for each other instead of failing midway) and commits it if `f` succeeds;
    /// if `f` fails, nothing it did is kept.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        self.write_or_dry_run(false, f)
    }

    /// `Ledger::write`, except that with `dry_run` the transaction is rolled back even when
    /// `f` succeeds: the caller learns what would change, and nothing does.
    fn write_or_dry_run<T>(
        &mut self,
        dry_run: bool,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        transaction(&mut self.conn, dry_run, f).map_err(|e| self.sql_err(e))
    }

    /// Runs the queries of `f` (outside any explicit transaction) and maps their errors.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        f(&self.conn).map_err(|e| self.sql_err(e))
    }

    fn corrupt(&self, detail: String) -> LedgerError {
        LedgerError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    /// Maps a query error: corruption is [`LedgerError::Corrupt`], the rest [`LedgerError::Sql`].
    fn sql_err(&self, e: rusqlite::Error) -> LedgerError {
        if is_corruption(&e) {
            self.corrupt(e.to_string())
        } else {
            LedgerError::Sql {
                path: self.path.clone(),
                source: e,
            }
        }
    }
}
