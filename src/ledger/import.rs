//! Seeding the ledger with messages another program already fetched (`mailpull import`).

use rusqlite::params;

use super::{AccountKey, Ledger, LedgerError, MessageKey};

/// A message another program already fetched, for [`Ledger::import_delivered`].
///
/// [`Ledger::import_delivered`]: super::Ledger::import_delivered
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    pub key: MessageKey,
    /// Where the row came from, e.g. `imported:fetchmail`.
    pub location: String,
    /// Unix time the other program fetched it (or of the import, when it did not say).
    pub delivered_at: i64,
}

impl Ledger {
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
        self.write_or_dry_run(dry_run, |tx| {
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
            Ok(counts)
        })
    }
}
