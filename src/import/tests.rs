//! Unit tests of reading state lists, aliases and matching them against accounts.

use super::plan::*;
use super::*;
use crate::config::{self, Account, Overrides};
use std::os::unix::fs::PermissionsExt;

fn accounts(text: &str) -> Vec<Account> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = config::parse_file(&path, text.to_string()).unwrap();
    config::accounts(&file, &[], &Overrides::default(), None).unwrap()
}

fn pop3_list(user: &str, host: &str, uids: &[&str]) -> StateList {
    StateList {
        file: "ids".into(),
        line: 1,
        owner: Owner::Pop3 {
            user: user.into(),
            host: host.into(),
        },
        ids: uids
            .iter()
            .map(|u| SeenId {
                uidvalidity: 0,
                uid: u.to_string(),
                at: None,
            })
            .collect(),
    }
}

fn getmail_list(name: &str, ids: &[(u32, &str)]) -> StateList {
    StateList {
        file: format!("oldmail-{name}").into(),
        line: 1,
        owner: Owner::Getmail {
            name: name.into(),
            imap: ids.iter().any(|(v, _)| *v > 0),
        },
        ids: ids
            .iter()
            .map(|(v, u)| SeenId {
                uidvalidity: *v,
                uid: u.to_string(),
                at: Some(1000),
            })
            .collect(),
    }
}

const CONFIG: &str = r#"
[account.tls]
url = "pop3s://alice@Mail.Example.org"
keep = true
[account.imap]
url = "imaps://alice@mail.example.org"
folders = ["INBOX", "Lists/rust", "Archive*"]
[account.hyphen]
url = "pop3s://jane-doe@pop-3.example.org:1995"
[account.local]
url = "pop3://bob@127.0.0.1:1110"
"#;

#[test]
fn pop3_lists_go_to_the_pop3_account_of_host_and_user() {
    let acc = accounts(CONFIG);
    let lists = [
        pop3_list("alice", "mail.example.org", &["u1", "u2", "u1"]),
        pop3_list("bob", "mail.example.org", &["b1"]),
        pop3_list("alice", "elsewhere.example", &["e1"]),
    ];
    let plan = plan(Tool::Fetchmail, &lists, &acc, &[], 77);
    // The IMAP account of the same user and host gets nothing.
    assert_eq!(plan.accounts.len(), 1);
    let a = &plan.accounts[0];
    assert_eq!(a.labels, ["tls"]);
    assert_eq!(a.key, AccountKey::new("pop3", "mail.example.org", "alice"));
    let uids: Vec<&str> = a.rows.iter().map(|r| r.key.uid.as_str()).collect();
    assert_eq!(uids, ["u1", "u2"], "listed twice, imported once");
    assert!(a.rows.iter().all(|r| r.delivered_at == 77
        && r.location == "imported:fetchmail"
        && r.key.mailbox.is_empty()
        && r.key.uidvalidity == 0));
    assert!(!a.deletes);
    assert_eq!(plan.unmatched.len(), 2);
    assert!(
        plan.unmatched[0].reason.contains("user bob")
            && plan.unmatched[0]
                .reason
                .contains("--as pop3://bob@mail.example.org=URL"),
        "{:?}",
        plan.unmatched
    );
    assert_eq!(plan.unmatched[0].records, 1);
    assert!(plan.unmatched[1].reason.contains("elsewhere.example"));
}

#[test]
fn pop3_list_for_an_imap_account_is_refused() {
    let acc = accounts("[account.i]\nurl = \"imaps://carol@mail.example.org\"\n");
    let plan = plan(
        Tool::Mpop,
        &[pop3_list("carol", "mail.example.org", &["x"])],
        &acc,
        &[],
        0,
    );
    assert!(plan.accounts.is_empty());
    assert!(
        plan.unmatched[0].reason.contains("IMAP"),
        "{:?}",
        plan.unmatched
    );
}

