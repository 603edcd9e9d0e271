//! The `BODY[]` literal of a FETCH response, streamed straight from the connection, and the
//! proof of its framing before its end is reported.
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
use super::wire::{closed, io_error, log_line, quote, read_line, starts_response, Wire};
use crate::source::SourceError;

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
    use crate::imap::wire::tests::Chunky;

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
}
