//! Mailboxes as the ledger knows them: listing them (`mailpull ledger list`), and moving one
//! mailbox's records to another identity when a provider renames its server (`mailpull ledger
//! rename`), merged with whatever the new identity already holds.
//!
//! Merging (here and in the schema-3 upgrade, `migrate.rs`) keeps one row per message key
//! (folder, UIDVALIDITY, UID): a message recorded under both accounts keeps the `delivered` row
//! over a `fetching` one, of two `delivered` rows the earlier delivery (its location and time),
//! of two `fetching` rows the destination's; a confirmed deletion (`deleted_at`, the earlier of
//! two) and a known Message-ID are kept whichever row they came from. Read-receipt requests
//! move with their account (their dedupe key is unique across accounts already).

use rusqlite::{params, OptionalExtension, Transaction};

use super::{AccountKey, Ledger, LedgerError};

/// What merging one account's records into another did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merge {
    /// Messages moved over unchanged (the destination had no row for them).
    pub moved: usize,
    /// Messages both accounts had a row for: one row was kept.
    pub merged: usize,
    /// Read-receipt requests moved.
    pub receipts: usize,
}

/// One folder of one mailbox in the ledger (`mailpull ledger list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxSummary {
    pub key: AccountKey,
    /// IMAP folder; `""` for POP3.
    pub mailbox: String,
    /// Rows (delivered or being fetched).
    pub messages: usize,
    /// Rows in state `delivered`.
    pub delivered: usize,
    /// Unix time of the latest delivery, if any.
    pub last_delivered: Option<i64>,
}

/// What `Ledger::rename` did (or would do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenameReport {
    pub from: AccountKey,
    pub to: AccountKey,
    /// Whether `to` had records already (the two were merged).
    pub merged_into_existing: bool,
    /// The source's rows per folder (POP3: one entry, `""`), in folder order.
    pub folders: Vec<(String, usize)>,
    pub merge: Merge,
}

