//! Reading POP3 replies off a buffered stream, without interpreting them: one line at most
//! [`MAX_LINE`] bytes long ([`read_line`]), and the body of a multi-line reply, dot-unstuffed and
//! ended at its terminating line (RFC 1939 §3), streamed without holding more than the reader's
//! buffer ([`DotReader`]). What the lines mean is [`super::proto`]'s; proving that a reply
//! belongs to its command is [`super::reply`]'s.

use std::io::{self, BufRead, Read};

use super::proto::MAX_LINE;

/// Decoder state for [`DotReader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// At the start of a line.
    LineStart,
    /// Read a `.` at the start of a line.
    Dot,
    /// Read `.` CR at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
    /// Read a CR inside a line; waiting to see whether LF follows.
    Cr,
    /// Read the terminating line.
    Done,
}

/// Streams the body of a multi-line reply (RFC 1939 §3): removes the byte-stuffed leading dot,
/// turns CRLF into LF, and ends at the terminating `.` line, without ever holding more than the
/// underlying reader's buffer. A bare LF is accepted as a line end too (some servers send one).
///
/// If the stream ends or fails before the terminating line, `read` returns an error (kind
/// `UnexpectedEof` for a clean close) and [`DotReader::failed`] is set: the message is
/// incomplete and must not be delivered.
pub struct DotReader<'a, R: BufRead> {
    inner: &'a mut R,
    st: St,
    /// Bytes of decoded output that did not fit the caller's buffer yet (at most 2).
    pending: [u8; 2],
    pending_len: usize,
    failed: bool,
    /// Encoded bytes consumed from the wire (for progress).
    wire_bytes: u64,
    /// Decoded bytes returned so far.
    decoded: u64,
    /// Line ends received as CRLF (each decoded to one LF).
    crlf: u64,
}

impl<'a, R: BufRead> DotReader<'a, R> {
    /// Starts decoding right after the `+OK` status line.
    pub fn new(inner: &'a mut R) -> Self {
        DotReader {
            inner,
            st: St::LineStart,
            pending: [0; 2],
            pending_len: 0,
            failed: false,
            wire_bytes: 0,
            decoded: 0,
            crlf: 0,
        }
    }

    /// Whether the terminating line has been read.
    pub fn is_done(&self) -> bool {
        self.st == St::Done && self.pending_len == 0
    }

    /// Whether reading from the server failed (the reply is incomplete).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Bytes consumed from the server so far.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    /// Bytes of the message returned so far (line ends as LF).
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded
    }

    /// The size of the message returned so far as the server counts it when it stores CRLF
    /// line ends: the decoded bytes plus one for every line end that came as CRLF.
    pub fn content_octets(&self) -> u64 {
        self.decoded + self.crlf
    }

    /// The underlying reader (to read what follows the reply).
    pub fn inner(&mut self) -> &mut R {
        self.inner
    }

    /// Reads and discards the rest of the reply.
    pub fn drain(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        while self.read(&mut buf)? != 0 {}
        Ok(())
    }
}

impl<R: BufRead> Read for DotReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // A step may consume wire bytes without producing output (a CR, a stuffed dot):
        // only the end of the reply may return 0.
        loop {
            let n = self.step(out)?;
            if n > 0 || self.st == St::Done {
                self.decoded += n as u64;
                return Ok(n);
            }
        }
    }
}

