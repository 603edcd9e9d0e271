//! Reading responses, and what the session learns from them.
//!
//! Responses are read a line at a time into a buffer. A line that ends with a literal marker
//! `{N}` (RFC 3501 §4.3) is followed by exactly N raw bytes, then the response goes on with
//! another line. For each marker the session decides what to do with the N bytes:
//! - When fetching message bodies, it first asks [`proto::probe_body_literal`] whether the
//!   literal is the `BODY[]` value of a FETCH response. If it is, the N bytes are handed to the
//!   caller's callback through a [`Read`] that yields exactly those bytes straight from the
//!   connection (never more than the read buffer in memory), and in the response buffer the
//!   literal is replaced by an empty one (`{0}`), so that the complete response can still be
//!   parsed to check the UID and the rest.
//! - Any other literal (a header field, a mailbox name) is read into the buffer, up to
//!   [`MAX_RESPONSE`](super::MAX_RESPONSE) bytes.
//!
//! When the line has no marker the response is complete and `imap-codec` parses it. The
//! session then takes what it must remember from it (`absorb`): capabilities, EXISTS,
//! EXPUNGE, UIDs, UIDVALIDITY; a `* BYE` ends the session.

use std::io::{self, Read, Write};

use imap_codec::imap_types::response::{Code, Data, Response, Status, StatusKind};

use super::fetch::{fetch_uid, BodySink};
use super::Session;
use crate::imap::body::BodyReader;
use crate::imap::proto::{self, Capabilities};
use crate::imap::seqmap::Conflict;
use crate::imap::wire::{self, log_line, quote};
use crate::source::SourceError;

/// Literals of one response that may be probed for a message body (see `next_response`).
const MAX_PROBES: usize = 4;
/// The longest response prefix probed for a message body.
const MAX_PROBE_PREFIX: usize = 64 * 1024;

/// The body streamed from one response: (seq, UID it was delivered as).
type Streamed = Option<(u32, u32)>;

/// A FETCH response that gives a message another UID than the session knows.
fn conflict(ctx: &str, c: Conflict) -> SourceError {
    SourceError::Protocol(match c.known {
        Some(k) => format!(
            "{ctx}: the server gave message {} the UID {}, but it is UID {k}",
            c.seq, c.uid
        ),
        None => format!(
            "{ctx}: the server gave message {} the UID {}, which another message has",
            c.seq, c.uid
        ),
    })
}

impl<S: Read + Write> Session<S> {
    pub(super) fn uid_of(&self, seq: u32) -> Option<u32> {
        self.seqs.uid(seq)
    }

    pub(super) fn set_caps(&mut self, caps: Capabilities) {
        self.caps = caps;
        self.caps_gen += 1;
    }

    /// Reads one complete response, streaming a whole-message literal to `body` (see the
    /// module documentation and [`body`](crate::imap::body)), parses it and updates the session state from it.
    pub(super) fn next_response(
        &mut self,
        ctx: &str,
        mut body: Option<&mut BodySink<'_>>,
    ) -> Result<(Response<'static>, Streamed), SourceError> {
        loop {
            if self.buf.capacity() > 4 * wire::BUF_SIZE {
                // Do not hold on to the memory of a long response.
                self.buf = Vec::with_capacity(4096);
            }
            self.buf.clear();
            let mut literals = 0;
            loop {
                let line_start = self.buf.len();
                wire::read_line(&mut self.conn, &mut self.buf, ctx)?;
                log_line(&self.buf[line_start..]);
                let Some((rel, n)) = proto::literal_marker(&self.buf[line_start..]) else {
                    break;
                };
                let marker = line_start + rel;
                literals += 1;
                // A message body is the first literal of a FETCH response that begins a few
                // bytes before it; probing later ones would cost time in proportion to the
                // response for every literal (a server could send millions).
                let may_be_body = literals <= MAX_PROBES && marker <= MAX_PROBE_PREFIX;
                if let (Some(sink), true) = (body.as_deref_mut(), may_be_body) {
                    if let Some(probe) = proto::probe_body_literal(&self.buf, marker) {
                        let known = self.uid_of(probe.seq);
                        let uid = match (probe.uid, known) {
                            (Some(u), Some(k)) if u != k => {
                                return Err(conflict(
                                    ctx,
                                    Conflict {
                                        seq: probe.seq,
                                        known: Some(k),
                                        uid: u,
                                    },
                                ))
                            }
                            (Some(u), _) | (None, Some(u)) => u,
                            (None, None) => {
                                return Err(SourceError::Protocol(format!(
                                    "the server sent the body of message {} before its UID, \
                                     and its UID is unknown",
                                    probe.seq
                                )))
                            }
                        };
                        if let Some(&size) = self.sizes.get(&uid) {
                            let most = size.saturating_mul(2).saturating_add(1 << 20);
                            if n > most {
                                return Err(SourceError::Protocol(format!(
                                    "{ctx}: the server announced {n} bytes for message UID \
                                     {uid}, which it listed with {size} bytes"
                                )));
                            }
                        }
                        // The literal's data goes to the callback, not into the buffer.
                        self.buf.truncate(marker);
                        self.buf.extend_from_slice(b"{0}\r\n");
                        log::debug!("S: <message UID {uid}: {n} bytes>");
                        let mut reader =
                            BodyReader::new(&mut self.conn, &mut self.buf, n, probe.seq, uid, ctx);
                        sink.deliver(uid, &mut reader);
                        let resp = reader.finish()?;
                        self.absorb(&resp, ctx)?;
                        return Ok((resp, Some((probe.seq, uid))));
                    }
                }
                wire::read_literal(&mut self.conn, &mut self.buf, n, ctx)?;
                log::debug!("S: <literal of {n} bytes>");
            }
            match proto::parse_response(&self.buf) {
                Some(resp) => {
                    self.absorb(&resp, ctx)?;
                    return Ok((resp, None));
                }
                None => {
                    let l = &self.buf;
                    let looks_like_fetch = l.starts_with(b"* ")
                        && l[2..].iter().take_while(|b| b.is_ascii_digit()).count() > 0
                        && l[2..]
                            .iter()
                            .skip_while(|b| b.is_ascii_digit())
                            .take(7)
                            .map(|b| b.to_ascii_uppercase())
                            .eq(b" FETCH ".iter().copied());
                    if l.starts_with(b"* ") && !looks_like_fetch {
                        // Untagged data of an extension imap-codec does not know: harmless.
                        log::warn!(
                            "ignoring a server response that could not be parsed: {:?}",
                            quote(l)
                        );
                        continue;
                    }
                    return Err(SourceError::Protocol(format!(
                        "{ctx}: the server sent something that is not a valid IMAP response: {:?}",
                        quote(l)
                    )));
                }
            }
        }
    }

