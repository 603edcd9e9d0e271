//! getmail's oldmail files (`GETMAILDIR/oldmail-*`, by default in `~/.getmail/` or
//! `~/.config/getmail/`).
//!
//! Format, as getmail6 6.18 writes it (`getmailcore/_retrieverbases.py`,
//! `write_oldmailfile`) and as verified by running it against Dovecot (see
//! `tests/import.rs`):
//!
//! - The file name is `oldmail-SERVER-PORT-USERNAME` for POP3 and
//!   `oldmail-SERVER-PORT-USERNAME-MAILBOX` for IMAP (one file per folder), where SERVER and
//!   USERNAME are as configured, runs of the characters `/\:;<>|` in `oldmail-SERVER-PORT-USERNAME`
//!   become `-` and in MAILBOX (UTF-8, as configured or listed) become `.`. Server, user and
//!   folder names may contain `-` themselves, so a name is only ever matched against the
//!   names the configured accounts would produce (see `super::getmail_match`), never split.
//! - Each line is `ID\0TIMESTAMP\n`: TIMESTAMP is the Unix time getmail first saw the message.
//!   For POP3, ID is the UIDL with every `/` replaced by `-` (getmail does that so that it can
//!   tell POP3 from IMAP ids); for IMAP it is `UIDVALIDITY/UID`, and files written before
//!   getmail 4.22 have `UIDVALIDITY/MAILBOX/UID`.
//!
//! ```text
//! 000000016b02674f\01795319669          (oldmail-127.0.0.1-21995-alice)
//! 1795319631/1\01795319672              (oldmail-127.0.0.1-21993-alice-INBOX)
//! ```
//!
//! getmail skips malformed lines; mailpull refuses the whole file instead.

use std::path::{Path, PathBuf};

use super::{ImportError, Owner, SeenId, StateList};

/// getmail's default directory, as getmail 6 chooses it: `$XDG_CONFIG_HOME/getmail` (or
/// `~/.config/getmail`) if it exists, else `~/.getmail`.
pub fn default_dir() -> Option<PathBuf> {
    let home = super::home()?;
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"))
        .join("getmail");
    Some(if xdg.exists() {
        xdg
    } else {
        home.join(".getmail")
    })
}

/// The prefix of every oldmail file name.
pub const PREFIX: &str = "oldmail-";

/// Parses one oldmail file. Its name (which says whose messages they are) must start with
/// `oldmail-`.
pub fn parse(path: &Path, text: &str) -> Result<Vec<StateList>, ImportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(name) = name.strip_prefix(PREFIX) else {
        return Err(ImportError::Garbled {
            path: path.to_path_buf(),
            line: 0,
            detail: format!(
                "not a getmail oldmail file: its name does not start with {PREFIX:?} (getmail \
                 names it after the server, port and user, and mailpull needs that name to \
                 know whose messages they are)"
            ),
        });
    };
    let mut ids = Vec::new();
    let mut imap: Option<bool> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let garbled = |detail: &str| ImportError::Garbled {
            path: path.to_path_buf(),
            line: line_no,
            detail: format!("{detail}: {:?} (expected `ID<NUL>TIMESTAMP`)", raw),
        };
        // getmail strips each line (blanks at both ends) and skips empty ones.
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let (id, stamp) = line.split_once('\0').ok_or_else(|| garbled("no NUL"))?;
        let at: i64 = stamp.parse().map_err(|_| garbled("bad timestamp"))?;
        let this_imap = id.contains('/');
        if imap.is_some_and(|was| was != this_imap) {
            return Err(garbled(
                "a POP3 UIDL among IMAP UIDVALIDITY/UID ids (or the other way round)",
            ));
        }
        imap = Some(this_imap);
        let seen = if this_imap {
            let fields: Vec<&str> = id.split('/').collect();
            let (validity, uid) = match fields[..] {
                [v, u] => (v, u),
                // Before getmail 4.22: UIDVALIDITY/MAILBOX/UID.
                [v, _, u] => (v, u),
                _ => return Err(garbled("not UIDVALIDITY/UID")),
            };
            let nz = |s: &str| s.parse::<u32>().ok().filter(|n| *n > 0);
            let (Some(validity), Some(uid)) = (nz(validity), nz(uid)) else {
                return Err(garbled("not UIDVALIDITY/UID"));
            };
            SeenId {
                uidvalidity: validity,
                uid: uid.to_string(),
                at: Some(at),
            }
        } else {
            if !super::valid_uidl(id) {
                return Err(garbled("not a POP3 UIDL"));
            }
            SeenId {
                uidvalidity: 0,
                uid: id.to_string(),
                at: Some(at),
            }
        };
        ids.push(seen);
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![StateList {
        file: path.to_path_buf(),
        line: 1,
        owner: Owner::Getmail {
            name: name.to_string(),
            imap: imap == Some(true),
        },
        ids,
    }])
}