#[test]
fn getmail_names_are_matched_against_accounts_not_split() {
    let acc = accounts(CONFIG);
    let lists = [
        getmail_list("pop-3.example.org-1995-jane-doe", &[(0, "a")]),
        // Same server and user, another port: the same mailbox (the port is no part of
        // it), so the same account.
        getmail_list("pop-3.example.org-995-jane-doe", &[(0, "b"), (0, "a")]),
        getmail_list("mail.example.org-995-alice", &[(0, "c")]),
        // Another user whose name ends like the account's, and a name without a port.
        getmail_list("pop-3.example.org-995-doe", &[(0, "d")]),
        getmail_list("pop-3.example.org-jane-doe", &[(0, "e")]),
    ];
    let plan = plan(Tool::Getmail, &lists, &acc, &[], 5);
    assert_eq!(plan.accounts.len(), 2);
    assert_eq!(plan.accounts[0].key.user, "jane-doe");
    let uids: Vec<&str> = plan.accounts[0]
        .rows
        .iter()
        .map(|r| r.key.uid.as_str())
        .collect();
    assert_eq!(uids, ["a", "b"]);
    assert_eq!(
        plan.accounts[0].rows[0].delivered_at, 1000,
        "getmail's own time"
    );
    assert_eq!(plan.accounts[1].labels, ["tls"]);
    let owners: Vec<&str> = plan.unmatched.iter().map(|u| u.owner.as_str()).collect();
    assert_eq!(
        owners,
        [
            "oldmail-pop-3.example.org-995-doe",
            "oldmail-pop-3.example.org-jane-doe"
        ]
    );
}

#[test]
fn aliases_map_another_server_name() {
    let acc = accounts(CONFIG);
    let alias = Alias::parse("pop3://bob@LOCALHOST:110=pop3s://bob@127.0.0.1").unwrap();
    assert_eq!(alias.peer, AccountKey::new("pop3", "localhost", "bob"));
    assert_eq!(alias.ours, AccountKey::new("pop3", "127.0.0.1", "bob"));
    let unused = Alias::parse("pop3://x@nowhere.example=pop3://x@mail.example.org").unwrap();
    let lists = [
        pop3_list("bob", "localhost", &["p1"]),
        getmail_list("localhost-110-bob", &[(0, "g1")]),
        // Without an alias, records of localhost stay unmatched.
        pop3_list("alice", "localhost", &["n1"]),
    ];
    let aliases = [alias, unused];
    let plan = plan(Tool::Getmail, &lists, &acc, &aliases, 5);
    assert_eq!(plan.accounts.len(), 1, "{plan:?}");
    assert_eq!(plan.accounts[0].labels, ["local"]);
    let uids: Vec<&str> = plan.accounts[0]
        .rows
        .iter()
        .map(|r| r.key.uid.as_str())
        .collect();
    assert_eq!(uids, ["p1", "g1"]);
    assert_eq!(plan.unmatched.len(), 1);
    assert!(plan.unmatched[0].reason.contains("--as"), "{plan:?}");
    assert_eq!(
        plan.unused_aliases,
        ["pop3://x@nowhere.example=pop3://x@mail.example.org"]
    );
}

#[test]
fn bad_aliases_are_usage_errors() {
    // A user name may contain '=': the separator is the '=' before a scheme.
    let a = Alias::parse("pop3://a=b@h1=pop3://a=b@h2").unwrap();
    assert_eq!(a.peer.user, "a=b");
    assert_eq!(a.ours.host, "h2");
    for (bad, why) in [
        ("pop3://alice@localhost", "no '='"),
        ("pop3://alice@localhost=127.0.0.1", "no '='"),
        (
            "pop3://alice@localhost=imaps://alice@127.0.0.1",
            "same protocol",
        ),
        (
            "pop3s://alice@HOST:995=pop3://alice@host:110",
            "same mailbox",
        ),
        ("pop3://alice@localhost=pop3://127.0.0.1", "no user name"),
        ("pop3://alice:pw@localhost=pop3://alice@h", "password"),
    ] {
        let e = Alias::parse(bad).unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        let text = e.to_string();
        assert!(
            text.contains(why) && !text.contains(":pw@"),
            "{bad}: {text}"
        );
    }
}

