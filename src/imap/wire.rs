//! Reading server responses off the connection: lines, literals, and message bodies whose
//! framing is proven before their end is reported.
//!
//! # Bounds
//!
//! Everything a response puts in memory — its lines and the literals that are not streamed —
//! counts against [`MAX_RESPONSE`] (8 MiB). The longest legitimate response mailpull asks for
//! is a `UID SEARCH` result: about 600 KB for 100,000 messages, so the bound leaves room for
//! more than a million. A longer response is refused as soon as the bound is crossed, with an
//! error that quotes at most [`QUOTE`] bytes of it; nothing is copied in proportion to its
//! length on the way. The read buffer is [`BUF_SIZE`] bytes.
//!
//! # Message bodies
//!
//! A `BODY[]` literal is handed to the caller through a [`BodyReader`], a [`Read`] that yields
//! exactly the announced bytes straight from the connection. A server that announces the
//! wrong length cannot be told from the bytes of the literal alone: the message's own bytes
//! would be taken for the rest of the response, or the rest of the response for the message.
//! So the reader reports the end of the message (`Ok(0)`) only after it has proven the framing:
//! - the rest of the FETCH response that carries the literal has been read, holds no further
//!   literal, and the whole response parses (with the body replaced by an empty literal) as a
//!   FETCH of the same message, up to its closing `)` and CRLF, with the expected UID;
//! - the bytes that follow begin a response (`* `, `+`, or one of mailpull's tags `A<digits> `).
//!
//! Anything else — a cut, garbage, a second literal, another message number or UID — makes
//! `read` fail instead, so the message is not delivered (every delivery target treats a read
//! error as "no message") and the session ends with an error.
//!
//! A body that arrives inside a response parsed as a whole (a quoted string, or a literal that
//! was read into memory because it came after the first few literals of its response) is handed
//! on under the same condition: the response parsed, and another one follows
//! ([`next_starts_response`]).
//!
//! Why not wait for the tagged completion of the `UID FETCH` as well: one command carries up
//! to 16 messages, each streamed to disk as it arrives. Holding back the end of the first
//! message until the completion arrives would mean reading the 15 others while the first is
//! still open — buffering them, or one command (one round trip) per message — and a target
//! cannot take back a message it has accepted (an MDA has run). What the completion could
//! still reveal is covered by the two checks above: a misframed literal leaves bytes that
//! would have to form both a valid end of this FETCH response and a valid start of the next
//! response, which a wrong length produces only if the message's own last bytes look exactly
//! like that. The tagged completion of every command is still read and checked before the
//! session goes on (a `BAD`, or a tag that was not sent, ends the session with an error).

use std::io::{self, Read};

use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};

use super::proto;
use crate::source::SourceError;

/// The most bytes one response may hold in memory (its lines and the literals that are not
/// streamed).
pub const MAX_RESPONSE: usize = 8 << 20;
/// Read buffer size.
pub const BUF_SIZE: usize = 64 * 1024;
/// The most bytes of a response quoted in an error message or a warning.
pub const QUOTE: usize = 100;

/// Turns an I/O error into a classified source error.
pub fn io_error(context: &str, e: io::Error) -> SourceError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SourceError::io(
            context,
            io::Error::new(io::ErrorKind::TimedOut, "the server did not answer in time"),
        ),
        _ => SourceError::io(context, e),
    }
}

/// A connection that closed.
pub fn closed(context: &str, what: &str) -> SourceError {
    SourceError::io(
        context,
        io::Error::new(io::ErrorKind::UnexpectedEof, what.to_string()),
    )
}

/// At most [`QUOTE`] bytes of `bytes` (without a final CRLF), lossily decoded, for a message;
/// `…` and the length mark a cut.
pub fn quote(bytes: &[u8]) -> String {
    let b = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    if b.len() <= QUOTE {
        return String::from_utf8_lossy(b).into_owned();
    }
    format!(
        "{}… ({} bytes)",
        String::from_utf8_lossy(&b[..QUOTE]),
        bytes.len()
    )
}

/// Logs a line the server sent: whole with `-vv` (trace), else its first 300 characters.
pub fn log_line(line: &[u8]) {
    let l = line.strip_suffix(b"\r\n").unwrap_or(line);
    if log::log_enabled!(log::Level::Trace) {
        log::trace!("S: {}", String::from_utf8_lossy(l));
    } else if log::log_enabled!(log::Level::Debug) {
        let cut = l.len().min(300);
        let more = if cut < l.len() { "…" } else { "" };
        log::debug!("S: {}{more}", String::from_utf8_lossy(&l[..cut]));
    }
}

