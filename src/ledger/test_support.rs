//! Helpers for the ledger's unit tests: ledgers in the old schema, and a dump of everything a
//! ledger holds, to compare before and after.

use std::path::Path;

use rusqlite::Connection;

use super::schema::{APPLICATION_ID, SCHEMA_V1, SCHEMA_V2};
use super::{AccountKey, Ledger, MessageKey, NewEntry};

/// Creates a schema-2 ledger (accounts keyed by protocol, host, port and user) at `path`, with
/// these account rows (id, protocol, host, port, user), and returns a raw connection to it.
pub fn v2_ledger(path: &Path, accounts: &[(i64, &str, &str, u16, &str)]) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch(SCHEMA_V1).unwrap();
    c.execute_batch(SCHEMA_V2).unwrap();
    c.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    c.pragma_update(None, "user_version", 2).unwrap();
    for (id, protocol, host, port, user) in accounts {
        c.execute(
            "INSERT INTO accounts (id, protocol, host, port, user) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![id, protocol, host, port, user],
        )
        .unwrap();
    }
    c
}

/// A message row: (account, mailbox, uidvalidity, uid, state, location, delivered_at,
/// deleted_at, message_id).
pub type Row<'a> = (
    i64,
    &'a str,
    u32,
    &'a str,
    &'a str,
    &'a str,
    i64,
    Option<i64>,
    Option<&'a str>,
);

/// Inserts message rows (size 100).
pub fn insert_messages(c: &Connection, rows: &[Row<'_>]) {
    for (account, mailbox, v, uid, state, location, at, deleted, mid) in rows {
        c.execute(
            "INSERT INTO messages (account_id, mailbox, uidvalidity, uid, size, state, location,
                 delivered_at, deleted_at, message_id)
             VALUES (?1, ?2, ?3, ?4, 100, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![account, mailbox, v, uid, state, location, at, deleted, mid],
        )
        .unwrap();
    }
}

/// Inserts a read-receipt request of `account` with this dedupe key.
pub fn insert_receipt(c: &Connection, account: i64, dedupe: &str) {
    c.execute(
        "INSERT INTO receipts (dedupe_key, account_id, mailbox, uidvalidity, uid, requester,
             from_header, subject, date, warnings, state, created_at)
         VALUES (?1, ?2, '', 0, 'u', 'r@example.org', 'f', 's', 'd', '', 'pending', 1)",
        rusqlite::params![dedupe, account],
    )
    .unwrap();
}

/// Everything the database holds: its version, its schema and every row of every table, as
/// text, in a stable order.
pub fn dump(c: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    out.push(format!("user_version {v}"));
    let mut st = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let objects: Vec<(String, String, Option<String>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (kind, name, sql) in &objects {
        out.push(format!("{kind} {name}: {sql:?}"));
        if kind == "table" {
            let mut st = c
                .prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"))
                .unwrap();
            let n = st.column_count();
            let rows: Vec<String> = st
                .query_map([], |r| {
                    let cells: Vec<String> = (0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect();
                    Ok(format!("  {name}: {}", cells.join(" | ")))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            out.extend(rows);
        }
    }
    out
}

/// A POP3 message key.
pub fn key(uid: &str) -> MessageKey {
    MessageKey {
        mailbox: String::new(),
        uidvalidity: 0,
        uid: uid.to_string(),
    }
}

/// A reservation of `uid` at `location`.
pub fn new_entry(uid: &str, location: &str) -> NewEntry {
    NewEntry {
        key: key(uid),
        size: 1000 + uid.len() as u64,
        location: location.to_string(),
        message_id: None,
    }
}

/// A POP3 account key of `user`.
pub fn account(user: &str) -> AccountKey {
    AccountKey::new("pop3", "mail.example.org", user)
}

/// A new ledger in a temporary directory.
pub fn open_temp() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    (dir, ledger)
}
