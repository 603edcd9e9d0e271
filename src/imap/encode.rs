//! IMAP4rev1 commands, encoded with no I/O.
//!
//! - Command encoding (RFC 3501 §4.3 strings, §9 grammar): arguments become atoms, quoted strings
//!   or literals; a literal is synchronizing (`{n}`, the client waits for a `+` continuation
//!   request, §7.5) unless the server advertised LITERAL+ (RFC 7888, `{n+}`, no wait).
//! - UID sets (RFC 3501 §9 `sequence-set`, RFC 4315 `uid-set`): compressed ranges, split so
//!   that a command line stays short (RFC 7162 §4 recommends at most 8192 octets).
//!
//! Everything here is re-exported from [`super::proto`], its old home.

use std::fmt;

// ---------------------------------------------------------------------------------------------
// Command encoding
// ---------------------------------------------------------------------------------------------

/// One argument of a command.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// Sent as is (keywords, sequence sets, parenthesised item lists). Must not contain CR/LF.
    Raw(&'a str),
    /// A string (`astring`/`list-mailbox`): quoted when possible, else a literal.
    Str(&'a [u8]),
    /// Like [`Arg::Str`], but shown as `<redacted>` in logs.
    Secret(&'a [u8]),
}

/// A piece of an encoded command: bytes to write, then (if `await_continuation`) wait for the
/// server's `+` before sending the next piece (RFC 3501 §7.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The bytes to write (a line ending in CRLF, or literal data followed by the rest).
    pub bytes: Vec<u8>,
    /// What to log for these bytes (secrets redacted, literal data summarised).
    pub shown: String,
    /// The segment ends with a synchronizing literal marker `{n}\r\n`.
    pub await_continuation: bool,
}

/// Why a command could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` can be sent as a quoted string (RFC 3501 §9 `quoted`: 7-bit TEXT-CHARs, with
/// `"` and `\` escaped). Long strings go as literals too, to keep lines short.
fn quotable(s: &[u8]) -> bool {
    s.len() <= 1000
        && s.iter()
            .all(|&b| (0x01..=0x7f).contains(&b) && b != b'\r' && b != b'\n')
}

/// Encodes `tag SP args... CRLF` into segments. Strings are quoted when `quotable`, else
/// sent as literals: `{n+}` with LITERAL+ (RFC 7888), else `{n}` and a wait for the
/// continuation request. NUL cannot be sent at all (RFC 3501 §4.3).
pub fn encode_command(
    tag: &str,
    args: &[Arg<'_>],
    literal_plus: bool,
) -> Result<Vec<Segment>, EncodeError> {
    let mut segments = Vec::new();
    let mut cur = Segment {
        bytes: tag.as_bytes().to_vec(),
        shown: tag.to_string(),
        await_continuation: false,
    };
    // Literal data goes at the start of the next segment; `pending` says what to show for it.
    for arg in args {
        cur.bytes.push(b' ');
        cur.shown.push(' ');
        let (s, secret) = match *arg {
            Arg::Raw(r) => {
                debug_assert!(!r.contains(['\r', '\n']));
                cur.bytes.extend_from_slice(r.as_bytes());
                cur.shown.push_str(r);
                continue;
            }
            Arg::Str(s) => (s, false),
            Arg::Secret(s) => (s, true),
        };
        if quotable(s) {
            let mut q = Vec::with_capacity(s.len() + 2);
            q.push(b'"');
            for &b in s {
                if b == b'"' || b == b'\\' {
                    q.push(b'\\');
                }
                q.push(b);
            }
            q.push(b'"');
            cur.bytes.extend_from_slice(&q);
            if secret {
                cur.shown.push_str("<redacted>");
            } else {
                cur.shown.push_str(&String::from_utf8_lossy(&q));
            }
        } else {
            if s.contains(&0) {
                return Err(EncodeError(
                    "a string with a NUL byte cannot be sent over IMAP".into(),
                ));
            }
            let marker = if literal_plus {
                format!("{{{}+}}", s.len())
            } else {
                format!("{{{}}}", s.len())
            };
            cur.bytes.extend_from_slice(marker.as_bytes());
            cur.bytes.extend_from_slice(b"\r\n");
            cur.shown.push_str(&marker);
            if !literal_plus {
                cur.await_continuation = true;
                segments.push(std::mem::replace(
                    &mut cur,
                    Segment {
                        bytes: Vec::new(),
                        shown: String::new(),
                        await_continuation: false,
                    },
                ));
            }
            cur.bytes.extend_from_slice(s);
            if secret {
                cur.shown.push_str("<redacted>");
            } else {
                cur.shown
                    .push_str(&format!("<literal {:?}>", String::from_utf8_lossy(s)));
            }
        }
    }
    cur.bytes.extend_from_slice(b"\r\n");
    segments.push(cur);
    Ok(segments)
}

/// Whether `s` is a valid flag keyword (RFC 3501 §9 `flag-keyword = atom`).
pub fn valid_keyword(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"(){ %*\"\\]".contains(&b))
}

// ---------------------------------------------------------------------------------------------
// UID sets
// ---------------------------------------------------------------------------------------------

/// Longest UID set put into one command, so that a line stays well under 8000 bytes.
pub const MAX_SET_LEN: usize = 7000;

/// Compresses UIDs (any order, duplicates allowed, 0 ignored) into `sequence-set` strings such
/// as `1:5,7,9:12`, each at most `max_len` bytes (a single element is never split).
pub fn uid_sets(uids: &[u32], max_len: usize) -> Vec<String> {
    let mut v: Vec<u32> = uids.iter().copied().filter(|&u| u != 0).collect();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        i += 1;
        let elem = if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        };
        if !cur.is_empty() && cur.len() + 1 + elem.len() > max_len {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(',');
        }
        cur.push_str(&elem);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_set_compression() {
        assert_eq!(
            uid_sets(&[9, 1, 2, 3, 4, 5, 7, 10, 11, 12, 3], 100),
            vec!["1:5,7,9:12"]
        );
        assert_eq!(uid_sets(&[], 100), Vec::<String>::new());
        assert_eq!(uid_sets(&[42], 100), vec!["42"]);
        assert_eq!(uid_sets(&[1, 3, 5, 7], 4), vec!["1,3", "5,7"]);
        let many: Vec<u32> = (1..100_000).step_by(2).collect();
        let sets = uid_sets(&many, MAX_SET_LEN);
        assert!(sets.len() > 1);
        assert!(sets.iter().all(|s| s.len() <= MAX_SET_LEN));
        let back: Vec<u32> = sets
            .iter()
            .flat_map(|s| s.split(','))
            .map(|x| x.parse::<u32>().unwrap())
            .collect();
        assert_eq!(back, many);
    }

    #[test]
    fn command_quoting() {
        let segs = encode_command(
            "A1",
            &[
                Arg::Raw("LOGIN"),
                Arg::Str(b"al\"ice"),
                Arg::Secret(b"p\\w\"d"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].bytes, b"A1 LOGIN \"al\\\"ice\" \"p\\\\w\\\"d\"\r\n");
        assert_eq!(segs[0].shown, "A1 LOGIN \"al\\\"ice\" <redacted>");
        assert!(!segs[0].shown.contains("p\\"));
    }

    #[test]
    fn command_literals() {
        let pw = "pässword".as_bytes();
        let segs = encode_command(
            "A2",
            &[Arg::Raw("LOGIN"), Arg::Str(b"bob"), Arg::Secret(pw)],
            false,
        )
        .unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].bytes, b"A2 LOGIN \"bob\" {9}\r\n");
        assert!(segs[0].await_continuation);
        let mut want = pw.to_vec();
        want.extend_from_slice(b"\r\n");
        assert_eq!(segs[1].bytes, want);
        assert!(!segs[1].await_continuation);
        assert!(!segs[1].shown.contains("ss"));

        let segs = encode_command(
            "A3",
            &[Arg::Raw("LOGIN"), Arg::Str(b"bob"), Arg::Secret(pw)],
            true,
        )
        .unwrap();
        assert_eq!(segs.len(), 1);
        let mut want = b"A3 LOGIN \"bob\" {9+}\r\n".to_vec();
        want.extend_from_slice(pw);
        want.extend_from_slice(b"\r\n");
        assert_eq!(segs[0].bytes, want);

        assert!(encode_command("A4", &[Arg::Str(b"a\0b")], false).is_err());
        let segs = encode_command("A5", &[Arg::Str(b"a\r\nb")], false).unwrap();
        assert_eq!(segs[0].bytes, b"A5 {4}\r\n");
    }

    #[test]
    fn keywords() {
        assert!(valid_keyword("$MDNSent"));
        assert!(!valid_keyword("a b"));
        assert!(!valid_keyword("\\Seen"));
        assert!(!valid_keyword(""));
    }
}
