//! Two accounts, one mailbox: refusing configurations (and command lines) in which two
//! accounts would read the same messages.
//!
//! Two accounts read the same mailbox when they have the same identity (protocol family, host
//! case-insensitively, user: see `ledger::AccountKey`; the port and TLS mode do not count) and,
//! for IMAP, folders that may overlap. Whichever ran first would take every message (delete
//! mode) or record it (keep mode, one ledger row per message), and the other would get none
//! without a word: so the configuration is refused (exit 78), naming both accounts and the
//! mailbox and saying how to deliver one mailbox to two places.
//!
//! Folder overlap is decided conservatively, without asking the server: `INBOX` is
//! case-insensitive (RFC 3501), other names are compared exactly, and LIST patterns overlap a
//! name or another pattern if some folder name could match both — `%` is taken to match
//! anything, like `*`, since the server's hierarchy delimiter is not known here. For the same
//! reason a `/` may stand for the server's separator, whatever it is (`imap::folders` lists
//! `Lists/*` as `Lists.*` on a server whose separator is `.` when the name as written matches
//! nothing): `Lists/*` and `Lists.rust` overlap.

use std::collections::HashSet;

use super::{Account, ConfigError, ConfigFile, Protocol, ServerUrl};
use crate::ledger::AccountKey;

/// How to deliver one mailbox to two places, for the error messages.
const HOW: &str = "to deliver one mailbox to two places, keep one account and deliver through \
     an MDA that writes both copies (e.g. deliver = { mda = \"tee -a ~/mail/copy.txt | procmail\" \
     }), or, for IMAP, give each account its own folders";

/// Whether some IMAP folder name could be named by both `a` and `b` (names or LIST patterns),
/// on a server with any hierarchy separator: each is taken as written and, if it holds a `/`,
/// also with the separator in place of the `/` (as `imap::folders` resolves it).
pub fn folders_overlap(a: &str, b: &str) -> bool {
    fn inbox(p: &str) -> bool {
        matches(p, "INBOX", true)
    }
    if (inbox(a) && inbox(b)) || intersect(a, b) {
        return true;
    }
    if !a.contains('/') && !b.contains('/') {
        return false;
    }
    // The separator matters only as a character of the other pattern, or as one in neither.
    let fresh = ('\u{1}'..).find(|c| !a.contains(*c) && !b.contains(*c));
    let mut seps: Vec<char> = a.chars().chain(b.chars()).chain(fresh).collect();
    seps.retain(|c| *c != '/' && !wild(*c));
    seps.sort_unstable();
    seps.dedup();
    seps.into_iter().any(|sep| {
        let with = |p: &str| p.replace('/', &sep.to_string());
        let (a2, b2) = (with(a), with(b));
        let both = |x: &str, y: &str| (inbox(x) && inbox(y)) || intersect(x, y);
        both(&a2, b) || both(a, &b2) || both(&a2, &b2)
    })
}

/// The first pair of folders of `a` and `b` that may overlap.
pub fn common_folder<'a>(a: &'a [String], b: &'a [String]) -> Option<(&'a str, &'a str)> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (x.as_str(), y.as_str())))
        .find(|(x, y)| folders_overlap(x, y))
}

fn wild(c: char) -> bool {
    c == '*' || c == '%'
}

/// Whether `pattern` matches `name` (`*` and `%` match any run of characters).
fn matches(pattern: &str, name: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // dp[j]: p[..i] matches n[..j].
    let mut dp = vec![false; n.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        for j in 0..=n.len() {
            next[j] = if wild(pc) {
                dp[j] || (j > 0 && next[j - 1])
            } else {
                j > 0
                    && dp[j - 1]
                    && if ignore_case {
                        pc.eq_ignore_ascii_case(&n[j - 1])
                    } else {
                        pc == n[j - 1]
                    }
            };
        }
        dp = next;
    }
    dp[n.len()]
}

/// Whether some string matches both patterns (`*` and `%` match any run of characters; all
/// other characters match themselves exactly).
fn intersect(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut seen = HashSet::new();
    let mut todo = vec![(0usize, 0usize)];
    while let Some((i, j)) = todo.pop() {
        if !seen.insert((i, j)) {
            continue;
        }
        if i == a.len() && j == b.len() {
            return true;
        }
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        if x.is_some_and(wild) {
            todo.push((i + 1, j)); // the wildcard matches nothing more
            if j < b.len() {
                todo.push((i, j + 1)); // it swallows b's next character (or wildcard)
            }
        }
        if y.is_some_and(wild) {
            todo.push((i, j + 1));
            if i < a.len() {
                todo.push((i + 1, j));
            }
        }
        if let (Some(x), Some(y)) = (x, y) {
            if !wild(x) && !wild(y) && x == y {
                todo.push((i + 1, j + 1));
            }
        }
    }
    false
}

/// What one account reads.
struct Reads<'a> {
    key: AccountKey,
    protocol: Protocol,
    /// IMAP folders (`INBOX` when none are configured); empty for POP3.
    folders: Vec<String>,
    who: &'a str,
}