/// getmail's `STRIP_CHAR_RE` (`[/\:;<>|]+`) replaced by `with`.
pub fn strip_chars(s: &str, with: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if matches!(c, '/' | '\\' | ':' | ';' | '<' | '>' | '|') {
            if !in_run {
                out.push(with);
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop3_file_written_by_getmail() {
        // Written by getmail6 6.18 (SimplePOP3SSLRetriever, delete = false) from Dovecot.
        let text = "000000036b02674f\x001795319669\n000000046b02674f\x001795319669\n";
        let lists = parse(Path::new("/g/oldmail-127.0.0.1-21995-alice"), text).unwrap();
        assert_eq!(lists.len(), 1);
        assert_eq!(
            lists[0].owner,
            Owner::Getmail {
                name: "127.0.0.1-21995-alice".into(),
                imap: false
            }
        );
        assert_eq!(
            lists[0].ids[0],
            SeenId {
                uidvalidity: 0,
                uid: "000000036b02674f".into(),
                at: Some(1795319669)
            }
        );
    }

    #[test]
    fn imap_file_written_by_getmail() {
        // Written by getmail6 6.18 (SimpleIMAPSSLRetriever) from Dovecot's INBOX, plus a line
        // in the pre-4.22 format.
        let text = "1795319631/5\x001795319672\n1795319631/1\x001795319672\n\
                    1795319631/INBOX/7\x001700000000\n";
        let lists = parse(Path::new("oldmail-127.0.0.1-21993-alice-INBOX"), text).unwrap();
        assert_eq!(
            lists[0].owner,
            Owner::Getmail {
                name: "127.0.0.1-21993-alice-INBOX".into(),
                imap: true
            }
        );
        let got: Vec<(u32, &str, Option<i64>)> = lists[0]
            .ids
            .iter()
            .map(|s| (s.uidvalidity, s.uid.as_str(), s.at))
            .collect();
        assert_eq!(
            got,
            [
                (1795319631, "5", Some(1795319672)),
                (1795319631, "1", Some(1795319672)),
                (1795319631, "7", Some(1700000000)),
            ]
        );
    }

    #[test]
    fn garbled_files_are_refused() {
        let p = Path::new("oldmail-h-995-u");
        for (text, line) in [
            ("abc 123\n", 1),
            ("abc\x00notatime\n", 1),
            ("abc\x001\n1/2\x001\n", 2),
            ("1/x\x001\n", 1),
            ("0/5\x001\n", 1),
            ("1/2/3/4\x001\n", 1),
        ] {
            match parse(p, text) {
                Err(ImportError::Garbled { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            parse(Path::new("getmailrc"), "abc\x001\n"),
            Err(ImportError::Garbled { line: 0, .. })
        ));
    }

    #[test]
    fn strip_chars_like_getmail() {
        assert_eq!(strip_chars("a/b\\c:;d<>|e", '-'), "a-b-c-d-e");
        assert_eq!(strip_chars("Lists/rust", '.'), "Lists.rust");
        assert_eq!(strip_chars("plain", '.'), "plain");
    }
}
