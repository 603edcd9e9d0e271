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
//! `run::lock_path`). A renamed server is moved with [`Ledger::rename`] (`mailboxes.rs`).
//!
//! The schema version lives in `PRAGMA user_version`; migrations only go forward, and a ledger
//! written by a newer mailpull is refused rather than misread.
//!
//! # Schema (version 3)
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
//! PRAGMA application_id = 0x6D50756C;  -- "mPul": marks the file as a mailpull ledger
//! PRAGMA user_version = 3;
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
//! database (`PRAGMA quick_check` passes; skipped above [`QUICK_CHECK_LIMIT`] bytes, where only
//! the header and schema are read), it must not carry another application's `application_id`,
//! a `user_version` of 0 means it must be empty, and a `user_version` of 1 or more means our
//! tables must be there. Anything else is [`LedgerError::Corrupt`]; a `user_version` above
//! [`SCHEMA_VERSION`] is [`LedgerError::TooNew`]. A foreign database is never modified.
//!
//! Migrations (`MIGRATIONS[v]` upgrades version `v` to `v + 1`) run one per `IMMEDIATE`
//! transaction, which re-reads `user_version` under the write lock, so that two processes opening
//! a new ledger at once do not both migrate it. A migration that fails is rolled back whole: the
//! ledger stays at its old version with its old contents ([`LedgerError::Migrate`]).
//!
//! Every multi-row write is one `IMMEDIATE` transaction with cached statements (one fsync per
//! batch). Errors SQLite reports as `SQLITE_CORRUPT` or `SQLITE_NOTADB` become
//! [`LedgerError::Corrupt`] wherever they occur.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{ffi, params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::exit::{Classify, Exit};

mod mailboxes;
mod migrate;
mod receipts;
#[cfg(test)]
mod test_support;
pub use mailboxes::{MailboxSummary, Merge, RenameReport};
pub use receipts::{NewReceipt, Policy, Receipt, ReceiptState};

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

/// Identifies a mailbox on a server (see "What identifies a mailbox" above): protocol family,
/// host and user — never the port, the TLS mode or the authentication method.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    /// `pop3` or `imap` (the protocol, not the transport: pop3s and pop3 are the same mailbox).
    pub protocol: String,
    /// The host name or address as written, in lower case (host names are case-insensitive).
    pub host: String,
    pub user: String,
}

impl AccountKey {
    /// The key of `user` on `host` over `protocol` (`pop3` or `imap`); the host is put in
    /// lower case.
    pub fn new(protocol: &str, host: &str, user: &str) -> AccountKey {
        AccountKey {
            protocol: protocol.to_string(),
            host: host.to_ascii_lowercase(),
            user: user.to_string(),
        }
    }
}

impl AccountKey {
    /// The mailbox as a URL without a port, `pop3://alice@mail.example.org` (the form `mailpull
    /// ledger rename` takes); the user name is percent-encoded where a URL needs it.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{}@{host}", self.protocol, url_user(&self.user))
    }
}

/// A user name as the user part of a server URL: percent-encoded where it holds characters a
/// URL gives a meaning to (`@`, `:`, `/`, …), blanks or control characters.
pub fn url_user(user: &str) -> String {
    const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'/')
        .add(b':')
        .add(b';')
        .add(b'<')
        .add(b'=')
        .add(b'>')
        .add(b'?')
        .add(b'@')
        .add(b'[')
        .add(b'\\')
        .add(b']')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    percent_encoding::utf8_percent_encode(user, USERINFO).to_string()
}

impl std::fmt::Display for AccountKey {
    /// `pop3 alice@mail.example.org`: for messages (the user and host came from the user).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Control characters (possible in a percent-encoded user name) are shown escaped.
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        };
        write!(
            f,
            "{} {}@{}",
            self.protocol,
            safe(&self.user),
            safe(&self.host)
        )
    }
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

impl State {
    fn as_sql(self) -> &'static str {
        match self {
            State::Fetching => "fetching",
            State::Delivered => "delivered",
        }
    }
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

/// A message another program already fetched, for [`Ledger::import_delivered`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    pub key: MessageKey,
    /// Where the row came from, e.g. `imported:fetchmail`.
    pub location: String,
    /// Unix time the other program fetched it (or of the import, when it did not say).
    pub delivered_at: i64,
}

/// The open ledger database.
pub struct Ledger {
    conn: rusqlite::Connection,
    path: PathBuf,
}

/// The current schema version.
pub const SCHEMA_VERSION: i64 = 3;

/// `PRAGMA application_id` of a mailpull ledger ("mPul").
const APPLICATION_ID: i64 = 0x6D50_756C;

/// Above this file size, opening skips `PRAGMA quick_check` (which reads the whole file) and
/// only reads the header and the schema. A ledger of a million messages stays well below it.
pub const QUICK_CHECK_LIMIT: u64 = 256 * 1024 * 1024;

/// How long a writer waits for another process holding the ledger.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How a ledger is upgraded from one schema version to the next.
enum Migration {
    /// SQL statements.
    Sql(&'static str),
    /// Code that rebuilds a table other tables reference: it runs with foreign-key enforcement
    /// off (SQLite's documented way to change a table's constraints) and must leave
    /// `PRAGMA foreign_key_check` clean, which is checked before the commit.
    Rebuild(fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>),
}

/// `MIGRATIONS[v]` upgrades a ledger from schema `v` to `v + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration::Sql(SCHEMA_V1),
    Migration::Sql(SCHEMA_V2),
    Migration::Rebuild(migrate::to_v3),
];

/// 0 -> 1: the initial schema (accounts keyed by protocol, host, port and user).
const SCHEMA_V1: &str = "CREATE TABLE accounts (
        id       INTEGER PRIMARY KEY,
        protocol TEXT NOT NULL,
        host     TEXT NOT NULL,
        port     INTEGER NOT NULL,
        user     TEXT NOT NULL,
        UNIQUE (protocol, host, port, user)
    );
    CREATE TABLE messages (
        account_id   INTEGER NOT NULL REFERENCES accounts(id),
        mailbox      TEXT NOT NULL,
        uidvalidity  INTEGER NOT NULL,
        uid          TEXT NOT NULL,
        size         INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('fetching', 'delivered')),
        location     TEXT NOT NULL,
        delivered_at INTEGER NOT NULL DEFAULT 0,
        deleted_at   INTEGER,
        message_id   TEXT,
        PRIMARY KEY (account_id, mailbox, uidvalidity, uid)
    );
    CREATE INDEX messages_message_id ON messages (message_id);
    CREATE INDEX messages_fetching ON messages (account_id) WHERE state = 'fetching';";