impl<R: BufRead> DotReader<'_, R> {
    fn step(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        // Flush bytes held back by a previous call.
        while self.pending_len > 0 && n < out.len() {
            out[n] = self.pending[0];
            self.pending.copy_within(1..2, 0);
            self.pending_len -= 1;
            n += 1;
        }
        if self.st == St::Done || n == out.len() {
            return Ok(n);
        }
        let input = match self.inner.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(n),
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        };
        if input.is_empty() {
            self.failed = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a multi-line reply",
            ));
        }
        let mut i = 0;
        while i < input.len() && n < out.len() && self.st != St::Done {
            let b = input[i];
            match self.st {
                St::Mid => {
                    // Copy a run of ordinary bytes in one go.
                    let room = out.len() - n;
                    let avail = &input[i..];
                    let limit = avail.len().min(room);
                    let run = memchr::memchr2(b'\r', b'\n', &avail[..limit]).unwrap_or(limit);
                    out[n..n + run].copy_from_slice(&avail[..run]);
                    n += run;
                    i += run;
                    if run < limit {
                        let c = avail[run];
                        i += 1;
                        if c == b'\n' {
                            out[n] = b'\n';
                            n += 1;
                            self.st = St::LineStart;
                        } else {
                            self.st = St::Cr;
                        }
                    }
                    continue;
                }
                St::LineStart => {
                    i += 1;
                    match b {
                        b'.' => self.st = St::Dot,
                        b'\r' => self.st = St::Cr,
                        b'\n' => {
                            out[n] = b'\n';
                            n += 1;
                        }
                        _ => {
                            out[n] = b;
                            n += 1;
                            self.st = St::Mid;
                        }
                    }
                }
                St::Dot => {
                    i += 1;
                    match b {
                        b'\r' => self.st = St::DotCr,
                        b'\n' => self.st = St::Done,
                        b'.' => {
                            // A stuffed dot: the first one goes.
                            out[n] = b'.';
                            n += 1;
                            self.st = St::Mid;
                        }
                        _ => {
                            // A server that did not stuff: keep the line as the server holds it.
                            out[n] = b'.';
                            n += 1;
                            self.pending[self.pending_len] = b;
                            self.pending_len += 1;
                            self.st = St::Mid;
                        }
                    }
                }
                St::DotCr => {
                    if b == b'\n' {
                        i += 1;
                        self.st = St::Done;
                    } else {
                        // ".\r" followed by something else: not a terminator; keep the bytes.
                        out[n] = b'.';
                        n += 1;
                        self.pending[self.pending_len] = b'\r';
                        self.pending_len += 1;
                        self.st = St::Mid;
                    }
                }
                St::Cr => {
                    if b == b'\n' {
                        i += 1;
                        self.crlf += 1;
                        out[n] = b'\n';
                        n += 1;
                        self.st = St::LineStart;
                    } else {
                        // A bare CR is data.
                        out[n] = b'\r';
                        n += 1;
                        self.st = St::Mid;
                    }
                }
                St::Done => unreachable!(),
            }
            // Pending bytes must go out before anything else.
            while self.pending_len > 0 && n < out.len() {
                out[n] = self.pending[0];
                self.pending.copy_within(1..2, 0);
                self.pending_len -= 1;
                n += 1;
            }
            if self.pending_len > 0 {
                break;
            }
        }
        self.inner.consume(i);
        self.wire_bytes += i as u64;
        Ok(n)
    }
}

