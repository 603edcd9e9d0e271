//! IMAP4rev1 server responses, with no I/O.
//!
//! - Capabilities (RFC 3501 §7.2.1) and the names of response codes (RFC 5530).
//! - Framing of server responses: the only grammar written here is the literal marker `{N}`
//!   at the end of a line (RFC 3501 §4.3), which tells the reader how many raw bytes follow.
//!   Everything else is parsed by `imap-codec` ([`parse_response`], [`parse_greeting`]),
//!   including the probe that tells whether a literal is a message body to stream
//!   ([`probe_body_literal`]).

use imap_codec::decode::Decoder;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Capability, Code, Data, Greeting, Response};
use imap_codec::{GreetingCodec, ResponseCodec};

/// Re-exported from `encode`, where commands and UID sets are encoded.
pub use super::encode::{
    encode_command, uid_sets, valid_keyword, Arg, EncodeError, Segment, MAX_SET_LEN,
};
/// Re-exported from [`super::sasl`], where the SASL responses are built.
pub use super::sasl::{sasl_oauthbearer, sasl_plain, sasl_xoauth2};
/// Re-exported from [`super::utf7`], where modified UTF-7 mailbox names are handled.
pub use super::utf7::{mailbox_from_wire, utf7_decode, utf7_encode};

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
