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
//!
//! [`Ledger::import_delivered`]: crate::ledger::Ledger::import_delivered

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
mod tests;