impl Reads<'_> {
    /// Why `self` and `other` read the same messages, if they do.
    fn clash(&self, other: &Reads<'_>) -> Option<String> {
        if self.key != other.key {
            return None;
        }
        match self.protocol {
            Protocol::Pop3 => Some(format!("the mailbox {}", self.key)),
            Protocol::Imap => {
                let (a, b) = common_folder(&self.folders, &other.folders)?;
                Some(if a == b {
                    format!("folder {a:?} of {}", self.key)
                } else {
                    format!(
                        "the same folders of {} ({:?} of {} and {b:?} of {} may name the same \
                         folder)",
                        self.key, a, self.who, other.who
                    )
                })
            }
        }
    }
}

fn reads<'a>(url: &ServerUrl, folders: Option<&[String]>, who: &'a str) -> Reads<'a> {
    let folders = match (url.protocol, folders) {
        (Protocol::Pop3, _) => Vec::new(),
        (Protocol::Imap, Some(f)) if !f.is_empty() => f.to_vec(),
        (Protocol::Imap, _) => vec!["INBOX".to_string()],
    };
    Reads {
        key: AccountKey::new(url.protocol.name(), &url.host, &url.user),
        protocol: url.protocol,
        folders,
        who,
    }
}

/// Refuses a configuration file in which two accounts read the same mailbox (exit 78).
pub(super) fn check_file(file: &ConfigFile) -> Result<(), ConfigError> {
    let defaults = file.config.defaults.folders.as_deref();
    let mut seen: Vec<(Reads<'_>, usize)> = Vec::new();
    for (name, acc) in &file.config.account {
        let Some(url) = &acc.url else { continue };
        let line = file.line_of(url.span().start);
        let this = reads(
            &url.get_ref().0,
            acc.folders.as_deref().or(defaults),
            name.as_str(),
        );
        if let Some((first, first_line)) = seen.iter().find(|(r, _)| r.clash(&this).is_some()) {
            let what = first.clash(&this).unwrap_or_default();
            return Err(ConfigError::Invalid(format!(
                "error in {}, line {line}: accounts {:?} (line {first_line}) and {name:?} both \
                 read {what}: whichever runs first would take every message and the other would \
                 get none (the port and the TLS mode do not make it another mailbox); {HOW}",
                file.where_(),
                first.who,
            )));
        }
        seen.push((this, line));
    }
    Ok(())
}

/// Refuses command-line targets that name the same mailbox twice in different ways (a
/// configured account and a URL, two URLs differing in port or TLS mode, accounts that
/// `--folder` points at the same folders): which of them was meant is not clear (exit 64).
/// `named[i]` is how the user named `accounts[i]`.
pub(super) fn check_targets(accounts: &[Account], named: &[String]) -> Result<(), ConfigError> {
    let all: Vec<Reads<'_>> = accounts
        .iter()
        .zip(named)
        .map(|(a, who)| Reads {
            key: a.key(),
            protocol: a.protocol,
            folders: a.folders.clone(),
            who: who.as_str(),
        })
        .collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if let Some(what) = a.clash(b) {
                return Err(ConfigError::Usage(format!(
                    "{} and {} both read {what}; name it once (the port and the TLS mode do not \
                     make it another mailbox, and only one of them would get the messages)",
                    a.who, b.who
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_overlap() {
        for (a, b) in [
            ("INBOX", "INBOX"),
            ("INBOX", "inbox"),
            ("Inbox", "*"),
            ("inbox", "I*"),
            ("i*", "I%"),
            ("Lists/rust", "Lists/rust"),
            ("Lists/rust", "Lists/*"),
            ("Lists/%", "Lists/a/b"),
            ("*", "Archive"),
            ("A*", "*Z"),
            ("a*b", "*x*"),
            ("%", "Sent"),
            // A `/` stands for the server's separator, whatever it is.
            ("Lists/*", "Lists.rust"),
            ("Lists/rust", "Lists.rust"),
            ("a/b/%", "a.b.c"),
            ("Lists/*", "Lists:x"),
            ("Lists/rust", "Lists/*"),
        ] {
            assert!(folders_overlap(a, b), "{a} / {b}");
            assert!(folders_overlap(b, a), "{b} / {a}");
        }
        for (a, b) in [
            ("INBOX", "Sent"),
            ("Lists/rust", "Lists/go"),
            ("Archive", "archive"),
            ("Lists/*", "Archive/*"),
            ("A*", "B*"),
            ("*a", "*b"),
            ("INBOX", "Lists/*"),
            ("a*b", "a*c"),
            ("Lists/rust", "Lists.go"),
            ("Lists/*", "Archive.x"),
            ("Lists/*", "Lists"),
            ("a/b", "a.b.c"),
        ] {
            assert!(!folders_overlap(a, b), "{a} / {b}");
            assert!(!folders_overlap(b, a), "{b} / {a}");
        }
        let a = ["Sent".to_string(), "Lists/*".to_string()];
        let b = ["INBOX".to_string(), "Lists/rust".to_string()];
        assert_eq!(common_folder(&a, &b), Some(("Lists/*", "Lists/rust")));
        assert_eq!(common_folder(&a[..1], &b), None);
    }
}
