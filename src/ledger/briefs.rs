//! What a fetch compares the server's listing with, read cheaply: for each row of a mailbox
//! only its UIDVALIDITY, uid, state and delivery time, streamed to the caller with the uid
//! borrowed from SQLite's row (no row is held, no string is copied). At 100,000 rows this is
//! one scan of the mailbox's rows and a few megabytes, where whole [`Entry`] values cost
//! ~50 MB and most of a no-op run's CPU.

use rusqlite::params;

use super::messages::{entry_from_row, state_column, ENTRY_COLUMNS};
use super::{Entry, Ledger, LedgerError, State};

/// What a fetch needs to know of one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Brief {
    pub state: State,
    /// Unix time of delivery (0 while fetching).
    pub delivered_at: i64,
}

impl Ledger {
    /// Calls `each(uidvalidity, uid, brief)` for every row of `mailbox`, in one streaming
    /// query.
    pub fn for_each_brief(
        &self,
        account: i64,
        mailbox: &str,
        mut each: impl FnMut(u32, &str, Brief),
    ) -> Result<(), LedgerError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT uidvalidity, uid, state, delivered_at FROM messages
                 WHERE account_id = ?1 AND mailbox = ?2",
            )?;
            let mut rows = st.query(params![account, mailbox])?;
            while let Some(row) = rows.next()? {
                let brief = Brief {
                    state: state_column(row, 2)?,
                    delivered_at: row.get(3)?,
                };
                each(row.get(0)?, row.get_ref(1)?.as_str()?, brief);
            }
            Ok(())
        })
    }

    /// The row of one message, if any (for a short, partial listing: one indexed lookup per
    /// listed message instead of a scan of the mailbox).
    pub fn brief(
        &self,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
        uid: &str,
    ) -> Result<Option<Brief>, LedgerError> {
        let result = (|| {
            let mut st = self.conn.prepare_cached(
                "SELECT state, delivered_at FROM messages
                 WHERE account_id = ?1 AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4",
            )?;
            let mut rows = st.query(params![account, mailbox, uidvalidity, uid])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            Ok(Some(Brief {
                state: state_column(row, 0)?,
                delivered_at: row.get(1)?,
            }))
        })();
        result.map_err(|e| self.sql_err(e))
    }

    /// Whether `mailbox` has delivered rows under a UIDVALIDITY other than `uidvalidity`: two
    /// seeks in the primary key, whatever the number of rows.
    pub fn delivered_under_other_validity(
        &self,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<bool, LedgerError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE account_id = ?1 AND mailbox = ?2
                                AND uidvalidity < ?3 AND state = 'delivered')
                     OR EXISTS (SELECT 1 FROM messages WHERE account_id = ?1 AND mailbox = ?2
                                AND uidvalidity > ?3 AND state = 'delivered')",
            )?;
            st.query_row(params![account, mailbox, uidvalidity], |r| r.get(0))
        })
    }

    /// The delivered rows of `mailbox` under UIDVALIDITY values other than `uidvalidity`
    /// (matched by Message-ID and size after a UIDVALIDITY change).
    pub fn delivered_elsewhere(
        &self,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<Entry>, LedgerError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM messages WHERE account_id = ?1 AND mailbox = ?2
             AND uidvalidity != ?3 AND state = 'delivered'"
        );
        self.read(|conn| {
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st.query_map(params![account, mailbox, uidvalidity], entry_from_row)?;
            rows.collect::<rusqlite::Result<Vec<Entry>>>()
        })
    }
}
