//! Tests of the message rows and of importing.

use std::collections::HashSet;

use super::test_support::{account, key, new_entry, open_temp};
use super::*;

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