/// Merges every record of account `from` into account `into` and deletes `from`, inside the
/// caller's transaction. `from` and `into` must differ.
pub(super) fn merge_account(tx: &Transaction<'_>, from: i64, into: i64) -> rusqlite::Result<Merge> {
    debug_assert_ne!(from, into);
    if from == into {
        return Ok(Merge::default());
    }
    struct Pair {
        from_rowid: i64,
        into_rowid: i64,
        size: i64,
        state: String,
        location: String,
        delivered_at: i64,
        deleted_at: Option<i64>,
        message_id: Option<String>,
        into_state: String,
        into_delivered_at: i64,
        into_deleted_at: Option<i64>,
    }
    let pairs: Vec<Pair> = {
        let mut st = tx.prepare(
            "SELECT f.rowid, t.rowid, f.size, f.state, f.location, f.delivered_at, f.deleted_at,
                    f.message_id, t.state, t.delivered_at, t.deleted_at
             FROM messages f JOIN messages t
               ON t.account_id = ?2 AND t.mailbox = f.mailbox
              AND t.uidvalidity = f.uidvalidity AND t.uid = f.uid
             WHERE f.account_id = ?1",
        )?;
        let rows = st.query_map(params![from, into], |r| {
            Ok(Pair {
                from_rowid: r.get(0)?,
                into_rowid: r.get(1)?,
                size: r.get(2)?,
                state: r.get(3)?,
                location: r.get(4)?,
                delivered_at: r.get(5)?,
                deleted_at: r.get(6)?,
                message_id: r.get(7)?,
                into_state: r.get(8)?,
                into_delivered_at: r.get(9)?,
                into_deleted_at: r.get(10)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut merge = Merge {
        merged: pairs.len(),
        ..Merge::default()
    };
    {
        let mut take = tx.prepare_cached(
            "UPDATE messages SET size = ?2, state = ?3, location = ?4, delivered_at = ?5,
                 deleted_at = ?6, message_id = COALESCE(?7, message_id)
             WHERE rowid = ?1",
        )?;
        let mut keep = tx.prepare_cached(
            "UPDATE messages SET deleted_at = ?2, message_id = COALESCE(message_id, ?3)
             WHERE rowid = ?1",
        )?;
        let mut drop = tx.prepare_cached("DELETE FROM messages WHERE rowid = ?1")?;
        for p in &pairs {
            let delivered = |s: &str| s == "delivered";
            let from_wins = match (delivered(&p.state), delivered(&p.into_state)) {
                (true, false) => true,
                (true, true) => p.delivered_at < p.into_delivered_at,
                _ => false,
            };
            let deleted_at = match (p.deleted_at, p.into_deleted_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // Drop the source row first: the kept row is the destination's either way.
            drop.execute([p.from_rowid])?;
            if from_wins {
                take.execute(params![
                    p.into_rowid,
                    p.size,
                    p.state,
                    p.location,
                    p.delivered_at,
                    deleted_at,
                    p.message_id
                ])?;
            } else {
                keep.execute(params![p.into_rowid, deleted_at, p.message_id])?;
            }
        }
    }
    merge.moved = tx.execute(
        "UPDATE messages SET account_id = ?2 WHERE account_id = ?1",
        params![from, into],
    )?;
    merge.receipts = tx.execute(
        "UPDATE receipts SET account_id = ?2 WHERE account_id = ?1",
        params![from, into],
    )?;
    tx.execute("DELETE FROM accounts WHERE id = ?1", [from])?;
    Ok(merge)
}

/// The id of an account row, if there is one.
fn find(tx: &Transaction<'_>, key: &AccountKey) -> rusqlite::Result<Option<i64>> {
    tx.prepare_cached("SELECT id FROM accounts WHERE protocol = ?1 AND host = ?2 AND user = ?3")?
        .query_row(params![key.protocol, key.host, key.user], |r| r.get(0))
        .optional()
}

impl Ledger {
    /// Every folder of every mailbox the ledger holds messages of, ordered by host, user,
    /// protocol and folder.
    pub fn mailboxes(&self) -> Result<Vec<MailboxSummary>, LedgerError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT a.protocol, a.host, a.user, m.mailbox, count(*),
                        sum(m.state = 'delivered'),
                        max(CASE WHEN m.state = 'delivered' THEN m.delivered_at END)
                 FROM accounts a JOIN messages m ON m.account_id = a.id
                 GROUP BY a.id, m.mailbox
                 ORDER BY a.host, a.user, a.protocol, m.mailbox",
            )?;
            let rows = st.query_map([], |r| {
                Ok(MailboxSummary {
                    key: AccountKey {
                        protocol: r.get(0)?,
                        host: r.get(1)?,
                        user: r.get(2)?,
                    },
                    mailbox: r.get(3)?,
                    messages: r.get::<_, i64>(4)?.max(0) as usize,
                    delivered: r.get::<_, i64>(5)?.max(0) as usize,
                    last_delivered: r.get(6)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// The mailbox (protocol, host, user) of the ledger's account `id`, if it exists: how
    /// `mailpull receipts` names an account given as a URL, which has no name.
    pub fn account_key(&self, id: i64) -> Result<Option<AccountKey>, LedgerError> {
        use rusqlite::OptionalExtension;
        self.read(|conn| {
            conn.query_row(
                "SELECT protocol, host, user FROM accounts WHERE id = ?1",
                [id],
                |r| {
                    Ok(AccountKey {
                        protocol: r.get(0)?,
                        host: r.get(1)?,
                        user: r.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Moves every record of mailbox `from` (messages of every folder, read-receipt requests)
    /// to `to`, merging with the records `to` has already. One `IMMEDIATE` transaction: all or
    /// nothing; with `dry_run` it is rolled back and nothing changes.
    ///
    /// [`LedgerError::UnknownMailbox`] when `from` has no records. The caller makes sure the
    /// two keys are different mailboxes of the same protocol; the same key twice changes
    /// nothing.
    pub fn rename(
        &mut self,
        from: &AccountKey,
        to: &AccountKey,
        dry_run: bool,
    ) -> Result<RenameReport, LedgerError> {
        let result = self.write_or_dry_run(dry_run, |tx| {
            let Some(from_id) = find(tx, from)? else {
                return Ok(None);
            };
            let folders: Vec<(String, usize)> = {
                let mut st = tx.prepare(
                    "SELECT mailbox, count(*) FROM messages WHERE account_id = ?1
                     GROUP BY mailbox ORDER BY mailbox",
                )?;
                let rows = st.query_map([from_id], |r| {
                    Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as usize))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let receipts: usize = tx.query_row(
                "SELECT count(*) FROM receipts WHERE account_id = ?1",
                [from_id],
                |r| r.get::<_, i64>(0).map(|n| n.max(0) as usize),
            )?;
            if folders.is_empty() && receipts == 0 {
                return Ok(None);
            }
            let to_id = find(tx, to)?;
            let to_has_records = match to_id {
                Some(id) if id != from_id => tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM messages WHERE account_id = ?1)
                         OR EXISTS (SELECT 1 FROM receipts WHERE account_id = ?1)",
                    [id],
                    |r| r.get::<_, bool>(0),
                )?,
                _ => false,
            };
            let merge = match to_id {
                Some(id) if id == from_id => Merge::default(),
                Some(id) => {
                    // Resume points (schema 4) say nothing of the rows the merge adds to an
                    // account: both accounts list in full next time.
                    tx.execute(
                        "DELETE FROM folders WHERE account_id IN (?1, ?2)",
                        params![from_id, id],
                    )?;
                    merge_account(tx, from_id, id)?
                }
                None => {
                    tx.execute(
                        "UPDATE accounts SET protocol = ?2, host = ?3, user = ?4 WHERE id = ?1",
                        params![from_id, to.protocol, to.host, to.user],
                    )?;
                    Merge {
                        moved: folders.iter().map(|(_, n)| n).sum(),
                        merged: 0,
                        receipts,
                    }
                }
            };
            Ok(Some(RenameReport {
                from: from.clone(),
                to: to.clone(),
                merged_into_existing: to_has_records,
                folders,
                merge,
            }))
        })?;
        match result {
            Some(report) => Ok(report),
            None => Err(LedgerError::UnknownMailbox {
                path: self.path.clone(),
                key: from.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{dump, insert_receipt};
    use super::super::{NewEntry, State};
    use super::*;
    use crate::exit::{Classify, Exit};
    use crate::ledger::MessageKey;

    fn key(host: &str) -> AccountKey {
        AccountKey::new("pop3", host, "alice")
    }

    fn entry(mailbox: &str, uid: &str, location: &str) -> NewEntry {
        NewEntry {
            key: MessageKey {
                mailbox: mailbox.into(),
                uidvalidity: if mailbox.is_empty() { 0 } else { 7 },
                uid: uid.into(),
            },
            size: 10,
            location: location.into(),
            message_id: None,
        }
    }

    fn open() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        (dir, l)
    }

    /// A ledger with alice@localhost: u1, u2 delivered, u3 fetching, and a receipt request.
    fn localhost(l: &mut Ledger) -> i64 {
        let a = l.account_id(&key("localhost")).unwrap();
        l.insert_delivered(
            a,
            &[
                (entry("", "u1", "old:1"), 10),
                (entry("", "u2", "old:2"), 20),
            ],
        )
        .unwrap();
        l.begin_fetch(a, &[entry("", "u3", "old:3")]).unwrap();
        insert_receipt(&l.conn, a, "<r@x>");
        a
    }

    #[test]
    fn rename_to_a_new_name_moves_everything() {
        let (_d, mut l) = open();
        let a = localhost(&mut l);
        let r = l
            .rename(&key("LocalHost"), &key("127.0.0.1"), false)
            .unwrap();
        assert_eq!(r.folders, [(String::new(), 3)]);
        assert_eq!(
            r.merge,
            Merge {
                moved: 3,
                merged: 0,
                receipts: 1
            }
        );
        assert!(!r.merged_into_existing);
        // The account keeps its id under the new name; the old name is unknown now.
        assert_eq!(l.account_id(&key("127.0.0.1")).unwrap(), a);
        let e = l.entries(a, "").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e["u3"].state, State::Fetching);
        assert_eq!(l.receipts(&[]).unwrap()[0].account_id, a);
        let err = l
            .rename(&key("localhost"), &key("127.0.0.1"), false)
            .unwrap_err();
        assert!(matches!(err, LedgerError::UnknownMailbox { .. }), "{err:?}");
    }

    #[test]
    fn rename_into_an_empty_account_row() {
        // `check` under the new name created the account row, with no records.
        let (_d, mut l) = open();
        localhost(&mut l);
        let new = l.account_id(&key("127.0.0.1")).unwrap();
        let r = l
            .rename(&key("localhost"), &key("127.0.0.1"), false)
            .unwrap();
        assert!(!r.merged_into_existing);
        assert_eq!(r.merge.moved, 3);
        assert_eq!(l.entries(new, "").unwrap().len(), 3);
    }

    #[test]
    fn rename_into_a_known_name_merges() {
        let (_d, mut l) = open();
        let old = localhost(&mut l);
        let new = l.account_id(&key("127.0.0.1")).unwrap();
        // u1 delivered under both (the new one later), u3 delivered under the new one only
        // (fetching under the old), u4 new only.
        l.insert_delivered(
            new,
            &[
                (entry("", "u1", "new:1"), 50),
                (entry("", "u3", "new:3"), 60),
            ],
        )
        .unwrap();
        l.insert_delivered(new, &[(entry("", "u4", "new:4"), 70)])
            .unwrap();
        let r = l
            .rename(&key("localhost"), &key("127.0.0.1"), false)
            .unwrap();
        assert!(r.merged_into_existing);
        assert_eq!(
            r.merge,
            Merge {
                moved: 1,
                merged: 2,
                receipts: 1
            }
        );
        let e = l.entries(new, "").unwrap();
        let mut got: Vec<(&str, &str, State)> = e
            .values()
            .map(|e| (e.key.uid.as_str(), e.location.as_str(), e.state))
            .collect();
        got.sort_by_key(|g| g.0);
        use State::Delivered as D;
        assert_eq!(
            got,
            [
                ("u1", "old:1", D),
                ("u2", "old:2", D),
                ("u3", "new:3", D),
                ("u4", "new:4", D)
            ]
        );
        let accounts: i64 = l
            .conn
            .query_row("SELECT count(*) FROM accounts WHERE id = ?1", [old], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(accounts, 0, "the old account row is gone");
    }

    #[test]
    fn imap_folders_move_together() {
        let (_d, mut l) = open();
        let from = AccountKey::new("imap", "imap.old.example", "alice");
        let to = AccountKey::new("imap", "imap.new.example", "alice");
        let a = l.account_id(&from).unwrap();
        l.insert_delivered(
            a,
            &[
                (entry("INBOX", "1", "l1"), 1),
                (entry("INBOX", "2", "l2"), 2),
                (entry("Lists/rust", "1", "l3"), 3),
            ],
        )
        .unwrap();
        let r = l.rename(&from, &to, false).unwrap();
        assert_eq!(
            r.folders,
            [("INBOX".to_string(), 2), ("Lists/rust".to_string(), 1)]
        );
        let listed = l.mailboxes().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|m| m.key == to));
        assert_eq!(
            (
                listed[0].mailbox.as_str(),
                listed[0].messages,
                listed[0].last_delivered
            ),
            ("INBOX", 2, Some(2))
        );
    }

    #[test]
    fn dry_run_and_failures_change_nothing() {
        let (_d, mut l) = open();
        localhost(&mut l);
        let new = l.account_id(&key("127.0.0.1")).unwrap();
        l.insert_delivered(new, &[(entry("", "u1", "new:1"), 50)])
            .unwrap();
        let before = dump(&l.conn);
        let dry = l
            .rename(&key("localhost"), &key("127.0.0.1"), true)
            .unwrap();
        assert_eq!(dump(&l.conn), before, "a dry run changed the ledger");
        assert_eq!(dry.merge.merged, 1);
        assert_eq!(dry.merge.moved, 2);

        // Unknown sources: no account row, or one without records.
        l.account_id(&key("empty.example")).unwrap();
        let before = dump(&l.conn);
        for unknown in ["nowhere.example", "empty.example"] {
            let err = l
                .rename(&key(unknown), &key("x.example"), false)
                .unwrap_err();
            assert_eq!(err.exit(), Exit::NoInput);
            assert!(
                err.to_string()
                    .contains(&format!("no records of pop3 alice@{unknown}")),
                "{err}"
            );
        }
        // The same mailbox twice: nothing happens.
        l.rename(&key("localhost"), &key("LOCALHOST"), false)
            .unwrap();
        assert_eq!(dump(&l.conn), before);

        // A failure half-way (after the messages were merged) rolls everything back.
        l.conn
            .execute_batch(
                "CREATE TEMP TRIGGER boom BEFORE UPDATE ON receipts
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .unwrap();
        assert!(l
            .rename(&key("localhost"), &key("127.0.0.1"), false)
            .is_err());
        assert_eq!(dump(&l.conn), before);

        let real = {
            l.conn.execute_batch("DROP TRIGGER boom").unwrap();
            l.rename(&key("localhost"), &key("127.0.0.1"), false)
                .unwrap()
        };
        assert_eq!(real.merge, dry.merge, "the dry run told the truth");
    }
}
