//! The message rows: the engine's reservations (`fetching`), deliveries (`delivered`),
//! deletions and pruning, and the account rows they hang off. Every multi-row write is one
//! `IMMEDIATE` transaction (`Ledger::write`) with cached statements.

use std::collections::HashMap;
#[cfg(test)]
use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};

use super::receipts::{self, NewReceipt};
use super::{AccountKey, Ledger, LedgerError, MessageKey};

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

/// The columns every row query selects, in the order [`entry_from_row`] reads them.
pub(super) const ENTRY_COLUMNS: &str =
    "mailbox, uidvalidity, uid, size, state, location, delivered_at, deleted_at, message_id";

/// Deletes these `delivered` rows of `mailbox` ((uidvalidity, uid) each); returns how many
/// there were.
fn delete_delivered(
    tx: &rusqlite::Transaction<'_>,
    account: i64,
    mailbox: &str,
    rows: &[(u32, String)],
) -> rusqlite::Result<usize> {
    let mut st = tx.prepare_cached(
        "DELETE FROM messages WHERE account_id = ?1 AND mailbox = ?2
         AND uidvalidity = ?3 AND uid = ?4 AND state = 'delivered'",
    )?;
    let mut removed = 0;
    for (v, uid) in rows {
        removed += st.execute(params![account, mailbox, v, uid])?;
    }
    Ok(removed)
}

/// A row's `state` column (column `col` of the query), read without copying it.
pub(super) fn state_column(row: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<State> {
    match row.get_ref(col)?.as_str()? {
        "fetching" => Ok(State::Fetching),
        "delivered" => Ok(State::Delivered),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("unknown message state {other:?}").into(),
        )),
    }
}

pub(super) fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let size: i64 = row.get(3)?;
    let state = state_column(row, 4)?;
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
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO accounts (protocol, host, user) VALUES (?1, ?2, ?3)
                 ON CONFLICT (protocol, host, user) DO NOTHING",
            )?
            .execute(args)?;
            let id: i64 = tx.prepare_cached(find)?.query_row(args, |row| row.get(0))?;
            Ok(id)
        })
    }

    /// All rows of an account in state `fetching` (left by an interrupted run), in the order
    /// they were reserved.
    pub fn unresolved(&self, account: i64) -> Result<Vec<Entry>, LedgerError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM messages
             WHERE account_id = ?1 AND state = 'fetching' ORDER BY rowid"
        );
        self.read(|conn| {
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st.query_map([account], entry_from_row)?;
            rows.collect::<rusqlite::Result<Vec<Entry>>>()
        })
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
        self.read(|conn| {
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st.query_map(params![account, mailbox], entry_from_row)?;
            let mut map = HashMap::new();
            for row in rows {
                let entry = row?;
                map.insert(entry.key.uid.clone(), entry);
            }
            Ok(map)
        })
    }

    /// Writes reservations (state `fetching`) for all `items` in one transaction. A row that
    /// already exists for the same key is replaced.
    pub fn begin_fetch(&mut self, account: i64, items: &[NewEntry]) -> Result<(), LedgerError> {
        if items.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
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
            Ok(())
        })
    }

    /// [`Ledger::begin_fetch`] for the messages of one mailbox given as `(uid, size, location)`,
    /// streamed into the one transaction: a fetch of 100,000 messages reserves them without
    /// building a row value (and its copied strings) for each.
    pub fn begin_fetch_in<'r>(
        &mut self,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
        rows: impl IntoIterator<Item = (&'r str, u64, &'r str)>,
    ) -> Result<(), LedgerError> {
        self.write(|tx| {
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR REPLACE INTO messages
                     (account_id, mailbox, uidvalidity, uid, size, state, location,
                      delivered_at, deleted_at, message_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, NULL)",
                )?;
                for (uid, size, location) in rows {
                    st.execute(params![
                        account,
                        mailbox,
                        uidvalidity,
                        uid,
                        size_to_sql(size),
                        State::Fetching.as_sql(),
                        location,
                    ])?;
                }
            }
            Ok(())
        })
    }

    /// [`Ledger::forget`] for uids of one mailbox, streamed into the one transaction.
    pub fn forget_in<'r>(
        &mut self,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
        uids: impl IntoIterator<Item = &'r str>,
    ) -> Result<(), LedgerError> {
        let mut uids = uids.into_iter().peekable();
        if uids.peek().is_none() {
            return Ok(());
        }
        self.write(|tx| {
            {
                let mut st = tx.prepare_cached(
                    "DELETE FROM messages
                     WHERE account_id = ?1 AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4",
                )?;
                for uid in uids {
                    st.execute(params![account, mailbox, uidvalidity, uid])?;
                }
            }
            Ok(())
        })
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

    #[cfg(test)]
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

    #[cfg(test)]
    /// Removes the account's `delivered` rows in `mailbox` whose uid is not in `present`, and,
    /// when `uidvalidity` is given, those of any other uidvalidity. One transaction.
    fn prune_where(
        &mut self,
        account: i64,
        mailbox: &str,
        uidvalidity: Option<u32>,
        present: &HashSet<String>,
    ) -> Result<usize, LedgerError> {
        self.write(|tx| {
            let gone: Vec<(u32, String)> = {
                let mut st = tx.prepare_cached(
                    "SELECT uidvalidity, uid FROM messages
                     WHERE account_id = ?1 AND mailbox = ?2 AND state = 'delivered'",
                )?;
                let rows = st.query_map(params![account, mailbox], |row| {
                    Ok((row.get::<_, u32>(0)?, row.get::<_, String>(1)?))
                })?;
                let mut gone = Vec::new();
                for row in rows {
                    let (v, uid) = row?;
                    let other_validity = uidvalidity.is_some_and(|cur| v != cur);
                    if other_validity || !present.contains(&uid) {
                        gone.push((v, uid));
                    }
                }
                gone
            };
            delete_delivered(tx, account, mailbox, &gone)
        })
    }

    #[cfg(test)]
    /// All rows of an account in one mailbox, under every uidvalidity. One query.
    pub fn entries_all(&self, account: i64, mailbox: &str) -> Result<Vec<Entry>, LedgerError> {
        let sql =
            format!("SELECT {ENTRY_COLUMNS} FROM messages WHERE account_id = ?1 AND mailbox = ?2");
        self.read(|conn| {
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st.query_map(params![account, mailbox], entry_from_row)?;
            rows.collect::<rusqlite::Result<Vec<Entry>>>()
        })
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
        self.write(|tx| {
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
                if let Some(id) = receipts::insert_receipt_in(tx, account, r, at)? {
                    new_ids.push(id);
                }
            }
            Ok(new_ids)
        })
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
        self.write(|tx| {
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
            Ok(())
        })
    }

    #[cfg(test)]
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

    /// Removes these `delivered` rows of `mailbox` ((uidvalidity, uid) each), in one
    /// transaction; returns how many there were.
    pub fn forget_delivered(
        &mut self,
        account: i64,
        mailbox: &str,
        rows: &[(u32, String)],
    ) -> Result<usize, LedgerError> {
        if rows.is_empty() {
            return Ok(0);
        }
        self.write(|tx| delete_delivered(tx, account, mailbox, rows))
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
        self.write(|tx| {
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
            Ok(changed)
        })
    }
}
