//! fetchmail's idfile (`~/.fetchids`, or `$FETCHMAILHOME/.fetchids`, or `--idfile FILE`).
//!
//! Format, as fetchmail 6.4 writes it (`uid.c`, `write_saved_lists`) and as verified by running
//! fetchmail 6.4.37 against Dovecot (see `tests/import.rs`): one line per message left on a POP3
//! server, `REMOTENAME@QUERYNAME UIDL\n`, for example
//!
//! ```text
//! alice@127.0.0.1 000000016b02674f
//! ```
//!
//! - `REMOTENAME` is the server user name (it may contain spaces or `@`), `QUERYNAME` the
//!   host name fetchmail polled (the `via` name if one was given). fetchmail's own reader
//!   splits at the first blank after the first `@`, then at the last `@` before that blank;
//!   so do we.
//! - There is no port and no protocol: fetchmail keeps this list for POP3 only (its IMAP
//!   support tracks the server's `\Seen` flags and writes nothing here — checked with
//!   fetchmail 6.4.37 `protocol imap` with and without `uidl`).
//! - No header, no comments, no timestamps. fetchmail deletes the file when the list is empty.
//!
//! fetchmail silently skips lines it cannot split; mailpull refuses the whole file instead
//! (a garbled idfile is better noticed than half imported).

use std::path::{Path, PathBuf};

use super::{ImportError, Owner, SeenId, StateList};

/// The idfile fetchmail uses by default: `$FETCHMAILHOME/.fetchids` if `FETCHMAILHOME` is set,
/// else `~/.fetchids`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FETCHMAILHOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join(".fetchids"));
    }
    super::home().map(|h| h.join(".fetchids"))
}

/// Parses an idfile's contents into one list per `user@host`, in order of first appearance.
pub fn parse(path: &Path, text: &str) -> Result<Vec<StateList>, ImportError> {
    let mut lists: Vec<StateList> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_start_matches([' ', '\t']).trim_end();
        if line.is_empty() {
            continue;
        }
        let garbled = |detail: &str| ImportError::Garbled {
            path: path.to_path_buf(),
            line: line_no,
            detail: format!("{detail}: {raw:?} (expected `USER@HOST UIDL`)"),
        };
        let at = line.find('@').ok_or_else(|| garbled("no USER@HOST"))?;
        let blank = line[at..]
            .find([' ', '\t'])
            .map(|b| at + b)
            .ok_or_else(|| garbled("no UIDL after USER@HOST"))?;
        let userhost = &line[..blank];
        let rest = line[blank..].trim_start_matches([' ', '\t']);
        let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
        let uid = words.next().ok_or_else(|| garbled("no UIDL"))?;
        if words.next().is_some() {
            return Err(garbled("more than one UIDL"));
        }
        if !super::valid_uidl(uid) {
            return Err(garbled("not a POP3 UIDL"));
        }
        let split = userhost.rfind('@').expect("userhost holds the first @");
        let (user, host) = (&userhost[..split], &userhost[split + 1..]);
        if user.is_empty() || host.is_empty() {
            return Err(garbled("empty user or host"));
        }
        let owner = Owner::Pop3 {
            user: user.to_string(),
            host: host.to_string(),
        };
        let seen = SeenId {
            uidvalidity: 0,
            uid: uid.to_string(),
            at: None,
        };
        match lists.iter_mut().find(|l| l.owner == owner) {
            Some(l) => l.ids.push(seen),
            None => lists.push(StateList {
                file: path.to_path_buf(),
                line: line_no,
                owner,
                ids: vec![seen],
            }),
        }
    }
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(user: &str, host: &str) -> Owner {
        Owner::Pop3 {
            user: user.into(),
            host: host.into(),
        }
    }

    #[test]
    fn lines_written_by_fetchmail() {
        // Written by fetchmail 6.4.37 polling the test Dovecot (POP3, keep).
        let text = "alice@127.0.0.1 000000016b02674f\n\
                    alice@127.0.0.1 000000026b02674f\n\
                    bob@mail.example.org <20260101.abc@pop.example>\n\
                    alice@127.0.0.1 000000036b02674f\n";
        let lists = parse(Path::new("ids"), text).unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].owner, owner("alice", "127.0.0.1"));
        assert_eq!(lists[0].line, 1);
        let uids: Vec<&str> = lists[0].ids.iter().map(|s| s.uid.as_str()).collect();
        assert_eq!(
            uids,
            ["000000016b02674f", "000000026b02674f", "000000036b02674f"]
        );
        assert_eq!(lists[1].owner, owner("bob", "mail.example.org"));
        assert_eq!(lists[1].line, 3);
        assert_eq!(lists[1].ids[0].uid, "<20260101.abc@pop.example>");
    }

    #[test]
    fn user_names_with_at_and_blanks() {
        // Like fetchmail: the first blank after the first @ ends USER@HOST, the last @ before
        // it starts HOST, and the UIDL may contain @ itself (InterMail).
        let text = "alice@example.org@pop.example.org 1234@intermail\n\
                    \x20 Jane Doe@notes.example.org UID-7\n";
        let lists = parse(Path::new("ids"), text).unwrap();
        assert_eq!(
            lists[0].owner,
            owner("alice@example.org", "pop.example.org")
        );
        assert_eq!(lists[0].ids[0].uid, "1234@intermail");
        // Leading blanks are skipped; a blank before the @ belongs to the user name.
        assert_eq!(lists[1].owner, owner("Jane Doe", "notes.example.org"));
        assert_eq!(lists[1].ids[0].uid, "UID-7");
    }

    #[test]
    fn garbled_lines_are_refused_with_their_number() {
        for (text, line) in [
            ("alice@host 1\nthis is not an idfile\n", 2),
            ("alice@host\n", 1),
            ("alice@host 1 2\n", 1),
            ("@host 1\n", 1),
            ("alice@ 1\n", 1),
            ("\n\nalice@host \u{7f}bad\n", 3),
        ] {
            match parse(Path::new("ids"), text) {
                Err(ImportError::Garbled { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_file_has_no_lists() {
        assert!(parse(Path::new("ids"), "").unwrap().is_empty());
        assert!(parse(Path::new("ids"), "\n  \n").unwrap().is_empty());
    }
}
