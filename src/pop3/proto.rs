//! POP3 wire format, with no I/O: status lines and response codes (RFC 1939 §3, RFC 2449 §8,
//! RFC 3206), capability lists (RFC 2449 §5), scan listings (RFC 1939 §5 LIST, §7 UIDL), the
//! APOP timestamp (RFC 1939 §7) and the SASL PLAIN response (RFC 5034). Reading lines and
//! multi-line replies off a stream is `framing`'s ([`read_line`] and [`DotReader`] are
//! re-exported here, where they always were).

pub use super::framing::{read_line, DotReader};
/// The SASL responses (RFC 5034 sends them base64-encoded), from [`crate::sasl`].
pub use crate::sasl::{sasl_oauthbearer, sasl_plain, sasl_xoauth2};

/// A single-line server reply. Parsed from bytes; the texts are decoded lossily afterwards, so
/// that no byte sequence can make parsing fail or panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// `+OK` (true) or `-ERR` (false).
    pub ok: bool,
    /// The extended response code in brackets (RFC 2449 §8), upper-cased, e.g. `LOGIN-DELAY`
    /// or `SYS/TEMP`.
    pub code: Option<String>,
    /// The rest of the line.
    pub text: String,
}

impl Status {
    /// The text for a message to the user: at most a short prefix of it.
    pub fn quoted(&self) -> String {
        quote(self.text.as_bytes())
    }
}

/// Longest status or listing line accepted (RFC 2449 §4 allows 512 octets; be generous).
pub const MAX_LINE: usize = 8192;

/// How much of a server's line an error message quotes.
pub const MAX_QUOTE: usize = 80;

/// A short, lossily decoded prefix of server bytes for messages: at most [`MAX_QUOTE`] bytes,
/// with `…` when cut. (Making it safe for a terminal is the job of whatever prints it.)
pub fn quote(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_QUOTE {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        format!("{}…", String::from_utf8_lossy(&bytes[..MAX_QUOTE]))
    }
}

