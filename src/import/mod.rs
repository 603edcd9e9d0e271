//! `mailpull import`: seeds the ledger from another fetcher's record of the messages it already
//! fetched, so that switching to mailpull downloads none of them again.
//!
//! Each tool has its own parser ([`fetchmail`], [`mpop`], [`getmail`]: the formats are
//! described there) producing [`StateList`]s: lists of message ids of one mailbox, with what
//! the file says about whose mailbox it is. [`plan`] matches every list against the configured
//! accounts by mailbox identity (protocol, host, user: never the port, see `ledger`) and turns
//! the ids into ledger keys; the ledger write is one transaction ([`Ledger::import_delivered`]):
//! all or nothing, never touching a row that exists already, so importing twice is harmless.
//!
//! The other tool may have named the server differently (it polled `localhost`, mailpull uses
//! `127.0.0.1`): an [`Alias`] (`--as PEER-URL=URL`) says that its records of PEER are records
//! of URL's mailbox. Hosts are compared as written (case-insensitively), never resolved.
//!
//! What the tools record, and so what can be imported:
//!
//! | tool      | POP3                     | IMAP                                        | port |
//! |-----------|--------------------------|---------------------------------------------|------|
//! | fetchmail | UIDLs per `user@host`    | nothing (fetchmail relies on `\Seen` flags) | no   |
//! | mpop      | UIDLs per host and user  | (POP3 only)                                 | no   |
//! | getmail   | UIDLs per file           | `UIDVALIDITY/UID` per folder file           | yes  |
//!
//! A recorded port is ignored like a configured one (POP3 and POP3S reach the same mailbox): a
//! list goes to the configured account with that protocol, host and user. getmail's IMAP ids carry
//! the UIDVALIDITY, so they are imported exactly as mailpull would have recorded them, and no
//! connection to the server is needed for any tool. A getmail folder is matched to a folder the
//! account fetches: a literal entry of `folders` (the file name mangles `/` and a few other
//! characters, so the configured spelling is restored), or a LIST pattern the name matches if
//! the name holds no `.` (which might stand for a mangled `/`).
//!
//! Imported rows are `delivered` at the time the tool says it fetched the message (getmail),
//! else at the time of the import, with the location `imported:TOOL`, no size and no
//! Message-ID. Like any delivered row, in delete mode (`keep = false`) the next fetch deletes
//! those still on the server without downloading them; `delete_after_days` counts from that
//! time.

pub mod fetchmail;
pub mod getmail;
pub mod mpop;
pub mod plan;
mod report;
pub mod run;

pub use plan::{apply, plan, AccountPlan, Plan, Unmatched};
pub use run::{run, ImportRequest};

use std::path::{Path, PathBuf};

use crate::config::{self, ConfigError, ServerUrl};
use crate::exit::{Classify, Exit};
use crate::ledger::AccountKey;

/// Why a state file cannot be imported. Nothing is written in either case.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is missing or unreadable (EX_NOINPUT).
    #[error("cannot read {}: {source}", path.display())]
    NoInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not what the tool writes (EX_DATAERR). `line` 0 means the file as a whole.
    #[error("{}{}: {detail}\n  (nothing was imported; is this the right file for this tool?)", path.display(), if *line > 0 { format!(", line {line}") } else { String::new() })]
    Garbled {
        path: PathBuf,
        line: usize,
        detail: String,
    },
}

impl Classify for ImportError {
    fn exit(&self) -> Exit {
        match self {
            ImportError::NoInput { .. } => Exit::NoInput,
            ImportError::Garbled { .. } => Exit::DataErr,
        }
    }
}

/// The tools whose state can be imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Fetchmail,
    Mpop,
    Getmail,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Fetchmail => "fetchmail",
            Tool::Mpop => "mpop",
            Tool::Getmail => "getmail",
        }
    }

    /// The ledger location of the rows imported from this tool.
    pub fn location(self) -> String {
        format!("imported:{}", self.name())
    }
}

/// Whose mailbox a [`StateList`] belongs to, as far as the file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A POP3 mailbox named by server user and host, without a port (fetchmail, mpop).
    Pop3 { user: String, host: String },
    /// A getmail oldmail file name without `oldmail-`: `SERVER-PORT-USER` (POP3) or
    /// `SERVER-PORT-USER-MAILBOX` (IMAP, `imap` true), mangled by getmail.
    Getmail { name: String, imap: bool },
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Pop3 { user, host } => write!(f, "{user}@{host}"),
            Owner::Getmail { name, .. } => write!(f, "{}{name}", getmail::PREFIX),
        }
    }
}

/// One message id in a state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenId {
    /// IMAP UIDVALIDITY; 0 for POP3.
    pub uidvalidity: u32,
    /// POP3 UIDL or IMAP UID (decimal).
    pub uid: String,
    /// Unix time the tool fetched it, when recorded.
    pub at: Option<i64>,
}

