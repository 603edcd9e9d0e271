//! The upgrade of a schema-2 ledger to schema 3: accounts are keyed by (protocol, host, user),
//! no longer by port, and the host is stored in lower case.
//!
//! Accounts that differ only in port (the same mailbox fetched over pop3s:// on 995 and
//! pop3:// on 110, say) or in the case of the host become one: the oldest row survives and the
//! others' messages and read-receipt requests are merged into it ([`super::mailboxes`]: no
//! `delivered` row is lost and no message is recorded twice). Then the `accounts` table is
//! rebuilt with its new UNIQUE constraint. It all runs in the migration's one transaction
//! (see `Ledger::migrate`), with foreign-key enforcement off as SQLite prescribes for rebuilding
//! a referenced table; `PRAGMA foreign_key_check` must be clean before the commit.

use std::collections::HashMap;

use rusqlite::Transaction;

use super::mailboxes::merge_account;

/// 2 -> 3.
pub(super) fn to_v3(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String, String, String)> = {
        let mut st =
            tx.prepare("SELECT id, protocol, lower(host), user FROM accounts ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut survivors: HashMap<(String, String, String), i64> = HashMap::new();
    for (id, protocol, host, user) in rows {
        match survivors.get(&(protocol.clone(), host.clone(), user.clone())) {
            Some(&into) => {
                let merged = merge_account(tx, id, into)?;
                log::info!(
                    "ledger upgrade: {protocol} {user}@{host}: the records of two ports are now \
                     one mailbox ({} moved, {} recorded under both)",
                    merged.moved,
                    merged.merged
                );
            }
            None => {
                survivors.insert((protocol, host, user), id);
            }
        }
    }
    tx.execute_batch(
        "CREATE TABLE accounts_v3 (
            id       INTEGER PRIMARY KEY,
            protocol TEXT NOT NULL,
            host     TEXT NOT NULL,
            user     TEXT NOT NULL,
            UNIQUE (protocol, host, user)
        );
        INSERT INTO accounts_v3 (id, protocol, host, user)
            SELECT id, protocol, lower(host), user FROM accounts;
        DROP TABLE accounts;
        ALTER TABLE accounts_v3 RENAME TO accounts;",
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{dump, insert_messages, insert_receipt, v2_ledger};
    use super::super::{AccountKey, Ledger, LedgerError, State, SCHEMA_VERSION};
    use crate::exit::{Classify, Exit};

    fn key(protocol: &str, host: &str, user: &str) -> AccountKey {
        AccountKey::new(protocol, host, user)
    }

    #[test]
    fn a_version_2_ledger_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let c = v2_ledger(
            &path,
            &[
                (1, "pop3", "mail.example.org", 995, "alice"),
                (2, "imap", "mail.example.org", 993, "alice"),
                (3, "pop3", "other.example", 110, "bob"),
            ],
        );
        insert_messages(
            &c,
            &[
                (1, "", 0, "u1", "delivered", "m:1", 10, Some(11), None),
                (1, "", 0, "u2", "fetching", "m:2", 0, None, None),
                (
                    2,
                    "INBOX",
                    7,
                    "1",
                    "delivered",
                    "m:3",
                    12,
                    None,
                    Some("<a@x>"),
                ),
                (3, "", 0, "u1", "delivered", "m:4", 13, None, None),
            ],
        );
        insert_receipt(&c, 2, "<a@x>");
        drop(c);

        let mut l = Ledger::open(&path).unwrap();
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
        // Same ids, same rows, whatever port the account is fetched on now.
        assert_eq!(
            l.account_id(&key("pop3", "mail.example.org", "alice"))
                .unwrap(),
            1
        );
        assert_eq!(
            l.account_id(&key("imap", "MAIL.example.org", "alice"))
                .unwrap(),
            2
        );
        assert_eq!(
            l.account_id(&key("pop3", "other.example", "bob")).unwrap(),
            3
        );
        let pop = l.entries(1, "").unwrap();
        assert_eq!(pop.len(), 2);
        assert_eq!(
            (
                pop["u1"].state,
                pop["u1"].location.as_str(),
                pop["u1"].delivered_at
            ),
            (State::Delivered, "m:1", 10)
        );
        assert_eq!(pop["u1"].deleted_at, Some(11));
        assert_eq!(pop["u2"].state, State::Fetching);
        let imap = l.entries(2, "INBOX").unwrap();
        assert_eq!(imap["1"].message_id.as_deref(), Some("<a@x>"));
        assert_eq!(imap["1"].key.uidvalidity, 7);
        assert_eq!(l.entries(3, "").unwrap()["u1"].location, "m:4");
        let receipts = l.receipts(&[]).unwrap();
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].account_id, 2);
        // The new schema: no port, and foreign keys enforced again.
        let cols: Vec<String> = l
            .conn
            .prepare("SELECT name FROM pragma_table_info('accounts')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(cols, ["id", "protocol", "host", "user"]);
        let fk: i64 = l
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        assert!(l.begin_fetch(4242, &[]).is_ok());
        let err = l.conn.execute(
            "INSERT INTO messages (account_id, mailbox, uidvalidity, uid, size, state, location)
             VALUES (4242, '', 0, 'x', 1, 'fetching', 'l')",
            [],
        );
        assert!(err.is_err(), "a row without an account must be refused");
        // A new account gets a new id.
        assert_eq!(
            l.account_id(&key("pop3", "new.example", "alice")).unwrap(),
            4
        );
    }

    /// The same mailbox fetched over three ports (and with the host spelt differently): one
    /// account, one row per message, no delivered row lost.
    #[test]
    fn accounts_that_differ_only_in_port_merge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let c = v2_ledger(
            &path,
            &[
                (1, "pop3", "mail.example.org", 995, "alice"),
                (2, "imap", "mail.example.org", 993, "alice"),
                (3, "pop3", "mail.example.org", 110, "alice"),
                (4, "pop3", "Mail.Example.ORG", 1995, "alice"),
                (5, "pop3", "mail.example.org", 110, "bob"),
            ],
        );
        insert_messages(
            &c,
            &[
                (1, "", 0, "only1", "delivered", "a:1", 100, None, None),
                (3, "", 0, "only3", "delivered", "b:1", 100, Some(150), None),
                // Delivered under both: the earlier delivery is kept, its deletion noted.
                (
                    1,
                    "",
                    0,
                    "both",
                    "delivered",
                    "a:2",
                    100,
                    None,
                    Some("<both@x>"),
                ),
                (3, "", 0, "both", "delivered", "b:2", 50, None, None),
                (4, "", 0, "both", "delivered", "c:2", 70, Some(80), None),
                // Fetching under the survivor, delivered under another: delivered wins.
                (
                    1,
                    "",
                    0,
                    "late",
                    "fetching",
                    "a:3",
                    0,
                    None,
                    Some("<late@x>"),
                ),
                (3, "", 0, "late", "delivered", "b:3", 60, Some(61), None),
                // Delivered under the survivor, fetching under another.
                (1, "", 0, "early", "delivered", "a:4", 40, None, None),
                (4, "", 0, "early", "fetching", "c:4", 0, None, None),
                // Fetching under two: one reservation stays (the survivor's).
                (1, "", 0, "twice", "fetching", "a:5", 0, None, None),
                (3, "", 0, "twice", "fetching", "b:5", 0, None, None),
                (3, "", 0, "pending", "fetching", "b:6", 0, None, None),
                (2, "INBOX", 1, "both", "delivered", "i:1", 5, None, None),
                (5, "", 0, "both", "delivered", "bob:1", 5, None, None),
            ],
        );
        insert_receipt(&c, 3, "<r3@x>");
        insert_receipt(&c, 4, "<r4@x>");
        insert_receipt(&c, 5, "<r5@x>");
        drop(c);

        let mut l = Ledger::open(&path).unwrap();
        let accounts: i64 = l
            .conn
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(accounts, 3, "pop3 alice, imap alice, pop3 bob");
        let a = l
            .account_id(&key("pop3", "MAIL.EXAMPLE.ORG", "alice"))
            .unwrap();
        assert_eq!(a, 1, "the oldest row survives");
        let e = l.entries(1, "").unwrap();
        let mut uids: Vec<&str> = e.keys().map(String::as_str).collect();
        uids.sort();
        assert_eq!(
            uids,
            ["both", "early", "late", "only1", "only3", "pending", "twice"]
        );
        let n: i64 = l
            .conn
            .query_row(
                "SELECT count(*) FROM messages WHERE account_id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 7, "no message recorded twice");
        let show = |uid: &str| {
            let r = &e[uid];
            (
                r.state,
                r.location.clone(),
                r.delivered_at,
                r.deleted_at,
                r.message_id.clone(),
            )
        };
        let d = State::Delivered;
        let f = State::Fetching;
        assert_eq!(show("only1"), (d, "a:1".into(), 100, None, None));
        assert_eq!(show("only3"), (d, "b:1".into(), 100, Some(150), None));
        assert_eq!(
            show("both"),
            (d, "b:2".into(), 50, Some(80), Some("<both@x>".into()))
        );
        assert_eq!(
            show("late"),
            (d, "b:3".into(), 60, Some(61), Some("<late@x>".into()))
        );
        assert_eq!(show("early"), (d, "a:4".into(), 40, None, None));
        assert_eq!(show("twice"), (f, "a:5".into(), 0, None, None));
        assert_eq!(show("pending"), (f, "b:6".into(), 0, None, None));
        // The others are untouched.
        assert_eq!(l.entries(2, "INBOX").unwrap()["both"].location, "i:1");
        let bob = l
            .account_id(&key("pop3", "mail.example.org", "bob"))
            .unwrap();
        assert_eq!(bob, 5);
        assert_eq!(l.entries(5, "").unwrap()["both"].location, "bob:1");
        // The receipts moved with their accounts.
        let mut owners: Vec<(String, i64)> = l
            .receipts(&[])
            .unwrap()
            .into_iter()
            .map(|r| (r.message_id.unwrap_or_default(), r.account_id))
            .collect();
        owners.sort();
        assert_eq!(owners.iter().map(|o| o.1).collect::<Vec<_>>(), [1, 1, 5]);
    }

    #[test]
    fn a_failing_upgrade_leaves_the_ledger_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let c = v2_ledger(
            &path,
            &[
                (1, "pop3", "mail.example.org", 995, "alice"),
                (2, "pop3", "mail.example.org", 110, "alice"),
            ],
        );
        insert_messages(
            &c,
            &[
                (1, "", 0, "u1", "delivered", "a:1", 1, None, None),
                (2, "", 0, "u1", "delivered", "b:1", 2, None, None),
                (2, "", 0, "u2", "delivered", "b:2", 2, None, None),
            ],
        );
        insert_receipt(&c, 2, "<r@x>");
        let before = dump(&c);
        // Fail at the last step of the merge, after messages were merged and moved.
        c.execute_batch(
            "CREATE TEMP TRIGGER boom BEFORE UPDATE ON receipts
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
        let mut l = Ledger {
            conn: c,
            path: path.clone(),
        };
        let err = l.migrate().unwrap_err();
        assert!(
            matches!(err, LedgerError::Migrate { from: 2, to: 3, .. }),
            "{err:?}"
        );
        assert_eq!(err.exit(), Exit::IoErr);
        let text = err.to_string();
        assert!(
            text.contains("from schema 2 to 3") && text.contains("left as it was"),
            "{text}"
        );
        assert_eq!(
            dump(&l.conn),
            before,
            "the failed upgrade changed the ledger"
        );
        let fk: i64 = l
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(
            fk, 1,
            "foreign keys are enforced again after a failed upgrade"
        );
        drop(l);

        // Without the fault, the same file upgrades.
        let mut l = Ledger::open(&path).unwrap();
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(l.entries(1, "").unwrap().len(), 2);
        assert_eq!(l.receipts(&[]).unwrap()[0].account_id, 1);
        assert_eq!(
            l.account_id(&key("pop3", "mail.example.org", "alice"))
                .unwrap(),
            1
        );
    }

    /// Another process may take a ledger to version 2 between our look at its version and
    /// our transaction: the rebuild must then wait for foreign keys to be off.
    #[test]
    fn the_rebuild_never_runs_with_foreign_keys_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let c = v2_ledger(
            &path,
            &[
                (1, "pop3", "mail.example.org", 995, "alice"),
                (2, "pop3", "mail.example.org", 110, "alice"),
            ],
        );
        insert_messages(
            &c,
            &[
                (1, "", 0, "u1", "delivered", "a", 1, None, None),
                (2, "", 0, "u2", "delivered", "b", 2, None, None),
            ],
        );
        c.pragma_update(None, "foreign_keys", true).unwrap();
        let before = dump(&c);
        let mut l = Ledger { conn: c, path };
        assert!(matches!(l.migrate_step(), Ok(None)));
        assert_eq!(dump(&l.conn), before);
        l.migrate().unwrap();
        assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(l.entries(1, "").unwrap().len(), 2);
    }
}
