//! The body of a RETR or TOP reply, whose end is reported only once its framing is proven.
//!
//! The engine records a message as soon as the body reader reports its end (see
//! [`crate::source::Sink`]), so every check that the bytes are this message's, whole, must be
//! done before [`ProvenBody::read`] returns 0:
//! - the terminating `.` line was read ([`DotReader`]);
//! - the first line of the body is not a status line (a status line there means the reply was
//!   read one line early: the stream is out of step);
//! - the size is that of the `+OK N octets` the server announced, give or take line ends, and
//!   not wildly unlike the LIST size (real servers differ by some hundred bytes: CRLF or LF
//!   counted, approximate sizes, conversions; "wildly" is a factor of four plus 4 KiB);
//! - with a pipelining server, the reply to the `UIDL n` sent right after `RETR n` (the
//!   sentinel) follows and names this message and its unique id: an extra, missing or shifted
//!   reply before it cannot produce that line;
//! - without pipelining, nothing follows the terminator (no reply is due).
//!
//! Any failure is kept: every later read fails the same way, and the session learns whether it
//! was the connection ([`Ended::Broken`]) or the framing ([`Ended::Desync`]).

use std::io::{self, BufReader, Read};

use super::proto::{self, looks_like_status, quote, DotReader};

/// Slack for sizes, in bytes, on top of the proportional part.
const SIZE_SLACK: u64 = 4096;

/// What a reply must turn out to be.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The message number the command named.
    pub number: u32,
    /// Its unique id from the listing.
    pub uid: &'a str,
    /// The LIST size (RETR only).
    pub listed: Option<u64>,
    /// The size announced in the status line (`+OK N octets`), if any.
    pub announced: Option<u64>,
    /// The `UIDL n` reply follows (the session pipelined it after the command).
    pub sentinel: bool,
}

/// How a reply ended, once it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Still being read.
    Open,
    /// The end was read and proven.
    Proven,
    /// The connection failed or closed before the end (the error's kind and text).
    Broken(io::ErrorKind, String),
    /// The replies are out of step with the commands: the text says how.
    Desync(String),
}

/// Whether a RETR reply of `decoded` bytes (`content` counting CRLF line ends as two) is
/// plausible for a LIST size of `listed`: not more than four times larger or smaller, plus
/// 4 KiB.
pub fn plausible_size(listed: u64, decoded: u64, content: u64) -> bool {
    !too_large_for_list(listed, decoded)
        && content.saturating_mul(4).saturating_add(SIZE_SLACK) >= listed
}

fn too_large_for_list(listed: u64, decoded: u64) -> bool {
    decoded > listed.saturating_mul(4).saturating_add(SIZE_SLACK)
}

/// Slack between an announced octet count and what came: a sixteenth, plus 1 KiB.
fn octet_slack(announced: u64, content: u64) -> u64 {
    1024 + announced.max(content) / 16
}

/// Whether `decoded` bytes (`content` with CRLF counted as two) match the `announced` count:
/// servers count CRLF (Dovecot) or LF, some add or drop a header on the fly.
pub fn matches_octets(announced: u64, decoded: u64, content: u64) -> bool {
    !too_large_for_octets(announced, decoded)
        && announced <= content.saturating_add(octet_slack(announced, content))
}

fn too_large_for_octets(announced: u64, decoded: u64) -> bool {
    decoded > announced.saturating_add(octet_slack(announced, decoded))
}

/// The body of one reply; see the module documentation.
pub struct ProvenBody<'a, S: Read> {
    dot: DotReader<'a, BufReader<S>>,
    line: &'a mut Vec<u8>,
    expect: Expect<'a>,
    /// The first bytes of the first line (at most five) and whether it has ended.
    first: [u8; 5],
    first_len: usize,
    first_done: bool,
    ended: Ended,
}

impl<'a, S: Read> ProvenBody<'a, S> {
    /// Starts reading right after the `+OK` status line; `line` is scratch space for the
    /// sentinel reply.
    pub fn new(conn: &'a mut BufReader<S>, line: &'a mut Vec<u8>, expect: Expect<'a>) -> Self {
        ProvenBody {
            dot: DotReader::new(conn),
            line,
            expect,
            first: [0; 5],
            first_len: 0,
            first_done: false,
            ended: Ended::Open,
        }
    }

    /// How the reply ended so far.
    pub fn ended(&self) -> &Ended {
        &self.ended
    }

    /// Message bytes returned so far (line ends as LF).
    pub fn decoded_bytes(&self) -> u64 {
        self.dot.decoded_bytes()
    }

    /// Reads and discards the rest of the reply, proving its end like a full read does.
    pub fn drain(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        while self.read(&mut buf)? != 0 {}
        Ok(())
    }

    fn fail(&mut self, how: Ended) -> io::Error {
        self.ended = how;
        self.error()
    }

    fn error(&self) -> io::Error {
        match &self.ended {
            Ended::Broken(kind, m) => io::Error::new(*kind, m.clone()),
            Ended::Desync(m) => io::Error::new(io::ErrorKind::InvalidData, m.clone()),
            _ => io::Error::other("no error"),
        }
    }

