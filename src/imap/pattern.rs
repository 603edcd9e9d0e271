//! IMAP LIST patterns (RFC 3501 §6.3.8): `*` matches any run of characters, `%` any run that
//! does not contain the hierarchy delimiter, every other character itself.
//!
//! The matcher never backtracks. It runs the pattern as a small automaton: a set of pattern
//! positions reached so far, advanced by one name byte at a time (Thompson's construction; a
//! wildcard either stays where it is or lets its position pass to the next one without
//! consuming anything). That takes `O(pattern × name)` steps whatever the pattern — twelve
//! `*` and a name of any length included — where the recursive matcher it replaces took time
//! exponential in the number of wildcards.
//!
//! Matching works on bytes: a pattern and a name in UTF-8 (or modified UTF-7) match exactly as
//! they would character by character, since a pattern's literal characters can only line up
//! with whole characters of a name. Delimiters are ASCII.

/// Whether `name` matches `pattern`, where `%` does not cross any of `delimiters` (none: `%`
/// is the same as `*`, as for a server without a hierarchy).
pub fn matches(pattern: &[u8], name: &[u8], delimiters: &[u8]) -> bool {
    run(pattern, name, delimiters, &mut 0)
}

/// [`matches()`], counting the automaton's steps in `steps`.
fn run(pattern: &[u8], name: &[u8], delimiters: &[u8], steps: &mut u64) -> bool {
    let m = pattern.len();
    // cur[i]: the first i pattern bytes can match the name bytes read so far.
    let mut cur = vec![false; m + 1];
    let mut next = vec![false; m + 1];
    cur[0] = true;
    close(pattern, &mut cur);
    for &b in name {
        next.iter_mut().for_each(|x| *x = false);
        let mut any = false;
        for i in 0..m {
            *steps += 1;
            if !cur[i] {
                continue;
            }
            match pattern[i] {
                b'*' => next[i] = true,
                b'%' if !delimiters.contains(&b) => next[i] = true,
                b'%' => {}
                c if c == b => next[i + 1] = true,
                _ => continue,
            }
            any = true;
        }
        if !any {
            return false;
        }
        close(pattern, &mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    cur[m]
}

/// Lets every reached wildcard also stand for nothing: its position passes to the next one.
fn close(pattern: &[u8], set: &mut [bool]) {
    for i in 0..pattern.len() {
        if set[i] && matches!(pattern[i], b'*' | b'%') {
            set[i + 1] = true;
        }
    }
}

/// Whether a mailbox name from a LIST response answers the LIST pattern that was sent, with
/// the hierarchy delimiter the server reported for it. `INBOX` is case-insensitive (RFC 3501
/// §5.1) as a whole name and as the first level of a hierarchy (`inbox/x` answers `INBOX/*`).
pub fn list_answers(pattern: &[u8], name: &[u8], delimiter: Option<u8>) -> bool {
    let delimiters: &[u8] = match &delimiter {
        Some(d) => std::slice::from_ref(d),
        None => &[],
    };
    let pattern = inbox_upper(pattern, delimiter);
    let name = inbox_upper(name, delimiter);
    matches(&pattern, &name, delimiters)
}

/// `s` with a leading `INBOX` level in upper case.
fn inbox_upper(s: &[u8], delimiter: Option<u8>) -> Vec<u8> {
    let mut out = s.to_vec();
    if s.len() >= 5
        && s[..5].eq_ignore_ascii_case(b"INBOX")
        && (s.len() == 5 || Some(s[5]) == delimiter)
    {
        out[..5].copy_from_slice(b"INBOX");
    }
    out
}

/// A folder name or pattern written with `/` for a server whose hierarchy separator is
/// `separator`: every `/` becomes the separator. `None` when nothing changes (no `/`, or the
/// server's separator is `/`). mailpull tries a name as written first, and this form only when
/// that matched nothing, so a folder whose name really holds a `/` is still found.
pub fn with_separator(pattern: &str, separator: char) -> Option<String> {
    (separator != '/' && pattern.contains('/'))
        .then(|| pattern.replace('/', &separator.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious recursive matcher, as a reference for short inputs.
    fn reference(p: &[u8], n: &[u8], delims: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| reference(rest, &n[i..], delims)),
            Some((b'%', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || !delims.contains(&n[i - 1]))
                .any(|i| reference(rest, &n[i..], delims)),
            Some((&c, rest)) => n.first() == Some(&c) && reference(rest, &n[1..], delims),
        }
    }

    #[test]
    fn slashes_become_the_servers_separator() {
        assert_eq!(with_separator("Lists/*", '.').as_deref(), Some("Lists.*"));
        assert_eq!(with_separator("a/b/%", '.').as_deref(), Some("a.b.%"));
        assert_eq!(with_separator("Lists/*", '/'), None);
        assert_eq!(with_separator("Lists.*", '.'), None);
    }

    #[test]
    fn examples() {
        let d = b"/";
        assert!(matches(b"*", b"", d));
        assert!(matches(b"%", b"", d));
        assert!(matches(b"", b"", d));
        assert!(!matches(b"", b"a", d));
        assert!(matches(b"*", b"a/b/c", d));
        assert!(matches(b"%", b"abc", d));
        assert!(!matches(b"%", b"a/b", d));
        assert!(matches(b"%/%", b"a/b", d));
        assert!(matches(b"Lists/*", b"Lists/rust/users", d));
        assert!(!matches(b"Lists/%", b"Lists/rust/users", d));
        assert!(matches(b"Lists/%", b"Lists/rust", d));
        assert!(!matches(b"INBOX", b"Private", d));
        assert!(matches(b"a*b*c", b"aXXbYYc", d));
        assert!(!matches(b"a*b*c", b"aXXbYY", d));
        assert!(matches(b"%", b"a/b", b""));
        assert!(matches(b"Entw&APw-rfe", b"Entw&APw-rfe", d));
        assert!(matches("Entw*".as_bytes(), "Entwürfe".as_bytes(), d));
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert!(list_answers(b"INBOX", b"inbox", Some(b'/')));
        assert!(list_answers(b"inbox", b"INBOX", None));
        assert!(list_answers(b"INBOX/*", b"Inbox/x", Some(b'/')));
        assert!(list_answers(b"INBOX.%", b"inbox.x", Some(b'.')));
        assert!(!list_answers(b"INBOX", b"INBOXES", Some(b'/')));
        assert!(!list_answers(b"inboxes", b"INBOXES", Some(b'/')));
        assert!(!list_answers(b"INBOX", b"Private", Some(b'/')));
        assert!(!list_answers(b"Work", b"work", Some(b'/')));
    }

    #[test]
    fn agrees_with_the_reference() {
        let alphabet = b"ab/*%";
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        for _ in 0..20_000 {
            let p: Vec<u8> = (0..next(7)).map(|_| alphabet[next(5)]).collect();
            let n: Vec<u8> = (0..next(9)).map(|_| alphabet[next(3)]).collect();
            for delims in [&b"/"[..], b""] {
                assert_eq!(
                    matches(&p, &n, delims),
                    reference(&p, &n, delims),
                    "{:?} {:?} {delims:?}",
                    String::from_utf8_lossy(&p),
                    String::from_utf8_lossy(&n)
                );
            }
        }
    }

    #[test]
    fn many_wildcards_cost_pattern_times_name_steps() {
        // A recursive matcher takes about 25 s for twelve `*` and a 36-byte name, and twice
        // as long for every few bytes more (issue 11, class 9).
        for (pattern, name, want) in [
            ("*a".repeat(12) + "*b", "a".repeat(36), false),
            ("*a".repeat(12) + "*b", "a".repeat(2000), false),
            ("*a".repeat(12) + "*b", "a".repeat(2000) + "b", true),
            ("%a".repeat(12) + "%b", "a".repeat(2000), false),
            ("*".repeat(200), "x".repeat(2000), true),
        ] {
            let mut steps = 0;
            let got = run(pattern.as_bytes(), name.as_bytes(), b"/.", &mut steps);
            assert_eq!(got, want, "{pattern} {}", name.len());
            assert!(
                steps <= (pattern.len() * name.len()) as u64,
                "{steps} steps"
            );
        }
    }
}