/// The ids of one mailbox found in a state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateList {
    pub file: PathBuf,
    /// The line the list starts at (1-based).
    pub line: usize,
    pub owner: Owner,
    pub ids: Vec<SeenId>,
}

/// `--as PEER-URL=URL`: the records the tool made for PEER's mailbox are records of URL's (the
/// same server under another name). Ports in either URL are ignored, like everywhere else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// The mailbox as the other tool named it.
    pub peer: AccountKey,
    /// The mailbox as mailpull's configuration names it.
    pub ours: AccountKey,
    /// The argument as given, for messages.
    pub text: String,
}

impl Alias {
    /// Parses `PEER-URL=URL`: both server URLs of the same protocol family (`pop3`/`pop3s`, or
    /// `imap`/`imaps`), naming different mailboxes. The `=` that separates them is the one
    /// followed by a URL scheme (a user name may contain `=`).
    pub fn parse(s: &str) -> Result<Alias, ConfigError> {
        let usage = |why: String| {
            ConfigError::Usage(format!(
                "--as {:?}: {why}; write PEER-URL=URL, e.g. --as \
                 pop3://alice@localhost=pop3s://alice@127.0.0.1",
                config::redact_url_password(s)
            ))
        };
        let split = s.match_indices('=').map(|(i, _)| i).find(|&i| {
            let rest = &s[i + 1..];
            ["pop3://", "pop3s://", "imap://", "imaps://"]
                .iter()
                .any(|scheme| rest.starts_with(scheme))
        });
        let Some(i) = split else {
            return Err(usage("no '=' followed by a server URL".into()));
        };
        let parse = |u: &str| config::parse_url(u).map_err(|e| usage(e.to_string()));
        let (peer, ours): (ServerUrl, ServerUrl) = (parse(&s[..i])?, parse(&s[i + 1..])?);
        if peer.protocol != ours.protocol {
            return Err(usage(format!(
                "both sides must be the same protocol ({} records mean nothing to {})",
                peer.protocol.name().to_uppercase(),
                ours.protocol.name().to_uppercase()
            )));
        }
        let key = |u: &ServerUrl| AccountKey::new(u.protocol.name(), &u.host, &u.user);
        let (peer, ours) = (key(&peer), key(&ours));
        if peer == ours {
            return Err(usage(format!(
                "both sides name the same mailbox ({ours}; ports and TLS modes are not part of \
                 it), so there is nothing to map"
            )));
        }
        Ok(Alias {
            peer,
            ours,
            text: s.to_string(),
        })
    }
}

/// `$HOME`, where the tools keep their state by default.
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// A POP3 UIDL as mailpull's POP3 client accepts it (RFC 1939 §7: 1 to 70 characters in
/// 0x21..=0x7E); an id it could never see in a listing makes a state file garbled.
pub use crate::pop3::proto::valid_uidl;

/// Reads a state file as text; errors name the file.
fn read(path: &Path) -> Result<String, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::NoInput {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ImportError::Garbled {
            path: path.to_path_buf(),
            line: upto.iter().filter(|b| **b == b'\n').count() + 1,
            detail: "not text (invalid UTF-8): this is not a state file".into(),
        }
    })
}

/// The regular files of a directory whose names satisfy `want`, sorted.
fn files_in(dir: &Path, want: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, ImportError> {
    let no_input = |source| ImportError::NoInput {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(no_input)? {
        let entry = entry.map_err(no_input)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if want(&name) && entry.path().is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and parses the state files a command names. A directory stands for the files in it
/// the tool would have written (mpop: all but hidden ones; getmail: `oldmail-*`).
pub fn read_lists(
    tool: Tool,
    paths: &[PathBuf],
) -> Result<(Vec<PathBuf>, Vec<StateList>), ImportError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let found = match tool {
                Tool::Fetchmail => {
                    return Err(ImportError::NoInput {
                        path: p.clone(),
                        source: std::io::Error::other(
                            "is a directory; fetchmail's idfile is a file (~/.fetchids)",
                        ),
                    })
                }
                Tool::Mpop => files_in(p, |n| !n.starts_with('.'))?,
                Tool::Getmail => files_in(p, |n| n.starts_with(getmail::PREFIX))?,
            };
            if found.is_empty() {
                return Err(ImportError::NoInput {
                    path: p.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        match tool {
                            Tool::Getmail => "no oldmail-* files in this directory",
                            _ => "no files in this directory",
                        },
                    ),
                });
            }
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut lists = Vec::new();
    for f in &files {
        let text = read(f)?;
        lists.extend(match tool {
            Tool::Fetchmail => fetchmail::parse(f, &text)?,
            Tool::Mpop => mpop::parse(f, &text)?,
            Tool::Getmail => getmail::parse(f, &text)?,
        });
    }
    Ok((files, lists))
}

#[cfg(test)]
mod tests {
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
}