    /// Follows the first line of the body as it is returned.
    fn see_first_line(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.first_done {
            return Ok(());
        }
        for &b in bytes {
            if b == b'\n' {
                self.first_done = true;
                break;
            }
            self.first[self.first_len] = b;
            self.first_len += 1;
            if self.first_len == self.first.len() {
                self.first_done = true;
                break;
            }
        }
        if !self.first_done {
            return Ok(());
        }
        let prefix = &self.first[..self.first_len];
        let ended = self.first_len < self.first.len();
        if looks_like_status(prefix, ended) {
            return Err(format!(
                "the reply to message {} starts with another status line ({}…): the server's \
                 replies are out of step with the commands",
                self.expect.number,
                quote(prefix)
            ));
        }
        Ok(())
    }

    /// Checks made while the body streams: it must not grow past what the server announced.
    fn check_growth(&self) -> Result<(), String> {
        let decoded = self.dot.decoded_bytes();
        if let Some(n) = self.expect.announced {
            if too_large_for_octets(n, decoded) {
                return Err(format!(
                    "message {} is longer than the {n} octets the server announced for it",
                    self.expect.number
                ));
            }
        }
        if let Some(listed) = self.expect.listed {
            if too_large_for_list(listed, decoded) {
                return Err(format!(
                    "message {} is far longer than the {listed} bytes the server listed for it",
                    self.expect.number
                ));
            }
        }
        Ok(())
    }

    /// The checks at the terminator. `Err(Ended)` says how it failed.
    fn prove(&mut self) -> Result<(), Ended> {
        let number = self.expect.number;
        let (decoded, content) = (self.dot.decoded_bytes(), self.dot.content_octets());
        if !self.first_done {
            // The whole body is shorter than five bytes and has no line end.
            self.first_done = true;
            let prefix = &self.first[..self.first_len];
            if looks_like_status(prefix, true) {
                return Err(Ended::Desync(format!(
                    "the reply to message {number} is another status line: the server's replies \
                     are out of step with the commands"
                )));
            }
        }
        if let Some(n) = self.expect.announced {
            if !matches_octets(n, decoded, content) {
                return Err(Ended::Desync(format!(
                    "the server announced {n} octets for message {number} but sent {content}"
                )));
            }
        }
        if let Some(listed) = self.expect.listed {
            if !plausible_size(listed, decoded, content) {
                return Err(Ended::Desync(format!(
                    "message {number} has {content} bytes, wildly unlike the {listed} the server \
                     listed: its reply is probably another message's"
                )));
            }
        }
        let conn = self.dot.inner();
        if !self.expect.sentinel {
            if !conn.buffer().is_empty() {
                return Err(Ended::Desync(format!(
                    "the server sent more after the end of message {number} ({}) although no \
                     reply was due",
                    quote(conn.buffer())
                )));
            }
            return Ok(());
        }
        match proto::read_line(conn, self.line) {
            Ok(Some(())) => {}
            Ok(None) => {
                return Err(Ended::Broken(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection right after the message".into(),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Ended::Desync(format!(
                    "the line after message {number} is too long to be the reply to UIDL {number}"
                )))
            }
            Err(e) => return Err(Ended::Broken(e.kind(), e.to_string())),
        }
        log::debug!("S: {}", String::from_utf8_lossy(self.line));
        if !sentinel_matches(self.line, number, self.expect.uid) {
            return Err(Ended::Desync(format!(
                "after message {number} the server answered {:?} where the reply to UIDL {number} \
                 (+OK {number} {}) was due: its replies are out of step with the commands",
                quote(self.line),
                self.expect.uid
            )));
        }
        Ok(())
    }
}

/// Whether `line` is the reply to `UIDL number` for a message with unique id `uid`:
/// `+OK number uid`, as RFC 1939 §7 gives it (anything after the id is ignored).
pub fn sentinel_matches(line: &[u8], number: u32, uid: &str) -> bool {
    let Some(st) = proto::parse_status(line) else {
        return false;
    };
    let mut words = st.text.split_ascii_whitespace();
    st.ok
        && st.code.is_none()
        && words.next().and_then(|w| proto::parse_number(w.as_bytes())) == Some(u64::from(number))
        && words.next() == Some(uid)
}