/// 1 -> 2: read receipts.
const SCHEMA_V2: &str = "CREATE TABLE receipts (
        id           INTEGER PRIMARY KEY,
        dedupe_key   TEXT NOT NULL UNIQUE,
        account_id   INTEGER NOT NULL REFERENCES accounts(id),
        mailbox      TEXT NOT NULL,
        uidvalidity  INTEGER NOT NULL,
        uid          TEXT NOT NULL,
        message_id   TEXT,
        requester    TEXT NOT NULL,
        original_recipient TEXT,
        from_header  TEXT NOT NULL,
        subject      TEXT NOT NULL,
        date         TEXT NOT NULL,
        warnings     TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN
                       ('pending', 'approved', 'sending', 'sent', 'declined')),
        created_at   INTEGER NOT NULL,
        answered_at  INTEGER,
        sent_at      INTEGER,
        flag_pending INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT
    );
    CREATE INDEX receipts_flag_pending ON receipts (account_id, mailbox) WHERE flag_pending = 1;
    CREATE TABLE receipt_policies (
        sender TEXT PRIMARY KEY,
        policy TEXT NOT NULL CHECK (policy IN ('always', 'never')),
        set_at INTEGER NOT NULL
    );";

/// The tables a ledger of schema 1 or later must have.
const OUR_TABLES: &[&str] = &["accounts", "messages"];

/// The columns every row query selects, in the order [`entry_from_row`] reads them.
const ENTRY_COLUMNS: &str =
    "mailbox, uidvalidity, uid, size, state, location, delivered_at, deleted_at, message_id";

/// Whether a SQLite error says the file is damaged or not a database.
/// Whether an error means another connection holds a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ffi::ErrorCode::DatabaseBusy) | Some(ffi::ErrorCode::DatabaseLocked)
    )
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ffi::ErrorCode::DatabaseCorrupt) | Some(ffi::ErrorCode::NotADatabase)
    )
}

/// A rusqlite error standing for a file-system failure before SQLite got to open the file.
fn cantopen(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_CANTOPEN), Some(message))
}

/// Creates the ledger's parent directory (mode 0700) and the file itself (mode 0600) if missing.
fn create_file(path: &Path) -> Result<(), rusqlite::Error> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| {
                    cantopen(format!("cannot create directory {}: {e}", parent.display()))
                })?;
        }
    }
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cantopen(format!("cannot create {}: {e}", path.display()))),
    }
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let size: i64 = row.get(3)?;
    let state: String = row.get(4)?;
    let state = match state.as_str() {
        "fetching" => State::Fetching,
        "delivered" => State::Delivered,
        other => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("unknown message state {other:?}").into(),
            ))
        }
    };
    Ok(Entry {
        key: MessageKey {
            mailbox: row.get(0)?,
            uidvalidity: row.get(1)?,
            uid: row.get(2)?,
        },
        size: u64::try_from(size).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(3, size))?,
        state,
        location: row.get(5)?,
        delivered_at: row.get(6)?,
        deleted_at: row.get(7)?,
        message_id: row.get(8)?,
    })
}