/// The connection with a read buffer. Unlike `std::io::BufReader` it can make sure that a
/// few bytes are buffered without consuming them ([`Wire::fill_at_least`]), which the framing
/// proof needs.
pub struct Wire<S> {
    inner: S,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<S: Read> Wire<S> {
    pub fn new(inner: S) -> Wire<S> {
        Wire {
            inner,
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    /// The buffered bytes, reading more if there are none (empty: the connection closed).
    pub fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
            self.end = read_retrying(&mut self.inner, &mut self.buf)?;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    /// Marks `n` buffered bytes as read.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }

    /// At least `n` (at most [`BUF_SIZE`]) buffered bytes, fewer only if the connection closed.
    pub fn fill_at_least(&mut self, n: usize) -> io::Result<&[u8]> {
        let n = n.min(self.buf.len());
        if self.end - self.pos < n && self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        while self.end - self.pos < n {
            let got = read_retrying(&mut self.inner, &mut self.buf[self.end..])?;
            if got == 0 {
                break;
            }
            self.end += got;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    /// The bytes read from the connection and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The connection (anything buffered is dropped).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn read_retrying<S: Read>(r: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Appends one line, with its CRLF, to `buf` (a bare LF becomes CRLF). Fails once `buf` would
/// hold more than [`MAX_RESPONSE`] bytes.
pub fn read_line<S: Read>(
    wire: &mut Wire<S>,
    buf: &mut Vec<u8>,
    ctx: &str,
) -> Result<(), SourceError> {
    let start = buf.len();
    loop {
        let avail = wire.fill_buf().map_err(|e| io_error(ctx, e))?;
        if avail.is_empty() {
            return Err(closed(
                ctx,
                if buf.len() == start {
                    "the server closed the connection"
                } else {
                    "the server closed the connection in the middle of a line"
                },
            ));
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(pos) => (pos + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > MAX_RESPONSE {
            return Err(SourceError::Protocol(format!(
                "{ctx}: the server sent a response longer than {} MiB, which mailpull does not \
                 accept: {}",
                MAX_RESPONSE >> 20,
                quote(&buf[..(buf.len()).min(QUOTE + 1)])
            )));
        }
        buf.extend_from_slice(&avail[..take]);
        wire.consume(take);
        if done {
            break;
        }
    }
    if !buf.ends_with(b"\r\n") {
        let at = buf.len() - 1;
        buf.insert(at, b'\r');
    }
    Ok(())
}

/// Appends the `n` bytes of a literal to `buf`, within [`MAX_RESPONSE`].
pub fn read_literal<S: Read>(
    wire: &mut Wire<S>,
    buf: &mut Vec<u8>,
    n: u64,
    ctx: &str,
) -> Result<(), SourceError> {
    if n > (MAX_RESPONSE - buf.len().min(MAX_RESPONSE)) as u64 {
        return Err(SourceError::Protocol(format!(
            "{ctx}: the server announced a literal of {n} bytes, more than mailpull accepts in \
             one response ({} MiB)",
            MAX_RESPONSE >> 20
        )));
    }
    let mut remaining = n as usize;
    buf.reserve(remaining);
    while remaining > 0 {
        let avail = wire.fill_buf().map_err(|e| io_error(ctx, e))?;
        if avail.is_empty() {
            return Err(closed(
                ctx,
                &format!("the connection closed with {remaining} bytes of a literal still to come"),
            ));
        }
        let take = avail.len().min(remaining);
        buf.extend_from_slice(&avail[..take]);
        wire.consume(take);
        remaining -= take;
    }
    Ok(())
}

/// Whether `b` (the bytes after a response) can begin a response: `*` SP, `+`, or a tag of
/// mailpull's (`A` digits SP). `None`: more bytes are needed to tell.
pub fn starts_response(b: &[u8]) -> Option<bool> {
    match b.first()? {
        b'+' => Some(true),
        b'*' => Some(*b.get(1)? == b' '),
        b'A' => {
            let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            match b.get(1 + digits) {
                Some(&c) => Some(digits > 0 && c == b' '),
                None if digits > 12 => Some(false),
                None => None,
            }
        }
        _ => Some(false),
    }
}

/// Why a body was not proven.
#[derive(Clone, Debug)]
enum Failure {
    /// The connection broke or closed.
    Connection(io::ErrorKind, String),
    /// The server's bytes do not frame the message.
    Protocol(String),
}

enum BodyState {
    /// Literal bytes still to come (`remaining`), or the proof still to do.
    Data,
    /// The FETCH response was read and parsed to its end, and a response follows.
    Proven(Box<Response<'static>>),
    Failed(Failure),
}

/// The `BODY[]` literal of one FETCH response, and the proof of its framing (see the module
/// documentation). `buf` holds the response up to the literal, the literal itself replaced by
/// `{0}`; the rest of the response is appended to it.
pub struct BodyReader<'a, S> {
    wire: &'a mut Wire<S>,
    buf: &'a mut Vec<u8>,
    remaining: u64,
    len: u64,
    /// The message's sequence number and UID (the UID as the response announced it before the
    /// literal, or as the session knows it from the sequence number).
    seq: u32,
    uid: u32,
    state: BodyState,
    ctx: &'a str,
}

impl<'a, S: Read> BodyReader<'a, S> {
    pub fn new(
        wire: &'a mut Wire<S>,
        buf: &'a mut Vec<u8>,
        len: u64,
        seq: u32,
        uid: u32,
        ctx: &'a str,
    ) -> BodyReader<'a, S> {
        BodyReader {
            wire,
            buf,
            remaining: len,
            len,
            seq,
            uid,
            state: BodyState::Data,
            ctx,
        }
    }

    /// Reads what the caller left of the literal and proves the framing (if not done yet);
    /// returns the complete FETCH response.
    pub fn finish(mut self) -> Result<Response<'static>, SourceError> {
        let mut sink = [0u8; 8192];
        while matches!(self.state, BodyState::Data) && self.remaining > 0 {
            if self.read_data(&mut sink).is_err() {
                break;
            }
        }
        if matches!(self.state, BodyState::Data) {
            self.prove();
        }
        match self.state {
            BodyState::Proven(r) => Ok(*r),
            BodyState::Failed(Failure::Connection(kind, msg)) => {
                Err(SourceError::io(self.ctx, io::Error::new(kind, msg)))
            }
            BodyState::Failed(Failure::Protocol(msg)) => {
                Err(SourceError::Protocol(format!("{}: {msg}", self.ctx)))
            }
            BodyState::Data => unreachable!("proven or failed above"),
        }
    }

    fn fail(&mut self, f: Failure) -> io::Error {
        self.state = BodyState::Failed(f.clone());
        to_io(&f)
    }

    /// Reads literal bytes (`remaining` > 0).
    fn read_data(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = match self.wire.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                let kind = e.kind();
                let msg = format!(
                    "the connection failed in the middle of message UID {} ({} of {} bytes \
                     missing): {e}",
                    self.uid, self.remaining, self.len
                );
                return Err(self.fail(Failure::Connection(kind, msg)));
            }
        };
        if avail.is_empty() {
            let msg = format!(
                "the connection broke in the middle of message UID {} ({} of {} bytes missing)",
                self.uid, self.remaining, self.len
            );
            return Err(self.fail(Failure::Connection(io::ErrorKind::UnexpectedEof, msg)));
        }
        let n = avail
            .len()
            .min(out.len())
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&avail[..n]);
        self.wire.consume(n);
        self.remaining -= n as u64;
        Ok(n)
    }

    /// Reads the rest of the response and checks it (see the module documentation).
    fn prove(&mut self) {
        self.state = match self.check() {
            Ok(r) => BodyState::Proven(Box::new(r)),
            Err(f) => BodyState::Failed(f),
        }
    }

    fn check(&mut self) -> Result<Response<'static>, Failure> {
        let uid = self.uid;
        let broken = |e: SourceError| match e {
            SourceError::Protocol(m) => Failure::Protocol(m),
            e => Failure::Connection(
                io::ErrorKind::UnexpectedEof,
                format!("the response that carries message UID {uid} was cut: {e}"),
            ),
        };
        let start = self.buf.len();
        read_line(self.wire, self.buf, self.ctx).map_err(broken)?;
        let rest = &self.buf[start..];
        log_line(rest);
        if proto::literal_marker(rest).is_some() {
            return Err(Failure::Protocol(format!(
                "another literal follows the body of message UID {uid} in the same response \
                 ({}); the message was not delivered",
                quote(rest)
            )));
        }
        let misframed = |what: &str| {
            Failure::Protocol(format!(
                "the {} bytes the server announced for message UID {uid} are not followed by \
                 the end of its FETCH response ({what}): the server sent a wrong length, and \
                 the message was not delivered",
                self.len
            ))
        };
        let resp = match proto::parse_response(self.buf) {
            Some(r) => r,
            None => return Err(misframed(&format!("got {:?}", quote(&self.buf[start..])))),
        };
        let Response::Data(Data::Fetch { seq, items }) = &resp else {
            return Err(misframed("not a FETCH response"));
        };
        if seq.get() != self.seq {
            return Err(misframed("another message number"));
        }
        let bodies = items
            .as_ref()
            .iter()
            .filter(|i| {
                matches!(
                    i,
                    MessageDataItem::BodyExt {
                        section: None,
                        origin: None,
                        ..
                    } | MessageDataItem::Rfc822(_)
                )
            })
            .count();
        if bodies != 1 {
            return Err(misframed("a second body"));
        }
        for item in items.as_ref() {
            if let MessageDataItem::Uid(u) = item {
                if u.get() != uid {
                    return Err(Failure::Protocol(format!(
                        "message {} was taken to be UID {uid}, but the server's response says \
                         UID {}; the message was not delivered",
                        self.seq,
                        u.get()
                    )));
                }
            }
        }
        // The next response must begin right here.
        next_response_follows(self.wire).map_err(|e| match e {
            NotNext::Other(what) => misframed(&what),
            NotNext::Closed => Failure::Connection(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the connection closed right after message UID {uid}, before the server \
                     completed the command"
                ),
            ),
            NotNext::Io(e) => {
                Failure::Connection(e.kind(), format!("reading past message UID {uid}: {e}"))
            }
        })?;
        Ok(resp)
    }
}

/// Why no response follows.
enum NotNext {
    /// Something else follows (what).
    Other(String),
    /// The connection closed first.
    Closed,
    Io(io::Error),
}

/// Checks that another response begins in the bytes that follow (see [`starts_response`]).
fn next_response_follows<S: Read>(wire: &mut Wire<S>) -> Result<(), NotNext> {
    let mut want = 2;
    loop {
        let b = wire.fill_at_least(want).map_err(NotNext::Io)?;
        match starts_response(b) {
            Some(true) => return Ok(()),
            Some(false) => {
                return Err(NotNext::Other(format!(
                    "followed by {:?}",
                    quote(&b[..b.len().min(20)])
                )))
            }
            None if b.len() < want => return Err(NotNext::Closed),
            None => want = b.len() + 1,
        }
    }
}

/// For a message body that came inside a parsed response (not streamed): another response
/// must follow, as for a streamed body (see the module documentation).
pub fn next_starts_response<S: Read>(
    wire: &mut Wire<S>,
    uid: u32,
    ctx: &str,
) -> Result<(), SourceError> {
    next_response_follows(wire).map_err(|e| match e {
        NotNext::Other(what) => SourceError::Protocol(format!(
            "{ctx}: the response that carries message UID {uid} is {what}; the message was not \
             delivered"
        )),
        NotNext::Closed => closed(
            ctx,
            &format!(
                "the connection closed right after message UID {uid}, before the server \
                 completed the command"
            ),
        ),
        NotNext::Io(e) => io_error(ctx, e),
    })
}

fn to_io(f: &Failure) -> io::Error {
    match f {
        Failure::Connection(kind, msg) => io::Error::new(*kind, msg.clone()),
        Failure::Protocol(msg) => io::Error::new(io::ErrorKind::InvalidData, msg.clone()),
    }
}

impl<S: Read> Read for BodyReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        match &self.state {
            BodyState::Proven(_) => return Ok(0),
            BodyState::Failed(f) => return Err(to_io(f)),
            BodyState::Data => {}
        }
        if self.remaining > 0 {
            return self.read_data(out);
        }
        self.prove();
        match &self.state {
            BodyState::Failed(f) => Err(to_io(f)),
            _ => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads from a byte string, `chunk` bytes at a time.
    struct Chunky(Vec<u8>, usize, usize);

    impl Read for Chunky {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = (self.0.len() - self.1).min(self.2).min(out.len());
            out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    /// Streams the body of `* 1 FETCH (UID 5 BODY[] {len}` followed by `input`.
    fn body(len: u64, input: &[u8], chunk: usize) -> (io::Result<Vec<u8>>, Result<(), String>) {
        let mut wire = Wire::new(Chunky(input.to_vec(), 0, chunk));
        let mut buf = b"* 1 FETCH (UID 5 BODY[] {0}\r\n".to_vec();
        let mut r = BodyReader::new(&mut wire, &mut buf, len, 1, 5, "test");
        let mut got = Vec::new();
        let read = r.read_to_end(&mut got).map(|_| got);
        let end = r.finish().map(|_| ()).map_err(|e| e.to_string());
        (read, end)
    }

    #[test]
    fn a_framed_body_ends_after_the_proof() {
        for chunk in [1, 2, 3, 1000] {
            let (read, end) = body(5, b"ab\r\nc)\r\nA0003 OK done\r\n", chunk);
            assert_eq!(read.unwrap(), b"ab\r\nc");
            end.unwrap();
            let (read, end) = body(3, b"abc FLAGS (\\Seen) UID 5)\r\n* 2 FETCH", chunk);
            assert_eq!(read.unwrap(), b"abc");
            end.unwrap();
        }
    }

    #[test]
    fn a_short_literal_followed_by_a_space_is_not_ended() {
        // The message is "Thanks, see you ok\r\n" and the server announced 5 bytes less: the
        // byte after the announced end is a space (issue 11, class 3).
        let (read, end) = body(15, b"Thanks, see you ok\r\n)\r\nA0003 OK\r\n", 1000);
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(end.unwrap_err().contains("wrong length"));
    }

    #[test]
    fn misframed_bodies_fail() {
        for (len, input, what) in [
            // A message ending in ")\r\n", announced 3 bytes short: the tail parses as the end
            // of the response, but what follows is not a response.
            (3, &b"abc)\r\n)\r\nA0003 OK\r\n"[..], "wrong length"),
            (
                3,
                b"abc BODY[] {2}\r\nxy)\r\nA0003 OK\r\n",
                "another literal",
            ),
            (3, b"abc UID 6)\r\nA0003 OK\r\n", "UID 6"),
            (3, b"abc)\r\nHELLO\r\n", "wrong length"),
            (3, b"abcXYZ)\r\nA0003 OK\r\n", "wrong length"),
            (3, b"abc)\r\n", "closed right after"),
            (3, b"abc)", "cut"),
            (3, b"ab", "broke in the middle"),
        ] {
            for chunk in [1, 7, 1000] {
                let (read, end) = body(len, input, chunk);
                assert!(read.is_err(), "{input:?}");
                let e = end.unwrap_err();
                assert!(e.contains(what), "{input:?}: {e}");
            }
        }
    }

    #[test]
    fn a_body_left_unread_is_drained_and_proven() {
        let mut wire = Wire::new(Chunky(b"abcdef)\r\n* 3 EXISTS\r\n".to_vec(), 0, 2));
        let mut buf = b"* 1 FETCH (UID 5 BODY[] {0}\r\n".to_vec();
        let mut r = BodyReader::new(&mut wire, &mut buf, 6, 1, 5, "test");
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        r.finish().unwrap();
        assert!(wire.buffered().starts_with(b"* "));
    }

    #[test]
    fn response_starts() {
        assert_eq!(starts_response(b""), None);
        assert_eq!(starts_response(b"*"), None);
        assert_eq!(starts_response(b"* "), Some(true));
        assert_eq!(starts_response(b"*x"), Some(false));
        assert_eq!(starts_response(b"+"), Some(true));
        assert_eq!(starts_response(b"A0003"), None);
        assert_eq!(starts_response(b"A0003 "), Some(true));
        assert_eq!(starts_response(b"A "), Some(false));
        assert_eq!(starts_response(b")\r\n"), Some(false));
    }

    #[test]
    fn long_lines_are_refused_early_and_quoted_briefly() {
        let mut line = b"* LIST () \"/\" ".to_vec();
        line.resize(MAX_RESPONSE + 10, b'x');
        line.extend_from_slice(b"\r\n");
        let mut wire = Wire::new(Chunky(line, 0, usize::MAX));
        let mut buf = Vec::new();
        let e = read_line(&mut wire, &mut buf, "listing").unwrap_err();
        assert!(matches!(e, SourceError::Protocol(_)));
        assert!(e.to_string().len() < 400, "{e}");
        assert!(buf.len() <= MAX_RESPONSE);
    }

    #[test]
    fn huge_literals_are_refused_before_reading() {
        let mut wire = Wire::new(Chunky(b"abc".to_vec(), 0, 10));
        let mut buf = b"* LIST () \"/\" {18446744073709551615}\r\n".to_vec();
        for n in [u64::MAX, MAX_RESPONSE as u64] {
            let e = read_literal(&mut wire, &mut buf, n, "listing").unwrap_err();
            assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
        }
        assert_eq!(wire.buffered(), b"");
    }

    #[test]
    fn quotes_are_short() {
        assert_eq!(quote(b"* OK hi\r\n"), "* OK hi");
        let q = quote(&[b'x'; 10_000]);
        assert!(q.starts_with("xxx") && q.ends_with("(10000 bytes)"), "{q}");
        assert!(q.len() < 150);
    }
}
