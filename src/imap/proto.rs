//! IMAP4rev1 wire format, with no I/O.
//!
//! - Command encoding (RFC 3501 §4.3 strings, §9 grammar): arguments become atoms, quoted strings
//!   or literals; a literal is synchronizing (`{n}`, the client waits for a `+` continuation
//!   request, §7.5) unless the server advertised LITERAL+ (RFC 7888, `{n+}`, no wait).
//! - UID sets (RFC 3501 §9 `sequence-set`, RFC 4315 `uid-set`): compressed ranges, split so
//!   that a command line stays short (RFC 7162 §4 recommends at most 8192 octets).
//! - Framing of server responses: the only grammar written here is the literal marker `{N}`
//!   at the end of a line (RFC 3501 §4.3), which tells the reader how many raw bytes follow.
//!   Everything else is parsed by `imap-codec` ([`parse_response`], [`parse_greeting`]),
//!   including the probe that tells whether a literal is a message body to stream
//!   ([`probe_body_literal`]).

use std::fmt;

use imap_codec::decode::Decoder;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Capability, Code, Data, Greeting, Response};
use imap_codec::{GreetingCodec, ResponseCodec};

/// Re-exported from [`super::utf7`], where modified UTF-7 mailbox names are handled.
pub use super::utf7::{mailbox_from_wire, utf7_decode, utf7_encode};

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

// ---------------------------------------------------------------------------------------------
// Capabilities and response codes
// ---------------------------------------------------------------------------------------------

/// The capabilities a server advertised (RFC 3501 §7.2.1), upper-cased.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    names: Vec<String>,
}

impl Capabilities {
    /// Builds the set from capability names.
    pub fn from_names<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Capabilities {
        Capabilities {
            names: names
                .into_iter()
                .map(|s| s.as_ref().to_ascii_uppercase())
                .collect(),
        }
    }

