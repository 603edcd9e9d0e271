//! Reading server responses off the connection within bounds: the read buffer ([`Wire`]),
//! lines and literals, and how a failure or a server's bytes are reported. Message bodies
//! streamed from it, and the proof of their framing, are `body`'s.
//!
//! # Bounds
//!
//! Everything a response puts in memory — its lines and the literals that are not streamed —
//! counts against [`MAX_RESPONSE`] (8 MiB). The longest legitimate response mailpull asks for
//! is a `UID SEARCH` result: about 600 KB for 100,000 messages, so the bound leaves room for
//! more than a million. A longer response is refused as soon as the bound is crossed, with an
//! error that quotes at most [`QUOTE`] bytes of it; nothing is copied in proportion to its
//! length on the way. The read buffer is [`BUF_SIZE`] bytes.

use std::io::{self, Read};

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Reads from a byte string, `chunk` bytes at a time.
    pub(in crate::imap) struct Chunky(pub Vec<u8>, pub usize, pub usize);

    impl Read for Chunky {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = (self.0.len() - self.1).min(self.2).min(out.len());
            out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
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