/// Reads one CRLF- (or LF-) terminated line of at most [`MAX_LINE`] bytes, without the line
/// end. `Ok(None)` at a clean end of stream before any byte. A longer line is an error
/// (`InvalidData`) after at most [`MAX_LINE`] bytes were copied; the rest stays unread.
pub fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
    buf.clear();
    let too_long = || io::Error::new(io::ErrorKind::InvalidData, "server reply line too long");
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a line",
            ));
        }
        // Room for the line and its CR.
        let room = MAX_LINE + 1 - buf.len();
        if let Some(pos) = memchr::memchr(b'\n', &avail[..avail.len().min(room + 1)]) {
            buf.extend_from_slice(&avail[..pos]);
            r.consume(pos + 1);
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if buf.len() > MAX_LINE {
                return Err(too_long());
            }
            return Ok(Some(()));
        }
        if avail.len() > room {
            return Err(too_long());
        }
        let len = avail.len();
        buf.extend_from_slice(avail);
        r.consume(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_with(input: &[u8], cap: usize, chunk: usize) -> (Vec<u8>, bool) {
        let mut r = io::BufReader::with_capacity(cap, input);
        let mut out = Vec::new();
        let mut d = DotReader::new(&mut r);
        let mut buf = vec![0u8; chunk];
        loop {
            match d.read(&mut buf) {
                Ok(0) => return (out, d.is_done()),
                Ok(k) => out.extend_from_slice(&buf[..k]),
                Err(_) => return (out, false),
            }
        }
    }

    fn decode_all_ways(input: &[u8]) -> (Vec<u8>, bool) {
        let reference = decode_with(input, 8192, 8192);
        for cap in [1, 2, 3, 7, 64] {
            for chunk in [1, 2, 3, 5, 4096] {
                assert_eq!(
                    decode_with(input, cap, chunk),
                    reference,
                    "cap {cap} chunk {chunk}"
                );
            }
        }
        reference
    }

    #[test]
    fn unstuffs_and_converts_line_ends() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n..\r\nplain\r\n.\r\nAFTER";
        let (out, done) = decode_all_ways(wire);
        assert!(done);
        assert_eq!(out, b"Subject: x\n\n.leading dot\n.\nplain\n");
    }

    #[test]
    fn bare_lf_and_bare_cr() {
        let (out, done) = decode_all_ways(b"a\nb\rc\r\r\nd\n.\n");
        assert!(done);
        assert_eq!(out, b"a\nb\rc\r\nd\n");
    }

    #[test]
    fn empty_body() {
        let (out, done) = decode_all_ways(b".\r\n");
        assert!(done);
        assert!(out.is_empty());
    }

    #[test]
    fn unstuffed_dot_kept() {
        let (out, done) = decode_all_ways(b".x\r\n.\r\n");
        assert!(done);
        assert_eq!(out, b".x\n");
        let (out, done) = decode_all_ways(b".\rz\r\n.\r\n");
        assert!(done);
        assert_eq!(out, b".\rz\n");
    }

    #[test]
    fn truncated_reply_is_an_error() {
        for wire in [&b"abc\r\n"[..], b"abc\r\n.", b"abc\r\n.\r", b"", b"abc"] {
            let (_, done) = decode_all_ways(wire);
            assert!(!done, "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn read_lines() {
        let mut r = io::BufReader::with_capacity(2, &b"+OK hi\r\nnext\nlast"[..]);
        let mut buf = Vec::new();
        read_line(&mut r, &mut buf).unwrap().unwrap();
        assert_eq!(buf, b"+OK hi");
        read_line(&mut r, &mut buf).unwrap().unwrap();
        assert_eq!(buf, b"next");
        assert!(read_line(&mut r, &mut buf).is_err());
        let mut r = io::BufReader::new(&b""[..]);
        assert!(read_line(&mut r, &mut buf).unwrap().is_none());
    }

    #[test]
    fn line_length_limit() {
        for cap in [1, 7, 64, 8192, 65536] {
            let mut ok = vec![b'a'; MAX_LINE];
            ok.extend_from_slice(b"\r\n");
            let mut r = io::BufReader::with_capacity(cap, &ok[..]);
            let mut buf = Vec::new();
            read_line(&mut r, &mut buf).unwrap().unwrap();
            assert_eq!(buf.len(), MAX_LINE, "cap {cap}");

            let mut long = vec![b'a'; MAX_LINE + 1];
            long.extend_from_slice(b"\r\n");
            let mut r = io::BufReader::with_capacity(cap, &long[..]);
            let e = read_line(&mut r, &mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "cap {cap}");
            // Nothing proportional to the line was copied.
            assert!(buf.len() <= MAX_LINE + 1, "cap {cap}");

            let huge = vec![b'a'; 1 << 20];
            let mut r = io::BufReader::with_capacity(cap, &huge[..]);
            assert!(read_line(&mut r, &mut buf).is_err());
            assert!(buf.len() <= MAX_LINE + 1);
        }
    }

    #[test]
    fn counts_content_octets() {
        let mut r = io::BufReader::new(&b"ab\r\n..c\nd\r\n.\r\n"[..]);
        let mut d = DotReader::new(&mut r);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab\n.c\nd\n");
        assert_eq!(d.decoded_bytes(), 8);
        assert_eq!(d.content_octets(), 10);
    }
}