/// Whether `s` starts with the ASCII `prefix`, ignoring ASCII case.
fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn trim(mut s: &[u8]) -> &[u8] {
    s = trim_start(s);
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Where a status line's text starts: after `+OK` or `-ERR` and a space (or at the end of the
/// line). `None` if the line is neither.
fn status_prefix(line: &[u8]) -> Option<(bool, &[u8])> {
    let (ok, rest) = if starts_with_ci(line, b"+OK") {
        (true, &line[3..])
    } else if starts_with_ci(line, b"-ERR") {
        (false, &line[4..])
    } else {
        return None;
    };
    // "+OK" must be followed by a space or the end of the line.
    match rest.first() {
        None | Some(b' ') => Some((ok, rest)),
        Some(_) => None,
    }
}

/// Parses a status line (without its CRLF). `None` if it is neither `+OK` nor `-ERR`.
pub fn parse_status(line: &[u8]) -> Option<Status> {
    let (ok, rest) = status_prefix(line)?;
    let rest = trim_start(rest);
    let (code, text) = match rest.strip_prefix(b"[") {
        Some(r) => match memchr::memchr(b']', r) {
            Some(end) => (
                Some(String::from_utf8_lossy(&r[..end]).to_ascii_uppercase()),
                trim_start(&r[end + 1..]),
            ),
            None => (None, rest),
        },
        None => (None, rest),
    };
    Some(Status {
        ok,
        code,
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

/// Whether a line reads as a status line (`+OK` or `-ERR`, then a space or the end of the
/// line), judged from `prefix`: the line's first bytes, at most five, and `ended`: whether the
/// line ends right after them. (The first line of a message that reads as a status line means
/// the replies are out of step: no RFC 5322 message starts like that.)
pub fn looks_like_status(prefix: &[u8], ended: bool) -> bool {
    if ended {
        prefix.len() <= 5 && status_prefix(prefix).is_some()
    } else {
        prefix.len() >= 5 && status_prefix(&prefix[..5]).is_some()
    }
}

/// The size a RETR status line announces (`+OK 1234 octets`, RFC 1939 §5 example; Dovecot and
/// Courier send this), if it announces one.
pub fn announced_octets(text: &str) -> Option<u64> {
    let mut words = text.split_ascii_whitespace();
    let n = parse_number(words.next()?.as_bytes())?;
    let unit = words.next()?;
    starts_with_ci(unit.as_bytes(), b"octet").then_some(n)
}

/// A decimal number of 1–20 ASCII digits that fits a `u64` (no sign, no spaces).
pub fn parse_number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The capabilities a server advertised with CAPA (RFC 2449 §5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    lines: Vec<String>,
}

impl Capabilities {
    /// Builds the set from the CAPA reply lines.
    pub fn from_lines(lines: Vec<String>) -> Capabilities {
        Capabilities { lines }
    }

    /// The lines as the server sent them (decoded lossily).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Whether a capability (first word, case-insensitive) was advertised.
    pub fn has(&self, name: &str) -> bool {
        self.args(name).is_some()
    }

    /// The arguments of a capability, if advertised.
    pub fn args(&self, name: &str) -> Option<Vec<String>> {
        self.lines.iter().find_map(|l| {
            let mut words = l.split_ascii_whitespace();
            let first = words.next()?;
            first
                .eq_ignore_ascii_case(name)
                .then(|| words.map(str::to_string).collect())
        })
    }

    /// Whether `SASL` lists `mech`.
    pub fn sasl(&self, mech: &str) -> bool {
        self.args("SASL")
            .is_some_and(|a| a.iter().any(|m| m.eq_ignore_ascii_case(mech)))
    }
}

/// The APOP timestamp (`<...@...>`) of a greeting line, if any (RFC 1939 §7), as the server
/// sent it (the digest covers these exact bytes).
pub fn apop_timestamp(greeting: &[u8]) -> Option<&[u8]> {
    let start = memchr::memchr(b'<', greeting)?;
    let end = start + memchr::memchr(b'>', &greeting[start..])?;
    let stamp = &greeting[start..=end];
    (memchr::memchr(b'@', stamp).is_some() && !stamp.iter().any(|&b| b < 0x20 || b == 0x7f))
        .then_some(stamp)
}

/// The APOP digest: lower-case hex MD5 of timestamp and secret.
pub fn apop_digest(timestamp: &[u8], password: &str) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(timestamp);
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

/// Parses one line of a LIST or UIDL listing: `msg-number SP value`. The number is 1 or more
/// (at most `u32::MAX`); the value is one word.
pub fn parse_listing(line: &[u8]) -> Option<(u32, &[u8])> {
    let sp = memchr::memchr(b' ', line)?;
    let n = parse_number(&line[..sp])?;
    let n = u32::try_from(n).ok().filter(|&n| n > 0)?;
    let v = trim(&line[sp + 1..]);
    if v.is_empty() || v.iter().any(|&b| b == b' ' || b == b'\t') {
        return None;
    }
    Some((n, v))
}

/// Whether a UIDL value is acceptable: 1–70 printable ASCII characters (RFC 1939 §7).
pub fn valid_uidl(uid: &str) -> bool {
    valid_uidl_bytes(uid.as_bytes())
}

/// [`valid_uidl`] on bytes.
pub fn valid_uidl_bytes(uid: &[u8]) -> bool {
    (1..=70).contains(&uid.len()) && uid.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let s = parse_status(b"+OK 2 messages").unwrap();
        assert!(s.ok && s.code.is_none() && s.text == "2 messages");
        let s = parse_status(b"-ERR [LOGIN-DELAY] wait").unwrap();
        assert!(!s.ok);
        assert_eq!(s.code.as_deref(), Some("LOGIN-DELAY"));
        assert_eq!(s.text, "wait");
        let s = parse_status(b"-ERR [sys/temp] later").unwrap();
        assert_eq!(s.code.as_deref(), Some("SYS/TEMP"));
        assert!(parse_status(b"+OK").unwrap().ok);
        assert!(parse_status(b"+OKAY").is_none());
        assert!(parse_status(b"HELLO").is_none());
        assert!(parse_status(b"").is_none());
    }

    #[test]
    fn capabilities() {
        let c = Capabilities::from_lines(vec![
            "TOP".into(),
            "UIDL".into(),
            "SASL PLAIN LOGIN".into(),
            "pipelining".into(),
            "LOGIN-DELAY 900".into(),
        ]);
        assert!(c.has("PIPELINING"));
        assert!(c.sasl("plain"));
        assert!(!c.has("STLS"));
        assert_eq!(c.args("LOGIN-DELAY").unwrap(), vec!["900".to_string()]);
    }

    #[test]
    fn apop() {
        // RFC 1939 §7 example.
        let g = b"POP3 server ready <1896.697170952@dbc.mtview.ca.us>";
        let t = apop_timestamp(g).unwrap();
        assert_eq!(t, b"<1896.697170952@dbc.mtview.ca.us>");
        assert_eq!(
            apop_digest(t, "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
        assert!(apop_timestamp(b"ready <nothing>").is_none());
        assert!(apop_timestamp(b"ready > <a@b").is_none());
        // The digest covers the bytes as sent, even when they are not UTF-8.
        assert_eq!(apop_timestamp(b"x <\xff@\xfe> y").unwrap(), b"<\xff@\xfe>");
    }

    #[test]
    fn sasl_plain_encoding() {
        assert_eq!(
            sasl_plain("tim", "tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
    }

    #[test]
    fn listings() {
        assert_eq!(
            parse_listing(b"1 whqtswO00WBw418f9t5JxYwZ"),
            Some((1, &b"whqtswO00WBw418f9t5JxYwZ"[..]))
        );
        assert_eq!(parse_listing(b"2 200"), Some((2, &b"200"[..])));
        assert_eq!(parse_listing(b"2 200 "), Some((2, &b"200"[..])));
        assert_eq!(parse_listing(b"x 200"), None);
        assert_eq!(parse_listing(b"0 200"), None);
        assert_eq!(parse_listing(b"+5 200"), None);
        assert_eq!(parse_listing(b"4294967296 200"), None);
        assert_eq!(parse_listing(b"99999999999999999999999 200"), None);
        assert_eq!(
            parse_listing(b"4294967295 200"),
            Some((u32::MAX, &b"200"[..]))
        );
        assert_eq!(parse_listing(b"3"), None);
        assert_eq!(parse_listing(b"3 a b"), None);
        assert_eq!(parse_listing(b"\xff\xfe \xff"), None);
        assert!(valid_uidl("abc"));
        assert!(!valid_uidl(""));
        assert!(!valid_uidl("a b"));
        assert!(!valid_uidl_bytes(b"\xff"));
    }

    #[test]
    fn numbers_and_octets() {
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_number(b"18446744073709551616"), None);
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"-1"), None);
        assert_eq!(announced_octets("1234 octets"), Some(1234));
        assert_eq!(announced_octets("1234 octets follow."), Some(1234));
        assert_eq!(announced_octets("1234 OCTETS"), Some(1234));
        assert_eq!(announced_octets("message follows"), None);
        assert_eq!(announced_octets("1234"), None);
        assert_eq!(announced_octets("2 m2-uid"), None);
    }

    #[test]
    fn status_like_first_lines() {
        assert!(looks_like_status(b"+OK", true));
        assert!(looks_like_status(b"+ok ", true));
        assert!(looks_like_status(b"-ERR", true));
        assert!(looks_like_status(b"+OK 1", false));
        assert!(looks_like_status(b"-ERR ", false));
        assert!(!looks_like_status(b"+OKAY", false));
        assert!(!looks_like_status(b"-ERRO", false));
        assert!(!looks_like_status(b"From:", false));
        assert!(!looks_like_status(b"+OK", false));
        assert!(!looks_like_status(b"", true));
        assert!(!looks_like_status(b"+OK\r", true));
    }

    #[test]
    fn non_utf8_status_lines_do_not_panic() {
        // The greeting that used to panic in the status parser (issue 11).
        assert!(parse_status(b"\xff\xfe").is_none());
        assert!(parse_status(b"\xc3").is_none());
        assert!(parse_status(b"+\xc3\xa9K").is_none());
        let s = parse_status(b"+OK \xff\xfe [x").unwrap();
        assert!(s.ok && s.code.is_none());
        let s = parse_status(b"-ERR [\xffIN-USE] \xfe").unwrap();
        assert_eq!(s.code.as_deref(), Some("\u{fffd}IN-USE"));
        assert_eq!(quote(&[b'a'; 200]).chars().count(), MAX_QUOTE + 1);
        assert_eq!(quote(&[0xe9; 200]).chars().count(), MAX_QUOTE + 1);
    }
}