/// A message size as SQLite stores it (sizes beyond `i64::MAX` do not occur; clamp anyway).
fn size_to_sql(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

impl Ledger {
    /// Opens (creating it and its parent directory if needed) the ledger at `path`: WAL mode,
    /// `synchronous = FULL` (a commit survives power loss), a busy timeout so that parallel
    /// runs for different accounts wait for each other, and forward migrations.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        // A few steps of opening (changing the journal mode, the first migration) can meet a
        // lock held by another process opening the same new file and report it at once
        // instead of waiting; try again for as long as a busy query would wait.
        let start = std::time::Instant::now();
        loop {
            match Self::open_once(path) {
                Err(LedgerError::Open { source, .. } | LedgerError::Sql { source, .. })
                    if is_busy(&source) && start.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Ledger, LedgerError> {
        let open_err = |source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        };
        create_file(path).map_err(open_err)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        let ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        // While opening, a corruption error is Corrupt and anything else (busy, read-only, no
        // space for the WAL) is a failure to open.
        let setup_err = |e: rusqlite::Error| {
            if is_corruption(&e) {
                ledger.corrupt(e.to_string())
            } else {
                LedgerError::Open {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        };
        ledger.conn.busy_timeout(BUSY_TIMEOUT).map_err(setup_err)?;
        ledger
            .conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(setup_err)?;
        ledger
            .conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(setup_err)?;

        // Read the header and the schema: this is where a file that is not SQLite fails. All
        // of it in one read transaction, so that another process creating the schema at the
        // same moment is seen either not at all or completely.
        ledger.conn.execute_batch("BEGIN").map_err(setup_err)?;
        let checked = (|| {
            let objects = ledger.schema_objects().map_err(setup_err)?;
            ledger.check_integrity().map_err(setup_err)??;
            let (application_id, version) = ledger.header_ids().map_err(setup_err)?;
            ledger.check_identity(application_id, version, &objects)
        })();
        let end = if checked.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = ledger.conn.execute_batch(end).map_err(setup_err);
        checked?;
        ended?;

        let mode: String = ledger
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(setup_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::debug!(
                "ledger {}: journal mode {mode} (WAL is not available here)",
                path.display()
            );
        }
        let mut ledger = ledger;
        ledger.migrate()?;
        Ok(ledger)
    }

    /// The ledger's file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.sql_err(e))
    }

    /// The id of `account`, creating the account row if needed.
    pub fn account_id(&mut self, account: &AccountKey) -> Result<i64, LedgerError> {
        let find = "SELECT id FROM accounts WHERE protocol = ?1 AND host = ?2 AND user = ?3";
        let args = params![account.protocol, account.host, account.user];
        let found = self
            .conn
            .prepare_cached(find)
            .and_then(|mut st| st.query_row(args, |row| row.get(0)).optional())
            .map_err(|e| self.sql_err(e))?;
        if let Some(id) = found {
            return Ok(id);
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO accounts (protocol, host, user) VALUES (?1, ?2, ?3)
                 ON CONFLICT (protocol, host, user) DO NOTHING",
            )?
            .execute(args)?;
            let id: i64 = tx.prepare_cached(find)?.query_row(args, |row| row.get(0))?;
            tx.commit()?;
            Ok(id)
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// All rows of an account in state `fetching` (left by an interrupted run), in the order
    /// they were reserved.
    pub fn unresolved(&self, account: i64) -> Result<Vec<Entry>, LedgerError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM messages
             WHERE account_id = ?1 AND state = 'fetching' ORDER BY rowid"
        );
        let result = (|| {
            let mut st = self.conn.prepare_cached(&sql)?;
            let rows = st.query_map([account], entry_from_row)?;
            rows.collect::<rusqlite::Result<Vec<Entry>>>()
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// All rows of an account in one mailbox (any uidvalidity), keyed by uid. One query.
    ///
    /// If the same uid is stored under several uidvalidity values, the row with the largest
    /// uidvalidity is returned.
    pub fn entries(
        &self,
        account: i64,
        mailbox: &str,
    ) -> Result<HashMap<String, Entry>, LedgerError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM messages
             WHERE account_id = ?1 AND mailbox = ?2 ORDER BY uidvalidity"
        );
        let result = (|| {
            let mut st = self.conn.prepare_cached(&sql)?;
            let rows = st.query_map(params![account, mailbox], entry_from_row)?;
            let mut map = HashMap::new();
            for row in rows {
                let entry = row?;
                map.insert(entry.key.uid.clone(), entry);
            }
            Ok(map)
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// Writes reservations (state `fetching`) for all `items` in one transaction. A row that
    /// already exists for the same key is replaced.
    pub fn begin_fetch(&mut self, account: i64, items: &[NewEntry]) -> Result<(), LedgerError> {
        if items.is_empty() {
            return Ok(());
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR REPLACE INTO messages
                     (account_id, mailbox, uidvalidity, uid, size, state, location,
                      delivered_at, deleted_at, message_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, ?8)",
                )?;
                for item in items {
                    st.execute(params![
                        account,
                        item.key.mailbox,
                        item.key.uidvalidity,
                        item.key.uid,
                        size_to_sql(item.size),
                        State::Fetching.as_sql(),
                        item.location,
                        item.message_id,
                    ])?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// Marks `keys` delivered at unix time `at`, in one transaction. Keys without a row are
    /// ignored (the engine reserves every key with [`Ledger::begin_fetch`] first).
    pub fn mark_delivered(
        &mut self,
        account: i64,
        keys: &[MessageKey],
        at: i64,
    ) -> Result<(), LedgerError> {
        self.update_keys(
            "UPDATE messages SET state = 'delivered', delivered_at = ?5
             WHERE account_id = ?1 AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4",
            account,
            keys,
            Some(at),
        )
        .map(|_| ())
    }

    /// Drops rows (used for reservations whose download did not complete), in one transaction.
    pub fn forget(&mut self, account: i64, keys: &[MessageKey]) -> Result<(), LedgerError> {
        self.update_keys(
            "DELETE FROM messages
             WHERE account_id = ?1 AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4",
            account,
            keys,
            None,
        )
        .map(|_| ())
    }

    /// Records that the server confirmed the deletion of `keys`, in one transaction.
    pub fn mark_deleted(
        &mut self,
        account: i64,
        keys: &[MessageKey],
        at: i64,
    ) -> Result<(), LedgerError> {
        self.update_keys(
            "UPDATE messages SET deleted_at = ?5
             WHERE account_id = ?1 AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4",
            account,
            keys,
            Some(at),
        )
        .map(|_| ())
    }

    /// Removes the account's `delivered` rows in `mailbox` whose uid is not in `present`
    /// (the server no longer has them). Returns how many were removed.
    pub fn prune(
        &mut self,
        account: i64,
        mailbox: &str,
        present: &std::collections::HashSet<String>,
    ) -> Result<usize, LedgerError> {
        self.prune_where(account, mailbox, None, present)
    }

    /// Removes the account's `delivered` rows in `mailbox` whose uid is not in `present`, and,
    /// when `uidvalidity` is given, those of any other uidvalidity. One transaction.
    fn prune_where(
        &mut self,
        account: i64,
        mailbox: &str,
        uidvalidity: Option<u32>,
        present: &HashSet<String>,
    ) -> Result<usize, LedgerError> {
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let gone: Vec<(i64, String)> = {
                let mut st = tx.prepare_cached(
                    "SELECT uidvalidity, uid FROM messages
                     WHERE account_id = ?1 AND mailbox = ?2 AND state = 'delivered'",
                )?;
                let rows = st.query_map(params![account, mailbox], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })?;
                let mut gone = Vec::new();
                for row in rows {
                    let (v, uid) = row?;
                    let other_validity = uidvalidity.is_some_and(|cur| v != i64::from(cur));
                    if other_validity || !present.contains(&uid) {
                        gone.push((v, uid));
                    }
                }
                gone
            };
            let mut removed = 0;
            if !gone.is_empty() {
                let mut st = tx.prepare_cached(
                    "DELETE FROM messages WHERE account_id = ?1 AND mailbox = ?2
                     AND uidvalidity = ?3 AND uid = ?4 AND state = 'delivered'",
                )?;
                for (v, uid) in &gone {
                    removed += st.execute(params![account, mailbox, v, uid])?;
                }
            }
            tx.commit()?;
            Ok(removed)
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// All rows of an account in one mailbox, under every uidvalidity. One query.
    pub fn entries_all(&self, account: i64, mailbox: &str) -> Result<Vec<Entry>, LedgerError> {
        let sql =
            format!("SELECT {ENTRY_COLUMNS} FROM messages WHERE account_id = ?1 AND mailbox = ?2");
        let result = (|| {
            let mut st = self.conn.prepare_cached(&sql)?;
            let rows = st.query_map(params![account, mailbox], entry_from_row)?;
            rows.collect::<rusqlite::Result<Vec<Entry>>>()
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// Marks messages delivered at unix time `at` and stores their Message-ID where one is
    /// known, in one transaction.
    pub fn mark_delivered_with_ids(
        &mut self,
        account: i64,
        items: &[(MessageKey, Option<String>)],
        at: i64,
    ) -> Result<(), LedgerError> {
        self.mark_delivered_with_receipts(account, items, &[], at)
            .map(|_| ())
    }

    /// [`Ledger::mark_delivered_with_ids`], recording in the same transaction the read-receipt
    /// requests these messages carry, so that a delivered message is never recorded without
    /// its request. Returns the ids of the requests that are new (a request already known, by
    /// its dedupe key, is not recorded again), in the order given.
    pub fn mark_delivered_with_receipts(
        &mut self,
        account: i64,
        items: &[(MessageKey, Option<String>)],
        requests: &[NewReceipt],
        at: i64,
    ) -> Result<Vec<i64>, LedgerError> {
        if items.is_empty() && requests.is_empty() {
            return Ok(Vec::new());
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "UPDATE messages SET state = 'delivered', delivered_at = ?5,
                     message_id = COALESCE(?6, message_id)
                     WHERE account_id = ?1 AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4",
                )?;
                for (key, id) in items {
                    st.execute(params![
                        account,
                        key.mailbox,
                        key.uidvalidity,
                        key.uid,
                        at,
                        id
                    ])?;
                }
            }
            let mut new_ids = Vec::new();
            for r in requests {
                if let Some(id) = receipts::insert_receipt_in(&tx, account, r, at)? {
                    new_ids.push(id);
                }
            }
            tx.commit()?;
            Ok(new_ids)
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// Records messages as already delivered without a download: the same message under a
    /// new key (after a UIDVALIDITY change), with the location of the earlier delivery.
    pub fn insert_delivered(
        &mut self,
        account: i64,
        items: &[(NewEntry, i64)],
    ) -> Result<(), LedgerError> {
        if items.is_empty() {
            return Ok(());
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR REPLACE INTO messages
                     (account_id, mailbox, uidvalidity, uid, size, state, location,
                      delivered_at, deleted_at, message_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'delivered', ?6, ?7, NULL, ?8)",
                )?;
                for (item, delivered_at) in items {
                    st.execute(params![
                        account,
                        item.key.mailbox,
                        item.key.uidvalidity,
                        item.key.uid,
                        size_to_sql(item.size),
                        item.location,
                        delivered_at,
                        item.message_id,
                    ])?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// Removes the account's `delivered` rows in `mailbox` that belong to another
    /// uidvalidity or whose uid is not in `present` (the server no longer has them).
    pub fn prune_mailbox(
        &mut self,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
        present: &HashSet<String>,
    ) -> Result<usize, LedgerError> {
        self.prune_where(account, mailbox, Some(uidvalidity), present)
    }

    /// Seeds the ledger with messages another program already fetched (`mailpull import`):
    /// for each account, every row is inserted as `delivered` at its own time, with no size
    /// (0), no Message-ID and no deletion, unless a row with the same key exists, which is
    /// left exactly as it is (never downgraded or overwritten). Everything, account rows
    /// included, happens in one `IMMEDIATE` transaction, so an import is all or nothing;
    /// with `dry_run` the transaction is rolled back and nothing is written.
    ///
    /// Returns, per account in `accounts` order, how many rows were new.
    pub fn import_delivered(
        &mut self,
        accounts: &[(AccountKey, Vec<ImportRow>)],
        dry_run: bool,
    ) -> Result<Vec<usize>, LedgerError> {
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut counts = Vec::with_capacity(accounts.len());
            {
                let mut add_account = tx.prepare_cached(
                    "INSERT INTO accounts (protocol, host, user) VALUES (?1, ?2, ?3)
                     ON CONFLICT (protocol, host, user) DO NOTHING",
                )?;
                let mut find_account = tx.prepare_cached(
                    "SELECT id FROM accounts WHERE protocol = ?1 AND host = ?2 AND user = ?3",
                )?;
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO messages
                     (account_id, mailbox, uidvalidity, uid, size, state, location,
                      delivered_at, deleted_at, message_id)
                     VALUES (?1, ?2, ?3, ?4, 0, 'delivered', ?5, ?6, NULL, NULL)",
                )?;
                for (account, rows) in accounts {
                    let args = params![account.protocol, account.host, account.user];
                    add_account.execute(args)?;
                    let id: i64 = find_account.query_row(args, |row| row.get(0))?;
                    let mut added = 0;
                    for row in rows {
                        added += insert.execute(params![
                            id,
                            row.key.mailbox,
                            row.key.uidvalidity,
                            row.key.uid,
                            row.location,
                            row.delivered_at,
                        ])?;
                    }
                    counts.push(added);
                }
            }
            if dry_run {
                tx.rollback()?;
            } else {
                tx.commit()?;
            }
            Ok(counts)
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// Runs `sql` (parameters: account, mailbox, uidvalidity, uid and optionally `extra` as
    /// `?5`) once per key in one transaction; returns the number of rows changed.
    fn update_keys(
        &mut self,
        sql: &str,
        account: i64,
        keys: &[MessageKey],
        extra: Option<i64>,
    ) -> Result<usize, LedgerError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut changed = 0;
            {
                let mut st = tx.prepare_cached(sql)?;
                for key in keys {
                    changed += match extra {
                        Some(x) => {
                            st.execute(params![account, key.mailbox, key.uidvalidity, key.uid, x])?
                        }
                        None => {
                            st.execute(params![account, key.mailbox, key.uidvalidity, key.uid])?
                        }
                    };
                }
            }
            tx.commit()?;
            Ok(changed)
        })();
        result.map_err(|e| self.sql_err(e))
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

    /// The names of the tables, indexes, views and triggers in the file (SQLite's own excluded).
    fn schema_objects(&self) -> rusqlite::Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )?;
        let rows = st.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect()
    }

    /// `PRAGMA quick_check` unless the file is very large. The outer error is a failure to run
    /// the check, the inner one a damaged file.
    fn check_integrity(&self) -> rusqlite::Result<Result<(), LedgerError>> {
        let page_count: i64 = self
            .conn
            .pragma_query_value(None, "page_count", |row| row.get(0))?;
        let page_size: i64 = self
            .conn
            .pragma_query_value(None, "page_size", |row| row.get(0))?;
        let bytes = u64::try_from(page_count.saturating_mul(page_size)).unwrap_or(u64::MAX);
        if bytes > QUICK_CHECK_LIMIT {
            log::debug!(
                "ledger {}: {bytes} bytes, skipping quick_check",
                self.path.display()
            );
            return Ok(Ok(()));
        }
        let mut st = self.conn.prepare("PRAGMA quick_check(5)")?;
        let problems = st
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        if problems.len() == 1 && problems[0] == "ok" {
            Ok(Ok(()))
        } else {
            Ok(Err(self.corrupt(format!(
                "integrity check failed: {}",
                problems.join("; ")
            ))))
        }
    }

    /// `PRAGMA application_id` and `PRAGMA user_version`.
    fn header_ids(&self) -> rusqlite::Result<(i64, i64)> {
        let application_id = self
            .conn
            .pragma_query_value(None, "application_id", |row| row.get(0))?;
        let version = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        Ok((application_id, version))
    }

    /// Refuses a file that is not a mailpull ledger, or one from a newer mailpull.
    fn check_identity(
        &self,
        application_id: i64,
        version: i64,
        objects: &[(String, String)],
    ) -> Result<(), LedgerError> {
        if application_id != 0 && application_id != APPLICATION_ID {
            return Err(self.corrupt(format!(
                "not a mailpull ledger (the file belongs to another application: application_id {application_id:#x})"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(LedgerError::TooNew {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < 0 {
            return Err(self.corrupt(format!("not a mailpull ledger (schema version {version})")));
        }
        if version == 0 {
            if let Some((kind, name)) = objects.first() {
                return Err(self.corrupt(format!(
                    "not a mailpull ledger (the database has no schema version but contains {kind} {name:?})"
                )));
            }
        } else {
            for table in OUR_TABLES {
                if !objects.iter().any(|(k, n)| k == "table" && n == table) {
                    return Err(self.corrupt(format!(
                        "not a mailpull ledger (schema version {version} but no table {table:?})"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Applies the missing migrations, one transaction each.
    fn migrate(&mut self) -> Result<(), LedgerError> {
        debug_assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
        loop {
            // Foreign keys cannot be switched inside a transaction: a rebuild needs them off
            // before it starts. Peek at the version first (re-read under the lock below).
            let peek: i64 = self
                .conn
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(|e| self.sql_err(e))?;
            let rebuild = (0..SCHEMA_VERSION).contains(&peek)
                && matches!(MIGRATIONS[peek as usize], Migration::Rebuild(_));
            if rebuild {
                self.conn
                    .pragma_update(None, "foreign_keys", false)
                    .map_err(|e| self.sql_err(e))?;
            }
            let step = self.migrate_step();
            if rebuild {
                let on = self.conn.pragma_update(None, "foreign_keys", true);
                if step.is_ok() {
                    on.map_err(|e| self.sql_err(e))?;
                }
            }
            match step? {
                None => continue,
                Some(version) if version > SCHEMA_VERSION => {
                    return Err(LedgerError::TooNew {
                        path: self.path.clone(),
                        found: version,
                        known: SCHEMA_VERSION,
                    })
                }
                Some(_) => return Ok(()),
            }
        }
    }

    /// One migration in one `IMMEDIATE` transaction. Returns `Some(version)` when there is
    /// nothing (more) to do.
    fn migrate_step(&mut self) -> Result<Option<i64>, LedgerError> {
        let mut from = None;
        let step = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Re-read under the write lock: another process may have migrated meanwhile.
            let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
            if !(0..SCHEMA_VERSION).contains(&version) {
                return Ok(Some(version));
            }
            from = Some(version);
            match &MIGRATIONS[version as usize] {
                Migration::Sql(sql) => tx.execute_batch(sql)?,
                Migration::Rebuild(_)
                    if tx
                        .pragma_query_value(None, "foreign_keys", |row| row.get::<_, i64>(0))?
                        != 0 =>
                {
                    // Another process upgraded the ledger to this step after we looked:
                    // roll back and look again, so that foreign keys go off first.
                    return Ok(None);
                }
                Migration::Rebuild(run) => {
                    run(&tx)?;
                    let broken: i64 =
                        tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                            row.get(0)
                        })?;
                    if broken > 0 {
                        return Err(rusqlite::Error::SqliteFailure(
                            ffi::Error::new(ffi::SQLITE_CONSTRAINT),
                            Some(format!("{broken} row(s) would lose their account")),
                        ));
                    }
                }
            }
            if version == 0 {
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            }
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
            Ok(None)
        })();
        step.map_err(|e| match from {
            // Creating the schema of a new ledger is not an upgrade.
            Some(from) if from > 0 && !is_corruption(&e) && !is_busy(&e) => LedgerError::Migrate {
                path: self.path.clone(),
                from,
                to: from + 1,
                source: e,
            },
            _ => self.sql_err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;

    fn key(uid: &str) -> MessageKey {
        MessageKey {
            mailbox: String::new(),
            uidvalidity: 0,
            uid: uid.to_string(),
        }
    }

    fn new_entry(uid: &str, location: &str) -> NewEntry {
        NewEntry {
            key: key(uid),
            size: 1000 + uid.len() as u64,
            location: location.to_string(),
            message_id: None,
        }
    }

    fn account(user: &str) -> AccountKey {
        AccountKey::new("pop3", "mail.example.org", user)
    }

    fn open_temp() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
        (dir, ledger)
    }

    #[test]
    fn open_creates_file_and_directories_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/ledger.sqlite");
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.path(), path);
        assert!(path.is_file());
        let file_mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(file_mode, 0o600);
        for d in [dir.path().join("a"), dir.path().join("a/b")] {
            let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", d.display());
        }
        assert_eq!(ledger.schema_version().unwrap(), SCHEMA_VERSION);
        let journal: String = ledger
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal.to_ascii_lowercase(), "wal");
        let sync: i64 = ledger
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
        let fk: i64 = ledger
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn concurrent_first_opens_all_succeed() {
        // Several runs (or --jobs threads) opening a ledger that does not exist yet.
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ledger.sqlite");
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || Ledger::open(&path).map(|_| ()))
                })
                .collect();
            for h in handles {
                if let Err(e) = h.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
        }
    }

    #[test]
    fn existing_file_permissions_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        fs::write(&path, b"").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        Ledger::open(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn migrations_set_user_version_and_application_id() {
        let (dir, ledger) = open_temp();
        drop(ledger);
        let raw = Connection::open(dir.path().join("ledger.sqlite")).unwrap();
        let v: i64 = raw
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let id: i64 = raw
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap();
        assert_eq!(id, APPLICATION_ID);
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    }

    #[test]
    fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        {
            let mut l = Ledger::open(&path).unwrap();
            let a = l.account_id(&account("alice")).unwrap();
            l.begin_fetch(a, &[new_entry("u1", "loc1")]).unwrap();
            l.mark_delivered(a, &[key("u1")], 1234).unwrap();
        }
        let mut l = Ledger::open(&path).unwrap();
        let a = l.account_id(&account("alice")).unwrap();
        let entries = l.entries(a, "").unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries["u1"];
        assert_eq!(e.state, State::Delivered);
        assert_eq!(e.location, "loc1");
        assert_eq!(e.delivered_at, 1234);
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn too_new_is_refused() {
        let (dir, ledger) = open_temp();
        drop(ledger);
        let path = dir.path().join("ledger.sqlite");
        let raw = Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", 99).unwrap();
        drop(raw);
        match Ledger::open(&path) {
            Err(LedgerError::TooNew { found, known, .. }) => {
                assert_eq!(found, 99);
                assert_eq!(known, SCHEMA_VERSION);
            }
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
        // Also for a bare database carrying nothing but the version.
        let bare = dir.path().join("bare.sqlite");
        let raw = Connection::open(&bare).unwrap();
        raw.pragma_update(None, "user_version", 99).unwrap();
        drop(raw);
        assert!(matches!(
            Ledger::open(&bare),
            Err(LedgerError::TooNew { found: 99, .. })
        ));
        assert_eq!(
            Ledger::open(&bare).err().unwrap().exit(),
            crate::exit::Exit::Config
        );
    }

    fn expect_corrupt(path: &Path) -> String {
        match Ledger::open(path) {
            Err(e @ LedgerError::Corrupt { .. }) => {
                let LedgerError::Corrupt { ref detail, .. } = e else {
                    unreachable!()
                };
                assert!(!detail.is_empty());
                e.to_string()
            }
            Err(e) => panic!("expected Corrupt, got {e:?}"),
            Ok(_) => panic!("expected Corrupt, the ledger opened"),
        }
    }

    #[test]
    fn text_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        fs::write(&path, "this is not a database\n".repeat(200)).unwrap();
        let msg = expect_corrupt(&path);
        assert!(msg.contains("not a mailpull ledger or is damaged"), "{msg}");
        // Nothing was written to it.
        assert_eq!(
            fs::read(&path).unwrap(),
            "this is not a database\n".repeat(200).into_bytes()
        );
        let short = dir.path().join("short.sqlite");
        fs::write(&short, "hello\n").unwrap();
        expect_corrupt(&short);
    }

    #[test]
    fn garbage_after_header_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let mut bytes = b"SQLite format 3\0".to_vec();
        let mut x: u32 = 12345;
        for _ in 0..8192 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes.push((x >> 16) as u8);
        }
        fs::write(&path, &bytes).unwrap();
        expect_corrupt(&path);
    }

    #[test]
    fn truncated_ledger_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        {
            let mut l = Ledger::open(&path).unwrap();
            let a = l.account_id(&account("alice")).unwrap();
            let items: Vec<NewEntry> = (0..3000)
                .map(|i| new_entry(&format!("uid-{i:06}-padding-padding"), &format!("loc{i}")))
                .collect();
            l.begin_fetch(a, &items).unwrap();
            l.conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
                .unwrap();
        }
        let len = fs::metadata(&path).unwrap().len();
        assert!(len > 16 * 4096, "{len}");
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len / 2).unwrap();
        drop(f);
        expect_corrupt(&path);
    }

    #[test]
    fn foreign_database_is_corrupt_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite");
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE moz_places (id INTEGER PRIMARY KEY);")
            .unwrap();
        drop(raw);
        let msg = expect_corrupt(&path);
        assert!(msg.contains("not a mailpull ledger"), "{msg}");
        let raw = Connection::open(&path).unwrap();
        let mode: String = raw
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(
            mode, "delete",
            "the foreign database must not be switched to WAL"
        );

        // Another application's id.
        let other = dir.path().join("app.sqlite");
        let raw = Connection::open(&other).unwrap();
        raw.pragma_update(None, "application_id", 42).unwrap();
        drop(raw);
        expect_corrupt(&other);

        // Our version number but not our tables.
        let fake = dir.path().join("fake.sqlite");
        let raw = Connection::open(&fake).unwrap();
        raw.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
            .unwrap();
        drop(raw);
        expect_corrupt(&fake);
    }

    #[test]
    fn unopenable_path_is_open_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        // The parent "directory" is a regular file.
        let err = Ledger::open(&file.join("ledger.sqlite")).err().unwrap();
        assert!(matches!(err, LedgerError::Open { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot open the ledger"), "{err}");
    }

    #[test]
    fn account_ids_are_stable_and_distinct() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        let b = l.account_id(&account("bob")).unwrap();
        assert_ne!(a, b);
        assert_eq!(l.account_id(&account("alice")).unwrap(), a);
        let mut imap = account("alice");
        imap.protocol = "imap".into();
        assert_ne!(l.account_id(&imap).unwrap(), a);
        // The host is case-insensitive; the user name is not.
        assert_eq!(
            l.account_id(&AccountKey::new("pop3", "Mail.Example.ORG", "alice"))
                .unwrap(),
            a
        );
        assert_ne!(l.account_id(&account("Alice")).unwrap(), a);
    }

    #[test]
    fn fetch_deliver_delete_forget_round_trip() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        let items = vec![
            new_entry("u1", "loc1"),
            NewEntry {
                message_id: Some("<m2@example.org>".into()),
                ..new_entry("u2", "loc2")
            },
            new_entry("u3", "loc3"),
        ];
        l.begin_fetch(a, &items).unwrap();

        let unresolved = l.unresolved(a).unwrap();
        assert_eq!(
            unresolved
                .iter()
                .map(|e| e.key.uid.as_str())
                .collect::<Vec<_>>(),
            ["u1", "u2", "u3"]
        );
        assert!(unresolved
            .iter()
            .all(|e| e.state == State::Fetching && e.delivered_at == 0 && e.deleted_at.is_none()));
        assert_eq!(
            unresolved[1].message_id.as_deref(),
            Some("<m2@example.org>")
        );
        assert_eq!(unresolved[0].size, 1002);

        l.mark_delivered(a, &[key("u1"), key("u2")], 100).unwrap();
        l.forget(a, &[key("u3")]).unwrap();
        assert!(l.unresolved(a).unwrap().is_empty());

        let entries = l.entries(a, "").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries["u1"].state, State::Delivered);
        assert_eq!(entries["u1"].delivered_at, 100);
        assert_eq!(entries["u1"].location, "loc1");
        assert!(!entries.contains_key("u3"));

        l.mark_deleted(a, &[key("u1")], 200).unwrap();
        let entries = l.entries(a, "").unwrap();
        assert_eq!(entries["u1"].deleted_at, Some(200));
        assert_eq!(entries["u2"].deleted_at, None);

        // Re-reserving replaces the row.
        l.begin_fetch(a, &[new_entry("u1", "loc1b")]).unwrap();
        let entries = l.entries(a, "").unwrap();
        let e = &entries["u1"];
        assert_eq!(
            (e.state, e.location.as_str(), e.delivered_at, e.deleted_at),
            (State::Fetching, "loc1b", 0, None)
        );

        // Unknown keys and empty batches are harmless.
        l.mark_delivered(a, &[key("nope")], 1).unwrap();
        l.mark_deleted(a, &[], 1).unwrap();
        l.forget(a, &[key("nope")]).unwrap();
        l.begin_fetch(a, &[]).unwrap();
        assert_eq!(l.entries(a, "").unwrap().len(), 2);
    }

    #[test]
    fn entries_cover_mailbox_and_prefer_latest_uidvalidity() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        let k = |mailbox: &str, uidvalidity: u32, uid: &str| MessageKey {
            mailbox: mailbox.into(),
            uidvalidity,
            uid: uid.into(),
        };
        let items: Vec<NewEntry> = [
            (k("INBOX", 5, "1"), "old"),
            (k("INBOX", 7, "1"), "new"),
            (k("INBOX", 7, "2"), "two"),
            (k("Sent", 7, "1"), "sent"),
        ]
        .into_iter()
        .map(|(key, loc)| NewEntry {
            key,
            size: u64::MAX,
            location: loc.into(),
            message_id: None,
        })
        .collect();
        l.begin_fetch(a, &items).unwrap();
        let inbox = l.entries(a, "INBOX").unwrap();
        assert_eq!(inbox.len(), 2);
        assert_eq!(inbox["1"].location, "new");
        assert_eq!(inbox["1"].key.uidvalidity, 7);
        assert_eq!(inbox["2"].size, i64::MAX as u64);
        assert_eq!(l.entries(a, "Sent").unwrap().len(), 1);
        assert!(l.entries(a, "").unwrap().is_empty());
        let big = k("INBOX", u32::MAX, "9");
        l.begin_fetch(
            a,
            &[NewEntry {
                key: big.clone(),
                size: 1,
                location: "big".into(),
                message_id: None,
            }],
        )
        .unwrap();
        assert_eq!(l.entries(a, "INBOX").unwrap()["9"].key, big);
    }

    #[test]
    fn prune_mailbox_drops_rows_of_another_uidvalidity() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        let row = |uidvalidity: u32, uid: &str| {
            (
                NewEntry {
                    key: MessageKey {
                        mailbox: "INBOX".into(),
                        uidvalidity,
                        uid: uid.into(),
                    },
                    size: 10,
                    location: format!("loc-{uidvalidity}-{uid}"),
                    message_id: Some(format!("<{uid}@x>")),
                },
                5,
            )
        };
        l.insert_delivered(a, &[row(1, "1"), row(1, "2"), row(2, "1"), row(2, "7")])
            .unwrap();
        let present: HashSet<String> = ["1".to_string()].into_iter().collect();
        // Under uidvalidity 2 only UID 1 is listed: both old rows and UID 7 go.
        assert_eq!(l.prune_mailbox(a, "INBOX", 2, &present).unwrap(), 3);
        let left = l.entries_all(a, "INBOX").unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(
            (left[0].key.uidvalidity, left[0].key.uid.as_str()),
            (2, "1")
        );
        assert_eq!(left[0].message_id.as_deref(), Some("<1@x>"));
    }

    #[test]
    fn prune_removes_only_delivered_rows_missing_from_server() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        let b = l.account_id(&account("bob")).unwrap();
        let items: Vec<NewEntry> = ["u1", "u2", "u3", "u4"]
            .iter()
            .map(|u| new_entry(u, &format!("loc-{u}")))
            .collect();
        l.begin_fetch(a, &items).unwrap();
        l.begin_fetch(b, &items).unwrap();
        l.mark_delivered(a, &[key("u1"), key("u2"), key("u3")], 10)
            .unwrap();
        l.mark_delivered(b, &[key("u1"), key("u2"), key("u3")], 10)
            .unwrap();
        // u4 is still fetching: never pruned.
        let present: HashSet<String> = ["u1".to_string()].into_iter().collect();
        assert_eq!(l.prune(a, "", &present).unwrap(), 2);
        let left = l.entries(a, "").unwrap();
        let mut uids: Vec<_> = left.keys().cloned().collect();
        uids.sort();
        assert_eq!(uids, ["u1", "u4"]);
        // Bob's rows are untouched.
        assert_eq!(l.entries(b, "").unwrap().len(), 4);
        assert_eq!(l.prune(a, "", &present).unwrap(), 0);
        assert_eq!(l.prune(a, "INBOX", &HashSet::new()).unwrap(), 0);
    }

    #[test]
    fn accounts_are_isolated() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        let b = l.account_id(&account("bob")).unwrap();
        l.begin_fetch(a, &[new_entry("u1", "alice-loc")]).unwrap();
        l.begin_fetch(b, &[new_entry("u1", "bob-loc")]).unwrap();
        l.mark_delivered(a, &[key("u1")], 5).unwrap();
        assert_eq!(l.unresolved(a).unwrap().len(), 0);
        let bob = l.unresolved(b).unwrap();
        assert_eq!(bob.len(), 1);
        assert_eq!(bob[0].location, "bob-loc");
        l.forget(b, &[key("u1")]).unwrap();
        assert_eq!(l.entries(a, "").unwrap()["u1"].location, "alice-loc");
        assert!(l.entries(b, "").unwrap().is_empty());
    }

    #[test]
    fn rows_need_an_account() {
        let (_dir, mut l) = open_temp();
        let err = l.begin_fetch(4242, &[new_entry("u1", "x")]).unwrap_err();
        assert!(matches!(err, LedgerError::Sql { .. }), "{err:?}");
        // The failed batch left nothing behind.
        assert!(l.unresolved(4242).unwrap().is_empty());
    }

    #[test]
    fn two_connections_share_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let mut one = Ledger::open(&path).unwrap();
        let mut two = Ledger::open(&path).unwrap();
        let a = one.account_id(&account("alice")).unwrap();
        assert_eq!(two.account_id(&account("alice")).unwrap(), a);
        one.begin_fetch(a, &[new_entry("u1", "l")]).unwrap();
        assert_eq!(two.unresolved(a).unwrap().len(), 1);
    }

    #[test]
    fn large_batches_and_prune() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        let n = 20_000;
        let items: Vec<NewEntry> = (0..n)
            .map(|i| new_entry(&format!("uid{i}"), &format!("loc{i}")))
            .collect();
        let keys: Vec<MessageKey> = items.iter().map(|e| e.key.clone()).collect();
        l.begin_fetch(a, &items).unwrap();
        l.mark_delivered(a, &keys, 1).unwrap();
        assert_eq!(l.entries(a, "").unwrap().len(), n);
        let present: HashSet<String> = (0..n).step_by(2).map(|i| format!("uid{i}")).collect();
        assert_eq!(l.prune(a, "", &present).unwrap(), n / 2);
        assert_eq!(l.entries(a, "").unwrap().len(), n / 2);
    }

    fn import_row(mailbox: &str, uidvalidity: u32, uid: &str, at: i64) -> ImportRow {
        ImportRow {
            key: MessageKey {
                mailbox: mailbox.into(),
                uidvalidity,
                uid: uid.into(),
            },
            location: "imported:test".into(),
            delivered_at: at,
        }
    }

    #[test]
    fn import_inserts_delivered_rows_once() {
        let (_dir, mut l) = open_temp();
        let rows = vec![import_row("", 0, "u1", 100), import_row("", 0, "u2", 200)];
        let counts = l
            .import_delivered(&[(account("alice"), rows.clone())], false)
            .unwrap();
        assert_eq!(counts, vec![2]);
        let a = l.account_id(&account("alice")).unwrap();
        let got = l.entries(a, "").unwrap();
        assert_eq!(got.len(), 2);
        let u1 = &got["u1"];
        assert_eq!(u1.state, State::Delivered);
        assert_eq!(u1.location, "imported:test");
        assert_eq!(u1.delivered_at, 100);
        assert_eq!(u1.deleted_at, None);
        assert_eq!(u1.message_id, None);
        // Importing again changes nothing and says so.
        let again = l
            .import_delivered(&[(account("alice"), rows)], false)
            .unwrap();
        assert_eq!(again, vec![0]);
        assert_eq!(l.entries(a, "").unwrap(), got);
    }

    #[test]
    fn import_never_overwrites_existing_rows() {
        let (_dir, mut l) = open_temp();
        let a = l.account_id(&account("alice")).unwrap();
        // A delivered row with a real location, and a reservation in flight.
        l.begin_fetch(
            a,
            &[
                new_entry("done", "maildir:1"),
                new_entry("busy", "maildir:2"),
            ],
        )
        .unwrap();
        l.mark_delivered(a, &[key("done")], 5).unwrap();
        l.mark_deleted(a, &[key("done")], 6).unwrap();
        let before = l.entries(a, "").unwrap();
        let counts = l
            .import_delivered(
                &[(
                    account("alice"),
                    vec![
                        import_row("", 0, "done", 100),
                        import_row("", 0, "busy", 100),
                        import_row("", 0, "new", 100),
                    ],
                )],
                false,
            )
            .unwrap();
        assert_eq!(counts, vec![1]);
        let after = l.entries(a, "").unwrap();
        assert_eq!(after["done"], before["done"]);
        assert_eq!(after["busy"], before["busy"]);
        assert_eq!(after["busy"].state, State::Fetching);
        assert_eq!(after["new"].state, State::Delivered);
    }

    #[test]
    fn import_dry_run_writes_nothing() {
        let (_dir, mut l) = open_temp();
        let imap = AccountKey::new("imap", "mail.example.org", "alice");
        let counts = l
            .import_delivered(
                &[
                    (account("alice"), vec![import_row("", 0, "u1", 1)]),
                    (imap.clone(), vec![import_row("INBOX", 7, "3", 1)]),
                ],
                true,
            )
            .unwrap();
        assert_eq!(counts, vec![1, 1]);
        let n: i64 = l
            .conn
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "a dry run must not even create account rows");
        let n: i64 = l
            .conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        // For real, IMAP rows keep their mailbox and UIDVALIDITY.
        l.import_delivered(
            &[(imap.clone(), vec![import_row("INBOX", 7, "3", 1)])],
            false,
        )
        .unwrap();
        let b = l.account_id(&imap).unwrap();
        let rows = l.entries_all(b, "INBOX").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key.uidvalidity, 7);
        assert_eq!(rows[0].key.uid, "3");
    }

    #[test]
    fn import_is_all_or_nothing() {
        let (_dir, mut l) = open_temp();
        // Make the second row of the second account fail half-way through.
        l.conn
            .execute_batch(
                "CREATE TEMP TRIGGER boom BEFORE INSERT ON messages WHEN NEW.uid = 'bad'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .unwrap();
        let err = l.import_delivered(
            &[
                (account("alice"), vec![import_row("", 0, "u1", 1)]),
                (
                    account("bob"),
                    vec![import_row("", 0, "u2", 1), import_row("", 0, "bad", 1)],
                ),
            ],
            false,
        );
        assert!(err.is_err());
        for table in ["messages", "accounts"] {
            let n: i64 = l
                .conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table} must be untouched after a failed import");
        }
    }
}