    /// Updates the session state from a response: capabilities, EXISTS, EXPUNGE, UIDs,
    /// UIDVALIDITY, alerts; a BYE (except while logging out) ends the session with a
    /// `Connection` error. Numbers the server sends are only remembered within what it
    /// announced (a message number above EXISTS is ignored), so no claim costs memory.
    fn absorb(&mut self, resp: &Response<'static>, ctx: &str) -> Result<(), SourceError> {
        let code = match resp {
            Response::Status(Status::Bye(b)) => {
                if self.logging_out {
                    return Ok(());
                }
                let text = b.text.as_ref();
                let what = if text.is_empty() || text == proto::NO_TEXT {
                    "the server ended the session".to_string()
                } else {
                    format!("the server ended the session: {text}")
                };
                return Err(SourceError::io(
                    ctx,
                    io::Error::new(io::ErrorKind::ConnectionAborted, what),
                ));
            }
            Response::Status(Status::Untagged(b)) => {
                if b.kind != StatusKind::Ok {
                    log::warn!("the server says: {}", b.text.as_ref());
                }
                if let Some(Code::UidValidity(v)) = &b.code {
                    self.uidvalidity = Some(v.get());
                }
                b.code.as_ref().map(|c| (c, b.text.as_ref()))
            }
            Response::Status(Status::Tagged(t)) => {
                t.body.code.as_ref().map(|c| (c, t.body.text.as_ref()))
            }
            Response::Data(Data::Capability(c)) => {
                self.set_caps(Capabilities::from_parsed(c.as_ref()));
                None
            }
            Response::Data(Data::Exists(n)) => {
                self.exists = *n;
                self.seqs.truncate(*n);
                None
            }
            Response::Data(Data::Expunge(seq)) => {
                if seq.get() <= self.exists {
                    self.expunged
                        .push(self.seqs.expunge(seq.get()).unwrap_or(0));
                    self.exists -= 1;
                } else {
                    log::debug!(
                        "the server reported message {seq} expunged, but announced only {} \
                         messages; ignoring it",
                        self.exists
                    );
                }
                None
            }
            Response::Data(Data::Fetch { seq, items }) => {
                if let Some(uid) = fetch_uid(items.as_ref()) {
                    if seq.get() <= self.exists {
                        self.seqs
                            .insert(seq.get(), uid)
                            .map_err(|c| conflict(ctx, c))?;
                    } else {
                        log::debug!(
                            "the server sent data for message {seq}, but announced only {} \
                             messages; not remembering its UID",
                            self.exists
                        );
                    }
                }
                None
            }
            _ => None,
        };
        match code {
            Some((Code::Capability(c), _)) => self.set_caps(Capabilities::from_parsed(c.as_ref())),
            Some((Code::Alert, text)) => log::warn!("server alert: {text}"),
            _ => {}
        }
        Ok(())
    }
}