    /// Builds the set from parsed capabilities.
    pub fn from_parsed(caps: &[Capability<'_>]) -> Capabilities {
        Capabilities::from_names(caps.iter().map(|c| c.to_string()))
    }

    /// Whether a capability was advertised (case-insensitive), e.g. `IDLE`, `AUTH=PLAIN`.
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether `AUTH=<mech>` was advertised.
    pub fn auth(&self, mech: &str) -> bool {
        self.has(&format!("AUTH={mech}"))
    }

    /// All names, upper-cased, in the server's order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The name of a response code (RFC 3501 §7.1, RFC 5530), upper-cased: `ALERT`,
/// `AUTHENTICATIONFAILED`, `UNAVAILABLE`, ...
pub fn code_name(code: &Code<'_>) -> String {
    match code {
        Code::Alert => "ALERT".into(),
        Code::BadCharset { .. } => "BADCHARSET".into(),
        Code::Capability(_) => "CAPABILITY".into(),
        Code::Parse => "PARSE".into(),
        Code::PermanentFlags(_) => "PERMANENTFLAGS".into(),
        Code::ReadOnly => "READ-ONLY".into(),
        Code::ReadWrite => "READ-WRITE".into(),
        Code::TryCreate => "TRYCREATE".into(),
        Code::UidNext(_) => "UIDNEXT".into(),
        Code::UidValidity(_) => "UIDVALIDITY".into(),
        Code::Unseen(_) => "UNSEEN".into(),
        Code::CompressionActive => "COMPRESSIONACTIVE".into(),
        Code::OverQuota => "OVERQUOTA".into(),
        Code::TooBig => "TOOBIG".into(),
        Code::UnknownCte => "UNKNOWN-CTE".into(),
        Code::AppendUid { .. } => "APPENDUID".into(),
        Code::CopyUid { .. } => "COPYUID".into(),
        Code::UidNotSticky => "UIDNOTSTICKY".into(),
        Code::Other(o) => {
            let raw = o.inner();
            let end = raw.iter().position(|&b| b == b' ').unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).to_ascii_uppercase()
        }
        #[allow(unreachable_patterns)]
        _ => "OTHER".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Response framing and parsing
// ---------------------------------------------------------------------------------------------

/// Where a line (ending in CRLF) announces a literal: `(start, length)`, `start` being the
/// index of `{` (RFC 3501 §4.3 `literal = "{" number "}" CRLF *CHAR8`; RFC 3516 `literal8`
/// has a `~` before the brace, which stays in place).
///
/// This is the one piece of response grammar written by hand: it is what lets the session read
/// the `length` raw bytes that follow straight from the connection (streaming them, or adding
/// them to the response buffer) and then resume reading lines.
pub fn literal_marker(line: &[u8]) -> Option<(usize, u64)> {
    let body = line.strip_suffix(b"\r\n")?.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((open, n))
}

/// The text given to a status response that came without one (`* BYE` CRLF).
pub const NO_TEXT: &str = "(no text)";

/// Parses one complete response (all its lines and literals). `None` if `imap-codec` does
/// not accept it, or if anything is left over. A status response without text (`* BYE`,
/// `A1 OK`; RFC 3501 requires one) is accepted, with [`NO_TEXT`] as its text.
pub fn parse_response(bytes: &[u8]) -> Option<Response<'static>> {
    match ResponseCodec::default().decode_static(bytes) {
        Ok(([], r)) => Some(r),
        _ => match ResponseCodec::default().decode_static(&with_text(bytes)?) {
            Ok(([], r)) => Some(r),
            _ => None,
        },
    }
}

/// Parses the server greeting (RFC 3501 §7.1.1, §7.1.4, §7.1.5), also without text.
pub fn parse_greeting(bytes: &[u8]) -> Option<Greeting<'static>> {
    match GreetingCodec::default().decode_static(bytes) {
        Ok(([], g)) => Some(g),
        _ => match GreetingCodec::default().decode_static(&with_text(bytes)?) {
            Ok(([], g)) => Some(g),
            _ => None,
        },
    }
}

/// A one-line status response without text (`tag SP status [SP] CRLF`), with [`NO_TEXT`]
/// added; `None` for anything else.
fn with_text(bytes: &[u8]) -> Option<Vec<u8>> {
    let line = bytes.strip_suffix(b"\r\n")?;
    if line.len() > 100 || line.contains(&b'\n') {
        return None;
    }
    let line = line.strip_suffix(b" ").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (_tag, status) = (parts.next()?, parts.next()?);
    if parts.next().is_some()
        || !["OK", "NO", "BAD", "BYE", "PREAUTH"]
            .iter()
            .any(|s| s.as_bytes().eq_ignore_ascii_case(status))
    {
        return None;
    }
    let mut out = line.to_vec();
    out.push(b' ');
    out.extend_from_slice(NO_TEXT.as_bytes());
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// What a probe found out about a literal that is about to arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyProbe {
    /// The message sequence number of the FETCH response.
    pub seq: u32,
    /// The UID, if the server sent it before the literal.
    pub uid: Option<u32>,
}

/// Decides, before reading a literal's data, whether the literal is the value of a whole
/// message item (`BODY[]` or `RFC822`, RFC 3501 §7.4.2) at the top level of a FETCH response.
///
/// `prefix` is the response so far, ending with the literal marker line; `marker` is the index
/// of its `{`. The probe replaces the marker by an empty literal and closes the FETCH list
/// (`{0}\r\n)\r\n`): if `imap-codec` accepts that as a FETCH response whose last item is a
/// whole message, the literal is the body and may be streamed. Anything else (a header field
/// literal, a literal inside an envelope, a non-FETCH response) fails the probe and is read
/// into memory.
pub fn probe_body_literal(prefix: &[u8], marker: usize) -> Option<BodyProbe> {
    let mut synth = Vec::with_capacity(marker + 8);
    synth.extend_from_slice(&prefix[..marker]);
    synth.extend_from_slice(b"{0}\r\n)\r\n");
    let Some(Response::Data(Data::Fetch { seq, items })) = parse_response(&synth) else {
        return None;
    };
    let items = items.as_ref();
    let whole = matches!(
        items.last()?,
        MessageDataItem::BodyExt {
            section: None,
            origin: None,
            ..
        } | MessageDataItem::Rfc822(_)
    );
    if !whole {
        return None;
    }
    let uid = items.iter().find_map(|i| match i {
        MessageDataItem::Uid(u) => Some(u.get()),
        _ => None,
    });
    Some(BodyProbe {
        seq: seq.get(),
        uid,
    })
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

    #[test]
    fn literal_markers() {
        assert_eq!(
            literal_marker(b"* 1 FETCH (BODY[] {123}\r\n"),
            Some((18, 123))
        );
        assert_eq!(
            literal_marker(b"* 1 FETCH (BINARY[] ~{5}\r\n"),
            Some((21, 5))
        );
        assert_eq!(literal_marker(b"* 1 FETCH (BODY[] {}\r\n"), None);
        assert_eq!(literal_marker(b"* 1 FETCH (BODY[] {1x}\r\n"), None);
        assert_eq!(literal_marker(b"* OK done\r\n"), None);
        assert_eq!(literal_marker(b"{0}\r\n"), Some((0, 0)));
    }

    #[test]
    fn probes() {
        let p = b"* 5 FETCH (UID 9 BODY[] {123}\r\n";
        let (m, _) = literal_marker(p).unwrap();
        assert_eq!(
            probe_body_literal(p, m),
            Some(BodyProbe {
                seq: 5,
                uid: Some(9)
            })
        );
        let p = b"* 5 FETCH (BODY[] {123}\r\n";
        let (m, _) = literal_marker(p).unwrap();
        assert_eq!(
            probe_body_literal(p, m),
            Some(BodyProbe { seq: 5, uid: None })
        );
        let p = b"* 5 FETCH (UID 9 BODY[HEADER.FIELDS (MESSAGE-ID)] {40}\r\n";
        let (m, _) = literal_marker(p).unwrap();
        assert_eq!(probe_body_literal(p, m), None);
        let p = b"* LIST () \"/\" {3}\r\n";
        let (m, _) = literal_marker(p).unwrap();
        assert_eq!(probe_body_literal(p, m), None);
        // A second literal after a header literal in the same response.
        let p = b"* 5 FETCH (BODY[HEADER] {4}\r\nab\r\n UID 3 BODY[] {10}\r\n";
        let (m, _) = literal_marker(p).unwrap();
        assert_eq!(
            probe_body_literal(p, m),
            Some(BodyProbe {
                seq: 5,
                uid: Some(3)
            })
        );
    }

    #[test]
    fn responses_parse() {
        let r = parse_response(b"A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n").unwrap();
        let Response::Status(imap_codec::imap_types::response::Status::Tagged(t)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            code_name(t.body.code.as_ref().unwrap()),
            "AUTHENTICATIONFAILED"
        );
        assert!(parse_response(b"hello world\r\n").is_none());
        // Status responses without text (issue 11, class 12).
        for line in [&b"* BYE\r\n"[..], b"* BYE \r\n", b"* bye\r\n"] {
            let Some(Response::Status(imap_codec::imap_types::response::Status::Bye(b))) =
                parse_response(line)
            else {
                panic!("{line:?}")
            };
            assert_eq!(b.text.as_ref(), NO_TEXT);
        }
        assert!(parse_response(b"A1 OK\r\n").is_some());
        assert!(parse_response(b"* NO\r\n").is_some());
        assert!(parse_greeting(b"* OK\r\n").is_some());
        assert!(parse_response(b"* HELLO\r\n").is_none());
        assert!(parse_response(b"* BYE BYE BYE\r\n").is_some());
        assert!(parse_response(b"* 1 FETCH\r\n").is_none());
        assert!(parse_response(b"* OK fine\r\n* OK two\r\n").is_none());
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            crate::source::message_id(b"Message-ID: <a@b>\r\n\r\n").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(
            crate::source::message_id(b"message-id:\r\n  <folded@x>\r\n\r\n").as_deref(),
            Some("<folded@x>")
        );
        assert_eq!(crate::source::message_id(b"\r\n"), None);
    }
}