impl<S: Read> Read for ProvenBody<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.ended {
            Ended::Open => {}
            Ended::Proven => return Ok(0),
            _ => return Err(self.error()),
        }
        if out.is_empty() {
            return Ok(0);
        }
        let n = match self.dot.read(out) {
            Ok(n) => n,
            Err(e) => {
                self.ended = Ended::Broken(e.kind(), e.to_string());
                return Err(e);
            }
        };
        if n > 0 {
            let checked = self
                .see_first_line(&out[..n])
                .and_then(|()| self.check_growth());
            return match checked {
                Ok(()) => Ok(n),
                Err(why) => Err(self.fail(Ended::Desync(why))),
            };
        }
        match self.prove() {
            Ok(()) => {
                self.ended = Ended::Proven;
                Ok(0)
            }
            Err(how) => Err(self.fail(how)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a reply to the end from `wire`; returns what was read and how it ended.
    fn read_reply(wire: &[u8], expect: Expect<'_>) -> (Vec<u8>, Ended) {
        read_reply_with(wire, expect, 7)
    }

    /// With a read buffer of `cap` bytes (what follows a terminator is seen only when it
    /// arrived in the same read).
    fn read_reply_with(wire: &[u8], expect: Expect<'_>, cap: usize) -> (Vec<u8>, Ended) {
        let mut conn = BufReader::with_capacity(cap, wire);
        let mut line = Vec::new();
        let mut body = ProvenBody::new(&mut conn, &mut line, expect);
        let mut out = Vec::new();
        let _ = body.read_to_end(&mut out);
        let ended = body.ended().clone();
        (out, ended)
    }

    fn expect(sentinel: bool) -> Expect<'static> {
        Expect {
            number: 2,
            uid: "u2",
            listed: Some(12),
            announced: None,
            sentinel,
        }
    }

    #[test]
    fn proven_with_a_sentinel() {
        let (out, ended) = read_reply(b"Subject: x\r\n\r\nhi\r\n.\r\n+OK 2 u2\r\n", expect(true));
        assert_eq!(ended, Ended::Proven);
        assert_eq!(out, b"Subject: x\n\nhi\n");
    }

    #[test]
    fn a_wrong_or_missing_sentinel_is_desync() {
        for tail in [
            &b"+OK 3 u3\r\n"[..],
            b"+OK 2 u3\r\n",
            b"+OK\r\n",
            b"-ERR 2 u2\r\n",
            b"+OK extra\r\nx\r\n.\r\n",
            b"junk\r\n",
        ] {
            let mut wire = b"Subject: x\r\n\r\nhi\r\n.\r\n".to_vec();
            wire.extend_from_slice(tail);
            let (_, ended) = read_reply(&wire, expect(true));
            assert!(
                matches!(ended, Ended::Desync(_)),
                "{:?}: {ended:?}",
                String::from_utf8_lossy(tail)
            );
        }
        let (_, ended) = read_reply(b"Subject: x\r\n\r\nhi\r\n.\r\n", expect(true));
        assert!(matches!(ended, Ended::Broken(..)), "{ended:?}");
    }

    #[test]
    fn data_after_the_end_without_pipelining_is_desync() {
        let wire = b"Subject: x\r\n\r\nhi\r\n.\r\n+OK\r\n";
        let (_, ended) = read_reply_with(wire, expect(false), 4096);
        assert!(matches!(ended, Ended::Desync(_)), "{ended:?}");
        let (_, ended) = read_reply(b"Subject: x\r\n\r\nhi\r\n.\r\n", expect(false));
        assert_eq!(ended, Ended::Proven);
    }

    #[test]
    fn a_status_line_first_is_desync() {
        for body in [
            &b"+OK 120 octets\r\nSubject: x\r\n.\r\n"[..],
            b"+OK\r\nSubject: x\r\n.\r\n",
            b"-ERR no\r\n.\r\n",
            b"+ok\r\n.\r\n",
        ] {
            let mut e = expect(false);
            e.listed = None;
            let (out, ended) = read_reply(body, e);
            assert!(
                matches!(ended, Ended::Desync(_)),
                "{:?}: {ended:?}",
                String::from_utf8_lossy(body)
            );
            assert!(out.len() <= 5);
        }
        let mut e = expect(false);
        e.listed = None;
        for body in [
            &b"+OKAY\r\n.\r\n"[..],
            b"From: a\r\n.\r\n",
            b"+O\r\n.\r\n",
            b"+OK.\r\n.\r\n",
        ] {
            let (_, ended) = read_reply(body, e);
            assert_eq!(ended, Ended::Proven, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn sizes() {
        // Announced octets: exact, CRLF vs LF, and far off.
        let body = b"Subject: x\r\n\r\nhi\r\n.\r\n";
        for (n, ok) in [(18, true), (15, true), (0, true), (5000, false)] {
            let mut e = expect(false);
            e.announced = Some(n);
            e.listed = None;
            let (_, ended) = read_reply(body, e);
            assert_eq!(ended == Ended::Proven, ok, "{n}: {ended:?}");
        }
        assert!(plausible_size(100_000, 90_000, 91_000));
        assert!(plausible_size(1000, 300, 310));
        assert!(!plausible_size(100_000, 5, 5));
        assert!(!plausible_size(10, 100_000, 100_000));
        assert!(plausible_size(u64::MAX, u64::MAX, u64::MAX));
        assert!(matches_octets(1000, 950, 1000));
        assert!(!matches_octets(1000, 3000, 3100));
    }

    #[test]
    fn too_long_a_message_fails_while_streaming() {
        let mut wire = b"Subject: x\r\n\r\n".to_vec();
        wire.extend(std::iter::repeat_n(b'a', 100_000));
        let mut e = expect(false);
        e.listed = Some(10);
        let (out, ended) = read_reply(&wire, e);
        assert!(matches!(ended, Ended::Desync(_)), "{ended:?}");
        assert!(out.len() < 10_000);
    }
}