#[test]
fn getmail_imap_folders() {
    let acc = accounts(CONFIG);
    let lists = [
        getmail_list("mail.example.org-993-alice-INBOX", &[(7, "1"), (7, "2")]),
        // "Lists/rust" as getmail spells it in a file name.
        getmail_list("mail.example.org-993-alice-Lists.rust", &[(9, "3")]),
        // Matches the pattern "Archive*" and has no '.' that might stand for a '/'.
        getmail_list("mail.example.org-993-alice-Archive2024", &[(11, "4")]),
        getmail_list("mail.example.org-993-alice-Archive.2023", &[(12, "5")]),
        getmail_list("mail.example.org-993-alice-Spam", &[(13, "6")]),
        // IMAP ids in a file named with another port: the port is no part of the
        // mailbox, so this is the IMAP account's INBOX.
        getmail_list("mail.example.org-995-alice-INBOX", &[(14, "7")]),
        // IMAP ids for a user who has only a POP3 account.
        getmail_list("pop-3.example.org-993-jane-doe-INBOX", &[(15, "8")]),
    ];
    let plan = plan(Tool::Getmail, &lists, &acc, &[], 0);
    assert_eq!(plan.accounts.len(), 1);
    let got: Vec<(&str, u32, &str)> = plan.accounts[0]
        .rows
        .iter()
        .map(|r| {
            (
                r.key.mailbox.as_str(),
                r.key.uidvalidity,
                r.key.uid.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("INBOX", 7, "1"),
            ("INBOX", 7, "2"),
            ("Lists/rust", 9, "3"),
            ("Archive2024", 11, "4"),
            ("INBOX", 14, "7"),
        ]
    );
    let reasons: Vec<&str> = plan.unmatched.iter().map(|u| u.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("another spelling"), "{reasons:?}");
    assert!(
        reasons[1].contains("does not fetch folder \"Spam\""),
        "{reasons:?}"
    );
    assert!(reasons[2].contains("is POP3"), "{reasons:?}");
}

#[test]
fn reading_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // getmail: a directory stands for its oldmail-* files only.
    std::fs::write(d.join("getmailrc"), "[retriever]\n").unwrap();
    std::fs::write(d.join("oldmail-h-995-u"), "a\x001\n").unwrap();
    std::fs::write(d.join("oldmail-h-993-u-INBOX"), "5/1\x002\n").unwrap();
    let (files, lists) = read_lists(Tool::Getmail, &[d.to_path_buf()]).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(lists.len(), 2);
    // fetchmail's idfile is a file; an empty directory holds nothing to import.
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (tool, path) in [
        (Tool::Fetchmail, d.to_path_buf()),
        (Tool::Mpop, empty.clone()),
    ] {
        match read_lists(tool, &[path]) {
            Err(e @ ImportError::NoInput { .. }) => assert_eq!(e.exit(), Exit::NoInput),
            other => panic!("{other:?}"),
        }
    }
    match read_lists(Tool::Mpop, &[d.join("missing")]) {
        Err(ImportError::NoInput { path, .. }) => assert!(path.ends_with("missing")),
        other => panic!("{other:?}"),
    }
    // Binary data is garbled, at the line it starts on.
    std::fs::write(d.join("bin"), b" 1 h u\nok\n\xff\xfe\n").unwrap();
    match read_lists(Tool::Mpop, &[d.join("bin")]) {
        Err(e @ ImportError::Garbled { line: 3, .. }) => assert_eq!(e.exit(), Exit::DataErr),
        other => panic!("{other:?}"),
    }
}

#[test]
fn list_patterns() {
    assert!(list_match("*", "a/b.c"));
    assert!(list_match("Lists/*", "Lists/rust"));
    assert!(list_match("%", "INBOX"));
    assert!(!list_match("%", "a/b"));
    assert!(!list_match("Lists/%", "Lists/a/b"));
    assert!(!list_match("INBOX", "Archive"));
}

#[test]
fn uidls() {
    assert!(valid_uidl("000000016b02674f"));
    assert!(valid_uidl("<x@y>"));
    assert!(!valid_uidl(""));
    assert!(!valid_uidl("a b"));
    assert!(!valid_uidl(&"x".repeat(71)));
}
