//! The schema and its forward migrations: the SQL of each version, and the runner that
//! applies the missing ones, one `IMMEDIATE` transaction each (see "Opening" in the ledger's
//! module documentation). The rebuild from schema 2 to 3 is in `migrate.rs`.

use rusqlite::{ffi, Connection, TransactionBehavior};

use super::{is_busy, is_corruption, migrate, Ledger, LedgerError};

/// The current schema version.
pub const SCHEMA_VERSION: i64 = 5;

/// `PRAGMA application_id` of a mailpull ledger ("mPul").
pub(super) const APPLICATION_ID: i64 = 0x6D50_756C;

/// How a ledger is upgraded from one schema version to the next.
pub(super) enum Migration {
    /// SQL statements.
    Sql(&'static str),
    /// Code that rebuilds a table other tables reference: it runs with foreign-key enforcement
    /// off (SQLite's documented way to change a table's constraints) and must leave
    /// `PRAGMA foreign_key_check` clean, which is checked before the commit.
    Rebuild(fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>),
}

/// `MIGRATIONS[v]` upgrades a ledger from schema `v` to `v + 1`.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration::Sql(SCHEMA_V1),
    Migration::Sql(SCHEMA_V2),
    Migration::Rebuild(migrate::to_v3),
    Migration::Sql(super::resume::SCHEMA_V4),
    Migration::Sql(super::resume::SCHEMA_V5),
];

/// 0 -> 1: the initial schema (accounts keyed by protocol, host, port and user).
pub(super) const SCHEMA_V1: &str = "CREATE TABLE accounts (
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
pub(super) const SCHEMA_V2: &str = "CREATE TABLE receipts (
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
pub(super) const OUR_TABLES: &[&str] = &["accounts", "messages"];

impl Ledger {
    /// The schema version stored in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.sql_err(e))
    }

    /// Applies the missing migrations, one transaction each.
    pub(super) fn migrate(&mut self) -> Result<(), LedgerError> {
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
    pub(super) fn migrate_step(&mut self) -> Result<Option<i64>, LedgerError> {
        let mut from = None;
        let step = next_migration(&mut self.conn, &mut from);
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

/// Applies the next migration in one `IMMEDIATE` transaction, setting `from` to the version it
/// upgrades once it has started on one. Returns `Some(version)` when there is nothing (more) to
/// do; returning early rolls back (nothing was written).
fn next_migration(conn: &mut Connection, from: &mut Option<i64>) -> rusqlite::Result<Option<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if !(0..SCHEMA_VERSION).contains(&version) {
        return Ok(Some(version));
    }
    *from = Some(version);
    match &MIGRATIONS[version as usize] {
        Migration::Sql(sql) => tx.execute_batch(sql)?,
        Migration::Rebuild(_)
            if tx.pragma_query_value(None, "foreign_keys", |row| row.get::<_, i64>(0))? != 0 =>
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
}
